"""Agents keep their data between tool calls: a LangChain agent (LangGraph, with a checkpointer) and a
LlamaIndex FunctionAgent load data in one call and use it in the next, in Python and JavaScript.

The models are scripted (no model can be reached here): each answers with the next tool call of its
script, exactly as a real model's tool calls arrive; the frameworks, tools and sandboxes are real.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Skipping serialization of known unserializable key"),
]
pytest.importorskip("langchain.agents")
pytest.importorskip("llama_index.core")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult  # noqa: E402
from llama_index.core.base.llms.types import ToolCallBlock  # noqa: E402
from llama_index.core.llms import ChatMessage, MessageRole  # noqa: E402
from llama_index.core.llms.mock import MockFunctionCallingLLM  # noqa: E402
from llama_index.core.workflow import Context  # noqa: E402

from llm_sandbox.agents import SessionManager  # noqa: E402
from llm_sandbox.langchain import SandboxToolkit  # noqa: E402
from llm_sandbox.llamaindex import SandboxToolSpec  # noqa: E402

LOAD = {
    "python": "import pandas as pd\nsales = pd.DataFrame({'units': [120, 95, 143]})\nprint('loaded', len(sales))",
    "javascript": "const sales = [120, 95, 143];\nconsole.log('loaded', sales.length);",
}
USE = {
    "python": "print('total', sales.units.sum())",
    "javascript": "console.log('total', sales.reduce((a, b) => a + b, 0));",
}


class ScriptedModel(GenericFakeChatModel):
    """A chat model that answers with the next message of its script; ``bind_tools`` returns it."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self


@pytest.fixture
def manager(language_image: Any) -> Iterator[SessionManager]:
    for lang in LOAD:
        language_image(lang)
    with SessionManager(lang="python", languages=list(LOAD), max_sessions=4) as manager:
        yield manager


@pytest.mark.parametrize("lang", sorted(LOAD))
def test_langchain_agent_uses_data_loaded_by_an_earlier_tool_call(manager: SessionManager, lang: str) -> None:
    tools = SandboxToolkit(manager=manager, tools=("run_code", "reset_session")).get_tools()
    script = [
        AIMessage("", tool_calls=[{"name": "run_code", "args": {"code": LOAD[lang], "language": lang}, "id": "1"}]),
        AIMessage("Loaded."),
        AIMessage("", tool_calls=[{"name": "run_code", "args": {"code": USE[lang], "language": lang}, "id": "2"}]),
        AIMessage("The total is 358."),
    ]
    agent = create_agent(ScriptedModel(messages=iter(script)), tools, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"sales-{lang}"}}
    agent.invoke({"messages": [("user", "load the sales")]}, config)
    state = agent.invoke({"messages": [("user", "and their total?")]}, config)  # a second turn, same thread
    answers = [m.content for m in state["messages"] if isinstance(m, ToolMessage)]
    assert "loaded 3" in answers[0]
    assert "total 358" in answers[1], answers[1]
    assert manager.language_info(lang).stateful


def _llm(turns: Sequence[tuple[str, dict[str, Any]] | str]) -> MockFunctionCallingLLM:
    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        since_user = max(i for i, m in enumerate(messages) if m.role == MessageRole.USER)
        done = sum(1 for m in messages[since_user:] if m.role == MessageRole.TOOL)
        turn = turns[min(done, len(turns) - 1)]
        if isinstance(turn, str):
            return ChatMessage(role=MessageRole.ASSISTANT, content=turn)
        name, arguments = turn
        block = ToolCallBlock(tool_call_id=f"call-{done}", tool_name=name, tool_kwargs=arguments)
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])

    return MockFunctionCallingLLM(response_generator=respond)


@pytest.mark.parametrize("lang", sorted(LOAD))
async def test_llamaindex_agent_uses_data_loaded_by_an_earlier_tool_call(manager: SessionManager, lang: str) -> None:
    spec = SandboxToolSpec(manager=manager)
    tools = spec.to_tool_list()
    loader = FunctionAgent(tools=tools, llm=_llm([("run_code", {"code": LOAD[lang], "language": lang}), "Loaded."]))
    user = FunctionAgent(tools=tools, llm=_llm([("run_code", {"code": USE[lang], "language": lang}), "Done."]))
    ctx = Context(loader)
    outputs = []
    for agent, message in ((loader, "load the sales"), (user, "their total?")):
        handler = agent.run(message, ctx=ctx)
        outputs += [e.tool_output.content async for e in handler.stream_events() if isinstance(e, ToolCallResult)]
        await handler
    assert "loaded 3" in outputs[0]
    assert "total 358" in outputs[1], outputs[1]

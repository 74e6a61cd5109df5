"""LlamaIndex tool spec against real Docker: the tools directly, in a FunctionAgent and in a ReActAgent."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from llm_sandbox.const import FileType
from llm_sandbox.data import ExecutionResult

pytestmark = [
    pytest.mark.integration,
    # llama-index internals (not this library) trigger these on every agent run
    pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:llama_index"),
    pytest.mark.filterwarnings("ignore:Skipping serialization of known unserializable key"),
]
pytest.importorskip("llama_index.core")

from llama_index.core.agent.workflow import FunctionAgent, ReActAgent, ToolCallResult  # noqa: E402
from llama_index.core.base.llms.types import ToolCallBlock  # noqa: E402
from llama_index.core.llms import ChatMessage, MessageRole  # noqa: E402
from llama_index.core.llms.mock import MockFunctionCallingLLM  # noqa: E402
from llama_index.core.workflow import Context  # noqa: E402

from llm_sandbox.llamaindex import CONTEXT_KEY, SandboxToolSpec  # noqa: E402

PLOT_CODE = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()\nprint('plotted')"


@pytest.fixture(scope="module")
def spec(python_image: str) -> Iterator[SandboxToolSpec]:
    spec = SandboxToolSpec(lang="python", max_sessions=6, idle_timeout=300)
    yield spec
    spec.close()


def tools_by_name(spec: SandboxToolSpec) -> dict[str, Any]:
    return {tool.metadata.name: tool for tool in spec.to_tool_list()}


def test_tools_called_directly(spec: SandboxToolSpec) -> None:
    tools = tools_by_name(spec)
    output = tools["run_code"].call(code=PLOT_CODE)
    assert output.content.startswith("exit code: 0") and "plots: 1 image captured (png" in output.content
    result = spec.last_result
    assert isinstance(result, ExecutionResult) and output.raw_output.artifact is result
    assert result.plots[0].format == FileType.PNG
    assert base64.b64decode(result.plots[0].content_base64).startswith(b"\x89PNG")
    assert "wrote /sandbox/in.txt" in tools["upload_file"].call(path="in.txt", content="abc").content
    assert tools["read_file"].call(path="in.txt").content.endswith("abc")
    assert "in.txt  (3 bytes)" in tools["list_files"].call().content
    assert "ZeroDivisionError" in tools["run_code"].call(code="1/0").content
    assert {r.tool for r in spec.results_for(spec.default_key)} == {
        "run_code",
        "upload_file",
        "read_file",
        "list_files",
    }


async def test_async_tools_called_directly(spec: SandboxToolSpec) -> None:
    tools = tools_by_name(spec)
    output = await tools["run_code"].acall(code="print(sum(range(10)))")
    assert "stdout:\n45" in output.content and output.raw_output.artifact.exit_code == 0


def function_calling_llm(*turns: tuple[str, dict[str, Any]] | str) -> MockFunctionCallingLLM:
    """Answers turn k after k tool results: a tool call (name, kwargs) or a final text."""

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        since_user = max(i for i, m in enumerate(messages) if m.role == MessageRole.USER)
        done = sum(1 for m in messages[since_user:] if m.role == MessageRole.TOOL)
        turn = turns[min(done, len(turns) - 1)]
        if isinstance(turn, str):
            return ChatMessage(role=MessageRole.ASSISTANT, content=turn)
        name, arguments = turn
        return ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[ToolCallBlock(tool_call_id=f"call-{done}", tool_name=name, tool_kwargs=arguments)],
        )

    return MockFunctionCallingLLM(response_generator=respond)


async def run(agent: Any, message: str, ctx: Context) -> tuple[str, list[ToolCallResult]]:
    handler = agent.run(message, ctx=ctx)
    results = [event async for event in handler.stream_events() if isinstance(event, ToolCallResult)]
    return str(await handler), results


async def test_function_agent_keeps_one_sandbox_per_context(spec: SandboxToolSpec) -> None:
    tools = spec.to_tool_list()
    writer = FunctionAgent(
        tools=tools,
        llm=function_calling_llm(
            ("run_code", {"code": PLOT_CODE + "\nopen('memo.txt', 'w').write('remember me')"}),
            "Plotted and saved.",
        ),
    )
    reader = FunctionAgent(
        tools=tools, llm=function_calling_llm(("read_file", {"path": "memo.txt"}), "Read it.")
    )
    first, second = Context(writer), Context(reader)

    answer, [call] = await run(writer, "plot and save", first)
    assert answer == "Plotted and saved."
    assert call.tool_name == "run_code" and "plots: 1 image captured" in call.tool_output.content
    assert len(call.tool_output.raw_output.artifact.plots) == 1  # the artifact reaches the application

    # A later run with the same context (same conversation) sees the same sandbox...
    again = FunctionAgent(
        tools=tools, llm=function_calling_llm(("read_file", {"path": "memo.txt"}), "Read it.")
    )
    _, [read] = await run(again, "read the memo", first)
    assert read.tool_output.content.endswith("remember me")
    # ...another context does not.
    _, [other] = await run(reader, "read the memo", second)
    assert "does not exist" in other.tool_output.content

    first_key = await first.store.get(CONTEXT_KEY)
    second_key = await second.store.get(CONTEXT_KEY)
    assert first_key != second_key
    assert {first_key, second_key} <= {info.key for info in spec.manager.sessions()}


def react_llm(*turns: tuple[str, dict[str, Any]] | str) -> MockFunctionCallingLLM:
    """ReAct text: `Action:` / `Action Input:` lines for tool calls, `Answer:` at the end."""

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        done = sum(1 for m in messages if (m.content or "").startswith("Observation:"))
        turn = turns[min(done, len(turns) - 1)]
        if isinstance(turn, str):
            text = f"Thought: I can answer without using any more tools.\nAnswer: {turn}"
        else:
            name, arguments = turn
            text = f"Thought: I need to use a tool.\nAction: {name}\nAction Input: {json.dumps(arguments)}"
        return ChatMessage(role=MessageRole.ASSISTANT, content=text)

    return MockFunctionCallingLLM(response_generator=respond)


async def test_react_agent_runs_code_and_reads_errors(spec: SandboxToolSpec) -> None:
    agent = ReActAgent(
        tools=spec.to_tool_list(),
        llm=react_llm(
            ("run_code", {"code": "print(6 * 7)"}),
            ("run_code", {"code": "import nonexistent_module"}),
            "The answer is 42.",
        ),
    )
    answer, calls = await run(agent, "what is 6 times 7?", Context(agent))
    assert answer == "The answer is 42."
    assert [c.tool_name for c in calls] == ["run_code", "run_code"]
    assert "stdout:\n42" in calls[0].tool_output.content
    assert (
        "exit code: 1" in calls[1].tool_output.content
        and "ModuleNotFoundError" in calls[1].tool_output.content
    )

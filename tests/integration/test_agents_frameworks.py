"""The agent tools inside the real frameworks, as their users run them (issue 17, and issue 15's tool layer):
LangChain's ``create_agent`` (a LangGraph graph) with in-memory and SQLite checkpointers in LangGraph's strict
msgpack mode, and LlamaIndex's FunctionAgent, ReActAgent and CodeActAgent.

The models are scripted (no model can be reached here): each answers with the next tool call of its script,
exactly as a real model's tool calls arrive; the frameworks, checkpointers, tools and sandboxes are real.
Streaming and queueing are proven with handshakes: the sandboxed code waits for a file the test writes once it
has seen what it waits for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
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
from langgraph.checkpoint.serde import _msgpack  # noqa: E402
from llama_index.core.agent.workflow import (  # noqa: E402
    CodeActAgent,
    FunctionAgent,
    ReActAgent,
    ToolCallResult,
)
from llama_index.core.base.llms.types import ToolCallBlock  # noqa: E402
from llama_index.core.llms import ChatMessage, MessageRole  # noqa: E402
from llama_index.core.llms.mock import MockFunctionCallingLLM  # noqa: E402
from llama_index.core.workflow import Context  # noqa: E402

from llm_sandbox.agents import RunFinished, RunStarted, SandboxEvent, SessionClosed, SessionManager  # noqa: E402
from llm_sandbox.const import FileType  # noqa: E402
from llm_sandbox.data import ExecutionResult  # noqa: E402
from llm_sandbox.exceptions import ImageNotFoundError  # noqa: E402
from llm_sandbox.langchain import OUTPUT_EVENT, SandboxToolkit  # noqa: E402
from llm_sandbox.llamaindex import SandboxOutput, SandboxToolSpec  # noqa: E402

PLOT = """import matplotlib.pyplot as plt
plt.plot([1, 3, 2])
plt.show()
open('outputs/data.csv', 'w').write('a,b\\n1,2\\n')
print('plotted')"""
WAIT_FOR_GO = """import os, time
print('first', flush=True)
while not os.path.exists('/sandbox/go'):
    time.sleep(0.05)
print('second', flush=True)"""


# ---------------------------------------------------------------------------------------------- scripted models
class ScriptedModel(GenericFakeChatModel):
    """A chat model that answers with the next message of its script; ``bind_tools`` returns it."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self


def calls(*pairs: tuple[str, dict[str, Any]]) -> AIMessage:
    """One model turn calling these tools (in parallel, as a model's parallel tool calls)."""
    return AIMessage("", tool_calls=[{"name": n, "args": a, "id": f"call-{n}-{i}"} for i, (n, a) in enumerate(pairs)])


def langchain_agent(tools: list[Any], *turns: AIMessage, checkpointer: Any = None) -> Any:
    # The fake model's token stream drops tool calls (astream_events streams the model): answer whole messages.
    model = ScriptedModel(messages=iter(turns), disable_streaming=True)
    return create_agent(model, tools, checkpointer=checkpointer or InMemorySaver())


def tool_messages(state: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


def function_llm(*turns: tuple[str, dict[str, Any]] | str) -> MockFunctionCallingLLM:
    """Answers turn k after k tool results: a tool call (name, kwargs) or a final text."""

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


def react_llm(*turns: tuple[str, dict[str, Any]] | str) -> MockFunctionCallingLLM:
    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        done = sum(1 for m in messages if (m.content or "").startswith("Observation:"))
        turn = turns[min(done, len(turns) - 1)]
        if isinstance(turn, str):
            return ChatMessage(role=MessageRole.ASSISTANT, content=f"Thought: done.\nAnswer: {turn}")
        name, arguments = turn
        text = f"Thought: I need a tool.\nAction: {name}\nAction Input: {json.dumps(arguments)}"
        return ChatMessage(role=MessageRole.ASSISTANT, content=text)

    return MockFunctionCallingLLM(response_generator=respond)


async def tool_results(agent: Any, message: str, ctx: Context) -> list[ToolCallResult]:
    handler = agent.run(message, ctx=ctx)
    results = [event async for event in handler.stream_events() if isinstance(event, ToolCallResult)]
    await handler
    return results


@pytest.fixture
def manager(python_image: str) -> Iterator[SessionManager]:
    with SessionManager(lang="python", max_sessions=4, execution_timeout=20) as manager:
        yield manager


# ---------------------------------------------------------------------------------------------- 1. checkpoints
@pytest.mark.parametrize(("saver", "mode"), [("memory", "full"), ("sqlite", "full"), ("sqlite", "reference")])
def test_artifacts_survive_checkpoints_in_strict_mode(
    manager: SessionManager, tmp_path: Path, caplog: pytest.LogCaptureFixture, saver: str, mode: str
) -> None:
    assert _msgpack.STRICT_MSGPACK_ENABLED  # unregistered types would be refused, not just warned about
    toolkit = SandboxToolkit(manager=manager, artifacts=mode)
    path = tmp_path / "checkpoints.sqlite"

    def checkpointer() -> Any:
        if saver == "memory":
            return memory
        from langgraph.checkpoint.sqlite import SqliteSaver

        return SqliteSaver(sqlite3.connect(path, check_same_thread=False))

    memory = InMemorySaver()
    config = {"configurable": {"thread_id": f"checkpoint-{saver}-{mode}"}}
    agent = langchain_agent(toolkit.get_tools(), calls(("run_code", {"code": PLOT})), AIMessage("Plotted."),
                            checkpointer=checkpointer())  # fmt: skip
    with caplog.at_level(logging.WARNING):
        [live] = tool_messages(agent.invoke({"messages": [("user", "plot")]}, config))
        # A new graph on the same checkpointer (for SQLite: a new connection to the file) reads it back.
        reloaded = langchain_agent(toolkit.get_tools(), checkpointer=checkpointer())
        [stored] = tool_messages(reloaded.get_state(config).values)
    assert not [r for r in caplog.records if "unregistered type" in r.getMessage()]
    assert stored.artifact == live.artifact and stored.status == "success"
    state_size = len(json.dumps(stored.artifact))
    result = toolkit.load_artifact(stored)
    assert isinstance(result, ExecutionResult) and result.stdout == "plotted\n"
    [plot] = result.plots
    assert plot.format is FileType.PNG and base64.b64decode(plot.content_base64).startswith(b"\x89PNG")
    [csv] = result.files
    assert csv.format is FileType.CSV and base64.b64decode(csv.content_base64 or "") == b"a,b\n1,2\n"
    if mode == "reference":  # the state has the metadata and an id; the bytes stay with the manager
        assert "ref" in stored.artifact and "content_base64" not in json.dumps(stored.artifact)
        assert stored.artifact["plots"][0]["format"] == "png" and stored.artifact["files"][0]["size"] == 8
        assert state_size < 1000 < len(plot.content_base64)


# ---------------------------------------------------------------------------------------------- 2. errors flagged
def test_langgraph_flags_failures_as_errors_and_keeps_the_text(python_image: str) -> None:
    with SandboxToolkit(lang="python", execution_timeout=3, security_policy="production") as toolkit:
        agent = langchain_agent(
            toolkit.get_tools(),
            calls(("run_code", {"code": "print(6 * 7)"})),
            calls(("run_code", {"code": "print('before')\n1 / 0"})),
            calls(("run_code", {"code": "import time\nprint('started', flush=True)\ntime.sleep(60)"})),
            calls(("run_code", {"code": "import subprocess\nsubprocess.run(['id'])"})),
            calls(("run_code", {"libraries": ["numpy"]})),
            calls(("run_code", {"code": "print(1)", "libraries": "numpy"})),
            calls(("read_file", {"path": "missing.txt"})),
            AIMessage("I could not do all of it."),
        )
        state = agent.invoke({"messages": [("user", "try things")]}, {"configurable": {"thread_id": "errors"}})
    ok, failed, timeout, refused, missing_argument, malformed, missing_file = tool_messages(state)
    assert ok.status == "success" and "stdout:\n42" in ok.content
    assert all(m.status == "error" for m in (failed, timeout, refused, missing_argument, malformed, missing_file))
    assert "exit code: 1" in failed.content and "ZeroDivisionError" in failed.content
    failed_result = toolkit.load_artifact(failed)  # a failed run keeps its result
    assert failed_result.exit_code == 1 and failed_result.stdout == "before\n"
    assert "error: timeout" in timeout.content and "stdout before the error:\nstarted" in timeout.content
    assert "security policy refused" in refused.content and timeout.artifact is None
    assert missing_argument.content.startswith("error: invalid arguments for run_code: `code` is required")
    assert "`libraries`: Input should be a valid list (got 'numpy')" in malformed.content
    assert "does not exist" in missing_file.content and "list_files" in missing_file.content
    assert state["messages"][-1].content == "I could not do all of it."


async def test_llamaindex_agents_flag_failures_with_is_error(manager: SessionManager) -> None:
    spec = SandboxToolSpec(manager=manager)
    function_agent = FunctionAgent(
        tools=spec.to_tool_list(),
        llm=function_llm(
            ("run_code", {"code": "print(6 * 7)"}),
            ("run_code", {"code": "1 / 0"}),
            ("run_code", {"libraries": ["numpy"]}),
            ("run_code", {"code": "print(1)", "libraries": "numpy"}),
            "Done.",
        ),
    )
    ok, failed, missing, malformed = await tool_results(function_agent, "try", Context(function_agent))
    assert not ok.tool_output.is_error and "stdout:\n42" in ok.tool_output.content
    assert failed.tool_output.is_error and "ZeroDivisionError" in failed.tool_output.content
    assert failed.tool_output.raw_output.artifact.exit_code == 1
    assert missing.tool_output.is_error
    assert missing.tool_output.content.startswith("error: invalid arguments for run_code: `code` is required")
    assert malformed.tool_output.is_error and "valid list (got 'numpy')" in malformed.tool_output.content

    react = ReActAgent(tools=spec.to_tool_list(), llm=react_llm(("read_file", {}), ("run_code", {"code": "x"}), "Hm."))
    missing_path, undefined = await tool_results(react, "read", Context(react))
    assert missing_path.tool_output.is_error and "`path` is required" in missing_path.tool_output.content
    assert undefined.tool_output.is_error and "NameError" in undefined.tool_output.content


# ------------------------------------------------------------------------------------ 3. capacity, infrastructure
def test_a_new_conversation_takes_the_place_of_the_least_recently_used_idle_one(python_image: str) -> None:
    closed: list[SessionClosed] = []
    with SandboxToolkit(lang="python", max_sessions=1) as toolkit:  # default evict_idle, wait_timeout
        toolkit.manager.subscribe(closed.append, kinds={"session_closed"})
        for thread in ("first", "second"):
            agent = langchain_agent(toolkit.get_tools(), calls(("run_code", {"code": "print(1)"})), AIMessage("ok"))
            [message] = tool_messages(
                agent.invoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": thread}})
            )
            assert message.status == "success"
        assert [info.key for info in toolkit.manager.sessions()] == ["second"]
        assert [(event.session_key, event.reason) for event in closed] == [("first", "evicted")]


@pytest.fixture
def broken_manager() -> Iterator[SessionManager]:
    """A manager whose sandboxes cannot open (its image does not exist): an infrastructure failure."""
    with SessionManager(lang="python", image="llm-sandbox-test/no-such-image:latest") as manager:
        yield manager


async def test_infrastructure_errors_are_told_to_the_model_the_same_way_in_both_frameworks(
    broken_manager: SessionManager,
) -> None:
    toolkit = SandboxToolkit(manager=broken_manager, tools=("run_code",))
    agent = langchain_agent(toolkit.get_tools(), calls(("run_code", {"code": "print(1)"})), AIMessage("No sandbox."))
    state = await agent.ainvoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": "down"}})
    [langchain_message] = tool_messages(state)
    spec = SandboxToolSpec(manager=broken_manager)
    llama = FunctionAgent(tools=spec.to_tool_list(), llm=function_llm(("run_code", {"code": "print(1)"}), "No."))
    [llama_result] = await tool_results(llama, "go", Context(llama))
    assert langchain_message.status == "error" and llama_result.tool_output.is_error
    assert langchain_message.content == llama_result.tool_output.content
    assert langchain_message.content.startswith("error: the sandbox service failed (ImageNotFoundError")
    assert state["messages"][-1].content == "No sandbox."


async def test_infrastructure_errors_can_be_raised_to_the_application(broken_manager: SessionManager) -> None:
    toolkit = SandboxToolkit(manager=broken_manager, infrastructure_errors="raise")
    agent = langchain_agent(toolkit.get_tools(), calls(("run_code", {"code": "print(1)"})), AIMessage("?"))
    with pytest.raises(ImageNotFoundError):
        await agent.ainvoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": "down"}})
    spec = SandboxToolSpec(manager=broken_manager, infrastructure_errors="raise")
    with pytest.raises(ImageNotFoundError):
        await spec.to_tool_list()[0].acall(code="print(1)")
    # A LlamaIndex agent catches every exception of a tool and shows it to the model; the exception itself is
    # in the event stream for the application.
    llama = FunctionAgent(tools=spec.to_tool_list(), llm=function_llm(("run_code", {"code": "print(1)"}), "No."))
    [result] = await tool_results(llama, "go", Context(llama))
    assert result.tool_output.is_error and isinstance(result.tool_output.exception, ImageNotFoundError)


# ---------------------------------------------------------------------------------------------- 4. live output
def release(manager: SessionManager, key: str) -> None:
    """The handshake: the sandboxed code of ``key`` waits for /sandbox/go."""
    with manager.session(key) as sandbox:
        sandbox.write_file("/sandbox/go", "")


def test_langgraph_streams_output_while_the_code_runs(manager: SessionManager) -> None:
    agent = langchain_agent(
        SandboxToolkit(manager=manager).get_tools(), calls(("run_code", {"code": WAIT_FOR_GO})), AIMessage("Done.")
    )
    seen: list[str] = []
    for chunk in agent.stream(
        {"messages": [("user", "go")]}, {"configurable": {"thread_id": "live"}}, stream_mode="custom"
    ):
        assert chunk["type"] == OUTPUT_EVENT and chunk["session_key"] == "live" and chunk["tool"] == "run_code"
        seen.append(chunk["text"])
        if "first" in chunk["text"]:
            assert "second" not in "".join(seen)  # the code is waiting: this chunk came while it ran
            release(manager, "live")
    assert "".join(seen) == "first\nsecond\n"


async def test_langchain_custom_events_carry_output_while_the_code_runs(manager: SessionManager) -> None:
    agent = langchain_agent(
        SandboxToolkit(manager=manager).get_tools(), calls(("run_code", {"code": WAIT_FOR_GO})), AIMessage("Done.")
    )
    seen: list[str] = []
    config = {"configurable": {"thread_id": "events"}}
    async for event in agent.astream_events({"messages": [("user", "go")]}, config, version="v2"):
        if event["event"] == "on_custom_event" and event["name"] == OUTPUT_EVENT:
            seen.append(event["data"]["text"])
            if "first" in event["data"]["text"]:
                assert "second" not in "".join(seen)
                await asyncio.to_thread(release, manager, "events")
    assert "".join(seen) == "first\nsecond\n"


async def test_llamaindex_writes_output_to_the_event_stream_while_the_code_runs(manager: SessionManager) -> None:
    spec = SandboxToolSpec(manager=manager)
    agent = FunctionAgent(tools=spec.to_tool_list(), llm=function_llm(("run_code", {"code": WAIT_FOR_GO}), "Done."))
    ctx = Context(agent)
    handler = agent.run("go", ctx=ctx)
    seen: list[str] = []
    async for event in handler.stream_events():
        if isinstance(event, SandboxOutput):
            seen.append(event.text)
            if "first" in event.text:
                assert "second" not in "".join(seen)
                await asyncio.to_thread(release, manager, spec.session_key_for(ctx))
        elif isinstance(event, ToolCallResult):
            assert "".join(seen) == "first\nsecond\n"  # every chunk came before the result
    assert str(await handler) == "Done."


# ---------------------------------------------------------------------------------------------- 5. durations
@pytest.mark.parametrize("stateful", [False, True])
def test_a_queued_call_reports_only_its_own_duration(python_image: str, stateful: bool) -> None:
    code = "import os, time\nwhile not os.path.exists('/sandbox/go'):\n    time.sleep(0.05)\nprint('done')"
    with SandboxToolkit(lang="python", stateful=stateful) as toolkit:
        manager = toolkit.manager
        started = threading.Semaphore(0)
        finished: list[RunFinished] = []

        def watch(event: SandboxEvent) -> None:
            if isinstance(event, RunStarted) and event.operation == "run":
                started.release()
            elif isinstance(event, RunFinished) and event.operation == "run":
                finished.append(event)

        manager.subscribe(watch)
        manager.run("queue", "print('open')")  # the sandbox is open before both calls arrive
        agent = langchain_agent(
            toolkit.get_tools(), calls(("run_code", {"code": code}), ("run_code", {"code": code})), AIMessage("ok")
        )
        outcome: list[dict[str, Any]] = []
        worker = threading.Thread(
            target=lambda: outcome.append(
                agent.invoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": "queue"}})
            )
        )
        worker.start()
        for _ in range(3):  # the warm-up run, then both parallel calls have started (one waits for the other)
            assert started.acquire(timeout=60)
        time.sleep(0.5)  # a queue worth measuring: the second call waits for the first all this time
        released = time.time()
        release(manager, "queue")
        worker.join(60)
    last = finished[-1]  # it ran only after the release: its own duration fits in what followed the release
    assert last.duration <= last.timestamp - released
    durations = [toolkit.load_artifact(m).duration for m in tool_messages(outcome[0])]
    assert last.duration in durations and f"({last.duration:.2f} s)" in " ".join(
        m.content for m in tool_messages(outcome[0])
    )


# ---------------------------------------------------------------------------------------------- 6. CodeActAgent
def codeact_llm(*turns: str) -> MockFunctionCallingLLM:
    """Answers turn k after k code results: ``<execute>`` blocks, then a final text."""

    def respond(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        since_user = max(i for i, m in enumerate(messages) if m.role == MessageRole.USER and
                         not (m.content or "").startswith("Result of executing"))  # fmt: skip
        done = sum(1 for m in messages[since_user:] if (m.content or "").startswith("Result of executing"))
        return ChatMessage(role=MessageRole.ASSISTANT, content=turns[min(done, len(turns) - 1)])

    return MockFunctionCallingLLM(response_generator=respond)


async def test_codeact_agent_runs_its_code_in_one_interpreter_per_context(manager: SessionManager) -> None:
    spec = SandboxToolSpec(manager=manager)
    agent = CodeActAgent(
        code_execute_fn=spec.code_execute_fn,
        llm=codeact_llm(
            "<execute>\nx = 21\nprint('set')\n</execute>",
            "<execute>\n```python\nprint(x * 2)\n```\n</execute>",
            "It is 42.",
        ),
    )
    ctx = Context(agent)
    first, second = await tool_results(agent, "what is 21 * 2?", ctx)
    assert "stdout:\nset" in first.tool_output.content
    assert "stdout:\n42" in second.tool_output.content  # x is still defined (and the fence was stripped)
    assert spec.last_result_for(ctx).stdout == "42\n"

    other = CodeActAgent(code_execute_fn=spec.code_execute_fn, llm=codeact_llm("<execute>\nprint(x)\n</execute>", "?"))
    [isolated] = await tool_results(other, "x?", Context(other))
    assert "NameError" in isolated.tool_output.content  # another context: another interpreter


# ---------------------------------------------------------------------------------------------- 7. small things
def test_fenced_code_runs_and_a_prefix_renames_the_tools(manager: SessionManager) -> None:
    toolkit = SandboxToolkit(manager=manager, name_prefix="sandbox_")
    tools = toolkit.get_tools()
    assert {tool.name for tool in tools} == {
        "sandbox_run_code", "sandbox_install_packages", "sandbox_upload_file", "sandbox_read_file",
        "sandbox_list_files", "sandbox_reset_session",
    }  # fmt: skip
    assert "sandbox_reset_session starts over" in tools[0].description
    assert "language" not in tools[0].tool_call_schema.model_json_schema()["properties"]  # one language
    agent = langchain_agent(
        tools,
        calls(("sandbox_run_code", {"code": "```python\nprint('fenced')\n```"})),
        calls(("sandbox_read_file", {"path": "nothing.txt"})),
        AIMessage("ok"),
    )
    ran, read = tool_messages(agent.invoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": "fence"}}))
    assert ran.status == "success" and "stdout:\nfenced" in ran.content
    assert "use sandbox_list_files to see what exists" in read.content


async def test_llamaindex_results_are_kept_per_conversation(manager: SessionManager) -> None:
    spec = SandboxToolSpec(manager=manager)
    contexts = []
    for word in ("one", "two"):
        agent = FunctionAgent(
            tools=spec.to_tool_list(), llm=function_llm(("run_code", {"code": f"print('{word}')"}), "ok")
        )
        contexts.append(Context(agent))
        await tool_results(agent, "go", contexts[-1])
    assert [spec.last_result_for(ctx).stdout for ctx in contexts] == ["one\n", "two\n"]
    with pytest.raises(ValueError, match="last_result_for"):
        _ = spec.last_result


def test_a_read_over_the_output_limit_is_text_for_the_model(python_image: str) -> None:
    """Issue 15: a ResourceError (its message is advice) reaches the model, not the agent loop."""
    # infrastructure_errors="raise": the limit is not an infrastructure failure, it never escapes.
    with SandboxToolkit(
        lang="python", session_options={"max_output_bytes": 4096}, infrastructure_errors="raise"
    ) as toolkit:
        agent = langchain_agent(
            toolkit.get_tools(),
            calls(("run_code", {"code": "open('big.txt', 'w').write('x' * 100000)"})),
            calls(("read_file", {"path": "big.txt"})),
            AIMessage("Too big."),
        )
        state = agent.invoke({"messages": [("user", "go")]}, {"configurable": {"thread_id": "limit"}})
    _, read = tool_messages(state)
    assert read.status == "error" and read.content.startswith("error: reading ")
    assert "exceeds the session's output limit (max_output_bytes); read fewer bytes" in read.content
    assert state["messages"][-1].content == "Too big."

"""Async agents against real Docker: concurrent ainvoke calls, cancellation, live events."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_sandbox.agents import EventStream, OutputChunk, RunFinished, RunStarted, SandboxEvent, SessionManager
from llm_sandbox.agents.managed import Cancellation, current_cancellation
from tests.handshake import RELEASE, wait_for_release
from tests.waits import GENEROUS, eventually

pytestmark = pytest.mark.integration
pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage  # noqa: E402

from llm_sandbox.langchain import SandboxTool  # noqa: E402

AGENTS = 10


class ToolCallingFakeModel(GenericFakeChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFakeModel:  # type: ignore[override]
        return self


async def arun_agent(
    model: ToolCallingFakeModel, tools: list[Any], prompt: str, thread_id: str
) -> list[BaseMessage]:
    config = {"configurable": {"thread_id": thread_id}}
    by_name = {tool.name: tool for tool in tools}
    bound = model.bind_tools(tools)
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    while True:
        reply = await bound.ainvoke(messages, config)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        for call in reply.tool_calls:
            messages.append(await by_name[call["name"]].ainvoke(call, config))


def one_call(code: str, answer: str = "done") -> ToolCallingFakeModel:
    call = {"name": "run_code", "args": {"code": code}, "id": "call-1", "type": "tool_call"}
    return ToolCallingFakeModel(
        messages=iter([AIMessage(content="", tool_calls=[call]), AIMessage(content=answer)])
    )


@pytest.fixture(scope="module", params=[True, False], ids=["stateful", "stateless"])
def manager(request: pytest.FixtureRequest, python_image: str) -> Iterator[SessionManager]:
    """Both kinds of sandbox an agent gets: a kernel that keeps variables (the default), a fresh process per call."""
    with SessionManager(lang="python", max_sessions=AGENTS + 2, idle_timeout=300, stateful=request.param) as manager:
        yield manager


async def test_ten_agents_run_concurrently_without_blocking_each_other_or_the_loop(
    manager: SessionManager,
) -> None:
    tool = SandboxTool(manager=manager)
    threads = [f"agent-{i}" for i in range(AGENTS)]
    # First contact opens the ten sandboxes, concurrently too.
    await asyncio.gather(*(arun_agent(one_call("print('ready')"), [tool], "warm up", t) for t in threads))
    assert {info.key for info in manager.sessions()} >= set(threads)

    # Each run says it is ready, then waits for a release that the test sends only when all ten
    # are ready: the runs can finish only if they were all in progress at once, and the release
    # travels through this event loop, which must therefore keep running while they wait.
    calls = [
        arun_agent(
            one_call(f"print('ready {i}', flush=True)\n{wait_for_release()}print('agent {i} done')", f"answer {i}"),
            [tool],
            "work",
            thread,
        )
        for i, thread in enumerate(threads)
    ]
    async with manager.events(kinds={"output"}) as events:
        agents = asyncio.gather(*calls)
        printed_so_far = dict.fromkeys(threads, "")  # chunks may split a line: joined per agent
        while not all("ready" in text for text in printed_so_far.values()):
            event = await events.get(timeout=GENEROUS)
            if isinstance(event, OutputChunk) and event.session_key in printed_so_far:
                printed_so_far[event.session_key] += event.text
        assert sum(info.in_use for info in manager.sessions() if info.key in printed_so_far) == AGENTS
        for thread in threads:
            with manager.session(thread) as sandbox:
                await asyncio.to_thread(sandbox.write_file, RELEASE, "")
        results = await agents

    for i, messages in enumerate(results):
        [message] = [m for m in messages if isinstance(m, ToolMessage)]
        assert f"stdout:\nready {i}\nagent {i} done" in message.content
        assert messages[-1].content == f"answer {i}"


LIST_PROCESSES = """\
import glob
for path in glob.glob('/proc/[0-9]*/cmdline'):
    try:
        print(open(path, 'rb').read().replace(b'\\0', b' ').decode())
    except OSError:
        pass
"""


async def next_event(events: EventStream, wanted: Callable[[SandboxEvent], bool]) -> SandboxEvent:
    """The next event of the stream that ``wanted`` accepts (others are skipped)."""
    while True:
        event = await events.get(timeout=GENEROUS)
        if wanted(event):
            return event


async def printed(events: EventStream, run_id: str, text: str) -> None:
    """Wait until run ``run_id`` has printed ``text``: chunks split anywhere (the collector holds back
    bytes that may start its end marker), so they are joined, not matched one by one."""
    seen = ""
    while text not in seen:
        chunk = await next_event(events, lambda e: isinstance(e, OutputChunk) and e.run_id == run_id)
        seen += chunk.text  # type: ignore[attr-defined]


@pytest.mark.parametrize("round_", range(8))
async def test_cancelling_an_agent_kills_its_run_and_keeps_its_sandbox(manager: SessionManager, round_: int) -> None:
    """Cancel a call once its code printed that it runs, then call again at once: the next call is never hit.

    Each round reuses the sandbox of the one before (the module's manager), so the rounds also
    check that every cancelled run was finished before the next. A kernel keeps its variables
    through a cancel (the cell gets SIGINT, as in a notebook); a fresh process per call loses
    every process of the cancelled run.
    """
    tool = SandboxTool(manager=manager)
    key = "cancelled"
    config = {"configurable": {"thread_id": key}}
    stateful = manager.is_stateful("python")
    if round_ == 0:
        await tool.ainvoke({"code": "open('kept.txt', 'w').write('still here')\nkept = 'kept'"}, config)
    code = f"import subprocess, time\nsubprocess.Popen(['sleep', '900'])\nprint('working {round_}', flush=True)\n"
    code += "time.sleep(600)"
    async with manager.events(kinds={"run_started", "output", "run_finished"}) as events:
        task = asyncio.create_task(tool.ainvoke({"code": code}, config))
        started = await next_event(events, lambda e: isinstance(e, RunStarted) and e.session_key == key)
        await printed(events, started.run_id, f"working {round_}")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await tool.ainvoke({"code": "print(open('kept.txt').read())"}, config)  # at once
        assert after.startswith("exit code: 0") and "stdout:\nstill here" in after, after
        if stateful:
            assert "stdout:\nkept" in await tool.ainvoke({"code": "print(kept)"}, config)
        finished = await next_event(events, lambda e: isinstance(e, RunFinished) and e.run_id == started.run_id)
    assert finished.cancelled
    if not stateful:  # a cell's child processes are its own business in a kernel, as in a notebook
        processes = await manager.arun(key, LIST_PROCESSES)
        assert processes.exit_code == 0 and "time.sleep" not in processes.stdout, processes.stderr
        assert "sleep 900" not in processes.stdout, "a process of a cancelled run survived"


async def test_a_cancel_never_reaches_another_callers_run(manager: SessionManager) -> None:
    """Two callers share a sandbox. A cancel that comes after its own run ended must not kill the run
    that began next, and a call cancelled while it waits for its turn must never run at all."""
    key = "shared"
    late = Cancellation()  # what run_in_thread(..., cancellable=True) puts in a call's context
    context = contextvars.copy_context()
    context.run(current_cancellation.set, late)
    first = await asyncio.to_thread(context.run, manager.run, key, "print('first')")
    assert first.exit_code == 0

    waiting_started = threading.Event()
    refused: list[BaseException] = []

    def waiting_call() -> None:
        waiting_started.set()
        try:
            manager.run(key, "open('waiting-call-ran', 'w').close()")
        except BaseException as exc:
            refused.append(exc)
            raise

    code = f"print('second waiting', flush=True)\n{wait_for_release()}print('second done')"
    async with manager.events(kinds={"run_started", "output", "run_finished"}) as events:
        second = asyncio.create_task(manager.arun(key, code))
        started = await next_event(events, lambda e: isinstance(e, RunStarted) and e.session_key == key)
        await printed(events, started.run_id, "second waiting")
        assert not await asyncio.to_thread(late.cancel), "the late cancel found a run of its own"

        third = asyncio.create_task(manager.run_in_thread(waiting_call, cancellable=True))
        await asyncio.to_thread(waiting_started.wait, GENEROUS)  # it now waits for the sandbox's turn
        third.cancel()
        with pytest.raises(asyncio.CancelledError):
            await third

        with manager.session(key) as sandbox:
            await asyncio.to_thread(sandbox.write_file, RELEASE, "")
        result = await second
        finished = await next_event(events, lambda e: isinstance(e, RunFinished) and e.run_id == started.run_id)
    assert result.exit_code == 0 and "second done" in result.stdout, result
    assert not finished.cancelled
    await asyncio.to_thread(eventually, lambda: refused, "the cancelled call giving up")
    assert isinstance(refused[0], concurrent.futures.CancelledError), refused
    check = await manager.arun(key, "import os\nprint(os.path.exists('waiting-call-ran'))")
    assert check.stdout.strip() == "False", "a call cancelled before its turn ran anyway"


async def test_events_stream_output_live(manager: SessionManager) -> None:
    """The code waits until the test has received its first chunk as an event: it ends only if output streamed."""
    tool = SandboxTool(manager=manager)
    key = "live"
    config = {"configurable": {"thread_id": key}}
    code = f"print('first', flush=True)\n{wait_for_release()}print('second', flush=True)"
    async with manager.events(kinds={"run_started", "output", "run_finished"}) as events:
        task = asyncio.create_task(tool.ainvoke({"code": code}, config))
        started = await events.get(timeout=GENEROUS)
        assert isinstance(started, RunStarted) and started.session_key == key and started.code == code
        chunk = await events.get(timeout=GENEROUS)
        assert isinstance(chunk, OutputChunk) and chunk.stream == "stdout" and "first".startswith(chunk.text[:5])
        assert chunk.run_id == started.run_id and chunk.session_key == key
        if "first" not in chunk.text:  # the rest of the line may come in another chunk
            await printed(events, started.run_id, "first")
        assert not task.done()  # the code is waiting for the release below: it cannot have finished
        with manager.session(key) as sandbox:  # copies work while the run goes on
            await asyncio.to_thread(sandbox.write_file, RELEASE, "")
        rest = []
        while not rest or not isinstance(rest[-1], RunFinished):
            rest.append(await events.get(timeout=GENEROUS))
    assert "second" in "".join(e.text for e in rest if isinstance(e, OutputChunk))
    assert rest[-1].exit_code == 0 and rest[-1].run_id == started.run_id
    assert "stdout:\nfirst\nsecond" in await task

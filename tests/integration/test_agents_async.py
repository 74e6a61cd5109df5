"""Async agents against real Docker: concurrent ainvoke calls, cancellation, live events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from llm_sandbox.agents import OutputChunk, RunFinished, RunStarted, SandboxEvent, SessionManager

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


@pytest.fixture(scope="module")
def manager(python_image: str) -> Iterator[SessionManager]:
    with SessionManager(lang="python", max_sessions=AGENTS + 2, idle_timeout=300) as manager:
        yield manager


async def test_ten_agents_run_concurrently_without_blocking_each_other_or_the_loop(
    manager: SessionManager,
) -> None:
    tool = SandboxTool(manager=manager)
    threads = [f"agent-{i}" for i in range(AGENTS)]
    # First contact opens the ten sandboxes, concurrently too.
    await asyncio.gather(*(arun_agent(one_call("print('ready')"), [tool], "warm up", t) for t in threads))
    assert {info.key for info in manager.sessions()} >= set(threads)

    in_flight: set[str] = set()
    peak = 0
    seen_by_loop: list[int] = []

    def track(event: SandboxEvent) -> None:
        nonlocal peak
        if isinstance(event, RunStarted) and event.operation == "run":
            in_flight.add(event.run_id)
            peak = max(peak, len(in_flight))
        elif isinstance(event, RunFinished) and event.operation == "run":
            in_flight.discard(event.run_id)

    async def ticker() -> None:
        while True:
            seen_by_loop.append(len(in_flight))
            await asyncio.sleep(0.01)

    with manager.subscribe(track):
        ticking = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *(
                arun_agent(
                    one_call(f"import time\ntime.sleep(2)\nprint('agent {i} done')", f"answer {i}"),
                    [tool],
                    "work",
                    thread,
                )
                for i, thread in enumerate(threads)
            )
        )
        ticking.cancel()

    for i, messages in enumerate(results):
        [message] = [m for m in messages if isinstance(m, ToolMessage)]
        assert f"stdout:\nagent {i} done" in message.content
        assert messages[-1].content == f"answer {i}"
    assert peak == AGENTS  # every run was in progress at the same time
    assert max(seen_by_loop) == AGENTS  # and the event loop kept running while all ten were


async def test_cancelling_an_agent_kills_its_run_and_keeps_its_sandbox(manager: SessionManager) -> None:
    tool = SandboxTool(manager=manager)
    config = {"configurable": {"thread_id": "cancelled"}}
    await tool.ainvoke({"code": "open('kept.txt', 'w').write('still here')"}, config)
    finished: asyncio.Queue[RunFinished] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def on_event(event: SandboxEvent) -> None:
        if event.session_key != "cancelled":
            return
        if isinstance(event, RunStarted):
            loop.call_soon_threadsafe(started.set)
        elif isinstance(event, RunFinished):
            loop.call_soon_threadsafe(finished.put_nowait, event)

    with manager.subscribe(on_event):
        task = asyncio.create_task(
            tool.ainvoke({"code": "import time\nprint('working', flush=True)\ntime.sleep(120)"}, config)
        )
        await asyncio.wait_for(started.wait(), 30)
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        event = await asyncio.wait_for(finished.get(), 30)  # far sooner than the 120 s the code wanted
    assert event.cancelled
    after = await tool.ainvoke({"code": "print(open('kept.txt').read())"}, config)
    assert "stdout:\nstill here" in after


async def test_events_stream_output_live(manager: SessionManager) -> None:
    tool = SandboxTool(manager=manager)
    config = {"configurable": {"thread_id": "live"}}
    code = "import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second', flush=True)"
    async with manager.events(kinds={"run_started", "output", "run_finished"}) as events:
        task = asyncio.create_task(tool.ainvoke({"code": code}, config))
        started = await events.get(timeout=30)
        assert isinstance(started, RunStarted) and started.session_key == "live" and started.code == code
        chunk = await events.get(timeout=30)
        assert isinstance(chunk, OutputChunk) and chunk.stream == "stdout" and chunk.text.startswith("first")
        assert chunk.run_id == started.run_id and chunk.session_key == "live"
        assert not task.done()  # the chunk arrived while the code was still running
        rest = []
        while not rest or not isinstance(rest[-1], RunFinished):
            rest.append(await events.get(timeout=30))
    assert "second" in "".join(e.text for e in rest if isinstance(e, OutputChunk))
    assert rest[-1].exit_code == 0 and rest[-1].run_id == started.run_id
    assert "stdout:\nfirst\nsecond" in await task

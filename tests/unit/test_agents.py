"""Session manager, tool text and the LangChain/LlamaIndex wrappers against an in-memory fake session.

No engine: the fake records what the manager does and behaves like a session
(open/close, run with streamed output, install, files through tar archives).
The same behaviours are checked against real Docker in tests/integration/test_agents*.py.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import shlex
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox.agents import (
    ManagerClosedError,
    OutputChunk,
    RunFinished,
    RunStarted,
    SessionClosed,
    SessionLimitError,
    SessionManager,
    SessionOpened,
)
from llm_sandbox.const import FileType
from llm_sandbox.data import ConsoleOutput, ExecutionResult, FileOutput, PlotOutput
from llm_sandbox.exceptions import (
    ContainerError,
    ImageNotFoundError,
    PackageManagerError,
    SandboxTimeoutError,
    SecurityViolationError,
    ValidationError,
)
from llm_sandbox.tools.descriptions import describe_run_tool
from llm_sandbox.tools.text import clip, format_error, format_result
from tests.waits import GENEROUS, eventually

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


class FakeSession:
    """Behaves like ArtifactSandboxSession for the manager: code prefixes choose what a run does."""

    def __init__(
        self, key: str, lang: str, *, gate: threading.Event | None = None, fail_open: BaseException | None = None
    ):
        self.key = key
        self.lang = lang
        self.session_id = uuid.uuid4().hex[:16]
        self.container_id: str | None = None
        self.workdir = "/sandbox"
        self.outputs_dir = "/sandbox/outputs"
        self.gate = gate
        """When given, ``open()`` waits for the test to set it (a slow open, as long as the test needs)."""
        self.fail_open = fail_open
        self.closed = False
        self.open_calls = 0
        self.files: dict[str, bytes] = {}
        self.installed: list[str] = []
        self.interrupted = threading.Event()
        self.running = threading.Event()
        """Set when a ``block:`` run has started."""
        self.unblocked = threading.Event()
        """Ends a ``block:`` run: set by ``interrupt()`` (exit 137) or by the test (exit 0)."""

    @property
    def is_open(self) -> bool:
        return self.container_id is not None and not self.closed

    def open(self) -> FakeSession:
        self.open_calls += 1
        if self.gate is not None:
            assert self.gate.wait(GENEROUS), "the test never let the open finish"
        if self.fail_open is not None:
            raise self.fail_open
        self.container_id = "c" + self.session_id
        return self

    def close(self) -> None:
        self.closed = True

    def interrupt(self) -> bool:
        self.interrupted.set()
        self.unblocked.set()
        return True

    def run(
        self,
        code: str,
        libraries: Any = None,
        timeout: Any = None,
        on_stdout: Any = None,
        on_stderr: Any = None,
    ) -> ExecutionResult:
        if self.closed:
            raise ContainerError("container is gone")
        if libraries:
            self.install(libraries)
        if code.startswith("timeout:"):
            on_stdout and on_stdout("partial output\n")
            raise SandboxTimeoutError("the code ran longer than its timeout of 1s and was killed", 1.0)
        if code.startswith("policy:"):
            raise SecurityViolationError(
                "the security policy refused this code", violations=["line 1: os.system"]
            )
        if code.startswith("container:"):
            raise ContainerError("the engine went away")
        if code.startswith("image:"):
            raise ImageNotFoundError("llm-sandbox/python:latest", "build it")
        if code == "block:":
            self.running.set()
            assert self.unblocked.wait(GENEROUS), "the test never ended the blocked run"
            return ExecutionResult(exit_code=137 if self.interrupted.is_set() else 0)
        if code.startswith("write:"):
            path, _, content = code[6:].partition("=")
            self.files[path] = content.encode()
        if code.startswith("plot:"):
            return ExecutionResult(
                exit_code=0,
                stdout="plotted\n",
                plots=[PlotOutput(FileType.PNG, PNG, 640, 480)],
                files=[FileOutput("/sandbox/outputs/a.csv", FileType.CSV, 8, "eCx5CjEsMgo=")],
                duration=0.1,
            )
        if code.startswith("fail:"):
            on_stderr and on_stderr("Traceback...\nZeroDivisionError: division by zero\n")
            return ExecutionResult(
                exit_code=1, stderr="Traceback...\nZeroDivisionError: division by zero\n", duration=0.05
            )
        if on_stdout:
            on_stdout(code[:5])
            on_stdout(code[5:])
        return ExecutionResult(exit_code=0, stdout=code, duration=0.01)

    def install(self, libraries: list[str]) -> ConsoleOutput:
        if any(" " in name for name in libraries):
            raise ValidationError(f"invalid library name {libraries[0]!r}")
        if "missing-package" in libraries:
            raise PackageManagerError("pip", "installing missing-package exited with code 1:\nNo matching distribution")
        self.installed += libraries
        return ConsoleOutput(exit_code=0, stdout="ok")

    def copy_to_runtime(self, src: str, dest: str) -> None:
        self.files[dest] = Path(src).read_bytes()

    def execute_command(
        self,
        command: str,
        workdir: Any = None,
        on_stdout: Any = None,
        on_stderr: Any = None,
        timeout: Any = None,
    ) -> ConsoleOutput:
        if "llm-sandbox-read" in command:  # ManagedSession.read_file: the size, then base64 of the start
            path, max_bytes = shlex.split(command)[-2:]
            if path in self.files:
                data = self.files[path]
                head = base64.b64encode(data[: int(max_bytes)]).decode()
                return ConsoleOutput(exit_code=0, stdout=f"{len(data)}\n{head}")
            is_dir = any(name.startswith(path.rstrip("/") + "/") for name in self.files)
            return ConsoleOutput(exit_code=45 if is_dir else 44)
        lines = [f"f\t{len(data)}\t{path}" for path, data in sorted(self.files.items())]
        return ConsoleOutput(exit_code=0, stdout="\n".join(lines) + "\n")


class FakeFactory:
    def __init__(self, **options: Any) -> None:
        self.options = options
        self.sessions: list[FakeSession] = []
        self.lock = threading.Lock()

    def __call__(self, key: str, lang: str) -> FakeSession:
        session = FakeSession(key, lang, **self.options)
        with self.lock:
            self.sessions.append(session)
        return session


@pytest.fixture
def factory() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def manager(factory: FakeFactory):
    with SessionManager(session_factory=factory, max_sessions=4, idle_timeout=60) as manager:
        yield manager


# ---------------------------------------------------------------------------- lifecycle
def test_sessions_open_lazily_one_per_key(manager: SessionManager, factory: FakeFactory) -> None:
    assert factory.sessions == [] and manager.sessions() == []
    assert manager.run("a", "print(1)").stdout == "print(1)"
    manager.run("a", "again")
    manager.run("b", "other")
    assert [s.key for s in factory.sessions] == ["a", "b"]
    infos = {info.key: info for info in manager.sessions()}
    assert infos["a"].run_count == 2 and infos["b"].run_count == 1
    assert infos["a"].session_id == factory.sessions[0].session_id
    assert infos["a"].state == "open" and infos["a"].in_use == 0 and infos["a"].age >= infos["a"].idle


def test_none_key_uses_the_default_key_and_aliases_resolve(
    manager: SessionManager, factory: FakeFactory
) -> None:
    manager.run(None, "x")
    manager.run("", "y", lang="py")
    assert len(factory.sessions) == 1 and factory.sessions[0].key == "default"
    assert factory.sessions[0].lang == "python"


def test_languages_not_enabled_are_refused(manager: SessionManager) -> None:
    with pytest.raises(ValidationError, match="not enabled"):
        manager.run("a", "x", lang="javascript")


def test_the_bound_raises_a_clear_error(factory: FakeFactory) -> None:
    with SessionManager(session_factory=factory, max_sessions=2, evict_idle=False, wait_timeout=0) as manager:
        manager.run("a", "x")
        manager.run("b", "x")
        with pytest.raises(SessionLimitError, match="all 2 sandboxes") as info:
            manager.run("c", "x")
        assert "close_session" in str(info.value) and "max_sessions" in str(info.value)
        assert manager.close_session("a") is True
        assert manager.run("c", "x").exit_code == 0
        assert factory.sessions[0].closed


def test_the_bound_can_wait_for_a_free_slot(factory: FakeFactory) -> None:
    with SessionManager(session_factory=factory, max_sessions=1, wait_timeout=5) as manager:
        lease = manager.acquire("a")
        got: list[str] = []
        waiter = threading.Thread(target=lambda: got.append(manager.run("b", "hello").stdout))
        waiter.start()
        waiter.join(0.1)
        assert waiter.is_alive() and got == []  # still waiting: "a" is held (a slow thread only passes this)
        lease.release()
        manager.close_session("a")
        waiter.join(GENEROUS)
        assert got == ["hello"]


def test_by_default_the_bound_evicts_the_least_recently_used_idle_sandbox(factory: FakeFactory) -> None:
    events: list[Any] = []
    with SessionManager(session_factory=factory, max_sessions=2) as manager:
        manager.subscribe(events.append, kinds={"session_closed"})
        manager.run("a", "x")
        manager.run("b", "x")
        manager.run("a", "x")  # b is now the least recently used
        manager.run("c", "x")
        assert sorted(info.key for info in manager.sessions()) == ["a", "c"]
        assert [(e.session_key, e.reason) for e in events] == [("b", "evicted")]


def test_held_sandboxes_are_not_evicted(factory: FakeFactory) -> None:
    with (
        SessionManager(session_factory=factory, max_sessions=1, wait_timeout=0) as manager,
        manager.session("a"),
        pytest.raises(SessionLimitError),
    ):
        manager.run("b", "x")


def test_by_default_a_new_key_waits_for_a_busy_sandbox_to_become_idle(factory: FakeFactory) -> None:
    with SessionManager(session_factory=factory, max_sessions=1) as manager:
        lease = manager.acquire("a")
        started = threading.Event()
        got: list[str] = []

        def second() -> None:
            started.set()
            got.append(manager.run("b", "hello").stdout)

        waiter = threading.Thread(target=second)
        waiter.start()
        started.wait(5)
        assert got == [] and [info.key for info in manager.sessions()] == ["a"]  # "a" is busy: "b" waits
        lease.release()  # "a" is idle now: evicted for "b"
        waiter.join(10)
        assert got == ["hello"] and [info.key for info in manager.sessions()] == ["b"]


def test_idle_sandboxes_are_reaped_but_held_ones_are_not(factory: FakeFactory) -> None:
    closed: list[SessionClosed] = []
    with SessionManager(session_factory=factory, idle_timeout=0.2) as manager:
        manager.subscribe(lambda e: closed.append(e) if isinstance(e, SessionClosed) else None)
        manager.run("idle", "x")
        with manager.session("held") as held:
            eventually(lambda: factory.sessions[0].closed, "the reaper closing the idle sandbox")
            assert manager.reap_idle(idle_timeout=0) == 0  # every idle sandbox, now: the held one is not idle
            assert not held.session.closed
            assert [info.key for info in manager.sessions()] == ["held"]
        eventually(lambda: factory.sessions[1].closed, "the reaper closing the released sandbox")
        assert [(e.session_key, e.reason, e.run_count) for e in closed] == [
            ("idle", "idle", 1),
            ("held", "idle", 0),
        ]
        manager.run("idle", "x")  # a new sandbox opens for the same key
        assert len(factory.sessions) == 3


def test_reap_idle_can_be_called_directly(manager: SessionManager, factory: FakeFactory) -> None:
    manager.run("a", "x")
    assert manager.reap_idle(idle_timeout=60) == 0
    assert manager.reap_idle(idle_timeout=0) == 1  # 0: every idle sandbox, now
    assert factory.sessions[0].closed and manager.sessions() == []


def test_close_closes_everything_and_refuses_further_use(factory: FakeFactory) -> None:
    manager = SessionManager(session_factory=factory)
    manager.run("a", "x")
    manager.run("b", "x")
    manager.close()
    assert all(s.closed for s in factory.sessions)
    with pytest.raises(ManagerClosedError):
        manager.run("a", "x")
    manager.close()  # idempotent


def test_a_garbage_collected_manager_closes_its_sandboxes(factory: FakeFactory) -> None:
    # No idle reaper: its thread holds the manager for a moment each round, and nothing else may close it.
    manager = SessionManager(session_factory=factory, idle_timeout=None)
    manager.run("a", "x")
    del manager
    gc.collect()
    assert factory.sessions[0].closed


def test_concurrent_first_use_opens_one_sandbox_per_key() -> None:
    """24 threads on 4 keys; the opens wait until all four are in progress at once: still one open per key."""
    gate = threading.Event()
    factory = FakeFactory(gate=gate)
    with SessionManager(session_factory=factory, max_sessions=8) as manager:
        results: list[str] = []
        threads = [
            threading.Thread(target=lambda i=i: results.append(manager.run(f"k{i % 4}", "x").stdout))
            for i in range(24)
        ]
        for thread in threads:
            thread.start()
        eventually(lambda: sum(s.open_calls for s in factory.sessions) == 4, "four opens in progress at once")
        gate.set()
        for thread in threads:
            thread.join()
        assert len(results) == 24
        assert sorted(s.key for s in factory.sessions) == ["k0", "k1", "k2", "k3"]
        assert all(s.open_calls == 1 for s in factory.sessions)
        assert sum(info.run_count for info in manager.sessions()) == 24


def test_open_failures_raise_to_every_waiter_and_free_the_slot() -> None:
    gate = threading.Event()
    factory = FakeFactory(gate=gate, fail_open=ContainerError("docker is not running"))
    with SessionManager(session_factory=factory, max_sessions=1) as manager:
        errors: list[BaseException] = []

        def use() -> None:
            try:
                manager.run("a", "x")
            except ContainerError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=use) for _ in range(3)]
        for thread in threads:
            thread.start()
        eventually(lambda: factory.sessions and factory.sessions[0].open_calls, "the first open starting")
        gate.set()
        for thread in threads:
            thread.join()
        assert len(errors) == 3 and manager.sessions() == []
        factory.options["fail_open"] = None
        assert manager.run("b", "x").exit_code == 0  # the slot was freed


def test_a_broken_container_is_replaced_on_next_use(manager: SessionManager, factory: FakeFactory) -> None:
    with pytest.raises(ContainerError):
        manager.run("a", "container:")
    assert factory.sessions[0].closed
    manager.run("a", "x")
    assert len(factory.sessions) == 2


def test_a_session_closed_behind_the_managers_back_is_reopened(
    manager: SessionManager, factory: FakeFactory
) -> None:
    manager.run("a", "x")
    factory.sessions[0].close()  # e.g. its session_timeout expired
    manager.run("a", "x")
    assert len(factory.sessions) == 2


def test_interrupt_kills_the_current_run(manager: SessionManager, factory: FakeFactory) -> None:
    finished: list[RunFinished] = []
    manager.subscribe(finished.append, kinds={"run_finished"})
    assert manager.interrupt("a") is False  # nothing running
    runner = threading.Thread(target=manager.run, args=("a", "block:"))
    runner.start()
    eventually(lambda: factory.sessions and factory.sessions[0].running.is_set(), "the run starting")
    assert manager.interrupt("a") is True
    runner.join(GENEROUS)
    assert not runner.is_alive()
    assert finished[0].cancelled and finished[0].exit_code == 137


# ---------------------------------------------------------------------------- events
def test_events_carry_key_run_id_stream_and_text(manager: SessionManager) -> None:
    events: list[Any] = []
    manager.subscribe(events.append)
    manager.run("conv", "hello world", run_id="r1")
    kinds = [e.kind for e in events]
    assert kinds == ["session_opened", "run_started", "output", "output", "run_finished"]
    opened, started, chunk1, chunk2, finished = events
    assert isinstance(opened, SessionOpened) and opened.session_key == "conv" and opened.session_id
    assert isinstance(started, RunStarted) and started.run_id == "r1" and started.code == "hello world"
    assert isinstance(chunk1, OutputChunk) and (chunk1.session_key, chunk1.run_id, chunk1.stream) == (
        "conv",
        "r1",
        "stdout",
    )
    assert chunk1.text + chunk2.text == "hello world"
    assert (
        isinstance(finished, RunFinished)
        and finished.exit_code == 0
        and finished.result.stdout == "hello world"
    )
    assert finished.to_dict()["result"] == {"exit_code": 0, "plots": 0, "files": []}
    assert finished.to_dict()["kind"] == "run_finished"


def test_failed_runs_emit_a_finished_event_with_the_error(manager: SessionManager) -> None:
    events: list[Any] = []
    manager.subscribe(events.append, kinds={"run_finished"})
    with pytest.raises(SandboxTimeoutError):
        manager.run("a", "timeout:")
    assert events[0].error_type == "SandboxTimeoutError" and events[0].exit_code is None


def test_subscriber_errors_never_break_a_run_and_unsubscribe_works(manager: SessionManager) -> None:
    seen: list[Any] = []

    def broken(event: Any) -> None:
        raise RuntimeError("subscriber bug")

    manager.subscribe(broken)
    subscription = manager.subscribe(seen.append, kinds={"run_started"})
    assert manager.run("a", "x").exit_code == 0
    subscription.close()
    manager.run("a", "x")
    assert len(seen) == 1


async def test_event_stream_delivers_events_to_asyncio(manager: SessionManager) -> None:
    async with manager.events(kinds={"output", "run_finished"}) as events:
        result = await manager.arun("a", "streamed")
        received = [await events.get(timeout=GENEROUS) for _ in range(3)]
    assert result.stdout == "streamed"
    assert [e.kind for e in received] == ["output", "output", "run_finished"]
    assert "".join(e.text for e in received if isinstance(e, OutputChunk)) == "streamed"


async def test_cancelling_an_async_run_interrupts_it(manager: SessionManager, factory: FakeFactory) -> None:
    finished: list[RunFinished] = []
    manager.subscribe(finished.append, kinds={"run_finished"})
    task = asyncio.create_task(manager.arun("a", "block:"))
    await asyncio.to_thread(eventually, lambda: factory.sessions and factory.sessions[0].running.is_set(), "the run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(eventually, lambda: finished, "the cancelled run finishing")
    assert finished[0].cancelled and factory.sessions[0].interrupted.is_set()


# ---------------------------------------------------------------------------- tool text
def test_clip_keeps_start_and_end_with_a_notice() -> None:
    text = "".join(f"line {i}\n" for i in range(2000))
    clipped = clip(text, 400)
    assert clipped.startswith("line 0\n") and clipped.endswith("line 1999\n")
    assert "characters omitted" in clipped and len(clipped) < 600
    assert clip("short", 400) == "short"


def test_format_result_is_compact_and_summarises_artifacts() -> None:
    result = ExecutionResult(
        exit_code=0,
        stdout="x" * 10000,
        stderr="warn\n",
        duration=0.5,
        plots=[PlotOutput(FileType.PNG, PNG, 640, 480)],
        files=[FileOutput("/sandbox/outputs/a.csv", FileType.CSV, 2048, None)],
    )
    text = format_result(result, max_chars=500)
    assert text.startswith("exit code: 0 (0.50 s)")
    assert "characters omitted" in text and len(text) < 1000
    assert "stderr:\nwarn" in text
    assert "plots: 1 image captured (png 640x480)" in text
    assert "/sandbox/outputs/a.csv (csv, 2.0 KB)" in text
    assert format_result(ExecutionResult(exit_code=3)).splitlines() == [
        "exit code: 3 - failed",
        "(no output)",
    ]


def test_format_error_includes_output_before_a_timeout() -> None:
    text = format_error(SandboxTimeoutError("ran longer than 1s"), stdout="step 1\n")
    assert text.startswith("error: timeout") and "stdout before the error:\nstep 1" in text


def test_run_tool_description_tells_the_model_about_the_sandbox(manager: SessionManager) -> None:
    text = describe_run_tool(manager)
    for needle in (
        "Python",
        "numpy",
        "pandas",
        "matplotlib",
        "No network",
        "/sandbox/outputs",
        "plt.show()",
        "`libraries`",
        "persist",
    ):
        assert needle in text
    assert len(text) <= 1024
    assert len(describe_run_tool(manager, max_chars=300)) <= 300


def test_run_tool_description_lists_extra_libraries_and_network(factory: FakeFactory) -> None:
    with SessionManager(
        session_factory=factory,
        libraries=["scipy"],
        runtime_configs={"network_mode": "bridge"},
        execution_timeout=30,
    ) as manager:
        text = describe_run_tool(manager)
    assert "scipy" in text and "has network access" in text and "30 s" in text


# ---------------------------------------------------------------------------- LangChain
langchain_core = pytest.importorskip("langchain_core")


def tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "args": args}


def thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def test_langchain_tool_returns_content_and_artifact(manager: SessionManager) -> None:
    from langchain_core.messages import ToolMessage

    from llm_sandbox.langchain import SandboxTool

    tool = SandboxTool(manager=manager)
    message = tool.invoke(tool_call("run_code", {"code": "plot:"}), config=thread("t1"))
    assert isinstance(message, ToolMessage) and message.tool_call_id == "call-1"
    assert "exit code: 0" in message.content and "plots: 1 image captured" in message.content
    assert message.status == "success" and message.artifact["type"] == "execution_result"
    result = tool.load_artifact(message)
    assert isinstance(result, ExecutionResult) and len(result.plots) == 1
    assert [info.key for info in manager.sessions()] == ["t1"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fail:", "ZeroDivisionError"),
        ("timeout:", "error: timeout"),
        ("policy:", "security policy refused"),
        ("", "`code` is empty"),
    ],
)
def test_langchain_model_fixable_errors_come_back_as_content(
    manager: SessionManager, code: str, expected: str
) -> None:
    from llm_sandbox.langchain import SandboxTool

    message = SandboxTool(manager=manager).invoke(tool_call("run_code", {"code": code}), config=thread("t"))
    assert expected in message.content and message.status == "error"


def test_langchain_timeout_content_keeps_partial_output(manager: SessionManager) -> None:
    from llm_sandbox.langchain import SandboxTool

    message = SandboxTool(manager=manager).invoke(
        tool_call("run_code", {"code": "timeout:"}), config=thread("t")
    )
    assert "partial output" in message.content and message.artifact is None


def test_langchain_bad_libraries_and_languages_come_back_as_content(manager: SessionManager) -> None:
    from llm_sandbox.langchain import SandboxTool

    tool = SandboxTool(manager=manager)
    assert (
        "invalid library name"
        in tool.invoke(tool_call("run_code", {"code": "x", "libraries": ["a b"]}), config=thread("t")).content
    )
    assert (
        "installing libraries failed"
        in tool.invoke(
            tool_call("run_code", {"code": "x", "libraries": ["missing-package"]}), config=thread("t")
        ).content
    )
    assert "language" not in tool.tool_call_schema.model_json_schema()["properties"]  # one language: no argument
    several = SandboxTool(manager=SessionManager(session_factory=FakeFactory(), languages=["python", "javascript"]))
    try:
        assert (
            "not available here; use one of: python, javascript"
            in several.invoke(tool_call("run_code", {"code": "x", "language": "cobol"}), config=thread("t")).content
        )
    finally:
        several.close()


def test_langchain_infrastructure_errors_are_told_to_the_model_by_default(
    manager: SessionManager, factory: FakeFactory
) -> None:
    from llm_sandbox.langchain import SandboxTool

    message = SandboxTool(manager=manager).invoke(tool_call("run_code", {"code": "container:"}), config=thread("t"))
    assert message.status == "error" and message.artifact is None
    assert message.content.startswith("error: the sandbox service failed (ContainerError: the engine went away)")
    assert "not caused by your code" in message.content


def test_langchain_infrastructure_errors_can_raise(manager: SessionManager, factory: FakeFactory) -> None:
    from llm_sandbox.langchain import SandboxTool

    tool = SandboxTool(manager=manager, infrastructure_errors="raise")
    with pytest.raises(ContainerError):
        tool.invoke(tool_call("run_code", {"code": "container:"}), config=thread("t"))
    with pytest.raises(ImageNotFoundError):
        tool.invoke(tool_call("run_code", {"code": "image:"}), config=thread("t"))
    factory.options["fail_open"] = ContainerError("cannot connect to the Docker daemon")
    with pytest.raises(ContainerError, match="Docker daemon"):
        tool.invoke(tool_call("run_code", {"code": "x"}), config=thread("new-thread"))


def test_langchain_session_key_precedence(manager: SessionManager) -> None:
    from llm_sandbox.langchain import SandboxTool

    tool = SandboxTool(manager=manager)
    assert tool.session_key_for(thread("t1")) == "t1"
    assert (
        tool.session_key_for({"configurable": {"thread_id": "t1", "sandbox_session_key": "user-9"}})
        == "user-9"
    )
    assert tool.session_key_for(None) == "default"
    fixed = SandboxTool(manager=manager, session_key="fixed")
    assert fixed.session_key_for(thread("t1")) == "fixed"


def test_langchain_tool_refuses_a_manager_and_session_options_together(manager: SessionManager) -> None:
    from llm_sandbox.langchain import SandboxTool

    with pytest.raises(ValidationError, match="either manager= or session options"):
        SandboxTool(manager=manager, image="other")


def test_langchain_tool_builds_its_own_manager_from_options() -> None:
    from llm_sandbox.langchain import SandboxTool

    tool = SandboxTool(lang="python", libraries=["scipy"], idle_timeout=5, max_sessions=3, name="python")
    try:
        assert tool.manager.max_sessions == 3 and tool.manager.libraries == ["scipy"]
        assert tool.name == "python" and "scipy" in tool.description
        schema = tool.tool_call_schema.model_json_schema()
        assert schema["required"] == ["code"] and set(schema["properties"]) == {"code", "libraries"}
    finally:
        tool.close()


def test_langchain_toolkit_tools_share_one_sandbox(manager: SessionManager) -> None:
    from langchain_core.tools import BaseTool

    from llm_sandbox.langchain import SandboxToolkit

    tools = {tool.name: tool for tool in SandboxToolkit(manager=manager).get_tools()}
    assert sorted(tools) == [
        "install_packages", "list_files", "read_file", "reset_session", "run_code", "upload_file"
    ]
    assert all(isinstance(tool, BaseTool) and tool.manager is manager for tool in tools.values())
    config = thread("t1")
    assert (
        "wrote /sandbox/data/in.csv"
        in tools["upload_file"]
        .invoke(tool_call("upload_file", {"path": "data/in.csv", "content": "a,b\n1,2\n"}), config=config)
        .content
    )
    read = tools["read_file"].invoke(tool_call("read_file", {"path": "data/in.csv"}), config=config)
    assert read.content.endswith("a,b\n1,2\n") and read.artifact["size"] == 8
    listed = tools["list_files"].invoke(tool_call("list_files", {}), config=config)
    assert "data/in.csv  (8 bytes)" in listed.content
    missing = tools["read_file"].invoke(tool_call("read_file", {"path": "nope.txt"}), config=config)
    assert "does not exist" in missing.content and "list_files" in missing.content
    directory = tools["read_file"].invoke(tool_call("read_file", {"path": "data"}), config=config)
    assert "is a directory" in directory.content
    refused = tools["upload_file"].invoke(
        tool_call("upload_file", {"path": "/etc/passwd", "content": "x"}), config=config
    )
    assert "read-only" in refused.content
    installed = tools["install_packages"].invoke(
        tool_call("install_packages", {"libraries": ["scipy"]}), config=config
    )
    assert "installed: scipy" in installed.content
    assert [info.key for info in manager.sessions()] == ["t1"]


def test_langchain_upload_from_host_dir_stays_inside_it(manager: SessionManager, tmp_path: Path) -> None:
    from llm_sandbox.langchain import SandboxToolkit

    (tmp_path / "report.csv").write_text("x\n1\n")
    tools = {t.name: t for t in SandboxToolkit(manager=manager, host_dir=str(tmp_path)).get_tools()}
    upload = tools["upload_file"]
    assert "source" in upload.tool_call_schema.model_json_schema()["properties"]
    ok = upload.invoke(
        tool_call("upload_file", {"path": "report.csv", "source": "report.csv"}), config=thread("t")
    )
    assert "wrote /sandbox/report.csv" in ok.content
    escape = upload.invoke(
        tool_call("upload_file", {"path": "x", "source": "../../etc/passwd"}), config=thread("t")
    )
    assert "no user file named" in escape.content and "report.csv" in escape.content


async def test_langchain_ainvoke_runs_off_the_event_loop(manager: SessionManager, factory: FakeFactory) -> None:
    """The run blocks until this coroutine, on the same loop, ends it: it finishes only if the loop kept running."""
    from llm_sandbox.langchain import SandboxTool

    tool = SandboxTool(manager=manager)
    call = asyncio.create_task(tool.ainvoke(tool_call("run_code", {"code": "block:"}), config=thread("t")))
    await asyncio.to_thread(eventually, lambda: factory.sessions and factory.sessions[0].running.is_set(), "the run")
    assert not call.done()
    factory.sessions[0].unblocked.set()
    message = await call
    assert message.content.startswith("exit code: 0")


# ---------------------------------------------------------------------------- LlamaIndex
def test_llamaindex_tool_list_is_sync_and_async_with_context(manager: SessionManager) -> None:
    pytest.importorskip("llama_index.core")
    from llm_sandbox.llamaindex import SandboxToolSpec

    spec = SandboxToolSpec(manager=manager)
    tools = spec.to_tool_list()
    assert [t.metadata.name for t in tools] == [
        "run_code",
        "install_packages",
        "upload_file",
        "read_file",
        "list_files",
        "reset_session",
    ]
    assert all(t.requires_context for t in tools)
    run = tools[0]
    assert "numpy" in run.metadata.description and len(run.metadata.description) <= 1024
    assert run.metadata.get_parameters_dict()["required"] == ["code"]
    output = run.call(code="plot:")
    assert "plots: 1 image" in output.content
    assert output.raw_output.artifact is spec.last_result and len(spec.last_result.plots) == 1
    assert [r.tool for r in spec.results_for(spec.default_key)] == ["run_code"]
    assert "error: timeout" in run.call(code="timeout:").content


async def test_llamaindex_async_tools_and_context_keys(manager: SessionManager) -> None:
    pytest.importorskip("llama_index.core")
    from llm_sandbox.llamaindex import SandboxToolSpec

    class Store:
        def __init__(self) -> None:
            self.data: dict[str, Any] = {}

        async def get(self, key: str, default: Any = None) -> Any:
            return self.data.get(key, default)

        async def set(self, key: str, value: Any) -> None:
            self.data[key] = value

    class FakeContext:
        def __init__(self) -> None:
            self.store = Store()

    spec = SandboxToolSpec(manager=manager)
    first, second = FakeContext(), FakeContext()
    keys = await asyncio.gather(*(spec._akey(ctx) for ctx in (first, first, second)))
    assert keys[0] == keys[1] != keys[2]
    assert first.store.data["llm_sandbox_session_key"] == keys[0]
    restored = FakeContext()
    restored.store.data["llm_sandbox_session_key"] = "chosen"
    assert await spec._akey(restored) == "chosen"
    text = await spec.arun_code("hello", ctx=restored)
    assert text.startswith("exit code: 0") and text.artifact.stdout == "hello"
    assert {info.key for info in manager.sessions()} == {"chosen"}


# ---------------------------------------------------------------------------- shared layer
def test_results_round_trip_through_json_native_dicts() -> None:
    import json

    from llm_sandbox.agents import ArtifactStore
    from llm_sandbox.tools.artifacts import load_artifact, stored_artifact

    result = ExecutionResult(
        exit_code=1,
        stdout="out",
        plots=[PlotOutput(FileType.PNG, PNG, 640, 480)],
        files=[FileOutput("/sandbox/outputs/a.csv", FileType.CSV, 8, "eCx5CjEsMgo=")],
        duration=0.5,
        results=[{"type": "execute_result", "data": {"text/plain": "3"}}],
        execution_count=2,
    )
    store = ArtifactStore()
    full = stored_artifact(result, "full", store)
    assert json.loads(json.dumps(full)) == full and full["plots"][0]["format"] == "png"
    assert load_artifact(full) == result == ExecutionResult.from_dict(result.to_dict())
    reference = stored_artifact(result, "reference", store)
    assert "content_base64" not in json.dumps(reference) and reference["files"][0]["size"] == 8
    assert load_artifact(reference, store) == result
    with pytest.raises(ValidationError, match="reference"):
        load_artifact(reference)


def test_the_artifact_store_keeps_the_most_recently_used_within_its_bound() -> None:
    from llm_sandbox.agents import ArtifactNotFoundError, ArtifactStore

    store = ArtifactStore(max_bytes=250)
    first, second = store.put({"data": "a" * 100}), store.put({"data": "b" * 100})
    store.get(first)  # first is now the most recently used
    third = store.put({"data": "c" * 100})
    assert store.get(first)["data"] == "a" * 100 and store.get(third)["data"] == "c" * 100
    with pytest.raises(ArtifactNotFoundError, match="max_bytes"):
        store.get(second)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("```python\nprint(1)\n```", "print(1)"),
        ("  ```\nx = 1\ny = 2\n```\n", "x = 1\ny = 2"),
        ("~~~py\nq\n~~~", "q"),
        ("print(1)", "print(1)"),
        ("```py\na\n```\nb\n```", "```py\na\n```\nb\n```"),  # not one enclosing fence: left alone
        ("s = '```x```'", "s = '```x```'"),
    ],
)
def test_one_enclosing_markdown_fence_is_stripped(code: str, expected: str) -> None:
    from llm_sandbox.tools.text import strip_fence

    assert strip_fence(code) == expected


def test_invalid_arguments_are_described_for_the_model() -> None:
    import pydantic

    from llm_sandbox.tools.schemas import RunCodeInput, describe_invalid_arguments

    with pytest.raises(pydantic.ValidationError) as info:
        RunCodeInput.model_validate({"libraries": "numpy"})
    assert describe_invalid_arguments("run_code", info.value, RunCodeInput) == (
        "error: invalid arguments for run_code: `code` is required; `libraries`: Input should be a valid list "
        "(got 'numpy'). run_code takes: code, libraries (optional). Call it again with valid arguments."
    )


def test_a_resource_error_of_a_run_is_text_for_the_model_in_both_frameworks(manager: SessionManager) -> None:
    """Issue 15: an ArtifactLimitError (a ResourceError: its message is advice) never escapes run_code.
    A fake session raises it: making a real run return over 256 MiB of artifacts is too slow for a test."""
    pytest.importorskip("llama_index.core")
    from llm_sandbox.exceptions import ArtifactLimitError
    from llm_sandbox.langchain import SandboxTool
    from llm_sandbox.llamaindex import SandboxToolSpec

    with manager.session("limits") as sandbox:
        sandbox.session.run = lambda *args, **kwargs: (_ for _ in ()).throw(ArtifactLimitError(256 * 2**20))
    tool = SandboxTool(manager=manager, infrastructure_errors="raise", session_key="limits")
    message = tool.invoke(tool_call("run_code", {"code": "x"}), config=thread("t"))
    assert message.status == "error" and message.content.startswith("error: the artifacts of this run exceed 256 MiB")
    spec = SandboxToolSpec(manager=manager, infrastructure_errors="raise", session_key="limits")
    output = spec.to_tool_list()[0].call(code="x")
    assert output.is_error and output.content == message.content

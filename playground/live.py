"""Live output of runs, routed from the session manager's events to the UI step that started them.

The session manager emits :class:`~llm_sandbox.agents.RunStarted`,
:class:`~llm_sandbox.agents.OutputChunk` and :class:`~llm_sandbox.agents.RunFinished`
(each with ``session_key`` and ``run_id``) in the thread doing the work. A UI step
(a Run click, one tool call of the chat) starts its work with :meth:`LiveRouter.start`,
which marks the task with a :class:`LiveRun` through a context variable; the manager's
thread pool carries context variables into its workers, so the ``RunStarted`` of that
work arrives with the mark, and its ``run_id`` then routes every later event of the run
(even from another thread) to the same :class:`LiveRun`. The UI step polls it with
:func:`changes` and re-renders when its ``version`` changes.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from llm_sandbox.agents import OutputChunk, RunFinished, RunStarted, SandboxEvent, SessionManager

T = TypeVar("T")

_CURRENT: contextvars.ContextVar[LiveRun | None] = contextvars.ContextVar("playground_live_run", default=None)

MAX_LIVE_CHARS = 200_000
"""Per stream, kept for display while a run streams (the result has the full, capped output)."""
POLL_SECONDS = 0.1


class LiveRun:
    """What the runs of one UI step printed so far. Thread-safe; fed by :class:`LiveRouter`."""

    def __init__(self, session_key: str) -> None:
        self.session_key = session_key
        self.started = time.monotonic()
        self.version = 0
        self.finished: RunFinished | None = None
        self._lock = threading.Lock()
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._sizes = {"stdout": 0, "stderr": 0}

    def feed(self, event: SandboxEvent) -> None:
        with self._lock:
            if isinstance(event, OutputChunk):
                size = self._sizes.get(event.stream, 0)
                if size >= MAX_LIVE_CHARS:
                    return
                text = event.text[: MAX_LIVE_CHARS - size]
                (self._stderr if event.stream == "stderr" else self._stdout).append(text)
                self._sizes[event.stream] = size + len(text)
            elif isinstance(event, RunFinished):
                self.finished = event
            self.version += 1

    @property
    def stdout(self) -> str:
        with self._lock:
            return "".join(self._stdout)

    @property
    def stderr(self) -> str:
        with self._lock:
            return "".join(self._stderr)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def cancelled(self) -> bool:
        """The run ended because it was interrupted (Stop)."""
        return self.finished is not None and self.finished.cancelled


class LiveRouter:
    """Subscribes to a manager's run events and hands each to the :class:`LiveRun` it belongs to."""

    def __init__(self, manager: SessionManager) -> None:
        self._runs: dict[str, LiveRun] = {}
        self._lock = threading.Lock()
        self._subscription = manager.subscribe(self._on_event, kinds={"run_started", "output", "run_finished"})

    def start(self, session_key: str, work: Coroutine[Any, Any, T]) -> tuple[LiveRun, asyncio.Task[T]]:
        """Run ``work`` as a task whose sandbox runs (in ``session_key``) stream into the returned LiveRun."""
        live = LiveRun(session_key)
        token = _CURRENT.set(live)
        try:
            task = asyncio.ensure_future(work)  # the task copies the context, with the mark, now
        finally:
            _CURRENT.reset(token)
        return live, task

    def _on_event(self, event: SandboxEvent) -> None:
        run_id = getattr(event, "run_id", "")
        with self._lock:
            live = self._runs.get(run_id)
            if live is None and isinstance(event, RunStarted):
                marked = _CURRENT.get()
                if marked is not None and marked.session_key == event.session_key:
                    live = self._runs[run_id] = marked
            if isinstance(event, RunFinished):
                self._runs.pop(run_id, None)
        if live is not None:
            live.feed(event)

    def close(self) -> None:
        self._subscription.close()


async def changes(live: LiveRun, task: asyncio.Task[Any]) -> AsyncIterator[LiveRun]:
    """``live`` each time it changed while ``task`` runs (polled every :data:`POLL_SECONDS`).

    Cancelling the consumer cancels ``task``, which interrupts the run in the sandbox.
    """
    version = -1
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=POLL_SECONDS)
            if live.version != version and not task.done():
                version = live.version
                yield live
    except asyncio.CancelledError:
        task.cancel()
        raise

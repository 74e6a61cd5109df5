"""What a session manager reports as it works: sandboxes opened and closed, runs started,
their output as it streams, runs finished; delivered to callbacks or as an async stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, kw_only=True)
class SandboxEvent:
    """Base of every event. ``kind`` names the event type (also a class attribute)."""

    kind: ClassVar[str] = "event"
    session_key: str
    language: str
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (results are summarised, not embedded)."""
        data: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "result":
                value = (
                    None
                    if value is None
                    else {
                        "exit_code": getattr(value, "exit_code", None),
                        "plots": len(getattr(value, "plots", []) or []),
                        "files": [f.path for f in getattr(value, "files", []) or []],
                    }
                )
            data[name] = value
        return data


@dataclass(frozen=True, kw_only=True)
class SessionOpened(SandboxEvent):
    kind: ClassVar[str] = "session_opened"
    session_id: str | None = None
    """Value of the container's ``llm-sandbox.session`` label."""
    container_id: str | None = None
    open_duration: float = 0.0


@dataclass(frozen=True, kw_only=True)
class SessionClosed(SandboxEvent):
    kind: ClassVar[str] = "session_closed"
    session_id: str | None = None
    container_id: str | None = None
    reason: str = "closed"
    """``idle``, ``closed`` (close_session), ``manager_closed``, ``evicted``, ``expired`` or ``error``."""
    run_count: int = 0
    age: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RunStarted(SandboxEvent):
    kind: ClassVar[str] = "run_started"
    run_id: str
    operation: str = "run"
    """``run`` (code), ``install`` (libraries) or ``command`` (shell command)."""
    code: str = ""
    libraries: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class OutputChunk(SandboxEvent):
    kind: ClassVar[str] = "output"
    run_id: str
    stream: str
    """``stdout`` or ``stderr``."""
    text: str


@dataclass(frozen=True, kw_only=True)
class RunFinished(SandboxEvent):
    kind: ClassVar[str] = "run_finished"
    run_id: str
    operation: str = "run"
    exit_code: int | None = None
    """``None`` when the run raised (see ``error``)."""
    duration: float = 0.0
    error: str | None = None
    error_type: str | None = None
    cancelled: bool = False
    """The run was interrupted (:meth:`SessionManager.interrupt` or a cancelled async call)."""
    result: Any = None
    """The ``ExecutionResult`` (runs) or ``ConsoleOutput`` (installs, commands)."""


EventCallback = Callable[[SandboxEvent], Any]


class Subscription:
    """A registered event callback; :meth:`close` (or leaving its ``with`` block) unsubscribes."""

    def __init__(
        self, unsubscribe: Callable[[Subscription], None], callback: EventCallback, kinds: frozenset[str] | None
    ) -> None:
        # Weakly: a subscription must not keep its manager alive (the manager closes its sandboxes when collected).
        self._unsubscribe = weakref.WeakMethod(unsubscribe)  # type: ignore[arg-type]
        self.callback = callback
        self.kinds = kinds
        self.active = True

    def wants(self, event: SandboxEvent) -> bool:
        return self.active and (self.kinds is None or event.kind in self.kinds)

    def close(self) -> None:
        self.active = False
        unsubscribe = self._unsubscribe()
        if unsubscribe is not None:
            unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventStream:
    """Events as an async iterator, for one event loop (create it inside the loop)::

        async with manager.events() as events:
            async for event in events:
                ...

    Delivery never blocks a run: when ``maxsize`` events are queued, the oldest
    is dropped (``dropped`` counts them).
    """

    _END = object()

    def __init__(
        self, subscribe: Callable[..., Subscription], kinds: Iterable[str] | None, maxsize: int
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(1, maxsize))
        self.dropped = 0
        self._closed = False
        self._subscription = subscribe(self._from_any_thread, kinds=kinds)

    def _from_any_thread(self, event: SandboxEvent) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            self._loop.call_soon_threadsafe(self._offer, event)

    def _offer(self, item: Any) -> None:
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self.dropped += 1
        self._queue.put_nowait(item)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SandboxEvent:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is self._END:
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    async def get(self, timeout: float | None = None) -> SandboxEvent:
        """The next event (``asyncio.TimeoutError`` after ``timeout`` seconds)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._subscription.close()
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._offer, self._END)

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

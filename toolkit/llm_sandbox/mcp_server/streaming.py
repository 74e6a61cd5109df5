"""A call's output and progress, sent to its client while the call runs.

Output arrives on the sandbox's worker threads; :func:`reported` hands it to the event loop
and sends it as the protocol's notifications, tied to the request (over HTTP they travel on
the request's own stream):

- log notifications (``notifications/message``, level ``info``, logger ``stdout`` or
  ``stderr``) carrying the output as it streams, unless the client asked for a higher level;
- progress notifications, when the request carries a ``progressToken``: the latest line of
  output, and while the program is silent, every ``interval`` seconds, how long it has run
  (clients that extend their request timeout on progress keep waiting for long runs).

Reporting is best effort: a client that went away stops it, never the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.context import RequestContext
from mcp.types import LoggingLevel

logger = logging.getLogger("llm_sandbox.mcp_server")
T = TypeVar("T")

MAX_NOTIFIED_BYTES = 1024 * 1024
"""Output sent as notifications per call; the rest is only in the result (clipped there as always)."""
_LEVELS: tuple[LoggingLevel, ...] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
)  # fmt: skip
_SENT_ERRORS = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream)


def wants(client_level: LoggingLevel, level: LoggingLevel) -> bool:
    """Whether a client that set ``client_level`` (``logging/setLevel``) receives ``level``."""
    return _LEVELS.index(level) >= _LEVELS.index(client_level)


@dataclass
class Reporter:
    """Output callbacks for the worker thread: call them from any thread."""

    on_stdout: Callable[[str], None]
    on_stderr: Callable[[str], None]


async def reported(
    request: RequestContext,
    work: Callable[[Reporter], Awaitable[T]],
    *,
    log_level: LoggingLevel,
    interval: float,
) -> T:
    """``await work(reporter)``, reporting the call of ``request`` while it runs.

    Output given to the reporter before ``work`` returns is all sent before this returns.
    ``work``'s exceptions propagate as they are.
    """
    notifier = _Notifier(request, send_output=wants(log_level, "info"))
    send, receive = anyio.create_memory_object_stream[tuple[str, str]](math.inf)
    loop = asyncio.get_running_loop()

    def from_thread(stream: str) -> Callable[[str], None]:
        def offer(text: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
                loop.call_soon_threadsafe(_put, send, (stream, text))

        return offer

    error: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(notifier.forward, receive)
        heartbeat = anyio.CancelScope()
        if notifier.token is not None:
            group.start_soon(notifier.heartbeat, interval, heartbeat)
        try:
            outcome = await work(Reporter(from_thread("stdout"), from_thread("stderr")))
        except Exception as exc:  # raised below, not wrapped in the task group's ExceptionGroup
            error = exc
        finally:
            heartbeat.cancel()
            # The worker's output was offered (call_soon_threadsafe, in order) before its result
            # woke this task: closing now ends the forwarding after the last chunk.
            send.close()
    if error is not None:
        raise error
    return outcome


def _put(send: MemoryObjectSendStream[tuple[str, str]], item: tuple[str, str]) -> None:
    with contextlib.suppress(anyio.ClosedResourceError):
        send.send_nowait(item)


class _Notifier:
    def __init__(self, request: RequestContext, *, send_output: bool) -> None:
        self.session = request.session
        self.request_id = request.request_id
        self.token = request.meta.progressToken if request.meta is not None else None
        self.send_output = send_output
        self.started = self.reported = time.monotonic()
        self.progress = 0
        self.notified = 0
        self.gone = False

    async def forward(self, receive: MemoryObjectReceiveStream[tuple[str, str]]) -> None:
        """Send output as it arrives; what arrived together goes out together."""
        async with receive:
            async for first in receive:
                batch = [first]
                with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream):
                    while True:
                        batch.append(receive.receive_nowait())
                for stream, text in _merged(batch):
                    await self.output(stream, text)

    async def output(self, stream: str, text: str) -> None:
        if self.send_output and self.notified < MAX_NOTIFIED_BYTES:
            room = MAX_NOTIFIED_BYTES - self.notified
            self.notified += len(text)
            if len(text) > room:
                text = text[:room] + "\n[... output notifications stop here; the result has the output ...]\n"
            await self._send(
                self.session.send_log_message, "info", text, logger=stream, related_request_id=self.request_id
            )
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            await self.report(f"{stream}: {lines[-1][:200]}")

    async def heartbeat(self, interval: float, scope: anyio.CancelScope) -> None:
        """A progress notification whenever ``interval`` seconds passed without one."""
        with scope:
            while True:
                await anyio.sleep(max(0.0, self.reported + interval - time.monotonic()))
                if time.monotonic() - self.reported >= interval:
                    await self.report(f"running ({time.monotonic() - self.started:.0f} s)")

    async def report(self, message: str) -> None:
        if self.token is None:
            return
        self.progress += 1
        self.reported = time.monotonic()
        await self._send(
            self.session.send_progress_notification,
            self.token,
            float(self.progress),
            message=message,
            related_request_id=str(self.request_id),
        )

    async def _send(self, method: Callable[..., object], *args: object, **kwargs: object) -> None:
        if self.gone:
            return
        try:
            await method(*args, **kwargs)  # type: ignore[misc]
        except _SENT_ERRORS:
            self.gone = True
            logger.debug("the client of request %s went away; reporting stopped", self.request_id)


def _merged(batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive chunks of the same stream joined."""
    merged: list[tuple[str, str]] = []
    for stream, text in batch:
        if merged and merged[-1][0] == stream:
            merged[-1] = (stream, merged[-1][1] + text)
        else:
            merged.append((stream, text))
    return merged

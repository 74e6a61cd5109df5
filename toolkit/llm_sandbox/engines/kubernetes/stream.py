"""One exec websocket (``v4``/``v5.channel.k8s.io``), read frame by frame."""

from __future__ import annotations

import contextlib
import logging
import select
import ssl
import time
from collections import deque
from typing import Any

import websocket

from llm_sandbox.engines.base import STDERR, STDOUT, ExecDeadlineExceeded, OutputCallback, Stdin
from llm_sandbox.engines.kubernetes.status import exit_status
from llm_sandbox.exceptions import ContainerError

logger = logging.getLogger("llm_sandbox")

_STDIN_CHUNK = 32 * 1024
_ERROR_CHANNEL = 3


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ExecDeadlineExceeded
    return remaining


def _chunks(data: bytes) -> Any:
    view = memoryview(data)
    offset = 0

    def read(size: int) -> bytes:
        nonlocal offset
        chunk = view[offset : offset + size]
        offset += len(chunk)
        return bytes(chunk)

    return read


class ExecStream:
    """One exec websocket, read frame by frame.

    Frames are ``<channel byte><payload>``: stdout (1) and stderr (2) go to the
    callback as they arrive, the status (3) is collected, and the stream ends
    with the server's close. (The client's own ``WSClient.update()`` buffers
    bursts by concatenation, which is quadratic on large outputs.)
    """

    def __init__(self, ws: Any, on_output: OutputCallback | None) -> None:
        self.ws = ws
        self.sock = ws.sock
        self.on_output = on_output
        self.status = bytearray()
        self.closed = False

    def _read_frame(self) -> None:
        try:
            opcode, frame = self.sock.recv_data_frame(True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):  # the pod's end went away
            self.closed = True
            return
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.closed = True
            return
        data = frame.data.encode() if isinstance(frame.data, str) else bytes(frame.data)
        if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT) or not data:
            return
        channel, payload = data[0], data[1:]
        if channel in (STDOUT, STDERR):
            if payload and self.on_output is not None:
                self.on_output(channel, payload)
        elif channel == _ERROR_CHANNEL:
            self.status += payload
        # 255 is v5's "channel closed" signal: nothing to do

    def _readable(self) -> bool:
        raw = self.sock.sock
        if raw is None:
            return False
        if isinstance(raw, ssl.SSLSocket) and raw.pending():
            return True
        if not hasattr(select, "poll"):  # Windows
            return bool(select.select([raw], [], [], 0)[0])
        poller = select.poll()
        poller.register(raw, select.POLLIN)
        return bool(poller.poll(0))

    def send(self, data: Stdin, deadline: float | None) -> None:
        """Write stdin in chunks, reading whatever output arrives in between (no deadlock on full pipes)."""
        reader = data.read if hasattr(data, "read") else _chunks(bytes(data))  # type: ignore[union-attr]
        try:
            while not self.closed:
                chunk = reader(_STDIN_CHUNK)
                if not chunk:
                    close_channel = getattr(self.ws, "close_channel", None)  # clients before v5 support lack it
                    if close_channel is not None:
                        close_channel(0)  # EOF on v5; nothing on v4 (the wrappers read exact lengths)
                    return
                self.sock.settimeout(_remaining(deadline))
                self.ws.write_stdin(bytes(chunk))
                while not self.closed and self._readable():
                    self._read_frame()
        except websocket.WebSocketTimeoutException as exc:
            raise ExecDeadlineExceeded from exc
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            # The process ended (or failed) before reading all its input; its status follows.
            logger.debug("exec stream closed while sending stdin; reading the exit status")

    def finish(self, deadline: float | None) -> int:
        """Forward output until the server closes the stream; the exit code from the status."""
        try:
            while not self.closed:
                self.sock.settimeout(_remaining(deadline))
                self._read_frame()
        except websocket.WebSocketTimeoutException as exc:
            raise ExecDeadlineExceeded from exc
        return exit_status(bytes(self.status))


class ExecChannel:
    """A long-lived exec on one websocket (see ``engines.base.ExecChannel``)."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._pending: deque[tuple[int, bytes]] = deque()
        self._stream = ExecStream(ws, lambda stream, payload: self._pending.append((stream, payload)))

    def send(self, data: bytes) -> None:
        try:
            self._stream.sock.settimeout(None)
            self._ws.write_stdin(data)
        except (websocket.WebSocketConnectionClosedException, ConnectionError) as exc:
            raise ContainerError(f"the process in the pod stopped reading its input ({exc})") from exc

    def receive(self, deadline: float | None) -> tuple[int, bytes] | None:
        while not self._pending:
            if self._stream.closed:
                return None
            try:
                self._stream.sock.settimeout(_remaining(deadline))
                self._stream._read_frame()
            except websocket.WebSocketTimeoutException as exc:
                raise ExecDeadlineExceeded from exc
        return self._pending.popleft()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()

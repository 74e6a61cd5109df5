"""Warm processes: a long-lived process in the sandbox that answers requests over its exec's stdin/stdout.

The warm runner (stateless runs forked from a warm parent) and the kernels
(stateful runs) both live on one :class:`WarmProcess`. The wire protocol
(``runtime/python/llm_sandbox_warm.py`` says it from the other side): a request
is ``<size>\\n<json>`` with a fresh ``nonce``; the code's output streams back as
it is printed; the end of the request is the nonce on both streams, with
``<code> <size>\\n<payload>`` after it on stdout. No polling, no files, no
network: one exec, kept open for the session.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from llm_sandbox.engines.base import ExecChannel, ExecDeadlineExceeded
from llm_sandbox.exceptions import ContainerError
from llm_sandbox.sessions.output import MAX_TRAILER_BYTES, OutputCollector, OutputLimits, parse_trailer
from llm_sandbox.sessions.sandbox import Sandbox

logger = logging.getLogger("llm_sandbox")

START_TIMEOUT = 60.0


def warm_command(command: tuple[str, ...] | list[str], *arguments: str) -> list[str]:
    """``command`` started as a warm process: requests on fd 3, ``/dev/null`` as the code's stdin."""
    return ["sh", "-c", 'exec 3<&0 0</dev/null; exec "$@"', "llm-sandbox", *command, *arguments]


class ProcessEnded(Exception):
    """The warm process ended (killed, out of memory, ``os._exit``) before it answered."""

    def __init__(self, collector: OutputCollector) -> None:
        super().__init__("the warm process ended before it answered")
        self.collector = collector


class WarmProcess:
    """One warm process: started with :meth:`start`, asked with :meth:`request`, one request at a time."""

    def __init__(self, sandbox: Sandbox, argv: list[str], environment: dict[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.argv = argv
        self.environment = environment
        self.pid: str | None = None
        self._channel: ExecChannel | None = None
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._channel is not None

    def start(self, deadline: float | None = None) -> str:
        """Start the process and wait until it answers; its ``hello`` payload (its pid)."""
        self._channel = self.sandbox.engine.open_exec(
            self.sandbox.container_id,
            self.argv,
            environment=self.environment,
            workdir=self.sandbox.workdir,
            user=self.sandbox.user,
        )
        try:
            code, payload, collector = self.request(
                {"op": "hello"}, OutputLimits(64 * 1024, "replace"), deadline or time.monotonic() + START_TIMEOUT
            )
        except (ProcessEnded, ExecDeadlineExceeded, ContainerError) as exc:
            output = exc.collector if isinstance(exc, ProcessEnded) else None
            self.close()
            detail = (output.stderr.text() or output.stdout.text())[-500:] if output else str(exc)
            raise ContainerError(f"the warm process {self.argv[-1]!r} did not start: {detail}") from None
        if code != 0:
            self.close()
            raise ContainerError(f"the warm process did not start (status {code}): {collector.stderr.text()[-500:]}")
        self.pid = payload.decode().strip()
        return self.pid

    def request(
        self,
        body: dict[str, Any],
        output: OutputLimits,
        deadline: float | None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        on_deadline: Callable[[], float | None] | None = None,
    ) -> tuple[int, bytes, OutputCollector]:
        """Send ``body`` and stream the answer's output; ``(code, payload, output)``.

        Raises :class:`ProcessEnded` when the process dies first (it is then
        closed). At ``deadline``, ``on_deadline()`` may give a new deadline to
        wait for (after interrupting the process); else ``ExecDeadlineExceeded``
        is raised and the process is left as it is: the caller kills it.
        """
        channel = self._channel
        if channel is None:
            raise ProcessEnded(OutputCollector())
        nonce = secrets.token_hex(16)
        data = json.dumps({**body, "nonce": nonce}).encode()
        collector = OutputCollector(
            limit=output.max_bytes,
            errors=output.encoding_errors,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            marker=nonce.encode() + b" ",
            stderr_marker=True,
            trailer_limit=MAX_TRAILER_BYTES,
        )
        with self._lock:
            try:
                channel.send(f"{len(data)}\n".encode() + data)
            except ContainerError:
                self.close()
                raise ProcessEnded(collector) from None
            while True:
                reply = parse_trailer(collector.trailer)
                if reply is not None and collector.stderr_trailer is not None:
                    return reply[0], reply[1], collector
                try:
                    frame = channel.receive(deadline)
                except ExecDeadlineExceeded:
                    deadline = on_deadline() if on_deadline is not None else None
                    if deadline is None:
                        raise
                    continue
                if frame is None:
                    self.close()
                    collector.finish()
                    raise ProcessEnded(collector)
                collector(*frame)

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def abandon(self) -> None:
        """The process was killed: close its channel, or, when a request is reading it, let that
        request see the end and close it (closing under a reader would break its read)."""
        if self._lock.acquire(blocking=False):
            try:
                self.close()
            finally:
                self._lock.release()


class WarmSlot:
    """A warm process a session keeps up: started in the background at open, restarted after it died.

    ``process()`` gives the running :class:`WarmProcess` (waiting for a start in
    progress, starting a new one when the last died with a killed run), or
    ``None`` when it cannot start (the image has no such program); ``unavailable``
    then says why.
    """

    def __init__(self, sandbox: Sandbox, argv: list[str], environment: dict[str, str] | None = None) -> None:
        self._sandbox = sandbox
        self._argv = argv
        self._environment = environment
        self._current: WarmProcess | None = None
        self._starting: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.unavailable: str | None = None
        """Why the process cannot start (the session then does without it)."""

    def start_in_background(self) -> None:
        with self._lock:
            if self._starting is None and self.unavailable is None:
                self._starting = threading.Thread(target=self._start, name="llm-sandbox-warm-start", daemon=True)
                self._starting.start()

    def _start(self) -> None:
        process = WarmProcess(self._sandbox, self._argv, self._environment)
        try:
            process.start()
        except ContainerError as exc:
            logger.info("%s cannot start here: %s", self._argv[-1], exc)
            self.unavailable = str(exc)
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._current = process
        if closed:  # the session closed while this started: a process nobody will close otherwise
            process.close()

    def process(self) -> WarmProcess | None:
        """The running warm process, or None (see the class docstring); ``ContainerError`` once closed."""
        with self._lock:
            starting, self._starting = self._starting, None
        if starting is not None:
            starting.join()
        if self.unavailable is not None:
            return None
        if not self._closed and (self._current is None or not self._current.alive):
            self._start()
            if self.unavailable is not None:
                return None
        with self._lock:
            closed, current = self._closed, self._current
        if closed or current is None:
            raise ContainerError("the session closed while its warm process was starting")
        return current

    @property
    def current(self) -> WarmProcess | None:
        """The process as it is now (None while none runs); unlike :meth:`process`, never starts one."""
        return self._current

    def forget(self) -> None:
        """The process was killed (with every process of the sandbox): start a new one when next needed."""
        current, self._current = self._current, None
        if current is not None:
            current.abandon()

    def close(self) -> None:
        """Close the process (a restart follows: ``process()`` starts a new one)."""
        with self._lock:
            starting = self._starting
        if starting is not None:
            starting.join(5)
        if self._current is not None:
            self._current.close()

    def shutdown(self) -> None:
        """Close the process for good (the session closes); one still starting closes itself once started,
        and ``process()`` raises ``ContainerError`` from now on."""
        with self._lock:
            self._closed = True
            current = self._current
        if current is not None:
            current.close()

"""One run = one exec of ``runtime/run.sh``; one run at a time; a kill is finished before the next run.

The code travels on stdin after a ``<nonce> <size>`` header; the program's
output streams back as it is printed; after it, the wrapper prints the nonce,
the exit code and (for artifact runs) a tar stream of the run's plots and
files, which :class:`~llm_sandbox.sessions.output.OutputCollector` cuts off.

Killing (a timeout, :meth:`Runner.interrupt` from another thread, a close) is
part of the run it stops: the thread that runs does not let the next run start
until the kill is confirmed (``runtime/kill.sh`` exits 0 only when nothing is
left and the keeper is idle), so a kill never reaches a run that started after
it was asked for.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_sandbox.contract import RUN_ROOT, runtime_file
from llm_sandbox.engines.base import ExecDeadlineExceeded
from llm_sandbox.exceptions import ContainerError, SandboxTimeoutError
from llm_sandbox.sessions.output import (
    MAX_TRAILER_BYTES,
    OutputCollector,
    OutputLimits,
    parse_trailer,
)
from llm_sandbox.sessions.sandbox import Sandbox
from llm_sandbox.sessions.warm import ProcessEnded, WarmProcess, WarmSlot

logger = logging.getLogger("llm_sandbox")

KILL_TIMEOUT = 15.0
KILL_ATTEMPTS = 3

_RUN_SH = runtime_file("run.sh")
ARTIFACTS_SH = runtime_file("artifacts.sh")
_KILL_SH = runtime_file("kill.sh")


@dataclass
class _Run:
    run_dir: str
    kill_requested: bool = False
    killed: threading.Event = field(default_factory=threading.Event)


class Runner:
    """Runs code and commands in one sandbox through the run wrapper, one at a time.

    ``attached``: the container is not ours, so a kill stops only the run's own
    process tree; otherwise it stops every process of the sandbox user.
    """

    def __init__(self, sandbox: Sandbox, *, attached: bool) -> None:
        self.sandbox = sandbox
        self.attached = attached
        self._lock = threading.Lock()
        """Serialises runs: a kill stops every process of the sandbox user."""
        self._state = threading.Lock()
        self._current: _Run | None = None
        self.closed = False
        """Set when the container is being removed: there is nothing left to kill."""
        self.on_kill: list[Callable[[], None]] = []
        """Called after every kill of all processes: warm processes died with the run they served."""

    def run(
        self,
        command: str,
        *,
        file_name: str,
        content: bytes,
        timeout: float,
        what: str,
        output: OutputLimits,
        environment: dict[str, str] | None = None,
        outputs: str = "",
        workdir: str | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        warm: WarmSlot | None = None,
    ) -> tuple[int, bytes, OutputCollector]:
        """Run ``command`` (with ``content`` saved as ``file_name`` in its run directory).

        With ``warm``, the run is forked from the session's warm runner when it
        is up (the command is then the language's own: the runner knows it);
        otherwise it is one exec of the run wrapper. Returns the exit code, the
        artifacts (a tar stream, for runs with ``outputs``) and the output.
        """
        nonce = secrets.token_hex(16)
        run = _Run(f"{RUN_ROOT}/{nonce[:12]}")
        with self._lock:
            with self._state:
                self._current = run
            try:
                process = warm.process() if warm is not None else None
                if process is not None:
                    return self._run_warm(
                        process, run, file_name, content, timeout, output, environment, outputs, workdir,
                        on_stdout, on_stderr,
                    )  # fmt: skip
                return self._run_cold(
                    nonce, run, command, file_name, content, timeout, output, environment, outputs, workdir,
                    on_stdout, on_stderr,
                )  # fmt: skip
            except ExecDeadlineExceeded:
                self._stop(run)
                raise SandboxTimeoutError(
                    f"{what} ran longer than its timeout of {timeout:g}s and was killed "
                    "(with every process it started); the session is still usable",
                    timeout_duration=timeout,
                ) from None
            except BaseException:
                self._stop(run)
                raise
            finally:
                self._finish(run)

    def _run_cold(
        self,
        nonce: str,
        run: _Run,
        command: str,
        file_name: str,
        content: bytes,
        timeout: float,
        output: OutputLimits,
        environment: dict[str, str] | None,
        outputs: str,
        workdir: str | None,
        on_stdout: Callable[[str], None] | None,
        on_stderr: Callable[[str], None] | None,
    ) -> tuple[int, bytes, OutputCollector]:
        collector = OutputCollector(
            limit=output.max_bytes,
            errors=output.encoding_errors,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            marker=nonce.encode() + b" ",
            trailer_limit=MAX_TRAILER_BYTES,
        )
        stdin = f"{nonce} {len(content)}\n".encode() + content
        argv = ["sh", "-c", _RUN_SH, "llm-sandbox", run.run_dir, file_name, command, outputs, ARTIFACTS_SH]
        self.sandbox.engine.exec(
            self.sandbox.container_id,
            argv,
            stdin=stdin,
            environment=environment,
            workdir=workdir or self.sandbox.workdir,
            user=self.sandbox.user,
            on_output=collector,
            deadline=time.monotonic() + timeout,
        )
        collector.finish()
        reply = parse_trailer(collector.trailer)
        code, payload = reply if reply is not None else (125, b"")  # no trailer: the wrapper died
        return code, payload, collector

    def _run_warm(
        self,
        process: WarmProcess,
        run: _Run,
        file_name: str,
        content: bytes,
        timeout: float,
        output: OutputLimits,
        environment: dict[str, str] | None,
        outputs: str,
        workdir: str | None,
        on_stdout: Callable[[str], None] | None,
        on_stderr: Callable[[str], None] | None,
    ) -> tuple[int, bytes, OutputCollector]:
        request = {
            "op": "run",
            "run_dir": run.run_dir,
            "file": file_name,
            "code": content.decode(),
            "env": environment or {},
            "cwd": workdir or self.sandbox.workdir,
            "outputs": outputs,
        }
        try:
            code, payload, collector = process.request(
                request, output, time.monotonic() + timeout, on_stdout, on_stderr
            )
        except ProcessEnded as ended:  # killed with the run (an interrupt), or out of memory
            return 137, b"", ended.collector
        return code, payload, collector

    def interrupt(self) -> bool:
        """Kill the run in progress (from another thread); True if there was one.

        The interrupted run returns with the exit code of the killed program
        (137), or 125 when the wrapper itself was killed; the next run starts
        only after the kill is confirmed.
        """
        with self._state:
            run = self._current
            if run is None or run.kill_requested:
                return False
            run.kill_requested = True
        try:
            self._kill(run.run_dir)
        finally:
            run.killed.set()
        return True

    def kill_everything(self, *, warn: bool = True) -> bool:
        """Kill every process of the sandbox user now, between runs (a kernel restart, a pool's reset);
        True when ``runtime/kill.sh`` confirmed that none is left. ``warn=False``: the caller says
        what an unconfirmed kill means (a pool's reset asks again, then replaces the container)."""
        with self._lock:
            return self._kill(f"{RUN_ROOT}/none", warn=warn)

    def _stop(self, run: _Run) -> None:
        """Kill ``run`` from its own thread (a timeout or an error), unless an interrupt already does."""
        with self._state:
            if run.kill_requested:
                return
            run.kill_requested = True
        try:
            self._kill(run.run_dir)
        finally:
            run.killed.set()

    def _finish(self, run: _Run) -> None:
        with self._state:
            self._current = None
            pending = run.kill_requested
        if pending:
            run.killed.wait()  # an interrupt from another thread is still killing: finish it first

    def _kill(self, run_dir: str, *, warn: bool = True) -> bool:
        """Stop the run's processes and return when that is confirmed (True) or after a warning (False)."""
        if self.closed:
            return False
        engine, container_id = self.sandbox.engine, self.sandbox.container_id
        mode = "tree" if self.attached else "all"
        for attempt in range(KILL_ATTEMPTS):
            if self.closed:  # the container is being removed meanwhile
                return False
            if attempt and mode == "all" and engine.capabilities.signal:
                # No exec could confirm the kill (a fork bomb may hold every pid): the keeper kills
                # from inside without forking; the next attempt confirms it finished.
                with contextlib.suppress(ContainerError):
                    engine.signal(container_id, "SIGUSR1")
            try:
                code = engine.exec(
                    container_id,
                    ["sh", "-c", _KILL_SH, "llm-sandbox", mode, run_dir],
                    user=self.sandbox.user,
                    deadline=time.monotonic() + KILL_TIMEOUT,
                )
                if code == 0:
                    if mode == "all":
                        for forget in self.on_kill:
                            forget()
                    return True
                logger.info("the kill is not confirmed yet (exit %s); retrying", code)
            except (ExecDeadlineExceeded, ContainerError) as exc:
                logger.info("killing the run: %s; retrying", exc)
        if warn:
            logger.warning("could not confirm that the run in container %s was killed", container_id[:12])
        return False


__all__ = ["KILL_TIMEOUT", "Runner"]

"""``InteractiveSandboxSession``: a sandbox with a warm, stateful kernel; variables live from run to run.

The kernel is a warm process (``sessions/warm.py``) started in the background
when the session opens, in the same hardened container as any session (uid
1000, no network, no capabilities, read-only root): IPython for Python, a
``vm`` context for JavaScript, an evaluation loop for R and Ruby (the
language's ``kernel`` command, shipped in its image). A cell is one request:
output streams live, errors keep the state, rich results and figures come
back with the result.

A cell past its timeout is interrupted (SIGINT) and the kernel keeps its
state; a cell that does not stop within :data:`INTERRUPT_GRACE` seconds, or a
kernel that dies (``os._exit``, out of memory), is killed and restarted: the
exception and the next result say that the state was lost.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from types import TracebackType
from typing import Any

from llm_sandbox.const import SandboxBackend, SupportedLanguage
from llm_sandbox.contract import RUN_ROOT
from llm_sandbox.data import ExecutionResult
from llm_sandbox.engines.base import ExecDeadlineExceeded
from llm_sandbox.exceptions import (
    ContainerError,
    KernelDiedError,
    LanguageNotSupportedError,
    SandboxError,
    SandboxTimeoutError,
    ValidationError,
)
from llm_sandbox.languages import get_language, supported_languages
from llm_sandbox.sessions.artifacts import MAX_ARTIFACT_BYTES, merge_saved_figures, plots_from_capture, read_artifacts
from llm_sandbox.sessions.kinds import create_session
from llm_sandbox.sessions.output import OutputLimits
from llm_sandbox.sessions.runner import ARTIFACTS_SH
from llm_sandbox.sessions.session import Session
from llm_sandbox.sessions.warm import ProcessEnded, WarmSlot, warm_command

logger = logging.getLogger("llm_sandbox")

INTERRUPT_GRACE = 3.0
"""Seconds a cell gets to stop after SIGINT before the kernel is killed and restarted."""


class KernelType(StrEnum):
    """The kernel of an interactive session (the reference's name; each language has one kernel)."""

    IPYTHON = "ipython"


def kernel_languages() -> list[str]:
    """The registered languages that have a kernel."""
    return sorted(name for name in supported_languages() if get_language(name).config.kernel)


class InteractiveSandboxSession:
    """A sandbox whose runs share one live interpreter, like a notebook.

    Arguments as in the reference package: ``backend``, ``lang`` (a language
    with a kernel: :func:`kernel_languages`; default Python, or the language of
    the ``pool=`` the session takes its container from), ``kernel_type`` (``"ipython"``
    for Python), ``max_memory`` (the container's memory limit, e.g. ``"1g"``),
    ``history_size`` (outputs the kernel keeps, as IPython's ``Out``),
    ``timeout`` (per cell; default the session's ``execution_timeout``, else
    ``default_timeout``, else 300 s), ``runtime_configs``, and every
    option of :func:`~llm_sandbox.create_session`. With ``collect_files``, a
    result also carries the files the cell wrote into the outputs directory,
    as an ``ArtifactSandboxSession`` run does. Everything not defined
    here is the underlying session's (``execute_command``, ``copy_to_runtime``,
    ``install``...).
    """

    def __init__(
        self,
        *,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        lang: str | None = None,
        kernel_type: KernelType | str | None = None,
        max_memory: str | None = None,
        history_size: int = 1000,
        timeout: float | None = None,
        runtime_configs: dict[str, Any] | None = None,
        collect_files: bool = False,
        **kwargs: Any,
    ) -> None:
        pool = kwargs.get("pool")
        language = get_language(str(lang or (pool.lang if pool is not None else SupportedLanguage.PYTHON)))
        if not language.config.kernel:
            raise LanguageNotSupportedError(
                language.name,
                kernel_languages(),
                why=f"by interactive sessions (it has no kernel; SandboxSession runs {language.name})",
            )
        if kernel_type is not None and language.name == "python" and str(kernel_type) != KernelType.IPYTHON:
            raise ValidationError(f"kernel_type {kernel_type!r} is not available; use 'ipython'")
        if not isinstance(history_size, int) or isinstance(history_size, bool) or history_size < 0:
            raise ValidationError(f"history_size must be a non-negative integer, got {history_size!r}")
        configs = dict(runtime_configs or {})
        if max_memory:
            configs["mem_limit"] = max_memory
        self.kernel_type = KernelType.IPYTHON if language.name == "python" else language.name
        self.history_size = history_size
        self.timeout = timeout
        self.collect_files = collect_files
        self._session: Session = create_session(backend, lang=language.name, runtime_configs=configs, **kwargs)
        self._kernel: WarmSlot | None = None
        self._lock = threading.Lock()
        """One cell at a time."""
        self._state_lost: str | None = None
        self._running: threading.Event | None = None
        """Set when the running cell ends (an interrupt waits on it)."""
        self._escalated = False

    # lifecycle ------------------------------------------------------------------------------
    def open(self) -> InteractiveSandboxSession:
        """Open the sandbox and start the kernel in the background (the first run waits for it)."""
        session = self._session.open()
        if self._kernel is None:
            sandbox = session._require_open().sandbox
            config = session.language.config
            command = warm_command(config.kernel or (), str(self.history_size), ARTIFACTS_SH)
            # Figures are captured in every cell, as in a notebook: the kernel runs with plot capture on.
            capture = config.plot_detection.environment if config.plot_detection else {}
            self._kernel = session._warm_slot(sandbox, command, dict(capture))
            session._require_open().on_kill.append(self._killed)
        return self

    def close(self) -> None:
        if self._kernel is not None and not self._session.pooled:  # a pooled kernel ends with the pool's reset
            self._kernel.shutdown()
        self._session.close()

    def __enter__(self) -> InteractiveSandboxSession:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    @property
    def session(self) -> Session:
        """The underlying session (its container, files, commands, libraries)."""
        return self._session

    # running cells ----------------------------------------------------------------------------
    def run(
        self,
        code: str,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        libraries: list[str] | None = None,
    ) -> ExecutionResult:
        """Run one cell in the kernel; its variables, imports and definitions stay for the next.

        A failing cell is a result (exit code 1, the traceback on stderr), and
        the state stays. Raises :class:`SandboxTimeoutError` past ``timeout``
        (see the module docstring) and :class:`KernelDiedError` when the kernel
        died during the cell.
        """
        session = self._session
        if not isinstance(code, str):
            raise ValidationError(f"code must be a string, not {type(code).__name__}")
        session._require_open()
        session._enforce_policy(code, libraries)
        if libraries:
            session.install(libraries)
        limit = session._timeout(timeout, self.timeout if self.timeout is not None else session.execution_timeout)
        with self._lock:
            self._running, self._escalated = threading.Event(), False
            try:
                return self._cell(code, limit, on_stdout, on_stderr)
            finally:
                self._running.set()

    def _cell(
        self,
        code: str,
        limit: float,
        on_stdout: Callable[[str], None] | None,
        on_stderr: Callable[[str], None] | None,
    ) -> ExecutionResult:
        kernel = self._process()
        interrupted = False

        def interrupt() -> float | None:
            nonlocal interrupted
            if interrupted:
                return None
            interrupted = True
            self._signal_kernel(kernel.pid, "INT")
            return time.monotonic() + INTERRUPT_GRACE

        cell_dir = f"{RUN_ROOT}/cell-{secrets.token_hex(6)}"
        request: dict[str, Any] = {"op": "execute", "code": code, "plots_dir": f"{cell_dir}/plots"}
        if self.collect_files:
            request.update(run_dir=cell_dir, outputs=self._session.outputs_dir, max_file_bytes=MAX_ARTIFACT_BYTES)
        limits = OutputLimits(self._session.max_output_bytes, self._session.encoding_errors)
        started = time.monotonic()
        try:
            status, payload, collector = kernel.request(
                request, limits, started + limit, on_stdout, on_stderr, on_deadline=interrupt
            )
        except ExecDeadlineExceeded:
            self._restart(f"the previous cell ran past its timeout of {limit:g}s and did not stop when interrupted")
            raise SandboxTimeoutError(
                f"the cell ran longer than its timeout of {limit:g}s and did not stop when interrupted; "
                "the kernel was restarted and its state (variables, imports, definitions) was lost",
                timeout_duration=limit,
            ) from None
        except ProcessEnded as ended:
            if self._escalated:
                self._restart("the previous cell did not stop when interrupted")
                raise KernelDiedError(
                    "the cell did not stop when interrupted; the kernel was restarted and its state "
                    "(variables, imports, definitions) was lost",
                    stdout=ended.collector.stdout.text(),
                    stderr=ended.collector.stderr.text(),
                ) from None
            self._restart("the kernel died during the previous cell: it exited, or ran out of memory")
            raise KernelDiedError(
                "the kernel died during the cell (it exited, or ran out of memory); it was restarted and "
                "its state (variables, imports, definitions) was lost",
                stdout=ended.collector.stdout.text(),
                stderr=ended.collector.stderr.text(),
            ) from None
        document = _document(payload)
        if interrupted:
            raise SandboxTimeoutError(
                f"the cell ran longer than its timeout of {limit:g}s and was interrupted "
                "(KeyboardInterrupt); the kernel and its state are kept",
                timeout_duration=limit,
            )
        captured = plots_from_capture(
            [(str(p.get("name", "")), str(p.get("data", ""))) for p in document.get("plots") or []]
        )
        plots, files, notices = captured.plots, [], captured.notices
        if self.collect_files and document.get("files"):
            written = read_artifacts(base64.b64decode(str(document["files"])), True, self._session.outputs_dir)
            plots, files, notices = merge_saved_figures(plots, written.plots), written.files, notices + written.notices
        if self._state_lost:
            notices.insert(0, f"the kernel was restarted ({self._state_lost}); "
                              "variables, imports and definitions of earlier cells are gone")  # fmt: skip
            self._state_lost = None
        result = ExecutionResult(
            exit_code=status,
            stdout=collector.stdout.text(),
            stderr="".join(f"[llm-sandbox: {notice}]\n" for notice in notices) + collector.stderr.text(),
            plots=plots,
            files=files,
            duration=time.monotonic() - started,
            stdout_truncated=collector.stdout.truncated,
            stderr_truncated=collector.stderr.truncated,
            results=[item for item in document.get("results") or [] if isinstance(item, dict)],
            execution_count=document.get("execution_count"),
        )
        return result

    def interrupt(self) -> bool:
        """Interrupt the running cell (SIGINT, from another thread); True if one was running.

        The cell ends with ``KeyboardInterrupt`` and the kernel keeps its state. The interrupt is
        sent again after :data:`INTERRUPT_GRACE` seconds (it may have arrived before the cell began);
        a cell still running after that is stopped by restarting the kernel (``KernelDiedError``).
        """
        running = self._running
        kernel = self._kernel.current if self._kernel is not None else None
        if kernel is None or running is None or running.is_set():
            return False
        self._signal_kernel(kernel.pid, "INT")
        threading.Thread(target=self._follow_interrupt, args=(kernel, running), daemon=True).start()
        return True

    def _follow_interrupt(self, kernel: Any, running: threading.Event) -> None:
        if running.wait(INTERRUPT_GRACE):
            return
        self._signal_kernel(kernel.pid, "INT")
        if running.wait(INTERRUPT_GRACE):
            return
        self._escalated = True
        with contextlib.suppress(SandboxError):
            self._session._require_open().kill_everything()  # the cell's request then sees the kernel end

    def restart(self) -> None:
        """Restart the kernel: a clean interpreter, every variable gone (files in the sandbox stay)."""
        with self._lock:
            self._restart(None)

    def _process(self) -> Any:
        if self._kernel is None:
            self._session._require_open()
            raise ContainerError("the kernel is not started; open the session first")
        process = self._kernel.process()
        if process is None:
            raise ContainerError(
                f"the {self._session.lang} kernel cannot start in image {self._session.image or 'default'}: "
                f"{self._kernel.unavailable}. Use the library's own image (leave image= unset) or one built "
                "on it (docs/interactive.md)"
            )
        return process

    def _restart(self, why: str | None) -> None:
        """Kill every process of the sandbox user (the kernel included) and start a new kernel."""
        assert self._kernel is not None
        self._kernel.close()
        self._session._require_open().kill_everything()
        self._kernel.start_in_background()
        self._state_lost = why

    def _killed(self) -> None:
        """Every process of the sandbox was killed (a command's timeout, a restart): the kernel too."""
        if self._kernel is not None:
            self._kernel.forget()
        self._state_lost = self._state_lost or "every process in the sandbox was killed (a command's timeout)"

    def _signal_kernel(self, pid: str | None, signal: str) -> None:
        if pid is None:
            return
        try:
            self._session._require_open().sandbox.exec_checked(
                ["sh", "-c", 'kill -s "$0" "$1"', signal, pid], "interrupting the kernel"
            )
        except ContainerError as exc:  # a fork bomb may hold every pid: the grace runs out, then the restart
            logger.info("could not interrupt the kernel: %s", exc)


def _document(payload: bytes) -> dict[str, Any]:
    try:
        document = json.loads(payload or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


__all__ = ["INTERRUPT_GRACE", "InteractiveSandboxSession", "KernelType", "kernel_languages"]

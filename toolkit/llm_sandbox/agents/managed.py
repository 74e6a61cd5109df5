"""A sandbox held from a session manager: its operations count as use and emit the manager's events."""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import contextlib
import contextvars
import logging
import shlex
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from llm_sandbox.agents.events import OutputChunk, RunFinished, RunStarted, SandboxEvent
from llm_sandbox.agents.records import FileContent, FileEntry, session_id_of
from llm_sandbox.data import ConsoleOutput, ExecutionResult
from llm_sandbox.exceptions import ContainerError, ResourceError, SandboxError, ValidationError
from llm_sandbox.sessions.files import sandbox_path
from llm_sandbox.sessions.interactive import InteractiveSandboxSession

T = TypeVar("T")
logger = logging.getLogger("llm_sandbox")
_WRITABLE_ROOTS = ("/tmp",)
DEFAULT_READ_BYTES = 256 * 1024
"""What :meth:`ManagedSession.read_file` reads of a file unless told otherwise."""

_NOT_FOUND, _IS_DIRECTORY, _IS_LINK, _NOT_REGULAR = 44, 45, 46, 47
_READ_SCRIPT = f"""p=$1
if [ -L "$p" ]; then readlink -- "$p"; exit {_IS_LINK}; fi
[ -e "$p" ] || exit {_NOT_FOUND}
[ -d "$p" ] && exit {_IS_DIRECTORY}
[ -f "$p" ] || exit {_NOT_REGULAR}
[ -r "$p" ] || {{ echo "permission denied" >&2; exit 1; }}
stat -c %s -- "$p" && head -c "$2" -- "$p" | base64 -w 0"""
"""Prints the file's size, then the base64 of its first ``$2`` bytes; never reads a pipe or a device."""


class Slot:
    """One sandbox of a session manager: its session, state and counters (guarded by ``SlotHooks.lock``)."""

    def __init__(self, key: str, lang: str) -> None:
        self.key = key
        self.lang = lang
        self.session: Any = None
        self.state = "opening"  # opening → open → closing → closed (or failed)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.created = time.monotonic()
        self.created_wall = time.time()
        self.last_used = self.created
        self.last_used_wall = self.created_wall
        self.runs = 0
        self.leases = 0
        self.active_runs = 0
        self.broken = False
        self.abandoned = False
        self.interrupts = 0
        self.turn = threading.Condition()
        self.operation: object | None = None
        """The run, install, command or reset in progress: one at a time (the session runs them in turn anyway)."""


class Cancellation:
    """The operations of one awaited call: cancelling the call stops them, and only them.

    ``SessionManager.run_in_thread(..., cancellable=True)`` makes one and puts it in the
    worker's context (:data:`current_cancellation`). An operation started under it records
    itself; :meth:`cancel` interrupts that operation if it is still the one in progress in
    its sandbox, and an operation that had not begun refuses to begin. A kill meant for a
    cancelled run therefore never reaches the next caller's run.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self._slot: Slot | None = None

    def attach(self, slot: Slot) -> None:
        """Record that an operation of this call waits for, or holds, ``slot``."""
        with self._lock:
            self._slot = slot

    def check(self) -> None:
        """Refuse to begin an operation of a cancelled call (called holding the slot's turn)."""
        if self.cancelled:
            raise concurrent.futures.CancelledError("the call was cancelled before its operation began")

    def cancel(self) -> bool:
        """Stop this call's operation in progress, if any; True if one was interrupted."""
        with self._lock:
            self.cancelled = True
            slot = self._slot
        if slot is None:
            return False
        with slot.turn:  # the operation cannot end, nor the next one begin, while this kills
            if slot.operation is not self:
                slot.turn.notify_all()  # a waiting operation of this call wakes and refuses to begin
                return False
            return interrupt_session(slot.session)


current_cancellation: contextvars.ContextVar[Cancellation | None] = contextvars.ContextVar(
    "llm_sandbox_cancellation", default=None
)


def interrupt_session(session: Any) -> bool:
    """Kill the session's running code, as a timeout does; its files stay."""
    if session is None:
        return False
    try:
        return bool(session.interrupt())
    except SandboxError as exc:
        logger.warning("interrupting sandbox %s failed: %s", getattr(session, "session_id", "?"), exc)
        return False


def _own_duration(result: Any, started: float) -> float:
    """The result's own duration (measured once the run had the sandbox), else the time since ``started``."""
    duration = getattr(result, "duration", None)
    return float(duration) if isinstance(duration, int | float) else time.monotonic() - started


@dataclass(frozen=True)
class SlotHooks:
    """What a held sandbox needs of its manager: the lock over its slots, event delivery, release."""

    lock: threading.Condition
    emit: Callable[[SandboxEvent], None]
    release: Callable[[Slot], None]


class ManagedSession:
    """A held sandbox of a :class:`~llm_sandbox.agents.SessionManager` (from ``manager.session(key)``).

    Its operations count as use (no reaping while held), emit the manager's
    events, and mark the sandbox for replacement when its container failed.
    ``session`` is the underlying ``ArtifactSandboxSession`` for anything else.
    """

    def __init__(self, entry: Slot, hooks: SlotHooks) -> None:
        self._hooks = hooks
        self._entry = entry
        self._released = False

    @property
    def key(self) -> str:
        return self._entry.key

    @property
    def language(self) -> str:
        return self._entry.lang

    @property
    def session(self) -> Any:
        return self._entry.session

    @property
    def session_id(self) -> str | None:
        return session_id_of(self._entry.session)

    @property
    def container_id(self) -> str | None:
        return getattr(self._entry.session, "container_id", None)

    @property
    def workdir(self) -> str:
        return str(getattr(self._entry.session, "workdir", None) or "/sandbox")

    @property
    def outputs_dir(self) -> str:
        return str(getattr(self._entry.session, "outputs_dir", None) or f"{self.workdir.rstrip('/')}/outputs")

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._hooks.release(self._entry)

    def __enter__(self) -> ManagedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- operations --------------------------------------------------------------------------
    def _operation(
        self,
        operation: str,
        call: Callable[[Callable[[str], None], Callable[[str], None]], T],
        *,
        run_id: str | None,
        code: str = "",
        libraries: Sequence[str] = (),
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> T:
        if self._released:
            raise ValidationError("this sandbox was released; acquire it again from the manager")
        entry = self._entry
        run_id = run_id or uuid.uuid4().hex[:12]
        base: dict[str, Any] = {"session_key": entry.key, "language": entry.lang}
        cancellation = current_cancellation.get()
        hooks = self._hooks
        with hooks.lock:
            entry.runs += 1 if operation == "run" else 0
            entry.active_runs += 1
            interrupts = entry.interrupts
        # Started when the call arrives: a queued call shows at once; its duration counts from its turn.
        hooks.emit(RunStarted(**base, run_id=run_id, operation=operation, code=code, libraries=tuple(libraries)))

        def forward(stream: str, user: Callable[[str], None] | None) -> Callable[[str], None]:
            def callback(text: str) -> None:
                hooks.emit(OutputChunk(**base, run_id=run_id, stream=stream, text=text))
                if user is not None:
                    user(text)

            return callback

        started = time.monotonic()
        try:
            with self._turn(cancellation):
                started = time.monotonic()
                result = call(forward("stdout", on_stdout), forward("stderr", on_stderr))
        except BaseException as exc:
            with hooks.lock:
                entry.active_runs -= 1
                cancelled = entry.interrupts != interrupts or bool(cancellation and cancellation.cancelled)
                if isinstance(exc, ContainerError):
                    entry.broken = True
            hooks.emit(
                RunFinished(
                    **base,
                    run_id=run_id,
                    operation=operation,
                    duration=time.monotonic() - started,
                    error=str(exc),
                    error_type=type(exc).__name__,
                    cancelled=cancelled,
                )
            )
            raise
        with hooks.lock:
            entry.active_runs -= 1
            cancelled = entry.interrupts != interrupts or bool(cancellation and cancellation.cancelled)
        hooks.emit(
            RunFinished(
                **base,
                run_id=run_id,
                operation=operation,
                exit_code=getattr(result, "exit_code", None),
                duration=_own_duration(result, started),
                cancelled=cancelled,
                result=result,
            )
        )
        return result

    @contextlib.contextmanager
    def _turn(self, cancellation: Cancellation | None) -> Iterator[None]:
        """Hold the sandbox for one operation; a call cancelled while it waits never begins."""
        entry = self._entry
        if cancellation is not None:
            cancellation.attach(entry)
        with entry.turn:
            while entry.operation is not None and not (cancellation and cancellation.cancelled):
                entry.turn.wait()
            if cancellation is not None:
                cancellation.check()
            entry.operation = cancellation or object()
        try:
            yield
        finally:
            with entry.turn:
                entry.operation = None
                entry.turn.notify_all()

    def run(
        self,
        code: str,
        *,
        libraries: Sequence[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        run_id: str | None = None,
    ) -> ExecutionResult:
        """Run ``code`` (installing ``libraries`` first); plots and output files come back in the result.

        Raises what the session raises: ``SandboxTimeoutError``,
        ``SecurityViolationError``, ``PackageManagerError``, ``ValidationError``
        for the caller's input; ``ContainerError`` and friends for the engine.
        """
        libs = list(libraries or [])
        return self._operation(
            "run",
            lambda out, err: self.session.run(
                code, libraries=libs or None, timeout=timeout, on_stdout=out, on_stderr=err
            ),
            run_id=run_id,
            code=code,
            libraries=libs,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )

    def install(self, libraries: Sequence[str], *, run_id: str | None = None) -> ConsoleOutput:
        """Install ``libraries`` for this sandbox (they persist for its lifetime)."""
        libs = list(libraries)
        return self._operation(
            "install", lambda out, err: self.session.install(libs), run_id=run_id, libraries=libs
        )

    def execute_command(
        self,
        command: str,
        *,
        workdir: str | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        run_id: str | None = None,
    ) -> ConsoleOutput:
        """Run a shell command as the sandbox user."""
        return self._operation(
            "command",
            lambda out, err: self.session.execute_command(
                command, workdir=workdir, on_stdout=out, on_stderr=err, timeout=timeout
            ),
            run_id=run_id,
            code=command,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )

    def reset(self, *, run_id: str | None = None) -> bool:
        """Restart the sandbox's interpreter (its kernel): every variable, import and definition is gone;
        files stay. False when the sandbox has no kernel (its runs start fresh anyway)."""
        session = self.session
        if not isinstance(session, InteractiveSandboxSession):
            return False
        self._operation("reset", lambda out, err: session.restart(), run_id=run_id)
        return True

    # -- files -------------------------------------------------------------------------------
    def resolve_path(self, path: str) -> str:
        """``path`` as an absolute, normalised sandbox path (relative paths are under the workdir)."""
        if not isinstance(path, str) or not path.strip():
            raise ValidationError(f"invalid sandbox path {path!r}")
        return str(sandbox_path(path.strip(), self.workdir, allow_root=True))

    def write_file(self, path: str, data: bytes | str) -> str:
        """Write ``data`` to ``path`` (under the workdir or /tmp), creating directories; returns the path."""
        target = self.resolve_path(path)
        roots = (self.workdir.rstrip("/") or "/", *_WRITABLE_ROOTS)
        if not any(target.startswith(root.rstrip("/") + "/") for root in roots):
            raise ValidationError(
                f"cannot write {target}: the sandbox's filesystem is read-only except {self.workdir} and /tmp"
            )
        payload = data.encode() if isinstance(data, str) else bytes(data)
        with tempfile.TemporaryDirectory(prefix="llm-sandbox-upload-") as staging:
            local = Path(staging) / (PurePosixPath(target).name or "file")
            local.write_bytes(payload)
            self._checked(lambda: self.session.copy_to_runtime(str(local), target))
        return target

    def upload(self, host_path: str, dest: str) -> str:
        """Copy a host file or directory into the sandbox; returns the sandbox path."""
        target = self.resolve_path(dest)
        self._checked(lambda: self.session.copy_to_runtime(host_path, target))
        return target

    def download(self, src: str, host_path: str) -> None:
        """Copy a sandbox file or directory to the host."""
        source = self.resolve_path(src)
        self._checked(lambda: self.session.copy_from_runtime(source, host_path))

    def read_file(self, path: str, *, max_bytes: int = DEFAULT_READ_BYTES) -> FileContent:
        """The first ``max_bytes`` bytes of a sandbox file, and its size.

        Only that much is read, in the sandbox (``head -c``): a huge (or sparse) file costs this
        machine nothing. ``FileNotFoundError``, ``IsADirectoryError``, or ``ValidationError`` for a
        link or anything but a regular file. Copy whole files with :meth:`download`.
        """
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValidationError(f"max_bytes must be a number of bytes (0 or more), got {max_bytes!r}")
        target = self.resolve_path(path)
        command = f"sh -c {shlex.quote(_READ_SCRIPT)} llm-sandbox-read {shlex.quote(target)} {max_bytes}"
        output = self._checked(lambda: self.session.execute_command(command))
        lines = output.stdout.split("\n")
        if output.exit_code == _NOT_FOUND:
            raise FileNotFoundError(f"{target} does not exist in the sandbox")
        if output.exit_code == _IS_DIRECTORY:
            raise IsADirectoryError(f"{target} is a directory, not a file")
        if output.exit_code == _IS_LINK:
            raise ValidationError(f"{target} is a link to {lines[0]}; read that path instead")
        if output.exit_code == _NOT_REGULAR:
            raise ValidationError(f"{target} is not a regular file (a pipe, socket or device); it is not read")
        if output.exit_code != 0 or len(lines) < 2 or not lines[0].isdigit():
            raise ValidationError(f"cannot read {target}: {output.stderr.strip()[-300:] or output.stdout[-300:]}")
        try:
            data = base64.b64decode(lines[1], validate=True)
        except binascii.Error:
            raise ResourceError(
                f"reading {max_bytes} bytes of {target} exceeds the session's output limit (max_output_bytes); "
                "read fewer bytes"
            ) from None
        return FileContent(target, max(int(lines[0]), len(data)), data)  # /proc files claim size 0

    def list_files(self, path: str | None = None, *, depth: int = 3, limit: int = 500) -> list[FileEntry]:
        """Entries under ``path`` (default: the workdir), ``depth`` levels deep, at most ``limit``."""
        root = self.resolve_path(path or self.workdir)
        quoted = shlex.quote(root)
        script = (
            f'p={quoted}; [ -e "$p" ] || exit 44; '
            f'if [ -d "$p" ]; then find "$p" -mindepth 1 -maxdepth {int(depth)} -printf \'%y\\t%s\\t%p\\n\'; '
            f"else find \"$p\" -maxdepth 0 -printf '%y\\t%s\\t%p\\n'; fi 2>/dev/null | head -n {int(limit)}"
        )
        output = self._checked(lambda: self.session.execute_command(script))
        if output.exit_code == 44:
            raise FileNotFoundError(f"{root} does not exist in the sandbox")
        kinds = {"f": "file", "d": "dir", "l": "link"}
        entries = []
        for line in output.stdout.splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3 and parts[1].isdigit():
                entries.append(FileEntry(parts[2], kinds.get(parts[0], "other"), int(parts[1])))
        return sorted(entries, key=lambda e: e.path)

    def _checked(self, call: Callable[[], T]) -> T:
        if self._released:
            raise ValidationError("this sandbox was released; acquire it again from the manager")
        try:
            return call()
        except ContainerError:
            with self._hooks.lock:
                self._entry.broken = True
            raise

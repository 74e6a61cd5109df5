"""Sessions: one sandbox container, the code that runs in it, and everything around it.

All behaviour lives here once, composed from the small backend protocol
(``backends/base.py``): every engine gets the same timeouts, output caps,
copy semantics, library installation and artifact capture.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import io
import logging
import os
import re
import secrets
import socket
import tarfile
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from importlib import resources
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from llm_sandbox.backends.base import Backend, ContainerSpec, ExecDeadlineExceeded
from llm_sandbox.const import FileType, SandboxBackend, SupportedLanguage
from llm_sandbox.data import ConsoleOutput, ExecutionResult, FileOutput, PlotOutput
from llm_sandbox.exceptions import (
    CommandEmptyError,
    ContainerError,
    ImageNotFoundError,
    LibraryInstallationNotSupportedError,
    MissingDependencyError,
    NotOpenSessionError,
    PackageManagerError,
    ResourceError,
    SandboxTimeoutError,
    SessionClosedError,
    UnsupportedBackendError,
    ValidationError,
)
from llm_sandbox.languages import AbstractLanguageHandler, get_language
from llm_sandbox.output import DEFAULT_MAX_OUTPUT_BYTES, OutputCollector

logger = logging.getLogger("llm_sandbox")

SESSION_LABEL = "llm-sandbox.session"
OWNER_LABEL = "llm-sandbox.owner"
PACKAGES_DIR = "/opt/sandbox-packages"
SANDBOX_USER = "1000:1000"
DEFAULT_EXECUTION_TIMEOUT = 300.0
DEFAULT_INSTALL_TIMEOUT = 600.0
KILL_TIMEOUT = 15.0
MAX_ARTIFACT_BYTES = 10 * 1024 * 1024
"""Larger plots are dropped (with a notice) and larger output files are listed without content."""
MAX_TRAILER_BYTES = 256 * 1024 * 1024
"""All artifacts of one run together; more is a ``ResourceError``."""
RUN_ROOT = "/tmp/llm-sandbox"
COMMITTED_WORKDIR = "/opt/llm-sandbox-state/workdir"


SECURE_DEFAULTS: dict[str, Any] = {
    "user": SANDBOX_USER,
    "network_mode": "none",
    # With no network anyway, skipping the engine's network setup halves container start (~60 ms on
    # Docker); the loopback interface still works. Dropped when runtime_configs enable a network.
    "network_disabled": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 256,
    "mem_limit": "1g",
    "nano_cpus": 1_000_000_000,
    "read_only": True,
}
"""Container options of every sandbox; ``runtime_configs`` keys override them one by one."""

_WORKDIR_TMPFS = "size=512m,uid=1000,gid=1000,mode=0755"
_TMP_TMPFS = "size=256m,uid=1000,gid=1000,mode=1777"


def _runtime_file(name: str) -> str:
    return resources.files("llm_sandbox.runtime").joinpath(name).read_text()


_RUN_SH = _runtime_file("run.sh")
KEEPER_COMMAND = ["sh", "-c", _runtime_file("keeper.sh")]
"""PID 1 of every container the library creates; see ``runtime/keeper.sh``."""
_KILL_SH = _runtime_file("kill.sh")

_open_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


@atexit.register
def _close_open_sessions() -> None:
    for session in list(_open_sessions):
        with contextlib.suppress(Exception):
            session.close()


class Session:
    """A sandbox on one backend. Use :func:`create_session` (alias ``SandboxSession``) to make one."""

    backend_name = "docker"

    def __init__(
        self,
        backend: Backend | None = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        *,
        keep_template: bool = False,
        commit_container: bool = False,
        verbose: bool = False,
        stream: bool = False,
        runtime_configs: dict | None = None,
        workdir: str | None = "/sandbox",
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        encoding_errors: str = "replace",
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        outputs_dir: str | None = None,
        install_timeout: float | None = None,
        libraries: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ValidationError(
                f"unexpected argument(s) for a {self.backend_name} session: {', '.join(sorted(kwargs))}"
            )
        self.language: AbstractLanguageHandler = get_language(str(lang))
        self.lang = self.language.name
        self.image = image
        self.dockerfile = dockerfile
        self.keep_template = keep_template
        self.commit_container = commit_container
        self.verbose = verbose
        self.stream = stream
        self.workdir = workdir or "/sandbox"
        _check_absolute(self.workdir, "workdir")
        self.security_policy = security_policy
        self.default_timeout = default_timeout
        self.execution_timeout = execution_timeout
        self.session_timeout = session_timeout
        self.install_timeout = install_timeout or DEFAULT_INSTALL_TIMEOUT
        self.encoding_errors = encoding_errors
        self.max_output_bytes = max_output_bytes
        self.outputs_dir = outputs_dir or f"{self.workdir.rstrip('/')}/outputs"
        self.skip_environment_setup = skip_environment_setup
        self.initial_libraries = list(libraries or [])
        self.runtime_configs = dict(runtime_configs or {})
        if "timeout" in self.runtime_configs:  # the reference accepts it here
            self.execution_timeout = self.execution_timeout or float(self.runtime_configs.pop("timeout"))
        self.container_id: str | None = container_id
        self.attached = container_id is not None
        self.session_id = uuid.uuid4().hex[:16]
        self.packages_volume = f"llm-sandbox-{self.session_id}-packages"
        self.committed_image: str | None = None
        self._backend = backend
        self._built_template: str | None = None
        self._installed: set[str] = set()
        self._lock = threading.RLock()
        """Guards opening and closing; never held while code runs, so close() can always interrupt."""
        self._run_lock = threading.Lock()
        """Serialises runs: a timeout kills every process of the sandbox user, so one run at a time."""
        self._opened = False
        self._closed = False
        self._expired = False
        self._session_timer: threading.Timer | None = None
        self._current_run_dir: str | None = None
        if verbose:
            _enable_verbose_logging()

    # lifecycle ----------------------------------------------------------
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._connect()
        return self._backend

    def _connect(self) -> Backend:
        from llm_sandbox.backends.docker import DockerBackend

        return DockerBackend()

    @property
    def is_open(self) -> bool:
        return self._opened and not self._closed

    def open(self) -> Session:
        """Create (or attach to) the container. Idempotent."""
        with self._lock:
            if self._closed:
                raise SessionClosedError("this session was closed; create a new session")
            if self._opened:
                return self
            if self.attached:
                assert self.container_id is not None
                if not self.backend.exists(self.container_id):
                    raise ContainerError(
                        f"container {self.container_id} does not exist or is not running; "
                        "start it or open a session without container_id"
                    )
            else:
                self.container_id = self._create_container()
                if (self.image or "").startswith("llm-sandbox-commit/"):
                    self._restore_committed_workdir()
            self._opened = True
            _open_sessions.add(self)
            if self.session_timeout:
                self._session_timer = threading.Timer(self.session_timeout, self._expire)
                self._session_timer.daemon = True
                self._session_timer.start()
        try:
            if self.initial_libraries and not self.skip_environment_setup:
                self.install(self.initial_libraries)
        except BaseException:
            self.close()
            raise
        return self

    def _create_container(self) -> str:
        image = self._resolve_image()
        options = {**SECURE_DEFAULTS, **_translate_runtime_configs(self.runtime_configs)}
        if options.get("network_mode") != "none" and "network_disabled" not in self.runtime_configs:
            options.pop("network_disabled")
        tmp_options = _TMP_TMPFS + (",exec" if self.language.config.exec_tmp else "")
        tmpfs = {self.workdir: _WORKDIR_TMPFS, "/tmp": tmp_options}
        tmpfs.update(options.pop("tmpfs", None) or {})
        options["tmpfs"] = tmpfs
        environment = {**self.language.config.environment, **options.pop("environment", {})}
        spec = ContainerSpec(
            image=image,
            command=list(KEEPER_COMMAND),
            labels={
                SESSION_LABEL: self.session_id,
                OWNER_LABEL: owner_label(),
                "llm-sandbox.lang": self.lang,
                **options.pop("labels", {}),
            },
            environment=environment,
            workdir=self.workdir,
            volumes={self.packages_volume: PACKAGES_DIR},
            # Only the installer writes packages: the sandbox cannot fill the (disk-backed) volume.
            read_only_paths={PACKAGES_DIR},
            options=options,
        )
        started = time.monotonic()
        try:
            self.backend.create_volume(
                self.packages_volume, {SESSION_LABEL: self.session_id, OWNER_LABEL: owner_label()}
            )
            container_id = self.backend.create(spec)
        except BaseException:
            self._remove_volume_quietly()
            self._remove_template_quietly()
            raise
        logger.info("container %s started in %.0f ms", container_id[:12], (time.monotonic() - started) * 1000)
        return container_id

    def _resolve_image(self) -> str:
        if self.dockerfile:
            digest = _file_digest(self.dockerfile)
            tag = f"llm-sandbox-template/{self.lang}:{digest[:16]}"
            if not self.backend.image_exists(tag):
                logger.info("building %s from %s", tag, self.dockerfile)
                self.backend.build_image(self.dockerfile, tag)
                self._built_template = tag
            return tag
        image = self.image or self.language.config.default_image
        if self.backend.image_exists(image):
            return image
        if self.image is None or image == self.language.config.default_image:
            return self._build_default_image()
        logger.info("image %s is not here; pulling it", image)
        if self.backend.pull_image(image):
            return image
        raise ImageNotFoundError(
            image,
            f"it is not on this machine and could not be pulled; pull or build it first (e.g. `docker pull "
            f"{image}`), or leave image= unset to use the built-in llm-sandbox/{self.lang} image "
            f"(`llm-sandbox images build {self.lang}`)",
        )

    def _build_default_image(self) -> str:
        from llm_sandbox.images import builder

        client = getattr(self.backend, "client", None)
        logger.info("image for %s is missing; building it (one time)", self.lang)
        return builder.ensure_image(self.lang, client)

    def close(self) -> None:
        """Remove what the session created. Attached containers are left running. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._session_timer is not None:
            self._session_timer.cancel()
        _open_sessions.discard(self)
        if self.container_id is None or self.attached:
            return
        try:
            if self.commit_container:
                self._commit()
        finally:
            with contextlib.suppress(Exception):
                self.backend.remove(self.container_id)
            self._remove_volume_quietly()
            self._remove_template_quietly()

    def _remove_volume_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.backend.remove_volume(self.packages_volume)

    def _remove_template_quietly(self) -> None:
        if self._built_template and not self.keep_template:
            with contextlib.suppress(Exception):
                self.backend.remove_image(self._built_template)

    def _expire(self) -> None:
        self._expired = True
        logger.info("session %s reached its session_timeout of %ss; closing", self.session_id, self.session_timeout)
        self.close()

    def __enter__(self) -> Session:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _require_open(self) -> str:
        if self._expired:
            raise SessionClosedError(
                f"the session expired after its session_timeout of {self.session_timeout}s and was closed; "
                "open a new session"
            )
        if self._closed:
            raise SessionClosedError("the session is closed; open a new session")
        if not self._opened or self.container_id is None:
            raise NotOpenSessionError()
        return self.container_id

    # running code -------------------------------------------------------
    def run(
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        """Run ``code``; a non-zero exit is a result, not an exception.

        Raises :class:`SandboxTimeoutError` after killing the run's processes
        when it exceeds ``timeout`` (else ``execution_timeout``, else
        ``default_timeout``, else 300 s); the session stays usable.
        """
        return self._run(code, libraries, timeout, on_stdout, on_stderr, artifacts=False)

    def _run(
        self,
        code: str,
        libraries: list[str] | None,
        timeout: float | None,
        on_stdout: Callable[[str], None] | None,
        on_stderr: Callable[[str], None] | None,
        *,
        artifacts: bool,
        plotting: bool = False,
    ) -> ExecutionResult:
        if not isinstance(code, str):
            raise ValidationError(f"code must be a string, not {type(code).__name__}")
        self._require_open()
        self._enforce_policy(code, libraries)
        if libraries:
            self.install(libraries)
        environment = {}
        if artifacts:
            environment["LLM_SANDBOX_ARTIFACTS"] = "1"
            environment["LLM_SANDBOX_MAX_FILE_BYTES"] = str(MAX_ARTIFACT_BYTES)
            detection = self.language.config.plot_detection
            if plotting and detection and detection.enabled:
                environment.update(detection.environment)
        limit = self._timeout(timeout, self.execution_timeout)
        started = time.monotonic()
        exit_code, collector = self._wrapped(
            self.language.run_command(),
            file_name=self.language.source_filename(code),
            content=code.encode(),
            environment=environment,
            outputs=self.outputs_dir if artifacts else "",
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            timeout=limit,
            what="the code",
        )
        result = ExecutionResult(
            exit_code=exit_code,
            stdout=collector.stdout.text(),
            stderr=collector.stderr.text(),
            duration=time.monotonic() - started,
            stdout_truncated=collector.stdout.truncated,
            stderr_truncated=collector.stderr.truncated,
        )
        if artifacts and collector.trailer:
            result.plots, result.files = _read_artifacts(bytes(collector.trailer), plotting)
        return result

    def execute_command(
        self,
        command: str,
        workdir: str | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        timeout: float | None = None,
    ) -> ConsoleOutput:
        """Run ``command`` with ``sh -c`` as the sandbox user, in ``workdir`` (default: the session's)."""
        if not command or not command.strip():
            raise CommandEmptyError()
        self._require_open()
        if workdir is not None:
            _check_absolute(workdir, "workdir")
        exit_code, collector = self._wrapped(
            command,
            file_name="",
            content=b"",
            workdir=workdir,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            timeout=self._timeout(timeout, None),
            what=f"command {command[:60]!r}",
        )
        return ConsoleOutput(exit_code=exit_code, stdout=collector.stdout.text(), stderr=collector.stderr.text())

    def execute_commands(
        self, commands: list[str | tuple[str, str | None]], workdir: str | None = None
    ) -> ConsoleOutput:
        """Run commands in order, stopping at the first that fails; returns the last output."""
        output = ConsoleOutput(exit_code=0)
        for item in commands:
            command, command_workdir = item if isinstance(item, tuple) else (item, workdir)
            output = self.execute_command(command, workdir=command_workdir)
            if not output.success():
                break
        return output

    def _timeout(self, explicit: float | None, specific: float | None) -> float:
        for value in (explicit, specific, self.default_timeout):
            if value is not None:
                if value <= 0:
                    raise ValidationError(f"timeout must be positive, got {value}")
                return float(value)
        return DEFAULT_EXECUTION_TIMEOUT

    def _wrapped(
        self,
        command: str,
        *,
        file_name: str,
        content: bytes,
        timeout: float,
        what: str,
        environment: dict[str, str] | None = None,
        outputs: str = "",
        workdir: str | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> tuple[int, OutputCollector]:
        """Run through ``runtime/run.sh``: one exec per run, code on stdin, exit code and artifacts on stdout."""
        container_id = self._require_open()
        nonce = secrets.token_hex(16)
        run_dir = f"{RUN_ROOT}/{nonce[:12]}"
        marker = nonce.encode() + b" "
        collector = OutputCollector(
            limit=self.max_output_bytes,
            errors=self.encoding_errors,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            marker=marker,
            trailer_limit=MAX_TRAILER_BYTES,
        )
        stdin = f"{nonce} {len(content)}\n".encode() + content
        argv = ["sh", "-c", _RUN_SH, "llm-sandbox", run_dir, file_name, command, outputs]
        with self._run_lock:
            self._current_run_dir = run_dir
            try:
                self.backend.exec(
                    container_id,
                    argv,
                    stdin=stdin,
                    environment=environment,
                    workdir=workdir or self.workdir,
                    user=self._exec_user(),
                    on_output=collector,
                    deadline=time.monotonic() + timeout,
                )
            except ExecDeadlineExceeded:
                self._kill_run(container_id, run_dir)
                raise SandboxTimeoutError(
                    f"{what} ran longer than its timeout of {timeout:g}s and was killed "
                    "(with every process it started); the session is still usable",
                    timeout_duration=timeout,
                ) from None
            except OverflowError:
                self._kill_run(container_id, run_dir)
                raise ResourceError(
                    f"the artifacts of this run exceed {MAX_TRAILER_BYTES // 2**20} MiB in total; "
                    "write fewer or smaller files to the outputs directory (large files are best "
                    "fetched with copy_from_runtime from another directory)"
                ) from None
            except ContainerError:
                if self._closed:
                    raise self._closed_while_running() from None
                raise
            finally:
                self._current_run_dir = None
        if self._closed:  # the container went away under the run: its output is not the program's end
            raise self._closed_while_running()
        collector.finish()
        exit_code = _trailer_exit_code(collector)
        return exit_code, collector

    def _closed_while_running(self) -> SessionClosedError:
        if self._expired:
            return SessionClosedError(
                f"the session reached its session_timeout of {self.session_timeout}s while code was running; "
                "the code was stopped and the sandbox removed. Open a new session"
            )
        return SessionClosedError("the session was closed while code was running; open a new session")

    def interrupt(self) -> bool:
        """Kill the run in progress (call it from another thread); True if there was one.

        The interrupted ``run()`` returns with the exit code of the killed
        program (137), or 125 when the wrapper itself was killed.
        """
        run_dir = self._current_run_dir
        if not (run_dir and self.container_id and not self._closed):
            return False
        self._kill_run(self.container_id, run_dir)
        return True

    def _exec_user(self) -> str | None:
        return None if self.attached else SANDBOX_USER

    def _kill_run(self, container_id: str, run_dir: str) -> None:
        mode = "tree" if self.attached else "all"
        signal = getattr(self.backend, "signal", None) if mode == "all" else None
        for _ in range(3):
            if signal is not None:
                # The keeper kills from inside without forking: works even when a fork bomb
                # exhausted the pids limit and no exec can start.
                with contextlib.suppress(ContainerError):
                    signal(container_id, "SIGUSR1")
                    time.sleep(0.05)
            try:
                self.backend.exec(
                    container_id,
                    ["sh", "-c", _KILL_SH, "llm-sandbox", mode, run_dir],
                    user=self._exec_user(),
                    deadline=time.monotonic() + KILL_TIMEOUT,
                )
                return
            except (ExecDeadlineExceeded, ContainerError) as exc:
                logger.info("killing the timed-out run: %s; retrying", exc)
        logger.warning("could not confirm that the timed-out run was killed")

    # security -----------------------------------------------------------
    def is_safe(self, code: str) -> tuple[bool, list]:
        """Check ``code`` against the session's security policy: ``(safe, violations)``."""
        if self.security_policy is None:
            return True, []
        from llm_sandbox.security import check_code

        return check_code(code, self.lang, self.security_policy)

    def _enforce_policy(self, code: str, libraries: list[str] | None) -> None:
        if self.security_policy is None:
            return
        from llm_sandbox.security import enforce

        enforce(code, self.lang, self.security_policy, libraries=libraries)

    # libraries ----------------------------------------------------------
    def install(self, libraries: list[str] | None = None) -> ConsoleOutput:
        """Install libraries for this session without giving the sandbox a network.

        A short-lived installer container (same image, network on, no
        capabilities, the host's CA bundle and index/proxy settings) writes them
        into the session's packages volume, which the sandbox mounts.
        """
        self._require_open()
        libraries = list(libraries or [])
        if not libraries:
            return ConsoleOutput()
        if self.security_policy is not None:
            from llm_sandbox.security import enforce

            enforce("", self.lang, self.security_policy, libraries=libraries)
        handler = self.language
        handler.validate_libraries(libraries)
        wanted = [name for name in handler.libraries_to_install(libraries) if name not in self._installed]
        if not wanted:
            return ConsoleOutput()
        if self.attached:
            raise LibraryInstallationNotSupportedError(
                self.lang, "this session is attached to a container it did not create (no packages volume)"
            )
        command = handler.get_library_installation_command(wanted)
        logger.info("installing %s", ", ".join(wanted))
        output = self._run_installer(command)
        if not output.success():
            raise PackageManagerError(
                f"installing {', '.join(wanted)} failed (exit code {output.exit_code}):\n"
                f"{(output.stderr or output.stdout)[-3000:]}"
            )
        self._installed.update(wanted)
        return output

    def _run_installer(self, command: str) -> ConsoleOutput:
        """Create an installer, run ``command`` in it, hand the packages to the sandbox, remove it."""
        installer = self.backend.create(self._installer_spec())
        try:
            self._prepare_installer(installer)
            collector = OutputCollector(limit=self.max_output_bytes, errors="replace")
            try:
                exit_code = self.backend.exec(
                    installer,
                    ["sh", "-c", command],
                    user=SANDBOX_USER,
                    on_output=collector,
                    environment={"LLM_SANDBOX_PACKAGES": PACKAGES_DIR},
                    deadline=time.monotonic() + self.install_timeout,
                )
            except ExecDeadlineExceeded:
                raise SandboxTimeoutError(
                    f"installing libraries took longer than {self.install_timeout:g}s; "
                    "raise install_timeout or check that the installer can reach the package index",
                    timeout_duration=self.install_timeout,
                ) from None
            collector.finish()
            if exit_code == 0:
                self._collect_installed(installer)
            return ConsoleOutput(exit_code, collector.stderr.text(), collector.stdout.text())
        finally:
            self.backend.remove(installer)

    def _installer_spec(self) -> ContainerSpec:
        """The installer container: it shares the sandbox's packages volume (see ``installer.py``)."""
        from llm_sandbox.installer import installer_spec

        return installer_spec(
            self._resolve_image(),
            self.packages_volume,
            PACKAGES_DIR,
            labels={SESSION_LABEL: self.session_id, OWNER_LABEL: owner_label(), "llm-sandbox.role": "installer"},
            network=getattr(self.backend, "installer_network", None),
            keeper_command=KEEPER_COMMAND,
        )

    def _prepare_installer(self, installer: str) -> None:
        """Hook before installing (the Docker installer gets the CA bundle as a bind mount: nothing to do)."""

    def _collect_installed(self, installer: str) -> None:
        """Hook after a successful install (the packages volume is shared: nothing to do)."""

    # files --------------------------------------------------------------
    def copy_to_runtime(self, src: str, dest: str) -> None:
        """Copy a host file or directory to ``dest`` in the sandbox, creating parent directories."""
        container_id = self._require_open()
        source = Path(src)
        if not source.exists():
            raise FileNotFoundError(f"{src} does not exist on the host")
        target = _container_path(dest, self.workdir)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(str(source), arcname=target.name, filter=_host_member_filter)
        data = buffer.getvalue()
        script = 'mkdir -p "$1" && head -c "$0" | tar -x -m --no-same-owner --no-same-permissions -C "$1"'
        self._exec_checked(
            container_id,
            ["sh", "-c", script, str(len(data)), str(target.parent)],
            data,
            f"copying {src} to {dest}",
        )

    def copy_from_runtime(self, src: str, dest: str) -> None:
        """Copy ``src`` (file or directory) from the sandbox to host path ``dest``, creating parents."""
        data = self.get_archive(src)[0]
        destination = Path(dest)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            members = archive.getmembers()
            if not members:
                raise FileNotFoundError(f"{src} is empty in the sandbox")
            root = members[0].name.split("/", 1)[0]
            destination.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=destination.parent) as staging:
                try:
                    archive.extractall(staging, filter="data")
                except tarfile.FilterError as exc:
                    raise ValidationError(
                        f"refusing to copy {src}: unsafe archive member ({exc}); links must stay inside the copied tree"
                    ) from None
                extracted = Path(staging) / root
                if destination.is_dir() and extracted.is_dir():
                    for child in extracted.iterdir():
                        os.replace(child, destination / child.name)
                else:
                    os.replace(extracted, destination)

    def get_archive(self, path: str) -> tuple[bytes, dict]:
        """A tar archive of ``path`` in the sandbox and its stat: ``(bytes, {"name", "size", "mode"})``."""
        container_id = self._require_open()
        target = _container_path(path, self.workdir)
        script = '[ -e "$0/$1" ] || exit 44; tar -c -C "$0" -- "$1"'
        collector = OutputCollector(limit=1 << 62)
        code = self.backend.exec(
            container_id,
            ["sh", "-c", script, str(target.parent), target.name],
            user=self._exec_user(),
            on_output=collector,
            deadline=time.monotonic() + self._timeout(None, None),
        )
        if code == 44:
            raise FileNotFoundError(f"{path} does not exist in the sandbox")
        if code != 0:
            raise ContainerError(f"reading {path} from the sandbox failed: {collector.stderr.text()[-500:]}")
        data = bytes(collector.stdout.kept)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            first = archive.next()
            stat = {
                "name": target.name,
                "size": first.size if first else 0,
                "mode": first.mode if first else 0,
            }
        return data, stat

    def _exec_checked(
        self, container_id: str, argv: list[str], stdin: bytes, what: str, user: str | None = None
    ) -> None:
        collector = OutputCollector()
        code = self.backend.exec(
            container_id,
            argv,
            stdin=stdin,
            user=user or self._exec_user(),
            workdir=self.workdir,
            on_output=collector,
            deadline=time.monotonic() + self._timeout(None, None),
        )
        if code != 0:
            raise ContainerError(f"{what} failed (exit {code}): {collector.stderr.text()[-500:]}")

    def _commit(self) -> None:
        """Save the workdir and installed packages as ``llm-sandbox-commit/<lang>:<session id>``.

        The sandbox's own layer is empty (read-only root, tmpfs workdir), so the
        state is unpacked into a fresh container of the same image and that one
        is committed: the workdir under ``COMMITTED_WORKDIR`` (a session opened
        from the image copies it back into its tmpfs workdir), the packages
        where they were (Docker seeds the new packages volume from the image).
        """
        assert self.container_id is not None
        archive = self._exec_output(
            self.container_id,
            [
                "sh",
                "-c",
                'tar -c -C "$0" --transform "s,^\\.,workdir," . -C / "${1#/}"',
                self.workdir,
                PACKAGES_DIR,
            ],
            "saving the session state",
        )
        spec = ContainerSpec(
            image=self._resolve_image(),
            command=list(KEEPER_COMMAND),
            labels={SESSION_LABEL: self.session_id, OWNER_LABEL: owner_label()},
            options={
                "user": "0:0",
                "network_mode": "none",
                "cap_drop": ["ALL"],
                "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
                "security_opt": ["no-new-privileges"],
            },
        )
        helper = self.backend.create(spec)
        try:
            script = (
                'mkdir -p "$1" && head -c "$0" | tar -x -C / --transform "s,^workdir,${1#/},"'
                ' && chown -R 1000:1000 "$1"'
            )
            self._exec_checked(
                helper,
                ["sh", "-c", script, str(len(archive)), COMMITTED_WORKDIR],
                archive,
                "restoring the session state for commit",
                user="0:0",
            )
            repository = f"llm-sandbox-commit/{self.lang}"
            self.backend.commit(helper, repository, self.session_id)
            self.committed_image = f"{repository}:{self.session_id}"
            logger.info("committed the session to %s", self.committed_image)
        finally:
            self.backend.remove(helper)

    def _restore_committed_workdir(self) -> None:
        assert self.container_id is not None
        self._exec_checked(
            self.container_id,
            ["sh", "-c", '[ ! -d "$0" ] || cp -a "$0/." "$1/"', COMMITTED_WORKDIR, self.workdir],
            b"",
            "restoring the committed workdir",
        )

    def _exec_output(self, container_id: str, argv: list[str], what: str) -> bytes:
        collector = OutputCollector(limit=1 << 62)
        code = self.backend.exec(
            container_id,
            argv,
            user=self._exec_user(),
            on_output=collector,
            deadline=time.monotonic() + self._timeout(None, None),
        )
        if code != 0:
            raise ContainerError(f"{what} failed (exit {code}): {collector.stderr.text()[-500:]}")
        return bytes(collector.stdout.kept)


class SandboxDockerSession(Session):
    """A session on Docker: ``client`` is a ``docker.DockerClient`` (default: from the environment)."""

    backend_name = "docker"

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        **kwargs: Any,
    ) -> None:
        from llm_sandbox.backends.docker import DockerBackend

        super().__init__(DockerBackend(client) if client is not None else None, image, dockerfile, lang, **kwargs)


def create_session(backend: SandboxBackend | str = SandboxBackend.DOCKER, *args: Any, **kwargs: Any) -> Session:
    """Create a session for ``backend`` (``docker``, ``podman``, ``kubernetes``, ``micromamba``).

    Open it with ``with`` (or ``open()``/``close()``).
    """
    try:
        kind = SandboxBackend(str(backend).lower())
    except ValueError:
        raise UnsupportedBackendError(
            f"unknown backend {backend!r}; choose one of: {', '.join(b.value for b in SandboxBackend)}"
        ) from None
    if kind == SandboxBackend.DOCKER:
        return SandboxDockerSession(*args, **kwargs)
    if kind == SandboxBackend.PODMAN:
        module, name = "llm_sandbox.backends.podman", "SandboxPodmanSession"
    elif kind == SandboxBackend.KUBERNETES:
        module, name = "llm_sandbox.backends.kubernetes", "SandboxKubernetesSession"
    else:
        module, name = "llm_sandbox.backends.micromamba", "MicromambaSession"
    try:
        session_class = getattr(__import__(module, fromlist=[name]), name)
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            f"the {kind.value} backend needs an optional dependency ({exc.name}); "
            f"install it with: pip install 'llm-sandbox-toolkit[{kind.value}]'"
        ) from exc
    return session_class(*args, **kwargs)  # type: ignore[no-any-return]


SandboxSession = create_session


class ArtifactSandboxSession:
    """A session whose runs also return plots and the files written to the outputs directory.

    Every other attribute is the wrapped session's.
    """

    def __init__(
        self,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        *,
        enable_plotting: bool = True,
        **kwargs: Any,
    ) -> None:
        self._session = create_session(backend, image=image, dockerfile=dockerfile, lang=lang, **kwargs)
        self.enable_plotting = enable_plotting

    def __enter__(self) -> ArtifactSandboxSession:
        self._session.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._session.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def open(self) -> ArtifactSandboxSession:
        self._session.open()
        return self

    def run(
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        clear_plots: bool = False,
    ) -> ExecutionResult:
        """Run ``code`` and return the plots and output files of this run only.

        ``clear_plots`` is accepted for compatibility: every run already starts
        with no plots.
        """
        return self._session._run(
            code, libraries, timeout, on_stdout, on_stderr, artifacts=True, plotting=self.enable_plotting
        )

    def clear_plots(self) -> None:
        """Kept for compatibility; plots never carry over from one run to the next."""


# helpers ----------------------------------------------------------------
def owner_label() -> str:
    """``host/pid`` of the process that owns a container; ``llm-sandbox gc`` removes those whose owner is gone."""
    return f"{socket.gethostname()}/{os.getpid()}"


def _enable_verbose_logging() -> None:
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[llm-sandbox] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _translate_runtime_configs(configs: dict[str, Any]) -> dict[str, Any]:
    """Accept the reference's keys: ``cpu_count`` (Windows-only in Docker) becomes ``nano_cpus``."""
    configs = dict(configs)
    if "cpu_count" in configs:
        configs.setdefault("nano_cpus", int(float(configs.pop("cpu_count")) * 1_000_000_000))
    if "cpus" in configs:
        configs.setdefault("nano_cpus", int(float(configs.pop("cpus")) * 1_000_000_000))
    if "environment" in configs and isinstance(configs["environment"], list):
        configs["environment"] = dict(item.split("=", 1) for item in configs["environment"])
    return configs


def _check_absolute(path: str, what: str) -> None:
    if not path.startswith("/") or "\x00" in path:
        raise ValidationError(f"{what} must be an absolute path inside the sandbox, got {path!r}")


def _container_path(path: str, workdir: str) -> PurePosixPath:
    """Resolve ``path`` against the workdir; refuse ``..`` escapes in relative paths and the root itself."""
    if "\x00" in path or not path:
        raise ValidationError(f"invalid sandbox path {path!r}")
    pure = PurePosixPath(path)
    if not pure.is_absolute():
        if ".." in pure.parts:
            raise ValidationError(f"relative sandbox path {path!r} may not contain '..'")
        pure = PurePosixPath(workdir) / pure
    normalized = PurePosixPath(os.path.normpath(str(pure)))
    if str(normalized) == "/":
        raise ValidationError("refusing to copy the whole root filesystem; name a file or directory")
    return normalized


def _host_member_filter(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Copy regular files, directories and relative in-tree symlinks only; owned by the sandbox user."""
    if member.isdev() or member.isfifo():
        return None
    if (member.issym() or member.islnk()) and (
        member.linkname.startswith("/") or ".." in PurePosixPath(member.linkname).parts
    ):
        return None
    member.uid = member.gid = 1000
    member.uname = member.gname = ""
    return member


def _file_digest(path: str) -> str:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FileNotFoundError(f"Dockerfile {path} does not exist") from None


def _trailer_exit_code(collector: OutputCollector) -> int:
    """The wrapper writes ``<nonce> <exit code>\\n`` before the artifacts; no trailer means the wrapper died."""
    trailer = collector.trailer
    if trailer is None:
        return 125
    line, _, rest = bytes(trailer).partition(b"\n")
    collector.trailer = bytearray(rest)
    try:
        return int(line.strip())
    except ValueError:
        return 125


_PLOT_NAME = re.compile(r"^plots/(\d+)-(\d+)x(\d+)-(\d+)\.(\w+)$")


def _read_artifacts(data: bytes, plotting: bool) -> tuple[list[PlotOutput], list[FileOutput]]:
    """Plots (in capture order) and output files from the wrapper's tar stream."""
    plots: list[tuple[int, PlotOutput]] = []
    images: list[PlotOutput] = []
    files: list[FileOutput] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = member.name
            handle = archive.extractfile(member)
            if name == "large-files":
                files += _large_files((handle.read() if handle else b"").decode(errors="replace"))
                continue
            content = handle.read() if handle and member.size <= MAX_ARTIFACT_BYTES else None
            encoded = base64.b64encode(content).decode() if content is not None else None
            match = _PLOT_NAME.match(name)
            if match:
                if plotting and encoded is not None:
                    order, width, height, dpi, ext = match.groups()
                    if width == "0" and content is not None:  # saved by the code: size from the file
                        width, height = (str(value or 0) for value in _image_size(content))
                    plots.append(
                        (
                            int(order),
                            PlotOutput(
                                format=FileType.from_filename(f"x.{ext}"),
                                content_base64=encoded,
                                width=int(width) or None,
                                height=int(height) or None,
                                dpi=int(dpi) or None,
                            ),
                        )
                    )
                continue
            path = "/" + name.lstrip("/")
            kind = FileType.from_filename(path)
            # A figure saved into the outputs directory was captured when it was saved, in order
            # (savefig, ggsave): name that capture instead of returning the same file twice.
            same = next((plot for _, plot in plots if encoded is not None and plot.content_base64 == encoded), None)
            if same is not None:
                same.filename = path
                continue
            if kind.is_image and plotting and encoded is not None:
                width, height = _image_size(content or b"")
                images.append(PlotOutput(kind, encoded, width, height, None, filename=path))
            else:
                files.append(FileOutput(path=path, format=kind, size=member.size, content_base64=encoded))
    return [plot for _, plot in sorted(plots, key=lambda item: item[0])] + images, files


def _large_files(listing: str) -> list[FileOutput]:
    """Output files over the size limit: listed (``<size> <path>`` lines), their content not sent."""
    found = []
    for line in listing.splitlines():
        size, _, path = line.partition(" ")
        if size.isdigit() and path:
            found.append(
                FileOutput(path=path, format=FileType.from_filename(path), size=int(size), content_base64=None)
            )
    return found


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG (from its header); ``None`` for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None, None


__all__ = [
    "ArtifactSandboxSession",
    "SandboxDockerSession",
    "SandboxSession",
    "Session",
    "create_session",
]

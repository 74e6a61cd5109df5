"""A session: one sandbox container, its lifecycle, and the operations of the reference API.

The session composes the pieces next to it — :mod:`.runner` (runs and
kills), :mod:`.files` (copies), :mod:`.installer` (libraries), :mod:`.image`
(which image), :mod:`.commit` — on top of one engine (``llm_sandbox.engines``),
so every engine gets the same timeouts, output caps, copy rules, library
installation and artifacts. What an engine cannot do is checked once, here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from llm_sandbox.const import SupportedLanguage
from llm_sandbox.contract import (
    DEFAULT_WORKDIR,
    KEEPER_COMMAND,
    LANG_LABEL,
    PACKAGES_DIR,
    SANDBOX_USER,
    SECURE_DEFAULTS,
    SESSION_LABEL,
    TMP_TMPFS,
    WORKDIR_TMPFS,
    nano_cpus,
    ownership_labels,
)
from llm_sandbox.data import ConsoleOutput, ExecutionResult
from llm_sandbox.engines.base import ContainerSpec, Engine
from llm_sandbox.exceptions import (
    CommandEmptyError,
    CommandFailedError,
    ContainerError,
    ExtraArgumentsError,
    LibraryInstallationNotSupportedError,
    NotOpenSessionError,
    PackageManagerError,
    PoolClosedError,
    SandboxError,
    SessionClosedError,
    ValidationError,
)
from llm_sandbox.languages import AbstractLanguageHandler, RuntimeContext, get_language
from llm_sandbox.sessions import commit as committing
from llm_sandbox.sessions import files, image, installer
from llm_sandbox.sessions.artifacts import MAX_ARTIFACT_BYTES, Artifacts, read_artifacts
from llm_sandbox.sessions.output import DEFAULT_MAX_OUTPUT_BYTES, OutputCollector, OutputLimits
from llm_sandbox.sessions.runner import ARTIFACTS_SH, Runner
from llm_sandbox.sessions.sandbox import Sandbox
from llm_sandbox.sessions.warm import WarmSlot, warm_command
from llm_sandbox.timeouts import check_timeout

logger = logging.getLogger("llm_sandbox")

DEFAULT_EXECUTION_TIMEOUT = 300.0
DEFAULT_INSTALL_TIMEOUT = 600.0

EngineSource = Engine | Callable[[], Engine]
"""An engine, or a function that connects to one when the session first needs it."""


class CommandWrapper(Protocol):
    """Wraps the commands a session runs (code and shell commands), e.g. ``micromamba run``."""

    def wrap(self, command: str) -> str: ...

    def missing_image_hint(self, image: str) -> str | None:
        """What to tell a user whose image is missing, or None for the usual advice."""
        ...


def _remove_sandbox(engine: Engine, container_id: str | None, volume: str, template: str | None) -> None:
    """Remove a session's container, its packages volume and its built template, quietly."""
    if container_id is not None:
        with contextlib.suppress(Exception):
            engine.remove(container_id)
    with contextlib.suppress(Exception):
        engine.remove_volume(volume)
    if template is not None:
        with contextlib.suppress(Exception):
            engine.remove_image(template)


def _off_the_collector(action: Callable[..., None], *args: Any) -> None:
    """The finalizer of a session that was never closed: it was garbage-collected, or the interpreter exits.

    On collection ``action`` runs in a thread of its own (never inside whatever code the garbage
    collector interrupted, which may hold a lock of the engine's client or of a pool); the thread is
    not a daemon, so the interpreter waits for it before exiting. At exit (the main thread is done)
    it runs here.
    """
    if threading.main_thread().is_alive():
        threading.Thread(target=action, args=args, name="llm-sandbox-cleanup").start()
    else:
        action(*args)


def _expire_session(session: weakref.ref[Session]) -> None:
    alive = session()
    if alive is not None:
        alive._expire()


class Session:
    """A sandbox on one engine. Use :func:`~llm_sandbox.create_session` (alias ``SandboxSession``) to make one.

    ``engine`` is an :class:`~llm_sandbox.engines.base.Engine` or a function
    returning one (called at first use; default: Docker from the environment).
    """

    backend_name = "docker"

    def __init__(
        self,
        engine: EngineSource | None = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        *,
        keep_template: bool = False,
        commit_container: bool = False,
        verbose: bool = False,
        stream: bool = False,
        runtime_configs: dict | None = None,
        workdir: str | None = DEFAULT_WORKDIR,
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        encoding_errors: str = "replace",
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        max_copy_bytes: int = files.DEFAULT_MAX_COPY_BYTES,
        outputs_dir: str | None = None,
        install_timeout: float | None = None,
        libraries: list[str] | None = None,
        command_wrapper: CommandWrapper | None = None,
        pool: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ExtraArgumentsError(
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
        self.workdir = workdir or DEFAULT_WORKDIR
        files.check_absolute(self.workdir, "workdir")
        self.security_policy = security_policy
        self.default_timeout = check_timeout(default_timeout, "default_timeout", none_means="300 s")
        self.execution_timeout = check_timeout(
            execution_timeout, "execution_timeout", none_means="default_timeout"
        )
        self.session_timeout = check_timeout(session_timeout, "session_timeout", none_means="no limit")
        self.install_timeout = (
            check_timeout(install_timeout, "install_timeout", none_means=f"{DEFAULT_INSTALL_TIMEOUT:g} s")
            or DEFAULT_INSTALL_TIMEOUT
        )
        self.encoding_errors = encoding_errors
        self.max_output_bytes = max_output_bytes
        if isinstance(max_copy_bytes, bool) or not isinstance(max_copy_bytes, int) or max_copy_bytes <= 0:
            raise ValidationError(f"max_copy_bytes must be a positive number of bytes, got {max_copy_bytes!r}")
        self.max_copy_bytes = max_copy_bytes
        """What one copy out of the sandbox (``copy_from_runtime``, ``get_archive``) may bring to this machine."""
        self.outputs_dir = outputs_dir or f"{self.workdir.rstrip('/')}/outputs"
        self.skip_environment_setup = skip_environment_setup
        self.initial_libraries = self.language.validate_libraries(list(_library_list(libraries)))
        self.runtime_configs = dict(runtime_configs or {})
        if "timeout" in self.runtime_configs:  # the reference accepts it here
            timeout = check_timeout(self.runtime_configs.pop("timeout"), "runtime_configs['timeout']")
            self.execution_timeout = self.execution_timeout or timeout
        self.command_wrapper = command_wrapper
        self.container_id: str | None = container_id
        self.attached = container_id is not None
        self.session_id = uuid.uuid4().hex[:16]
        self.packages_volume = f"llm-sandbox-{self.session_id}-packages"
        self.committed_image: str | None = None
        self._engine_source = engine
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self._image: str | None = None
        self._built_template: str | None = None
        self._installed: set[str] = set()
        self._lock = threading.RLock()
        """Guards opening and closing; never held while code runs, so close() can always interrupt."""
        self._runner: Runner | None = None
        self._warm: WarmSlot | None = None
        self._exec_user = SANDBOX_USER
        self._opened = False
        self._closed = False
        self._expired = False
        self._session_timer: threading.Timer | None = None
        self._finalizer: weakref.finalize | None = None
        """Removes the container if this object is dropped without close() (see :meth:`_tie_to_life`)."""
        self._pool = pool
        self._lease: Any = None
        """The pooled container this session holds (a ``PooledContainer``) while it is open."""
        self._warm_processes = True
        """False on the sessions a pool creates its containers with: each user of the container gets its own."""
        if pool is not None:
            self._check_pooled(pool)
            self._engine = pool.engine
        if verbose:
            _enable_verbose_logging()

    # lifecycle ----------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The container engine (connected at first use)."""
        if self._engine is None:
            source = self._engine_source
            if source is None:
                from llm_sandbox.engines.docker import DockerEngine

                self._engine = DockerEngine()
            else:
                assert callable(source)
                self._engine = source()
        return self._engine

    backend = engine
    """The reference API's name for :attr:`engine`."""

    @property
    def is_open(self) -> bool:
        return self._opened and not self._closed

    @property
    def container(self) -> Any:
        """The engine's own object for the sandbox while the session is open, else ``None`` (reference API).

        Docker and Podman: the docker SDK's ``Container`` (``session.container.id``);
        Kubernetes: the pod name.
        """
        if not self.is_open or self.container_id is None:
            return None
        return self.engine.container_handle(self.container_id)

    @property
    def language_handler(self) -> AbstractLanguageHandler:
        """The reference API's name for :attr:`language`."""
        return self.language

    @property
    def pooled(self) -> bool:
        """True when the session takes its container from a pool (``pool=``) and gives it back at close."""
        return self._pool is not None

    def open(self) -> Session:
        """Create the container (or attach to one, or take one from the pool). Idempotent."""
        with self._lock:
            if self._closed:
                raise SessionClosedError("this session was closed; create a new session")
            if self._opened:
                return self
            self._check_capabilities()
            if self._pool is not None:
                self.container_id = self._checkout()
            elif self.attached:
                assert self.container_id is not None
                if not self.engine.exists(self.container_id):
                    raise ContainerError(
                        f"container {self.container_id} does not exist or is not running; "
                        "start it or open a session without container_id"
                    )
            else:
                self.container_id = self._create_container()
                self._tie_to_life()
            sandbox = Sandbox(
                self.engine,
                self.container_id,
                user=None if self.attached else self._exec_user,
                workdir=self.workdir,
                timeout=self._timeout(None, None),
            )
            self._runner = Runner(sandbox, attached=self.attached)
            self._warm = self._start_warm_runner(sandbox)
            if committing.is_committed(self.image) and not self.attached:
                try:
                    committing.restore(sandbox)
                except BaseException:
                    self._give_back() if self._lease is not None else self._remove_container()
                    raise
            self._opened = True
            if self.session_timeout:
                # A weak reference: a pending timer must not keep a dropped session alive.
                self._session_timer = threading.Timer(self.session_timeout, _expire_session, (weakref.ref(self),))
                self._session_timer.daemon = True
                self._session_timer.start()
        try:
            self.environment_setup()
        except BaseException:
            self.close()
            raise
        return self

    def _start_warm_runner(self, sandbox: Sandbox) -> WarmSlot | None:
        """The warm runner of the language, starting in the background (runs start cold until it is up).

        Only in containers the session made (or took from a pool) from an image that
        ships it, and only where commands are not wrapped (a wrapper decides how code starts).
        """
        command = self.language.config.warm_runner
        if command is None or self.attached or self.command_wrapper is not None or not self._warm_processes:
            return None
        warm = self._warm_slot(sandbox, warm_command(command, ARTIFACTS_SH))
        assert self._runner is not None
        self._runner.on_kill.append(warm.forget)
        return warm

    def _warm_slot(self, sandbox: Sandbox, argv: list[str], environment: dict[str, str] | None = None) -> WarmSlot:
        """A warm process (the warm runner, a kernel) in this session's sandbox, starting in the background.

        A pooled session gets the one its pool started for it before the checkout; the
        pool starts it again for every later user of the container.
        """
        if self._lease is not None:
            return self._lease.warm_slot(argv, environment)  # type: ignore[no-any-return]
        slot = WarmSlot(sandbox, argv, environment)
        slot.start_in_background()
        return slot

    def _check_pooled(self, pool: Any) -> None:
        """What a pooled session cannot be: the container and its settings are the pool's."""
        if self.attached:
            raise ValidationError(
                "container_id= and pool= exclude each other: a pooled session takes its container from the pool"
            )
        if self.commit_container:
            raise ValidationError(
                "commit_container=True is not available with pool=: a pooled container is reset for its next "
                "user, not committed; open a session without a pool to commit"
            )
        if type(self) is not pool.session_kind or self.lang != pool.lang or self.workdir != pool.workdir:
            raise ValidationError(
                f"this pool makes {pool.backend} containers for {pool.lang} with workdir {pool.workdir}; "
                f"a {self.backend_name} session for {self.lang} in {self.workdir} cannot use them. "
                "Create pooled sessions with create_session(pool=pool) (or SandboxSession/ArtifactSandboxSession/"
                "InteractiveSandboxSession with pool=), which take these from the pool"
            )

    def _checkout(self) -> str:
        """Take a container from the pool (made with the pool's options, reset, its warm processes up); its id."""
        lease = self._pool.acquire()
        self._lease = lease
        self._engine = lease.engine
        self.packages_volume = lease.packages_volume
        self._image = lease.image
        self._exec_user = lease.user
        self._installed = set(lease.installed)
        # Dropped without close(), the session still gives the container back (the pool resets it).
        self._finalizer = weakref.finalize(self, _off_the_collector, self._pool.release, lease)
        return str(lease.container_id)

    def _give_back(self) -> None:
        """Give the container back to its pool, which resets it (off this thread) for its next user."""
        lease, self._lease = self._lease, None
        if self._runner is not None:
            self._runner.closed = True  # nothing here is ours to kill any more: the pool's reset kills it all
        if self._finalizer is not None:
            self._finalizer.detach()
        if lease is not None:
            self._pool.release(lease)

    def _tie_to_life(self) -> None:
        """Remove the container with this object: a session dropped without close() leaves nothing behind.

        ``weakref.finalize`` runs when the session is garbage-collected and at interpreter exit,
        whichever comes first; close() runs it at once (and then it never runs again).
        """
        template = None if self.keep_template else self._built_template
        self._finalizer = weakref.finalize(
            self, _off_the_collector, _remove_sandbox, self.engine, self.container_id, self.packages_volume, template
        )

    def environment_setup(self) -> None:
        """Prepare the sandbox once it is open: install the ``libraries=`` given to the session.

        ``open()`` calls it. Skipped with ``skip_environment_setup=True`` and for
        containers the session attached to. The images come ready for their language,
        so there is no virtual environment to create or package manager to upgrade.
        """
        if self.initial_libraries and not self.skip_environment_setup and not self.attached:
            self.install(self.initial_libraries)

    def verify_installation(self) -> ConsoleOutput:
        """Check that the sandbox can run the session's language: its toolchain answers.

        Runs the language's ``version_command`` (e.g. ``python3 --version``) and returns
        its output; raises :class:`CommandFailedError` when it fails (a custom image
        without the interpreter or compiler, say).
        """
        command = self.language.config.version_command
        if command is None:
            return ConsoleOutput()
        output = self.execute_command(command)
        if not output.success():
            raise CommandFailedError(command, output.exit_code, (output.stderr or output.stdout).strip())
        return output

    def _check_capabilities(self) -> None:
        """What this session asks of its engine, checked once, before anything is created."""
        capabilities = self.engine.capabilities
        if self.dockerfile and not capabilities.build:
            raise ValidationError(
                f"dockerfile= is not available on {self.engine.name}: build the image elsewhere, make it "
                "reachable for the engine and pass image="
            )
        if self.commit_container and not capabilities.commit:
            raise ValidationError(f"commit_container=True is not supported on {self.engine.name}")

    def _create_container(self) -> str:
        engine = self.engine
        self._image = self._resolve_image()
        options = {**SECURE_DEFAULTS, **_translate_runtime_configs(self.runtime_configs)}
        self._exec_user = str(options["user"])  # who runs the code and the commands
        if engine.capabilities.root_keeper:
            # PID 1 runs as root with CAP_KILL alone: the code can neither signal, trace nor stop it.
            options["user"] = "0:0"
            options["cap_add"] = [*(options.get("cap_add") or []), "KILL"]
        if options.get("network_mode") != "none" and "network_disabled" not in self.runtime_configs:
            options.pop("network_disabled")
        tmp_options = TMP_TMPFS + (",exec" if self.language.config.exec_tmp else "")
        tmpfs = {self.workdir: WORKDIR_TMPFS, "/tmp": tmp_options}
        tmpfs.update(options.pop("tmpfs", None) or {})
        options["tmpfs"] = tmpfs
        environment = {**self.language.config.environment, **options.pop("environment", {})}
        spec = ContainerSpec(
            image=self._image,
            command=list(KEEPER_COMMAND),
            labels={**ownership_labels(self.session_id), LANG_LABEL: self.lang, **options.pop("labels", {})},
            environment=environment,
            workdir=self.workdir,
            volumes={self.packages_volume: PACKAGES_DIR},
            # Only the installer writes packages: the sandbox cannot fill the (disk-backed) volume.
            read_only_paths={PACKAGES_DIR},
            options=options,
        )
        started = time.monotonic()
        try:
            engine.create_volume(self.packages_volume, ownership_labels(self.session_id))
            container_id = engine.create(spec)
        except BaseException:
            # A Ctrl-C can arrive after the engine created the container but before its id reached us:
            # find it by its label, or it would keep the volume and itself alive.
            self._remove_labelled_containers_quietly()
            self._remove_volume_quietly()
            self._remove_template_quietly()
            raise
        logger.info("container %s started in %.0f ms", container_id[:12], (time.monotonic() - started) * 1000)
        return container_id

    def _resolve_image(self) -> str:
        if self.dockerfile:
            tag, built = image.build_template(self.engine, self.dockerfile, self.lang)
            if built:
                self._built_template = tag
            return tag
        hint = self.command_wrapper.missing_image_hint(self.image or "") if self.command_wrapper else None
        return image.resolve(self.engine, self.lang, self.image, self.language.config.default_image, hint)

    def close(self) -> None:
        """Remove what the session created. Attached containers are left running; a pooled container goes
        back to its pool, which resets it for its next user. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._session_timer is not None:
            self._session_timer.cancel()
        if self._lease is not None:
            self._give_back()
            return
        if self.container_id is None or self.attached:
            return
        try:
            if self.commit_container and self._runner is not None:
                self.committed_image = committing.commit(
                    self._runner.sandbox, self._image or self._resolve_image(), self.lang, self.session_id
                )
        finally:
            self._remove_container()

    def _remove_container(self) -> None:
        if self._runner is not None:
            self._runner.closed = True
        if self._warm is not None:
            self._warm.shutdown()
        tied = self._finalizer.detach() if self._finalizer is not None else None
        if tied is not None:
            action, *args = tied[2]
            action(*args)

    def _remove_labelled_containers_quietly(self) -> None:
        with contextlib.suppress(Exception):
            for item in self.engine.list_labelled(f"{SESSION_LABEL}={self.session_id}"):
                if item["kind"] == "container":
                    self.engine.remove(item["id"])

    def _remove_volume_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.engine.remove_volume(self.packages_volume)

    def _remove_template_quietly(self) -> None:
        if self._built_template and not self.keep_template:
            with contextlib.suppress(Exception):
                self.engine.remove_image(self._built_template)

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

    def _require_open(self) -> Runner:
        if self._expired:
            raise SessionClosedError(
                f"the session expired after its session_timeout of {self.session_timeout}s and was closed; "
                "open a new session"
            )
        if self._closed:
            raise SessionClosedError("the session is closed; open a new session")
        if not self._opened or self._runner is None:
            raise NotOpenSessionError(
                "Session is not open. Please call open() method before running code, or use the session as a "
                "context manager (`with SandboxSession(...) as session:`)"
            )
        return self._runner

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
        exit_code, payload, collector = self._wrapped(
            self.language.run_command(RuntimeContext(self.workdir)),
            file_name=self.language.source_filename(code),
            content=code.encode(),
            environment=environment,
            outputs=self.outputs_dir if artifacts else "",
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            timeout=limit,
            what="the code",
            warm=self._warm,
        )
        found = read_artifacts(payload, plotting, self.outputs_dir) if artifacts and payload else Artifacts()
        notices = "".join(f"\n[llm-sandbox: {notice}]\n" for notice in found.notices)
        return ExecutionResult(
            exit_code=exit_code,
            stdout=collector.stdout.text(),
            stderr=collector.stderr.text() + notices,
            plots=found.plots,
            files=found.files,
            duration=time.monotonic() - collector.started,  # not the wait for an earlier run of this session
            stdout_truncated=collector.stdout.truncated,
            stderr_truncated=collector.stderr.truncated,
        )

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
            files.check_absolute(workdir, "workdir")
        exit_code, _, collector = self._wrapped(
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
        self,
        commands: list[str | tuple[str, str | None]],
        workdir: str | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> ConsoleOutput:
        """Run commands in order, stopping at the first that fails; returns the last output.

        An item is a command or a ``(command, workdir)`` pair; output streams to the callbacks.
        """
        output = ConsoleOutput(exit_code=0)
        for item in commands:
            command, command_workdir = item if isinstance(item, tuple | list) else (item, workdir)
            output = self.execute_command(command, command_workdir, on_stdout, on_stderr)
            if not output.success():
                break
        return output

    def _timeout(self, explicit: float | None, specific: float | None) -> float:
        """The first timeout given: ``explicit`` (checked here), ``specific``, ``default_timeout``, 300 s."""
        for value in (check_timeout(explicit, "timeout", none_means="the session's timeout"), specific,
                      self.default_timeout):  # fmt: skip
            if value is not None:
                return value
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
        warm: WarmSlot | None = None,
    ) -> tuple[int, bytes, OutputCollector]:
        """Run ``command`` (wrapped by the session's command wrapper) through the runner."""
        runner = self._require_open()
        if self.command_wrapper is not None:
            command = self.command_wrapper.wrap(command)
        try:
            exit_code, payload, collector = runner.run(
                command,
                file_name=file_name,
                content=content,
                timeout=timeout,
                what=what,
                output=OutputLimits(self.max_output_bytes, self.encoding_errors),
                environment=environment,
                outputs=outputs,
                workdir=workdir,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
                warm=warm,
            )
        except ContainerError:
            if self._closed or self._pool_took_back():
                raise self._closed_while_running() from None
            raise
        if self._closed or self._pool_took_back():  # the container went away under the run: no end of the program
            raise self._closed_while_running()
        return exit_code, payload, collector

    def _pool_took_back(self) -> bool:
        """The pool this session's container came from was closed (its containers removed) while it was held."""
        lease = self._lease
        return lease is not None and bool(lease.engine.ended)

    def _closed_while_running(self) -> SandboxError:
        if self._pool_took_back() and not self._closed:
            return PoolClosedError("the pool was closed while code was running: its sandboxes were removed")
        if self._expired:
            return SessionClosedError(
                f"the session reached its session_timeout of {self.session_timeout}s while code was running; "
                "the code was stopped and the sandbox removed. Open a new session"
            )
        return SessionClosedError("the session was closed while code was running; open a new session")

    def interrupt(self) -> bool:
        """Kill the run in progress (call it from another thread); True if there was one.

        The interrupted ``run()`` returns with the exit code of the killed
        program (137), or 125 when the wrapper itself was killed. The next run
        starts only after every process of the interrupted one is gone.
        """
        runner = self._runner
        if runner is None or self._closed:
            return False
        return runner.interrupt()

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
        into the session's packages volume, which the sandbox mounts read-only.
        """
        self._require_open()
        libraries = _library_list(libraries)
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
        command = handler.library_installation_command(wanted, RuntimeContext(self.workdir))
        if self.command_wrapper is not None:
            command = self.command_wrapper.wrap(command)
        logger.info("installing %s", ", ".join(wanted))
        assert self.container_id is not None
        output = installer.install(
            self.engine,
            self._installer_spec(),
            command,
            sandbox=self.container_id,
            timeout=self.install_timeout,
            copy_timeout=self._timeout(None, None),
            max_output_bytes=self.max_output_bytes,
        )
        if not output.success():
            raise PackageManagerError(
                handler.config.package_manager or self.lang,
                f"installing {', '.join(wanted)} exited with code {output.exit_code}:\n"
                f"{(output.stderr or output.stdout)[-3000:]}",
            )
        self._installed.update(wanted)
        return output

    def _installer_spec(self) -> ContainerSpec:
        return installer.installer_spec(
            self.engine,
            self._image or self._resolve_image(),
            self.packages_volume,
            labels={**ownership_labels(self.session_id), LANG_LABEL: self.lang},
            overrides=self._installer_overrides(),
        )

    def _installer_overrides(self) -> dict[str, Any]:
        """Engine options for the installer beyond the contract's (a session kind may add some)."""
        return {}

    # files --------------------------------------------------------------
    def copy_to_runtime(self, src: str, dest: str) -> None:
        """Copy a host file or directory to ``dest`` in the sandbox, creating parent directories."""
        files.copy_to(self._require_open().sandbox, src, dest)

    def copy_from_runtime(self, src: str, dest: str) -> None:
        """Copy ``src`` (file or directory) from the sandbox to host path ``dest``, creating parents.

        A file lands as ``dest`` (or ``dest/<name>`` when ``dest`` is a directory); a directory always
        lands as ``dest/<name>/...``, as with ``docker cp``. At most ``max_copy_bytes`` are brought over
        (a ``ResourceError`` says so), streamed to disk as they arrive.
        """
        files.copy_from(self._require_open().sandbox, src, dest, self.max_copy_bytes)

    def get_archive(self, path: str) -> tuple[bytes, dict]:
        """A tar archive of ``path`` in the sandbox and its stat: ``(bytes, {"name", "size", "mode"})``.

        At most ``max_copy_bytes`` (it is returned in memory).
        """
        return files.get_archive(self._require_open().sandbox, path, self.max_copy_bytes)


def _library_list(libraries: Any) -> list[str]:
    """``libraries`` as a list; a single string is refused rather than installed letter by letter."""
    if isinstance(libraries, str | bytes):
        raise ValidationError(f"libraries must be a list of names, e.g. [{libraries!r}], not a string")
    return list(libraries or [])


def _enable_verbose_logging() -> None:
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[llm-sandbox] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _translate_runtime_configs(configs: dict[str, Any]) -> dict[str, Any]:
    """Accept the reference's keys: ``cpu_count`` (Windows-only in Docker) and ``cpus`` become ``nano_cpus``."""
    configs = dict(configs)
    for key in ("cpu_count", "cpus"):
        if key in configs:
            configs.setdefault("nano_cpus", nano_cpus(float(configs.pop(key))))
    if "environment" in configs and isinstance(configs["environment"], list):
        configs["environment"] = dict(item.split("=", 1) for item in configs["environment"])
    if "mounts" in configs and not isinstance(configs["mounts"], list | tuple):
        configs["mounts"] = [configs["mounts"]]
    return configs


__all__ = ["DEFAULT_EXECUTION_TIMEOUT", "CommandWrapper", "Session"]

"""The session manager: one sandbox per key (a conversation, a thread, an agent), opened lazily,
bounded, reaped when idle, always closed. See the package docstring for the whole picture."""


from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from llm_sandbox.agents.artifacts import ArtifactStore
from llm_sandbox.agents.events import (
    EventCallback,
    EventStream,
    SandboxEvent,
    SessionClosed,
    SessionOpened,
    Subscription,
)
from llm_sandbox.agents.managed import (
    Cancellation,
    ManagedSession,
    Slot,
    SlotHooks,
    current_cancellation,
    interrupt_session,
)
from llm_sandbox.agents.records import LanguageInfo, SessionInfo, display_name, session_id_of
from llm_sandbox.const import SandboxBackend
from llm_sandbox.data import ConsoleOutput, ExecutionResult
from llm_sandbox.exceptions import (
    ManagerClosedError,
    SessionLimitError,
    ValidationError,
)
from llm_sandbox.languages import get_language
from llm_sandbox.timeouts import check_timeout

logger = logging.getLogger("llm_sandbox.agents")

T = TypeVar("T")

DEFAULT_IDLE_TIMEOUT = 600.0
DEFAULT_MAX_SESSIONS = 8
DEFAULT_WAIT_TIMEOUT = 10.0
"""How long a new conversation waits for a slot when every sandbox is busy (idle ones are evicted at once)."""
_WRITABLE_ROOTS = ("/tmp",)


































class SessionManager:
    """Per-key sandbox sessions with lazy open, idle reaping, a bound, and live events.

    Session options (``backend``, ``image``, ``libraries`` preinstalled at open,
    ``runtime_configs``, ``security_policy`` — a preset name or a policy
    object —, ``execution_timeout``, and any other ``session_options`` of
    :func:`~llm_sandbox.create_session`) apply to the default language
    ``lang``; ``languages`` lists every language the manager may open
    (default: just ``lang``), and ``language_options`` overrides options per
    language (e.g. ``{"javascript": {"image": "...", "libraries": [...]}}``).

    ``stateful``: where it holds, a language with a kernel (Python, JavaScript,
    R, Ruby) gets an ``InteractiveSandboxSession``, so the runs of one key share
    one interpreter, like notebook cells; otherwise every run is a fresh
    process (an ``ArtifactSandboxSession``). Files persist either way. ``None``
    (default): stateful where the sandbox runs the library's own image (which
    carries the kernel); ``True``: also with other images (they must be built
    on the library's); ``False``: never.

    ``pool`` (from ``llm_sandbox.pool.create_pool_manager``): the sandboxes of the
    pool's language are taken from it, warm, and given back (reset for the next
    conversation) when a conversation's sandbox is closed or reaped; the pool's
    options (image, libraries, runtime_configs...) are theirs. Other languages can
    have their own pool through ``language_options={"javascript": {"pool": ...}}``.

    At ``max_sessions`` live sandboxes, a new key takes the place of the least
    recently used idle sandbox (``evict_idle``, default; that sandbox's files
    and variables are lost), or waits up to ``wait_timeout`` seconds (default
    10) for one to become idle, then raises :class:`SessionLimitError`.

    ``session_factory(key, lang)`` replaces the default
    ``ArtifactSandboxSession`` construction (it must return an unopened session).
    """

    def __init__(
        self,
        *,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        lang: str = "python",
        languages: Sequence[str] | None = None,
        image: str | None = None,
        libraries: Sequence[str] | None = None,
        runtime_configs: dict[str, Any] | None = None,
        security_policy: Any = None,
        execution_timeout: float | None = None,
        session_options: dict[str, Any] | None = None,
        language_options: dict[str, dict[str, Any]] | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        wait_timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        evict_idle: bool = True,
        default_key: str = "default",
        stateful: bool | None = None,
        session_factory: Callable[[str, str], Any] | None = None,
        max_workers: int | None = None,
        pool: Any = None,
        artifact_store: ArtifactStore | None = None,
    ) -> None:
        if max_sessions < 1:
            raise ValidationError(f"max_sessions must be at least 1, got {max_sessions}")
        idle_timeout = check_timeout(idle_timeout, "idle_timeout", none_means="never reaping")
        wait_timeout = check_timeout(wait_timeout, "wait_timeout", allow_zero=True, none_means="waiting forever")
        execution_timeout = check_timeout(execution_timeout, "execution_timeout", none_means="the default")
        self.backend = backend
        self.lang = get_language(lang).name
        names = [get_language(name).name for name in (languages or [self.lang])]
        if self.lang not in names:
            names.insert(0, self.lang)
        self.languages: list[str] = list(dict.fromkeys(names))
        self.image = image
        self.libraries = list(libraries or [])
        self.runtime_configs = dict(runtime_configs or {})
        self.security_policy = security_policy
        self.execution_timeout = execution_timeout
        self.session_options = dict(session_options or {})
        self.language_options = {get_language(k).name: dict(v) for k, v in (language_options or {}).items()}
        self.pool = pool
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.wait_timeout = wait_timeout
        self.evict_idle = evict_idle
        self.default_key = default_key
        self.stateful = stateful
        self.artifact_store = artifact_store if artifact_store is not None else ArtifactStore()
        """Artifacts the agent tools keep by reference (``artifacts="reference"``), fetched by id."""
        self._factory = session_factory or self._default_factory
        self._max_workers = max_workers or max(32, max_sessions * 2)
        self._cond = threading.Condition(threading.RLock())
        self._hooks = SlotHooks(self._cond, self._emit, self._release)
        self._entries: dict[tuple[str, str], Slot] = {}
        self._closing = 0
        self._closed = False
        self._subscribers: tuple[Subscription, ...] = ()
        self._executor: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self._policy_cache: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _finalize, self._entries, self._stop, self._cond)
        _live_managers.add(self)

    # -- configuration -----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def reap_interval(self) -> float:
        if self.idle_timeout is None:
            return 60.0
        return min(max(self.idle_timeout / 4, 0.05), 30.0)

    def resolve_language(self, lang: str | None) -> str:
        """Canonical name of ``lang`` (default: the manager's); refuses languages not in ``languages``."""
        if not lang:
            return self.lang
        name = get_language(lang).name
        if name not in self.languages:
            raise ValidationError(
                f"language {lang!r} is not enabled on this manager; enabled: {', '.join(self.languages)}"
            )
        return name

    def options(self, lang: str | None = None) -> dict[str, Any]:
        """The session options used to open a sandbox for ``lang``."""
        name = self.resolve_language(lang)
        options: dict[str, Any] = {
            "backend": self.backend,
            "runtime_configs": dict(self.runtime_configs),
            "security_policy": self.security_policy,
            "execution_timeout": self.execution_timeout,
            **self.session_options,
        }
        if name == self.lang:
            options["image"] = self.image
            options["libraries"] = list(self.libraries)
        options.update(self.language_options.get(name, {}))
        pool = options.get("pool") or (self.pool if self.pool is not None and self.pool.lang == name else None)
        if pool is not None:  # the pool's options, then those set here (the pool refuses container options it lacks)
            given = {key: value for key, value in options.items() if value is not None and value != {} and value != []}
            inherited = {key: value for key, value in pool.options.items() if key != "lang"}
            options = {**inherited, **given, "backend": pool.backend, "pool": pool}
        return options

    def language_info(self, lang: str | None = None) -> LanguageInfo:
        """What a model should know about the sandbox of ``lang``."""
        name = self.resolve_language(lang)
        config = get_language(name).config
        options = self.options(name)
        runtime = options.get("runtime_configs") or {}
        workdir = options.get("workdir") or "/sandbox"
        extra = [lib for lib in options.get("libraries") or [] if lib not in config.preinstalled_libraries]
        timeout = options.get("execution_timeout") or runtime.get("timeout") or options.get("default_timeout")
        if timeout is None:
            from llm_sandbox.sessions.session import DEFAULT_EXECUTION_TIMEOUT

            timeout = DEFAULT_EXECUTION_TIMEOUT
        return LanguageInfo(
            name=name,
            display_name=display_name(name),
            preinstalled=tuple(dict.fromkeys([*config.preinstalled_libraries, *extra])),
            can_install=bool(config.is_support_library_installation and config.install_command),
            package_manager=config.package_manager or "the package manager",
            network=str(runtime.get("network_mode", "none")) != "none",
            workdir=workdir,
            outputs_dir=options.get("outputs_dir") or f"{workdir.rstrip('/')}/outputs",
            plots=bool(
                options.get("enable_plotting", True)
                and config.plot_detection
                and config.plot_detection.enabled
            ),
            timeout=float(timeout) if timeout else None,
            stateful=self.is_stateful(name),
        )

    def is_stateful(self, lang: str | None = None) -> bool:
        """True when the sandboxes of ``lang`` keep variables between runs (see ``stateful``)."""
        name = self.resolve_language(lang)
        config = get_language(name).config
        if self.stateful is False or not config.kernel:
            return False
        image = self.options(name).get("image")
        return self.stateful is True or image in (None, config.default_image)

    def _resolve_policy(self, policy: Any) -> Any:
        if not isinstance(policy, str):
            return policy
        if policy not in self._policy_cache:
            try:
                from llm_sandbox.security import get_security_policy
            except ImportError as exc:  # pragma: no cover - the module ships with the library
                raise ValidationError(
                    f"security policy preset {policy!r} needs llm_sandbox.security ({exc}); "
                    "pass a SecurityPolicy object instead"
                ) from exc
            self._policy_cache[policy] = get_security_policy(policy)
        return self._policy_cache[policy]

    def _default_factory(self, key: str, lang: str) -> Any:
        options = self.options(lang)
        options["security_policy"] = self._resolve_policy(options.get("security_policy"))
        return self.new_session(lang, **options)

    def new_session(self, lang: str, **options: Any) -> Any:
        """An unopened session for ``lang`` with ``options`` (as :meth:`options` gives them, ``backend``
        included): an ``InteractiveSandboxSession`` collecting the outputs when :meth:`is_stateful`, else an
        ``ArtifactSandboxSession``. For ``session_factory`` functions that adjust the options first."""
        from llm_sandbox.sessions import ArtifactSandboxSession, InteractiveSandboxSession

        backend = options.pop("backend", self.backend)
        if self.is_stateful(lang):
            options.pop("enable_plotting", None)  # a kernel captures the figures of every cell
            return InteractiveSandboxSession(backend=backend, lang=lang, collect_files=True, **options)
        return ArtifactSandboxSession(backend, lang=lang, **options)

    def _key(self, key: str | None) -> str:
        return self.default_key if key is None or str(key) == "" else str(key)

    # -- leases ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self, key: str | None = None, lang: str | None = None) -> Iterator[ManagedSession]:
        """Hold the sandbox of ``key`` (opening it if needed) for the ``with`` block.

        A held sandbox is never reaped. Opening failures (engine down, image
        missing, initial libraries not installable) are raised from here.
        """
        lease = self.acquire(key, lang)
        try:
            yield lease
        finally:
            lease.release()

    def acquire(self, key: str | None = None, lang: str | None = None) -> ManagedSession:
        """Like :meth:`session`, without the ``with``: call ``release()`` on the result."""
        name = self.resolve_language(lang)
        entry = self._acquire_entry(self._key(key), name)
        return ManagedSession(entry, self._hooks)

    def _acquire_entry(self, key: str, lang: str) -> Slot:
        deadline = None if self.wait_timeout is None else time.monotonic() + self.wait_timeout
        while True:
            stale: Slot | None = None
            victim: Slot | None = None
            creator = False
            with self._cond:
                if self._closed:
                    raise ManagerClosedError("the session manager is closed; create a new SessionManager")
                entry = self._entries.get((key, lang))
                if entry is not None and entry.state == "open" and not _session_is_open(entry.session):
                    stale = self._detach(entry)
                elif entry is not None and entry.state in ("opening", "open"):
                    entry.leases += 1
                elif len(self._entries) + self._closing < self.max_sessions:
                    entry = Slot(key, lang)
                    entry.leases = 1
                    self._entries[(key, lang)] = entry
                    creator = True
                    self._start_reaper()
                else:
                    victim = self._lru_idle() if self.evict_idle else None
                    if victim is not None:
                        self._detach(victim)
                    else:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise SessionLimitError(self._limit_message())
                        self._cond.wait(remaining)
                        continue
            if stale is not None:
                self._close_entry(stale, "expired")
                continue
            if victim is not None:
                self._close_entry(victim, "evicted")
                continue
            assert entry is not None
            if creator:
                self._open(entry)
            else:
                entry.ready.wait()
                if entry.state != "open":
                    with self._cond:
                        entry.leases -= 1
                    if entry.error is not None:
                        raise entry.error
                    raise ManagerClosedError("the session manager was closed while the sandbox was opening")
            return entry

    def _limit_message(self) -> str:
        busy = sum(1 for e in self._entries.values() if e.leases)
        waited = f" after waiting {self.wait_timeout:g}s" if self.wait_timeout else ""
        evict = "" if self.evict_idle else ", set evict_idle=True to recycle idle sandboxes"
        return (
            f"all {self.max_sessions} sandboxes of this session manager are in use ({busy} busy, "
            f"{len(self._entries) - busy} idle){waited}; raise max_sessions, set a longer wait_timeout"
            f"{evict}, or close finished conversations with close_session(key)"
        )

    def _lru_idle(self) -> Slot | None:
        idle = [e for e in self._entries.values() if e.state == "open" and e.leases == 0]
        return min(idle, key=lambda e: e.last_used) if idle else None

    def _detach(self, entry: Slot) -> Slot:
        """Under the lock: take ``entry`` out of the table; the caller closes it (``_close_entry``)."""
        if self._entries.get((entry.key, entry.lang)) is entry:
            del self._entries[(entry.key, entry.lang)]
        entry.state = "closing"
        self._closing += 1
        return entry

    def _open(self, entry: Slot) -> None:
        started = time.monotonic()
        try:
            session = self._factory(entry.key, entry.lang)
            session.open()
        except BaseException as exc:
            with self._cond:
                entry.state = "failed"
                entry.error = exc
                entry.leases -= 1
                if self._entries.get((entry.key, entry.lang)) is entry:
                    del self._entries[(entry.key, entry.lang)]
                self._cond.notify_all()
            entry.ready.set()
            raise
        with self._cond:
            entry.session = session
            abandoned = entry.abandoned
            if not abandoned:
                entry.state = "open"
                entry.last_used = time.monotonic()
                entry.last_used_wall = time.time()
        entry.ready.set()
        if abandoned:
            with contextlib.suppress(Exception):
                session.close()
            raise ManagerClosedError("the session manager was closed while the sandbox was opening")
        self._emit(
            SessionOpened(
                session_key=entry.key,
                language=entry.lang,
                session_id=session_id_of(session),
                container_id=getattr(session, "container_id", None),
                open_duration=time.monotonic() - started,
            )
        )

    def _release(self, entry: Slot) -> None:
        broken = False
        with self._cond:
            entry.leases -= 1
            entry.last_used = time.monotonic()
            entry.last_used_wall = time.time()
            if entry.broken and entry.leases == 0 and self._entries.get((entry.key, entry.lang)) is entry:
                self._detach(entry)
                broken = True
            if entry.leases == 0:
                self._cond.notify_all()  # a key waiting for a slot may evict this sandbox now
        if broken:
            self._close_entry(entry, "error")

    def _close_entry(self, entry: Slot, reason: str) -> None:
        session = entry.session
        try:
            if session is not None:
                session.close()
        except Exception:
            logger.exception("closing the sandbox of %r failed", entry.key)
        finally:
            with self._cond:
                entry.state = "closed"
                self._closing -= 1
                self._cond.notify_all()
        if session is not None:
            self._emit(
                SessionClosed(
                    session_key=entry.key,
                    language=entry.lang,
                    session_id=session_id_of(session),
                    container_id=getattr(session, "container_id", None),
                    reason=reason,
                    run_count=entry.runs,
                    age=time.monotonic() - entry.created,
                )
            )

    # -- lifecycle ---------------------------------------------------------------------------
    def close_session(self, key: str | None = None, lang: str | None = None) -> bool:
        """Close the sandbox of ``key`` (all its languages when ``lang`` is None) now; True if one was open.

        A run in progress there is killed with the container.
        """
        key = self._key(key)
        names = [self.resolve_language(lang)] if lang else list(self.languages)
        victims = []
        with self._cond:
            for name in names:
                entry = self._entries.get((key, name))
                if entry is None:
                    continue
                if entry.state == "opening":
                    entry.abandoned = True
                    del self._entries[(key, name)]
                    self._cond.notify_all()
                elif entry.state == "open":
                    victims.append(self._detach(entry))
        for entry in victims:
            self._close_entry(entry, "closed")
        return bool(victims)

    def reap_idle(self, idle_timeout: float | None = None) -> int:
        """Close sandboxes unused for ``idle_timeout`` seconds (default: the manager's); returns how many.

        The manager's reaper thread calls this periodically; call it yourself to reap now
        (``reap_idle(0)`` closes every sandbox not in use).
        """
        limit = check_timeout(idle_timeout, "idle_timeout", allow_zero=True)
        limit = self.idle_timeout if limit is None else limit
        if limit is None:
            return 0
        now = time.monotonic()
        with self._cond:
            victims = [
                self._detach(e)
                for e in list(self._entries.values())
                if e.state == "open" and e.leases == 0 and now - e.last_used >= limit
            ]
        for entry in victims:
            self._close_entry(entry, "idle")
        return len(victims)

    def _start_reaper(self) -> None:
        if self._reaper is None and self.idle_timeout is not None:
            self._reaper = threading.Thread(
                target=_reaper_loop,
                args=(weakref.ref(self), self._stop),
                name="llm-sandbox-reaper",
                daemon=True,
            )
            self._reaper.start()

    def close(self) -> None:
        """Close every sandbox (killing runs in progress) and stop the manager. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            entries = list(self._entries.values())
            self._entries.clear()
            victims = []
            for entry in entries:
                if entry.state == "opening":
                    entry.abandoned = True
                elif entry.state == "open":
                    entry.state = "closing"
                    self._closing += 1
                    victims.append(entry)
            self._cond.notify_all()
        self._stop.set()
        self._finalizer.detach()
        _close_all(victims, lambda e: self._close_entry(e, "manager_closed"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        _live_managers.discard(self)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def __enter__(self) -> SessionManager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> SessionManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- observability -----------------------------------------------------------------------
    def sessions(self) -> list[SessionInfo]:
        """The live sandboxes, oldest first."""
        now = time.monotonic()
        with self._cond:
            entries = sorted(self._entries.values(), key=lambda e: e.created)
            return [
                SessionInfo(
                    key=e.key,
                    language=e.lang,
                    state=e.state,
                    session_id=session_id_of(e.session),
                    container_id=getattr(e.session, "container_id", None) if e.session is not None else None,
                    age=now - e.created,
                    idle=0.0 if e.leases else now - e.last_used,
                    run_count=e.runs,
                    in_use=e.leases,
                    created_at=e.created_wall,
                    last_used_at=e.last_used_wall,
                )
                for e in entries
            ]

    def subscribe(self, callback: EventCallback, *, kinds: Iterable[str] | None = None) -> Subscription:
        """Call ``callback(event)`` for every event (or only the given ``kinds``, e.g. ``{"output"}``).

        Callbacks run synchronously in the thread doing the work (worker
        threads for async calls), possibly several at once: keep them quick
        and thread-safe. Exceptions they raise are logged and ignored. For
        asyncio consumers use :meth:`events`.
        """
        subscription = Subscription(self._unsubscribe, callback, frozenset(kinds) if kinds is not None else None)
        with self._cond:
            self._subscribers = (*self._subscribers, subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._cond:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscription)

    def events(self, *, kinds: Iterable[str] | None = None, maxsize: int = 10000) -> EventStream:
        """An async iterator of events, bound to the running event loop (see :class:`EventStream`)."""
        return EventStream(self.subscribe, kinds, maxsize)

    def _emit(self, event: SandboxEvent) -> None:
        for subscription in self._subscribers:
            if subscription.wants(event):
                try:
                    subscription.callback(event)
                except Exception:
                    logger.exception("an llm-sandbox event subscriber failed on %s", event.kind)

    # -- convenience operations --------------------------------------------------------------
    def run(
        self,
        key: str | None,
        code: str,
        *,
        lang: str | None = None,
        libraries: Sequence[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        run_id: str | None = None,
    ) -> ExecutionResult:
        """Run ``code`` in the sandbox of ``key`` (see :meth:`ManagedSession.run`)."""
        with self.session(key, lang) as session:
            return session.run(
                code,
                libraries=libraries,
                timeout=timeout,
                on_stdout=on_stdout,
                on_stderr=on_stderr,
                run_id=run_id,
            )

    async def arun(
        self,
        key: str | None,
        code: str,
        *,
        lang: str | None = None,
        libraries: Sequence[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        run_id: str | None = None,
    ) -> ExecutionResult:
        """:meth:`run` in the manager's thread pool; cancelling the call interrupts the run."""
        return await self.run_in_thread(
            self.run, key, code, lang=lang, libraries=libraries, timeout=timeout,
            on_stdout=on_stdout, on_stderr=on_stderr, run_id=run_id, cancellable=True,
        )  # fmt: skip

    def install(self, key: str | None, libraries: Sequence[str], *, lang: str | None = None) -> ConsoleOutput:
        """Install ``libraries`` into the sandbox of ``key``."""
        with self.session(key, lang) as session:
            return session.install(libraries)

    async def ainstall(
        self, key: str | None, libraries: Sequence[str], *, lang: str | None = None
    ) -> ConsoleOutput:
        return await self.run_in_thread(self.install, key, libraries, lang=lang)

    async def run_in_thread(
        self,
        fn: Callable[..., T],
        /,
        *args: Any,
        cancellable: bool = False,
        **kwargs: Any,
    ) -> T:
        """Await ``fn(*args, **kwargs)`` run in the manager's thread pool (context variables preserved).

        With ``cancellable=True``, cancelling the await interrupts the run, install,
        command or reset that ``fn`` has in progress, and no later one of it begins
        (the worker thread then returns promptly). Another caller's run in the same
        sandbox is never touched, even one that begins as this one ends.
        """
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        cancellation = Cancellation() if cancellable else None
        context.run(current_cancellation.set, cancellation)
        future = loop.run_in_executor(self._worker_threads(), functools.partial(context.run, fn, *args, **kwargs))
        try:
            return await future
        except asyncio.CancelledError:
            if cancellation is not None and not self._closed:
                with contextlib.suppress(RuntimeError):
                    self._worker_threads().submit(cancellation.cancel)
            raise

    def _worker_threads(self) -> ThreadPoolExecutor:
        with self._cond:
            if self._closed:
                raise ManagerClosedError("the session manager is closed; create a new SessionManager")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._max_workers, thread_name_prefix="llm-sandbox-agent")
            return self._executor

    def interrupt(self, key: str | None = None, lang: str | None = None) -> bool:
        """Kill the code running in the sandbox of ``key`` (its files stay). True if a run was interrupted.

        The interrupted run returns (exit code 125 or the signal's) and its
        :class:`RunFinished` event has ``cancelled=True``.
        """
        key = self._key(key)
        names = [self.resolve_language(lang)] if lang else list(self.languages)
        interrupted = False
        for name in names:
            with self._cond:
                entry = self._entries.get((key, name))
                if entry is None or entry.state != "open" or not entry.active_runs:
                    continue
                entry.interrupts += 1
                session = entry.session
            interrupted = interrupt_session(session) or interrupted
        return interrupted


_live_managers: weakref.WeakSet[SessionManager] = weakref.WeakSet()


@atexit.register
def _close_live_managers() -> None:
    for manager in list(_live_managers):
        with contextlib.suppress(Exception):
            manager.close()


def _finalize(
    entries: dict[tuple[str, str], Slot], stop: threading.Event, lock: threading.Condition
) -> None:
    """Close the sandboxes of a manager that was garbage collected without close()."""
    stop.set()
    with lock:
        sessions = [e.session for e in entries.values() if e.session is not None]
        entries.clear()
    for session in sessions:
        with contextlib.suppress(Exception):
            session.close()


def _reaper_loop(ref: weakref.ReferenceType[SessionManager], stop: threading.Event) -> None:
    while True:
        manager = ref()
        if manager is None or manager.closed:
            return
        interval = manager.reap_interval
        try:
            manager.reap_idle()
        except Exception:
            logger.exception("reaping idle sandboxes failed")
        del manager
        if stop.wait(interval):
            return


def _close_all(entries: list[Slot], close: Callable[[Slot], None]) -> None:
    """Close several sandboxes in parallel (sequentially when threads are unavailable, e.g. at exit)."""
    if len(entries) <= 1:
        for entry in entries:
            close(entry)
        return
    threads = []
    for entry in entries:
        try:
            thread = threading.Thread(target=close, args=(entry,), daemon=True)
            thread.start()
            threads.append(thread)
        except RuntimeError:
            close(entry)
    for thread in threads:
        thread.join()


def _session_is_open(session: Any) -> bool:
    return bool(getattr(session, "is_open", True))


__all__ = ["DEFAULT_IDLE_TIMEOUT", "DEFAULT_MAX_SESSIONS", "DEFAULT_WAIT_TIMEOUT", "SessionManager"]

"""Pools of warm sandboxes: containers made ahead of need, lent to one session at a time, reset between users.

``create_pool_manager(backend=..., config=PoolConfig(...), lang=..., **session options)`` makes a
:class:`ContainerPoolManager`; ``create_session(pool=pool)`` (and ``SandboxSession``,
``ArtifactSandboxSession``, ``InteractiveSandboxSession``, ``SessionManager`` with ``pool=``)
takes a container from it at open and gives it back at close.

* **Made like any session's.** Each container is created by a session of the pool's kind
  (the member), opened with the pool's options, so it gets exactly the hardening, labels,
  packages volume and libraries a session would give it; the first member's packages
  become the pool's *base* (a tar archive on this machine), which later members and every
  reset copy in instead of installing again.
* **Outside any lock.** Creations, resets, health checks and removals run in background
  threads; the pool's lock only guards its bookkeeping, so :meth:`~ContainerPoolManager.acquire`
  takes an idle container at once whatever else is being started, and ``release`` returns at
  once (the reset is off the caller's path).
* **Reset, proven or replaced** (:mod:`.pooled` does it). A returned container is ended for its
  user first (:class:`~llm_sandbox.sessions.lease.LeasedEngine`: nothing the user still holds can
  start anything in it again), then every process of the sandbox user is killed (``runtime/kill.sh``
  confirms it), every writable filesystem is emptied of the user's files and System V IPC
  objects removed (``runtime/reset.sh`` checks it), the packages are the base again (their
  listing with change times shows any write; else the base is copied back in), the
  environment and the filesystems' roots are as when the container was new, and the warm
  processes (the warm runner, kernels a user started) are started afresh. If a step fails
  or cannot be confirmed, the container is destroyed and another made in its place.
* **Health.** Idle containers are checked every ``health_check_interval`` (each warm
  process answers, or an exec runs); dead ones are replaced, ones idle for ``idle_timeout``
  removed (down to ``min_pool_size``), ones past ``max_container_lifetime`` or
  ``max_container_uses`` retired. ``close()``, the end of a ``with`` block and interpreter
  exit remove every container and volume of the pool.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any

from llm_sandbox.const import SandboxBackend, SupportedLanguage
from llm_sandbox.engines.base import ExecDeadlineExceeded
from llm_sandbox.exceptions import (
    ContainerError,
    PoolClosedError,
    PoolExhaustedError,
    UnsupportedBackendError,
    ValidationError,
)
from llm_sandbox.sessions.artifact import ArtifactSandboxSession
from llm_sandbox.sessions.kinds import SESSION_KINDS, create_session
from llm_sandbox.sessions.output import OutputLimits
from llm_sandbox.sessions.pooled import (
    Base,
    ContainerState,
    Member,
    PooledContainer,
    WarmSpec,
    new_lease,
    read_state,
    reset,
    take_base,
    warm_key,
    write_packages,
)
from llm_sandbox.sessions.runner import ARTIFACTS_SH
from llm_sandbox.sessions.session import Session
from llm_sandbox.sessions.warm import ProcessEnded, warm_command
from llm_sandbox.timeouts import check_timeout

logger = logging.getLogger("llm_sandbox")

PROBE_TIMEOUT = 10.0
"""Seconds a health check waits for an idle container to answer."""

SESSION_OPTIONS = frozenset(
    {
        "verbose",
        "stream",
        "security_policy",
        "default_timeout",
        "execution_timeout",
        "session_timeout",
        "skip_environment_setup",
        "encoding_errors",
        "max_output_bytes",
        "max_copy_bytes",
        "outputs_dir",
        "install_timeout",
        "libraries",
    }
)
"""A pooled session's own options; every other option is the pool's (the container is made with it)."""


class ExhaustionStrategy(StrEnum):
    """What ``acquire()`` does when every container of a pool at ``max_pool_size`` is in use."""

    FAIL_FAST = "fail_fast"
    """Raise :class:`PoolExhaustedError` at once."""
    WAIT = "wait"
    """Wait up to ``acquisition_timeout`` for one to come back (reset), then raise."""
    TEMPORARY = "temporary"
    """Create a container outside the pool for this session (removed when it closes)."""


@dataclass(frozen=True)
class PoolConfig:
    """How a pool behaves (names and defaults of the original package).

    ``max_pool_size`` containers at most (temporaries aside); ``min_pool_size`` kept
    ready (created at once and replaced when lost, with ``enable_prewarming``; never
    reaped below). ``idle_timeout``: an idle container unused that long is removed.
    ``acquisition_timeout``: the longest ``acquire()`` waits (None: no limit).
    ``health_check_interval``: how often idle containers are checked.
    ``max_container_lifetime`` / ``max_container_uses``: a container is retired past
    either. Seconds everywhere; None means no limit.
    """

    max_pool_size: int = 10
    min_pool_size: int = 0
    idle_timeout: float | None = 300.0
    acquisition_timeout: float | None = 30.0
    health_check_interval: float = 60.0
    max_container_lifetime: float | None = 3600.0
    max_container_uses: int | None = None
    exhaustion_strategy: ExhaustionStrategy = ExhaustionStrategy.WAIT
    enable_prewarming: bool = True

    def __post_init__(self) -> None:
        for name, lowest in (("max_pool_size", 1), ("min_pool_size", 0), ("max_container_uses", 1)):
            value = getattr(self, name)
            if value is None and name == "max_container_uses":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise ValidationError(f"{name} must be a whole number of at least {lowest}, got {value!r}")
        if self.min_pool_size > self.max_pool_size:
            raise ValidationError(
                f"min_pool_size ({self.min_pool_size}) cannot be greater than max_pool_size ({self.max_pool_size})"
            )
        for name in ("idle_timeout", "acquisition_timeout", "max_container_lifetime"):
            object.__setattr__(self, name, check_timeout(getattr(self, name), name, none_means="no limit"))
        interval = check_timeout(self.health_check_interval, "health_check_interval")
        if interval is None:
            raise ValidationError("health_check_interval must be a number of seconds above 0, not None")
        object.__setattr__(self, "health_check_interval", interval)
        try:
            object.__setattr__(self, "exhaustion_strategy", ExhaustionStrategy(self.exhaustion_strategy))
        except ValueError:
            choices = ", ".join(strategy.value for strategy in ExhaustionStrategy)
            raise ValidationError(
                f"exhaustion_strategy must be one of {choices}, got {self.exhaustion_strategy!r}"
            ) from None
        if not isinstance(self.enable_prewarming, bool):
            raise ValidationError(f"enable_prewarming must be True or False, got {self.enable_prewarming!r}")


class _Ticket:
    """A creation a waiting caller asked for: it learns when it failed (and why)."""

    def __init__(self) -> None:
        self.done = False
        self.error: Exception | None = None


class ContainerPoolManager:
    """A pool of warm sandbox containers; see the module docstring. Make one with :func:`create_pool_manager`.

    Thread-safe. ``acquire()``/``release()`` are what pooled sessions call; most code
    only passes the pool to a session (``create_session(pool=pool)``).
    """

    def __init__(
        self,
        client: Any = None,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        config: PoolConfig | None = None,
        lang: str = SupportedLanguage.PYTHON,
        **session_options: Any,
    ) -> None:
        try:
            self.backend = SandboxBackend(str(backend).lower())
        except ValueError:
            raise UnsupportedBackendError(str(backend), [b.value for b in SandboxBackend]) from None
        self.config = PoolConfig() if config is None else config
        if not isinstance(self.config, PoolConfig):
            raise ValidationError(f"config must be a PoolConfig, not {type(self.config).__name__}")
        if self.backend is SandboxBackend.KUBERNETES and "namespace" in session_options:
            session_options["kube_namespace"] = session_options.pop("namespace")  # the original's name
        for option, why in (("container_id", "it creates its own"), ("commit_container", "its containers are reset")):
            if session_options.get(option):
                raise ValidationError(f"{option}= is not available for a pool: {why}")
        self.session_kind: type[Session] = SESSION_KINDS[self.backend]
        self.client = client
        members = {key: value for key, value in session_options.items() if key != "session_timeout"}
        prototype = self.session_kind(client, lang=lang, **members)  # checks every option now
        _refuse_writable_mounts(prototype.runtime_configs)
        self.lang = prototype.lang
        self.workdir = prototype.workdir
        self.image = prototype.image or (None if prototype.dockerfile else prototype.language.config.default_image)
        self.options: dict[str, Any] = {**session_options, "lang": self.lang}
        """The session options the pool was made with: its containers', and its sessions' defaults."""
        self._member_options = {**members, "lang": self.lang, "keep_template": True}
        self._keep_template = bool(session_options.get("keep_template"))
        self.engine = prototype.engine  # connects now: a pool is made to be used at once
        self._cond = threading.Condition()
        self._members: list[Member] = []
        self._idle: collections.deque[Member] = collections.deque()
        self._temporaries: set[Member] = set()
        self._starting: set[Session] = set()
        self._creating = 0
        self._waiting = 0
        self._counts = collections.Counter[str]()
        self._closed = False
        self._jobs: set[threading.Thread] = set()
        self._stop = threading.Event()
        self._base: Base | None = None
        self._base_lock = threading.Lock()
        self._templates: set[str] = set()
        _live_pools.add(self)
        if self.config.enable_prewarming:
            self._refill()
        threading.Thread(
            target=_check_periodically,
            args=(weakref.ref(self), self._stop, self.config.health_check_interval),
            name="llm-sandbox-pool-health",
            daemon=True,
        ).start()

    # checkout ---------------------------------------------------------------------------------
    def acquire(self) -> PooledContainer:
        """A container for one user: an idle one at once, else as the exhaustion strategy says.

        Never waits behind another caller's container start while an idle container exists.
        Raises :class:`PoolExhaustedError` (``FAIL_FAST``, or after ``acquisition_timeout``),
        :class:`PoolClosedError`, or the error of the container start it had to wait for.
        """
        timeout = self.config.acquisition_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        ticket: _Ticket | None = None
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise PoolClosedError()
                    if self._idle:
                        return self._checkout(self._idle.popleft())
                    if ticket is not None and ticket.error is not None:
                        raise ticket.error
                    if (ticket is None or ticket.done) and self._room() > 0 and self._creating < self._waiting:
                        ticket = self._start_creation(_Ticket())
                    elif self._exhausted():
                        if self.config.exhaustion_strategy is ExhaustionStrategy.FAIL_FAST:
                            raise PoolExhaustedError(self.config.max_pool_size)
                        if self.config.exhaustion_strategy is ExhaustionStrategy.TEMPORARY:
                            break
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise self._timed_out(timeout)
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1
        return self._temporary()

    def release(self, container: PooledContainer) -> None:
        """Give a container back. Returns at once: the reset (or removal) runs in the background.

        Nothing obtained through ``container`` can start anything in it any more.
        """
        member = container._member
        with self._cond:
            if member.lease is not container or member.state is not ContainerState.BUSY:
                return  # given back already, or removed with the pool
            retire = self._closed or member.temporary or self._worn_out(member, time.monotonic())
            if retire:
                self._forget(member)
                if not member.temporary:
                    self._counts["replaced"] += 1
            member.state = ContainerState.REMOVING if retire else ContainerState.RESETTING
        container.engine.end("this sandbox was given back to its pool; open a new session")
        self._spawn(self._recycle, member, container, retire)

    def _checkout(self, member: Member) -> PooledContainer:
        member.state = ContainerState.BUSY
        member.use_count += 1
        if member.use_count > 1:
            self._counts["reused"] += 1
        member.last_used, member.last_used_at = time.monotonic(), time.time()
        assert member.lease is not None
        return member.lease

    def _room(self) -> int:
        return self.config.max_pool_size - len(self._members) - self._creating

    def _exhausted(self) -> bool:
        """Every container is lent out and the pool may not grow (none is being started or reset)."""
        busy = all(member.state is ContainerState.BUSY for member in self._members)
        return self._room() <= 0 and self._creating == 0 and busy

    def _timed_out(self, timeout: float | None) -> PoolExhaustedError:
        starting = f"{self._creating} container(s) still starting" if self._creating else None
        return PoolExhaustedError(self.config.max_pool_size, timeout, starting)

    def _temporary(self) -> PooledContainer:
        """A container outside the pool for this caller (``TEMPORARY``), removed when it is given back."""
        member = self._new_member(temporary=True)
        with self._cond:
            closed = self._closed
            if not closed:
                self._temporaries.add(member)
                return self._checkout(member)
        self._destroy(member)
        raise PoolClosedError()

    # creation ---------------------------------------------------------------------------------
    def _start_creation(self, ticket: _Ticket | None) -> _Ticket | None:
        """Start one container in the background (call with the lock held)."""
        self._creating += 1
        self._spawn(self._create, ticket)
        return ticket

    def _create(self, ticket: _Ticket | None) -> None:
        try:
            member = self._new_member(temporary=False)
        except Exception as exc:
            with self._cond:
                self._creating -= 1
                if not self._closed:
                    self._counts["failed"] += 1
                    logger.warning("a pooled container could not be created: %s", exc)
                if ticket is not None:
                    ticket.error = exc
                self._cond.notify_all()
            return
        with self._cond:
            self._creating -= 1
            if ticket is not None:
                ticket.done = True
            closed = self._closed
            if not closed:
                member.state = ContainerState.IDLE
                self._members.append(member)
                self._idle.append(member)
                self._cond.notify_all()
        if closed:
            self._destroy(member)

    def _new_member(self, *, temporary: bool) -> Member:
        """Create a container with the pool's options, its packages the base, its warm processes up."""
        session = self.session_kind(self.client, **self._member_options)
        session._engine = self.engine
        session._warm_processes = False
        with self._cond:
            if self._closed:
                raise PoolClosedError()
            self._starting.add(session)
        try:
            base = self._open(session)
            if session._built_template and not self._keep_template:
                self._templates.add(session._built_template)
            member = Member(session, temporary, base.installed)
            member.clean = read_state(session, "state")
            runner = session.language.config.warm_runner
            if runner is not None and session.command_wrapper is None:
                argv = warm_command(runner, ARTIFACTS_SH)
                member.warm[warm_key(argv, None)] = WarmSpec(argv, None)
            member.lease = new_lease(member, first=True)
            return member
        except BaseException:
            session.close()
            raise
        finally:
            with self._cond:
                self._starting.discard(session)

    def _open(self, session: Session) -> Base:
        """Open a member session with the pool's base packages; the first member's packages become the base."""
        with self._base_lock:
            if self._base is None:
                session.open()  # installs the pool's libraries=
                self._base = take_base(session)
                weakref.finalize(self, _unlink_quietly, self._base.path)
                return self._base
        base = self._base
        if base.installed:  # the base's libraries are copied in: no installer, no network
            session.skip_environment_setup = True
            session.open()
            write_packages(session, base)
        else:
            session.open()
        return base

    # reset --------------------------------------------------------------------------------------
    def _recycle(self, member: Member, lease: PooledContainer, retire: bool) -> None:
        """Reset a container given back (or remove it); in the background."""
        lease.engine.remove_helpers()  # a library installer the user left running
        if retire:
            self._destroy(member)
            self._refill()
            return
        try:
            assert self._base is not None  # taken when the first container was made
            reset(member, lease, self._base)
        except Exception as exc:
            with self._cond:
                gone = member.state is ContainerState.REMOVING  # the pool was closed meanwhile
                if not gone:
                    logger.warning("pooled container %s not reset (%s); replacing it", member.container_id[:12], exc)
                    self._counts["failed"] += 1
                    self._counts["replaced"] += 1
                    self._forget(member)
                    member.state = ContainerState.UNHEALTHY
            self._destroy(member)
            self._refill()
            return
        with self._cond:
            if member.state is ContainerState.RESETTING:
                member.state = ContainerState.IDLE
                self._idle.append(member)
                self._cond.notify_all()

    # health -------------------------------------------------------------------------------------
    def check_health(self) -> int:
        """Check the idle containers now (the pool does it every ``health_check_interval``).

        Replaces those that are dead or do not answer, retires those past
        ``max_container_lifetime``, removes those idle longer than ``idle_timeout``
        (down to ``min_pool_size``), then makes up ``min_pool_size``. Returns how many were removed.
        """
        now = time.monotonic()
        with self._cond:
            idle = [(member, member.lease) for member in self._idle]
        verdicts = []
        for member, lease in idle:
            if member.state is not ContainerState.IDLE:
                continue
            if self._worn_out(member, now):
                verdicts.append((member, lease, "replaced"))
            elif self.config.idle_timeout is not None and now - member.last_used > self.config.idle_timeout:
                verdicts.append((member, lease, "idle"))
            elif lease is not None and not self._answers(lease):
                verdicts.append((member, lease, "failed"))
        removed = 0
        for member, lease, verdict in verdicts:  # decided without the lock: lent out since? then it stays
            with self._cond:
                if member.state is not ContainerState.IDLE or member.lease is not lease:
                    continue  # lent out (or reset for someone else) since
                if verdict == "idle" and len(self._members) <= self.config.min_pool_size:
                    continue
                self._forget(member)
                member.state = ContainerState.REMOVING if verdict == "idle" else ContainerState.UNHEALTHY
                if verdict == "failed":
                    logger.warning("pooled container %s does not answer; replacing it", member.container_id[:12])
                    self._counts["failed"] += 1
                if verdict != "idle":
                    self._counts["replaced"] += 1
            self._spawn(self._destroy, member)
            removed += 1
        self._refill()
        return removed

    def _answers(self, lease: PooledContainer) -> bool:
        """Each warm process of an idle container answers a hello (or, without one, an exec runs)."""
        deadline = time.monotonic() + PROBE_TIMEOUT
        try:
            processes = [slot.current for _, slot in lease.slots() if slot.current is not None]
            for process in processes:
                code, _, _ = process.request({"op": "hello"}, OutputLimits(4096, "replace"), deadline)
                if code != 0:
                    return False
            if not processes:
                return self.engine.exec(lease.container_id, ["true"], user=lease.user, deadline=deadline) == 0
        except (ProcessEnded, ExecDeadlineExceeded, ContainerError):
            return False
        return True

    def _worn_out(self, member: Member, now: float) -> bool:
        lifetime, uses = self.config.max_container_lifetime, self.config.max_container_uses
        return (lifetime is not None and now - member.created > lifetime) or (
            uses is not None and member.use_count >= uses
        )

    def _refill(self) -> None:
        """Start containers up to ``min_pool_size`` (with prewarming), and wake callers waiting for room."""
        with self._cond:
            if self._closed:
                return
            floor = self.config.min_pool_size if self.config.enable_prewarming else 0
            for _ in range(min(floor - len(self._members) - self._creating, self._room())):
                self._start_creation(None)
            self._cond.notify_all()

    # removal ------------------------------------------------------------------------------------
    def _forget(self, member: Member) -> None:
        """Take ``member`` out of the pool's books (call with the lock held)."""
        if member in self._members:
            self._members.remove(member)
        if member in self._idle:
            self._idle.remove(member)
        self._temporaries.discard(member)

    def _destroy(self, member: Member) -> None:
        """Remove the container and its volume (its session does, as any session's close)."""
        lease = member.lease
        if lease is not None:
            lease.engine.end("the pool removed this sandbox; open a new session")
            lease.engine.remove_helpers()
        member.session.close()
        if lease is not None:
            lease.close_slots()

    def close(self) -> None:
        """Remove every container and volume of the pool, lent out or not (their sessions' next operations
        fail), and stop its background work. Idempotent; also run at interpreter exit."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            members = [*self._members, *self._temporaries]
            self._members.clear()
            self._idle.clear()
            self._temporaries.clear()
            for member in members:
                member.state = ContainerState.REMOVING
            starting = list(self._starting)
            self._cond.notify_all()
        self._stop.set()
        for member in members:
            if member.lease is not None:
                member.lease.engine.end("the pool was closed; its sandboxes are removed")
        removals = [functools.partial(self._destroy, member) for member in members]
        _all_at_once([*removals, *(session.close for session in starting)])
        with self._cond:
            jobs = [job for job in self._jobs if job is not threading.current_thread()]
        for job in jobs:
            job.join()
        for template in self._templates:
            with contextlib.suppress(Exception):
                self.engine.remove_image(template)

    @property
    def closed(self) -> bool:
        return self._closed

    def get_stats(self) -> dict[str, Any]:
        """The pool now: ``total`` containers (``idle``, ``busy``, ``resetting``), ``creating`` (being
        started), ``temporary`` (outside the pool), ``waiting`` (callers in ``acquire()``); and since it
        was made: ``failed`` (containers that failed to start, reset or answer), ``reused`` (checkouts of
        a container used before), ``replaced`` (containers retired early: failures, lifetime, uses).
        Also the original package's ``total_size``, ``max_size``, ``min_size``, ``state_counts``, ``closed``."""
        with self._cond:
            states = collections.Counter(member.state for member in self._members)
            return {
                "total": len(self._members),
                "idle": states[ContainerState.IDLE],
                "busy": states[ContainerState.BUSY],
                "resetting": states[ContainerState.RESETTING],
                "creating": self._creating,
                "temporary": len(self._temporaries),
                "waiting": self._waiting,
                "failed": self._counts["failed"],
                "reused": self._counts["reused"],
                "replaced": self._counts["replaced"],
                "total_size": len(self._members),
                "max_size": self.config.max_pool_size,
                "min_size": self.config.min_pool_size,
                "state_counts": {state.value: states[state] for state in ContainerState},
                "closed": self._closed,
            }

    def session_options(self, backend: SandboxBackend | str, options: dict[str, Any]) -> dict[str, Any]:
        """The options of a pooled session asked for with ``options``: the pool's, then the session's own.

        An option of the container that differs from the pool's is refused (the container is made already).
        """
        if self._closed:
            raise PoolClosedError()
        if str(backend).lower() not in (self.backend.value, SandboxBackend.DOCKER.value):
            raise ValidationError(
                f"backend={backend!r}: this pool's containers run on {self.backend.value}; leave backend unset"
            )
        merged = {**self.options, "pool": self}
        for key, value in options.items():
            if key == "pool" or _unset(value):
                continue
            if key in SESSION_OPTIONS:
                merged[key] = value
            elif value != merged.get(key):
                raise ValidationError(
                    f"{key}={value!r}: a pooled session runs in a container the pool made (its {key} is "
                    f"{merged.get(key)!r}); create a pool with {key}={value!r} for such sessions, or open this "
                    "one without pool="
                )
        return merged

    # background work ----------------------------------------------------------------------------
    def _spawn(self, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` in a thread of its own (here, when the interpreter is shutting down and
        starts no more threads); ``close()`` waits for it."""

        def job() -> None:
            try:
                action(*args)
            except Exception:
                logger.exception("pool work %s failed", action.__name__)
            finally:
                with self._cond:
                    self._jobs.discard(thread)

        thread = threading.Thread(target=job, name=f"llm-sandbox-pool{action.__name__}")
        with self._cond:
            self._jobs.add(thread)
        try:
            thread.start()
        except RuntimeError:
            job()

    def __enter__(self) -> ContainerPoolManager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, dict | list | tuple | set) and not value)


def _refuse_writable_mounts(runtime_configs: dict[str, Any]) -> None:
    """A writable host directory or named volume would be shared by every user of the pool."""
    shared = [
        str(mount.get("Target"))
        for mount in runtime_configs.get("mounts") or []
        if isinstance(mount, dict) and mount.get("Source") and not mount.get("ReadOnly")
    ]
    volumes = runtime_configs.get("volumes") or {}
    if isinstance(volumes, dict):
        binds = [(str(v.get("bind")), str(v.get("mode", "rw"))) for v in volumes.values() if isinstance(v, dict)]
    else:  # "source:target[:mode]"; a bare "target" is the container's own anonymous volume
        binds = [(*str(item).split(":")[1:3], "rw")[:2] for item in volumes if ":" in str(item)]  # type: ignore[misc]
    shared += [target for target, mode in binds if "ro" not in mode.split(",")]
    if shared:
        raise ValidationError(
            f"writable shared mounts ({', '.join(shared)}) cannot be given to a pool: every user of its containers "
            "would see the files of the one before. Mount them read-only, or copy files in per session"
        )


def _all_at_once(actions: list[Callable[[], None]]) -> None:
    """Run ``actions`` in threads of their own and wait for them (one after the other when the
    interpreter is shutting down and starts no more threads)."""
    threads = [threading.Thread(target=action) for action in actions]
    started = []
    for thread, action in zip(threads, actions, strict=True):
        try:
            thread.start()
            started.append(thread)
        except RuntimeError:
            action()
    for thread in started:
        thread.join()


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _check_periodically(pool: weakref.ref[ContainerPoolManager], stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        alive = pool()
        if alive is None:
            return
        try:
            alive.check_health()
        except Exception:
            logger.exception("checking the pool's containers failed")
        del alive


_live_pools: weakref.WeakSet[ContainerPoolManager] = weakref.WeakSet()


@atexit.register
def _close_live_pools() -> None:
    for pool in list(_live_pools):
        with contextlib.suppress(Exception):
            pool.close()


def create_pool_manager(
    client: Any = None,
    backend: SandboxBackend | str = SandboxBackend.DOCKER,
    config: PoolConfig | None = None,
    lang: str = SupportedLanguage.PYTHON,
    **session_options: Any,
) -> ContainerPoolManager:
    """A pool of warm containers for ``lang`` on ``backend`` (``docker``, ``podman``, ``kubernetes``...).

    ``client`` is the engine's client (as for a session of that backend); ``config``
    a :class:`PoolConfig`; every other option is a session option (``image``,
    ``runtime_configs``, ``libraries`` preinstalled in every container, ``kube_namespace``
    or ``namespace``...), the same for all of the pool's containers, and the default of its
    sessions'. Use it with ``with`` (or call ``close()``).
    """
    return ContainerPoolManager(client, backend, config, lang, **session_options)


def PooledSandboxSession(pool_manager: ContainerPoolManager, **options: Any) -> Session:
    """The original package's pooled session: ``create_session(pool=pool_manager, **options)``."""
    return create_session(pool=pool_manager, **options)


def ArtifactPooledSandboxSession(pool_manager: ContainerPoolManager, **options: Any) -> ArtifactSandboxSession:
    """The original package's pooled artifact session: ``ArtifactSandboxSession(pool=pool_manager, **options)``."""
    return ArtifactSandboxSession(pool=pool_manager, **options)


__all__ = [
    "SESSION_OPTIONS",
    "ArtifactPooledSandboxSession",
    "ContainerPoolManager",
    "ContainerState",
    "ExhaustionStrategy",
    "PoolConfig",
    "PooledContainer",
    "PooledSandboxSession",
    "create_pool_manager",
]

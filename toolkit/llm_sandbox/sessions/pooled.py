"""A pooled container: its checkouts (:class:`PooledContainer`) and its reset between two users.

The pool (:mod:`.pool`) decides when; this module does the work on one container, made by
a session of the pool's kind (the *member*'s session, which also removes it):

* :func:`new_lease` prepares the next checkout: a :class:`~.lease.LeasedEngine` of its own,
  and the container's warm processes started afresh through it (and waited for).
* :func:`reset` makes the container as it was when new, proving each step (see
  ``docs/pools.md``), or raises :class:`PoolHealthCheckError`: the pool then replaces it.
* :func:`take_base` / :func:`write_packages`: the packages every container of the pool
  starts with, kept as an archive on this machine and copied into a container.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from llm_sandbox.contract import PACKAGES_DIR, runtime_file
from llm_sandbox.exceptions import ContainerError, PoolHealthCheckError
from llm_sandbox.sessions import installer
from llm_sandbox.sessions.lease import LeasedEngine
from llm_sandbox.sessions.sandbox import Sandbox
from llm_sandbox.sessions.session import Session
from llm_sandbox.sessions.warm import WarmSlot

DRAIN_TIMEOUT = 30.0
"""Seconds a reset waits for the last user's operations to return once its processes were killed."""
KILL_ROUNDS = 4
"""How many times a reset asks ``Runner.kill_everything()`` to confirm the kill before it gives up."""
_RESET_SH = runtime_file("reset.sh")


class ContainerState(StrEnum):
    """Where a pooled container is: ``initializing → idle → busy → resetting → idle ...``, ``removing`` last."""

    INITIALIZING = "initializing"
    IDLE = "idle"
    BUSY = "busy"
    RESETTING = "resetting"
    UNHEALTHY = "unhealthy"
    REMOVING = "removing"


WarmKey = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]


def warm_key(argv: list[str], environment: dict[str, str] | None) -> WarmKey:
    return tuple(argv), tuple(sorted((environment or {}).items()))


@dataclass
class WarmSpec:
    """A warm process the container's users get started for them (the warm runner, a kernel someone used)."""

    argv: list[str]
    environment: dict[str, str] | None
    unavailable: str | None = None
    """Why it cannot start in this image (its users then do without it)."""


@dataclass(eq=False)
class Member:
    """A container of the pool, with the session that created it (and removes it)."""

    session: Session
    temporary: bool
    installed: frozenset[str]
    """The libraries of the pool's base (a pooled session does not install them again)."""
    state: ContainerState = ContainerState.INITIALIZING
    created: float = field(default_factory=time.monotonic)
    created_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    last_used_at: float = field(default_factory=time.time)
    use_count: int = 0
    clean: dict[str, str] = field(default_factory=dict)
    """Its state when new (``runtime/reset.sh``); the packages' part is updated when they are restored."""
    warm: dict[WarmKey, WarmSpec] = field(default_factory=dict)
    lease: PooledContainer | None = None
    """The checkout prepared for its next (or current) user."""

    @property
    def container_id(self) -> str:
        assert self.session.container_id is not None
        return self.session.container_id


@dataclass(frozen=True)
class Base:
    """The packages every container of the pool starts with: an archive on this machine."""

    path: str
    size: int
    content: str
    """The packages' listing checksum (without change times) the archive reproduces."""
    installed: frozenset[str]


class PooledContainer:
    """One checkout of a pooled container: what its user works with between ``acquire()`` and ``release()``.

    ``container_id``, ``container`` (the engine's object), ``state``, ``use_count``,
    ``created_at`` and ``last_used_at`` (``time.time()``) as in the original package;
    ``engine`` is the container's engine for this checkout only (see
    :class:`~llm_sandbox.sessions.lease.LeasedEngine`): once the container is given back,
    nothing obtained through this object can start anything in it again.
    """

    def __init__(self, member: Member, engine: LeasedEngine, sandbox: Sandbox) -> None:
        session = member.session
        self._member = member
        self.engine = engine
        self.sandbox = sandbox
        self.container_id = member.container_id
        self.packages_volume = session.packages_volume
        self.image = session._image
        self.user = session._exec_user
        self.installed = member.installed
        self._slots: dict[WarmKey, WarmSlot] = {}
        self._lock = threading.Lock()

    @property
    def container(self) -> Any:
        return self.engine.container_handle(self.container_id)

    @property
    def state(self) -> ContainerState:
        return self._member.state if self._member.lease is self else ContainerState.REMOVING

    @property
    def use_count(self) -> int:
        return self._member.use_count

    @property
    def created_at(self) -> float:
        return self._member.created_at

    @property
    def last_used_at(self) -> float:
        return self._member.last_used_at

    def warm_slot(self, argv: list[str], environment: dict[str, str] | None = None) -> WarmSlot:
        """The warm process ``argv`` of this checkout: the one the pool started, else one starting now.

        One started now is started again for every later user of the container.
        """
        key = warm_key(argv, environment)
        with self._lock:
            if self.engine.ended:
                raise ContainerError("this sandbox was given back to its pool; open a new session")
            slot = self._slots.get(key)
            if slot is None:
                slot = WarmSlot(self.sandbox, list(argv), environment)
                slot.start_in_background()
                self._slots[key] = slot
                self._member.warm.setdefault(key, WarmSpec(list(argv), environment))
            return slot

    def slots(self) -> list[tuple[WarmKey, WarmSlot]]:
        with self._lock:
            return list(self._slots.items())

    def close_slots(self) -> None:
        for _, slot in self.slots():
            slot.close()


def new_lease(member: Member, *, first: bool) -> PooledContainer:
    """The checkout of ``member``'s next user, its warm processes started (and waited for) here.

    A warm process that does not start is a failed reset, unless it never started in this
    container (``first``: its first checkout): then its users do without it.
    """
    session = member.session
    engine = LeasedEngine(session.engine)
    sandbox = Sandbox(engine, member.container_id, session._exec_user, session.workdir, session._timeout(None, None))
    lease = PooledContainer(member, engine, sandbox)
    for key, spec in list(member.warm.items()):
        slot = WarmSlot(sandbox, spec.argv, spec.environment)
        if spec.unavailable is None:
            slot.start_in_background()
        else:
            slot.unavailable = spec.unavailable
        lease._slots[key] = slot
    for key, slot in lease.slots():
        spec = member.warm[key]
        if spec.unavailable is None and slot.process() is None:
            if not first:
                reason = f"a warm process did not start again after the reset: {slot.unavailable}"
                raise PoolHealthCheckError(member.container_id, reason)
            spec.unavailable = slot.unavailable
    return lease


def reset(member: Member, lease: PooledContainer, base: Base) -> None:
    """Make ``member`` as it was when new for its next user, proving each step; raise if one fails.

    ``lease`` is the checkout that ended (its engine refuses new operations already).
    """
    session = member.session
    cid = member.container_id
    quiet = lease.engine.drain(0)  # no operation under way: none can start a process after the kill
    for attempt in range(1 if quiet else 2):  # else kill, wait for the operations, kill what they started
        if attempt and not lease.engine.drain(DRAIN_TIMEOUT):
            raise PoolHealthCheckError(cid, f"an operation of the last user did not end in {DRAIN_TIMEOUT:g}s")
        kill_everything(member)
    for key, slot in lease.slots():
        if slot.unavailable is not None and key in member.warm:
            member.warm[key].unavailable = slot.unavailable  # never started in this image: do without
    lease.close_slots()
    uid = session._exec_user.split(":")[0]
    modes = [
        f"{value.split()[0]}:{key.split(' ', 1)[1]}"
        for key, value in member.clean.items()
        if key.startswith("mount ") and value.split()[1] == uid
    ]
    state = read_state(session, "clean", *modes)
    keys = (member.clean.keys() | state.keys()) - {"packages"}
    differs = sorted(key for key in keys if member.clean.get(key) != state.get(key))
    if differs:
        changes = "; ".join(f"{key}: {member.clean.get(key)} -> {state.get(key)}" for key in differs)
        raise PoolHealthCheckError(cid, f"after the reset it is not as it was when new ({changes})")
    if state["packages"] != member.clean["packages"]:  # written since (an install; on Kubernetes, the code)
        write_packages(session, base)
        state = read_state(session, "state")
        if state["packages"].split()[1] != base.content:
            raise PoolHealthCheckError(cid, "its packages could not be restored to the pool's base")
        member.clean = {**member.clean, "packages": state["packages"]}
    member.lease = new_lease(member, first=False)


def kill_everything(member: Member) -> None:
    """Kill every process of the sandbox user, confirmed by ``runtime/kill.sh``, or raise.

    On a loaded machine killed processes may take a while to be gone (a kernel's threads, a
    large address space); the kill is then asked for again, after a growing pause.
    """
    runner = member.session._require_open()
    for attempt in range(KILL_ROUNDS):
        if runner.kill_everything(warn=False):
            return
        time.sleep(0.1 * (attempt + 1))
    raise PoolHealthCheckError(member.container_id, "the last user's processes could not be confirmed killed")


def read_state(session: Session, mode: str, *modes: str) -> dict[str, str]:
    """``runtime/reset.sh`` in ``session``'s container (``state``, or ``clean`` then state), parsed."""
    runner = session._require_open()
    output = runner.sandbox.exec_checked(
        ["sh", "-c", _RESET_SH, "llm-sandbox", mode, PACKAGES_DIR, *modes],
        "resetting the sandbox" if mode == "clean" else "reading the sandbox's state",
    )
    state = {}
    for line in output.decode().splitlines():
        key, _, value = line.partition(" ")
        if key in ("mount", "xattrs"):  # one line per filesystem
            path, _, value = value.partition(" ")
            key = f"{key} {path}"
        state[key] = value
    return state


def take_base(session: Session) -> Base:
    """The packages of ``session``'s container as the pool's base: an archive in a temporary file."""
    assert session.container_id is not None
    descriptor, path = tempfile.mkstemp(prefix="llm-sandbox-pool-", suffix=".tar")
    try:
        with os.fdopen(descriptor, "wb") as archive:
            deadline = time.monotonic() + session.install_timeout
            size = installer.pack(
                session.engine, session.container_id, PACKAGES_DIR, archive, deadline=deadline,
                user=session._exec_user,
            )  # fmt: skip
        content = read_state(session, "state")["packages"].split()[1]
    except BaseException:
        os.unlink(path)
        raise
    return Base(path, size, content, frozenset(session._installed))


def write_packages(session: Session, base: Base) -> None:
    """Replace the packages of ``session``'s container by the base's: through a helper container hardened
    like the installer where engines share volumes (the sandbox mounts them read-only), else in the sandbox
    (a pod's packages emptyDir is the sandbox's own)."""
    assert session.container_id is not None
    engine = session.engine
    deadline = time.monotonic() + session.install_timeout
    with open(base.path, "rb") as archive:
        if not engine.capabilities.shared_volumes:
            installer.unpack(
                engine, session.container_id, PACKAGES_DIR, archive, base.size, deadline=deadline, replace=True,
                user=session._exec_user,
            )  # fmt: skip
            return
        helper = engine.create(session._installer_spec())
        try:
            installer.unpack(engine, helper, PACKAGES_DIR, archive, base.size, deadline=deadline, replace=True)
        finally:
            engine.remove(helper)


__all__ = ["ContainerState", "Member", "PooledContainer", "new_lease", "reset", "take_base", "write_packages"]

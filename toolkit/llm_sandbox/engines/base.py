"""The one protocol every container engine implements.

Modelled on httpx's transports: a small interface that knows nothing about
languages, plots or policies. Sessions (``llm_sandbox.sessions``) compose
everything they do (run code, copy files, install libraries, kill on timeout)
from these operations, so behaviour is the same on every engine.

What an engine cannot do is declared, not discovered: :class:`Capabilities`
says it once, and the session checks it once, when it opens. Each engine
translates its own exceptions into ``llm_sandbox.exceptions`` inside its
module; nothing engine-specific crosses this boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, runtime_checkable

STDOUT = 1
STDERR = 2

OutputCallback = Callable[[int, bytes], None]
"""Receives ``(stream, chunk)`` with stream ``STDOUT`` or ``STDERR`` as output arrives."""

Stdin = bytes | IO[bytes]
"""What an exec reads: bytes, or a binary file sent in chunks (large copies)."""


class ExecDeadlineExceeded(Exception):
    """Raised by ``Engine.exec`` when its deadline passed; the stream has been closed.

    The session reacts by killing the processes in the sandbox and raising
    ``SandboxTimeoutError``.
    """


class ExecChannel(Protocol):
    """A long-lived process: its stdin written piece by piece, its output read as it comes.

    Warm processes (kernels, the warm runner) live on one of these: they read
    requests from stdin and answer on stdout/stderr for as long as the session.
    """

    def send(self, data: bytes) -> None:
        """Write to the process's stdin (``ContainerError`` when it stopped reading)."""
        ...

    def receive(self, deadline: float | None) -> tuple[int, bytes] | None:
        """The next ``(stream, chunk)``; ``None`` when the process ended; ``ExecDeadlineExceeded`` at ``deadline``."""
        ...

    def close(self) -> None:
        """Close the connection (the process itself may live on: kill it through the session)."""
        ...


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do beyond the operations every engine has."""

    signal: bool = True
    """:meth:`Engine.signal` reaches PID 1 without an exec (kills work when no process can start)."""
    commit: bool = True
    """:meth:`Engine.commit` saves a container as an image."""
    build: bool = True
    """:meth:`Engine.build_image` builds from a Dockerfile on this engine."""
    shared_volumes: bool = True
    """Two containers can mount one named volume (the installer writes the sandbox's packages)."""
    host_binds: bool = True
    """A host file can be mounted read-only into a container (:attr:`ContainerSpec.binds`)."""
    exec_user: bool = True
    """An exec runs as the user it is given (else as the container's user)."""
    root_keeper: bool = True
    """PID 1 (the keeper) may run as root with CAP_KILL alone, out of the sandbox user's reach: it can
    be neither signalled nor traced by the code (pods that must run as non-root: False)."""


@dataclass
class ContainerSpec:
    """What to create. ``options`` are docker-py style create options
    (``mem_limit``, ``nano_cpus``, ``pids_limit``, ``read_only``, ``tmpfs``,
    ``cap_drop``, ``security_opt``, ``network_mode``, ``user``...). Engines map
    them to their own terms; Kubernetes maps them onto its pod manifest.
    """

    image: str
    command: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    volumes: dict[str, str] = field(default_factory=dict)
    """Named volume → mount path (read-write, unless the path is in ``read_only_paths``)."""
    read_only_paths: set[str] = field(default_factory=set)
    """Volume mount paths the container may only read (engines that cannot express it mount them read-write)."""
    binds: dict[str, str] = field(default_factory=dict)
    """Host path → container path (read-only); only where ``capabilities.host_binds``."""
    options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """A container engine."""

    name: str
    capabilities: Capabilities

    # images -----------------------------------------------------------------------------
    def image_exists(self, image: str) -> bool: ...

    def pull_image(self, image: str) -> bool:
        """Pull ``image`` from its registry; False when it cannot be had (no registry, no such image)."""
        ...

    def build_image(self, dockerfile: str, tag: str) -> None:
        """Build ``tag`` from the Dockerfile at path ``dockerfile`` (its directory is the context)."""
        ...

    def builtin_image(self, lang: str, image: str) -> str:
        """Make the library's own image for ``lang`` available here (build or load it); return its name."""
        ...

    def remove_image(self, image: str) -> None: ...

    # containers -------------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> str:
        """Create and start a container; return its id. Remove it again if starting fails."""
        ...

    def exists(self, container_id: str) -> bool:
        """True when the container exists and is running."""
        ...

    def container_handle(self, container_id: str) -> Any:
        """The engine client's own object for the container (``session.container`` of the reference API):
        the docker SDK's ``Container`` on Docker and Podman, the pod name on Kubernetes."""
        ...

    def exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        stdin: Stdin | None = None,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
    ) -> int:
        """Run ``argv`` in the container, stream its output to ``on_output``, return its exit code.

        ``stdin`` is written to the process's standard input while its output
        is read; the process must not rely on seeing EOF (the wrappers read
        exact lengths). ``deadline`` is a ``time.monotonic()`` value: when it
        passes, close the stream and raise :class:`ExecDeadlineExceeded`.
        """
        ...

    def open_exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> ExecChannel:
        """Start ``argv`` and keep talking to it over an :class:`ExecChannel`."""
        ...

    def signal(self, container_id: str, signal: str) -> None:
        """Send ``signal`` to the container's PID 1 (only where ``capabilities.signal``)."""
        ...

    def remove(self, container_id: str) -> None:
        """Kill and remove the container and its anonymous volumes; no error if already gone."""
        ...

    def commit(self, container_id: str, repository: str, tag: str) -> str:
        """Save the container as ``repository:tag`` (only where ``capabilities.commit``)."""
        ...

    # volumes and bookkeeping ------------------------------------------------------------
    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_volume(self, name: str) -> None: ...

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        """Containers and volumes carrying ``label``: ``[{"kind", "id", "labels"}]``."""
        ...

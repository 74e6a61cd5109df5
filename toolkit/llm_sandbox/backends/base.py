"""The one protocol every container engine implements.

Modelled on httpx's transports: a small interface that knows nothing about
languages, plots or policies. Everything a session does (run code, copy files,
install libraries, kill on timeout) is composed in ``session.py`` from these
few operations, so behaviour is identical on every engine.

Each backend translates its engine's exceptions into ``llm_sandbox.exceptions``
inside its own module; nothing engine-specific crosses this boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

STDOUT = 1
STDERR = 2

OutputCallback = Callable[[int, bytes], None]
"""Receives ``(stream, chunk)`` with stream ``STDOUT`` or ``STDERR`` as output arrives."""


class ExecDeadlineExceeded(Exception):
    """Raised by ``Backend.exec`` when its deadline passed; the stream has been closed.

    The session reacts by killing the processes in the sandbox and raising
    ``SandboxTimeoutError``.
    """


@dataclass
class ContainerSpec:
    """What to create. ``options`` are docker-py style create options
    (``mem_limit``, ``nano_cpus``, ``pids_limit``, ``read_only``, ``tmpfs``,
    ``cap_drop``, ``security_opt``, ``network_mode``, ``user``...). Backends map
    them to their engine; Kubernetes maps them onto its pod manifest.
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
    """Host path → container path (read-only)."""
    options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A container engine."""

    name: str

    def image_exists(self, image: str) -> bool: ...

    def pull_image(self, image: str) -> bool:
        """Pull ``image`` from its registry; False when it cannot be had (no registry, no such image)."""
        ...

    def build_image(self, dockerfile: str, tag: str) -> None:
        """Build ``tag`` from the Dockerfile at path ``dockerfile`` (its directory is the context)."""
        ...

    def remove_image(self, image: str) -> None: ...

    def create(self, spec: ContainerSpec) -> str:
        """Create and start a container; return its id. Remove it again if starting fails."""
        ...

    def exists(self, container_id: str) -> bool:
        """True when the container exists and is running."""
        ...

    def exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        stdin: bytes | None = None,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
    ) -> int:
        """Run ``argv`` in the container, stream its output to ``on_output``, return its exit code.

        ``stdin`` bytes are written to the process's standard input; the
        process must not rely on seeing EOF (the wrappers read exact lengths).
        ``deadline`` is a ``time.monotonic()`` value: when it passes, close the
        stream and raise :class:`ExecDeadlineExceeded`.
        """
        ...

    def remove(self, container_id: str) -> None:
        """Kill and remove the container and its anonymous volumes; no error if already gone."""
        ...

    def commit(self, container_id: str, repository: str, tag: str) -> str: ...

    def create_volume(self, name: str, labels: dict[str, str]) -> None: ...

    def remove_volume(self, name: str) -> None: ...

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        """Containers and volumes carrying ``label``: ``[{"kind", "id", "labels"}]``."""
        ...

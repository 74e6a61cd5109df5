"""An in-memory engine for unit tests, as httpx ships a ``MockTransport``.

Nothing runs: containers and volumes are records, and every exec is answered
by a ``handler`` the test gives (default: exit 0, no output)::

    def handler(call: ExecCall) -> ExecReply:
        return ExecReply(stdout=b"hello\\n")

    engine = FakeEngine(handler)
    session = Session(engine)

``engine.created`` keeps every :class:`ContainerSpec`, ``engine.execs`` every
exec, so a test can assert on what the library asked of the engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_sandbox.engines.base import (
    STDERR,
    STDOUT,
    Capabilities,
    ContainerSpec,
    ExecChannel,
    OutputCallback,
    Stdin,
)
from llm_sandbox.exceptions import ContainerError


@dataclass(frozen=True)
class ExecCall:
    """One exec the library asked for."""

    container_id: str
    argv: list[str]
    stdin: bytes | None
    environment: dict[str, str]
    workdir: str | None
    user: str | None


@dataclass(frozen=True)
class ExecReply:
    """What the fake process prints and how it exits."""

    exit_code: int = 0
    stdout: bytes = b""
    stderr: bytes = b""


@dataclass
class FakeEngine:
    """:class:`~llm_sandbox.engines.base.Engine` in memory; see the module docstring."""

    handler: Callable[[ExecCall], ExecReply] = field(default=lambda call: ExecReply())
    capabilities: Capabilities = field(default_factory=Capabilities)
    images: set[str] = field(default_factory=set)
    name: str = "fake"
    created: list[ContainerSpec] = field(default_factory=list)
    execs: list[ExecCall] = field(default_factory=list)
    signals: list[tuple[str, str]] = field(default_factory=list)
    containers: dict[str, ContainerSpec] = field(default_factory=dict)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # images
    def image_exists(self, image: str) -> bool:
        return image in self.images

    def pull_image(self, image: str) -> bool:
        return False

    def build_image(self, dockerfile: str, tag: str) -> None:
        self.images.add(tag)

    def builtin_image(self, lang: str, image: str) -> str:
        self.images.add(image)
        return image

    def remove_image(self, image: str) -> None:
        self.images.discard(image)

    # containers
    def create(self, spec: ContainerSpec) -> str:
        container_id = f"fake-{next(self._ids):04d}"
        self.created.append(spec)
        self.containers[container_id] = spec
        return container_id

    def exists(self, container_id: str) -> bool:
        return container_id in self.containers

    def container_handle(self, container_id: str) -> ContainerSpec:
        """The container's record."""
        if container_id not in self.containers:
            raise ContainerError(f"looking up container {container_id}: not found")
        return self.containers[container_id]

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
        if container_id not in self.containers:
            raise ContainerError(f"running a command in container {container_id}: not found")
        data = stdin if stdin is None or isinstance(stdin, bytes) else stdin.read()
        call = ExecCall(container_id, list(argv), data, dict(environment or {}), workdir, user)
        self.execs.append(call)
        reply = self.handler(call)
        if on_output is not None:
            for stream, payload in ((STDOUT, reply.stdout), (STDERR, reply.stderr)):
                if payload:
                    on_output(stream, payload)
        return reply.exit_code

    def open_exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> ExecChannel:
        """Nothing runs here, so nothing stays up: sessions then do without warm processes."""
        raise ContainerError("the fake engine runs no long-lived processes")

    def signal(self, container_id: str, signal: str) -> None:
        self.signals.append((container_id, signal))

    def remove(self, container_id: str) -> None:
        self.containers.pop(container_id, None)

    def commit(self, container_id: str, repository: str, tag: str) -> str:
        self.images.add(f"{repository}:{tag}")
        return f"sha256:{repository}-{tag}"

    # volumes and bookkeeping
    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        self.volumes[name] = dict(labels)

    def remove_volume(self, name: str) -> None:
        self.volumes.pop(name, None)

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        key, _, value = label.partition("=")

        def matches(labels: dict[str, str]) -> bool:
            return key in labels and (not value or labels[key] == value)

        found = [
            {"kind": "container", "id": cid, "labels": spec.labels}
            for cid, spec in self.containers.items()
            if matches(spec.labels)
        ]
        found += [
            {"kind": "volume", "id": name, "labels": labels}
            for name, labels in self.volumes.items()
            if matches(labels)
        ]
        return found



__all__ = ["ExecCall", "ExecReply", "FakeEngine"]

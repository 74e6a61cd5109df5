"""The engine as one user of a pooled container sees it, for as long as that user holds the container.

A pooled session does everything through a :class:`LeasedEngine`: its runs, copies,
warm processes and library installers. When the session gives the container back
(:meth:`LeasedEngine.end`), nothing it still holds — another thread in the middle of a
call, a warm slot that would restart its process — can start anything in the container
again: operations that start something raise :class:`ContainerError`; cleanup still
passes. Before the pool resets the container for the next user it waits
(:meth:`LeasedEngine.drain`) until the operations under way have returned (they end when
the reset kills every process of the sandbox user) and removes the installer containers
the user had started (:meth:`LeasedEngine.remove_helpers`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from llm_sandbox.engines.base import Capabilities, ContainerSpec, Engine, ExecChannel, OutputCallback, Stdin
from llm_sandbox.exceptions import ContainerError


class LeasedEngine:
    """``engine``, for one lease of a pooled container; see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.name: str = engine.name
        self.capabilities: Capabilities = engine.capabilities
        self._engine = engine
        self._changes = threading.Condition()
        self._active = 0
        self._ended: str | None = None
        self._helpers: set[str] = set()

    @contextlib.contextmanager
    def _admitted(self) -> Iterator[None]:
        with self._changes:
            if self._ended is not None:
                raise ContainerError(self._ended)
            self._active += 1
        try:
            yield
        finally:
            with self._changes:
                self._active -= 1
                self._changes.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended is not None

    def end(self, why: str) -> None:
        """Refuse every operation that would start something from now on; ``why`` is the error's message."""
        with self._changes:
            if self._ended is None:
                self._ended = why

    def drain(self, timeout: float) -> bool:
        """Wait until no operation is under way (call :meth:`end` first); False if one still is after ``timeout``."""
        with self._changes:
            return self._changes.wait_for(lambda: self._active == 0, timeout)

    def remove_helpers(self) -> None:
        """Remove the containers created through this lease (library installers) that still exist."""
        with self._changes:
            helpers, self._helpers = self._helpers, set()
        for helper in helpers:
            with contextlib.suppress(Exception):
                self._engine.remove(helper)

    # operations that start something: admitted only while the lease lasts -----------------------
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
        with self._admitted():
            return self._engine.exec(
                container_id,
                argv,
                stdin=stdin,
                environment=environment,
                workdir=workdir,
                user=user,
                on_output=on_output,
                deadline=deadline,
            )

    def open_exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> ExecChannel:
        with self._admitted():
            return self._engine.open_exec(container_id, argv, environment=environment, workdir=workdir, user=user)

    def create(self, spec: ContainerSpec) -> str:
        with self._admitted():
            helper = self._engine.create(spec)
            with self._changes:
                self._helpers.add(helper)
            return helper

    def signal(self, container_id: str, signal: str) -> None:
        with self._admitted():
            self._engine.signal(container_id, signal)

    def commit(self, container_id: str, repository: str, tag: str) -> str:
        with self._admitted():
            return self._engine.commit(container_id, repository, tag)

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        with self._admitted():
            self._engine.create_volume(name, labels)

    # everything else passes -------------------------------------------------------------------
    def remove(self, container_id: str) -> None:
        with self._changes:
            self._helpers.discard(container_id)
        self._engine.remove(container_id)

    def image_exists(self, image: str) -> bool:
        return self._engine.image_exists(image)

    def pull_image(self, image: str) -> bool:
        return self._engine.pull_image(image)

    def build_image(self, dockerfile: str, tag: str) -> None:
        self._engine.build_image(dockerfile, tag)

    def builtin_image(self, lang: str, image: str) -> str:
        return self._engine.builtin_image(lang, image)

    def remove_image(self, image: str) -> None:
        self._engine.remove_image(image)

    def exists(self, container_id: str) -> bool:
        return self._engine.exists(container_id)

    def container_handle(self, container_id: str) -> Any:
        return self._engine.container_handle(container_id)

    def remove_volume(self, name: str) -> None:
        self._engine.remove_volume(name)

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        return self._engine.list_labelled(label)


__all__ = ["LeasedEngine"]

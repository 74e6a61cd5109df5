"""An open container, seen from the session: the engine, the container, and who runs things in it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from llm_sandbox.engines.base import Engine, Stdin
from llm_sandbox.exceptions import ContainerError
from llm_sandbox.sessions.output import OutputCollector


@dataclass(frozen=True)
class Sandbox:
    """The container a session works in.

    ``user`` is who runs the session's code and commands (``None``: the
    container's own user, for containers the session attached to);
    ``timeout`` bounds the library's own housekeeping execs (copies, commits).
    """

    engine: Engine
    container_id: str
    user: str | None
    workdir: str
    timeout: float

    def exec_checked(
        self,
        argv: list[str],
        what: str,
        *,
        stdin: Stdin | None = None,
        user: str | None = None,
        container_id: str | None = None,
    ) -> bytes:
        """Run a housekeeping command; its stdout, or a :class:`ContainerError` naming ``what`` failed."""
        collector = OutputCollector(limit=1 << 62)
        code = self.engine.exec(
            container_id or self.container_id,
            argv,
            stdin=stdin,
            user=user or self.user,
            workdir=self.workdir,
            on_output=collector,
            deadline=time.monotonic() + self.timeout,
        )
        if code != 0:
            raise ContainerError(f"{what} failed (exit {code}): {collector.stderr.text()[-500:]}")
        return bytes(collector.stdout.kept)

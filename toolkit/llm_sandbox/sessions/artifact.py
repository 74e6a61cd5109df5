"""``ArtifactSandboxSession``: a session whose runs also return plots and output files."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import TracebackType
from typing import Any

from llm_sandbox.const import SandboxBackend
from llm_sandbox.data import ExecutionResult
from llm_sandbox.languages import PLOT_OUTPUT_DIR
from llm_sandbox.sessions.kinds import create_session
from llm_sandbox.sessions.session import Session


class ArtifactSandboxSession:
    """A session whose runs also return plots and the files written to the outputs directory.

    Every other attribute is the wrapped session's.
    """

    def __init__(
        self,
        backend: SandboxBackend | str = SandboxBackend.DOCKER,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str | None = None,
        *,
        enable_plotting: bool = True,
        **kwargs: Any,
    ) -> None:
        if lang is not None:  # default: Python, or the language of the pool= the session takes its container from
            kwargs["lang"] = lang
        self._session = create_session(backend, image=image, dockerfile=dockerfile, **kwargs)
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
        clear_plots: bool = False,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` and return the plots and output files of this run only.

        The language's handler runs it (``run_with_artifacts``): the built-in
        languages capture plots in the runtime; a handler written for the reference
        API may inject capture code and extract plot files. ``clear_plots`` is
        accepted for compatibility: every run already starts with no plots.
        """
        result, extracted = self._session.language.run_with_artifacts(
            _ArtifactRuns(self._session, self.enable_plotting),
            code,
            libraries,
            self.enable_plotting,
            PLOT_OUTPUT_DIR,
            timeout,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )
        if not isinstance(result, ExecutionResult):  # a handler that ran commands itself
            return ExecutionResult(result.exit_code, result.stderr, result.stdout, plots=extracted)
        return dataclasses.replace(result, plots=[*result.plots, *extracted]) if extracted else result

    def clear_plots(self) -> None:
        """Kept for compatibility; plots never carry over from one run to the next."""


class _ArtifactRuns:
    """The session as a handler's artifact hooks see it: its ``run()`` returns the run's artifacts."""

    def __init__(self, session: Session, plotting: bool) -> None:
        self._session = session
        self._plotting = plotting

    def run(
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> ExecutionResult:
        return self._session._run(
            code, libraries, timeout, on_stdout, on_stderr, artifacts=True, plotting=self._plotting
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


__all__ = ["ArtifactSandboxSession"]

"""Results returned by sessions."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from llm_sandbox.const import FileType


@dataclass
class ConsoleOutput:
    """Exit code and captured output of code or a command."""

    exit_code: int = 0
    stderr: str = ""
    stdout: str = ""

    def success(self) -> bool:
        """True when the exit code is 0."""
        return self.exit_code == 0

    @property
    def text(self) -> str:
        """Deprecated alias of ``stdout``."""
        warnings.warn("ConsoleOutput.text is deprecated; use .stdout", DeprecationWarning, stacklevel=2)
        return self.stdout


@dataclass
class PlotOutput:
    """A plot or image produced by a run, base64 encoded.

    ``filename`` is set for images the code wrote into the outputs directory
    (an addition to the reference API; ``None`` for captured figures).
    """

    format: FileType
    content_base64: str
    width: int | None = None
    height: int | None = None
    dpi: int | None = None
    filename: str | None = None


@dataclass
class FileOutput:
    """A file the code wrote into the outputs directory during the run.

    ``content_base64`` is ``None`` when the file is larger than the session's
    ``max_artifact_bytes``; ``size`` is always the real size, and the file can
    still be fetched with ``session.copy_from_runtime(path, ...)``.
    """

    path: str
    format: FileType
    size: int
    content_base64: str | None


@dataclass
class ExecutionResult(ConsoleOutput):
    """Console output plus the artifacts of one run."""

    plots: list[PlotOutput] = field(default_factory=list)
    files: list[FileOutput] = field(default_factory=list)
    duration: float | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    """Rich results of a kernel cell (``InteractiveSandboxSession``), as a notebook shows them: the last
    expression's value and each ``display()``, as ``{"type", "data": {MIME type: value}, "metadata"}``
    with ``text/plain`` and, where the object has them, ``text/html``, ``image/png`` (base64),
    ``image/svg+xml``, ``application/json``..."""
    execution_count: int | None = None
    """The kernel's cell number (``In[n]``); ``None`` for stateless runs."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False

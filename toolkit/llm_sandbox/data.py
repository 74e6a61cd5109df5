"""Results returned by sessions: immutable records, as in the reference API."""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from llm_sandbox.const import FileType

StreamCallback = Callable[[str], None]
"""Receives each decoded chunk of stdout or stderr as it arrives (``on_stdout`` / ``on_stderr``)."""


class _Text(str):
    """The deprecated ``ConsoleOutput.text``: the stdout string, which can also be called (``text()``).

    The reference API has ``text()`` as a method; earlier versions of this library had a
    property. Both spellings give the stdout.
    """

    def __call__(self) -> str:
        return str(self)


@dataclass(frozen=True)
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
        """Deprecated: use ``stdout``. Reads as the stdout (``result.text``) and can be called (``result.text()``)."""
        warnings.warn("ConsoleOutput.text is deprecated; use .stdout", DeprecationWarning, stacklevel=2)
        return _Text(self.stdout)

    def to_json(self, include_plots: bool = False) -> str:
        """The result as a JSON object; artifacts (``plots``, ``files``, base64 content) only with ``include_plots``."""
        fields = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        if not include_plots:
            fields.pop("plots", None)
            fields.pop("files", None)
        return json.dumps(fields, indent=2, default=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: getattr(value, item.name) for item in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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

"""Results returned by sessions: immutable records, as in the reference API."""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Self

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

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-native values (strings, numbers, booleans, None, lists, dicts; enums as
        their string values): safe in any JSON document or checkpoint. :meth:`from_dict` rebuilds it."""
        return {item.name: _plain(getattr(self, item.name)) for item in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The result :meth:`to_dict` gave (keys it does not know are ignored)."""
        return cls(**_known_fields(cls, data))


def _plain(value: Any) -> Any:
    """``value`` with enums as their values and records as dicts, recursively."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {item.name for item in dataclasses.fields(cls)}
    return {name: value for name, value in data.items() if name in names}


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlotOutput:
        """A plot from its JSON-native form (``ExecutionResult.to_dict()["plots"][i]``)."""
        fields = _known_fields(cls, data)
        return cls(**{**fields, "format": FileType(fields["format"])})


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-native form (the format as its string value); :meth:`from_dict` rebuilds it."""
        return dict(_plain(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileOutput:
        fields = _known_fields(cls, data)
        return cls(**{**fields, "format": FileType(fields["format"])})


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The result :meth:`to_dict` gave, plots and files included (unknown keys are ignored)."""
        fields = _known_fields(cls, data)
        fields["plots"] = [PlotOutput.from_dict(plot) for plot in fields.get("plots") or []]
        fields["files"] = [FileOutput.from_dict(file) for file in fields.get("files") or []]
        return cls(**fields)

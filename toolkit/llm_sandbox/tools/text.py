"""The text a model reads: results and errors, compact; and the reply that carries it.

Errors a model can fix (a timeout, a refused import, a package that does not
install, a bad path, a run whose output is over a limit) become reply text;
infrastructure errors (the engine is down, the image is missing, every
sandbox is busy) are raised, or told to the model with
:func:`format_infrastructure_error` when the adapter is set up so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llm_sandbox.data import ExecutionResult
from llm_sandbox.exceptions import (
    KernelDiedError,
    LanguageNotSupportedError,
    LibraryInstallationNotSupportedError,
    PackageManagerError,
    ResourceError,
    SandboxTimeoutError,
    SecurityViolationError,
    SessionLimitError,
    ValidationError,
)

DEFAULT_MAX_OUTPUT_CHARS = 4000
"""Per stream (stdout, stderr) in the text a model sees; the artifact keeps everything."""
DEFAULT_MAX_FILE_CHARS = 20000
DEFAULT_LIST_LIMIT = 200

MODEL_FIXABLE_ERRORS: tuple[type[BaseException], ...] = (
    SandboxTimeoutError,
    KernelDiedError,
    SecurityViolationError,
    PackageManagerError,
    ValidationError,
    LibraryInstallationNotSupportedError,
    LanguageNotSupportedError,
    ResourceError,  # a run's artifacts or a read over a limit: the message says what to do instead
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
)
"""Raised by an operation because of what the model asked for: reported to the model as text.
(:class:`SessionLimitError`, also a ``ResourceError``, is raised before anything runs: infrastructure.)"""


class ToolText(str):
    """A ``str`` (the text for the model) that also carries the operation's ``artifact``.

    LlamaIndex keeps a tool function's return value as ``ToolOutput.raw_output``,
    so the application finds the artifact there.
    """

    artifact: Any
    ok: bool

    def __new__(cls, text: str, artifact: Any = None, ok: bool = True) -> ToolText:
        self = super().__new__(cls, text)
        self.artifact = artifact
        self.ok = ok
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (ToolText, (str(self), self.artifact, self.ok))


@dataclass
class ToolReply:
    """The outcome of one tool operation."""

    text: str
    """Compact, model-friendly text."""
    artifact: Any = None
    """For the application: an ``ExecutionResult`` (run), ``FileOutput`` (read), list of entries (list)."""
    ok: bool = True
    """False when the text reports an error the model can fix."""

    def as_text(self) -> ToolText:
        return ToolText(self.text, self.artifact, self.ok)


_FENCE = re.compile(r"\A\s*(?P<fence>`{3,}|~{3,})[^\n`]*\n(?P<code>.*?)\n?[ \t]*(?P=fence)\s*\Z", re.DOTALL)


def strip_fence(code: str) -> str:
    """``code`` without one enclosing Markdown fence (```` ```python ... ``` ````), as models often send it.

    Only a fence around the whole text is removed; fences inside the code stay.
    """
    match = _FENCE.match(code)
    if match is None or match.group("fence") in match.group("code"):
        return code
    return match.group("code")


def clip(text: str, limit: int, what: str = "characters") -> str:
    """``text`` cut to about ``limit`` characters: the start and the end, with a notice in between."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit * 2 // 5
    tail = limit - head
    omitted = len(text) - head - tail
    return (
        f"{text[:head]}\n[... {omitted:,} {what} omitted; print less, or write large output to a "
        f"file and read the part you need ...]\n{text[-tail:]}"
    )


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def format_result(result: ExecutionResult, *, max_chars: int = DEFAULT_MAX_OUTPUT_CHARS) -> str:
    """Exit code, stdout, stderr (each clipped to ``max_chars``), and a summary of plots and files."""
    duration = f" ({result.duration:.2f} s)" if result.duration is not None else ""
    lines = [f"exit code: {result.exit_code}{duration}" + ("" if result.exit_code == 0 else " - failed")]
    if result.stdout:
        lines.append("stdout:\n" + clip(result.stdout.rstrip("\n"), max_chars))
    if result.stderr:
        lines.append("stderr:\n" + clip(result.stderr.rstrip("\n"), max_chars))
    shown = [item["data"]["text/plain"] for item in result.results if "text/plain" in (item.get("data") or {})]
    if shown:
        lines.append("result:\n" + clip("\n".join(str(text) for text in shown), max_chars))
    if not result.stdout and not result.stderr and not shown:
        lines.append("(no output)")
    if result.plots:
        shapes = ", ".join(
            p.format.value
            + (f" {p.width}x{p.height}" if p.width and p.height else "")
            + (f" {p.filename}" if p.filename else "")
            for p in result.plots
        )
        count = len(result.plots)
        lines.append(
            f"plots: {count} image{'s' if count != 1 else ''} captured ({shapes}); shown to the user"
        )
    if result.files:
        names = ", ".join(f"{f.path} ({f.format.value}, {human_size(f.size)})" for f in result.files)
        lines.append(f"files returned to the user: {names}")
    return "\n".join(lines)


def format_error(
    error: BaseException,
    *,
    stdout: str = "",
    stderr: str = "",
    max_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
) -> str:
    """An error the model can fix, with what the code printed before it (timeouts)."""
    if isinstance(error, SandboxTimeoutError):
        head = f"error: timeout - {error}"
    elif isinstance(error, SecurityViolationError):
        if error.violations:
            listed = "\n".join(f"- {violation}" for violation in error.violations[:10])
            head = f"error: the sandbox's security policy refused this code:\n{listed}"
        else:
            head = f"error: the sandbox's security policy refused this code - {error}"
        head += "\nNothing was run. Rewrite the code without these uses."
    elif isinstance(error, PackageManagerError):
        head = f"error: installing libraries failed - {clip(str(error), max_chars)}"
    elif isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        head = f"error: {error}"
    else:
        head = f"error: {error}"
    parts = [head]
    if stdout:
        parts.append("stdout before the error:\n" + clip(stdout.rstrip("\n"), max_chars))
    if stderr:
        parts.append("stderr before the error:\n" + clip(stderr.rstrip("\n"), max_chars))
    return "\n".join(parts)


def format_infrastructure_error(error: BaseException) -> str:
    """An error of the sandbox service, not of the model's request, told to the model."""
    if isinstance(error, SessionLimitError):
        return (
            "error: every sandbox of this service is busy, so nothing was run. This is not caused by your "
            "code: try again in a moment, or answer without running code."
        )
    return (
        f"error: the sandbox service failed ({type(error).__name__}: {clip(str(error), 600)}). This is not "
        "caused by your code: try again later, or answer without running code."
    )


__all__ = [
    "DEFAULT_LIST_LIMIT",
    "DEFAULT_MAX_FILE_CHARS",
    "DEFAULT_MAX_OUTPUT_CHARS",
    "MODEL_FIXABLE_ERRORS",
    "ToolReply",
    "ToolText",
    "clip",
    "format_error",
    "format_infrastructure_error",
    "format_result",
    "human_size",
    "strip_fence",
]

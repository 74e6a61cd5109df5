"""What agents see: tool descriptions, compact result text, and the five sandbox operations.

Shared by the LangChain tools (``langchain.py``) and the LlamaIndex tool spec
(``llamaindex.py``) so both frameworks tell a model exactly the same things.
Framework-free: every operation returns a :class:`ToolReply` (text for the
model + an artifact for the application).

Errors a model can fix (a timeout, a refused import, a package that does not
install, a bad path) become reply text; everything else (the engine is down,
the image is missing, the session could not open) is raised.
"""

from __future__ import annotations

import base64
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, create_model

from llm_sandbox.const import FileType
from llm_sandbox.data import ExecutionResult, FileOutput
from llm_sandbox.exceptions import (
    LanguageNotSupportedError,
    LibraryInstallationNotSupportedError,
    PackageManagerError,
    SandboxTimeoutError,
    SecurityViolationError,
    ValidationError,
)

if TYPE_CHECKING:
    from llm_sandbox.agents import SessionManager

DEFAULT_MAX_OUTPUT_CHARS = 4000
"""Per stream (stdout, stderr) in the text a model sees; the artifact keeps everything."""
DEFAULT_MAX_FILE_CHARS = 20000
DEFAULT_LIST_LIMIT = 200

MODEL_FIXABLE_ERRORS: tuple[type[BaseException], ...] = (
    SandboxTimeoutError,
    SecurityViolationError,
    PackageManagerError,
    ValidationError,
    LibraryInstallationNotSupportedError,
    LanguageNotSupportedError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
)
"""Raised by an operation because of what the model asked for: reported to the model as text."""


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


# ---------------------------------------------------------------------------- argument schemas
class RunCodeInput(BaseModel):
    code: str = Field(description="The complete program to run.")
    language: str | None = Field(default=None, description="Programming language; omit for the default.")
    libraries: list[str] | None = Field(
        default=None,
        description="Extra packages to install before running, e.g. ['scipy']; preinstalled ones need not "
        "be listed.",
    )


class InstallPackagesInput(BaseModel):
    libraries: list[str] = Field(
        description="Package names, optionally with versions, e.g. ['scipy', 'sympy==1.13']."
    )


class UploadFileInput(BaseModel):
    path: str = Field(description="Where to write the file in the sandbox, e.g. 'data/input.csv'.")
    content: str = Field(description="The text content of the file.")


class UploadUserFileInput(BaseModel):
    path: str = Field(description="Where to write the file in the sandbox, e.g. 'data/input.csv'.")
    content: str | None = Field(default=None, description="The text content of the file.")
    source: str | None = Field(
        default=None, description="Name of a file the user provided, instead of content."
    )


class ReadFileInput(BaseModel):
    path: str = Field(description="The file to read, e.g. 'results.txt' or '/sandbox/outputs/report.md'.")


class ListFilesInput(BaseModel):
    path: str | None = Field(default=None, description="Directory to list; omit for the working directory.")


def with_language_argument(schema: type[BaseModel], manager: SessionManager) -> type[BaseModel]:
    """Add an optional ``language`` argument when the manager has several languages."""
    if len(manager.languages) < 2 or "language" in schema.model_fields:
        return schema
    field: Any = (
        str | None,
        Field(default=None, description=f"One of {', '.join(manager.languages)} (default {manager.lang})."),
    )
    model: type[BaseModel] = create_model(schema.__name__, __base__=schema, language=field)
    return model


def arguments_schema(name: str, manager: SessionManager, *, user_files: bool = False) -> type[BaseModel]:
    """The argument schema a model sees for one of :data:`TOOL_NAMES`."""
    schemas: dict[str, type[BaseModel]] = {
        "run_code": RunCodeInput,
        "install_packages": InstallPackagesInput,
        "upload_file": UploadUserFileInput if user_files else UploadFileInput,
        "read_file": ReadFileInput,
        "list_files": ListFilesInput,
    }
    return with_language_argument(schemas[name], manager)


# ---------------------------------------------------------------------------- text helpers
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
    if not result.stdout and not result.stderr:
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


def describe_run_tool(manager: SessionManager, *, max_chars: int = 1024) -> str:
    """The run tool's description: what the sandbox is, for a model (at most ``max_chars``, the
    limit of OpenAI-style tool descriptions; the least important lines go first)."""
    langs = manager.languages
    info = manager.language_info(manager.lang)
    if len(langs) == 1:
        text = (
            f"Run {info.display_name} code in an isolated sandbox and get its exit code, stdout and stderr."
        )
    else:
        text = (
            f"Run code in an isolated sandbox and get its exit code, stdout and stderr. Languages: "
            f"{', '.join(langs)} (default {manager.lang}; set `language`)."
        )
    lines = [text, "- Each call runs the code as a new program; print what you need to see."]
    for lang in langs:
        one = manager.language_info(lang)
        prefix = f"{lang}: " if len(langs) > 1 else ""
        if one.preinstalled:
            lines.append(f"- {prefix}preinstalled libraries: {', '.join(one.preinstalled)}.")
        if one.can_install:
            lines.append(
                f"- {prefix}other libraries: list them in `libraries` (installed with {one.package_manager} "
                "before the run)."
            )
        elif len(langs) > 1 or not one.preinstalled:
            lines.append(f"- {prefix}no extra libraries can be installed.")
    lines.append(
        "- The code has network access."
        if info.network
        else "- No network access from the code (no downloads, no web requests)."
    )
    lines.append(
        f"- Files in the working directory {info.workdir} persist between calls of this conversation; "
        "variables do not."
    )
    lines.append(f"- Files written to {info.outputs_dir} are returned to the user.")
    plotting = [manager.language_info(lang) for lang in langs if manager.language_info(lang).plots]
    if plotting:
        lines.append(
            "- Plots: show figures normally (e.g. matplotlib `plt.show()`, plotly `fig.show()`); they are "
            "captured and shown to the user automatically, no need to save or encode them."
        )
    if info.timeout:
        lines.append(f"- Each run is stopped after {info.timeout:g} s.")
    while len(lines) > 1 and len("\n".join(lines)) > max_chars:
        lines.pop()
    return "\n".join(lines)[:max_chars]


TOOL_NAMES = ("run_code", "install_packages", "upload_file", "read_file", "list_files")


def describe_tool(name: str, manager: SessionManager, *, user_files: bool = False) -> str:
    """Description of one of :data:`TOOL_NAMES` for a model."""
    if name == "run_code":
        return describe_run_tool(manager)
    info = manager.language_info(manager.lang)
    several = len(manager.languages) > 1
    which = f" Set `language` for another language's sandbox (default {manager.lang})." if several else ""
    if name == "install_packages":
        installable = [manager.language_info(lang) for lang in manager.languages]
        managers = ", ".join(sorted({i.package_manager for i in installable if i.can_install})) or "none"
        preinstalled = f" Already installed: {', '.join(info.preinstalled)}." if info.preinstalled else ""
        return (
            f"Install packages ({managers}) into this conversation's sandbox; they stay installed for later "
            f"runs. The code itself has no network, so install here (or via run_code's `libraries`)."
            f"{preinstalled}{which}"
        )
    if name == "upload_file":
        source = " or `source` (the name of a file the user provided)" if user_files else ""
        return (
            f"Create or overwrite a file in the sandbox from `content` (text){source}. Relative paths are "
            f"under {info.workdir}; only {info.workdir} and /tmp are writable.{which}"
        )
    if name == "read_file":
        return (
            f"Read a text file from the sandbox (relative paths are under {info.workdir}). Long files are "
            f"cut; binary files are described, not shown.{which}"
        )
    if name == "list_files":
        return f"List the files of a sandbox directory (default {info.workdir}, 3 levels deep).{which}"
    raise ValueError(f"unknown tool {name!r}; choose one of {', '.join(TOOL_NAMES)}")


# ---------------------------------------------------------------------------- operations
class SandboxOperations:
    """The five agent operations on a :class:`~llm_sandbox.agents.SessionManager`, framework-free.

    ``key`` selects the conversation's sandbox. Each method is blocking (call
    it through ``manager.run_in_thread`` from async code).
    """

    def __init__(
        self,
        manager: SessionManager,
        *,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        max_file_chars: int = DEFAULT_MAX_FILE_CHARS,
        host_dir: str | None = None,
    ) -> None:
        self.manager = manager
        self.max_output_chars = max_output_chars
        self.max_file_chars = max_file_chars
        self.host_dir = Path(host_dir).resolve() if host_dir else None

    def _language(self, language: str | None) -> tuple[str | None, ToolReply | None]:
        """The manager's canonical name for ``language``, or a reply telling the model what is available."""
        if not language:
            return self.manager.lang, None
        try:
            return self.manager.resolve_language(language), None
        except (LanguageNotSupportedError, ValidationError):
            return None, ToolReply(
                f"error: language {language!r} is not available here; use one of: "
                f"{', '.join(self.manager.languages)}",
                ok=False,
            )

    def run_code(
        self, key: str, code: str, language: str | None = None, libraries: Sequence[str] | None = None
    ) -> ToolReply:
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        if not isinstance(code, str) or not code.strip():
            return ToolReply("error: `code` is empty; pass the complete program to run", ok=False)
        stdout: list[str] = []
        stderr: list[str] = []
        with self.manager.session(key, lang) as session:  # opening failures are not the model's: raised
            try:
                result = session.run(
                    code,
                    libraries=list(libraries or []) or None,
                    on_stdout=_capped_append(stdout, self.max_output_chars * 4),
                    on_stderr=_capped_append(stderr, self.max_output_chars * 4),
                )
            except MODEL_FIXABLE_ERRORS as exc:
                text = format_error(
                    exc, stdout="".join(stdout), stderr="".join(stderr), max_chars=self.max_output_chars
                )
                return ToolReply(text, None, ok=False)
        return ToolReply(format_result(result, max_chars=self.max_output_chars), result, ok=True)

    def install_packages(self, key: str, libraries: Sequence[str], language: str | None = None) -> ToolReply:
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        names = [str(name) for name in (libraries or []) if str(name).strip()]
        if not names:
            return ToolReply("error: `libraries` is empty; name the packages to install", ok=False)
        with self.manager.session(key, lang) as session:
            try:
                output = session.install(names)
            except MODEL_FIXABLE_ERRORS as exc:
                return ToolReply(format_error(exc, max_chars=self.max_output_chars), None, ok=False)
        return ToolReply(f"installed: {', '.join(names)} (available to the code from now on)", output)

    def upload_file(
        self,
        key: str,
        path: str,
        content: str | None = None,
        source: str | None = None,
        language: str | None = None,
    ) -> ToolReply:
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        if (content is None) == (source is None):
            allowed = "`content` (the text of the file)" + (
                " or `source` (a file the user provided)" if self.host_dir else ""
            )
            return ToolReply(f"error: give exactly one of {allowed}", ok=False)
        data: bytes
        if source is not None:
            if self.host_dir is None:
                return ToolReply("error: no user files are available; pass `content` instead", ok=False)
            host = (self.host_dir / source).resolve()
            if not host.is_relative_to(self.host_dir) or not host.is_file():
                available = sorted(p.name for p in self.host_dir.iterdir() if p.is_file())[:50]
                return ToolReply(
                    f"error: no user file named {source!r}; available: {', '.join(available) or '(none)'}",
                    ok=False,
                )
            data = host.read_bytes()
        else:
            data = str(content).encode()
        with self.manager.session(key, lang) as session:
            try:
                written = session.write_file(path, data)
            except MODEL_FIXABLE_ERRORS as exc:
                return ToolReply(format_error(exc), None, ok=False)
        return ToolReply(f"wrote {written} ({human_size(len(data))})", written)

    def read_file(self, key: str, path: str, language: str | None = None) -> ToolReply:
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        with self.manager.session(key, lang) as session:
            try:
                resolved = session.resolve_path(path)
                data = session.read_file(resolved)
            except MODEL_FIXABLE_ERRORS as exc:
                hint = " (use list_files to see what exists)" if isinstance(exc, FileNotFoundError) else ""
                return ToolReply(format_error(exc) + hint, None, ok=False)
        kind = FileType.from_filename(resolved)
        artifact = FileOutput(resolved, kind, len(data), base64.b64encode(data).decode())
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return ToolReply(
                f"{resolved} is a binary file ({kind.value}, {human_size(len(data))}); its content is not "
                "shown. Process it with code instead.",
                artifact,
            )
        header = f"{resolved} ({human_size(len(data))}):\n"
        return ToolReply(header + clip(text, self.max_file_chars), artifact)

    def list_files(self, key: str, path: str | None = None, language: str | None = None) -> ToolReply:
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        with self.manager.session(key, lang) as session:
            try:
                root = session.resolve_path(path or session.workdir)
                entries = session.list_files(root, limit=DEFAULT_LIST_LIMIT + 1)
            except MODEL_FIXABLE_ERRORS as exc:
                return ToolReply(format_error(exc), None, ok=False)
        if not entries:
            return ToolReply(f"{root} is empty", [])
        shown = entries[:DEFAULT_LIST_LIMIT]
        lines = [f"{root}:"]
        for entry in shown:
            relative = posixpath.relpath(entry.path, root)
            lines.append(
                f"  {relative}/" if entry.kind == "dir" else f"  {relative}  ({human_size(entry.size)})"
            )
        if len(entries) > len(shown):
            lines.append("  [... more entries not shown; list a subdirectory ...]")
        return ToolReply("\n".join(lines), shown)


def _capped_append(buffer: list[str], limit: int) -> Any:
    size = [0]

    def append(text: str) -> None:
        if size[0] < limit:
            buffer.append(text)
            size[0] += len(text)

    return append


__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "MODEL_FIXABLE_ERRORS",
    "TOOL_NAMES",
    "InstallPackagesInput",
    "ListFilesInput",
    "ReadFileInput",
    "RunCodeInput",
    "SandboxOperations",
    "ToolReply",
    "ToolText",
    "UploadFileInput",
    "UploadUserFileInput",
    "arguments_schema",
    "clip",
    "describe_run_tool",
    "describe_tool",
    "format_error",
    "format_result",
    "with_language_argument",
]

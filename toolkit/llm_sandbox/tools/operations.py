"""The agent operations on a session manager, framework-free: the one layer every adapter shares
(LangChain, LlamaIndex, the MCP server).

Every operation returns a :class:`~llm_sandbox.tools.text.ToolReply` (text
for the model + an artifact for the application). Adapters call them through
:meth:`SandboxOperations.perform`, which applies the infrastructure-error
policy (raise, or tell the model) the same way for every framework.
"""

from __future__ import annotations

import base64
import codecs
import logging
import posixpath
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from llm_sandbox.const import FileType
from llm_sandbox.data import ExecutionResult, FileOutput
from llm_sandbox.exceptions import LanguageNotSupportedError, SandboxError, ValidationError
from llm_sandbox.tools.text import (
    DEFAULT_LIST_LIMIT,
    DEFAULT_MAX_FILE_CHARS,
    DEFAULT_MAX_OUTPUT_CHARS,
    MODEL_FIXABLE_ERRORS,
    ToolReply,
    format_error,
    format_infrastructure_error,
    format_result,
    human_size,
    strip_fence,
)

if TYPE_CHECKING:
    from llm_sandbox.agents import SessionManager


logger = logging.getLogger("llm_sandbox.tools")

OutputCallback = Callable[[str], None]
InfrastructureErrors = Literal["raise", "tell_model"]
"""What a tool does when the sandbox service fails (engine down, image missing, every sandbox busy):
raise to the application, or tell the model (an error result it reads; logged as a warning)."""


class SandboxOperations:
    """The agent operations on a :class:`~llm_sandbox.agents.SessionManager`, framework-free.

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
        infrastructure_errors: InfrastructureErrors = "raise",
        name_prefix: str = "",
    ) -> None:
        if infrastructure_errors not in get_args(InfrastructureErrors):
            raise ValidationError(
                f"infrastructure_errors must be 'raise' or 'tell_model', got {infrastructure_errors!r}"
            )
        self.manager = manager
        self.max_output_chars = max_output_chars
        self.max_file_chars = max_file_chars
        self.host_dir = Path(host_dir).resolve() if host_dir else None
        self.infrastructure_errors = infrastructure_errors
        self.name_prefix = name_prefix
        """That of the tool names the texts mention (``list_files`` becomes ``sandbox_list_files``)."""

    def perform(self, operation: str, key: str, *arguments: Any, **options: Any) -> ToolReply:
        """Operation ``operation`` (``run_code``, ``read_file``...) in the sandbox of ``key``.

        Errors the model can fix are reply text already; an infrastructure error (any other
        :class:`SandboxError`: the engine, the image, the bound of sandboxes) is raised or, with
        ``infrastructure_errors="tell_model"``, becomes an error reply (and a warning in the log).
        """
        try:
            reply: ToolReply = getattr(self, operation)(key, *arguments, **options)
        except SandboxError as exc:
            if self.infrastructure_errors == "raise":
                raise
            logger.warning("%s for %r failed; the model is told: %s: %s", operation, key, type(exc).__name__, exc)
            return ToolReply(format_infrastructure_error(exc), ok=False)
        return reply

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
        self,
        key: str,
        code: str,
        language: str | None = None,
        libraries: Sequence[str] | None = None,
        *,
        timeout: float | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> ToolReply:
        """Run ``code``; ``timeout`` overrides the manager's, the callbacks see output as it streams."""
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        if not isinstance(code, str) or not code.strip():
            return ToolReply("error: `code` is empty; pass the complete program to run", ok=False)
        code = strip_fence(code)
        return self._streamed(
            key,
            lang,
            lambda session, out, err: session.run(
                code, libraries=list(libraries or []) or None, timeout=timeout, on_stdout=out, on_stderr=err
            ),
            on_stdout,
            on_stderr,
        )

    def run_command(
        self,
        key: str,
        command: str,
        language: str | None = None,
        *,
        timeout: float | None = None,
        on_stdout: OutputCallback | None = None,
        on_stderr: OutputCallback | None = None,
    ) -> ToolReply:
        """Run a shell command (``sh -c``) as the sandbox user in the sandbox of ``language``."""
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        if not isinstance(command, str) or not command.strip():
            return ToolReply("error: `command` is empty; pass the shell command to run", ok=False)

        def call(session: Any, out: OutputCallback, err: OutputCallback) -> ExecutionResult:
            started = time.monotonic()
            output = session.execute_command(command, timeout=timeout, on_stdout=out, on_stderr=err)
            return ExecutionResult(
                exit_code=output.exit_code,
                stdout=output.stdout,
                stderr=output.stderr,
                duration=time.monotonic() - started,
            )

        return self._streamed(key, lang, call, on_stdout, on_stderr)

    def _streamed(
        self,
        key: str,
        lang: str | None,
        call: Callable[[Any, OutputCallback, OutputCallback], ExecutionResult],
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
    ) -> ToolReply:
        """``call(session, on_stdout, on_stderr)`` in the sandbox of ``key``; errors the model can fix
        (a timeout) are reported with what the program printed before them. A program that failed (a
        non-zero exit code) is a reply with ``ok=False`` and its result."""
        stdout: list[str] = []
        stderr: list[str] = []
        out = _tee(_capped_append(stdout, self.max_output_chars * 4), on_stdout)
        err = _tee(_capped_append(stderr, self.max_output_chars * 4), on_stderr)
        with self.manager.session(key, lang) as session:  # opening failures are not the model's: raised
            try:
                result = call(session, out, err)
            except MODEL_FIXABLE_ERRORS as exc:
                text = format_error(
                    exc, stdout="".join(stdout), stderr="".join(stderr), max_chars=self.max_output_chars
                )
                return ToolReply(text, None, ok=False)
        return ToolReply(format_result(result, max_chars=self.max_output_chars), result, ok=result.exit_code == 0)

    def reset_session(self, key: str, language: str | None = None) -> ToolReply:
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        workdir = self.manager.language_info(lang).workdir
        if not self.manager.is_stateful(lang):
            return ToolReply(f"nothing to reset: every run starts with a fresh interpreter; files in {workdir} stay")
        with self.manager.session(key, lang) as session:
            session.reset()
        return ToolReply(
            f"the interpreter was restarted: variables, imports and definitions are gone; files in {workdir} stay",
            True,
        )

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
        content: str | bytes | None = None,
        source: str | None = None,
        language: str | None = None,
    ) -> ToolReply:
        """Write ``content`` (text, or bytes as given) or the user's file ``source`` to ``path``."""
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
            data = content if isinstance(content, bytes) else str(content).encode()
        with self.manager.session(key, lang) as session:
            try:
                written = session.write_file(path, data)
            except MODEL_FIXABLE_ERRORS as exc:
                return ToolReply(format_error(exc), None, ok=False)
        return ToolReply(f"wrote {written} ({human_size(len(data))})", written)

    def read_file(self, key: str, path: str, language: str | None = None) -> ToolReply:
        """The start of a file, as much as the model is shown (``max_file_chars``): only that is read."""
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        with self.manager.session(key, lang) as session:
            try:
                content = session.read_file(path, max_bytes=self.max_file_chars * 4)  # UTF-8: <= 4 bytes a char
            except MODEL_FIXABLE_ERRORS as exc:
                hint = self._missing_file_hint(exc)
                return ToolReply(format_error(exc) + hint, None, ok=False)
        kind = FileType.from_filename(content.path)
        # The artifact carries the file only when all of it was read (like large run artifacts).
        encoded = None if content.truncated else base64.b64encode(content.data).decode()
        artifact = FileOutput(content.path, kind, content.size, encoded)
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(content.data, final=not content.truncated)
        except UnicodeDecodeError:
            return ToolReply(
                f"{content.path} is a binary file ({kind.value}, {human_size(content.size)}); its content is not "
                "shown. Process it with code instead.",
                artifact,
            )
        header = f"{content.path} ({human_size(content.size)}):\n"
        if len(text) <= self.max_file_chars and not content.truncated:
            return ToolReply(header + text, artifact)
        shown = text[: self.max_file_chars]
        return ToolReply(
            header + shown + f"\n[... the rest of the file ({human_size(content.size - len(shown.encode()))}) is not "
            "shown; read the part you need with code (e.g. tail, grep, or slicing) ...]",
            artifact,
        )

    def download_file(self, key: str, path: str, max_bytes: int, language: str | None = None) -> ToolReply:
        """The whole file at ``path`` as a ``FileOutput`` artifact, refused (before any copy) above ``max_bytes``."""
        lang, refusal = self._language(language)
        if refusal is not None:
            return refusal
        with self.manager.session(key, lang) as session:
            try:
                resolved = session.resolve_path(path)
                entry = next((e for e in session.list_files(resolved, depth=1, limit=2) if e.path == resolved), None)
                if entry is None:
                    raise IsADirectoryError(f"{resolved} is a directory; download the files in it one by one")
                if entry.size > max_bytes:
                    return ToolReply(
                        f"error: {resolved} is {human_size(entry.size)}; files up to {human_size(max_bytes)} can "
                        "be downloaded. Compress it or split it into parts with code, then download the parts.",
                        ok=False,
                    )
                content = session.read_file(resolved, max_bytes=max_bytes)
            except MODEL_FIXABLE_ERRORS as exc:
                hint = self._missing_file_hint(exc)
                return ToolReply(format_error(exc) + hint, None, ok=False)
        if content.truncated:  # it grew past the bound since it was listed
            return ToolReply(f"error: {resolved} grew past {human_size(max_bytes)} while being read", ok=False)
        data = content.data
        kind = FileType.from_filename(resolved)
        artifact = FileOutput(resolved, kind, len(data), base64.b64encode(data).decode())
        return ToolReply(f"{resolved} ({kind.value}, {human_size(len(data))})", artifact)

    def _missing_file_hint(self, error: BaseException) -> str:
        return f" (use {self.name_prefix}list_files to see what exists)" if isinstance(error, FileNotFoundError) else ""

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


def _tee(first: OutputCallback, second: OutputCallback | None) -> OutputCallback:
    if second is None:
        return first

    def both(text: str) -> None:
        first(text)
        second(text)

    return both


def _capped_append(buffer: list[str], limit: int) -> Any:
    size = [0]

    def append(text: str) -> None:
        if size[0] < limit:
            buffer.append(text)
            size[0] += len(text)

    return append

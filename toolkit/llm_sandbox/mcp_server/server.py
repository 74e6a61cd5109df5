"""The MCP server: tools over a :class:`~llm_sandbox.agents.SessionManager`, one sandbox per client session.

Built on the SDK's low-level ``Server``, whose lifespan runs once per client session (the
one stdio client, or each streamable-HTTP session): it gives the session its own sandbox key
and removes the sandbox when the session ends: the client disconnected, its process died
(stdin closed, or, over HTTP, no connection for ``--idle-timeout`` seconds), or the server
stops. In between, sandboxes unused for ``--idle-timeout`` seconds are reaped.

Every tool call returns a result, errors included (``isError``): a failed or timed-out run,
a bad path, an engine that does not answer. The server itself never fails a call.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import anyio
from pydantic import BaseModel, Field, create_model
from pydantic import ValidationError as ArgumentsError

from llm_sandbox.agents import SessionManager
from llm_sandbox.exceptions import MissingDependencyError, SandboxError, SessionLimitError
from llm_sandbox.languages import get_language
from llm_sandbox.mcp_server.config import ServerConfig
from llm_sandbox.tools.descriptions import describe_run_tool
from llm_sandbox.tools.operations import SandboxOperations
from llm_sandbox.tools.text import ToolReply, human_size

try:
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.server.lowlevel.helper_types import ReadResourceContents
    from mcp.shared.context import RequestContext
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra installed
    raise MissingDependencyError(
        f"the MCP server needs the mcp SDK ({exc.name} is missing); "
        "install it with: pip install 'llm-sandbox-toolkit[mcp]'"
    ) from exc

from llm_sandbox.mcp_server.results import file_result, run_result, text_result
from llm_sandbox.mcp_server.streaming import Reporter, reported

logger = logging.getLogger("llm_sandbox.mcp_server")

LANGUAGES_URI = "sandbox://languages"


@dataclass
class Client:
    """One MCP client session: the key of its sandboxes in the manager, and the log level it asked for."""

    key: str
    log_level: types.LoggingLevel = "info"


@dataclass(frozen=True)
class _Tool:
    definition: types.Tool
    arguments: type[BaseModel]
    call: Callable[[Any, Client, RequestContext], Awaitable[types.CallToolResult]]


class SandboxServer:
    """The tools, resource and lifecycle of one server; ``server`` is the SDK's server to run."""

    def __init__(self, config: ServerConfig, manager: SessionManager) -> None:
        self.config = config
        self.manager = manager
        self.ops = SandboxOperations(manager)
        self.server: Server[Client, Any] = Server(
            "llm-sandbox", version=_version(), instructions=self._instructions(), lifespan=self._client_session
        )
        self.tools = {tool.definition.name: tool for tool in self._tools()}
        self._register()

    # -- lifecycle ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _client_session(self, _: Server[Client, Any]) -> AsyncIterator[Client]:
        client = Client(key=f"mcp-{uuid.uuid4().hex[:12]}")
        logger.info("client session %s started", client.key)
        try:
            yield client
        finally:
            with anyio.CancelScope(shield=True):  # the session may end by cancellation: clean up anyway
                closed = await anyio.to_thread.run_sync(self.manager.close_session, client.key)
            logger.info("client session %s ended%s", client.key, "; its sandbox was removed" if closed else "")

    # -- protocol handlers -------------------------------------------------------------------
    def _register(self) -> None:
        server = self.server

        @server.list_tools()
        async def list_tools() -> list[types.Tool]:
            return [tool.definition for tool in self.tools.values()]

        @server.call_tool()
        async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
            request = server.request_context
            tool = self.tools.get(name)
            if tool is None:
                return text_result(f"error: no tool named {name!r}; tools: {', '.join(self.tools)}", error=True)
            try:
                parsed = tool.arguments.model_validate(arguments)
            except ArgumentsError as exc:
                return text_result(f"error: invalid arguments for {name}: {exc}", error=True)
            try:
                return await tool.call(parsed, request.lifespan_context, request)
            except SessionLimitError:
                return text_result(
                    f"error: this server's limit of {self.manager.max_sessions} open sandboxes is reached; try "
                    "again later, call reset_session to close this session's, or ask its operator to raise "
                    "--max-sessions",
                    error=True,
                )
            except SandboxError as exc:  # the engine, the image: the message says what to do
                logger.warning("%s failed for %s: %s", name, request.lifespan_context.key, exc)
                return text_result(f"error: {exc}", error=True)
            except Exception as exc:
                logger.exception("%s failed for %s", name, request.lifespan_context.key)
                return text_result(f"error: the sandbox server failed: {type(exc).__name__}: {exc}", error=True)

        @server.list_resources()
        async def list_resources() -> list[types.Resource]:
            return [
                types.Resource(
                    uri=LANGUAGES_URI,  # type: ignore[arg-type]
                    name="languages",
                    description="The languages of this sandbox server and what each offers (JSON).",
                    mimeType="application/json",
                )
            ]

        @server.read_resource()
        async def read_resource(uri: Any) -> list[ReadResourceContents]:
            if str(uri) != LANGUAGES_URI:
                raise ValueError(f"unknown resource {uri}; this server has {LANGUAGES_URI}")
            details = {lang: self.language_details(lang) for lang in self.manager.languages}
            return [ReadResourceContents(json.dumps(details, indent=2), "application/json")]

        @server.set_logging_level()
        async def set_logging_level(level: types.LoggingLevel) -> None:
            server.request_context.lifespan_context.log_level = level

    # -- tools -------------------------------------------------------------------------------
    def _tools(self) -> list[_Tool]:
        config, manager = self.config, self.manager
        info = manager.language_info(manager.lang)
        several = len(manager.languages) > 1
        enabled = ", ".join(manager.languages)
        limit = human_size(config.max_file_bytes)
        language_field: Any = (
            str,
            Field(default=manager.lang, description=f"Programming language, one of: {enabled}."),
        )
        sandbox_field: dict[str, Any] = (
            {
                "language": (
                    str | None,
                    Field(default=None, description=f"Whose sandbox: one of {enabled} (default {manager.lang})."),
                )
            }
            if several
            else {}
        )
        timeout_field: Any = (
            float,
            Field(
                default=config.timeout,
                gt=0,
                le=config.max_timeout,
                description=f"Seconds before the run is stopped (at most {config.max_timeout:g}).",
            ),
        )
        same_files = " Each language has its own sandbox." if several else ""

        def tool(
            name: str,
            description: str,
            call: Callable[[Any, Client, RequestContext], Awaitable[types.CallToolResult]],
            fields: dict[str, Any],
            *,
            read_only: bool = False,
            destructive: bool = False,
        ) -> _Tool:
            model: type[BaseModel] = create_model(f"{name}_arguments", **fields)
            annotations = types.ToolAnnotations(
                title=name.replace("_", " ").capitalize(),
                readOnlyHint=read_only,
                destructiveHint=destructive,
                openWorldHint=False,
            )
            definition = types.Tool(
                name=name, description=description, inputSchema=model.model_json_schema(), annotations=annotations
            )
            return _Tool(definition, model, call)

        return [
            tool(
                "execute_code",
                describe_run_tool(manager)
                + "\nOutput streams to the client while the code runs; plots come back as images.",
                self.execute_code,
                {
                    "code": (str, Field(description="The complete program to run.")),
                    "language": language_field,
                    "libraries": (
                        list[str] | None,
                        Field(default=None, description="Packages to install before the run, e.g. ['scipy']."),
                    ),
                    "timeout": timeout_field,
                },
            ),
            tool(
                "execute_command",
                "Run a shell command (sh -c) in this session's sandbox as an unprivileged user, in "
                f"{info.workdir}: the files execute_code sees.{same_files} No network.",
                self.execute_command,
                {
                    "command": (str, Field(description="The shell command, e.g. 'ls -la' or 'wc -l data.csv'.")),
                    **sandbox_field,
                    "timeout": timeout_field,
                },
            ),
            tool(
                "upload_file",
                f"Write a file into the sandbox from base64 content (at most {limit}). Relative paths are under "
                f"{info.workdir}; only {info.workdir} and /tmp are writable; directories are created.",
                self.upload_file,
                {
                    "path": (str, Field(description="Where to write it, e.g. 'data/input.csv'.")),
                    "content_base64": (str, Field(description="The file's bytes, base64-encoded.")),
                    **sandbox_field,
                },
                destructive=True,
            ),
            tool(
                "download_file",
                f"Get a file from the sandbox (at most {limit}): images come back as images, text files as "
                "text, others as an embedded resource.",
                self.download_file,
                {"path": (str, Field(description="The file, e.g. 'outputs/report.csv'.")), **sandbox_field},
                read_only=True,
            ),
            tool(
                "list_files",
                f"List the files of a sandbox directory (default {info.workdir}, 3 levels deep).",
                self.list_files,
                {
                    "path": (
                        str | None,
                        Field(default=None, description=f"The directory; omit for {info.workdir}."),
                    ),
                    **sandbox_field,
                },
                read_only=True,
            ),
            tool(
                "reset_session",
                "Remove this session's sandboxes: their files and installed libraries are gone, and the next "
                "call starts from a fresh sandbox. Stops code that is still running.",
                self.reset_session,
                {},
                destructive=True,
            ),
            tool(
                "get_supported_languages",
                "The languages execute_code accepts on this server (a JSON list).",
                self.get_supported_languages,
                {},
                read_only=True,
            ),
            tool(
                "get_language_details",
                "What the sandbox of a language offers: preinstalled libraries, package manager, plots, "
                "limits (JSON).",
                self.get_language_details,
                {"language": (str, Field(description=f"One of: {enabled}."))},
                read_only=True,
            ),
        ]

    async def execute_code(self, args: Any, client: Client, request: RequestContext) -> types.CallToolResult:
        reply = await self._reported(
            request,
            client,
            lambda reporter: self.manager.run_in_thread(
                self.ops.run_code,
                client.key,
                args.code,
                args.language,
                args.libraries,
                timeout=args.timeout,
                on_stdout=reporter.on_stdout,
                on_stderr=reporter.on_stderr,
                cancellable=True,
            ),
        )
        return run_result(reply, max_bytes=self.config.max_file_bytes)

    async def execute_command(self, args: Any, client: Client, request: RequestContext) -> types.CallToolResult:
        language = getattr(args, "language", None)
        reply = await self._reported(
            request,
            client,
            lambda reporter: self.manager.run_in_thread(
                self.ops.run_command,
                client.key,
                args.command,
                language,
                timeout=args.timeout,
                on_stdout=reporter.on_stdout,
                on_stderr=reporter.on_stderr,
                cancellable=True,
            ),
        )
        return run_result(reply, max_bytes=self.config.max_file_bytes)

    async def upload_file(self, args: Any, client: Client, request: RequestContext) -> types.CallToolResult:
        limit = self.config.max_file_bytes
        if len(args.content_base64) > (limit + 2) // 3 * 4 + 4:
            return text_result(f"error: the file is over {human_size(limit)}; upload smaller parts", error=True)
        try:
            data = base64.b64decode(args.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            return text_result(f"error: content_base64 is not valid base64 ({exc})", error=True)
        if len(data) > limit:
            return text_result(f"error: the file is over {human_size(limit)}; upload smaller parts", error=True)
        reply = await self.manager.run_in_thread(
            self.ops.upload_file, client.key, args.path, data, None, getattr(args, "language", None)
        )
        return text_result(reply.text, error=not reply.ok)

    async def download_file(self, args: Any, client: Client, request: RequestContext) -> types.CallToolResult:
        reply = await self.manager.run_in_thread(
            self.ops.download_file,
            client.key,
            args.path,
            self.config.max_file_bytes,
            getattr(args, "language", None),
        )
        return file_result(reply)

    async def list_files(self, args: Any, client: Client, request: RequestContext) -> types.CallToolResult:
        reply = await self.manager.run_in_thread(
            self.ops.list_files, client.key, args.path, getattr(args, "language", None)
        )
        return text_result(reply.text, error=not reply.ok)

    async def reset_session(self, args: Any, client: Client, request: RequestContext) -> types.CallToolResult:
        closed = await self.manager.run_in_thread(self.manager.close_session, client.key)
        return text_result(
            "removed this session's sandbox; the next call starts from a fresh one"
            if closed
            else "this session had no sandbox open; the next call starts from a fresh one"
        )

    async def get_supported_languages(
        self, args: Any, client: Client, request: RequestContext
    ) -> types.CallToolResult:
        return text_result(json.dumps(self.manager.languages, indent=2))

    async def get_language_details(
        self, args: Any, client: Client, request: RequestContext
    ) -> types.CallToolResult:
        language = self._language(args.language)
        if language is None:
            return text_result(
                f"error: language {args.language!r} is not available here; use one of: "
                f"{', '.join(self.manager.languages)}",
                error=True,
            )
        return text_result(json.dumps(self.language_details(language), indent=2))

    # -- helpers -----------------------------------------------------------------------------
    def language_details(self, language: str) -> dict[str, Any]:
        """What a model (or its user) should know about the sandbox of ``language``."""
        info = self.manager.language_info(language)
        config = get_language(language).config
        return {
            "name": info.name,
            "display_name": info.display_name,
            "aliases": list(config.aliases),
            "default": language == self.manager.lang,
            "image": self.manager.options(language).get("image") or config.default_image,
            "file_extension": config.file_extension,
            "package_manager": info.package_manager if info.can_install else None,
            "library_installation": info.can_install,
            "preinstalled_libraries": list(info.preinstalled),
            "visualization_support": info.plots,
            "network": info.network,
            "workdir": info.workdir,
            "outputs_dir": info.outputs_dir,
            "timeout": self.config.timeout,
            "max_timeout": self.config.max_timeout,
        }

    def _language(self, language: str | None) -> str | None:
        """The canonical name of an enabled language, or None (the operations explain the refusal)."""
        try:
            return self.manager.resolve_language(language)
        except SandboxError:
            return None

    async def _reported(
        self, request: RequestContext, client: Client, work: Callable[[Reporter], Awaitable[ToolReply]]
    ) -> ToolReply:
        return await reported(request, work, log_level=client.log_level, interval=self.config.progress_interval)

    def _instructions(self) -> str:
        manager = self.manager
        network = "has network access" if manager.language_info().network else "has no network access"
        return (
            f"Runs code in isolated containers: {', '.join(manager.languages)} (default {manager.lang}). "
            "Each client session has its own sandbox, whose files persist between its calls; the code "
            f"{network}. A sandbox unused for {self.config.idle_timeout:g} s is removed, and so are a "
            "session's sandboxes when the session ends; reset_session starts over."
        )


def _version() -> str:
    try:
        return metadata.version("llm-sandbox-toolkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0+unknown"

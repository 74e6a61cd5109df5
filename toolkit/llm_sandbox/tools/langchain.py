"""LangChain tools: run code, install packages and move files in per-conversation sandboxes.

::

    from llm_sandbox.langchain import SandboxTool, SandboxToolkit

    tool = SandboxTool(lang="python", libraries=["scikit-learn"], security_policy="production")
    message = tool.invoke(
        {"type": "tool_call", "id": "1", "name": "run_code", "args": {"code": "print(6 * 7)"}},
        config={"configurable": {"thread_id": "conversation-1"}},
    )
    message.content   # "exit code: 0 (0.08 s)\\nstdout:\\n42"
    message.artifact  # the ExecutionResult (plots, files)

    # run_code, install_packages, upload_file, read_file, list_files:
    tools = SandboxToolkit(lang="python").get_tools()

Every tool of a toolkit shares one :class:`~llm_sandbox.agents.SessionManager`
(``toolkit.manager``): the sandbox is chosen by
``config["configurable"]["sandbox_session_key"]``, else the tool's
``session_key``, else ``config["configurable"]["thread_id"]``, else the
manager's default key. Errors the model can fix come back as the tool's
content; infrastructure failures raise.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Literal

from llm_sandbox.agents import SessionManager
from llm_sandbox.exceptions import MissingDependencyError, ValidationError
from llm_sandbox.tools.descriptions import describe_tool
from llm_sandbox.tools.operations import SandboxOperations
from llm_sandbox.tools.schemas import (
    InstallPackagesInput,
    ListFilesInput,
    ReadFileInput,
    ResetSessionInput,
    RunCodeInput,
    UploadFileInput,
    arguments_schema,
)
from llm_sandbox.tools.text import DEFAULT_MAX_FILE_CHARS, DEFAULT_MAX_OUTPUT_CHARS, ToolReply

try:
    from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool, BaseToolkit
    from langchain_core.tools.base import ArgsSchema
    from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra installed
    raise MissingDependencyError(
        f"llm_sandbox.langchain needs langchain-core ({exc.name} is missing); "
        "install it with: pip install 'llm-sandbox-toolkit[langchain]'"
    ) from exc

_MANAGER_PARAMETERS = frozenset(inspect.signature(SessionManager.__init__).parameters) - {"self"}


def _split_session_config(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs.pop(name) for name in list(kwargs) if name in _MANAGER_PARAMETERS}


def _manager_from(manager: SessionManager | None, config: dict[str, Any]) -> SessionManager:
    if manager is None:
        return SessionManager(**config)
    if config:
        raise ValidationError(
            f"pass either manager= or session options ({', '.join(sorted(config))}), not both: "
            "the manager's own options apply"
        )
    return manager


class _SandboxToolBase(BaseTool):
    """Shared plumbing: the session manager, the session key, and sync/async dispatch."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    manager: SessionManager = Field(exclude=True)
    """Owns the sandboxes; shared by every tool of a toolkit."""
    session_key: str | None = None
    """Fixed sandbox key; when None, the thread id of the call's config (or the manager's default)."""
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    """Per stream, in the content the model sees (the artifact has everything)."""
    max_file_chars: int = DEFAULT_MAX_FILE_CHARS
    host_dir: str | None = None
    """A host directory whose files the upload tool may copy into the sandbox (``source``)."""
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    operation: ClassVar[str] = ""
    """Which of the shared operations (``tools.descriptions.TOOL_NAMES``) this tool performs."""

    _ops: SandboxOperations = PrivateAttr()

    def __init__(self, *, manager: SessionManager | None = None, **kwargs: Any) -> None:
        config = _split_session_config(kwargs)
        manager = _manager_from(manager, config)
        kwargs.setdefault(
            "description", describe_tool(self.operation, manager, user_files=bool(kwargs.get("host_dir")))
        )
        kwargs["manager"] = manager
        super().__init__(**kwargs)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        self._ops = SandboxOperations(
            self.manager,
            max_output_chars=self.max_output_chars,
            max_file_chars=self.max_file_chars,
            host_dir=self.host_dir,
        )
        if self.args_schema is type(self).model_fields["args_schema"].default:  # not replaced by the user
            self.args_schema = self._default_schema()

    def _default_schema(self) -> type[BaseModel]:
        """The arguments a model sees (with ``language`` when the manager has several languages)."""
        return arguments_schema(self.operation, self.manager, user_files=bool(self.host_dir))

    def session_key_for(self, config: RunnableConfig | None) -> str:
        """The sandbox key of a call with ``config``."""
        configurable = (config or {}).get("configurable") or {}
        key = configurable.get("sandbox_session_key") or self.session_key or configurable.get("thread_id")
        return str(key) if key else self.manager.default_key

    def _call(self, operation: str, config: RunnableConfig | None, **arguments: Any) -> tuple[str, Any]:
        reply: ToolReply = getattr(self._ops, operation)(self.session_key_for(config), **arguments)
        return reply.text, reply.artifact

    async def _acall(self, operation: str, config: RunnableConfig | None, **arguments: Any) -> tuple[str, Any]:
        key = self.session_key_for(config)
        reply: ToolReply = await self.manager.run_in_thread(
            getattr(self._ops, operation), key, interrupt=(key, None), **arguments
        )
        return reply.text, reply.artifact

    def _run(
        self,
        *positional: Any,
        config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **arguments: Any,
    ) -> tuple[str, Any]:
        return self._call(self.operation, config, **self._arguments(positional, arguments))

    async def _arun(
        self,
        *positional: Any,
        config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **arguments: Any,
    ) -> tuple[str, Any]:
        return await self._acall(self.operation, config, **self._arguments(positional, arguments))

    def _arguments(self, positional: tuple[Any, ...], arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments by name; a plain ``tool.run("...")`` passes the first schema field positionally."""
        schema = self.args_schema
        names = list(schema.model_fields) if isinstance(schema, type) and issubclass(schema, BaseModel) else []
        return {**dict(zip(names, positional, strict=False)), **arguments}

    def close(self) -> None:
        """Close the manager (and every sandbox it holds)."""
        self.manager.close()


class SandboxTool(_SandboxToolBase):
    """Run code in the conversation's sandbox: ``content`` is compact text, ``artifact`` the ExecutionResult.

    Configure it with :class:`~llm_sandbox.agents.SessionManager` options
    (``backend``, ``lang``, ``languages``, ``image``, ``libraries``
    preinstalled at open, ``runtime_configs``, ``security_policy`` preset name
    or object, ``execution_timeout``, ``idle_timeout``, ``max_sessions``...)
    or pass a shared ``manager=``. ``artifact`` is ``None`` when the run did
    not complete (timeout, refused by the policy, libraries not installable):
    the content then says why.
    """

    name: str = "run_code"
    operation: ClassVar[str] = "run_code"
    description: str = ""
    args_schema: ArgsSchema | None = RunCodeInput


class SandboxInstallTool(_SandboxToolBase):
    """Install packages into the conversation's sandbox; artifact: the installer's ConsoleOutput."""

    name: str = "install_packages"
    operation: ClassVar[str] = "install_packages"
    description: str = ""
    args_schema: ArgsSchema | None = InstallPackagesInput


class SandboxUploadTool(_SandboxToolBase):
    """Write a file into the sandbox from text (or a file of ``host_dir``); artifact: its sandbox path."""

    name: str = "upload_file"
    operation: ClassVar[str] = "upload_file"
    description: str = ""
    args_schema: ArgsSchema | None = UploadFileInput


class SandboxReadFileTool(_SandboxToolBase):
    """Read a file from the sandbox; artifact: a FileOutput with the full content (base64)."""

    name: str = "read_file"
    operation: ClassVar[str] = "read_file"
    description: str = ""
    args_schema: ArgsSchema | None = ReadFileInput


class SandboxListFilesTool(_SandboxToolBase):
    """List files in the sandbox; artifact: a list of FileEntry."""

    name: str = "list_files"
    operation: ClassVar[str] = "list_files"
    description: str = ""
    args_schema: ArgsSchema | None = ListFilesInput


class SandboxResetTool(_SandboxToolBase):
    """Restart the conversation's interpreter (variables gone, files kept); artifact: whether it had one."""

    name: str = "reset_session"
    operation: ClassVar[str] = "reset_session"
    description: str = ""
    args_schema: ArgsSchema | None = ResetSessionInput


_TOOL_CLASSES: dict[str, type[_SandboxToolBase]] = {
    "run_code": SandboxTool,
    "install_packages": SandboxInstallTool,
    "upload_file": SandboxUploadTool,
    "read_file": SandboxReadFileTool,
    "list_files": SandboxListFilesTool,
    "reset_session": SandboxResetTool,
}


class SandboxToolkit(BaseToolkit):
    """The tools an agent needs, sharing one session manager: run_code, install_packages,
    upload_file, read_file, list_files, reset_session (``tools=`` picks a subset).

    Takes the same session options as :class:`SandboxTool` (or ``manager=``).
    Use it as a context manager, or call :meth:`close`, to close every sandbox
    when the application is done (they are also closed when idle and at exit).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    manager: SessionManager = Field(exclude=True)
    session_key: str | None = None
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    max_file_chars: int = DEFAULT_MAX_FILE_CHARS
    host_dir: str | None = None
    tools: tuple[str, ...] = tuple(_TOOL_CLASSES)

    _tools: list[BaseTool] = PrivateAttr(default_factory=list)

    def __init__(self, *, manager: SessionManager | None = None, **kwargs: Any) -> None:
        config = _split_session_config(kwargs)
        manager = _manager_from(manager, config)
        unknown = set(kwargs.get("tools", ())) - set(_TOOL_CLASSES)
        if unknown:
            raise ValidationError(
                f"unknown tool(s) {', '.join(sorted(unknown))}; choose from {', '.join(_TOOL_CLASSES)}"
            )
        kwargs["manager"] = manager
        super().__init__(**kwargs)

    def get_tools(self) -> list[BaseTool]:
        if not self._tools:
            common: dict[str, Any] = {
                "manager": self.manager,
                "session_key": self.session_key,
                "max_output_chars": self.max_output_chars,
                "max_file_chars": self.max_file_chars,
                "host_dir": self.host_dir,
            }
            self._tools = [_TOOL_CLASSES[name](**common) for name in self.tools]
        return list(self._tools)

    def close(self) -> None:
        self.manager.close()

    def __enter__(self) -> SandboxToolkit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "InstallPackagesInput",
    "ListFilesInput",
    "ReadFileInput",
    "RunCodeInput",
    "SandboxInstallTool",
    "SandboxListFilesTool",
    "SandboxReadFileTool",
    "SandboxResetTool",
    "SandboxTool",
    "SandboxToolkit",
    "SandboxUploadTool",
    "UploadFileInput",
]

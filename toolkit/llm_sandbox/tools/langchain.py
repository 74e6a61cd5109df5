"""LangChain tools: run code, install packages and move files in per-conversation sandboxes.

::

    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver
    from llm_sandbox.langchain import SandboxToolkit

    toolkit = SandboxToolkit(lang="python", security_policy="production")
    agent = create_agent(model, toolkit.get_tools(), checkpointer=InMemorySaver())
    state = agent.invoke({"messages": [("user", "plot a sine wave")]},
                         {"configurable": {"thread_id": "conversation-1"}})
    message = state["messages"][-2]        # the run_code ToolMessage
    message.content                        # "exit code: 0 (0.08 s)\\nplots: 1 image captured ..."
    toolkit.load_artifact(message).plots   # the ExecutionResult, rebuilt from the stored form

Every tool of a toolkit shares one :class:`~llm_sandbox.agents.SessionManager`
(``toolkit.manager``): the sandbox is chosen by
``config["configurable"]["sandbox_session_key"]``, else the tool's
``session_key``, else ``config["configurable"]["thread_id"]``, else the
manager's default key.

- **Artifacts** are JSON-native dicts (:mod:`llm_sandbox.tools.artifacts`), so every
  checkpointer stores them; ``artifacts="reference"`` keeps only metadata and an id in the
  state (the payload stays in the manager's ``artifact_store``). ``load_artifact`` gives
  the typed object back.
- **Errors** the model can fix (a failing program, a timeout, a refused import, a bad path)
  raise :class:`SandboxToolError`, a ``ToolException`` the tool handles into the same text:
  ``ToolMessage.status == "error"`` (a failed run keeps its artifact). Missing or malformed
  arguments give a readable ``status="error"`` message too (``handle_validation_error``).
  Infrastructure errors (engine down, image missing, every sandbox busy) are told to the model
  the same way, or raised with ``infrastructure_errors="raise"``.
- **Live output** of ``run_code`` goes to LangChain custom events (``astream_events``: name
  ``"sandbox_output"``) and LangGraph's stream writer (``stream_mode="custom"``).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from llm_sandbox.agents import SessionManager
from llm_sandbox.exceptions import MissingDependencyError, ValidationError
from llm_sandbox.tools.artifacts import ArtifactMode, check_mode, load_artifact, stored_artifact
from llm_sandbox.tools.descriptions import describe_tool
from llm_sandbox.tools.operations import InfrastructureErrors, SandboxOperations
from llm_sandbox.tools.schemas import (
    InstallPackagesInput,
    ListFilesInput,
    ReadFileInput,
    ResetSessionInput,
    RunCodeInput,
    UploadFileInput,
    arguments_schema,
    describe_invalid_arguments,
)
from llm_sandbox.tools.text import DEFAULT_MAX_FILE_CHARS, DEFAULT_MAX_OUTPUT_CHARS, ToolReply

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForToolRun,
        CallbackManagerForToolRun,
        adispatch_custom_event,
        dispatch_custom_event,
    )
    from langchain_core.messages import ToolMessage
    from langchain_core.runnables import RunnableConfig
    from langchain_core.tools import BaseTool, BaseToolkit, ToolException
    from langchain_core.tools.base import ArgsSchema
    from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra installed
    raise MissingDependencyError(
        f"llm_sandbox.langchain needs langchain-core ({exc.name} is missing); "
        "install it with: pip install 'llm-sandbox-toolkit[langchain]'"
    ) from exc

logger = logging.getLogger("llm_sandbox.tools")

OUTPUT_EVENT = "sandbox_output"
"""Name of the custom events (and ``type`` of the stream-writer chunks) carrying a run's live output."""

_MANAGER_PARAMETERS = frozenset(inspect.signature(SessionManager.__init__).parameters) - {"self"}

_FAILED_ARTIFACTS: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "llm_sandbox_failed_artifacts", default=None
)
"""The artifact of a failed call, for ``run``/``arun`` to put back on the error ToolMessage (LangChain
drops the artifact of a handled ToolException)."""


class SandboxToolError(ToolException):
    """A sandbox tool call that failed in a way the model reads: a failing program, a timeout, a refused
    import, a bad path (and infrastructure errors told to the model). ``str(error)`` is the text the
    model gets; ``artifact`` the stored artifact (a failed run's result), or None."""

    def __init__(self, text: str, artifact: Any = None) -> None:
        super().__init__(text)
        self.artifact = artifact


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


def _stream_writer() -> Callable[[Any], None] | None:
    """LangGraph's stream writer of the running node (``stream_mode="custom"``), if inside a graph."""
    try:
        from langgraph.config import get_stream_writer
    except ImportError:
        return None
    try:
        return get_stream_writer()
    except (RuntimeError, KeyError):  # not inside a graph (no config, or one without a graph's runtime)
        return None


class _SandboxToolBase(BaseTool):
    """Shared plumbing: the session manager, the session key, sync/async dispatch, errors, live output."""

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
    artifacts: ArtifactMode = "full"
    """``full``: the whole artifact in the ToolMessage (and so in every checkpoint); ``reference``:
    metadata and an id, the payload kept in ``manager.artifact_store`` (see :meth:`load_artifact`)."""
    infrastructure_errors: InfrastructureErrors = "tell_model"
    """When the sandbox service fails (engine down, image missing, every sandbox busy): ``tell_model``
    (an error ToolMessage, and a warning in the log) or ``raise`` (the agent run fails with the error)."""
    name_prefix: str = ""
    """Put before the tool's default name (``sandbox_`` gives ``sandbox_read_file``)."""
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: Any = True

    operation: ClassVar[str] = ""
    """Which of the shared operations (``tools.descriptions.TOOL_NAMES``) this tool performs."""
    streams_output: ClassVar[bool] = False
    """The operation's output streams live (custom events, LangGraph's stream writer)."""

    _ops: SandboxOperations = PrivateAttr()

    def __init__(self, *, manager: SessionManager | None = None, **kwargs: Any) -> None:
        config = _split_session_config(kwargs)
        manager = _manager_from(manager, config)
        prefix = str(kwargs.get("name_prefix") or "")
        if prefix and "name" not in kwargs:
            kwargs["name"] = prefix + self.operation
        kwargs.setdefault(
            "description",
            describe_tool(self.operation, manager, user_files=bool(kwargs.get("host_dir")), prefix=prefix),
        )
        kwargs["manager"] = manager
        super().__init__(**kwargs)

    def model_post_init(self, context: Any) -> None:
        super().model_post_init(context)
        check_mode(self.artifacts)
        self._ops = SandboxOperations(
            self.manager,
            max_output_chars=self.max_output_chars,
            max_file_chars=self.max_file_chars,
            host_dir=self.host_dir,
            infrastructure_errors=self.infrastructure_errors,
            name_prefix=self.name_prefix,
        )
        if self.args_schema is type(self).model_fields["args_schema"].default:  # not replaced by the user
            self.args_schema = self._default_schema()
        if "handle_validation_error" not in self.model_fields_set:
            declared = self.args_schema
            schema = declared if isinstance(declared, type) and issubclass(declared, BaseModel) else None
            self.handle_validation_error = functools.partial(describe_invalid_arguments, self.name, schema=schema)

    def _default_schema(self) -> type[BaseModel]:
        """The arguments a model sees (with ``language`` when the manager has several languages)."""
        return arguments_schema(self.operation, self.manager, user_files=bool(self.host_dir))

    def session_key_for(self, config: RunnableConfig | None) -> str:
        """The sandbox key of a call with ``config``."""
        configurable = (config or {}).get("configurable") or {}
        key = configurable.get("sandbox_session_key") or self.session_key or configurable.get("thread_id")
        return str(key) if key else self.manager.default_key

    def load_artifact(self, message: Any) -> Any:
        """The typed artifact (``ExecutionResult``...) of a ToolMessage of this tool (or of its
        ``artifact``), as stored in the state or read back from a checkpoint; references are fetched
        from the manager's ``artifact_store``."""
        return load_artifact(getattr(message, "artifact", message), self.manager.artifact_store)

    # -- calls -------------------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> Any:
        failed: list[Any] = []
        token = _FAILED_ARTIFACTS.set(failed)
        try:
            return _with_failed_artifact(super().run(*args, **kwargs), failed)
        finally:
            _FAILED_ARTIFACTS.reset(token)

    async def arun(self, *args: Any, **kwargs: Any) -> Any:
        failed: list[Any] = []
        token = _FAILED_ARTIFACTS.set(failed)
        try:
            return _with_failed_artifact(await super().arun(*args, **kwargs), failed)
        finally:
            _FAILED_ARTIFACTS.reset(token)

    def _run(
        self,
        *positional: Any,
        config: RunnableConfig,
        run_manager: CallbackManagerForToolRun | None = None,
        **arguments: Any,
    ) -> tuple[str, Any]:
        key = self.session_key_for(config)
        arguments = self._arguments(positional, arguments)
        if self.streams_output:
            emit = self._emitter(key, run_manager, _stream_writer())
            arguments.update(on_stdout=functools.partial(emit, "stdout"), on_stderr=functools.partial(emit, "stderr"))
        return self._outcome(self._ops.perform(self.operation, key, **arguments))

    async def _arun(
        self,
        *positional: Any,
        config: RunnableConfig,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
        **arguments: Any,
    ) -> tuple[str, Any]:
        key = self.session_key_for(config)
        arguments = self._arguments(positional, arguments)
        if not self.streams_output:
            reply = await self.manager.run_in_thread(
                self._ops.perform, self.operation, key, cancellable=True, **arguments
            )
            return self._outcome(reply)
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        forwarding = asyncio.create_task(self._forward(chunks, key, run_manager, _stream_writer()))

        def queue(stream: str, text: str) -> None:
            loop.call_soon_threadsafe(chunks.put_nowait, (stream, text))

        try:
            reply = await self.manager.run_in_thread(
                self._ops.perform, self.operation, key, cancellable=True,
                on_stdout=functools.partial(queue, "stdout"), on_stderr=functools.partial(queue, "stderr"),
                **arguments,
            )  # fmt: skip
        except BaseException:
            forwarding.cancel()
            raise
        chunks.put_nowait(None)  # after every chunk the run queued: they are all forwarded first
        await forwarding
        return self._outcome(reply)

    def _outcome(self, reply: ToolReply) -> tuple[str, Any]:
        """``(content, artifact)`` of a reply, or :class:`SandboxToolError` for a failed one."""
        artifact = stored_artifact(reply.artifact, self.artifacts, self.manager.artifact_store)
        if reply.ok:
            return reply.text, artifact
        failed = _FAILED_ARTIFACTS.get()
        if failed is not None:
            failed.append(artifact)
        raise SandboxToolError(reply.text, artifact)

    def _output_event(self, key: str, stream: str, text: str, run_id: Any) -> dict[str, Any]:
        return {
            "type": OUTPUT_EVENT,
            "tool": self.name,
            "session_key": key,
            "run_id": str(run_id) if run_id is not None else None,
            "stream": stream,
            "text": text,
        }

    def _emitter(
        self, key: str, run_manager: CallbackManagerForToolRun | None, writer: Callable[[Any], None] | None
    ) -> Callable[[str, str], None]:
        """Sends a chunk of live output (from the engine's reader thread) to the callbacks and the graph's stream."""
        callbacks = run_manager.get_child() if run_manager is not None else None

        def emit(stream: str, text: str) -> None:
            data = self._output_event(key, stream, text, run_manager.run_id if run_manager else None)
            try:
                if writer is not None:
                    writer(data)
                if callbacks is not None:
                    dispatch_custom_event(OUTPUT_EVENT, data, config={"callbacks": callbacks})
            except Exception:  # a listener's failure never stops the run
                logger.exception("forwarding sandbox output to LangChain failed")

        return emit

    async def _forward(
        self,
        chunks: asyncio.Queue[tuple[str, str] | None],
        key: str,
        run_manager: AsyncCallbackManagerForToolRun | None,
        writer: Callable[[Any], None] | None,
    ) -> None:
        """The async side of :meth:`_emitter`: chunks queued by the run's thread, sent in order."""
        callbacks = run_manager.get_child() if run_manager is not None else None
        while (chunk := await chunks.get()) is not None:
            data = self._output_event(key, *chunk, run_manager.run_id if run_manager else None)
            try:
                if writer is not None:
                    writer(data)
                if callbacks is not None:
                    await adispatch_custom_event(OUTPUT_EVENT, data, config={"callbacks": callbacks})
            except Exception:
                logger.exception("forwarding sandbox output to LangChain failed")

    def _arguments(self, positional: tuple[Any, ...], arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments by name; a plain ``tool.run("...")`` passes the first schema field positionally."""
        schema = self.args_schema
        names = list(schema.model_fields) if isinstance(schema, type) and issubclass(schema, BaseModel) else []
        return {**dict(zip(names, positional, strict=False)), **arguments}

    def close(self) -> None:
        """Close the manager (and every sandbox it holds)."""
        self.manager.close()


def _with_failed_artifact(output: Any, failed: list[Any]) -> Any:
    """The error ToolMessage of a failed call, with that call's artifact (LangChain leaves it out)."""
    if failed and isinstance(output, ToolMessage) and output.status == "error" and output.artifact is None:
        output.artifact = failed[-1]
    return output


class SandboxTool(_SandboxToolBase):
    """Run code in the conversation's sandbox: ``content`` is compact text, ``artifact`` the run's result
    in stored form (``load_artifact(message)`` gives the ``ExecutionResult``).

    Configure it with :class:`~llm_sandbox.agents.SessionManager` options
    (``backend``, ``lang``, ``languages``, ``image``, ``libraries``
    preinstalled at open, ``runtime_configs``, ``security_policy`` preset name
    or object, ``execution_timeout``, ``idle_timeout``, ``max_sessions``...)
    or pass a shared ``manager=``. A failed run (non-zero exit code) gives
    ``status="error"`` with its result as artifact; a run that did not complete
    (timeout, refused by the policy, libraries not installable) gives
    ``status="error"`` and no artifact: the content says why.
    """

    name: str = "run_code"
    operation: ClassVar[str] = "run_code"
    streams_output: ClassVar[bool] = True
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
    upload_file, read_file, list_files, reset_session (``tools=`` picks a subset, ``name_prefix``
    renames them all; ``artifacts``, ``infrastructure_errors``: as on :class:`SandboxTool`).

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
    artifacts: ArtifactMode = "full"
    infrastructure_errors: InfrastructureErrors = "tell_model"
    name_prefix: str = ""
    """Put before every tool name (``sandbox_`` avoids clashes with LangChain's file-management tools)."""
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
                "artifacts": self.artifacts,
                "infrastructure_errors": self.infrastructure_errors,
                "name_prefix": self.name_prefix,
            }
            self._tools = [_TOOL_CLASSES[name](**common) for name in self.tools]
        return list(self._tools)

    def load_artifact(self, message: Any) -> Any:
        """The typed artifact of a ToolMessage of these tools (see :meth:`SandboxTool.load_artifact`)."""
        return load_artifact(getattr(message, "artifact", message), self.manager.artifact_store)

    def close(self) -> None:
        self.manager.close()

    def __enter__(self) -> SandboxToolkit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "OUTPUT_EVENT",
    "InstallPackagesInput",
    "ListFilesInput",
    "ReadFileInput",
    "RunCodeInput",
    "SandboxInstallTool",
    "SandboxListFilesTool",
    "SandboxReadFileTool",
    "SandboxResetTool",
    "SandboxTool",
    "SandboxToolError",
    "SandboxToolkit",
    "SandboxUploadTool",
    "UploadFileInput",
    "load_artifact",
]

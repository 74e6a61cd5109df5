"""LlamaIndex tools: a ``BaseToolSpec`` whose ``to_tool_list()`` gives sync + async ``FunctionTool``s.

::

    from llama_index.core.agent.workflow import FunctionAgent
    from llm_sandbox.llamaindex import SandboxToolSpec

    spec = SandboxToolSpec(lang="python")
    agent = FunctionAgent(tools=spec.to_tool_list(), llm=llm)
    ctx = Context(agent)                       # one conversation = one sandbox
    await agent.run("plot a sine wave", ctx=ctx)
    spec.last_result_for(ctx).plots            # artifacts stay with the application

    # CodeActAgent: its code runs in the conversation's sandbox (one interpreter per Context)
    agent = CodeActAgent(code_execute_fn=spec.code_execute_fn, llm=llm)

Tools: ``run_code``, ``install_packages``, ``upload_file``, ``read_file``,
``list_files``, ``reset_session`` (``name_prefix=`` renames them all). Each
returns model-friendly text; the artifact (the ``ExecutionResult`` of a run,
the ``FileOutput`` of a read...) is kept in ``spec.results`` (per conversation:
``spec.results_for(ctx)``, ``spec.last_result_for(ctx)``) and also travels as
``ToolOutput.raw_output.artifact``.

- **Errors** the model can fix (a failing program, a timeout, a refused import, a
  bad path) give ``ToolOutput.is_error == True`` with the readable text; so do
  missing or malformed arguments (checked against the tool's schema before the
  call) and, by default, infrastructure errors (``infrastructure_errors="raise"``
  raises them instead: LlamaIndex agents then show the exception's message to the
  model themselves, with ``ToolOutput.exception`` set).
- **Live output** of ``run_code`` inside an agent is written to the agent's event
  stream as :class:`SandboxOutput` events (``handler.stream_events()``).

Sandbox per conversation: inside an agent the key is stored in the agent's
``Context`` (its store, under ``"llm_sandbox_session_key"``: set it yourself to
choose the key), so every run with the same context uses the same sandbox and
different contexts get different sandboxes. Called without a context, a spec
uses one key of its own (or ``session_key=``).
"""

# No `from __future__ import annotations` here: LlamaIndex finds the Context
# parameter of a tool function by its real annotation object.

import asyncio
import contextlib
import functools
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_sandbox.agents import SessionManager
from llm_sandbox.data import ExecutionResult
from llm_sandbox.exceptions import MissingDependencyError, ValidationError
from llm_sandbox.tools.descriptions import TOOL_NAMES, describe_tool
from llm_sandbox.tools.operations import InfrastructureErrors, SandboxOperations
from llm_sandbox.tools.schemas import arguments_schema, describe_invalid_arguments
from llm_sandbox.tools.text import DEFAULT_MAX_FILE_CHARS, DEFAULT_MAX_OUTPUT_CHARS, ToolReply, ToolText

try:
    from llama_index.core.tools import FunctionTool, ToolOutput
    from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
    from llama_index.core.tools.types import ToolMetadata
    from llama_index.core.workflow import Context, Event
    from pydantic import Field
    from pydantic import ValidationError as ArgumentsError
    from pydantic.fields import FieldInfo
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra installed
    raise MissingDependencyError(
        f"llm_sandbox.llamaindex needs llama-index-core ({exc.name} is missing); "
        "install it with: pip install 'llm-sandbox-toolkit[llamaindex]'"
    ) from exc

CONTEXT_KEY = "llm_sandbox_session_key"
"""Where the sandbox key of a conversation is kept in a LlamaIndex ``Context`` store."""

_NO_CONTEXT: Any = Field(default=None, exclude=True)
"""Default of the ``ctx`` parameters: agents pass their Context, direct calls may omit it."""


class SandboxOutput(Event):
    """Live output of a ``run_code`` call, written to the agent's event stream as the program prints it."""

    tool: str
    session_key: str
    stream: str
    """``stdout`` or ``stderr``."""
    text: str


class SandboxFunctionTool(FunctionTool):
    """A ``FunctionTool`` that checks its arguments against its schema (a readable error for the model
    instead of a ``TypeError`` or a ``ValidationError``) and flags failed calls with ``is_error``."""

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        checked = self._checked(args, kwargs)
        if isinstance(checked, ToolOutput):
            return checked
        return _flagged(super().call(*args, **checked))

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        checked = self._checked(args, kwargs)
        if isinstance(checked, ToolOutput):
            return checked
        return _flagged(await super().acall(*args, **checked))

    def _checked(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | ToolOutput:
        """The keyword arguments, validated by the schema (unknown ones dropped), or an error output."""
        schema = self.metadata.fn_schema
        if args or schema is None:
            return kwargs
        context = {name: value for name, value in kwargs.items() if name == self.ctx_param_name}
        arguments = {name: value for name, value in kwargs.items() if name != self.ctx_param_name}
        try:
            validated = schema.model_validate(arguments)
        except ArgumentsError as error:
            return ToolOutput(
                content=describe_invalid_arguments(self.metadata.get_name(), error, schema),
                tool_name=self.metadata.get_name(),
                raw_input={"args": args, "kwargs": arguments},
                raw_output=None,
                is_error=True,
            )
        return {**{name: getattr(validated, name) for name in validated.model_fields_set}, **context}


def _flagged(output: ToolOutput) -> ToolOutput:
    output.is_error = not getattr(output.raw_output, "ok", True)
    return output


@dataclass
class ToolRecord:
    """One tool call's outcome, as kept in :attr:`SandboxToolSpec.results`."""

    tool: str
    session_key: str
    text: str
    artifact: Any
    ok: bool
    timestamp: float = field(default_factory=time.time)


class SandboxToolSpec(BaseToolSpec):
    """Sandbox tools for LlamaIndex agents (``FunctionAgent``, ``ReActAgent``, ``AgentWorkflow``).

    Takes :class:`~llm_sandbox.agents.SessionManager` options (``backend``,
    ``lang``, ``languages``, ``image``, ``libraries``, ``runtime_configs``,
    ``security_policy``, ``execution_timeout``, ``idle_timeout``,
    ``max_sessions``...) or a shared ``manager=``. ``keep_results`` bounds the
    history in :attr:`results`; ``name_prefix`` is put before every tool name;
    ``infrastructure_errors``: ``"tell_model"`` (default) or ``"raise"``.
    """

    spec_functions: list[SPEC_FUNCTION_TYPE] = [
        ("run_code", "arun_code"),
        ("install_packages", "ainstall_packages"),
        ("upload_file", "aupload_file"),
        ("read_file", "aread_file"),
        ("list_files", "alist_files"),
        ("reset_session", "areset_session"),
    ]

    def __init__(
        self,
        *,
        manager: SessionManager | None = None,
        session_key: str | None = None,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        max_file_chars: int = DEFAULT_MAX_FILE_CHARS,
        host_dir: str | None = None,
        keep_results: int = 100,
        name_prefix: str = "",
        infrastructure_errors: InfrastructureErrors = "tell_model",
        **session_config: Any,
    ) -> None:
        if manager is None:
            manager = SessionManager(**session_config)
        elif session_config:
            raise ValidationError(
                f"pass either manager= or session options ({', '.join(sorted(session_config))}), not both"
            )
        self.manager = manager
        self.session_key = session_key
        self.host_dir = host_dir
        self.name_prefix = name_prefix
        self.default_key = session_key or f"llamaindex-{uuid.uuid4().hex[:12]}"
        self.results: deque[ToolRecord] = deque(maxlen=keep_results)
        self._ops = SandboxOperations(
            manager,
            max_output_chars=max_output_chars,
            max_file_chars=max_file_chars,
            host_dir=host_dir,
            infrastructure_errors=infrastructure_errors,
            name_prefix=name_prefix,
        )
        self._lock = threading.Lock()
        self._context_keys: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    # -- tools ---------------------------------------------------------------------------------
    def to_tool_list(  # type: ignore[override]
        self,
        spec_functions: Sequence[SPEC_FUNCTION_TYPE] | None = None,
        func_to_metadata_mapping: dict[str, ToolMetadata] | None = None,
    ) -> list[FunctionTool]:
        """FunctionTools (sync and async) with descriptions and argument schemas written for models
        (:class:`SandboxFunctionTool`: arguments checked, failures flagged with ``is_error``)."""
        wanted = list(spec_functions or self.spec_functions)
        mapping = func_to_metadata_mapping or {}
        tools = []
        for spec in wanted:
            sync_name, async_name = (spec, f"a{spec}") if isinstance(spec, str) else spec
            if sync_name not in TOOL_NAMES:
                raise ValueError(f"unknown sandbox tool {sync_name!r}; choose from {', '.join(TOOL_NAMES)}")
            metadata = mapping.get(sync_name) or ToolMetadata(
                name=self.name_prefix + sync_name,
                description=describe_tool(
                    sync_name, self.manager, user_files=bool(self.host_dir), prefix=self.name_prefix
                ),
                fn_schema=arguments_schema(sync_name, self.manager, user_files=bool(self.host_dir)),
            )
            tools.append(
                SandboxFunctionTool.from_defaults(
                    fn=getattr(self, sync_name),
                    async_fn=getattr(self, async_name),
                    tool_metadata=metadata,
                )
            )
        return tools

    def run_code(
        self,
        code: str,
        language: str | None = None,
        libraries: list[str] | None = None,
        ctx: Context = _NO_CONTEXT,
    ) -> ToolText:
        """Run code in the conversation's sandbox; returns exit code, stdout, stderr, plots and files."""
        return self._call("run_code", ctx, code, language, libraries)

    async def arun_code(
        self,
        code: str,
        language: str | None = None,
        libraries: list[str] | None = None,
        ctx: Context = _NO_CONTEXT,
    ) -> ToolText:
        """Run code in the conversation's sandbox; returns exit code, stdout, stderr, plots and files."""
        return await self._acall("run_code", ctx, code, language, libraries)

    def install_packages(
        self, libraries: list[str], language: str | None = None, ctx: Context = _NO_CONTEXT
    ) -> ToolText:
        """Install packages into the conversation's sandbox."""
        return self._call("install_packages", ctx, libraries, language)

    async def ainstall_packages(
        self, libraries: list[str], language: str | None = None, ctx: Context = _NO_CONTEXT
    ) -> ToolText:
        """Install packages into the conversation's sandbox."""
        return await self._acall("install_packages", ctx, libraries, language)

    def upload_file(
        self,
        path: str,
        content: str | None = None,
        source: str | None = None,
        language: str | None = None,
        ctx: Context = _NO_CONTEXT,
    ) -> ToolText:
        """Write a file into the sandbox."""
        return self._call("upload_file", ctx, path, content, source, language)

    async def aupload_file(
        self,
        path: str,
        content: str | None = None,
        source: str | None = None,
        language: str | None = None,
        ctx: Context = _NO_CONTEXT,
    ) -> ToolText:
        """Write a file into the sandbox."""
        return await self._acall("upload_file", ctx, path, content, source, language)

    def read_file(self, path: str, language: str | None = None, ctx: Context = _NO_CONTEXT) -> ToolText:
        """Read a text file from the sandbox."""
        return self._call("read_file", ctx, path, language)

    async def aread_file(
        self, path: str, language: str | None = None, ctx: Context = _NO_CONTEXT
    ) -> ToolText:
        """Read a text file from the sandbox."""
        return await self._acall("read_file", ctx, path, language)

    def list_files(
        self, path: str | None = None, language: str | None = None, ctx: Context = _NO_CONTEXT
    ) -> ToolText:
        """List files in the sandbox."""
        return self._call("list_files", ctx, path, language)

    async def alist_files(
        self, path: str | None = None, language: str | None = None, ctx: Context = _NO_CONTEXT
    ) -> ToolText:
        """List files in the sandbox."""
        return await self._acall("list_files", ctx, path, language)

    async def code_execute_fn(self, code: str, ctx: Context = _NO_CONTEXT) -> ToolText:
        """Run Python code in the conversation's sandbox, where variables of earlier code are still
        defined; returns its exit code, output and the value of its last expression.

        For ``CodeActAgent(code_execute_fn=spec.code_execute_fn, llm=llm)``: each agent Context gets its
        own sandbox (and interpreter). Functions passed as the agent's ``tools`` are not callable from
        this code (it runs in the sandbox, not in your process).
        """
        return await self._acall("run_code", ctx, code)

    def _call(self, tool: str, ctx: Any, *arguments: Any) -> ToolText:
        """Run operation ``tool`` in the sandbox of ``ctx``'s conversation and keep its record."""
        key = self._key(ctx)
        return self._record(tool, key, self._ops.perform(tool, key, *arguments))

    async def _acall(self, tool: str, ctx: Any, *arguments: Any) -> ToolText:
        """:meth:`_call` in the manager's threads; cancelling the await interrupts what runs. A run's
        output is written to the agent's event stream as it comes (:class:`SandboxOutput`)."""
        key = await self._akey(ctx)
        live = self._live_output(tool, key, ctx) if tool == "run_code" else {}
        reply = await self.manager.run_in_thread(
            self._ops.perform, tool, key, *arguments, cancellable=True, **live
        )
        return self._record(tool, key, reply)

    def _live_output(self, tool: str, key: str, ctx: Any) -> dict[str, Callable[[str], None]]:
        """``on_stdout``/``on_stderr`` that write :class:`SandboxOutput` events to ``ctx``'s stream (from the
        run's thread, through the event loop: every chunk is written before the call returns)."""
        if not isinstance(ctx, Context):
            return {}
        loop = asyncio.get_running_loop()

        def emit(stream: str, text: str) -> None:
            event = SandboxOutput(tool=self.name_prefix + tool, session_key=key, stream=stream, text=text)
            loop.call_soon_threadsafe(_write_event, ctx, event)

        return {"on_stdout": functools.partial(emit, "stdout"), "on_stderr": functools.partial(emit, "stderr")}

    def reset_session(self, language: str | None = None, ctx: Context = _NO_CONTEXT) -> ToolText:
        """Restart the conversation's interpreter: variables gone, files kept."""
        return self._call("reset_session", ctx, language)

    async def areset_session(self, language: str | None = None, ctx: Context = _NO_CONTEXT) -> ToolText:
        """Restart the conversation's interpreter: variables gone, files kept."""
        return await self._acall("reset_session", ctx, language)

    # -- artifacts -----------------------------------------------------------------------------
    @property
    def last_result(self) -> ExecutionResult | None:
        """The ExecutionResult of the latest completed ``run_code`` call, while this spec has served one
        conversation; with several, a ``ValidationError`` says to use :meth:`last_result_for`."""
        with self._lock:
            keys = {r.session_key for r in self.results if r.tool == "run_code"}
        if len(keys) > 1:
            raise ValidationError(
                f"this spec ran code for {len(keys)} conversations; use spec.last_result_for(ctx) (or a session "
                "key) for one conversation's result"
            )
        return self.last_result_for(keys.pop()) if keys else None

    def last_result_for(self, conversation: Any) -> ExecutionResult | None:
        """The ExecutionResult of the latest completed ``run_code`` call of ``conversation`` (an agent
        ``Context`` this spec has served, or a session key)."""
        for record in reversed(self.results_for(conversation)):
            if record.tool == "run_code" and isinstance(record.artifact, ExecutionResult):
                return record.artifact
        return None

    def results_for(self, conversation: Any) -> list[ToolRecord]:
        """The kept records of one conversation (an agent ``Context`` or a session key), oldest first."""
        key = conversation if isinstance(conversation, str) else self._known_key(conversation)
        with self._lock:
            return [r for r in self.results if r.session_key == key]

    def _record(self, tool: str, key: str, reply: ToolReply) -> ToolText:
        with self._lock:
            self.results.append(ToolRecord(tool, key, reply.text, reply.artifact, reply.ok))
        return reply.as_text()

    # -- session keys --------------------------------------------------------------------------
    def session_key_for(self, ctx: Any = None) -> str:
        """The sandbox key used for calls made with ``ctx`` (sync view; see module docs)."""
        return self._key(ctx)

    def _known_key(self, ctx: Any) -> str | None:
        """The key of a context this spec has served (no new key is made)."""
        if self.session_key or ctx is None or isinstance(ctx, FieldInfo):
            return self.default_key
        with self._lock:
            return self._cached(ctx)

    def _key(self, ctx: Any) -> str:
        if self.session_key or ctx is None or isinstance(ctx, FieldInfo):
            return self.default_key
        with self._lock:
            key = self._cached(ctx)
            if key is None:
                key = f"llamaindex-{uuid.uuid4().hex[:12]}"
                self._remember(ctx, key)
            return key

    async def _akey(self, ctx: Any) -> str:
        if self.session_key or ctx is None or isinstance(ctx, FieldInfo):
            return self.default_key
        with self._lock:
            cached = self._cached(ctx)
        if cached is not None:
            return cached
        stored: Any = None
        try:
            stored = await ctx.store.get(CONTEXT_KEY, default=None)
        except Exception:  # a typed state without that field, or a store that cannot be read here
            stored = None
        with self._lock:  # no await between the check and the update: concurrent calls agree
            key = (
                self._cached(ctx)
                or (str(stored) if stored else None)
                or f"llamaindex-{uuid.uuid4().hex[:12]}"
            )
            self._remember(ctx, key)
        if key != stored:
            with contextlib.suppress(Exception):  # unwritable stores still get the key from the cache
                await ctx.store.set(CONTEXT_KEY, key)
        return key

    def _cached(self, ctx: Any) -> str | None:
        try:
            return self._context_keys.get(_conversation_of(ctx))
        except TypeError:  # not weak-referenceable
            return None

    def _remember(self, ctx: Any, key: str) -> None:
        with contextlib.suppress(TypeError):  # not weak-referenceable: the store keeps the key
            self._context_keys[_conversation_of(ctx)] = key

    def close(self) -> None:
        """Close the manager (and every sandbox it holds)."""
        self.manager.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.manager.close)


def _conversation_of(ctx: Any) -> Any:
    """What identifies a context's conversation: its store (an agent hands its tools another ``Context``
    object than the application's, over the same store)."""
    return getattr(ctx, "store", ctx)


def _write_event(ctx: Context, event: Event) -> None:
    with contextlib.suppress(Exception):  # the run ended (the stream is closed): the chunk is in the result
        ctx.write_event_to_stream(event)


__all__ = ["CONTEXT_KEY", "SandboxFunctionTool", "SandboxOutput", "SandboxToolSpec", "ToolRecord"]

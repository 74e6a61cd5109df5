"""The chat loop: the model answers, calling the toolkit's sandbox tools; each call is a live step.

The model's text streams in; each tool call runs in the tab's sandbox and shows as its own
collapsible step (code, output while it streams, exit code and duration, plots).

No ``from __future__ import annotations`` here: Gradio finds ``gr.Request`` parameters
by their annotation.
"""

from collections.abc import AsyncIterator
from typing import Any

from llm_sandbox.data import ExecutionResult
from playground.live import changes
from playground.models import ModelChoice
from playground.options import PlaygroundConfig
from playground.results import keep_artifacts, result_line
from playground.sandboxes import Sandboxes
from playground.state import Tabs, TabState
from playground.steps import render_step
from playground.ui import gr

SYSTEM_PROMPT = (
    "You are a helpful assistant with a code sandbox. When a question needs computation, data work or a "
    "plot, write a complete program and run it with the run_code tool, read its output, then answer "
    "briefly. Use {language} unless the user asks for another language. Plots you show are displayed to "
    "the user automatically; files written to the outputs directory are offered for download."
)


class Chat:
    """The Chat tab's handlers: send a message, stop, clear."""

    def __init__(self, config: PlaygroundConfig, model: ModelChoice, tabs: Tabs, sandboxes: Sandboxes) -> None:
        self.max_steps = config.max_steps
        self.model = model
        self.tabs = tabs
        self.sandboxes = sandboxes
        self.tools: dict[str, Any] = {}
        self.toolkit: Any = None
        self.agent: Any = None
        if model.available:
            from llm_sandbox.langchain import SandboxToolkit

            # Infrastructure failures are shown to the user by send() itself (not told to the model).
            self.toolkit = SandboxToolkit(manager=sandboxes.manager, infrastructure_errors="raise")
            self.tools = {tool.name: tool for tool in self.toolkit.get_tools()}
            self.agent = model.model.bind_tools(list(self.tools.values()))

    async def send(self, message: str, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """One user message: the model answers, calling sandbox tools; each call is a live step."""
        tab = self.tabs.get(request)
        text = (message or "").strip()
        if not text:
            yield _shown(tab)
            return
        tab.display.append({"role": "user", "content": text})
        if not self.model.available:
            tab.display.append({"role": "assistant", "content": self.model.problem or "No model configured."})
            yield _shown(tab)
            return
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

        if not tab.messages:
            tab.messages.append(SystemMessage(SYSTEM_PROMPT.format(language=tab.settings.chat_language)))
        tab.messages.append(HumanMessage(text))
        yield _shown(tab)
        config: dict[str, Any] = {"configurable": {"sandbox_session_key": tab.key}}
        tab.stop_requested = False
        for _ in range(self.max_steps):
            reply: Any = None
            shown: dict[str, Any] | None = None
            try:
                async for chunk in self.agent.astream(tab.messages, config):
                    reply = chunk if reply is None else reply + chunk
                    words = _text_of(reply.content)
                    if words:
                        if shown is None:
                            shown = {"role": "assistant", "content": ""}
                            tab.display.append(shown)
                        shown["content"] = words
                        yield _shown(tab)
                    if tab.stop_requested:
                        break
            except Exception as exc:  # the model's endpoint failed: tell the user, keep the tab usable
                tab.display.append({"role": "assistant", "content": f"**The model failed:** {exc}"})
                if tab.messages and isinstance(tab.messages[-1], HumanMessage):
                    tab.messages.pop()
                yield _shown(tab)
                return
            answer = _as_message(reply) if reply is not None else AIMessage(content="")
            if tab.stop_requested:  # keep what was said, drop tool calls that will not run
                tab.messages.append(AIMessage(content=_text_of(answer.content)))
                tab.display.append({"role": "assistant", "content": "(stopped)"})
                yield _shown(tab)
                return
            tab.messages.append(answer)
            if not answer.tool_calls:
                if shown is None:
                    tab.display.append({"role": "assistant", "content": _text_of(answer.content) or "(no answer)"})
                yield _shown(tab)
                return
            halt = ""
            for call in answer.tool_calls:
                if halt:  # every tool call needs its answer, even the ones not run
                    tab.messages.append(
                        ToolMessage(content=f"error: not run ({halt})", tool_call_id=call["id"], name=call["name"])
                    )
                    continue
                outcome: dict[str, Any] = {}
                async for update in self._tool_step(tab, dict(call), config, outcome):
                    yield update
                tab.messages.append(outcome["message"])
                if outcome.get("infrastructure"):
                    halt = "the sandbox failed"
                elif tab.stop_requested:
                    halt = "stopped by the user"
            if halt:
                if tab.stop_requested:
                    tab.display.append({"role": "assistant", "content": "(stopped)"})
                    yield _shown(tab)
                return
        tab.display.append({"role": "assistant", "content": f"(stopped after {self.max_steps} model turns)"})
        yield _shown(tab)

    def stop(self, request: gr.Request) -> None:
        """The chat's Stop: interrupt the running tool call and end the turn (the sandbox stays)."""
        tab = self.tabs.get(request)
        tab.stop_requested = True
        self.sandboxes.interrupt(tab)

    def clear(self, request: gr.Request) -> None:
        """The chatbot's clear button: a new conversation (the sandbox and its files stay)."""
        tab = self.tabs.get(request)
        tab.messages.clear()
        tab.display.clear()

    async def _tool_step(
        self, tab: TabState, call: dict[str, Any], config: dict[str, Any], outcome: dict[str, Any]
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Run one tool call as a live step; ``outcome`` gets its ``message`` (and ``infrastructure`` on failure)."""
        from langchain_core.messages import ToolMessage

        name = call["name"]
        args = dict(call.get("args") or {})
        tool = self.tools.get(name)
        if tool is not None and "language" in _schema_fields(tool) and not args.get("language"):
            args["language"] = tab.settings.chat_language  # the tab's chat language fills the default
        language = str(args.get("language") or tab.settings.chat_language)
        step_id = f"step-{tab.next_number()}"
        title = f"{name} · {language}" if name == "run_code" else name
        step: dict[str, Any] = {
            "role": "assistant",
            "content": render_step(name, args, language, "", "", "running…"),
            "metadata": {"title": title, "status": "pending", "id": step_id},
        }
        tab.display.append(step)
        yield _shown(tab)
        if tool is None:
            text = f"error: there is no tool named {name!r}; use one of: {', '.join(self.tools)}"
            outcome["message"] = ToolMessage(content=text, tool_call_id=call["id"], name=name)
            step["content"] = render_step(name, args, language, "", "", text)
            step["metadata"] = {**step["metadata"], "status": "done", "log": "unknown tool"}
            yield _shown(tab)
            return
        invocation = {**call, "args": args, "type": "tool_call"}
        live, task = self.sandboxes.start(tab, tool.ainvoke(invocation, config))
        async for _ in changes(live, task):
            footer = f"running… {live.elapsed:.1f} s"
            step["content"] = render_step(name, args, language, live.stdout, live.stderr, footer)
            yield _shown(tab)
        duration = live.elapsed
        try:
            message = task.result()
        except Exception as exc:  # infrastructure (engine down, image missing): not the model's to fix
            text = f"error: the sandbox failed - {exc}"
            outcome["message"] = ToolMessage(content=text, tool_call_id=call["id"], name=name)
            outcome["infrastructure"] = True
            step["content"] = render_step(name, args, language, live.stdout, live.stderr, f"**{text}**")
            step["metadata"] = {**step["metadata"], "status": "done", "log": "sandbox failed"}
            yield _shown(tab)
            return
        outcome["message"] = message
        artifact = self.toolkit.load_artifact(message)
        if isinstance(artifact, ExecutionResult):
            plots = keep_artifacts(tab, artifact, f"chat ({language})")
            footer = result_line(artifact, len(plots))
            log = f"exit code {artifact.exit_code}"
            if live.cancelled:
                footer, log = f"**stopped** · {footer}", f"stopped, {log}"
            step["content"] = render_step(name, args, language, artifact.stdout, artifact.stderr, footer, plots=plots)
            duration = artifact.duration if artifact.duration is not None else duration
        else:
            text = str(message.content)
            step["content"] = render_step(name, args, language, "", "", "", result_text=text)
            log = "error" if text.startswith("error:") else "done"
        step["metadata"] = {**step["metadata"], "status": "done", "log": log, "duration": round(duration, 2)}
        yield _shown(tab)


def _shown(tab: TabState) -> tuple[Any, ...]:
    """The chat's outputs: the conversation as shown, the emptied input box, the tab's plots and files."""
    return tab.display, "", *tab.artifacts()


def _schema_fields(tool: Any) -> set[str]:
    schema = getattr(tool, "args_schema", None)
    return set(getattr(schema, "model_fields", {}) or {})


def _text_of(content: Any) -> str:
    """The text of a LangChain message's content (a string, or a list of blocks)."""
    if isinstance(content, str):
        return content
    pieces = []
    for block in content or []:
        if isinstance(block, str):
            pieces.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            pieces.append(str(block.get("text", "")))
    return "".join(pieces)


def _as_message(reply: Any) -> Any:
    """A streamed reply (chunks added together) as an ``AIMessage`` with parsed tool calls."""
    from langchain_core.messages import AIMessageChunk, message_chunk_to_message

    return message_chunk_to_message(reply) if isinstance(reply, AIMessageChunk) else reply

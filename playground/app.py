"""The Gradio app: Chat, Code and Settings tabs, a plot gallery and downloadable files.

Every browser tab (Gradio session) gets its own sandboxes from one
:class:`~llm_sandbox.agents.SessionManager`, keyed by ``gr.Request.session_hash``:
the chat's tool calls and the Code tab run in the same sandbox, so files persist
between them. A tab's sandbox is closed when the tab goes away (``demo.unload``), by
the reset button, or after the idle timeout (the next run then opens a new one).

No ``from __future__ import annotations`` here: Gradio finds ``gr.Request`` parameters
by their annotation.
"""

import asyncio
import base64
import contextlib
import json
import os
import posixpath
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before Gradio is imported: nothing leaves loopback

try:
    import gradio as gr
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    from llm_sandbox.exceptions import MissingDependencyError

    raise MissingDependencyError(
        f"the playground needs Gradio ({exc}); install it with: pip install 'llm-sandbox-toolkit[playground]'"
    ) from exc

from llm_sandbox.agents import SessionManager
from llm_sandbox.const import FileType, SandboxBackend, SupportedLanguage
from llm_sandbox.data import ExecutionResult
from llm_sandbox.exceptions import SandboxError, SandboxTimeoutError, SecurityViolationError
from llm_sandbox.security import get_security_policy, list_security_policies
from llm_sandbox.tooltext import MODEL_FIXABLE_ERRORS, format_error, human_size
from playground.live import LiveRouter
from playground.models import ModelChoice, resolve_model
from playground.options import PlaygroundConfig

LANGUAGES = [language.value for language in SupportedLanguage]
BACKENDS = [backend.value for backend in SandboxBackend]
NO_POLICY = "none"
POLL_SECONDS = 0.1

# gr.Code highlights these; the others show as plain text.
_EDITOR_LANGUAGES = {"python": "python", "javascript": "javascript", "cpp": "cpp", "r": "r"}

EXAMPLES = {
    "python": (
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n\n"
        "x = np.linspace(0, 4 * np.pi, 400)\n"
        'print(f"max of sin(x) * exp(-x/8): {np.max(np.sin(x) * np.exp(-x / 8)):.3f}")\n\n'
        "plt.plot(x, np.sin(x) * np.exp(-x / 8))\n"
        'plt.title("a damped sine")\n'
        "plt.show()\n"
    ),
    "javascript": 'const squares = [1, 2, 3, 4].map((n) => n * n);\nconsole.log("squares:", squares);\n',
    "java": (
        "public class Main {\n"
        "    public static void main(String[] args) {\n"
        '        System.out.println("Hello from Java " + System.getProperty("java.version"));\n'
        "    }\n}\n"
    ),
    "cpp": (
        "#include <iostream>\n\nint main() {\n"
        '    for (int i = 1; i <= 3; ++i) std::cout << "line " << i << "\\n";\n'
        "    return 0;\n}\n"
    ),
    "go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello from Go")\n}\n',
    "ruby": 'puts "Hello from Ruby #{RUBY_VERSION}"\n',
    "r": (
        "x <- seq(0, 2 * pi, length.out = 100)\n"
        'cat("mean of sin(x):", mean(sin(x)), "\\n")\n'
        'plot(x, sin(x), type = "l")\n'
    ),
}

SYSTEM_PROMPT = (
    "You are a helpful assistant with a code sandbox. When a question needs computation, data work or a "
    "plot, write a complete program and run it with the run_code tool, read its output, then answer "
    "briefly. Use {language} unless the user asks for another language. Plots you show are displayed to "
    "the user automatically; files written to the outputs directory are offered for download."
)

CSS = """
#plots { min-height: 260px; }
#run-status, #session-info { min-height: 1.5em; }
footer { display: none !important; }
"""

_MEMORY = re.compile(r"^\d+(\.\d+)?\s*[kmgKMG]?[bB]?$")


@dataclass(frozen=True)
class Settings:
    """What a tab's next sandbox opens with."""

    backend: str
    chat_language: str
    memory: str
    cpus: float
    timeout: float
    security_policy: str | None

    def summary(self) -> str:
        policy = self.security_policy or "no code checks"
        return (
            f"{self.backend} backend, {self.memory} memory, {self.cpus:g} CPU, "
            f"{self.timeout:g} s per run, security: {policy}"
        )


@dataclass
class TabState:
    """One browser tab: its sandbox key, settings, conversation and artifacts."""

    key: str
    directory: Path
    settings: Settings
    applied: dict[str, Settings] = field(default_factory=dict)
    """Per language: the settings its open sandbox was opened with."""
    messages: list[Any] = field(default_factory=list)
    """The LangChain conversation (system, human, AI with tool calls, tool messages)."""
    display: list[dict[str, Any]] = field(default_factory=list)
    """The chat as shown (Gradio messages)."""
    plots: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """Sandbox path → host copy, latest version of each."""
    counter: int = 0
    stop_requested: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_number(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def gallery(self) -> list[tuple[str, str]]:
        return list(self.plots)

    def file_list(self) -> list[str] | None:
        return list(self.files.values()) or None


class Playground:
    """State and handlers of one served playground (one session manager for every tab)."""

    def __init__(self, config: PlaygroundConfig, model: ModelChoice | None = None) -> None:
        self.config = config
        self.model = model if model is not None else resolve_model(config.model)
        if config.security_policy:
            get_security_policy(config.security_policy)  # fail at start on an unknown preset
        self.defaults = Settings(
            backend=config.backend,
            chat_language=config.lang,
            memory=config.memory,
            cpus=config.cpus,
            timeout=config.timeout,
            security_policy=config.security_policy or None,
        )
        self.manager = SessionManager(
            backend=config.backend,
            lang=config.lang,
            languages=LANGUAGES,
            execution_timeout=config.timeout,
            idle_timeout=config.idle_timeout,
            max_sessions=config.max_sessions,
            evict_idle=True,
            session_factory=self._open_sandbox,
        )
        self.router = LiveRouter(self.manager)
        self.root = Path(tempfile.mkdtemp(prefix="llm-sandbox-playground-"))
        self.tabs: dict[str, TabState] = {}
        self._tabs_lock = threading.Lock()
        self.tools: dict[str, Any] = {}
        self.agent: Any = None
        if self.model.available:
            from llm_sandbox.langchain import SandboxToolkit

            toolkit = SandboxToolkit(manager=self.manager)
            self.tools = {tool.name: tool for tool in toolkit.get_tools()}
            self.agent = self.model.model.bind_tools(list(self.tools.values()))

    # -- tabs and sandboxes ----------------------------------------------------------------------
    def tab(self, request: gr.Request | str) -> TabState:
        key = request if isinstance(request, str) else (request.session_hash or "anonymous")
        with self._tabs_lock:
            state = self.tabs.get(key)
            if state is None:
                directory = self.root / re.sub(r"[^A-Za-z0-9_-]", "_", key)
                directory.mkdir(parents=True, exist_ok=True)
                state = self.tabs[key] = TabState(key=key, directory=directory, settings=self.defaults)
            return state

    def _open_sandbox(self, key: str, lang: str) -> Any:
        """The manager's session factory: the tab's current settings, applied as the sandbox opens."""
        from llm_sandbox.session import ArtifactSandboxSession

        tab = self.tab(key)
        settings = tab.settings
        options = self.manager.options(lang)
        options.pop("backend", None)
        runtime = dict(options.get("runtime_configs") or {})
        runtime["mem_limit"] = settings.memory.replace(" ", "").lower()
        runtime["nano_cpus"] = int(settings.cpus * 1_000_000_000)
        options["runtime_configs"] = runtime
        options["execution_timeout"] = settings.timeout
        options["security_policy"] = get_security_policy(settings.security_policy) if settings.security_policy else None
        session = ArtifactSandboxSession(settings.backend, lang=lang, **options)
        tab.applied[lang] = settings
        return session

    def close_tab(self, key: str) -> None:
        with self._tabs_lock:
            state = self.tabs.pop(key, None)
        with contextlib.suppress(Exception):
            self.manager.close_session(key)
        if state is not None:
            shutil.rmtree(state.directory, ignore_errors=True)

    def close(self) -> None:
        self.router.close()
        self.manager.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- artifacts -------------------------------------------------------------------------------
    def keep_artifacts(self, tab: TabState, result: ExecutionResult | None, origin: str) -> list[str]:
        """Save a run's plots (gallery) and files (downloads) on the host; returns the new plot paths."""
        if result is None:
            return []
        new_plots = []
        for plot in result.plots:
            number = tab.next_number()
            extension = plot.format.value
            path = tab.directory / f"plot-{number}.{extension}"
            path.write_bytes(base64.b64decode(plot.content_base64))
            if plot.format.is_image and plot.format is not FileType.PDF:
                tab.plots.append((str(path), f"{origin} · plot {len(tab.plots) + 1}"))
                new_plots.append(str(path))
            else:
                tab.files[f"plot-{number}"] = str(path)
        for output in result.files:
            if output.content_base64 is None:  # over the session's artifact limit: not copied
                continue
            folder = tab.directory / f"files-{tab.next_number()}"
            folder.mkdir(exist_ok=True)
            path = folder / (posixpath.basename(output.path) or "file")
            path.write_bytes(base64.b64decode(output.content_base64))
            tab.files[output.path] = str(path)
        return new_plots

    # -- Code tab --------------------------------------------------------------------------------
    async def run_code(self, code: str, language: str, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """Run the editor's code in the tab's sandbox; stream stdout/stderr; plots go to the gallery."""
        tab = self.tab(request)
        if not (code or "").strip():
            yield "", "", "Nothing to run: type some code first.", tab.gallery(), tab.file_list()
            return
        lang = language or self.config.lang
        yield "", "", f"Running {lang} code…", tab.gallery(), tab.file_list()
        live, task = self.router.start(tab.key, self.manager.arun(tab.key, code, lang=lang))
        try:
            version = -1
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_SECONDS)
                if live.version != version and not task.done():
                    version = live.version
                    status = f"Running {lang} code… {live.elapsed:.1f} s"
                    yield live.stdout, live.stderr, status, tab.gallery(), tab.file_list()
        except asyncio.CancelledError:
            task.cancel()  # interrupts the run in the sandbox
            raise
        try:
            result = task.result()
        except MODEL_FIXABLE_ERRORS as exc:
            title = _error_title(exc)
            yield live.stdout, format_error(exc), f"**{title}**", tab.gallery(), tab.file_list()
            return
        except SandboxError as exc:
            yield live.stdout, live.stderr, f"**The sandbox failed:** {exc}", tab.gallery(), tab.file_list()
            return
        new_plots = self.keep_artifacts(tab, result, f"code tab ({lang})")
        status = _result_line(result, len(new_plots))
        if live.finished is not None and live.finished.cancelled:
            status = f"**Stopped:** the run was interrupted (the sandbox and its files stay) · {status}"
        yield result.stdout, result.stderr, status, tab.gallery(), tab.file_list()

    # -- Chat tab --------------------------------------------------------------------------------
    async def chat(self, message: str, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """One user message: the model answers, calling sandbox tools; each call is a live step."""
        tab = self.tab(request)
        text = (message or "").strip()
        if not text:
            yield tab.display, "", tab.gallery(), tab.file_list()
            return
        tab.display.append({"role": "user", "content": text})
        if not self.model.available:
            tab.display.append({"role": "assistant", "content": self.model.problem or "No model configured."})
            yield tab.display, "", tab.gallery(), tab.file_list()
            return
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

        if not tab.messages:
            tab.messages.append(SystemMessage(SYSTEM_PROMPT.format(language=tab.settings.chat_language)))
        tab.messages.append(HumanMessage(text))
        yield tab.display, "", tab.gallery(), tab.file_list()
        config: dict[str, Any] = {"configurable": {"sandbox_session_key": tab.key}}
        tab.stop_requested = False
        for _ in range(self.config.max_steps):
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
                        yield tab.display, "", tab.gallery(), tab.file_list()
                    if tab.stop_requested:
                        break
            except Exception as exc:  # the model's endpoint failed: tell the user, keep the tab usable
                tab.display.append({"role": "assistant", "content": f"**The model failed:** {exc}"})
                if tab.messages and isinstance(tab.messages[-1], HumanMessage):
                    tab.messages.pop()
                yield tab.display, "", tab.gallery(), tab.file_list()
                return
            answer = _as_message(reply) if reply is not None else AIMessage(content="")
            if tab.stop_requested:  # keep what was said, drop tool calls that will not run
                tab.messages.append(AIMessage(content=_text_of(answer.content)))
                tab.display.append({"role": "assistant", "content": "(stopped)"})
                yield tab.display, "", tab.gallery(), tab.file_list()
                return
            tab.messages.append(answer)
            if not answer.tool_calls:
                if shown is None:
                    tab.display.append({"role": "assistant", "content": _text_of(answer.content) or "(no answer)"})
                yield tab.display, "", tab.gallery(), tab.file_list()
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
                    yield tab.display, "", tab.gallery(), tab.file_list()
                return
        tab.display.append({"role": "assistant", "content": f"(stopped after {self.config.max_steps} model turns)"})
        yield tab.display, "", tab.gallery(), tab.file_list()

    def stop_chat(self, request: gr.Request) -> None:
        """The chat's Stop: interrupt the running tool call and end the turn (the sandbox stays)."""
        tab = self.tab(request)
        tab.stop_requested = True
        self.manager.interrupt(tab.key)

    def stop_code(self, request: gr.Request) -> None:
        """The Code tab's Stop: kill what runs in the tab's sandbox (its files stay)."""
        self.manager.interrupt(self.tab(request).key)

    async def _tool_step(
        self, tab: TabState, call: dict[str, Any], config: dict[str, Any], outcome: dict[str, Any]
    ) -> AsyncIterator[tuple[Any, ...]]:
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
            "content": _render_step(name, args, language, "", "", "running…"),
            "metadata": {"title": title, "status": "pending", "id": step_id},
        }
        tab.display.append(step)
        yield tab.display, "", tab.gallery(), tab.file_list()
        if tool is None:
            text = f"error: there is no tool named {name!r}; use one of: {', '.join(self.tools)}"
            outcome["message"] = ToolMessage(content=text, tool_call_id=call["id"], name=name)
            step["content"] = _render_step(name, args, language, "", "", text)
            step["metadata"] = {**step["metadata"], "status": "done", "log": "unknown tool"}
            yield tab.display, "", tab.gallery(), tab.file_list()
            return
        invocation = {**call, "args": args, "type": "tool_call"}
        live, task = self.router.start(tab.key, tool.ainvoke(invocation, config))
        try:
            version = -1
            while not task.done():
                await asyncio.wait({task}, timeout=POLL_SECONDS)
                if live.version != version and not task.done():
                    version = live.version
                    footer = f"running… {live.elapsed:.1f} s"
                    step["content"] = _render_step(name, args, language, live.stdout, live.stderr, footer)
                    yield tab.display, "", tab.gallery(), tab.file_list()
        except asyncio.CancelledError:
            task.cancel()
            raise
        duration = live.elapsed
        try:
            message = task.result()
        except Exception as exc:  # infrastructure (engine down, image missing): not the model's to fix
            text = f"error: the sandbox failed - {exc}"
            outcome["message"] = ToolMessage(content=text, tool_call_id=call["id"], name=name)
            outcome["infrastructure"] = True
            step["content"] = _render_step(name, args, language, live.stdout, live.stderr, f"**{text}**")
            step["metadata"] = {**step["metadata"], "status": "done", "log": "sandbox failed"}
            yield tab.display, "", tab.gallery(), tab.file_list()
            return
        outcome["message"] = message
        artifact = getattr(message, "artifact", None)
        if isinstance(artifact, ExecutionResult):
            plots = self.keep_artifacts(tab, artifact, f"chat ({language})")
            footer = _result_line(artifact, len(plots))
            log = f"exit code {artifact.exit_code}"
            if live.finished is not None and live.finished.cancelled:
                footer, log = f"**stopped** · {footer}", f"stopped, {log}"
            step["content"] = _render_step(name, args, language, artifact.stdout, artifact.stderr, footer, plots=plots)
            duration = artifact.duration if artifact.duration is not None else duration
        else:
            text = str(message.content)
            step["content"] = _render_step(name, args, language, "", "", "", result_text=text)
            log = "error" if text.startswith("error:") else "done"
        step["metadata"] = {**step["metadata"], "status": "done", "log": log, "duration": round(duration, 2)}
        yield tab.display, "", tab.gallery(), tab.file_list()

    # -- Settings tab ----------------------------------------------------------------------------
    def update_settings(
        self,
        backend: str,
        chat_language: str,
        memory: str,
        cpus: float,
        timeout: float,
        policy: str,
        request: gr.Request,
    ) -> str:
        tab = self.tab(request)
        problems = []
        memory = (memory or "").strip()
        if not _MEMORY.match(memory):
            problems.append(f"memory {memory!r} is not a size like 512m or 2g")
        most = os.cpu_count() or 1
        if cpus is None or not 0 < float(cpus) <= most:
            problems.append(f"CPUs must be above 0 and at most {most} (this machine's), got {cpus}")
        if timeout is None or float(timeout) <= 0:
            problems.append(f"the timeout must be above 0 seconds, got {timeout}")
        if problems:
            return "**Not applied:** " + "; ".join(problems) + "."
        tab.settings = Settings(
            backend=backend,
            chat_language=chat_language,
            memory=memory,
            cpus=float(cpus),
            timeout=float(timeout),
            security_policy=None if policy in (None, "", NO_POLICY) else policy,
        )
        pending = [lang for lang, applied in tab.applied.items() if _sandbox_changed(applied, tab.settings)]
        open_langs = {info.language for info in self.manager.sessions() if info.key == tab.key}
        if pending and open_langs.intersection(pending):
            return (
                f"Saved: {tab.settings.summary()}. The open sandbox still uses its old settings: "
                "press **New sandbox** to apply them now."
            )
        return f"Saved: {tab.settings.summary()}. New sandboxes of this tab open with them."

    async def reset(self, code_language: str, request: gr.Request) -> tuple[Any, ...]:
        """Close the tab's sandboxes, start a new conversation, open a fresh sandbox with the settings."""
        tab = self.tab(request)
        await asyncio.to_thread(self.manager.close_session, tab.key)
        tab.messages.clear()
        tab.display.clear()
        tab.applied.clear()
        note = "New sandbox: the old one and its files are gone; the conversation starts over."
        try:
            await self.manager.run_in_thread(self._warm, tab.key, code_language or self.config.lang)
        except SandboxError as exc:
            note = f"The old sandbox is closed, but a new one did not open: {exc}"
        info, rows = await asyncio.to_thread(self.session_view, tab.key)
        return tab.display, "", "", note, info, rows

    def _warm(self, key: str, lang: str) -> None:
        with self.manager.session(key, lang):
            pass

    def session_view(self, key: str) -> tuple[str, list[list[Any]]]:
        """Markdown about the tab's live sandboxes and the files of their working directories."""
        tab = self.tab(key)
        infos = [info for info in self.manager.sessions() if info.key == key]
        if not infos:
            return (
                f"No sandbox is open for this tab; the next run opens one ({tab.settings.summary()}).",
                [],
            )
        lines = []
        rows: list[list[Any]] = []
        for info in infos:
            applied = tab.applied.get(info.language)
            lines.append(
                f"- **{info.language}** · container `{(info.container_id or '?')[:12]}` · {info.state} · "
                f"open {_ago(info.age)}, idle {_ago(info.idle)} · {info.run_count} run"
                f"{'s' if info.run_count != 1 else ''}" + (f" · {applied.summary()}" if applied else "")
            )
            if info.state != "open":
                continue
            try:
                with self.manager.session(key, info.language) as sandbox:
                    entries = sandbox.list_files(depth=3, limit=300)
            except Exception as exc:
                lines.append(f"  (could not list files: {exc})")
                continue
            rows += [[info.language, e.path, e.kind, human_size(e.size) if e.kind == "file" else ""] for e in entries]
        idle = self.config.idle_timeout
        lines.append(f"\nSandboxes close when this tab closes or after {idle:g} s without use.")
        return "\n".join(lines), rows

    def refresh(self, request: gr.Request) -> tuple[str, list[list[Any]]]:
        return self.session_view(self.tab(request).key)

    def download(self, path: str, language: str, request: gr.Request) -> tuple[Any, str]:
        """Copy one sandbox file to the host for download."""
        tab = self.tab(request)
        path = (path or "").strip()
        if not path:
            return None, "Type the path of a file listed above."
        lang = language or self.config.lang
        if not any(info.key == tab.key and info.language == lang for info in self.manager.sessions()):
            return None, f"No {lang} sandbox is open for this tab."
        try:
            with self.manager.session(tab.key, lang) as sandbox:
                data = sandbox.read_file(path)
        except (SandboxError, OSError, ValueError) as exc:
            return None, f"Could not read {path}: {exc}"
        folder = tab.directory / f"download-{tab.next_number()}"
        folder.mkdir()
        target = folder / (posixpath.basename(path.rstrip("/")) or "file")
        target.write_bytes(data)
        return str(target), f"{path}: {human_size(len(data))}"

    def clear_chat(self, request: gr.Request) -> None:
        """The chatbot's clear button: a new conversation (the sandbox and its files stay)."""
        tab = self.tab(request)
        tab.messages.clear()
        tab.display.clear()

    def on_unload(self, request: gr.Request) -> None:
        if request is not None and request.session_hash:
            self.close_tab(request.session_hash)

    # -- layout ----------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        """The Blocks: tabs on the left, the plot gallery and returned files on the right."""
        ui: dict[str, Any] = {}
        with gr.Blocks(title="LLM Sandbox playground", delete_cache=(3600, 6 * 3600)) as demo:
            gr.Markdown(
                f"## LLM Sandbox playground\nModel: **{self.model.label}** · sandboxes: "
                f"**{self.config.backend}**, one per browser tab, no network · the chat's tool calls and the "
                "Code tab share the tab's sandbox",
                elem_id="header",
            )
            with gr.Row(equal_height=False):
                with gr.Column(scale=3), gr.Tabs():
                    with gr.Tab("Chat", id="chat"):
                        self._chat_tab(ui)
                    with gr.Tab("Code", id="code"):
                        self._code_tab(ui)
                    with gr.Tab("Settings", id="settings") as ui["settings_tab"]:
                        self._settings_tab(ui)
                with gr.Column(scale=2):
                    ui["gallery"] = gr.Gallery(
                        label="Plots of this tab",
                        elem_id="plots",
                        columns=2,
                        height=420,
                        object_fit="contain",
                        buttons=["download", "fullscreen"],
                    )
                    ui["files"] = gr.File(
                        label="Files the code returned",
                        elem_id="files",
                        file_count="multiple",
                        interactive=False,
                    )
            self._wire(demo, ui)
        return demo

    def _chat_tab(self, ui: dict[str, Any]) -> None:
        available = self.model.available
        if not available:
            gr.Markdown(self.model.problem or "", elem_id="model-help")
        ui["chatbot"] = gr.Chatbot(
            elem_id="chatbot",
            label="Conversation",
            height=640,
            buttons=["copy", "copy_all"],
            placeholder=(
                "Ask for something that needs code, e.g. *plot a histogram of 1000 normal samples and "
                "print their mean*."
                if available
                else "The chat needs a model: see above."
            ),
        )
        with gr.Row():
            ui["chat_input"] = gr.Textbox(
                elem_id="chat-input",
                show_label=False,
                placeholder="Message the model (Enter to send)" if available else "No model configured",
                scale=5,
                submit_btn=True,
            )
            ui["chat_stop"] = gr.Button("Stop", elem_id="chat-stop", scale=1, min_width=80)

    def _code_tab(self, ui: dict[str, Any]) -> None:
        lang = self.config.lang
        with gr.Row():
            ui["language"] = gr.Dropdown(LANGUAGES, value=lang, label="Language", elem_id="language", scale=2)
            ui["run"] = gr.Button("Run", variant="primary", elem_id="run-button", scale=1)
            ui["stop"] = gr.Button("Stop", elem_id="stop-button", scale=1)
        ui["code"] = gr.Code(
            value=EXAMPLES.get(lang, ""),
            language=_EDITOR_LANGUAGES.get(lang),  # type: ignore[arg-type]
            label="Code",
            elem_id="code-input",
            lines=14,
            interactive=True,
        )
        ui["status"] = gr.Markdown(elem_id="run-status")
        ui["stdout"] = gr.Textbox(label="stdout", elem_id="stdout", lines=6, max_lines=20, interactive=False)
        ui["stderr"] = gr.Textbox(label="stderr", elem_id="stderr", lines=3, max_lines=12, interactive=False)

    def _settings_tab(self, ui: dict[str, Any]) -> None:
        config = self.config
        gr.Markdown(
            "Settings of **this browser tab's** sandbox. They apply when a sandbox opens: press "
            "**New sandbox** to apply them now."
        )
        with gr.Row():
            ui["backend"] = gr.Dropdown(BACKENDS, value=config.backend, label="Backend", elem_id="backend")
            ui["chat_language"] = gr.Dropdown(
                LANGUAGES, value=config.lang, label="Chat language (the model's default)", elem_id="chat-language"
            )
            ui["policy"] = gr.Dropdown(
                [NO_POLICY, *list_security_policies()],
                value=config.security_policy or NO_POLICY,
                label="Security preset",
                elem_id="security-policy",
            )
        with gr.Row():
            ui["memory"] = gr.Textbox(value=config.memory, label="Memory limit", elem_id="memory")
            ui["cpus"] = gr.Number(value=config.cpus, label="CPUs", elem_id="cpus", minimum=0.1)
            ui["timeout"] = gr.Number(value=config.timeout, label="Timeout per run (s)", elem_id="timeout", minimum=1)
        ui["settings_note"] = gr.Markdown(elem_id="settings-note")
        with gr.Row():
            ui["reset"] = gr.Button("New sandbox", variant="stop", elem_id="reset-button")
            ui["refresh"] = gr.Button("Refresh", elem_id="refresh-button")
        ui["reset_note"] = gr.Markdown(elem_id="reset-note")
        ui["session_info"] = gr.Markdown(elem_id="session-info")
        ui["session_files"] = gr.Dataframe(
            headers=["language", "path", "kind", "size"],
            value=[],
            label="Files in the sandbox (working directory)",
            elem_id="session-files",
            interactive=False,
            wrap=True,
        )
        with gr.Row():
            ui["download_path"] = gr.Textbox(
                label="Download a sandbox file", placeholder="/sandbox/...", scale=3, elem_id="download-path"
            )
            ui["download"] = gr.Button("Download", elem_id="download-button", scale=1)
        ui["download_note"] = gr.Markdown()
        ui["download_file"] = gr.File(label="Download", elem_id="download-file", interactive=False)

    def _wire(self, demo: gr.Blocks, ui: dict[str, Any]) -> None:
        artifacts = [ui["gallery"], ui["files"]]
        ui["run"].click(
            self.run_code, [ui["code"], ui["language"]], [ui["stdout"], ui["stderr"], ui["status"], *artifacts]
        )
        ui["stop"].click(self.stop_code, None, None)
        ui["language"].change(_switch_language, [ui["language"], ui["code"]], [ui["code"]])
        ui["chat_input"].submit(self.chat, [ui["chat_input"]], [ui["chatbot"], ui["chat_input"], *artifacts])
        ui["chat_stop"].click(self.stop_chat, None, None)
        ui["chatbot"].clear(self.clear_chat)
        settings = [ui[name] for name in ("backend", "chat_language", "memory", "cpus", "timeout", "policy")]
        for component in settings:
            component.change(self.update_settings, settings, [ui["settings_note"]])
        view = [ui["session_info"], ui["session_files"]]
        ui["reset"].click(
            self.reset,
            [ui["language"]],
            [ui["chatbot"], ui["stdout"], ui["stderr"], ui["reset_note"], *view],
        )
        ui["refresh"].click(self.refresh, None, view)
        ui["settings_tab"].select(self.refresh, None, view)
        ui["download"].click(
            self.download, [ui["download_path"], ui["language"]], [ui["download_file"], ui["download_note"]]
        )
        demo.unload(self.on_unload)


# -- helpers -------------------------------------------------------------------------------------
def _switch_language(language: str, code: str) -> Any:
    """Show the new language's example unless the user wrote their own code."""
    editor_language = _EDITOR_LANGUAGES.get(language)
    if not (code or "").strip() or code in EXAMPLES.values():
        return gr.update(value=EXAMPLES.get(language, ""), language=editor_language)
    return gr.update(language=editor_language)


def _schema_fields(tool: Any) -> set[str]:
    schema = getattr(tool, "args_schema", None)
    return set(getattr(schema, "model_fields", {}) or {})


def _sandbox_changed(old: Settings, new: Settings) -> bool:
    return replace(old, chat_language=new.chat_language) != new


def _error_title(exc: BaseException) -> str:
    if isinstance(exc, SandboxTimeoutError):
        return "Timed out: the run was stopped (the sandbox and its files are kept)."
    if isinstance(exc, SecurityViolationError):
        return "Refused by the security preset: nothing was run."
    return f"Not run: {exc}"


def _result_line(result: ExecutionResult, plots: int) -> str:
    ok = "✓" if result.exit_code == 0 else "✗"
    parts = [f"{ok} exit code {result.exit_code}"]
    if result.duration is not None:
        parts.append(f"{result.duration:.2f} s")
    if plots:
        parts.append(f"{plots} plot{'s' if plots != 1 else ''}")
    if result.files:
        parts.append(f"{len(result.files)} file{'s' if len(result.files) != 1 else ''} to download")
    if result.stdout_truncated or result.stderr_truncated:
        parts.append("output truncated")
    return " · ".join(parts)


def _fence(text: str, language: str = "") -> str:
    """``text`` in a fenced block longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"


def _render_step(
    name: str,
    args: dict[str, Any],
    language: str,
    stdout: str,
    stderr: str,
    footer: str,
    *,
    plots: list[str] | None = None,
    result_text: str | None = None,
) -> str:
    """The markdown body of a tool step: code, live output, exit code and duration, plots."""
    parts = []
    if name == "run_code":
        parts.append(_fence(str(args.get("code", "")), language))
        libraries = args.get("libraries")
        if libraries:
            parts.append("libraries: " + ", ".join(f"`{lib}`" for lib in libraries))
    else:
        shown = {k: v for k, v in args.items() if k != "language"}
        parts.append(_fence(json.dumps(shown, indent=2, ensure_ascii=False), "json"))
    if stdout:
        parts.append("**stdout**\n\n" + _fence(stdout, "text"))
    if stderr:
        parts.append("**stderr**\n\n" + _fence(stderr, "text"))
    if result_text:
        parts.append(_fence(result_text, "text"))
    for path in plots or []:
        parts.append(f"![plot](/gradio_api/file={path})")
    if footer:
        parts.append(footer)
    return "\n\n".join(parts)


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


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# -- entry points --------------------------------------------------------------------------------
def build_app(config: PlaygroundConfig | None = None, model: ModelChoice | None = None) -> tuple[gr.Blocks, Playground]:
    """The Gradio app and its :class:`Playground` (call ``playground.close()`` when done)."""
    playground = Playground(config or PlaygroundConfig(), model)
    demo = playground.build()
    demo.queue(default_concurrency_limit=max(8, playground.config.max_sessions * 2))
    return demo, playground


def launch(demo: gr.Blocks, playground: Playground, *, block: bool = True) -> Any:
    """Serve on ``config.host:config.port`` (never shared publicly)."""
    config = playground.config
    return demo.launch(
        server_name=config.host,
        server_port=config.port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=not block,
        allowed_paths=[str(playground.root)],
        ssr_mode=False,
        quiet=True,
        footer_links=[],
        css=CSS,
    )


def serve(config: PlaygroundConfig) -> None:
    """Serve until Ctrl-C or SIGTERM, then close every sandbox."""
    demo, playground = build_app(config)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    print(f"LLM Sandbox playground: http://{config.host}:{config.port}  (model: {playground.model.label})")
    if not playground.model.available:
        print("No chat model configured: the Chat tab explains how to set one (--model); Code and Settings work.")
    try:
        launch(demo, playground)
    finally:
        with contextlib.suppress(Exception):
            demo.close()
        playground.close()

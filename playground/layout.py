"""The page: Chat, Code and Settings tabs on the left, the plot gallery and returned files on the right.

:func:`build` lays out the ``gr.Blocks`` and wires each component's events to the
tabs' handlers. The element ids are for automation (see ``docs/playground.md``).
"""

from collections.abc import Callable
from typing import Any

from llm_sandbox.const import SandboxBackend
from llm_sandbox.security import list_security_policies
from playground.chat import Chat
from playground.code_tab import EDITOR_LANGUAGES, EXAMPLES, CodeTab, switch_language
from playground.options import PlaygroundConfig
from playground.sandboxes import LANGUAGES
from playground.settings_tab import NO_POLICY, SettingsTab
from playground.ui import gr

BACKENDS = [backend.value for backend in SandboxBackend]

CSS = """
#plots { min-height: 260px; }
#run-status, #session-info { min-height: 1.5em; }
footer { display: none !important; }
iframe.rich-result { width: 100%; min-height: 120px; border: 1px solid #ddd; background: white; }
pre.rich-result { white-space: pre-wrap; }
"""
"""Passed to ``launch``."""


def build(
    config: PlaygroundConfig,
    chat: Chat,
    code: CodeTab,
    settings: SettingsTab,
    on_unload: Callable[[gr.Request], None],
) -> gr.Blocks:
    """The Blocks: tabs on the left, the plot gallery and returned files on the right."""
    ui: dict[str, Any] = {}
    with gr.Blocks(title="LLM Sandbox playground", delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(
            f"## LLM Sandbox playground\nModel: **{chat.model.label}** · sandboxes: "
            f"**{config.backend}**, one per browser tab, no network · the chat's tool calls and the "
            "Code tab share the tab's sandbox",
            elem_id="header",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3), gr.Tabs():
                with gr.Tab("Chat", id="chat"):
                    _chat_tab(ui, chat)
                with gr.Tab("Code", id="code"):
                    _code_tab(ui, config)
                with gr.Tab("Settings", id="settings") as ui["settings_tab"]:
                    _settings_tab(ui, config)
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
        _wire(ui, chat, code, settings)
        demo.unload(on_unload)
    return demo


def _chat_tab(ui: dict[str, Any], chat: Chat) -> None:
    available = chat.model.available
    if not available:
        gr.Markdown(chat.model.problem or "", elem_id="model-help")
    ui["chatbot"] = gr.Chatbot(
        elem_id="chatbot",
        label="Conversation",
        height=640,
        buttons=["copy", "copy_all"],
        placeholder=(
            "Ask for something that needs code, e.g. *plot a histogram of 1000 normal samples and print their mean*."
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


def _code_tab(ui: dict[str, Any], config: PlaygroundConfig) -> None:
    lang = config.lang
    with gr.Row():
        ui["language"] = gr.Dropdown(LANGUAGES, value=lang, label="Language", elem_id="language", scale=2)
        ui["run"] = gr.Button("Run", variant="primary", elem_id="run-button", scale=1)
        ui["stop"] = gr.Button("Stop", elem_id="stop-button", scale=1)
        ui["restart"] = gr.Button("Restart kernel", elem_id="restart-kernel-button", scale=1)
    ui["code"] = gr.Code(
        value=EXAMPLES.get(lang, ""),
        language=EDITOR_LANGUAGES.get(lang),  # type: ignore[arg-type]
        label="Code",
        elem_id="code-input",
        lines=14,
        interactive=True,
    )
    ui["status"] = gr.Markdown(elem_id="run-status")
    ui["result"] = gr.HTML(elem_id="rich-result")
    ui["stdout"] = gr.Textbox(label="stdout", elem_id="stdout", lines=6, max_lines=20, interactive=False)
    ui["stderr"] = gr.Textbox(label="stderr", elem_id="stderr", lines=3, max_lines=12, interactive=False)


def _settings_tab(ui: dict[str, Any], config: PlaygroundConfig) -> None:
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
        ui["memory"] = gr.Textbox(value=config.memory, label=f"Memory limit (at most {config.max_memory})",
                                  elem_id="memory")  # fmt: skip
        ui["cpus"] = gr.Number(value=config.cpus, label=f"CPUs (at most {config.max_cpus:g})", elem_id="cpus",
                               minimum=0.1, maximum=config.max_cpus)  # fmt: skip
        ui["timeout"] = gr.Number(value=config.timeout, label=f"Timeout per run (s, at most {config.max_timeout:g})",
                                  elem_id="timeout", minimum=1, maximum=config.max_timeout)  # fmt: skip
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


def _wire(ui: dict[str, Any], chat: Chat, code: CodeTab, settings: SettingsTab) -> None:
    artifacts = [ui["gallery"], ui["files"]]
    outputs = [ui["stdout"], ui["stderr"], ui["status"], ui["result"], *artifacts]
    ui["run"].click(code.run, [ui["code"], ui["language"]], outputs)
    ui["stop"].click(code.stop, None, None)
    ui["restart"].click(code.restart, [ui["language"]], [ui["status"]])
    ui["language"].change(switch_language, [ui["language"], ui["code"]], [ui["code"]])
    ui["chat_input"].submit(chat.send, [ui["chat_input"]], [ui["chatbot"], ui["chat_input"], *artifacts])
    ui["chat_stop"].click(chat.stop, None, None)
    ui["chatbot"].clear(chat.clear)
    form = [ui[name] for name in ("backend", "chat_language", "memory", "cpus", "timeout", "policy")]
    for component in form:
        component.change(settings.update, form, [ui["settings_note"]])
    view = [ui["session_info"], ui["session_files"]]
    ui["reset"].click(
        settings.reset,
        [ui["language"]],
        [ui["chatbot"], ui["stdout"], ui["stderr"], ui["reset_note"], *view],
    )
    ui["refresh"].click(settings.refresh, None, view)
    ui["settings_tab"].select(settings.refresh, None, view)
    ui["download"].click(
        settings.download, [ui["download_path"], ui["language"]], [ui["download_file"], ui["download_note"]]
    )

"""The Gradio app, composed: every tab's state and sandboxes, the handlers of the three tabs, the page.

Every browser tab (Gradio session) gets its own sandboxes, keyed by
``gr.Request.session_hash`` (:mod:`playground.sandboxes`); a tab's sandbox is closed
when the tab goes away (``demo.unload``), by the reset button, or after the idle
timeout (the next run then opens a new one).

No ``from __future__ import annotations`` here: Gradio finds ``gr.Request`` parameters
by their annotation.
"""

import contextlib
import signal
import threading
from typing import Any

from llm_sandbox.agents import SessionManager
from playground.chat import Chat
from playground.code_tab import CodeTab
from playground.layout import CSS, build
from playground.models import ModelChoice, resolve_model
from playground.options import PlaygroundConfig
from playground.sandboxes import Sandboxes
from playground.settings_tab import SettingsTab
from playground.state import Settings, Tabs
from playground.ui import gr


class Playground:
    """One served playground: one session manager for every tab, and the handlers of its page."""

    def __init__(self, config: PlaygroundConfig, model: ModelChoice | None = None) -> None:
        config.check()
        self.config = config
        self.model = model if model is not None else resolve_model(config.model)
        self.tabs = Tabs(Settings.from_config(config))
        self.sandboxes = Sandboxes(config, self.tabs)
        self.chat = Chat(config, self.model, self.tabs, self.sandboxes)
        self.code = CodeTab(config, self.tabs, self.sandboxes)
        self.settings = SettingsTab(config, self.tabs, self.sandboxes)

    @property
    def manager(self) -> SessionManager:
        return self.sandboxes.manager

    def build(self) -> gr.Blocks:
        return build(self.config, self.chat, self.code, self.settings, self.on_unload)

    def on_unload(self, request: gr.Request) -> None:
        if request is not None and request.session_hash:
            self.sandboxes.close_tab(request.session_hash)

    def close(self) -> None:
        self.sandboxes.close()
        self.tabs.close()


def build_app(config: PlaygroundConfig | None = None, model: ModelChoice | None = None) -> tuple[gr.Blocks, Playground]:
    """The Gradio app and its :class:`Playground` (call ``playground.close()`` when done)."""
    playground = Playground(config or PlaygroundConfig(), model)
    demo = playground.build()
    demo.queue(default_concurrency_limit=max(8, playground.config.max_sessions * 2))
    return demo, playground


def launch(demo: gr.Blocks, playground: Playground, *, block: bool = True) -> Any:
    """Serve on ``config.host:config.port`` (never shared publicly), behind a login when credentials are set."""
    config = playground.config
    config.check()
    return demo.launch(
        server_name=config.host,
        server_port=config.port,
        auth=list(config.credentials) or None,
        auth_message="LLM Sandbox playground: code you run here runs in containers on this server.",
        share=False,
        inbrowser=False,
        prevent_thread_lock=not block,
        allowed_paths=[str(playground.tabs.root)],
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
    login = f", login required ({len(config.credentials)} user(s))" if config.credentials else ""
    print(f"LLM Sandbox playground: http://{config.host}:{config.port}  (model: {playground.model.label}{login})")
    if not playground.model.available:
        print("No chat model configured: the Chat tab explains how to set one (--model); Code and Settings work.")
    try:
        launch(demo, playground)
    finally:
        with contextlib.suppress(Exception):
            demo.close()
        playground.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt

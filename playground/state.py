"""What the playground keeps per browser tab: its settings, conversation and artifacts, and a folder on the host."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_sandbox.security import get_security_policy
from playground.options import PlaygroundConfig

if TYPE_CHECKING:
    import gradio as gr


@dataclass(frozen=True)
class Settings:
    """What a tab's next sandbox opens with."""

    backend: str
    chat_language: str
    memory: str
    cpus: float
    timeout: float
    security_policy: str | None

    @classmethod
    def from_config(cls, config: PlaygroundConfig) -> Settings:
        """The settings every new tab starts with; an unknown security preset fails here, at start."""
        if config.security_policy:
            get_security_policy(config.security_policy)
        return cls(
            backend=config.backend,
            chat_language=config.lang,
            memory=config.memory,
            cpus=config.cpus,
            timeout=config.timeout,
            security_policy=config.security_policy or None,
        )

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
    visitor: str = "unknown"
    """Who opened the tab: their login, else their address (sandboxes are bounded per visitor)."""
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

    def artifacts(self) -> tuple[list[tuple[str, str]], list[str] | None]:
        """What the gallery and the downloads beside every tab show: the plots, the files (or None)."""
        return list(self.plots), list(self.files.values()) or None


def visitor_of(request: gr.Request) -> str:
    """Who sends ``request``: the logged-in user, else the client's address."""
    username = getattr(request, "username", None)
    if username:
        return f"user {username}"
    client = getattr(request, "client", None)
    return f"address {getattr(client, 'host', None) or 'unknown'}"


class Tabs:
    """Every browser tab's state, by Gradio session; each tab's files go to its folder under one temporary root."""

    def __init__(self, defaults: Settings) -> None:
        self.defaults = defaults
        self.root = Path(tempfile.mkdtemp(prefix="llm-sandbox-playground-"))
        self._tabs: dict[str, TabState] = {}
        self._lock = threading.Lock()

    def get(self, request: gr.Request | str) -> TabState:
        """The tab of a request (or a key), created with the default settings on first use."""
        key = request if isinstance(request, str) else (request.session_hash or "anonymous")
        with self._lock:
            state = self._tabs.get(key)
            if state is None:
                directory = self.root / re.sub(r"[^A-Za-z0-9_-]", "_", key)
                directory.mkdir(parents=True, exist_ok=True)
                visitor = "unknown" if isinstance(request, str) else visitor_of(request)
                state = TabState(key=key, directory=directory, settings=self.defaults, visitor=visitor)
                self._tabs[key] = state
            return state

    def visitors(self) -> dict[str, str]:
        """Tab key → visitor, for every tab known."""
        with self._lock:
            return {key: tab.visitor for key, tab in self._tabs.items()}

    def drop(self, key: str) -> None:
        """Forget a tab and remove its folder."""
        with self._lock:
            state = self._tabs.pop(key, None)
        if state is not None:
            shutil.rmtree(state.directory, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

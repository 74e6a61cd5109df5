"""The Settings tab: this browser tab's sandbox settings, New sandbox, and a live view of its sandboxes and files.

No ``from __future__ import annotations`` here: Gradio finds ``gr.Request`` parameters
by their annotation.
"""

import asyncio
import posixpath
import shutil
from typing import Any

from llm_sandbox.exceptions import SandboxError, ValidationError
from llm_sandbox.timeouts import check_timeout
from llm_sandbox.tools.text import human_size
from playground.options import PlaygroundConfig, memory_bytes
from playground.sandboxes import Sandboxes
from playground.state import Settings, Tabs, TabState
from playground.ui import gr

NO_POLICY = "none"
"""The security preset dropdown's choice for no code checks."""


class SettingsTab:
    """The Settings tab's handlers: change settings, New sandbox, refresh the view, download a file."""

    def __init__(self, config: PlaygroundConfig, tabs: Tabs, sandboxes: Sandboxes) -> None:
        self.default_language = config.lang
        self.idle_timeout = config.idle_timeout
        self.max_memory = config.max_memory
        self.max_cpus = config.max_cpus
        self.max_timeout = config.max_timeout
        self.tabs = tabs
        self.sandboxes = sandboxes

    def update(
        self,
        backend: str,
        chat_language: str,
        memory: str,
        cpus: float,
        timeout: float,
        policy: str,
        request: gr.Request,
    ) -> str:
        tab = self.tabs.get(request)
        problems = []
        memory = (memory or "").strip()
        try:
            if memory_bytes(memory) > memory_bytes(self.max_memory):
                problems.append(f"memory {memory} is above {self.max_memory}, the most this server allows")
        except ValidationError as exc:
            problems.append(str(exc))
        if cpus is None or not 0 < float(cpus) <= self.max_cpus:
            problems.append(f"CPUs must be above 0 and at most {self.max_cpus:g} (this server's limit), got {cpus}")
        try:
            if (check_timeout(timeout, "the timeout") or 0) > self.max_timeout:
                problems.append(f"the timeout {timeout:g} s is above {self.max_timeout:g} s, this server's limit")
        except ValidationError as exc:
            problems.append(str(exc))
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
        if self.sandboxes.outdated(tab):
            return (
                f"Saved: {tab.settings.summary()}. The open sandbox still uses its old settings: "
                "press **New sandbox** to apply them now."
            )
        return f"Saved: {tab.settings.summary()}. New sandboxes of this tab open with them."

    async def reset(self, code_language: str, request: gr.Request) -> tuple[Any, ...]:
        """Close the tab's sandboxes, start a new conversation, open a fresh sandbox with the settings."""
        tab = self.tabs.get(request)
        await self.sandboxes.discard(tab)
        tab.messages.clear()
        tab.display.clear()
        note = "New sandbox: the old one and its files are gone; the conversation starts over."
        try:
            await self.sandboxes.warm(tab, code_language or self.default_language)
        except SandboxError as exc:
            note = f"The old sandbox is closed, but a new one did not open: {exc}"
        info, rows = await asyncio.to_thread(self._view, tab)
        return tab.display, "", "", note, info, rows

    def refresh(self, request: gr.Request) -> tuple[str, list[list[Any]]]:
        return self._view(self.tabs.get(request))

    def download(self, path: str, language: str, request: gr.Request) -> tuple[Any, str]:
        """Copy one sandbox file to the host for download."""
        tab = self.tabs.get(request)
        path = (path or "").strip()
        if not path:
            return None, "Type the path of a file listed above."
        lang = language or self.default_language
        if not any(info.language == lang for info in self.sandboxes.sessions(tab)):
            return None, f"No {lang} sandbox is open for this tab."
        folder = tab.directory / f"download-{tab.next_number()}"
        folder.mkdir()
        target = folder / (posixpath.basename(path.rstrip("/")) or "file")
        try:
            self.sandboxes.download(tab, lang, path, str(target))
        except (SandboxError, OSError, ValueError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"Could not read {path}: {exc}"
        if target.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            return None, f"{path} is a directory; download its files one by one."
        return str(target), f"{path}: {human_size(target.stat().st_size)}"

    def _view(self, tab: TabState) -> tuple[str, list[list[Any]]]:
        """Markdown about the tab's live sandboxes, and the files of their working directories."""
        infos = self.sandboxes.sessions(tab)
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
                entries = self.sandboxes.list_files(tab, info.language)
            except Exception as exc:
                lines.append(f"  (could not list files: {exc})")
                continue
            rows += [[info.language, e.path, e.kind, human_size(e.size) if e.kind == "file" else ""] for e in entries]
        lines.append(f"\nSandboxes close when this tab closes or after {self.idle_timeout:g} s without use.")
        return "\n".join(lines), rows


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

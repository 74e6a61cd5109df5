"""Every tab's sandboxes, from one :class:`~llm_sandbox.agents.SessionManager` keyed by the tab.

A tab's sandbox (one per language it uses) opens on its first run with the tab's
current settings, and closes when the tab goes away, on New sandbox, after the idle
timeout, or when the least recently used idle one is recycled at ``max_sessions``.
The chat's tool calls and the Code tab share it, so files persist between them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from llm_sandbox.agents import FileEntry, SessionInfo, SessionManager
from llm_sandbox.const import SupportedLanguage
from llm_sandbox.contract import nano_cpus
from llm_sandbox.data import ExecutionResult
from llm_sandbox.exceptions import SessionLimitError
from llm_sandbox.pool import PoolConfig, create_pool_manager
from llm_sandbox.security import get_security_policy
from playground.live import LiveRouter, LiveRun
from playground.options import PlaygroundConfig
from playground.state import Settings, Tabs, TabState

T = TypeVar("T")

LANGUAGES = [language.value for language in SupportedLanguage]


class Sandboxes:
    """Opens, streams, lists and closes the sandboxes of every tab."""

    def __init__(self, config: PlaygroundConfig, tabs: Tabs) -> None:
        self.tabs = tabs
        self.max_per_visitor = config.max_sessions_per_visitor
        self.pooled = Settings.from_config(config)
        """A tab with these container settings takes a warm container from :attr:`pool`."""
        self.pool = (
            create_pool_manager(
                backend=config.backend,
                lang=config.lang,
                config=PoolConfig(max_pool_size=config.pool_size, min_pool_size=config.pool_size),
                runtime_configs=container_settings(self.pooled),
            )
            if config.pool_size
            else None
        )
        self.manager = SessionManager(
            backend=config.backend,
            lang=config.lang,
            languages=LANGUAGES,
            execution_timeout=config.timeout,
            idle_timeout=config.idle_timeout,
            max_sessions=config.max_sessions,
            evict_idle=True,
            session_factory=self._open,
            pool=self.pool,
        )
        self.router = LiveRouter(self.manager)

    def _open(self, key: str, lang: str) -> Any:
        """The manager's session factory: the tab's current settings, applied as the sandbox opens."""
        tab = self.tabs.get(key)
        visitors = self.tabs.visitors()
        held = [info for info in self.manager.sessions() if visitors.get(info.key) == tab.visitor]
        if len(held) > self.max_per_visitor:  # the sandbox being opened is among them
            raise SessionLimitError(
                f"this visitor already has {len(held) - 1} sandboxes open, the most one visitor may have "
                f"({self.max_per_visitor}); close another browser tab or press New sandbox there, then try again"
            )
        settings = tab.settings
        options = self.manager.options(lang)
        if options.get("pool") is not None and not _same_container(settings, self.pooled):
            del options["pool"]  # the visitor chose other limits or another engine: a container of its own
        if options.get("pool") is None:
            options["runtime_configs"] = {**(options.get("runtime_configs") or {}), **container_settings(settings)}
        options["execution_timeout"] = settings.timeout
        options["security_policy"] = get_security_policy(settings.security_policy) if settings.security_policy else None
        session = self.manager.new_session(lang, **{**options, "backend": settings.backend})
        tab.applied[lang] = settings
        return session

    # -- runs --------------------------------------------------------------------------------------
    def start(self, tab: TabState, work: Coroutine[Any, Any, T]) -> tuple[LiveRun, asyncio.Task[T]]:
        """Start ``work`` (a tool call, a run) as a task whose runs in the tab's sandboxes stream into the LiveRun."""
        return self.router.start(tab.key, work)

    def run(self, tab: TabState, code: str, lang: str) -> tuple[LiveRun, asyncio.Task[ExecutionResult]]:
        """Start running ``code`` in the tab's ``lang`` sandbox."""
        return self.start(tab, self.manager.arun(tab.key, code, lang=lang))

    def restart_kernel(self, tab: TabState, lang: str) -> bool:
        """Restart the interpreter of the tab's ``lang`` sandbox (its files stay); False when it has none."""
        with self.manager.session(tab.key, lang) as sandbox:
            return sandbox.reset()

    def interrupt(self, tab: TabState) -> None:
        """Kill what runs in the tab's sandboxes (their files stay)."""
        self.manager.interrupt(tab.key)

    # -- the tab's sandboxes -----------------------------------------------------------------------
    def sessions(self, tab: TabState) -> list[SessionInfo]:
        """The tab's live sandboxes."""
        return [info for info in self.manager.sessions() if info.key == tab.key]

    def outdated(self, tab: TabState) -> bool:
        """Whether an open sandbox of the tab runs with other settings than the tab's (the chat language aside)."""
        current = tab.settings
        stale = {
            lang for lang, old in tab.applied.items() if replace(old, chat_language=current.chat_language) != current
        }
        return bool(stale & {info.language for info in self.sessions(tab)})

    def list_files(self, tab: TabState, lang: str) -> list[FileEntry]:
        """The files of the working directory of the tab's ``lang`` sandbox."""
        with self.manager.session(tab.key, lang) as sandbox:
            return sandbox.list_files(depth=3, limit=300)

    def download(self, tab: TabState, lang: str, path: str, host_path: str) -> None:
        """Copy a file of the tab's ``lang`` sandbox to ``host_path`` (streamed; bounded by ``max_copy_bytes``)."""
        with self.manager.session(tab.key, lang) as sandbox:
            sandbox.download(path, host_path)

    async def discard(self, tab: TabState) -> None:
        """Close the tab's sandboxes now (their files go with them)."""
        await asyncio.to_thread(self.manager.close_session, tab.key)
        tab.applied.clear()

    async def warm(self, tab: TabState, lang: str) -> None:
        """Open the tab's ``lang`` sandbox now, with the tab's settings (raises ``SandboxError`` if it cannot)."""
        await self.manager.run_in_thread(self._hold, tab.key, lang)

    def _hold(self, key: str, lang: str) -> None:
        with self.manager.session(key, lang):
            pass

    def close_tab(self, key: str) -> None:
        """The tab went away: close its sandboxes and forget it."""
        with contextlib.suppress(Exception):
            self.manager.close_session(key)
        self.tabs.drop(key)

    def close(self) -> None:
        self.router.close()
        self.manager.close()
        if self.pool is not None:
            self.pool.close()


def container_settings(settings: Settings) -> dict[str, Any]:
    """The container limits of a tab's settings, as ``runtime_configs``."""
    return {"mem_limit": settings.memory.replace(" ", "").lower(), "nano_cpus": nano_cpus(settings.cpus)}


def _same_container(settings: Settings, pooled: Settings) -> bool:
    return (settings.backend, container_settings(settings)) == (pooled.backend, container_settings(pooled))

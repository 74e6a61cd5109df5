"""Plain records a session manager hands out: live sandboxes, languages, files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SessionInfo:
    """A live sandbox of the manager (:meth:`SessionManager.sessions`)."""

    key: str
    language: str
    state: str
    """``opening`` or ``open``."""
    session_id: str | None
    """Value of the container's ``llm-sandbox.session`` label."""
    container_id: str | None
    age: float
    """Seconds since the sandbox started opening."""
    idle: float
    """Seconds since it was last used; 0 while in use."""
    run_count: int
    in_use: int
    """Callers holding it right now."""
    created_at: float
    last_used_at: float


@dataclass(frozen=True)
class LanguageInfo:
    """What a tool tells a model about one language's sandbox."""

    name: str
    display_name: str
    preinstalled: tuple[str, ...]
    can_install: bool
    package_manager: str
    network: bool
    workdir: str
    outputs_dir: str
    plots: bool
    timeout: float | None
    stateful: bool = False
    """Calls of one conversation share one interpreter (a kernel): variables live from call to call."""


@dataclass(frozen=True)
class FileEntry:
    """One entry of :meth:`ManagedSession.list_files`."""

    path: str
    kind: str
    """``file``, ``dir``, ``link`` or ``other``."""
    size: int


@dataclass(frozen=True)
class FileContent:
    """What :meth:`ManagedSession.read_file` read: the start of a file (at most what was asked) and its size."""

    path: str
    size: int
    """The whole file's size, in bytes."""
    data: bytes
    """Its first bytes: all of them unless ``truncated``."""

    @property
    def truncated(self) -> bool:
        return len(self.data) < self.size


_DISPLAY_NAMES = {
    "python": "Python",
    "javascript": "JavaScript",
    "cpp": "C++",
    "go": "Go",
    "java": "Java",
    "ruby": "Ruby",
    "r": "R",
    "typescript": "TypeScript",
    "bash": "Bash",
}


def display_name(lang: str) -> str:
    """How a language is written for people (``C++``, ``JavaScript``)."""
    return _DISPLAY_NAMES.get(lang, lang.capitalize())


def session_id_of(session: Any) -> str | None:
    """The session's id (the value of its containers' ``llm-sandbox.session`` label), if it has one."""
    value = getattr(session, "session_id", None) if session is not None else None
    return str(value) if value is not None else None

"""Per-agent session lifecycles: one sandbox per conversation, opened lazily, closed when idle.

A :class:`SessionManager` hands each agent or conversation its own sandbox,
keyed by an id (LangChain's ``thread_id``, a LlamaIndex agent context, or any
string the application chooses)::

    from llm_sandbox.agents import SessionManager

    with SessionManager(lang="python", idle_timeout=600, max_sessions=8) as manager:
        manager.run("thread-1", "open('notes.txt', 'w').write('hi')")
        print(manager.run("thread-1", "print(open('notes.txt').read())").stdout)  # same sandbox: hi
        print(manager.run("thread-2", "import os; print(os.listdir())").stdout)    # another sandbox

- Same key (and language) → same sandbox: files and installed libraries persist.
  Different keys → isolated sandboxes.
- Sessions open on first use, close after ``idle_timeout`` seconds without use,
  are bounded by ``max_sessions`` (a new key evicts the least recently used
  idle sandbox, or waits ``wait_timeout`` seconds for one when all are busy,
  then :class:`SessionLimitError`), and are all closed by :meth:`close` (the
  manager is a context manager), when the manager is garbage collected, and at
  interpreter exit.
- Thread-safe; the async methods run the blocking work in the manager's own
  thread pool, never on the event loop.
- Observability: :meth:`SessionManager.sessions` lists live sandboxes (age, idle
  time, run count); :meth:`SessionManager.subscribe` and
  :meth:`SessionManager.events` deliver :class:`SessionOpened`,
  :class:`RunStarted`, :class:`OutputChunk`, :class:`RunFinished` and
  :class:`SessionClosed` events as they happen.
"""

from llm_sandbox.agents.artifacts import DEFAULT_MAX_ARTIFACT_BYTES, ArtifactStore
from llm_sandbox.agents.events import (
    EventCallback,
    EventStream,
    OutputChunk,
    RunFinished,
    RunStarted,
    SandboxEvent,
    SessionClosed,
    SessionOpened,
    Subscription,
)
from llm_sandbox.agents.managed import ManagedSession
from llm_sandbox.agents.manager import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_SESSIONS,
    DEFAULT_WAIT_TIMEOUT,
    SessionManager,
)
from llm_sandbox.agents.records import FileContent, FileEntry, LanguageInfo, SessionInfo
from llm_sandbox.exceptions import ArtifactNotFoundError, ManagerClosedError, SessionLimitError

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_ARTIFACT_BYTES",
    "DEFAULT_MAX_SESSIONS",
    "DEFAULT_WAIT_TIMEOUT",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "EventCallback",
    "EventStream",
    "FileContent",
    "FileEntry",
    "LanguageInfo",
    "ManagedSession",
    "ManagerClosedError",
    "OutputChunk",
    "RunFinished",
    "RunStarted",
    "SandboxEvent",
    "SessionClosed",
    "SessionInfo",
    "SessionLimitError",
    "SessionManager",
    "SessionOpened",
    "Subscription",
]

"""Tool artifacts in a form any checkpointer stores: JSON-native values, rebuilt into typed objects.

An agent framework that checkpoints its state (LangGraph's in-memory, SQLite or
Postgres savers) serialises every tool artifact in it. The operations' artifacts
(``ExecutionResult``, ``FileOutput``...) are turned into plain dicts of strings,
numbers, booleans and lists, tagged with ``"type"``, so they survive any
serializer (LangGraph's strict msgpack mode included) and read back the same::

    stored = stored_artifact(result, "full", manager.artifact_store)    # what goes into the state
    load_artifact(stored, manager.artifact_store)                         # the ExecutionResult again

With ``"reference"`` the bulky artifacts (a run's result, a read file) keep only
their metadata in the state — exit code, duration, plot formats and sizes, file
paths and sizes — and an id (``"ref"``); the payload stays in the manager's
:class:`~llm_sandbox.agents.ArtifactStore` and :func:`load_artifact` fetches it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal, get_args

from llm_sandbox.agents.records import FileEntry
from llm_sandbox.data import ConsoleOutput, ExecutionResult, FileOutput
from llm_sandbox.exceptions import ValidationError

if TYPE_CHECKING:
    from llm_sandbox.agents import ArtifactStore

ArtifactMode = Literal["full", "reference"]
"""How much of an artifact goes into the agent's state: all of it, or metadata and a reference."""

_RECORDS: dict[str, type[Any]] = {
    "execution_result": ExecutionResult,
    "console_output": ConsoleOutput,
    "file": FileOutput,
}


def check_mode(mode: str) -> ArtifactMode:
    if mode not in get_args(ArtifactMode):
        raise ValidationError(f"artifacts must be 'full' or 'reference', got {mode!r}")
    return mode  # type: ignore[return-value]


def stored_artifact(artifact: Any, mode: ArtifactMode, store: ArtifactStore) -> Any:
    """The JSON-native form of an operation's artifact (see the module docstring)."""
    if artifact is None or isinstance(artifact, str | int | float | bool):
        return artifact
    if isinstance(artifact, list):
        return {"type": "file_list", "entries": [dataclasses.asdict(entry) for entry in artifact]}
    kind = next((name for name, cls in _RECORDS.items() if type(artifact) is cls), None)
    if kind is None:
        raise TypeError(f"no stored form for a {type(artifact).__name__} artifact")
    full = {"type": kind, **artifact.to_dict()}
    if mode == "full" or kind == "console_output":
        return full
    ref = store.put(full)
    if isinstance(artifact, FileOutput):
        return {"type": kind, "ref": ref, "path": artifact.path, "format": artifact.format.value, "size": artifact.size}
    return {
        "type": kind,
        "ref": ref,
        **{name: full[name] for name in ("exit_code", "duration", "execution_count")},
        "plots": [{k: v for k, v in plot.items() if k != "content_base64"} for plot in full["plots"]],
        "files": [{k: v for k, v in file.items() if k != "content_base64"} for file in full["files"]],
    }


def load_artifact(stored: Any, store: ArtifactStore | None = None) -> Any:
    """The typed artifact (``ExecutionResult``, ``FileOutput``, ``ConsoleOutput``, a list of
    ``FileEntry``) of a stored one, as read back from a checkpoint or straight from a ``ToolMessage``.

    A reference is fetched from ``store`` (the manager's ``artifact_store``):
    :class:`~llm_sandbox.exceptions.ArtifactNotFoundError` when it is no longer kept. Anything
    that is not a stored artifact (``None``, a path, an object already typed) is returned as it is.
    """
    if not isinstance(stored, dict) or "type" not in stored:
        return stored
    if "ref" in stored:
        if store is None:
            raise ValidationError(
                "this artifact is a reference: pass the store that keeps it (the manager's `artifact_store`)"
            )
        stored = store.get(str(stored["ref"]))
    kind = stored["type"]
    if kind == "file_list":
        return [FileEntry(**entry) for entry in stored.get("entries") or []]
    if kind not in _RECORDS:
        raise ValidationError(f"unknown artifact type {kind!r}")
    return _RECORDS[kind].from_dict(stored)


__all__ = ["ArtifactMode", "load_artifact", "stored_artifact"]

"""Where a session manager keeps the payload of artifacts that agents refer to by id.

An agent framework that checkpoints its state (LangGraph) stores every tool
artifact in every checkpoint. With references, the state holds a small record
(exit code, plot sizes, file names) and an id; the bytes stay here, and the
application fetches them by id (``load_artifact``).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

from llm_sandbox.exceptions import ArtifactNotFoundError, ValidationError

DEFAULT_MAX_ARTIFACT_BYTES = 256 * 1024 * 1024


class ArtifactStore:
    """Artifacts by id, in memory, bounded: past ``max_bytes`` the least recently used are dropped.

    Payloads are JSON-native dicts (``ExecutionResult.to_dict()`` and the like). They live as long
    as the process: to keep them across restarts (a SQLite or Postgres checkpointer), subclass this
    and store ``put``'s payload elsewhere (a disk, a bucket), keeping the same two methods.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValidationError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def put(self, payload: dict[str, Any]) -> str:
        """Keep ``payload``; returns its id."""
        ref = uuid.uuid4().hex
        size = _size(payload)
        with self._lock:
            self._items[ref] = (payload, size)
            self._size += size
            while self._size > self.max_bytes and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= dropped
        return ref

    def get(self, ref: str) -> dict[str, Any]:
        """The payload kept as ``ref``; :class:`ArtifactNotFoundError` when it is not (or no longer) kept."""
        with self._lock:
            item = self._items.get(ref)
            if item is None:
                raise ArtifactNotFoundError(
                    f"artifact {ref!r} is not in this manager's artifact store: it was dropped to stay under "
                    f"{self.max_bytes // 2**20} MiB, or it was stored by another process; raise "
                    "ArtifactStore(max_bytes=...), keep artifacts elsewhere (a store of your own), or use "
                    "artifacts='full'"
                )
            self._items.move_to_end(ref)
            return item[0]

    @property
    def size(self) -> int:
        """Bytes kept (about: the length of every string and 8 bytes for any other value)."""
        return self._size

    def __len__(self) -> int:
        return len(self._items)


def _size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(key) + _size(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return sum(_size(item) for item in value)
    return 8


__all__ = ["DEFAULT_MAX_ARTIFACT_BYTES", "ArtifactStore"]

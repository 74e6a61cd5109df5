"""Remove sandboxes whose owner process is gone (``llm-sandbox gc``).

Every container and packages volume the library creates carries
``llm-sandbox.owner=<host>/<pid>``. Sessions close themselves on every normal
path (exceptions, timeouts, Ctrl-C, interpreter exit); this is for the rest:
a ``kill -9`` or a power cut.
"""

from __future__ import annotations

import os
import socket

from llm_sandbox.contract import OWNER_LABEL, SESSION_LABEL
from llm_sandbox.engines.base import Engine


def _owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(backend: Engine, *, everything: bool = False, dry_run: bool = False) -> list[str]:
    """Remove orphaned sandbox containers, then volumes; return what was (or would be) removed."""
    removed = []
    items = backend.list_labelled(SESSION_LABEL)
    for item in sorted(items, key=lambda entry: entry["kind"] != "container"):
        owner = item["labels"].get(OWNER_LABEL, "")
        if not everything and owner and _owner_alive(owner):
            continue
        removed.append(f"{item['kind']} {item['id'][:24]}")
        if dry_run:
            continue
        if item["kind"] == "container":
            backend.remove(item["id"])
        else:
            backend.remove_volume(item["id"])
    return removed

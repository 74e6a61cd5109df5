"""Handshakes between a test and the code it runs in a sandbox: order, never speed.

The sandboxed code prints a marker and then waits (bounded) for a file that the test creates
when its output callback sees the marker. The code can only go on if its output reached the
host while it was still running, so a test built on this passes only if output streams, and
fails (the code gives up and says so) if it does not. ``session.copy_to_runtime`` creates the
file: copies work while a run is in progress (``execute_command`` would wait for the run).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import SandboxTimeoutError

RELEASE = "/tmp/llm-sandbox-test-release"
"""Where the test's release file appears in the sandbox."""
PATIENCE = 60
"""Seconds the sandboxed code waits for its release before it gives up (a failure, never a speed check)."""


def wait_for_release(path: str = RELEASE, seconds: int = PATIENCE) -> str:
    """Python lines that block until ``path`` exists, or exit with a message after ``seconds``."""
    return (
        "import os as _os, sys as _sys, time as _time\n"
        f"_deadline = _time.monotonic() + {seconds}\n"
        f"while not _os.path.exists({path!r}):\n"
        "    if _time.monotonic() > _deadline:\n"
        f"        _sys.exit('never released: the host did not see the output in time ({path} is missing)')\n"
        "    _time.sleep(0.02)\n"
    )


class ReleaseWhenSeen:
    """An output callback: once ``marker`` has been printed, it creates the release file in the sandbox."""

    def __init__(self, session: Any, marker: str, path: str = RELEASE) -> None:
        self.session, self.marker, self.path = session, marker, path
        self.text = ""
        self.released = False

    def __call__(self, text: str) -> None:
        self.text += text
        if not self.released and self.marker in self.text:
            self.released = True
            with tempfile.TemporaryDirectory() as folder:
                empty = Path(folder) / "release"
                empty.touch()
                self.session.copy_to_runtime(str(empty), self.path)


def time_out_after(marker: str, start: Callable[[float, Callable[[str], None]], object]) -> SandboxTimeoutError:
    """Make ``start(timeout, on_stdout)`` time out after it printed ``marker``; return the timeout error.

    The code prints ``marker`` once the processes the test wants killed exist, then blocks. A
    timeout that fires before that would prove nothing, so on a machine too busy to get there in
    time the run is repeated with a longer timeout (never a failure for being slow).
    """
    for timeout in (2, 8, 30, 120):
        seen: list[str] = []
        with pytest.raises(SandboxTimeoutError) as caught:
            start(timeout, seen.append)
        if marker in "".join(seen):
            return caught.value
    pytest.fail(f"the code never printed {marker!r} before its timeout")

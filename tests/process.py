"""A Python program run as a real subprocess, whose output the test reads line by line.

For what only a real process shows: a real SIGINT or SIGTERM (``os.kill``), and what happens at
interpreter exit. The program prints what it is doing; :meth:`Program.wait_for` is the test's
side of that handshake.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.waits import GENEROUS

ROOT = Path(__file__).resolve().parent.parent


class Program:
    """``python -c code`` (or ``argv``), unbuffered, with the checkout's packages importable."""

    def __init__(self, code: str | None = None, *, argv: list[str] | None = None, env: dict[str, str] | None = None):
        command = argv if argv is not None else [sys.executable, "-u", "-c", code or ""]
        path = os.pathsep.join([str(ROOT / "toolkit"), str(ROOT), os.environ.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def owner(self) -> str:
        """The ``llm-sandbox.owner`` label of what this process creates."""
        return f"{socket.gethostname()}/{self.process.pid}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, text: str) -> str:
        """The first line (from here on) containing ``text``; fails if the program ends or falls silent first."""
        while True:
            try:
                line = self._lines.get(timeout=GENEROUS)
            except queue.Empty:
                raise AssertionError(f"the program printed nothing for {GENEROUS:g}s; so far: {self.text()}") from None
            if line is None:
                raise AssertionError(f"the program ended before printing {text!r}: {self.text()}")
            self.output.append(line)
            if text in line:
                return line

    def answer(self, text: str = "") -> None:
        """Write ``text`` to the program's standard input, then close it."""
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.close()

    def send(self, sig: signal.Signals) -> None:
        os.kill(self.process.pid, sig)

    def finish(self) -> int:
        """Wait for the program to end (it must); its exit code."""
        code = self.process.wait(GENEROUS)
        while (line := self._lines.get(timeout=GENEROUS)) is not None:
            self.output.append(line)
        return code

    def text(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        """Kill the program if a failed test left it running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(GENEROUS)

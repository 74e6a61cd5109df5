"""A small progress display for image builds and base bootstraps, written to stderr.

On a terminal every running task shares one line that is rewritten in place
(``python 3/9 RUN apt-get ... | java 2/8 RUN ...``). Elsewhere (CI logs, pipes)
only one line per task start and finish is printed.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from typing import TextIO


class Progress:
    """Reports what long image work is doing. Thread-safe; one instance may serve parallel builds."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self._lock = threading.Lock()
        self._active: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._drawn = False

    # the three events ---------------------------------------------------
    def start(self, task: str, message: str) -> None:
        """A task begins (``task`` is a short name such as ``python`` or ``base``)."""
        with self._lock:
            self._started[task] = time.monotonic()
            self._active[task] = message
            if self.tty:
                self._draw()
            else:
                self._print(f"llm-sandbox: {message}")

    def update(self, task: str, message: str) -> None:
        """The task moved on (a build step, a bootstrap phase). Shown on a terminal only."""
        if not self.tty:
            return
        with self._lock:
            if task in self._active:
                self._active[task] = message
                self._draw()

    def finish(self, task: str, message: str, *, ok: bool = True) -> None:
        """The task ended; ``message`` is printed with the elapsed time."""
        with self._lock:
            started = self._started.pop(task, None)
            self._active.pop(task, None)
            elapsed = f" ({time.monotonic() - started:.1f}s)" if started is not None else ""
            line = f"llm-sandbox: {message}{elapsed}"
            if self.tty:
                self._clear()
                self._print(line)
                self._draw()
            else:
                self._print(line)

    def elapsed(self, task: str) -> float:
        started = self._started.get(task)
        return time.monotonic() - started if started is not None else 0.0

    # drawing ------------------------------------------------------------
    def _print(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # closed or broken stream: progress is best effort
            pass

    def _clear(self) -> None:
        if self._drawn:
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        if not self._active:
            self._clear()
            self.stream.flush()
            return
        width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
        text = " | ".join(
            f"{task} {int(self.elapsed(task))}s {message}" for task, message in self._active.items()
        )
        text = " ".join(text.split())  # no newlines or tabs inside the line
        if len(text) > width:
            text = text[: width - 1] + "…"
        try:
            self.stream.write("\r\x1b[K" + text)
            self.stream.flush()
            self._drawn = True
        except (OSError, ValueError):
            pass


class NullProgress(Progress):
    """Reports nothing."""

    def __init__(self) -> None:
        super().__init__(stream=sys.stderr, tty=False)

    def start(self, task: str, message: str) -> None:
        self._started[task] = time.monotonic()

    def update(self, task: str, message: str) -> None:
        pass

    def finish(self, task: str, message: str, *, ok: bool = True) -> None:
        self._started.pop(task, None)


def resolve_progress(progress: Progress | bool | None) -> Progress:
    """``None``/``True``: a display on stderr; ``False``: silent; a :class:`Progress`: itself."""
    if isinstance(progress, Progress):
        return progress
    if progress is False:
        return NullProgress()
    return Progress()

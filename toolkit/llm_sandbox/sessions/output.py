"""Collects a command's output as it streams: caps, callbacks, and the run wrapper's trailer."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from llm_sandbox.engines.base import STDERR, STDOUT
from llm_sandbox.exceptions import ArtifactLimitError

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
TRUNCATION_NOTICE = "\n[llm-sandbox: output truncated; kept the first {kept} of {total} bytes]\n"


class _Stream:
    def __init__(self, limit: int, errors: str, callback: Callable[[str], None] | None) -> None:
        self.kept = bytearray()
        self.total = 0
        self.limit = limit
        self.errors = errors
        self.callback = callback
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors=errors)

    def add(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        if self.callback is not None:
            text = self.decoder.decode(data)
            if text:
                self.callback(text)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.kept)

    def text(self) -> str:
        if self.callback is not None:
            tail = self.decoder.decode(b"", final=True)
            if tail:
                self.callback(tail)
        text = bytes(self.kept).decode("utf-8", errors=self.errors)
        if self.truncated:
            text += TRUNCATION_NOTICE.format(kept=len(self.kept), total=self.total)
        return text


class OutputCollector:
    """Feeds ``(stream, chunk)`` pairs from a backend; keeps at most ``limit`` bytes per stream.

    When ``marker`` is given, stdout is cut at its first occurrence: what comes
    before is the program's output, what comes after is the wrapper's trailer
    (exit code and artifacts), kept whole up to ``trailer_limit`` bytes. Bytes
    that might be the start of the marker are held back until it is clear, so
    callbacks never see any part of it.
    """

    def __init__(
        self,
        *,
        limit: int = DEFAULT_MAX_OUTPUT_BYTES,
        errors: str = "replace",
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        marker: bytes | None = None,
        trailer_limit: int = 1024 * 1024 * 1024,
    ) -> None:
        self.stdout = _Stream(limit, errors, on_stdout)
        self.stderr = _Stream(limit, errors, on_stderr)
        self.marker = marker
        self.trailer: bytearray | None = None
        self.trailer_limit = trailer_limit
        self._held = b""

    def __call__(self, stream: int, chunk: bytes) -> None:
        if stream == STDERR:
            self.stderr.add(chunk)
        elif stream == STDOUT:
            self._stdout(chunk)

    def _stdout(self, chunk: bytes) -> None:
        if self.marker is None:
            self.stdout.add(chunk)
            return
        if self.trailer is not None:
            if len(self.trailer) + len(chunk) > self.trailer_limit:
                raise ArtifactLimitError(self.trailer_limit)
            self.trailer += chunk
            return
        data = self._held + chunk
        found = data.find(self.marker)
        if found >= 0:
            self.stdout.add(data[:found])
            self.trailer = bytearray(data[found + len(self.marker) :])
            self._held = b""
            return
        keep = _longest_marker_prefix_suffix(data, self.marker)
        self.stdout.add(data[: len(data) - keep])
        self._held = data[len(data) - keep :]

    def finish(self) -> None:
        """Release held-back bytes when the stream ended without a marker."""
        if self._held:
            self.stdout.add(self._held)
            self._held = b""


def _longest_marker_prefix_suffix(data: bytes, marker: bytes) -> int:
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:size]):
            return size
    return 0

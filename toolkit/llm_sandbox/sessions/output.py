"""Collects a command's output as it streams: caps, callbacks, and the run wrapper's trailer."""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from dataclasses import dataclass

from llm_sandbox.engines.base import STDERR, STDOUT
from llm_sandbox.exceptions import ArtifactLimitError

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
MAX_TRAILER_BYTES = 256 * 1024 * 1024
"""All artifacts of one run together; more is a ``ResourceError``."""
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


@dataclass(frozen=True)
class OutputLimits:
    """How much output a run keeps per stream, and how undecodable bytes are treated."""

    max_bytes: int
    encoding_errors: str


class _Cut:
    """One stream cut at the first occurrence of a marker: output before it, the trailer after it.

    Bytes that might be the start of the marker are held back until it is
    clear, so the output (and its callback) never sees any part of it.
    """

    def __init__(self, output: _Stream, marker: bytes, trailer_limit: int) -> None:
        self.output = output
        self.marker = marker
        self.trailer_limit = trailer_limit
        self.trailer: bytearray | None = None
        self._held = b""

    def add(self, chunk: bytes) -> None:
        if self.trailer is not None:
            if len(self.trailer) + len(chunk) > self.trailer_limit:
                raise ArtifactLimitError(self.trailer_limit)
            self.trailer += chunk
            return
        data = self._held + chunk
        found = data.find(self.marker)
        if found >= 0:
            self.output.add(data[:found])
            self._held = b""
            self.trailer = bytearray()
            self.add(data[found + len(self.marker) :])
            return
        keep = _longest_marker_prefix_suffix(data, self.marker)
        self.output.add(data[: len(data) - keep])
        self._held = data[len(data) - keep :]

    def finish(self) -> None:
        """Release held-back bytes when the stream ended without a marker."""
        if self._held:
            self.output.add(self._held)
            self._held = b""


class OutputCollector:
    """Feeds ``(stream, chunk)`` pairs from an engine; keeps at most ``limit`` bytes per stream.

    When ``marker`` is given, stdout is cut at its first occurrence: what comes
    before is the program's output, what comes after is the wrapper's trailer
    (exit code and artifacts), kept whole up to ``trailer_limit`` bytes
    (:class:`~llm_sandbox.exceptions.ArtifactLimitError` beyond). With ``stderr_marker`` stderr is cut at
    the same marker too (a warm process marks the end of a request on both
    streams, which arrive independently); its trailer is ``stderr_trailer``.
    """

    def __init__(
        self,
        *,
        limit: int = DEFAULT_MAX_OUTPUT_BYTES,
        errors: str = "replace",
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        marker: bytes | None = None,
        stderr_marker: bool = False,
        trailer_limit: int = 1024 * 1024 * 1024,
    ) -> None:
        self.started = time.monotonic()
        """When collecting began: the run's own start, after any wait for the sandbox (its run lock)."""
        self.stdout = _Stream(limit, errors, on_stdout)
        self.stderr = _Stream(limit, errors, on_stderr)
        self._out = _Cut(self.stdout, marker, trailer_limit) if marker else None
        self._err = _Cut(self.stderr, marker, 4096) if marker and stderr_marker else None

    @property
    def trailer(self) -> bytearray | None:
        """What followed the marker on stdout (None until the marker arrived)."""
        return self._out.trailer if self._out is not None else None

    @property
    def stderr_trailer(self) -> bytearray | None:
        return self._err.trailer if self._err is not None else None

    def __call__(self, stream: int, chunk: bytes) -> None:
        if stream == STDERR:
            (self._err or self.stderr).add(chunk)
        elif stream == STDOUT:
            (self._out or self.stdout).add(chunk)

    def finish(self) -> None:
        """Release held-back bytes when the streams ended without a marker."""
        for cut in (self._out, self._err):
            if cut is not None:
                cut.finish()


def _longest_marker_prefix_suffix(data: bytes, marker: bytes) -> int:
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:size]):
            return size
    return 0


def parse_trailer(trailer: bytearray | None) -> tuple[int, bytes] | None:
    """``(code, payload)`` of a complete ``<code> <size>\n<payload>`` trailer; None while it is incomplete.

    A header that is not two numbers (the wrapper was killed mid-line, or the
    code printed something that looks like a marker) reads as exit code 125.
    """
    if trailer is None:
        return None
    newline = trailer.find(b"\n")
    if newline < 0:
        return None
    fields = bytes(trailer[:newline]).split()
    if len(fields) != 2 or not all(field.isdigit() for field in fields):
        return 125, b""
    size = int(fields[1])
    if len(trailer) - newline - 1 < size:
        return None
    return int(fields[0]), bytes(trailer[newline + 1 : newline + 1 + size])

"""Writes captured figures into the run's plots directory (inside the sandbox).

The directory is ``$LLM_SANDBOX_PLOTS_DIR``, read when a figure is saved (a
warm runner's child or a kernel's cell sets it; without it nothing is
captured). File names carry the order and what is known of the image:
``NNN-<width>x<height>-<dpi>.<ext>`` (unknown values are 0). The host reads
them back and enforces the real limits; here at most ``LLM_SANDBOX_MAX_PLOTS``
figures of at most ``LLM_SANDBOX_MAX_PLOT_BYTES`` each are written, so a
runaway loop does not render thousands; what is dropped is reported on stderr.
"""

from __future__ import annotations

import atexit
import os
import sys

_MAX_PLOTS = int(os.environ.get("LLM_SANDBOX_MAX_PLOTS", "50"))
_MAX_BYTES = int(os.environ.get("LLM_SANDBOX_MAX_PLOT_BYTES", str(10 * 1024 * 1024)))
_count = 0
_dropped: list[str] = []


def enabled() -> bool:
    """True when figures are captured (a plots directory is set)."""
    return bool(os.environ.get("LLM_SANDBOX_PLOTS_DIR"))


def reset() -> None:
    """Start counting anew (a kernel calls it before each cell)."""
    global _count
    _count = 0
    report_dropped()


def save(data: bytes, ext: str, width: float = 0, height: float = 0, dpi: float = 0) -> None:
    """Store one captured figure, unless a limit is reached."""
    global _count
    directory = os.environ.get("LLM_SANDBOX_PLOTS_DIR", "")
    if not directory:
        return
    if _count >= _MAX_PLOTS:
        _dropped.append(f"plot {_count + len(_dropped) + 1}: more than {_MAX_PLOTS} plots in one run")
        return
    if len(data) > _MAX_BYTES:
        _dropped.append(f"a {ext} plot of {len(data)} bytes: larger than {_MAX_BYTES} bytes")
        return
    _count += 1
    name = f"{_count:03d}-{round(width)}x{round(height)}-{round(dpi)}.{ext}"
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


@atexit.register
def report_dropped() -> None:
    for reason in _dropped:
        print(f"[llm-sandbox] plot not captured: {reason}", file=sys.stderr)
    _dropped.clear()

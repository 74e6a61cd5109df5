"""Waiting for something that must eventually happen, without asserting how fast.

Tests prove order with handshakes. Some things happen on their own time (a reaper thread
closes an idle sandbox, a kubelet notices a deleted pod): :func:`eventually` polls for them,
and its deadline only turns a hang into a failure with a message; it is never a speed check,
so it is generous.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

GENEROUS = 120.0
"""Seconds before a wait gives up: far beyond anything a busy machine needs."""


def eventually(check: Callable[[], T], what: str, *, timeout: float = GENEROUS, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something true, and return that; fail naming ``what`` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s (last value: {value!r})")
        time.sleep(interval)

"""What a timeout may be: a finite number of seconds, checked where a user passes it.

Every timeout a user gives (to a session, a run, a session manager, the
playground) goes through :func:`check_timeout` before anything starts, so a
``nan``, ``inf``, negative, boolean or text value is a clear
:class:`~llm_sandbox.exceptions.ValidationError` instead of an obscure error
from a socket or a timer deep inside a run.
"""

from __future__ import annotations

import math
from numbers import Real

from llm_sandbox.exceptions import ValidationError

MAX_TIMEOUT = 366 * 24 * 3600.0
"""One year: far beyond any run, and well inside what sockets and timers accept (~292 years)."""


def check_timeout(value: object, name: str, *, allow_zero: bool = False, none_means: str = "") -> float | None:
    """``value`` as float seconds, or None when it is None; a ``ValidationError`` otherwise.

    ``allow_zero``: 0 is meaningful (e.g. "do not wait"); else a timeout must be
    above 0. ``none_means`` is what None stands for, told in the error (e.g.
    "no limit").
    """
    if value is None:
        return None
    lowest = "0 or more" if allow_zero else "above 0"
    hint = f"; pass None for {none_means}" if none_means else ""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValidationError(
            f"{name} must be a number of seconds ({lowest}), not {type(value).__name__} {value!r}{hint}"
        )
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero) or seconds > MAX_TIMEOUT:
        raise ValidationError(
            f"{name} must be a number of seconds {lowest} and at most {MAX_TIMEOUT:g} (one year), "
            f"got {value!r}{hint}"
        )
    return seconds


__all__ = ["MAX_TIMEOUT", "check_timeout"]

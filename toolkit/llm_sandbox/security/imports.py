"""What an analysis of code finds: the modules it imports, and how regex import forms read them.

The ground of the analyzers: ``analyzers`` (the registry and the regex
languages) and ``python_analyzer`` (Python's ``ast``) both build on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .scanner import Scanned


@dataclass(frozen=True)
class ModuleRef:
    """A module (or module member) the code imports or uses.

    ``name`` is ``None`` for a dynamic import whose module name is not a constant.
    ``implicit`` marks Python builtins used without an import (``eval`` is reported as
    ``builtins.eval``): such a reference matches only a restricted name spelled exactly
    (``builtins.eval``), so restricting ``builtins`` does not refuse ``print``.
    """

    name: str | None
    line: int | None = None
    implicit: bool = False


@dataclass
class Analysis:
    """What an analyzer found: module references and the comment-stripped code."""

    refs: list[ModuleRef]
    stripped: str
    fallback: bool = False
    """True when the code did not parse and the text fallback produced the findings."""


# How a form reads the module name:
#   "name":    the regex's ``name`` group (a bare identifier path, outside strings)
#   "string":  a constant string expression right after the match (ignored otherwise)
#   "dynamic": like "string", but anything else than a constant is a dynamic import
#   "group":   every string literal up to the next ")" (Go's grouped imports)
ImportForm = tuple[str, str]


def find_imports(scanned: Scanned, forms: Sequence[ImportForm]) -> list[ModuleRef]:
    """Apply import ``forms`` to a scanned text and read the module names they name."""
    masked = scanned.masked
    refs: list[ModuleRef] = []
    for regex, mode in forms:
        for m in re.finditer(regex, masked, re.MULTILINE):
            line = scanned.line_of(m.start())
            if mode == "name":
                name = re.sub(r"\s+", "", m.group("name"))
                refs.append(ModuleRef(name, line))
            elif mode == "group":
                close = masked.find(")", m.end())
                close = len(masked) if close < 0 else close
                for start, lit in scanned.literals.items():
                    if m.end() <= start < close:
                        refs.append(ModuleRef(lit.value, scanned.line_of(start)))
            else:
                value, end = scanned.const_string_at(m.end())
                if value is not None:
                    refs.append(ModuleRef(value.strip(), line))
                    after = masked[end:].lstrip()[:1]
                    if mode == "dynamic" and after not in ("", ")", ",", ";", "\n"):
                        refs.append(ModuleRef(None, line))  # require("x".slice(1)): not a constant
                elif mode == "dynamic":
                    nxt = masked[m.end() :].lstrip()[:1]
                    if nxt and nxt not in ");,":
                        refs.append(ModuleRef(None, line))
    return refs

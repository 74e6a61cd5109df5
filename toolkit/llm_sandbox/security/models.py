"""Data model of security policies: severities, patterns, restricted modules, violations.

Blocking rule (one rule, used everywhere): a violation *blocks* when its severity is
above ``SAFE`` **and** at or above the policy's ``severity_threshold``.  ``SAFE``-severity
rules are therefore informational: they are reported, never refused.  A threshold of
``SAFE`` behaves like ``LOW``: every non-``SAFE`` violation blocks.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..exceptions import InvalidRegexPatternError


class SecurityIssueSeverity(IntEnum):
    """Severity of a security issue."""

    SAFE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


def _normalize_languages(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [str(v).strip().lower() for v in value if str(v).strip()] or None


class SecurityPattern(BaseModel):
    """A regular expression searched in the code (with comments removed, string literals kept).

    ``languages`` limits the pattern to some languages (``None``: every language).
    The regex is validated when the pattern is built (:meth:`validate_pattern`): an invalid
    one raises :class:`~llm_sandbox.exceptions.InvalidRegexPatternError` naming the pattern
    and the regex error.
    """

    pattern: str = Field(..., description="Regular expression searched in the comment-stripped code.")
    description: str = Field(..., description="What the pattern detects and why it is dangerous.")
    severity: SecurityIssueSeverity = Field(..., description="Severity of a match.")
    languages: list[str] | None = Field(
        default=None, description="Languages the pattern applies to; None means every language."
    )

    @field_validator("pattern")
    @classmethod
    def validate_pattern(cls, value: str) -> str:
        """``value`` if it compiles as a regular expression, else :class:`InvalidRegexPatternError`."""
        try:
            re.compile(value)
        except re.error as exc:
            raise InvalidRegexPatternError(value, str(exc)) from exc
        return value

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, value: list[str] | None) -> list[str] | None:
        return _normalize_languages(value)


class RestrictedModule(BaseModel):
    """A dangerous module (or module member, e.g. ``os.system``).

    Restricting ``a`` refuses ``a`` and every submodule/member ``a.x`` / ``a/x``, never a
    module that merely starts with the same letters (``os`` does not match ``osmosis``).
    ``languages`` limits the entry to some languages (``None``: every language).
    """

    name: str = Field(..., min_length=1, description="Module name as the language spells it.")
    description: str = Field(..., description="Why the module is restricted.")
    severity: SecurityIssueSeverity = Field(..., description="Severity of using the module.")
    languages: list[str] | None = Field(
        default=None, description="Languages the entry applies to; None means every language."
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("a restricted module needs a non-empty name")
        return value

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, value: list[str] | None) -> list[str] | None:
        return _normalize_languages(value)


class SecurityPolicy(BaseModel):
    """A security policy: restricted modules, regex patterns and a severity threshold.

    A violation blocks when ``severity > SAFE`` and ``severity >= severity_threshold``.
    With ``advisory=True`` the session's ``run()`` reports violations but never refuses code;
    ``is_safe()`` still answers ``False`` for code that would otherwise be refused.
    """

    severity_threshold: SecurityIssueSeverity = Field(
        default=SecurityIssueSeverity.SAFE,
        description="Violations at or above this severity (and above SAFE) block execution.",
    )
    patterns: list[SecurityPattern] = Field(default_factory=list)
    restricted_modules: list[RestrictedModule] = Field(default_factory=list)
    advisory: bool = Field(default=False, description="Only report violations; never refuse code.")

    @field_validator("patterns", "restricted_modules", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    def add_pattern(self, pattern: SecurityPattern) -> None:
        """Add a regex pattern to the policy."""
        if not isinstance(pattern, SecurityPattern):
            pattern = SecurityPattern.model_validate(pattern)
        self.patterns.append(pattern)

    def add_restricted_module(self, module: RestrictedModule) -> None:
        """Add a restricted module to the policy."""
        if not isinstance(module, RestrictedModule):
            module = RestrictedModule.model_validate(module)
        self.restricted_modules.append(module)

    def remove_restricted_module(self, name: str) -> None:
        """Remove every restricted-module entry named ``name`` (no error when absent)."""
        self.restricted_modules = [m for m in self.restricted_modules if m.name != name]

    def remove_pattern(self, pattern: str) -> None:
        """Remove every pattern whose regex is ``pattern`` (no error when absent)."""
        self.patterns = [p for p in self.patterns if p.pattern != pattern]

    def blocks(self, severity: SecurityIssueSeverity | int) -> bool:
        """Whether a violation of this severity is refused (advisory mode aside)."""
        return severity > SecurityIssueSeverity.SAFE and severity >= self.severity_threshold


class Violation(BaseModel):
    """One thing the policy found in the code or the libraries."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["module", "pattern", "library"]
    rule: str = Field(..., description="The policy rule that matched: restricted module name or regex.")
    found: str = Field(..., description="What was found: imported/used name, library spec or matched text.")
    description: str
    severity: SecurityIssueSeverity
    line: int | None = Field(default=None, description="1-based line of the first occurrence, when known.")
    fallback: bool = Field(
        default=False, description="Found by the text fallback because the code did not parse."
    )
    blocking: bool = Field(default=False, description="Whether this violation makes the code refused.")

    @property
    def pattern(self) -> str:
        """The matching rule (name kept for the reference API, whose violations were patterns)."""
        return self.rule

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "libraries" if self.kind == "library" else "code"
        what = {
            "module": f"restricted module {self.rule!r}",
            "pattern": f"pattern {self.rule!r}",
            "library": f"library {self.found!r} (restricted module {self.rule!r})",
        }[self.kind]
        if self.kind == "module" and self.rule == "<dynamic import>":
            what = "dynamic import"
        elif self.kind == "module" and self.found != self.rule:
            what += f" (via {self.found!r})"
        elif self.kind == "pattern":
            what += f" (matched {self.found!r})"
        text = f"{where}: {what}: {self.description} [{self.severity.name}]"
        if self.fallback:
            text += " [text fallback: the code did not parse]"
        return text

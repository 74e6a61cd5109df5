"""Security policies: a filter on top of the container's isolation, not a substitute for it.

A policy lists restricted modules and regex patterns with severities. Code is analyzed
per language (Python with ``ast``; other languages with a comment- and string-aware
scanner) before it runs:

* :func:`check_code` — ``(is_safe, violations)``, what ``session.is_safe(code)`` returns;
* :func:`check_libraries` — the same for the ``libraries=`` a run would install;
* :func:`enforce` — both, raising :class:`~llm_sandbox.exceptions.SecurityViolationError`
  unless the policy is advisory.

See ``docs/security.md`` for the presets and the analysis rules.
"""

from __future__ import annotations

from .analyzers import (
    analyze_code,
    canonical_language,
    regex_import_analyzer,
    register_analyzer,
    register_pattern_analyzer,
    registered_languages,
    strip_comments,
    unregister_analyzer,
)
from .checks import (
    check_code,
    check_libraries,
    enforce,
    format_violations,
    library_module_name,
    module_matches,
)
from .imports import Analysis, ModuleRef
from .models import (
    RestrictedModule,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    Violation,
)
from .presets import get_security_policy, list_security_policies
from .scanner import CommentSyntax, Scanned, scan_source

__all__ = [
    "Analysis",
    "CommentSyntax",
    "ModuleRef",
    "RestrictedModule",
    "Scanned",
    "SecurityIssueSeverity",
    "SecurityPattern",
    "SecurityPolicy",
    "Violation",
    "analyze_code",
    "canonical_language",
    "check_code",
    "check_libraries",
    "enforce",
    "format_violations",
    "get_security_policy",
    "library_module_name",
    "list_security_policies",
    "module_matches",
    "regex_import_analyzer",
    "register_analyzer",
    "register_pattern_analyzer",
    "registered_languages",
    "scan_source",
    "strip_comments",
    "unregister_analyzer",
]

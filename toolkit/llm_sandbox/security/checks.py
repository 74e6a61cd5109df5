"""Checking code and libraries against a policy, and enforcing the result.

``check_code`` is what ``session.is_safe(code)`` returns; ``enforce`` is what
``session.run(code, libraries=...)`` calls before executing anything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence

from ..exceptions import SecurityViolationError
from .analyzers import LanguageAnalyzer, canonical_language, get_analyzer
from .imports import ModuleRef
from .models import RestrictedModule, SecurityIssueSeverity, SecurityPattern, SecurityPolicy, Violation

logger = logging.getLogger("llm_sandbox.security")

DYNAMIC_IMPORT_RULE = "<dynamic import>"


def _applies(languages: list[str] | None, lang: str) -> bool:
    return not languages or lang in {canonical_language(x) for x in languages}


def module_matches(restricted: str, imported: str, *, exact_only: bool = False) -> bool:
    """Whether ``imported`` is ``restricted`` or a submodule/member of it.

    ``os`` matches ``os``, ``os.path`` and (Go, Ruby, C headers) ``os/exec``; never ``osmosis``.
    """
    if imported == restricted:
        return True
    if exact_only:
        return False
    return imported.startswith(restricted + ".") or imported.startswith(restricted + "/")


def _prefixes(name: str) -> list[str]:
    """``name`` and each of its parents (``a.b/c`` -> ``a``, ``a.b``, ``a.b/c``)."""
    out = [name[:i] for i, ch in enumerate(name) if ch in "./" and i > 0]
    out.append(name)
    return out


def _restricted_for(policy: SecurityPolicy, lang: str) -> list[RestrictedModule]:
    return [m for m in policy.restricted_modules if _applies(m.languages, lang)]


def _patterns_for(policy: SecurityPolicy, lang: str) -> list[SecurityPattern]:
    return [p for p in policy.patterns if _applies(p.languages, lang)]


def _sort(violations: list[Violation]) -> list[Violation]:
    order = {"library": 0, "module": 1, "pattern": 2}
    return sorted(violations, key=lambda v: (v.line is not None, v.line or 0, order[v.kind]))


def _module_violations(
    refs: Iterable[ModuleRef],
    modules: Sequence[RestrictedModule],
    analyzer: LanguageAnalyzer,
    policy: SecurityPolicy,
    fallback: bool,
) -> list[Violation]:
    violations: list[Violation] = []
    seen: set[str] = set()
    ordered = sorted(refs, key=lambda r: (r.line is None, r.line or 0))
    by_name: dict[str, list[RestrictedModule]] = {}
    for module in modules:
        by_name.setdefault(analyzer.normalize(module.name), []).append(module)
    checked: set[tuple[str, bool]] = set()
    for ref in ordered:
        if ref.name is None:
            if not modules or DYNAMIC_IMPORT_RULE in seen:
                continue
            seen.add(DYNAMIC_IMPORT_RULE)
            severity = max(m.severity for m in modules)
            violations.append(
                Violation(
                    kind="module",
                    rule=DYNAMIC_IMPORT_RULE,
                    found="module name computed at run time",
                    description="dynamic import whose module name is not a constant; it cannot be "
                    "checked against the restricted modules",
                    severity=severity,
                    line=ref.line,
                    fallback=fallback,
                    blocking=policy.blocks(severity),
                )
            )
            continue
        name = analyzer.normalize(ref.name)
        if (name, ref.implicit) in checked:
            continue  # an earlier line already reported whatever this name matches
        checked.add((name, ref.implicit))
        candidates = [name] if ref.implicit else _prefixes(name)
        for module in (m for cand in candidates for m in by_name.get(cand, ())):
            if module.name in seen:
                continue
            seen.add(module.name)
            violations.append(
                Violation(
                    kind="module",
                    rule=module.name,
                    found=ref.name,
                    description=module.description,
                    severity=module.severity,
                    line=ref.line,
                    fallback=fallback,
                    blocking=policy.blocks(module.severity),
                )
            )
    return violations


def _pattern_imports(
    stripped: str, modules: Sequence[RestrictedModule], import_pattern: Callable[[str], str]
) -> list[ModuleRef]:
    """The restricted modules whose import regex is found in the stripped code (a plugin's own regexes)."""
    found = []
    for module in modules:
        match = re.search(import_pattern(module.name), stripped)
        if match is not None:
            leading = len(match.group(0)) - len(match.group(0).lstrip())  # a pattern may start at a newline
            found.append(ModuleRef(module.name, _line_of(stripped, match.start() + leading)))
    return found


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _pattern_violations(
    stripped: str, patterns: Sequence[SecurityPattern], policy: SecurityPolicy, fallback: bool
) -> list[Violation]:
    violations: list[Violation] = []
    seen: set[str] = set()
    for pattern in patterns:
        if pattern.pattern in seen:
            continue
        match = re.search(pattern.pattern, stripped)
        if match is None:
            continue
        seen.add(pattern.pattern)
        found = match.group(0)
        violations.append(
            Violation(
                kind="pattern",
                rule=pattern.pattern,
                found=found if len(found) <= 80 else found[:77] + "...",
                description=pattern.description,
                severity=pattern.severity,
                line=_line_of(stripped, match.start()),
                fallback=fallback,
                blocking=policy.blocks(pattern.severity),
            )
        )
    return violations


def check_code(code: str, lang: object, policy: SecurityPolicy | None) -> tuple[bool, list[Violation]]:
    """Check ``code`` written in ``lang`` against ``policy``.

    Returns ``(is_safe, violations)``: every violation found (each restricted module and
    each pattern reported once, at its first occurrence, sorted by line) and whether none
    of them blocks (see :meth:`SecurityPolicy.blocks`). Advisory mode does not change the
    answer: it only keeps ``run()`` from refusing. ``policy=None`` means "no policy":
    ``(True, [])``.
    """
    if policy is None:
        return True, []
    analyzer = get_analyzer(lang)
    modules = _restricted_for(policy, analyzer.name)
    patterns = _patterns_for(policy, analyzer.name)
    if not modules and not patterns:
        return True, []
    analysis = analyzer.analyze(code)
    if modules and not analyzer.detects_imports:
        logger.warning(
            "no import analyzer for language %r: restricted modules are not checked, only regex "
            "patterns (register one with llm_sandbox.security.register_analyzer)",
            analyzer.name,
        )
    refs = analysis.refs
    if analyzer.import_pattern is not None:
        refs = refs + _pattern_imports(analysis.stripped, modules, analyzer.import_pattern)
    violations = _module_violations(refs, modules, analyzer, policy, analysis.fallback)
    violations += _pattern_violations(analysis.stripped, patterns, policy, analysis.fallback)
    violations = _sort(violations)
    return not any(v.blocking for v in violations), violations


# ---------------------------------------------------------------------------
# libraries
# ---------------------------------------------------------------------------

# Python distributions whose import name differs from the distribution name.
_PY_DIST_TO_MODULE = {
    "beautifulsoup4": "bs4",
    "pyyaml": "yaml",
    "scikit_learn": "sklearn",
    "scikit_image": "skimage",
    "pillow": "PIL",
    "opencv_python": "cv2",
    "opencv_python_headless": "cv2",
    "python_dateutil": "dateutil",
    "pycryptodome": "Crypto",
    "websocket_client": "websocket",
    "pyzmq": "zmq",
    "pysocks": "socks",
    "python_nmap": "nmap",
    "dnspython": "dns",
}


def library_module_name(spec: str, lang: object) -> str:
    """The top-level module a library spec installs (``requests[socks]>=2`` -> ``requests``)."""
    lang = canonical_language(lang)
    spec = spec.strip()
    if lang == "python":
        if " @ " in spec:
            spec = spec.split(" @ ", 1)[0]
        if "://" in spec or spec.startswith(("git+", "file:")):
            spec = spec.rstrip("/")
            tail = spec.split("#egg=")[-1] if "#egg=" in spec else spec.rsplit("/", 1)[-1]
            spec = tail.removesuffix(".git")
        name = re.split(r"[\s\[\]=<>!~;,@(]", spec, maxsplit=1)[0]
        key = name.lower().replace("-", "_").replace(".", "_")
        return _PY_DIST_TO_MODULE.get(key, key)
    if lang == "javascript":
        if spec.startswith("@"):
            scope, _, rest = spec.partition("/")
            return f"{scope}/{rest.split('@', 1)[0]}".lower()
        return spec.split("@", 1)[0].lower()
    if lang == "go":
        return spec.split("@", 1)[0]
    if lang == "java":
        return spec.split(":", 1)[0]
    return re.split(r"[\s=<>!~@:,]", spec, maxsplit=1)[0]


def _library_key(name: str, lang: str) -> str:
    if lang == "python":
        return name.lower().replace("-", "_")
    if lang == "javascript":
        return name.lower()
    return name


def check_libraries(
    libraries: Sequence[str] | None, lang: object, policy: SecurityPolicy | None
) -> tuple[bool, list[Violation]]:
    """Check the libraries a run would install: one whose top-level module is restricted is refused.

    ``requests==2.32`` is refused when ``requests`` is restricted (or a restricted name is a
    submodule of it, e.g. ``requests.adapters``: installing the package provides it).
    """
    if policy is None or not libraries:
        return True, []
    analyzer = get_analyzer(lang)
    modules = _restricted_for(policy, analyzer.name)
    violations: list[Violation] = []
    for spec in libraries:
        module_name = library_module_name(spec, analyzer.name)
        if not module_name:
            continue
        key = _library_key(analyzer.normalize(module_name), analyzer.name)
        for module in modules:
            restricted = _library_key(analyzer.normalize(module.name), analyzer.name)
            if module_matches(restricted, key):
                violations.append(
                    Violation(
                        kind="library",
                        rule=module.name,
                        found=spec,
                        description=module.description,
                        severity=module.severity,
                        blocking=policy.blocks(module.severity),
                    )
                )
                break
    return not any(v.blocking for v in violations), violations


# ---------------------------------------------------------------------------
# enforcement
# ---------------------------------------------------------------------------


def format_violations(violations: Iterable[Violation]) -> str:
    """One line per violation, with line numbers."""
    return "\n".join(f"  - {v}" for v in violations)


def enforce(
    code: str,
    lang: object,
    policy: SecurityPolicy | None,
    libraries: Sequence[str] | None = None,
) -> list[Violation]:
    """Check code and libraries; raise :class:`SecurityViolationError` if anything blocks.

    The error's ``violations`` are the blocking ones and its message lists them one per
    line. With ``policy.advisory`` nothing is raised: blocking violations are logged as a
    warning. Returns every violation found (blocking or not).
    """
    if policy is None:
        return []
    _, lib_violations = check_libraries(libraries, lang, policy)
    _, code_violations = check_code(code, lang, policy)
    violations = lib_violations + code_violations
    blocking = [v for v in violations if v.blocking]
    if not blocking:
        return violations
    if policy.advisory:
        logger.warning(
            "security policy (advisory mode) would refuse this code:\n%s", format_violations(blocking)
        )
        return violations
    threshold = max(SecurityIssueSeverity(policy.severity_threshold), SecurityIssueSeverity.LOW).name
    noun = "violation" if len(blocking) == 1 else "violations"
    message = (
        f"the security policy refused this code ({len(blocking)} {noun} at or above {threshold}):\n"
        f"{format_violations(blocking)}\n"
        "Remove these uses, choose a more permissive policy, or set advisory=True on the policy "
        "to only report them."
    )
    raise SecurityViolationError(message, violations=blocking)

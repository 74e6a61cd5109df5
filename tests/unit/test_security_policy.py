"""Policies, presets, enforcement and library checks (no engine needed)."""

from __future__ import annotations

import pytest

from llm_sandbox.exceptions import InvalidRegexPatternError, SecurityError, SecurityViolationError, ValidationError
from llm_sandbox.security import (
    CommentSyntax,
    ModuleRef,
    RestrictedModule,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    Violation,
    check_code,
    check_libraries,
    enforce,
    get_security_policy,
    list_security_policies,
    regex_import_analyzer,
    register_analyzer,
    registered_languages,
    strip_comments,
    unregister_analyzer,
)

PRESETS = ["minimal", "development", "educational", "data_science", "web_scraping", "production", "strict"]
S = SecurityIssueSeverity


def _policy(*modules: str, severity: S = S.HIGH, **kwargs: object) -> SecurityPolicy:
    return SecurityPolicy(
        restricted_modules=[
            RestrictedModule(name=m, description=f"{m} is restricted", severity=severity) for m in modules
        ],
        **kwargs,  # type: ignore[arg-type]
    )


# --- presets -------------------------------------------------------------------------


def test_all_presets_listed() -> None:
    assert set(PRESETS) <= set(list_security_policies())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_round_trips_through_json(name: str) -> None:
    policy = get_security_policy(name)
    assert policy.restricted_modules or policy.patterns
    restored = SecurityPolicy.model_validate_json(policy.model_dump_json())
    assert restored == policy
    assert restored.model_dump_json() == policy.model_dump_json()


def test_preset_is_a_fresh_copy() -> None:
    first = get_security_policy("production")
    first.add_pattern(SecurityPattern(pattern=r"internal\.company", description="internal", severity=S.HIGH))
    first.restricted_modules.clear()
    second = get_security_policy("production")
    assert second.restricted_modules
    assert all(p.pattern != r"internal\.company" for p in second.patterns)


def test_preset_names_are_forgiving() -> None:
    assert get_security_policy("Data-Science") == get_security_policy("data_science")


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ValidationError) as info:
        get_security_policy("paranoid")
    message = str(info.value)
    assert "paranoid" in message
    for name in PRESETS:
        assert name in message
    assert isinstance(info.value, ValueError)


def test_presets_get_stricter() -> None:
    code = "import socket\nsocket.socket()"
    assert check_code(code, "python", get_security_policy("minimal"))[0]
    assert check_code(code, "python", get_security_policy("development"))[0]
    assert not check_code(code, "python", get_security_policy("production"))[0]
    assert not check_code(code, "python", get_security_policy("strict"))[0]


def test_development_reports_without_blocking() -> None:
    safe, violations = check_code("import requests", "python", get_security_policy("development"))
    assert safe
    assert [v.rule for v in violations] == ["requests"]
    assert not violations[0].blocking


# --- models ----------------------------------------------------------------------------


def test_invalid_regex_is_rejected_at_construction() -> None:
    with pytest.raises(InvalidRegexPatternError) as info:
        SecurityPattern(pattern=r"os\.system(", description="bad", severity=S.HIGH)
    message = str(info.value)
    assert message.startswith("Invalid regex pattern: os\\.system(")
    assert "missing )" in message and "re.escape" in message
    assert isinstance(info.value, SecurityError)
    with pytest.raises(InvalidRegexPatternError):
        SecurityPattern.validate_pattern("[")
    assert SecurityPattern.validate_pattern(r"\beval\(") == r"\beval\("


def test_invalid_regex_is_rejected_from_json_too() -> None:
    with pytest.raises(InvalidRegexPatternError, match=r"Invalid regex pattern: \["):
        SecurityPolicy.model_validate_json(
            '{"patterns": [{"pattern": "[", "description": "x", "severity": 3}]}'
        )


def test_add_pattern_and_module() -> None:
    policy = SecurityPolicy()
    policy.add_pattern(
        SecurityPattern(pattern=r"requests\.get\(.*internal", description="i", severity=S.HIGH)
    )
    policy.add_restricted_module(RestrictedModule(name="socket", description="net", severity=S.MEDIUM))
    assert len(policy.patterns) == 1
    assert [m.name for m in policy.restricted_modules] == ["socket"]
    safe, violations = check_code("import requests\nrequests.get('http://internal/x')", "python", policy)
    assert not safe
    assert violations[0].kind == "pattern"
    assert violations[0].line == 2


def test_blocking_rule() -> None:
    policy = SecurityPolicy(severity_threshold=S.MEDIUM)
    assert not policy.blocks(S.LOW)
    assert policy.blocks(S.MEDIUM)
    assert policy.blocks(S.HIGH)
    default = SecurityPolicy()
    assert not default.blocks(S.SAFE)  # SAFE rules are informational
    assert default.blocks(S.LOW)


def test_below_threshold_is_reported_not_blocking() -> None:
    policy = _policy("os", severity=S.LOW, severity_threshold=S.MEDIUM)
    safe, violations = check_code("import os", "python", policy)
    assert safe
    assert len(violations) == 1
    assert not violations[0].blocking


def test_safe_severity_pattern_never_blocks() -> None:
    policy = SecurityPolicy(patterns=[SecurityPattern(pattern="print", description="audit", severity=S.SAFE)])
    safe, violations = check_code("print(1)", "python", policy)
    assert safe
    assert violations and not violations[0].blocking


def test_no_policy_means_safe() -> None:
    assert check_code("import subprocess", "python", None) == (True, [])
    assert enforce("import subprocess", "python", None) == []


# --- enforcement --------------------------------------------------------------------


def test_enforce_raises_with_violations_and_line_numbers() -> None:
    policy = get_security_policy("production")
    code = "x = 1\nimport socket\nimport subprocess\n"
    with pytest.raises(SecurityViolationError) as info:
        enforce(code, "python", policy)
    error = info.value
    assert isinstance(error, SecurityError)
    rules = {v.rule: v for v in error.violations}
    assert rules["socket"].line == 2
    assert rules["subprocess"].line == 3
    message = str(error)
    assert "line 2" in message and "line 3" in message
    assert "socket" in message and "subprocess" in message
    assert all(isinstance(v, Violation) and v.blocking for v in error.violations)


def test_enforce_refuses_restricted_library() -> None:
    policy = get_security_policy("production")
    with pytest.raises(SecurityViolationError) as info:
        enforce("print(1)", "python", policy, libraries=["requests==2.32.0"])
    assert [v.kind for v in info.value.violations] == ["library"]
    assert "requests==2.32.0" in str(info.value)


def test_advisory_mode_reports_but_never_raises() -> None:
    policy = get_security_policy("strict")
    policy.advisory = True
    violations = enforce("import subprocess", "python", policy, libraries=["requests"])
    assert {v.rule for v in violations} >= {"subprocess", "requests"}
    # is_safe still tells the truth in advisory mode
    assert check_code("import subprocess", "python", policy)[0] is False


def test_enforce_passes_safe_code() -> None:
    assert enforce("print(1 + 1)", "python", get_security_policy("strict")) == []


# --- libraries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "spec", "refused"),
    [
        ("python", "requests", True),
        ("python", "requests[socks]>=2.0", True),
        ("python", "Requests==2.32", True),
        ("python", "numpy", False),
        ("python", "requests-toolbelt", False),  # same prefix, different module
        ("python", "urllib3", True),
        ("python", "httpx", True),
        ("javascript", "axios@1.6.0", True),
        ("javascript", "lodash", False),
        ("ruby", "httparty", True),
        ("r", "httr", True),
        ("r", "ggplot2", False),
    ],
)
def test_check_libraries_production(lang: str, spec: str, refused: bool) -> None:
    safe, violations = check_libraries([spec], lang, get_security_policy("production"))
    assert safe is not refused
    assert bool(violations) is refused


def test_check_libraries_distribution_name_maps_to_module() -> None:
    policy = _policy("bs4")
    safe, violations = check_libraries(["beautifulsoup4==4.12"], "python", policy)
    assert not safe and violations[0].rule == "bs4"


def test_web_scraping_allows_http_libraries() -> None:
    assert check_libraries(["requests", "beautifulsoup4"], "python", get_security_policy("web_scraping"))[0]


# --- module naming -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "caught"),
    [
        ("import os", True),
        ("import os.path", True),
        ("from os import path", True),
        ("import osmosis", False),
        ("import os_utils", False),
        ("from osmosis import os", False),
    ],
)
def test_restricting_os_matches_submodules_only(code: str, caught: bool) -> None:
    safe, _ = check_code(code, "python", _policy("os"))
    assert safe is not caught


def test_restricting_submodule_only() -> None:
    policy = _policy("os.path")
    assert not check_code("import os.path as p", "python", policy)[0]
    assert not check_code("from os import path", "python", policy)[0]
    assert check_code("import os\nos.getcwd()", "python", policy)[0]


def test_node_prefix() -> None:
    policy = _policy("child_process")
    assert not check_code("require('node:child_process')", "javascript", policy)[0]
    assert not check_code("require('child_process')", "js", policy)[0]


def test_restricting_builtins_does_not_flag_print() -> None:
    policy = _policy("builtins")
    assert check_code("print(len('x'))", "python", policy)[0]
    assert not check_code("import builtins", "python", policy)[0]
    assert not check_code("__builtins__.print(1)", "python", policy)[0]


def test_language_scoped_entries() -> None:
    policy = SecurityPolicy(
        restricted_modules=[
            RestrictedModule(name="os", description="d", severity=S.HIGH, languages=["python"])
        ]
    )
    assert not check_code("import os", "python", policy)[0]
    assert check_code('package main\nimport "os"\n', "go", policy)[0]


def test_language_aliases_and_enum() -> None:
    from llm_sandbox.const import SupportedLanguage

    policy = _policy("subprocess")
    assert not check_code("import subprocess", SupportedLanguage.PYTHON, policy)[0]
    assert not check_code("import subprocess", "py", policy)[0]


# --- fallback, line numbers, comments ---------------------------------------------------


def test_unparseable_python_uses_text_fallback() -> None:
    code = 'print "hello"\nimport subprocess  # comment\n'
    safe, violations = check_code(code, "python", _policy("subprocess"))
    assert not safe
    assert violations[0].fallback
    assert violations[0].line == 2
    assert "text fallback" in str(violations[0])


def test_unparseable_python_fallback_ignores_comments_and_strings() -> None:
    code = 'print "import subprocess"\n# import subprocess\n'
    safe, violations = check_code(code, "python", _policy("subprocess"))
    assert safe, violations


def test_patterns_ignore_comments_but_see_strings() -> None:
    policy = SecurityPolicy(patterns=[SecurityPattern(pattern="secret", description="d", severity=S.HIGH)])
    assert check_code("x = 1  # secret\n", "python", policy)[0]
    assert not check_code("x = 'secret'\n", "python", policy)[0]
    assert check_code("// secret\nlet x = 1;", "javascript", policy)[0]
    assert check_code("/* secret */ int x;", "cpp", policy)[0]
    assert check_code("# secret\nx <- 1", "r", policy)[0]
    assert check_code("=begin\nsecret\n=end\nx = 1", "ruby", policy)[0]


def test_pattern_line_number_after_comment_removal() -> None:
    policy = SecurityPolicy(patterns=[SecurityPattern(pattern="danger", description="d", severity=S.HIGH)])
    code = "/* a\n b\n*/\nint x; // danger\nint danger = 1;\n"
    _, violations = check_code(code, "cpp", policy)
    assert violations[0].line == 5


def test_strip_comments_keeps_lines() -> None:
    code = "a = 1  # one\nb = '# not a comment'\n"
    assert strip_comments(code, "python") == "a = 1  \nb = '# not a comment'\n"


# --- unknown languages and plugins --------------------------------------------------------


def test_unknown_language_uses_patterns_only() -> None:
    policy = SecurityPolicy(
        patterns=[SecurityPattern(pattern=r"\bcurl\b", description="d", severity=S.HIGH)],
        restricted_modules=[RestrictedModule(name="net", description="d", severity=S.HIGH)],
    )
    assert check_code("# curl example\necho hi", "cobol-ish", policy)[0]
    assert not check_code("curl http://x", "cobol-ish", policy)[0]


def test_register_analyzer_for_plugin_language(language_registry: None) -> None:
    syntax = CommentSyntax(line=("#",), strings=('"', "'"))
    register_analyzer(
        "toylang",
        regex_import_analyzer([r"\buse\s+(?P<name>[\w.]+)", r"\bload\s*"], syntax),
        comments=syntax,
        aliases=("toy",),
    )
    policy = _policy("net")
    assert not check_code("use net.http", "toylang", policy)[0]
    assert not check_code('load "net"', "toy", policy)[0]
    assert check_code('# use net\nprint "use net"', "toy", policy)[0]


def test_register_analyzer_with_plain_function(language_registry: None) -> None:
    def analyzer(code: str) -> list[ModuleRef | tuple[str | None, int | None]]:
        return [("danger", 3)] if "danger" in code else []

    register_analyzer("plainlang", analyzer)
    safe, violations = check_code("x\ny\ndanger", "plainlang", _policy("danger"))
    assert not safe and violations[0].line == 3
    unregister_analyzer("plainlang")
    assert "plainlang" not in registered_languages()
    assert check_code("x\ny\ndanger", "plainlang", _policy("danger"))[0]  # the generic analysis sees no import

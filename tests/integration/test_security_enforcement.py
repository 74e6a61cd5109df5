"""Policies enforced by sessions on a real engine: refused code never reaches the container."""

from __future__ import annotations

import pytest

from llm_sandbox import (
    RestrictedModule,
    SecurityIssueSeverity,
    SecurityViolationError,
    create_session,
    get_security_policy,
)

pytestmark = pytest.mark.integration


def test_run_refuses_obfuscated_imports_and_runs_innocent_code(python_image: str) -> None:
    with create_session(
        "docker", lang="python", security_policy=get_security_policy("production")
    ) as session:
        with pytest.raises(SecurityViolationError) as caught:
            session.run("m = __import__('o' + 's')\nm.system('echo pwned > /sandbox/flag')")
        assert caught.value.violations
        assert session.execute_command("ls /sandbox").stdout == ""  # never ran
        ok = session.run("text = 'os and subprocess are words'\n# import subprocess\nprint(text)")
        assert ok.stdout == "os and subprocess are words\n"
        safe, violations = session.is_safe("import subprocess")
        assert not safe and violations


def test_restricted_library_is_refused_before_install(python_image: str) -> None:
    policy = get_security_policy("production")
    policy.add_restricted_module(
        RestrictedModule(name="six", description="test", severity=SecurityIssueSeverity.HIGH)
    )
    with (
        create_session("docker", lang="python", security_policy=policy) as session,
        pytest.raises(SecurityViolationError),
    ):
        session.run("print(1)", libraries=["six"])


def test_advisory_mode_reports_but_runs(python_image: str) -> None:
    policy = get_security_policy("strict")
    policy.advisory = True
    with create_session("docker", lang="python", security_policy=policy) as session:
        assert session.run("import os\nprint('ran')").stdout == "ran\n"
        assert session.is_safe("import os")[0] is False

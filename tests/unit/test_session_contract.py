"""What a session does (and does not do) with its engine, on the in-memory engine (no container runs).

``FakeEngine`` records every container and exec the session asks for; a handler answers execs.
The same behaviours on real engines are in ``tests/integration/test_session.py``.
"""

from __future__ import annotations

import pytest

from llm_sandbox.contract import INSTALLER_ROLE, ROLE_LABEL
from llm_sandbox.engines.base import ExecDeadlineExceeded
from llm_sandbox.engines.fake import ExecCall, ExecReply, FakeEngine
from llm_sandbox.exceptions import SandboxTimeoutError
from llm_sandbox.sessions import Session


def never_ends(call: ExecCall) -> ExecReply:
    """Runs carry their code on stdin and never end; the kill that follows succeeds."""
    if call.stdin is not None:
        raise ExecDeadlineExceeded
    return ExecReply()


@pytest.mark.parametrize(
    ("options", "timeout", "applied"),
    [
        ({}, None, 300),
        ({"default_timeout": 7}, None, 7),
        ({"default_timeout": 7, "execution_timeout": 5}, None, 5),
        ({"default_timeout": 7, "execution_timeout": 5}, 3, 3),
        ({"runtime_configs": {"timeout": 9}}, None, 9),  # the reference's spelling
    ],
)
def test_which_timeout_a_run_gets(options: dict, timeout: float | None, applied: float) -> None:
    with Session(FakeEngine(never_ends), lang="python", **options) as session:
        with pytest.raises(SandboxTimeoutError) as caught:
            session.run("print(1)", timeout=timeout)
        assert caught.value.timeout_duration == applied


def test_nothing_runs_when_a_session_opens() -> None:
    engine = FakeEngine()
    with Session(engine, lang="python") as session:
        assert [spec.labels.get(ROLE_LABEL) for spec in engine.created] == [None]  # the sandbox, nothing else
        assert engine.execs == []
        assert list(engine.volumes) == [session.packages_volume]


@pytest.mark.parametrize(("skip", "installers"), [(False, 1), (True, 0)])
def test_skip_environment_setup_skips_only_the_libraries_given_at_open(skip: bool, installers: int) -> None:
    engine = FakeEngine()
    with Session(engine, lang="python", libraries=["six"], skip_environment_setup=skip, stream=True):
        roles = [spec.labels.get(ROLE_LABEL) for spec in engine.created]
        assert roles.count(INSTALLER_ROLE) == installers
        assert roles.count(None) == 1

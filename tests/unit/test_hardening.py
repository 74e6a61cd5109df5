"""Input a hostile or careless caller can give, refused before anything starts (no engine needed).

The engine-side regression tests of the same hardening are in ``tests/integration/test_hardening.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_sandbox import SandboxSession, ValidationError
from llm_sandbox.agents import SessionManager
from llm_sandbox.engines.fake import FakeEngine
from llm_sandbox.languages import get_language
from llm_sandbox.sessions import Session
from llm_sandbox.timeouts import MAX_TIMEOUT, check_timeout

BAD_TIMEOUTS = [float("nan"), float("inf"), -float("inf"), -1, 0, MAX_TIMEOUT * 2, 1e300, "30", True, [5], b"1"]


@pytest.mark.parametrize("value", BAD_TIMEOUTS, ids=repr)
def test_degenerate_timeouts_are_validation_errors(value: object) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        check_timeout(value, "timeout")


def test_good_timeouts_and_zero_where_it_means_something() -> None:
    assert check_timeout(None, "t") is None
    assert check_timeout(1, "t") == 1.0 and check_timeout(0.25, "t") == 0.25
    assert check_timeout(MAX_TIMEOUT, "t") == MAX_TIMEOUT
    assert check_timeout(0, "wait_timeout", allow_zero=True) == 0.0
    with pytest.raises(ValidationError, match="pass None for waiting forever"):
        check_timeout(-1, "wait_timeout", allow_zero=True, none_means="waiting forever")


@pytest.mark.parametrize(
    "option", ["default_timeout", "execution_timeout", "session_timeout", "install_timeout"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -5, True, "10"], ids=repr)
def test_session_timeouts_are_checked_when_the_session_is_made(option: str, value: object) -> None:
    engine = FakeEngine()
    with pytest.raises(ValidationError, match=option):
        Session(engine, **{option: value})
    assert engine.containers == {}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0, -1, "1"], ids=repr)
def test_timeouts_of_the_reference_api_paths_are_checked(value: object) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        SandboxSession(lang="python", runtime_configs={"timeout": value})
    with pytest.raises(ValidationError, match="pod_ready_timeout"):
        SandboxSession("kubernetes", pod_ready_timeout=value)


@pytest.mark.parametrize("option", ["idle_timeout", "wait_timeout", "execution_timeout"])
def test_session_manager_timeouts_are_checked(option: str) -> None:
    for value in (float("nan"), float("inf"), -1, "5"):
        with pytest.raises(ValidationError, match=option):
            SessionManager(**{option: value})


# library names -------------------------------------------------------------------------------
ACCEPTED = {
    "python": ["numpy", "numpy==2.1.0", "scikit-learn>=1.0", "pkg[extra]", "pandas[excel]>=2,<3", "numpy >= 1.0",
               "zope.interface", "six==1.16.0"],
    "javascript": ["lodash", "lodash@4.17.21", "@types/node@^20", "@scope/pkg", "is-number", "JSONStream",
                   "react@>=16 <19", "x@latest"],
    "ruby": ["rainbow", "rainbow==3.1.1", "activesupport"],
    "r": ["data.table", "jsonlite", "ggplot2", "r-cran-ggplot2"],
    "cpp": ["libfmt-dev", "fmt", "libstdc++", "g++", "zlib1g-dev"],
    "go": ["github.com/spyzhov/ajson", "example.com/greet", "github.com/google/uuid@v1.6.0", "golang.org/x/text@latest",
           "gopkg.in/yaml.v3", "example.com/greet==v1.0.0"],
}  # fmt: skip
REFUSED_EVERYWHERE = [
    "http://127.0.0.1:8000/x.whl", "https://example.com/x.tgz", "git+file:///etc", "git+https://example.com/r.git",
    "file:/etc", "file:///etc/passwd", "./local", "../x", "/etc/passwd", "~/x", "C:\\x", "-e .", "-r/etc/passwd",
    "--index-url=http://evil", "numpy; rm -rf /", "$(id)", "x`id`", "a b", "x|y", "a&&b", "'q'", "", "numpy\n",
    "numpy\r", "numpy\x00", "numpy @ https://x.example/y.whl", "x" * 300,
]  # fmt: skip
REFUSED = {
    "python": ["numpy==", "pkg[extra", "numpy; python_version<'3'", "@scope/pkg"],
    "javascript": ["user/repo", "github:user/repo", "npm:lodash", "lodash@npm:other", "x@file:../y",
                   "x@git+https://a/b", "-g", "@scope/../x", "x@http://127.0.0.1/x.tgz"],
    "go": ["127.0.0.1:8080/x", "./...", "all", "std", "example.com/../x", "example.com/...", "-x"],
    "r": ["ggplot2==3.4", "a", "r-"],
    "cpp": ["Boost", "libfmt-dev==9"],
    "ruby": ["rails>=7", "rails:7"],
}  # fmt: skip


@pytest.mark.parametrize("lang", sorted(ACCEPTED))
def test_package_names_of_each_language_are_accepted(lang: str) -> None:
    handler = get_language(lang)
    for name in ACCEPTED[lang]:
        assert handler.validate_libraries([name]) == [name]


@pytest.mark.parametrize("lang", sorted(ACCEPTED))
def test_urls_paths_options_and_shell_syntax_are_refused(lang: str) -> None:
    handler = get_language(lang)
    for name in REFUSED_EVERYWHERE + REFUSED[lang]:
        with pytest.raises(ValidationError, match="invalid library name"):
            handler.validate_libraries([name])


def test_a_refused_library_given_at_open_starts_no_container() -> None:
    engine = FakeEngine()
    with pytest.raises(ValidationError, match="invalid library name"):
        Session(engine, libraries=["git+file:///etc"])
    with pytest.raises(ValidationError, match="a list of names"):
        Session(engine, libraries="numpy")  # type: ignore[arg-type]
    assert engine.containers == {}


# the playground's configuration (issue #15, item 10) -------------------------------------------------
def test_the_playground_refuses_to_serve_beyond_loopback_without_a_login() -> None:
    from playground.options import PlaygroundConfig

    for host in ("0.0.0.0", "::", "192.0.2.10", "example.com", ""):
        with pytest.raises(ValidationError, match="LLM_SANDBOX_PLAYGROUND_AUTH"):
            PlaygroundConfig(host=host).check()
        PlaygroundConfig(host=host, credentials=(("ada", "pw"),)).check()
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        PlaygroundConfig(host=host).check()


def test_the_playground_reads_logins_and_checks_its_caps(tmp_path: Path) -> None:
    from playground.options import PlaygroundConfig, memory_bytes, read_credentials

    logins = tmp_path / "logins"
    logins.write_text("# who may log in\nada:correct horse\n\nbob:pw:with:colons\n")
    assert read_credentials(str(logins), {"LLM_SANDBOX_PLAYGROUND_AUTH": "cy:pw"}) == (
        ("ada", "correct horse"), ("bob", "pw:with:colons"), ("cy", "pw"),
    )  # fmt: skip
    logins.write_text("no-colon-here\n")
    with pytest.raises(ValidationError, match="user:password"):
        read_credentials(str(logins), {})
    with pytest.raises(ValidationError, match="cannot read"):
        read_credentials(str(tmp_path / "missing"), {})
    assert memory_bytes("512m") == 512 * 2**20 and memory_bytes("1.5G") == 3 * 2**29 and memory_bytes("2gb") == 2**31
    for bad in ("lots", "-1g", "1t", ""):
        with pytest.raises(ValidationError):
            memory_bytes(bad)
    for options, problem in (
        ({"memory": "8g", "max_memory": "4g"}, "above --max-memory"),
        ({"cpus": 4.0, "max_cpus": 2.0}, "at most --max-cpus"),
        ({"timeout": 900.0, "max_timeout": 600.0}, "above --max-timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"max_sessions_per_visitor": 0}, "at least 1"),
    ):
        with pytest.raises(ValidationError, match=problem):
            PlaygroundConfig(**options).check()

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


# the installer's filtering proxy (issue #15, item 7), over its real Unix socket -----------------------
@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "loopback"), ("64:ff9b::7f00:1", "loopback"), ("0.0.0.0", "0.0.0.0/8"),
        ("169.254.169.254", "169.254.0.0/16"), ("10.1.2.3", "10.0.0.0/8"), ("172.20.0.1", "172.16.0.0/12"),
        ("192.168.1.1", "192.168.0.0/16"), ("100.64.0.1", "100.64.0.0/10"), ("fd00::1", "fc00::/7"),
        ("fe80::1", "fe80::/10"), ("224.0.0.1", "224.0.0.0/4"), ("240.0.0.1", "240.0.0.0/4"),
    ],
)  # fmt: skip
def test_forbidden_addresses(address: str, why: str) -> None:
    from llm_sandbox.sessions.egress import forbidden_address

    assert why in (forbidden_address(address) or "")


def test_public_and_documentation_addresses_are_allowed() -> None:
    from llm_sandbox.sessions.egress import forbidden_address

    for address in ("8.8.8.8", "151.101.0.223", "203.0.113.80", "2606:4700::1111"):
        assert forbidden_address(address) is None


def _ask(proxy_path: str, request: bytes) -> bytes:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(30)
        client.connect(proxy_path)
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def test_the_proxy_refuses_this_machine_and_serves_configured_indexes() -> None:
    import http.server
    import threading

    from llm_sandbox.sessions.egress import EgressProxy, configured_endpoints

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"index")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    index = f"http://localhost:{port}/simple"
    assert {str(e) for e in configured_endpoints({"PIP_INDEX_URL": index, "NO_PROXY": "x"})} == {f"localhost:{port}"}
    try:
        with EgressProxy.for_host({"PIP_INDEX_URL": index}) as proxy:
            served = _ask(proxy.path, f"GET http://127.0.0.1:{port}/simple/six/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert served.startswith(b"HTTP/1.0 200") and served.endswith(b"index")  # a configured index
            for target in (f"127.0.0.1:{port + 1}", "127.0.0.1:443", "[::1]:443", "2130706433:443", "localhost:80",
                           "169.254.169.254:80", "10.0.0.1:443", "0:443"):  # fmt: skip
                answer = _ask(proxy.path, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
                assert answer.startswith(b"HTTP/1.1 403 llm-sandbox: "), (target, answer)
            plain = _ask(proxy.path, b"GET http://127.0.0.1/latest HTTP/1.1\r\n\r\n")
            assert plain.startswith(b"HTTP/1.1 403") and b"this machine's loopback" in plain
            assert _ask(proxy.path, b"GET /relative HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
            assert len(proxy.refused) == 9
    finally:
        server.shutdown()
        server.server_close()


def test_an_engine_without_host_binds_says_its_installer_is_not_confined() -> None:
    """Stands for Kubernetes (the fake engine: no cluster can run here); the proxy needs a bind-mounted socket."""
    from llm_sandbox.engines.base import Capabilities
    from llm_sandbox.engines.fake import ExecCall, ExecReply
    from llm_sandbox.exceptions import PackageManagerError

    def handler(call: ExecCall) -> ExecReply:
        failing = "pip install" in " ".join(call.argv)
        return ExecReply(exit_code=1, stderr=b"no index answers") if failing else ExecReply()

    engine = FakeEngine(handler, capabilities=Capabilities(host_binds=False, shared_volumes=False))
    with Session(engine) as session, pytest.raises(PackageManagerError, match="cannot be given the filtering proxy"):
        session.install(["six"])
    installer = next(spec for spec in engine.created if spec.labels.get("llm-sandbox.role") == "installer")
    assert "network_mode" not in installer.options and not installer.binds

"""The MCP server's configuration and result conversion, without an engine (the served server is in
tests/integration/test_mcp_server.py)."""

from __future__ import annotations

import base64

import pytest

from llm_sandbox.const import FileType
from llm_sandbox.data import ExecutionResult, FileOutput, PlotOutput
from llm_sandbox.mcp_server.cli import main
from llm_sandbox.mcp_server.config import ConfigError, build_parser, is_loopback, parse_config
from llm_sandbox.tools.text import ToolReply


def test_the_originals_environment_variables_configure_the_sandboxes() -> None:
    config = parse_config(
        [],
        {
            "BACKEND": "kubernetes",
            "NAMESPACE": "agents",
            "SANDBOX_MEM_LIMIT": "512m",
            "SANDBOX_CPU_COUNT": "2",
            "SANDBOX_NETWORK_MODE": "bridge",
            "SANDBOX_READ_ONLY": "false",
            "SANDBOX_CAP_DROP": "NET_RAW, SYS_ADMIN",
            "SANDBOX_SECURITY_OPT": "no-new-privileges",
            "COMMIT_CONTAINER": "no",
        },
    )
    options = config.manager_options()
    assert options["backend"] == "kubernetes"
    assert options["session_options"] == {"kube_namespace": "agents"}
    assert options["runtime_configs"] == {
        "mem_limit": "512m",
        "nano_cpus": 2_000_000_000,
        "network_mode": "bridge",
        "read_only": False,
        "cap_drop": ["NET_RAW", "SYS_ADMIN"],
        "security_opt": ["no-new-privileges"],
    }


def test_flags_win_over_environment_and_defaults_change_nothing() -> None:
    config = parse_config(
        ["--memory", "2g", "--read-only", "--timeout", "10", "--images", "mine/py:1,javascript=mine/js:2"],
        {"SANDBOX_MEMORY": "256m", "SANDBOX_READ_ONLY": "false", "LLM_SANDBOX_MCP_TIMEOUT": "20"},
    )
    options = config.manager_options()
    assert options["runtime_configs"] == {"mem_limit": "2g", "read_only": True}
    assert options["execution_timeout"] == 10
    assert options["image"] == "mine/py:1"
    assert options["language_options"] == {"javascript": {"image": "mine/js:2"}}

    defaults = parse_config([], {}).manager_options()
    assert defaults["runtime_configs"] == {}  # the library's secure defaults apply untouched
    assert defaults["session_options"] == {}
    assert defaults["lang"] == "python" and "javascript" in defaults["languages"]


def test_languages_are_canonical_and_the_default_is_among_them() -> None:
    config = parse_config(["--languages", "js,node,Python"], {})
    assert config.languages == ("javascript", "python") and config.default_language == "python"
    only_javascript = parse_config(["--languages", "javascript"], {})
    assert only_javascript.default_language == "javascript"
    with pytest.raises(ConfigError, match="not one of --languages"):
        parse_config(["--languages", "javascript", "--default-language", "python"], {})


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--transport", "http", "--host", "0.0.0.0"], {}, "refusing to listen on 0.0.0.0 without a token"),
        (["--transport", "http", "--host", "sandbox.example"], {}, "LLM_SANDBOX_MCP_TOKEN"),
        (["--languages", "python,cobol"], {}, "unknown language 'cobol'; choose from"),
        (["--timeout", "500"], {}, r"--timeout \(500\) is above --max-timeout \(300\)"),
        (["--port", "70000"], {}, "between 0 and 65535"),
        (["--cpus", "0"], {}, "greater than 0"),
        ([], {"BACKEND": "lxc"}, "BACKEND='lxc': choose one of docker"),
        ([], {"SANDBOX_PRIVILEGED": "maybe"}, "expected one of true, false"),
        (["--security-preset", "lax"], {}, "unknown security policy preset 'lax'"),
        ([], {"LLM_SANDBOX_MCP_TRANSPORT": "sse"}, "choose one of stdio, http"),
    ],
)
def test_unusable_configurations_are_refused_saying_why(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(argv, environ)


def test_http_beyond_loopback_runs_with_a_token() -> None:
    config = parse_config(["--transport", "http", "--host", "0.0.0.0"], {"LLM_SANDBOX_MCP_TOKEN": "t"})
    assert config.token == "t" and not config.loopback
    for host in ("127.0.0.1", "127.0.0.9", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
        assert parse_config(["--transport", "http", "--host", host], {}).token is None
    assert not is_loopback("10.0.0.1") and not is_loopback("sandbox.example")
    assert parse_config(["--transport", "streamable-http"], {}).transport == "http"


def test_help_lists_every_flag_with_its_environment_variables() -> None:
    text = " ".join(build_parser().format_help().split())
    for name in (
        "BACKEND", "NAMESPACE", "COMMIT_CONTAINER", "KEEP_TEMPLATE", "SANDBOX_MEMORY, SANDBOX_MEM_LIMIT",
        "SANDBOX_CPUS, SANDBOX_CPU_COUNT", "SANDBOX_NETWORK_MODE", "SANDBOX_READ_ONLY", "SANDBOX_CAP_DROP",
        "SANDBOX_SECURITY_OPT", "SANDBOX_PRIVILEGED", "LLM_SANDBOX_MCP_TOKEN", "LLM_SANDBOX_MCP_LANGUAGES",
        "LLM_SANDBOX_MCP_IDLE_TIMEOUT", "LLM_SANDBOX_MCP_MAX_FILE_BYTES",
    ):  # fmt: skip
        assert f"[env: {name}]" in text, name
    for flag in ("--transport", "--host", "--port", "--token", "--security-preset", "--max-timeout", "--cpus"):
        assert flag in text


def test_the_command_reports_a_bad_configuration_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SANDBOX_CPUS", "lots")
    assert main([]) == 2
    assert "llm-sandbox-mcp: error: SANDBOX_CPUS='lots'" in capsys.readouterr().err


# -- results ---------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_run_becomes_text_images_and_embedded_files() -> None:
    pytest.importorskip("mcp")
    from llm_sandbox.mcp_server.results import run_result

    result = ExecutionResult(
        exit_code=0,
        stdout="hi\n",
        plots=[
            PlotOutput(FileType.PNG, _b64(b"\x89PNG fake")),
            PlotOutput(FileType.HTML, _b64(b"<div>plotly</div>")),
            PlotOutput(FileType.SVG, _b64(b"<svg/>"), filename="/sandbox/outputs/chart.svg"),
        ],
        files=[
            FileOutput("/sandbox/outputs/table.csv", FileType.CSV, 4, _b64(b"a,b\n")),
            FileOutput("/sandbox/outputs/data.parquet", FileType.PARQUET, 3, _b64(b"PAR")),
            FileOutput("/sandbox/outputs/huge.zip", FileType.ZIP, 50_000_000, None),
        ],
    )
    converted = run_result(ToolReply("exit code: 0\nstdout:\nhi", result), max_bytes=1000)
    assert not converted.isError
    text, image, html, svg, csv, parquet, note = converted.content
    assert text.type == "text" and "hi" in text.text
    assert image.type == "image" and image.mimeType == "image/png" and image.data == _b64(b"\x89PNG fake")
    assert html.type == "resource" and html.resource.mimeType == "text/html"
    assert html.resource.text == "<div>plotly</div>" and str(html.resource.uri) == "sandbox://plots/2.html"
    assert svg.resource.text == "<svg/>" and str(svg.resource.uri) == "sandbox:///sandbox/outputs/chart.svg"
    assert csv.resource.text == "a,b\n" and csv.resource.mimeType == "text/csv"
    assert parquet.resource.blob == _b64(b"PAR")
    assert note.type == "text" and "/sandbox/outputs/huge.zip (47.7 MB)" in note.text and "download_file" in note.text


def test_a_failed_run_and_a_refusal_are_error_results() -> None:
    pytest.importorskip("mcp")
    from llm_sandbox.mcp_server.results import run_result

    failed = run_result(ToolReply("exit code: 1 - failed", ExecutionResult(exit_code=1)), max_bytes=10)
    assert failed.isError
    refused = run_result(ToolReply("error: timeout - ...", None, ok=False), max_bytes=10)
    assert refused.isError and refused.content[0].text == "error: timeout - ..."

"""The MCP server against real Docker, driven by the MCP SDK's own client over stdio and over HTTP.

The server runs as a real process (``python -m llm_sandbox.mcp_server``); containers are
judged by their owner label (the server's pid). Streaming and cleanup are proven by handshakes:
the sandboxed code waits for a file the client uploads once it has heard the code's output;
cleanup is checked after the server (or its session) said it ended.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

pytestmark = pytest.mark.integration
pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.shared.exceptions import McpError  # noqa: E402
from mcp.types import (  # noqa: E402
    CancelledNotification,
    CancelledNotificationParams,
    ClientNotification,
    LoggingMessageNotificationParams,
)

from tests.integration.mcp_support import (  # noqa: E402
    ENV,
    GUARD,
    ROOT,
    SERVER,
    HttpServer,
    containers_of,
    http_session,
    stdio_session,
    text_of,
    wait_until_exited,
)

TOOLS = {
    "execute_code",
    "execute_command",
    "upload_file",
    "download_file",
    "list_files",
    "reset_session",
    "get_supported_languages",
    "get_language_details",
}
WAIT_FOR_GO = (
    "import os, time\n"
    "print('waiting for go', flush=True)\n"
    "while not os.path.exists('/sandbox/go'):\n"
    "    time.sleep(0.02)\n"
    "print('released')\n"
)


@pytest.fixture
def http_servers(docker_client: Any) -> Iterator[list[HttpServer]]:
    """Start servers by appending ``HttpServer(...)``; each must stop cleanly and leave no container."""
    servers: list[HttpServer] = []
    yield servers
    for server in servers:
        code = server.stop()
        assert code == 0, f"the server exited with {code}; its log:\n{''.join(server.log)}"
        assert containers_of(docker_client, server.pid) == []


# -- stdio -----------------------------------------------------------------------------------------
async def test_tools_resource_and_languages_are_listed(python_image: str) -> None:
    async with stdio_session() as (session, _):
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        schema = tools["execute_code"].inputSchema
        assert schema["required"] == ["code"]
        assert schema["properties"]["language"]["default"] == "python"
        assert schema["properties"]["timeout"]["default"] == 30
        assert tools["list_files"].annotations is not None and tools["list_files"].annotations.readOnlyHint

        resources = (await session.list_resources()).resources
        assert [str(r.uri) for r in resources] == ["sandbox://languages"]
        details = json.loads((await session.read_resource("sandbox://languages")).contents[0].text)  # type: ignore[union-attr]
        assert details["python"]["visualization_support"] is True
        assert details["javascript"]["package_manager"] == "npm"

        languages = json.loads(text_of(await session.call_tool("get_supported_languages", {})))
        assert {"python", "javascript", "go", "r"} <= set(languages)
        javascript = json.loads(text_of(await session.call_tool("get_language_details", {"language": "node"})))
        assert javascript["name"] == "javascript" and javascript["library_installation"] is True
        unknown = await session.call_tool("get_language_details", {"language": "cobol"})
        assert unknown.isError and "python" in text_of(unknown)


async def test_python_and_javascript_run_and_a_plot_arrives_as_an_image(python_image: str) -> None:
    async with stdio_session() as (session, _):
        python = await session.call_tool("execute_code", {"code": "print(sum(range(10)))"})
        assert not python.isError
        assert "exit code: 0" in text_of(python) and "45" in text_of(python)

        javascript = await session.call_tool(
            "execute_code", {"code": "console.log([1, 2, 3].map(n => n * 2).join(','))", "language": "javascript"}
        )
        assert not javascript.isError and "2,4,6" in text_of(javascript)

        plot = await session.call_tool(
            "execute_code",
            {"code": "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()\nprint('drawn')"},
        )
        images = [c for c in plot.content if c.type == "image"]
        assert not plot.isError and "drawn" in text_of(plot)
        assert len(images) == 1 and images[0].mimeType == "image/png"
        assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")


async def test_errors_are_results_and_the_next_call_works(python_image: str) -> None:
    async with stdio_session() as (session, _):
        failed = await session.call_tool("execute_code", {"code": "raise ValueError('boom')"})
        assert failed.isError and "ValueError: boom" in text_of(failed) and "exit code: 1" in text_of(failed)

        timed_out = await session.call_tool(
            "execute_code", {"code": "print('started', flush=True)\nwhile True: pass", "timeout": 1}
        )
        assert timed_out.isError and "timeout" in text_of(timed_out) and "started" in text_of(timed_out)

        too_long = await session.call_tool("execute_code", {"code": "print(1)", "timeout": 100000})
        assert too_long.isError and "300" in text_of(too_long)
        wrong_language = await session.call_tool("execute_code", {"code": "print(1)", "language": "cobol"})
        assert wrong_language.isError and "javascript" in text_of(wrong_language)
        bad_upload = await session.call_tool("upload_file", {"path": "x", "content_base64": "not base64!"})
        assert bad_upload.isError and "base64" in text_of(bad_upload)
        missing = await session.call_tool("download_file", {"path": "nowhere.txt"})
        assert missing.isError and "list_files" in text_of(missing)

        after = await session.call_tool("execute_code", {"code": "print('still here')"})
        assert not after.isError and "still here" in text_of(after)


async def test_an_engine_failure_is_a_result_naming_the_image_and_the_server_goes_on(python_image: str) -> None:
    async with stdio_session("--images", "llm-sandbox/no-such-image:latest") as (session, _):
        failed = await session.call_tool("execute_code", {"code": "print(1)"})
        assert failed.isError and "llm-sandbox/no-such-image:latest" in text_of(failed)
        javascript = await session.call_tool("execute_code", {"code": "console.log('other')", "language": "js"})
        assert not javascript.isError and "other" in text_of(javascript)


async def test_the_sandbox_limit_is_a_result_saying_what_to_do(python_image: str) -> None:
    async with stdio_session("--max-sessions", "1") as (session, _):
        assert not (await session.call_tool("execute_code", {"code": "print(1)"})).isError
        javascript = {"code": "console.log(2)", "language": "javascript"}
        refused = await session.call_tool("execute_code", javascript)
        assert refused.isError and "limit of 1 open sandboxes" in text_of(refused)
        assert "reset_session" in text_of(refused)
        await session.call_tool("reset_session", {})
        assert "2" in text_of(await session.call_tool("execute_code", javascript))


async def test_files_persist_between_calls_and_move_both_ways_within_bounds(python_image: str) -> None:
    async with stdio_session("--max-file-bytes", "1000") as (session, _):
        data = bytes(range(256))
        uploaded = await session.call_tool(
            "upload_file", {"path": "data/bytes.bin", "content_base64": base64.b64encode(data).decode()}
        )
        assert not uploaded.isError and "/sandbox/data/bytes.bin" in text_of(uploaded)
        wrote = await session.call_tool(
            "execute_code",
            {"code": "print(len(open('data/bytes.bin','rb').read()))\nopen('notes.txt','w').write('kept')"},
        )
        assert "256" in text_of(wrote)
        command = await session.call_tool("execute_command", {"command": "cat notes.txt; head -c 5000 /dev/zero > big"})
        assert not command.isError and "kept" in text_of(command)

        listing = text_of(await session.call_tool("list_files", {}))
        assert "data/bytes.bin" in listing and "notes.txt" in listing

        binary = await session.call_tool("download_file", {"path": "data/bytes.bin"})
        blob = binary.content[1].resource  # type: ignore[union-attr]
        assert not binary.isError and base64.b64decode(blob.blob) == data  # type: ignore[union-attr]
        text = await session.call_tool("download_file", {"path": "/sandbox/notes.txt"})
        assert text.content[1].resource.text == "kept"  # type: ignore[union-attr]

        too_big = await session.call_tool("download_file", {"path": "big"})
        assert too_big.isError and "4.9 KB" in text_of(too_big)
        too_big_upload = await session.call_tool(
            "upload_file", {"path": "big2", "content_base64": base64.b64encode(b"x" * 1001).decode()}
        )
        assert too_big_upload.isError and "1000 bytes" in text_of(too_big_upload)

        reset = await session.call_tool("reset_session", {})
        assert not reset.isError
        gone = await session.call_tool("execute_code", {"code": "import os; print(os.path.exists('notes.txt'))"})
        assert "False" in text_of(gone)


async def test_output_and_progress_arrive_while_the_code_runs(python_image: str) -> None:
    """The code waits for a file that the client uploads only after it heard the code's first line,
    and after a progress notification came while the code was silent."""
    stdout: list[str] = []
    progress: list[str] = []
    waiting, silent_progress = anyio.Event(), anyio.Event()

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        assert params.logger == "stdout"
        stdout.append(str(params.data))
        if "waiting for go" in "".join(stdout):
            waiting.set()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")
        if waiting.is_set() and (message or "").startswith("running ("):
            silent_progress.set()

    async with stdio_session("--progress-interval", "0.1", logging_callback=on_log) as (session, _):
        result: Any = None

        async def run() -> None:
            nonlocal result
            result = await session.call_tool(
                "execute_code", {"code": WAIT_FOR_GO, "timeout": GUARD}, progress_callback=on_progress
            )

        with anyio.fail_after(GUARD):
            async with anyio.create_task_group() as group:
                group.start_soon(run)
                await waiting.wait()
                await silent_progress.wait()
                go = await session.call_tool("upload_file", {"path": "go", "content_base64": "Z28="})
                assert not go.isError
        assert not result.isError and "released" in text_of(result)
        assert "".join(stdout) == "waiting for go\nreleased\n"
        assert "stdout: waiting for go" in progress and "stdout: released" in progress


async def test_a_cancelled_call_kills_the_run_and_the_sandbox_goes_on(python_image: str) -> None:
    started = anyio.Event()

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        if "forever" in str(params.data):
            started.set()

    code = "open('kept.txt', 'w').write('yes')\nimport time\nprint('forever', flush=True)\ntime.sleep(3600)"
    async with stdio_session(logging_callback=on_log) as (session, _):
        with anyio.fail_after(GUARD):  # a run that was not killed would hold the sandbox for 300 s
            async with anyio.create_task_group() as group:

                async def doomed() -> None:
                    with pytest.raises(McpError, match="Request cancelled"):
                        await session.call_tool("execute_code", {"code": code, "timeout": 300})

                group.start_soon(doomed)
                await started.wait()
                # What a client that gives up sends (the SDK's client has no call for it): the request to
                # cancel is the session's second, after initialize (0).
                cancel = CancelledNotification(params=CancelledNotificationParams(requestId=1, reason="gave up"))
                await session.send_notification(ClientNotification(cancel))
            after = await session.call_tool("execute_code", {"code": "print(open('kept.txt').read())"})
        assert not after.isError and "yes" in text_of(after)


async def test_a_client_that_asks_for_warnings_only_gets_no_output_logs(python_image: str) -> None:
    heard: list[Any] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        heard.append(params)

    async with stdio_session(logging_callback=on_log) as (session, _):
        await session.set_logging_level("warning")
        result = await session.call_tool("execute_code", {"code": "print('quiet')"})
        assert "quiet" in text_of(result)
        await session.set_logging_level("info")
        await session.call_tool("execute_code", {"code": "print('loud')"})
    assert "".join(str(p.data) for p in heard) == "loud\n"


NOISY_SERVER = """
import os, runpy, sys
from llm_sandbox.tools.operations import SandboxOperations

run_code = SandboxOperations.run_code

def noisy(self, *args, **kwargs):
    print("noise from a library")
    os.system("echo noise from a child process")
    return run_code(self, *args, **kwargs)

SandboxOperations.run_code = noisy
sys.argv = ["llm-sandbox-mcp"]
runpy.run_module("llm_sandbox.mcp_server", run_name="__main__")
"""


async def test_stdout_carries_only_the_protocol(python_image: str, tmp_path: Any) -> None:
    server = StdioServerParameters(command=sys.executable, args=["-c", NOISY_SERVER], env=ENV, cwd=str(ROOT))
    with (tmp_path / "stderr").open("w+") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("execute_code", {"code": "print('clean')"})
            assert not result.isError and "clean" in text_of(result)
    log = (tmp_path / "stderr").read_text()
    assert "noise from a library" in log and "noise from a child process" in log


async def test_a_client_that_disconnects_leaves_no_container(docker_client: Any, python_image: str) -> None:
    async with stdio_session() as (session, pid):
        await session.call_tool("execute_code", {"code": "print(1)"})
        await session.call_tool("execute_code", {"code": "console.log(2)", "language": "javascript"})
        assert len(containers_of(docker_client, pid)) == 2
    wait_until_exited(pid)
    assert containers_of(docker_client, pid) == []


STDIO_CLIENT_THAT_HANGS = """
import anyio, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from tests.integration.mcp_support import ENV, SERVER, server_children

async def main():
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:], env=ENV)
    started = anyio.Event()

    async def on_log(params):
        if "forever" in str(params.data):
            started.set()

    async with stdio_client(params) as (read, write), ClientSession(read, write, logging_callback=on_log) as session:
        await session.initialize()
        async with anyio.create_task_group() as group:
            code = "import time\\nprint('forever', flush=True)\\ntime.sleep(3600)"
            group.start_soon(session.call_tool, "execute_code", {"code": code, "timeout": 300})
            await started.wait()
            (pid,) = server_children()
            print(pid, flush=True)
            await anyio.sleep_forever()

anyio.run(main)
"""


@pytest.mark.slow
def test_a_client_killed_mid_run_leaves_no_container(docker_client: Any, python_image: str) -> None:
    client = subprocess.Popen(
        [sys.executable, "-c", STDIO_CLIENT_THAT_HANGS], stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT
    )
    try:
        assert client.stdout is not None
        server = int(client.stdout.readline())
        assert len(containers_of(docker_client, server)) == 1
    finally:
        client.kill()  # SIGKILL: the client cannot say goodbye; the server sees its stdin close
        client.wait()
    wait_until_exited(server)
    assert containers_of(docker_client, server) == []


# -- streamable HTTP -------------------------------------------------------------------------------
async def test_http_runs_python_and_javascript(http_servers: list[HttpServer], python_image: str) -> None:
    server = HttpServer()
    http_servers.append(server)
    async with http_session(server.url) as session:
        assert {t.name for t in (await session.list_tools()).tools} == TOOLS
        python = await session.call_tool("execute_code", {"code": "print('py over http')"})
        javascript = await session.call_tool("execute_code", {"code": "console.log('js over http')", "language": "js"})
        assert "py over http" in text_of(python) and "js over http" in text_of(javascript)
        error = await session.call_tool("execute_code", {"code": "1/0"})
        assert error.isError and "ZeroDivisionError" in text_of(error)
        again = await session.call_tool("execute_code", {"code": "print('fine')"})
        assert not again.isError and "fine" in text_of(again)


async def test_http_clients_each_have_their_own_files(
    http_servers: list[HttpServer], docker_client: Any, python_image: str
) -> None:
    server = HttpServer()
    http_servers.append(server)
    exists = {"code": "import os; print(os.path.exists('mine.txt'))"}
    async with http_session(server.url) as first, http_session(server.url) as second:
        await first.call_tool("execute_code", {"code": "open('mine.txt', 'w').write('first')"})
        assert "False" in text_of(await second.call_tool("execute_code", exists))
        assert "True" in text_of(await first.call_tool("execute_code", exists))
        assert len(containers_of(docker_client, server.pid)) == 2
    # Both sessions ended (the client deletes its session on exit): their sandboxes went with them.
    server.wait_for(r"ended; its sandbox was removed")
    server.wait_for(r"ended; its sandbox was removed")
    assert containers_of(docker_client, server.pid) == []


async def test_with_a_pool_clients_take_its_warm_container_reset_between_them(
    http_servers: list[HttpServer], docker_client: Any, python_image: str
) -> None:
    server = HttpServer("--pool-size", "1")
    http_servers.append(server)
    deadline = time.monotonic() + GUARD
    while len(containers_of(docker_client, server.pid)) < 1:  # the pool made its warm container
        assert time.monotonic() < deadline, f"the pool never started a container; its log:\n{''.join(server.log)}"
        await anyio.sleep(0.05)
    [warm] = containers_of(docker_client, server.pid)
    exists = {"code": "import os; print(os.path.exists('mine.txt'))"}
    async with http_session(server.url) as first:
        await first.call_tool("execute_code", {"code": "open('mine.txt', 'w').write('first')"})
        assert "True" in text_of(await first.call_tool("execute_code", exists))
        assert containers_of(docker_client, server.pid) == [warm]  # the client runs in the pool's container
    server.wait_for(r"ended")
    async with http_session(server.url) as second:  # waits, if need be, for the reset to finish
        assert "False" in text_of(await second.call_tool("execute_code", exists))
        assert containers_of(docker_client, server.pid) == [warm]  # the same container, reset


async def test_http_token_is_refused_missing_or_wrong_and_accepted_right(
    http_servers: list[HttpServer], python_image: str
) -> None:
    server = HttpServer(env={"LLM_SANDBOX_MCP_TOKEN": "open-sesame"})
    http_servers.append(server)
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic open-sesame"}):
            refused = await http.post(server.url, json=initialize, headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(ExceptionGroup) as refused_session:
        async with http_session(server.url, token="wrong") as session:
            await session.list_tools()
    assert refused_session.group_contains(httpx.HTTPStatusError, match="401 Unauthorized")
    async with http_session(server.url, token="open-sesame") as session:
        result = await session.call_tool("execute_code", {"code": "print('let in')"})
        assert "let in" in text_of(result)


def test_http_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    refused = subprocess.run(
        [*SERVER, "--transport", "http", "--host", "0.0.0.0"], capture_output=True, text=True, env=ENV, timeout=GUARD
    )
    assert refused.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in refused.stderr
    assert "LLM_SANDBOX_MCP_TOKEN" in refused.stderr


HTTP_CLIENT_THAT_HANGS = """
import anyio, sys
from tests.integration.mcp_support import http_session

async def main(url):
    started = anyio.Event()

    async def on_log(params):
        if "forever" in str(params.data):
            started.set()

    async with http_session(url, logging_callback=on_log) as session:
        async with anyio.create_task_group() as group:
            code = "import time\\nprint('forever', flush=True)\\ntime.sleep(3600)"
            group.start_soon(session.call_tool, "execute_code", {"code": code, "timeout": 300})
            await started.wait()
            print("running", flush=True)
            await anyio.sleep_forever()

anyio.run(main, sys.argv[1])
"""


@pytest.mark.slow
def test_http_client_killed_mid_run_leaves_no_container(
    http_servers: list[HttpServer], docker_client: Any, python_image: str
) -> None:
    server = HttpServer("--idle-timeout", "1")
    http_servers.append(server)
    client = subprocess.Popen(
        [sys.executable, "-c", HTTP_CLIENT_THAT_HANGS, server.url], stdout=subprocess.PIPE, text=True, env=ENV, cwd=ROOT
    )
    try:
        assert client.stdout is not None and client.stdout.readline() == "running\n"
        assert len(containers_of(docker_client, server.pid)) == 1
    finally:
        client.kill()
        client.wait()
    # No connection for --idle-timeout seconds: the server ends the session, and its sandbox with it.
    server.wait_for(r"ended; its sandbox was removed")
    assert containers_of(docker_client, server.pid) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_stopping_the_server_mid_run_removes_every_sandbox(
    stop: signal.Signals, docker_client: Any, python_image: str
) -> None:
    server = HttpServer()
    started = anyio.Event()

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        if "forever" in str(params.data):
            started.set()

    code = "import time\nprint('forever', flush=True)\ntime.sleep(3600)"
    try:
        with anyio.fail_after(GUARD):
            async with http_session(server.url, logging_callback=on_log) as session, anyio.create_task_group() as group:
                group.start_soon(session.call_tool, "execute_code", {"code": code, "timeout": 300})
                await started.wait()
                assert len(containers_of(docker_client, server.pid)) == 1
                os.kill(server.pid, stop)
                assert await anyio.to_thread.run_sync(server.process.wait, GUARD) == 0
                group.cancel_scope.cancel()
    finally:
        server.stop()
    assert "every sandbox was removed" in "".join(server.log)
    assert containers_of(docker_client, server.pid) == []


@pytest.mark.slow
def test_the_example_client_over_stdio_and_over_http(
    http_servers: list[HttpServer], tmp_path: Any, python_image: str
) -> None:
    example = [sys.executable, str(ROOT / "examples" / "mcp_client.py")]
    over_stdio = subprocess.run(example, cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=GUARD)
    assert over_stdio.returncode == 0, over_stdio.stderr
    assert "best month: May" in over_stdio.stdout and "node v" in over_stdio.stdout
    assert "isError=True: exit code: 1" in over_stdio.stdout
    assert (tmp_path / "sandbox_outputs" / "mcp-chart-0.png").read_bytes().startswith(b"\x89PNG")

    server = HttpServer(env={"LLM_SANDBOX_MCP_TOKEN": "example-token"})
    http_servers.append(server)
    over_http = subprocess.run(
        [*example, "--url", server.url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**ENV, "LLM_SANDBOX_MCP_TOKEN": "example-token"},
        timeout=GUARD,
    )
    assert over_http.returncode == 0, over_http.stderr
    assert "best month: May" in over_http.stdout

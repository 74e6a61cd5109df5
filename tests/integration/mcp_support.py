"""What the MCP server tests share: the server as a real process, real clients, and its containers.

Containers are found by their owner label (``host/pid`` of the server process that created
them, see ``llm_sandbox.contract``), so tests judge only the server they started.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from llm_sandbox.contract import OWNER_LABEL, SESSION_LABEL

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "llm_sandbox.mcp_server"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "toolkit")}
GUARD = 120
"""Seconds before a test that waits for something gives up (a hang guard, never a speed claim)."""


def containers_of(docker_client: Any, pid: int) -> list[str]:
    """Ids of the sandbox containers that the server process ``pid`` created and that still exist."""
    owner = f"{OWNER_LABEL}={socket.gethostname()}/{pid}"
    return [c["Id"] for c in docker_client.api.containers(all=True, filters={"label": [SESSION_LABEL, owner]})]


def server_children(parent: int | None = None) -> set[int]:
    """Pids of MCP server processes started by ``parent`` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"llm_sandbox.mcp_server" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    """False once ``pid`` exited (a zombie waiting for its reaper counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_exited(pid: int) -> None:
    deadline = time.monotonic() + GUARD
    while running(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running after {GUARD} s"
        time.sleep(0.05)


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


# -- stdio -----------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def stdio_session(*args: str, **session_options: Any) -> AsyncIterator[tuple[ClientSession, int]]:
    """A client session with a server this client starts (``llm_sandbox.mcp_server *args``), and its pid."""
    before = server_children()
    params = StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], *args], env=ENV, cwd=str(ROOT))
    with tempfile.TemporaryFile("w+") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, **session_options) as session,
        ):
            await session.initialize()
            (pid,) = server_children() - before
            yield session, pid


# -- streamable HTTP -------------------------------------------------------------------------------
class HttpServer:
    """``llm-sandbox-mcp --transport http --port 0`` as a process; its stderr is read as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*SERVER, "--transport", "http", "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, **(env or {})},
            cwd=ROOT,
        )
        self.log: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_for(r"listening on (\S+)").group(1)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first line from now on that matches ``pattern`` (the server's log is the handshake)."""
        deadline = time.monotonic() + GUARD
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"the server never logged {pattern!r}; its log:\n{''.join(self.log)}")
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(GUARD)


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None = None, **session_options: Any) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=GUARD)) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write, **session_options) as session,
    ):
        await session.initialize()
        yield session

"""The two ways clients reach the server: stdio (the client starts it) and streamable HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from llm_sandbox.mcp_server.config import ServerConfig, http_url

logger = logging.getLogger("llm_sandbox.mcp_server")

PATH = "/mcp"


# -- stdio --------------------------------------------------------------------------------------
class StopSignals:
    """SIGTERM, SIGINT and SIGHUP stop the server once, through its normal shutdown (sessions end,
    their sandboxes are removed); later signals are ignored, so that they cannot cut that short.

    A client that ends a stdio server closes its stdin, then sends SIGTERM if the server is still
    there 2 s later, and SIGKILL 2 s after that.
    """

    def __init__(self) -> None:
        self.received = False
        self._stop: Callable[[], object] | None = None

    def install(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: object) -> None:
        if self.received:
            return
        self.received = True
        logger.info("%s: stopping", signal.Signals(number).name)
        if self._stop is not None:
            self._stop()

    @contextlib.contextmanager
    def stopping(self, stop: Callable[[], object]) -> Iterator[None]:
        """While the block runs, a signal calls ``stop`` (at once if one already came)."""
        self._stop = stop
        try:
            if self.received:
                stop()
            yield
        finally:
            self._stop = None


async def serve_stdio(server: Server[Any, Any], signals: StopSignals) -> None:
    """Serve the one client on stdin/stdout until it closes stdin or a signal stops the server.

    stdout carries the protocol alone: everything else written there, by this process (a
    library's ``print``) or a child process, goes to stderr instead.
    """
    protocol = io.TextIOWrapper(
        os.fdopen(os.dup(sys.stdout.fileno()), "wb"), encoding="utf-8", newline="\n", write_through=True
    )
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    loop = asyncio.get_running_loop()
    with anyio.CancelScope() as scope, signals.stopping(lambda: loop.call_soon_threadsafe(scope.cancel)):
        lines = _stdin_lines()
        # stdio_server iterates its stdin with ``async for``: a stream of lines serves as well as a file.
        async with stdio_server(stdin=lines, stdout=anyio.wrap_file(protocol)) as (read, write):  # type: ignore[arg-type]
            await server.run(read, write, server.create_initialization_options())


def _stdin_lines() -> MemoryObjectReceiveStream[str]:
    """stdin's lines, read by a daemon thread: a server told to stop neither waits for the
    client's next line nor stays alive for it (a cancelled read in a worker thread would)."""
    send, receive = anyio.create_memory_object_stream[str](16)
    token = anyio.lowlevel.current_token()

    def read() -> None:
        with contextlib.suppress(RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            for line in iter(sys.stdin.buffer.readline, b""):
                anyio.from_thread.run(send.send, line.decode("utf-8", errors="replace"), token=token)
            anyio.from_thread.run_sync(send.close, token=token)

    threading.Thread(target=read, name="llm-sandbox-mcp-stdin", daemon=True).start()
    return receive


# -- streamable HTTP ----------------------------------------------------------------------------
async def serve_http(server: Server[Any, Any], config: ServerConfig, signals: StopSignals) -> None:
    """Serve streamable HTTP on ``config.host:config.port`` (path ``/mcp``) until a signal stops the server."""
    import uvicorn

    sessions = StreamableHTTPSessionManager(
        app=server,
        security_settings=_host_checks(config),
        session_idle_timeout=config.idle_timeout,
        # A base64 upload of max_file_bytes must fit in one request.
        max_request_body_size=max(DEFAULT_MAX_REQUEST_BODY_SIZE, config.max_file_bytes * 4 // 3 + 64 * 1024),
    )
    app = Starlette(
        routes=[Route(PATH, endpoint=_Endpoint(sessions))], lifespan=lambda _: sessions.run()
    )
    listener = _listen(config.host, config.port)
    url = http_url(*listener.getsockname()[:2])
    uvicorn_server = uvicorn.Server(
        uvicorn.Config(
            BearerToken(app, config.token),
            log_config=None,
            access_log=config.log_level == "DEBUG",
            timeout_graceful_shutdown=2,
        )
    )
    print(f"llm-sandbox-mcp: listening on {url}", file=sys.stderr, flush=True)
    # uvicorn handles SIGINT and SIGTERM itself while it serves; the others come here.
    with signals.stopping(lambda: setattr(uvicorn_server, "should_exit", True)):
        await uvicorn_server.serve(sockets=[listener])


class _Endpoint:
    """The ASGI endpoint of ``/mcp`` (an object, so Starlette passes requests through unchanged)."""

    def __init__(self, sessions: StreamableHTTPSessionManager) -> None:
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sessions.handle_request(scope, receive, send)


class BearerToken:
    """Refuses every HTTP request without ``Authorization: Bearer <token>`` (401); no token, no check."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.token is not None and not self._authorized(scope):
            response = JSONResponse(
                {"error": "unauthorized", "error_description": "send 'Authorization: Bearer <the server's token>'"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="llm-sandbox-mcp"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        assert self.token is not None
        values = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(values) != 1:
            return False
        scheme, _, credentials = values[0].partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)


def _host_checks(config: ServerConfig) -> TransportSecuritySettings | None:
    """On loopback, accept only loopback Host and Origin headers: a web page the user visits cannot
    reach the server through DNS rebinding. Elsewhere the token guards every request."""
    if not config.loopback:
        return None
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{host}:*" for host in hosts],
        allowed_origins=[f"http://{host}:*" for host in hosts],
    )


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), made before serving so the URL is known."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host.strip("[]"), port), family=family)

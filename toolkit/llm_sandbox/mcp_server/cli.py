"""``llm-sandbox-mcp`` (also ``python -m llm_sandbox.mcp_server``): parse the configuration, serve, clean up."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from llm_sandbox.exceptions import MissingDependencyError
from llm_sandbox.mcp_server.config import ConfigError, ServerConfig, parse_config

logger = logging.getLogger("llm_sandbox.mcp_server")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        print(f"llm-sandbox-mcp: error: {exc}", file=sys.stderr)
        return 2
    _log_to_stderr(config.log_level)
    try:
        import anyio

        from llm_sandbox.agents import SessionManager
        from llm_sandbox.mcp_server.server import SandboxServer
        from llm_sandbox.mcp_server.transports import StopSignals, serve_http, serve_stdio
        from llm_sandbox.sessions.pool import create_pool_manager
    except MissingDependencyError as exc:
        print(f"llm-sandbox-mcp: error: {exc}", file=sys.stderr)
        return 2
    if config.privileged:
        logger.warning("sandboxes run privileged (--privileged): the code they run is not isolated from this host")
    pool_options = config.pool_options()
    pool = create_pool_manager(**pool_options) if pool_options else None
    manager = SessionManager(**config.manager_options(), pool=pool)
    sandbox_server = SandboxServer(config, manager)
    logger.info("serving %s over %s; sandboxes on %s", ", ".join(manager.languages), config.transport, config.backend)
    signals = StopSignals()
    signals.install()
    try:
        if config.transport == "http":
            anyio.run(serve_http, sandbox_server.server, config, signals)
        else:
            anyio.run(serve_stdio, sandbox_server.server, signals)
    finally:
        manager.close()
        if pool is not None:
            pool.close()
        logger.info("stopped; every sandbox was removed")
    return 0


def _log_to_stderr(level: str) -> None:
    """The server's log on stderr (stdout is the protocol's, over stdio); the SDK's per-request lines
    only at DEBUG."""
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    if level != "DEBUG":
        for name in ("mcp", "uvicorn.error", "httpx"):
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("mcp.server.streamable_http").addFilter(_closed_stream_noise)


def _closed_stream_noise(record: logging.LogRecord) -> bool:
    """False for the traceback mcp 1.x logs when a client ends its HTTP session while its event
    stream is open (the stream is closed under its writer): an ordinary disconnect."""
    import anyio

    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, anyio.ClosedResourceError)


__all__ = ["ServerConfig", "main"]

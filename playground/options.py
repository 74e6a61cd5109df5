"""The playground's options: :class:`PlaygroundConfig` and its command-line flags.

The flags are shared by ``python -m playground`` and ``llm-sandbox playground``
(:mod:`playground.cli`). Light on purpose: importing this module does not import
Gradio or LangChain, so the ``llm-sandbox`` command stays fast.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


@dataclass
class PlaygroundConfig:
    """How the playground is served and what its sandboxes start with (Settings change the latter per tab)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    model: str | None = None
    """A model spec (see :mod:`playground.models`); None: ``$LLM_SANDBOX_PLAYGROUND_MODEL`` / ``$OPENAI_*``."""
    backend: str = "docker"
    lang: str = "python"
    memory: str = "1g"
    cpus: float = 1.0
    timeout: float = 60.0
    """Seconds each run may take."""
    security_policy: str | None = None
    """A preset of ``llm_sandbox.security.list_security_policies()``, or None for no code checks."""
    idle_timeout: float = 600.0
    """Close a tab's sandbox after this many idle seconds (the next run opens a new one)."""
    max_sessions: int = 16
    max_steps: int = 8
    """Model turns per chat message (each may call tools)."""


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    defaults = PlaygroundConfig()
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--model",
        default=None,
        help="chat model: NAME or openai:NAME (OPENAI_BASE_URL, OPENAI_API_KEY), anthropic:NAME, "
        "ollama:NAME, factory:MODULE:CALLABLE; default $LLM_SANDBOX_PLAYGROUND_MODEL, else an "
        "OpenAI-compatible model when OPENAI_BASE_URL or OPENAI_API_KEY is set, else none "
        "(the chat then explains how to configure one)",
    )
    parser.add_argument("--backend", default=defaults.backend, help="sandbox backend (default docker)")
    parser.add_argument("--lang", default=defaults.lang, help="default language (default python)")
    parser.add_argument("--memory", default=defaults.memory, help="memory limit per sandbox (default 1g)")
    parser.add_argument("--cpus", type=float, default=defaults.cpus, help="CPUs per sandbox (default 1)")
    parser.add_argument(
        "--timeout", type=float, default=defaults.timeout, help="seconds each run may take (default 60)"
    )
    parser.add_argument(
        "--security-policy", default=None, help="security preset checked before each run (default: none)"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=defaults.idle_timeout,
        help="close a tab's sandbox after this many idle seconds (default 600)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=defaults.max_sessions,
        help="live sandboxes at most; the least recently used idle one is recycled (default 16)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> PlaygroundConfig:
    return PlaygroundConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        backend=args.backend,
        lang=args.lang,
        memory=args.memory,
        cpus=args.cpus,
        timeout=args.timeout,
        security_policy=args.security_policy,
        idle_timeout=args.idle_timeout,
        max_sessions=args.max_sessions,
    )

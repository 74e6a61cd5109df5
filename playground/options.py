"""The playground's options: :class:`PlaygroundConfig` and its command-line flags.

The flags are shared by ``python -m playground`` and ``llm-sandbox playground``
(:mod:`playground.cli`). Light on purpose: importing this module does not import
Gradio or LangChain, so the ``llm-sandbox`` command stays fast.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from llm_sandbox.exceptions import ValidationError
from llm_sandbox.timeouts import check_timeout

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
AUTH_VARIABLE = "LLM_SANDBOX_PLAYGROUND_AUTH"
"""``user:password``: the playground's login (or ``--auth-file``, one ``user:password`` a line)."""

_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)b?$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}


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
    max_sessions_per_visitor: int = 8
    """Live sandboxes one visitor (their login, else their address) may hold, across their tabs."""
    max_memory: str = "4g"
    max_cpus: float = float(os.cpu_count() or 1)
    max_timeout: float = 600.0
    """The most a visitor may set in Settings (memory, CPUs, seconds per run)."""
    credentials: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """``(user, password)`` pairs of the login page; required when ``host`` is not a loopback address."""
    max_steps: int = 8
    """Model turns per chat message (each may call tools)."""
    pool_size: int = 0
    """Warm containers kept for the default language (``llm_sandbox.pool``); 0: every sandbox opens cold.
    A tab whose settings are the server's takes one (≈ 15 ms instead of a container start); one a
    visitor changed the backend, memory or CPUs of opens its own."""

    def check(self) -> None:
        """Refuse a configuration that would serve more than it should (``ValidationError``, before serving)."""
        if not self.credentials and not is_loopback(self.host):
            raise ValidationError(
                f"serving the playground on {self.host} lets anyone who reaches that address run code on this "
                f"machine's containers: set a login with {AUTH_VARIABLE}=user:password or --auth-file FILE "
                "(one user:password a line), or serve on 127.0.0.1"
            )
        for name, value in (("timeout", self.timeout), ("max_timeout", self.max_timeout),
                            ("idle_timeout", self.idle_timeout)):  # fmt: skip
            check_timeout(value, f"--{name.replace('_', '-')}")
        for name in ("max_sessions", "max_sessions_per_visitor"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(f"--{name.replace('_', '-')} must be at least 1")
        if not 0 <= self.pool_size <= self.max_sessions:
            raise ValidationError(
                f"--pool-size {self.pool_size} must be between 0 (no pool) and --max-sessions {self.max_sessions}"
            )
        if memory_bytes(self.memory) > memory_bytes(self.max_memory):
            raise ValidationError(f"--memory {self.memory} is above --max-memory {self.max_memory}")
        if not 0 < self.cpus <= self.max_cpus:
            raise ValidationError(f"--cpus {self.cpus:g} must be above 0 and at most --max-cpus {self.max_cpus:g}")
        if self.timeout > self.max_timeout:
            raise ValidationError(f"--timeout {self.timeout:g} is above --max-timeout {self.max_timeout:g}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def memory_bytes(text: str) -> int:
    """``512m``, ``2g``, ``1.5G``, ``2gb`` as bytes; a ``ValidationError`` for anything else."""
    match = _MEMORY.match((text or "").strip())
    if not match:
        raise ValidationError(f"memory {text!r} is not a size like 512m or 2g")
    return int(float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()])


def read_credentials(auth_file: str | None, environ: dict[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """Logins from ``auth_file`` (one ``user:password`` a line) and ``$LLM_SANDBOX_PLAYGROUND_AUTH``."""
    try:
        lines = Path(auth_file).read_text().splitlines() if auth_file else []
    except OSError as exc:
        raise ValidationError(f"cannot read the logins of --auth-file: {exc}") from None
    env = os.environ if environ is None else environ
    if env.get(AUTH_VARIABLE):
        lines.append(env[AUTH_VARIABLE])
    pairs = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, colon, password = line.strip().partition(":")
        if not colon or not user or not password:
            raise ValidationError(f"a login must be user:password, got a line of {len(line)} characters without it")
        pairs.append((user, password))
    return tuple(pairs)


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
    parser.add_argument(
        "--max-sessions-per-visitor",
        type=int,
        default=defaults.max_sessions_per_visitor,
        help="live sandboxes one visitor (login, else address) may hold across their tabs (default 8)",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=defaults.pool_size,
        help="warm containers kept for the default language, reset between tabs (default 0: none)",
    )
    parser.add_argument("--max-memory", default=defaults.max_memory, help="the most memory Settings may set (4g)")
    parser.add_argument(
        "--max-cpus", type=float, default=defaults.max_cpus, help="the most CPUs Settings may set (this machine's)"
    )
    parser.add_argument(
        "--max-timeout", type=float, default=defaults.max_timeout, help="the longest run Settings may allow (600 s)"
    )
    parser.add_argument(
        "--auth-file",
        default=None,
        help=f"logins, one user:password a line (or ${AUTH_VARIABLE}=user:password); "
        "required when --host is not a loopback address",
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
        max_sessions_per_visitor=args.max_sessions_per_visitor,
        pool_size=args.pool_size,
        max_memory=args.max_memory,
        max_cpus=args.max_cpus,
        max_timeout=args.max_timeout,
        credentials=read_credentials(args.auth_file),
    )

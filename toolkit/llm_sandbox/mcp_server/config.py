"""The MCP server's configuration: command-line flags, each with environment variables behind it.

A flag wins over its environment variables; the first variable that is set wins over the
default. The original package's variables (``BACKEND``, ``NAMESPACE``, ``SANDBOX_MEMORY``, ...)
keep their names; the others are ``LLM_SANDBOX_MCP_<FLAG>``. ``--help`` lists them all.

Nothing here imports the ``mcp`` SDK: ``--help`` and configuration errors work without it.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from llm_sandbox.const import SandboxBackend
from llm_sandbox.contract import nano_cpus
from llm_sandbox.exceptions import LanguageNotSupportedError, ValidationError
from llm_sandbox.languages import get_language, supported_languages

MIB = 1024 * 1024
TOKEN_ENV = "LLM_SANDBOX_MCP_TOKEN"


class ConfigError(ValidationError):
    """The server's flags or environment do not make a configuration it can run."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything the server needs; build it with :func:`parse_config`."""

    # transport
    transport: str = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    # sandboxes
    backend: str = SandboxBackend.DOCKER.value
    namespace: str = "default"
    languages: tuple[str, ...] = ()
    default_language: str = "python"
    images: Mapping[str, str] = field(default_factory=dict)
    security_preset: str | None = None
    commit_container: bool = False
    keep_template: bool = False
    stateful: bool | None = None
    # limits
    timeout: float = 30.0
    max_timeout: float = 300.0
    memory: str | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    network: str | None = None
    read_only: bool | None = None
    cap_drop: tuple[str, ...] | None = None
    security_opt: tuple[str, ...] | None = None
    privileged: bool | None = None
    idle_timeout: float = 600.0
    max_sessions: int = 8
    pool_size: int = 0
    max_file_bytes: int = 10 * MIB
    # reporting
    progress_interval: float = 5.0
    log_level: str = "INFO"

    def runtime_configs(self) -> dict[str, Any]:
        """Container options that differ from the library's secure defaults (only those given)."""
        options = {
            "mem_limit": self.memory,
            "nano_cpus": nano_cpus(self.cpus) if self.cpus is not None else None,
            "pids_limit": self.pids_limit,
            "network_mode": self.network,
            "read_only": self.read_only,
            "cap_drop": list(self.cap_drop) if self.cap_drop is not None else None,
            "security_opt": list(self.security_opt) if self.security_opt is not None else None,
            "privileged": self.privileged,
        }
        return {key: value for key, value in options.items() if value is not None}

    def manager_options(self) -> dict[str, Any]:
        """Keyword arguments of the :class:`~llm_sandbox.agents.SessionManager` behind the server.

        A SessionManager option the server should pass on (kernels that keep state, a pool)
        belongs here, next to the flag that sets it.
        """
        return {
            "backend": self.backend,
            "lang": self.default_language,
            "languages": list(self.languages),
            "image": self.images.get(self.default_language),
            "language_options": {
                lang: {"image": image} for lang, image in self.images.items() if lang != self.default_language
            },
            "runtime_configs": self.runtime_configs(),
            "security_policy": self.security_preset,
            "execution_timeout": self.timeout,
            "session_options": self._session_options(),
            "stateful": self.stateful,
            "idle_timeout": self.idle_timeout,
            "max_sessions": self.max_sessions,
            # Clients share the bound: one client's sandbox (its files, its interpreter) is never evicted for
            # another's, and a call beyond the bound is refused at once with a result saying what to do.
            "evict_idle": False,
            "wait_timeout": 0,
        }

    def pool_options(self) -> dict[str, Any] | None:
        """Keyword arguments of ``create_pool_manager`` for ``--pool-size`` warm containers of the default
        language, made as the manager would make them; None without a pool."""
        if not self.pool_size:
            return None
        from llm_sandbox.sessions.pool import PoolConfig

        return {
            "backend": self.backend,
            "lang": self.default_language,
            "image": self.images.get(self.default_language),
            "runtime_configs": self.runtime_configs(),
            "config": PoolConfig(max_pool_size=self.pool_size, min_pool_size=self.pool_size),
            **self._session_options(),
        }

    def _session_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.backend == SandboxBackend.KUBERNETES:
            options["kube_namespace"] = self.namespace
        if self.commit_container:
            options["commit_container"] = True
        if self.keep_template:
            options["keep_template"] = True
        return options

    def call_timeout(self, requested: float | None) -> float:
        """The timeout of one call: what it asked for (default ``timeout``), at most ``max_timeout``."""
        return min(float(requested) if requested is not None else self.timeout, self.max_timeout)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)


# -- parsing ------------------------------------------------------------------------------------
def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected one of true, false, 1, 0, yes, no, on, off")


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(",") if word.strip())


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    return parse


def _transport(text: str) -> str:
    value = text.strip().lower()
    return "http" if value in {"streamable-http", "streamable_http"} else value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be between 0 and 65535")
    return value


def _images(text: str) -> dict[str, str]:
    """``IMAGE`` (the default language's) or ``LANG=IMAGE`` pairs, comma-separated."""
    images: dict[str, str] = {}
    for word in _words(text):
        lang, _, image = word.rpartition("=")
        images[lang or ""] = image
    return images


@dataclass(frozen=True)
class _Option:
    name: str
    """The :class:`ServerConfig` field; the flag is ``--name-with-dashes``."""
    env: tuple[str, ...]
    help: str
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    flag: bool = False
    """An on/off switch (``--x`` / ``--no-x``)."""

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


def _own(name: str) -> tuple[str, ...]:
    return (f"LLM_SANDBOX_MCP_{name.upper()}",)


_GROUPS: dict[str, list[_Option]] = {
    "transport": [
        _Option("transport", _own("transport"), "stdio (default: the client starts the server) or http "
                "(streamable HTTP on --host:--port, path /mcp)", _transport, choices=("stdio", "http")),
        _Option("host", _own("host"), "address to listen on (default 127.0.0.1); any other than a loopback "
                "address needs a token", metavar="ADDR"),
        _Option("port", _own("port"), "port to listen on (default 8000; 0 picks a free one, printed on stderr)",
                _port, "N"),
        _Option("token", (TOKEN_ENV,), "bearer token every HTTP request must carry "
                "(Authorization: Bearer TOKEN); prefer the environment variable: command lines are visible "
                "to other users", metavar="TOKEN"),
    ],
    "sandboxes": [
        _Option("backend", ("BACKEND",), "container engine (default docker)",
                choices=tuple(b.value for b in SandboxBackend)),
        _Option("namespace", ("NAMESPACE",), "Kubernetes namespace of the sandbox pods (default default)",
                metavar="NS"),
        _Option("languages", _own("languages"), "languages the tools accept, comma-separated (default: all: "
                f"{','.join(supported_languages())})", _words, "LANG,..."),
        _Option("default_language", _own("default_language"), "language of calls that name none "
                "(default python)", metavar="LANG"),
        _Option("images", _own("images"), "images to use instead of llm-sandbox/<lang>:latest: IMAGE (the "
                "default language's) or LANG=IMAGE pairs, comma-separated", _images, "[LANG=]IMAGE,..."),
        _Option("security_preset", _own("security_preset"), "security policy preset enforced on code "
                "(minimal, development, educational, data_science, web_scraping, production, strict; "
                "default none)", metavar="NAME"),
        _Option("commit_container", ("COMMIT_CONTAINER",), "commit each sandbox to an image when it closes "
                "(default off)", _bool, flag=True),
        _Option("keep_template", ("KEEP_TEMPLATE",), "accepted for compatibility with the original package "
                "(images built here are never removed)", _bool, flag=True),
        _Option("stateful", _own("stateful"), "calls of one client share one interpreter where the language "
                "has a kernel (python, javascript, r, ruby): variables live from call to call (default: on "
                "with the library's own images)", _bool, flag=True),
    ],
    "limits": [
        _Option("timeout", _own("timeout"), "seconds a call may run when it gives no timeout (default 30)",
                _positive(float), "S"),
        _Option("max_timeout", _own("max_timeout"), "the most seconds a call may ask for (default 300)",
                _positive(float), "S"),
        _Option("memory", ("SANDBOX_MEMORY", "SANDBOX_MEM_LIMIT"), "memory limit of each sandbox, e.g. 512m "
                "(default 1g)", metavar="SIZE"),
        _Option("cpus", ("SANDBOX_CPUS", "SANDBOX_CPU_COUNT"), "CPUs of each sandbox, e.g. 0.5 (default 1)",
                _positive(float), "N"),
        _Option("pids_limit", _own("pids_limit"), "processes per sandbox (default 256)", _positive(int), "N"),
        _Option("network", ("SANDBOX_NETWORK_MODE",), "network of the sandboxes (default none: no network)",
                metavar="MODE"),
        _Option("read_only", ("SANDBOX_READ_ONLY",), "read-only root filesystem (default on)", _bool,
                flag=True),
        _Option("cap_drop", ("SANDBOX_CAP_DROP",), "capabilities to drop, comma-separated (default ALL)",
                _words, "CAP,..."),
        _Option("security_opt", ("SANDBOX_SECURITY_OPT",), "security options, comma-separated (default "
                "no-new-privileges)", _words, "OPT,..."),
        _Option("privileged", ("SANDBOX_PRIVILEGED",), "privileged sandboxes: gives up the isolation "
                "(default off)", _bool, flag=True),
        _Option("idle_timeout", _own("idle_timeout"), "seconds after which an unused sandbox is removed, and "
                "an HTTP client that stayed away that long is forgotten (default 600)", _positive(float), "S"),
        _Option("max_sessions", _own("max_sessions"), "sandboxes open at once, over all clients (default 8)",
                _positive(int), "N"),
        _Option("pool_size", _own("pool_size"), "warm containers kept for the default language: a new client "
                "takes one, reset since its previous client, instead of starting a container (default: no pool)",
                _positive(int), "N"),
        _Option("max_file_bytes", _own("max_file_bytes"), "largest file upload_file, download_file and a run's "
                "results carry (default 10485760)", _positive(int), "BYTES"),
    ],
    "reporting": [
        _Option("progress_interval", _own("progress_interval"), "seconds between progress notifications "
                "while a call runs without output (default 5)", _positive(float), "S"),
        _Option("log_level", _own("log_level"), "server log level, on stderr (default INFO)",
                str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    ],
}
_OPTIONS = [option for group in _GROUPS.values() for option in group]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-sandbox-mcp",
        description="An MCP server that runs code in llm-sandbox containers: one sandbox per client session.",
        epilog="Flags win over environment variables. Example: llm-sandbox-mcp --transport http --port 8765",
    )
    for title, options in _GROUPS.items():
        group = parser.add_argument_group(title)
        for option in options:
            text = f"{option.help} [env: {', '.join(option.env)}]"
            if option.flag:
                group.add_argument(option.option, dest=option.name, action=argparse.BooleanOptionalAction,
                                   default=None, help=text)
            else:
                metavar = "{" + ",".join(option.choices) + "}" if option.choices else option.metavar
                group.add_argument(option.option, dest=option.name, default=None, metavar=metavar, help=text)
    return parser


def parse_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """The configuration from ``argv`` (flags) and ``environ`` (variables); :class:`ConfigError` if unusable."""
    import os

    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}
    for option in _OPTIONS:
        given = getattr(args, option.name)
        if given is not None and option.flag:
            values[option.name] = given
            continue
        source, text = (option.option, given) if given is not None else _from_env(option, environ)
        if text is None:
            continue
        try:
            value = option.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{source}={text!r}: {exc}") from None
        if option.choices and value not in option.choices:
            raise ConfigError(f"{source}={text!r}: choose one of {', '.join(option.choices)}")
        values[option.name] = value
    return _checked(values)


def _from_env(option: _Option, environ: Mapping[str, str]) -> tuple[str, str | None]:
    for name in option.env:
        text = environ.get(name, "").strip()
        if text:
            return name, text
    return option.env[0], None


def _checked(values: dict[str, Any]) -> ServerConfig:
    languages = values.get("languages") or tuple(supported_languages())
    values["languages"] = tuple(dict.fromkeys(_canonical(lang) for lang in languages))
    default = _canonical(values.get("default_language") or "python")
    if default not in values["languages"]:
        if "default_language" in values:
            raise ConfigError(f"the default language {default!r} is not one of --languages "
                              f"({', '.join(values['languages'])})")
        default = values["languages"][0]
    values["default_language"] = default
    images = values.get("images") or {}
    values["images"] = {_canonical(lang) if lang else default: image for lang, image in images.items()}
    if values.get("security_preset"):
        from llm_sandbox.security import get_security_policy

        try:
            get_security_policy(values["security_preset"])
        except ValidationError as exc:
            raise ConfigError(str(exc)) from None
    config = ServerConfig(**{f.name: values[f.name] for f in fields(ServerConfig) if f.name in values})
    if config.timeout > config.max_timeout:
        raise ConfigError(f"--timeout ({config.timeout:g}) is above --max-timeout ({config.max_timeout:g})")
    if config.transport == "http" and not config.loopback and not config.token:
        raise ConfigError(
            f"refusing to listen on {config.host} without a token: anyone who reaches it could run code. "
            f"Set {TOKEN_ENV} (or --token), or listen on 127.0.0.1"
        )
    return config


def _canonical(lang: str) -> str:
    try:
        return get_language(lang).name
    except LanguageNotSupportedError:
        raise ConfigError(f"unknown language {lang!r}; choose from {', '.join(supported_languages())}") from None


def http_url(host: str, port: int) -> str:
    """The server's MCP endpoint on ``host:port``."""
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/mcp"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to anything

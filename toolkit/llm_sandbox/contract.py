"""The sandbox contract: what every engine, session and image agrees on.

The ground floor of the library. Engines, the installer, sessions and the
garbage collector all take their labels, paths, sandbox user and container
hardening from here, so each of these is written once.

Image side (every ``llm-sandbox/<lang>`` image, see ``docs/DESIGN.md``): user
``sandbox`` with uid/gid 1000, ``/sandbox`` and ``/opt/sandbox-packages`` owned
by it, the language's runtime files under ``/opt/llm-sandbox/``.
"""

from __future__ import annotations

import os
import socket
from importlib import resources
from typing import Any


# images -------------------------------------------------------------------------------------
def image_repository() -> str:
    """Where the library's own images live: ``$LLM_SANDBOX_IMAGES``, else ``llm-sandbox``.

    Set it to use images pushed to a registry (``registry.example.com/llm-sandbox``),
    or to keep a second set of images beside the first (development, CI).
    """
    return os.environ.get("LLM_SANDBOX_IMAGES") or "llm-sandbox"


def builtin_image(lang: str) -> str:
    """The library's own image of ``lang``: ``<repository>/<lang>:latest``."""
    return f"{image_repository()}/{lang}:latest"


# labels -------------------------------------------------------------------------------------
SESSION_LABEL = "llm-sandbox.session"
"""On every container and volume the library creates: the session's id."""
OWNER_LABEL = "llm-sandbox.owner"
"""``host/pid`` of the owning process: ``llm-sandbox gc`` removes what dead processes left."""
LANG_LABEL = "llm-sandbox.lang"
ROLE_LABEL = "llm-sandbox.role"
"""``installer`` on installer containers (a Kubernetes NetworkPolicy leaves them their egress)."""
INSTALLER_ROLE = "installer"

# the sandbox user and paths -----------------------------------------------------------------
SANDBOX_UID = 1000
SANDBOX_USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
DEFAULT_WORKDIR = "/sandbox"
PACKAGES_DIR = "/opt/sandbox-packages"
"""The per-session packages volume: written by the installer only, read-only in the sandbox."""
RUNTIME_DIR = "/opt/llm-sandbox"
"""Where images keep the files of ``runtime/<lang>/`` (plot capture, kernels)."""
RUN_ROOT = "/tmp/llm-sandbox"
"""Per-run scratch directories (code file, captured plots) live under here."""
COMMITTED_WORKDIR = "/opt/llm-sandbox-state/workdir"
"""Where a committed image keeps the workdir it had (restored into the tmpfs workdir at open)."""
CA_BUNDLE_IN_CONTAINER = "/etc/llm-sandbox/host-ca.crt"
"""Where an installer finds the host's CA bundle."""
EGRESS_SOCKET_IN_CONTAINER = "/etc/llm-sandbox/egress.sock"
"""Where an installer finds the socket of its filtering proxy (``sessions/egress.py``)."""

# hardening ----------------------------------------------------------------------------------
HARDENING: dict[str, Any] = {
    "user": SANDBOX_USER,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "read_only": True,
}
"""What every container the library creates gets: the sandbox's and the installer's alike."""

SECURE_DEFAULTS: dict[str, Any] = {
    **HARDENING,
    "network_mode": "none",
    # With no network anyway, skipping the engine's network setup halves container start (~60 ms on
    # Docker); the loopback interface still works. Dropped when runtime_configs enable a network.
    "network_disabled": True,
    "pids_limit": 256,
    "mem_limit": "1g",
    "nano_cpus": 1_000_000_000,  # one CPU
}
"""Container options of every sandbox; ``runtime_configs`` keys override them one by one."""

INSTALLER_OPTIONS: dict[str, Any] = {
    **HARDENING,
    "pids_limit": 512,
    "mem_limit": "2g",
}
"""The installer: hardened like the sandbox, with a network and room for pip/npm."""

WORKDIR_TMPFS = f"size=512m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0755"
TMP_TMPFS = f"size=256m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=1777"
INSTALLER_TMP_TMPFS = f"size=1g,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=1777"


def runtime_file(name: str) -> str:
    """The text of ``runtime/<name>``: code that runs inside the sandbox, shipped with the package."""
    return resources.files("llm_sandbox.runtime").joinpath(name).read_text()


KEEPER_COMMAND = ["sh", "-c", runtime_file("keeper.sh")]
"""PID 1 of every container the library creates; see ``runtime/keeper.sh``."""


def owner_label() -> str:
    """``host/pid`` of this process, for :data:`OWNER_LABEL`."""
    return f"{socket.gethostname()}/{os.getpid()}"


def ownership_labels(session_id: str) -> dict[str, str]:
    """The labels that tie a container or volume to its session and owning process."""
    return {SESSION_LABEL: session_id, OWNER_LABEL: owner_label()}


def nano_cpus(cpus: float) -> int:
    """A CPU count (``1.5``) as the engines' ``nano_cpus`` option."""
    return int(float(cpus) * 1_000_000_000)

"""The short-lived installer container: the only place where packages meet the network.

It runs the session's own image with a network, hardened like the sandbox
(the contract's ``INSTALLER_OPTIONS``: the sandbox user, no capabilities,
read-only root), and writes into the session's packages volume, which the
sandbox mounts read-only. It trusts the host's CA bundle and uses the host's
index and proxy settings (``llm_sandbox.host``). pip installs wheels only
(``--only-binary=:all:``) and npm runs no install scripts, so installing never
executes package code with network access.

Engines differ in two declared capabilities, and only there:

* ``host_binds``: the CA bundle is bind-mounted; else it is written into the
  installer over exec (Kubernetes pods cannot mount a host file);
* ``shared_volumes``: the installer writes the sandbox's packages volume
  directly; else the packages are copied into the sandbox afterwards as a tar
  stream over exec (pods cannot share an emptyDir).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_sandbox.contract import (
    CA_BUNDLE_IN_CONTAINER,
    INSTALLER_OPTIONS,
    INSTALLER_ROLE,
    INSTALLER_TMP_TMPFS,
    KEEPER_COMMAND,
    PACKAGES_DIR,
    ROLE_LABEL,
    SANDBOX_USER,
)
from llm_sandbox.data import ConsoleOutput
from llm_sandbox.engines.base import STDOUT, ContainerSpec, Engine, ExecDeadlineExceeded
from llm_sandbox.exceptions import ContainerError, SandboxTimeoutError
from llm_sandbox.host import host_ca_bundle, installer_environment
from llm_sandbox.sessions.output import OutputCollector

logger = logging.getLogger("llm_sandbox")

CA_BUNDLE_WRITTEN = "/tmp/llm-sandbox-ca/ca.crt"
"""Where the CA bundle is written on engines that cannot bind-mount it."""
_SPOOL_IN_MEMORY = 32 * 1024 * 1024


def installer_spec(
    engine: Engine,
    image: str,
    volume: str,
    labels: dict[str, str],
    overrides: dict[str, Any] | None = None,
) -> ContainerSpec:
    """The installer container of a session: its packages volume at ``PACKAGES_DIR``, the host's settings."""
    bundle = host_ca_bundle()
    bind = bool(bundle) and engine.capabilities.host_binds
    ca_path = (CA_BUNDLE_IN_CONTAINER if bind else CA_BUNDLE_WRITTEN) if bundle else None
    return ContainerSpec(
        image=image,
        command=list(KEEPER_COMMAND),
        labels={**labels, ROLE_LABEL: INSTALLER_ROLE},
        environment=installer_environment(ca_path),
        workdir="/tmp",
        volumes={volume: PACKAGES_DIR},
        binds={bundle: CA_BUNDLE_IN_CONTAINER} if bind and bundle else {},
        options={
            **INSTALLER_OPTIONS,
            "network_mode": "host",
            "tmpfs": {"/tmp": INSTALLER_TMP_TMPFS},
            **(overrides or {}),
        },
    )


def install(
    engine: Engine,
    spec: ContainerSpec,
    command: str,
    *,
    sandbox: str,
    timeout: float,
    copy_timeout: float,
    max_output_bytes: int,
) -> ConsoleOutput:
    """Create the installer of ``spec``, run ``command`` in it, hand the packages to ``sandbox``, remove it."""
    installer = engine.create(spec)
    try:
        if CA_BUNDLE_WRITTEN in spec.environment.values():
            _write_ca_bundle(engine, installer)
        collector = OutputCollector(limit=max_output_bytes, errors="replace")
        try:
            exit_code = engine.exec(
                installer,
                ["sh", "-c", command],
                user=SANDBOX_USER,
                on_output=collector,
                environment={"LLM_SANDBOX_PACKAGES": PACKAGES_DIR},
                deadline=time.monotonic() + timeout,
            )
        except ExecDeadlineExceeded:
            raise SandboxTimeoutError(
                f"installing libraries took longer than {timeout:g}s; "
                "raise install_timeout or check that the installer can reach the package index",
                timeout_duration=timeout,
            ) from None
        collector.finish()
        if exit_code == 0 and not engine.capabilities.shared_volumes:
            try:
                deadline = time.monotonic() + copy_timeout
                size = transfer(engine, installer, PACKAGES_DIR, sandbox, PACKAGES_DIR, deadline=deadline)
            except ExecDeadlineExceeded:
                raise SandboxTimeoutError(
                    "copying the installed libraries into the sandbox timed out", timeout_duration=copy_timeout
                ) from None
            logger.info("copied %.1f MB of packages into %s", size / 1e6, sandbox)
        return ConsoleOutput(exit_code, collector.stderr.text(), collector.stdout.text())
    finally:
        engine.remove(installer)


def _write_ca_bundle(engine: Engine, installer: str) -> None:
    bundle = host_ca_bundle()
    if bundle:
        ca = Path(bundle).read_bytes()
        engine.exec(
            installer,
            ["sh", "-c", 'mkdir -p "${1%/*}" && head -c "$0" >"$1"', str(len(ca)), CA_BUNDLE_WRITTEN],
            stdin=ca,
            deadline=time.monotonic() + 60,
        )


def transfer(engine: Engine, source: str, source_dir: str, target: str, target_dir: str, *, deadline: float) -> int:
    """Copy the contents of ``source_dir`` in container ``source`` into ``target_dir`` in ``target``.

    Streams a tar archive through a spool file on this machine (memory up to
    32 MiB, then disk); returns the archive's size.
    """
    errors = bytearray()

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:

        def keep(stream: int, chunk: bytes) -> None:
            if stream == STDOUT:
                spool.write(chunk)
            elif len(errors) < 4096:
                errors.extend(chunk)

        # The directory's entries, not "." itself: emptyDir roots belong to root, and tar would
        # fail to restore the mode of "." on the other side.
        pack = 'cd "$0" && find . -mindepth 1 -maxdepth 1 -print0 | tar -c --null -T -'
        code = engine.exec(source, ["sh", "-c", pack, source_dir], on_output=keep, deadline=deadline)
        if code != 0:
            raise ContainerError(f"reading {source_dir} from {source} failed: {errors.decode()[-500:]}")
        size = spool.tell()
        spool.seek(0)
        unpack = 'head -c "$0" | tar -x -m --no-same-owner --no-overwrite-dir -C "$1"'
        code = engine.exec(
            target, ["sh", "-c", unpack, str(size), target_dir], stdin=spool, on_output=keep, deadline=deadline
        )
        if code != 0:
            raise ContainerError(f"writing {target_dir} in {target} failed: {errors.decode()[-500:]}")
        return size

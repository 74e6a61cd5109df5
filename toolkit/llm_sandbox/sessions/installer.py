"""The short-lived installer container: the only place where packages meet the network.

It runs the session's own image, hardened like the sandbox (the contract's
``INSTALLER_OPTIONS``: the sandbox user, no capabilities, read-only root), and
writes into the session's packages volume, which the sandbox mounts read-only.
It trusts the host's CA bundle and uses the host's index and proxy settings
(``llm_sandbox.host``). pip installs wheels only (``--only-binary=:all:``) and
npm runs no install scripts, so installing never executes package code with
network access.

**Its network.** On engines that can bind-mount a host file (Docker, Podman) the
installer has no network at all (``network_mode="none"``); its only way out is
a filtering proxy of this process (:mod:`.egress`), reached through a Unix
socket bind-mounted into it and a relay on its own loopback
(``runtime/relay.pl``, run with the image's Perl). The proxy reaches the
package indexes and proxies this host is configured with, and other hosts on
ports 80 and 443 outside this machine and its private networks: a library name,
a package's metadata or a redirect never reaches a service on this machine's
loopback. On Kubernetes (no host binds) the installer pod has the cluster's
pod network, restricted by the namespace's NetworkPolicies (``docs/kubernetes.md``).

Engines differ in two declared capabilities, and only there:

* ``host_binds``: the CA bundle and the proxy's socket are bind-mounted; else
  the CA bundle is written into the installer over exec and the pod's own
  network is used (Kubernetes pods cannot mount a host file);
* ``shared_volumes``: the installer writes the sandbox's packages volume
  directly; else the packages are copied into the sandbox afterwards as a tar
  stream over exec (pods cannot share an emptyDir).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from llm_sandbox.contract import (
    CA_BUNDLE_IN_CONTAINER,
    EGRESS_SOCKET_IN_CONTAINER,
    INSTALLER_OPTIONS,
    INSTALLER_ROLE,
    INSTALLER_TMP_TMPFS,
    KEEPER_COMMAND,
    PACKAGES_DIR,
    ROLE_LABEL,
    SANDBOX_USER,
    runtime_file,
)
from llm_sandbox.data import ConsoleOutput
from llm_sandbox.engines.base import STDOUT, ContainerSpec, Engine, ExecDeadlineExceeded
from llm_sandbox.exceptions import ContainerError, PackageManagerError, SandboxTimeoutError
from llm_sandbox.host import host_ca_bundle, host_package_settings, installer_environment
from llm_sandbox.sessions.egress import EgressProxy, relay_ports
from llm_sandbox.sessions.output import OutputCollector

logger = logging.getLogger("llm_sandbox")

CA_BUNDLE_WRITTEN = "/tmp/llm-sandbox-ca/ca.crt"
"""Where the CA bundle is written on engines that cannot bind-mount it."""
RELAY_PORT = 3128
"""Where the relay listens on the installer's own loopback (what its ``HTTP(S)_PROXY`` names)."""
_RELAY = runtime_file("relay.pl")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
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
    confined = engine.capabilities.host_binds
    ca_path = (CA_BUNDLE_IN_CONTAINER if confined else CA_BUNDLE_WRITTEN) if bundle else None
    environment = installer_environment(ca_path)
    network: dict[str, Any] = {}
    if confined:  # no network of its own: the relay on its loopback leads to the filtering proxy
        proxy = f"http://127.0.0.1:{RELAY_PORT}"
        environment = {name: value for name, value in environment.items() if name.lower() not in _PROXY_VARIABLES}
        environment.update(dict.fromkeys(("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"), proxy))
        environment.update(npm_config_proxy=proxy, npm_config_https_proxy=proxy, no_proxy="", NO_PROXY="")
        network = {"network_mode": "none", "network_disabled": True}
    return ContainerSpec(
        image=image,
        command=list(KEEPER_COMMAND),
        labels={**labels, ROLE_LABEL: INSTALLER_ROLE},
        environment=environment,
        workdir="/tmp",
        volumes={volume: PACKAGES_DIR},
        binds={bundle: CA_BUNDLE_IN_CONTAINER} if confined and bundle else {},
        options={**INSTALLER_OPTIONS, **network, "tmpfs": {"/tmp": INSTALLER_TMP_TMPFS}, **(overrides or {})},
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
    with contextlib.ExitStack() as stack:
        proxy = None
        if spec.options.get("network_mode") == "none":
            proxy = stack.enter_context(EgressProxy.for_host(host_package_settings()))
            spec = dataclasses.replace(spec, binds={**spec.binds, proxy.path: EGRESS_SOCKET_IN_CONTAINER})
        output = _install(engine, spec, command, proxy, sandbox=sandbox, timeout=timeout,
                          copy_timeout=copy_timeout, max_output_bytes=max_output_bytes)  # fmt: skip
        if output.success():
            return output
        note = ""
        if proxy is None:
            note = (
                f"\n[llm-sandbox] on {engine.name} the installer cannot be given the filtering proxy (no host "
                "binds): it uses the network its container or pod has, limited only by the engine's own "
                "policies (on Kubernetes, the namespace's NetworkPolicies: docs/kubernetes.md)."
            )
        elif proxy.refused:
            refused = "; ".join(dict.fromkeys(proxy.refused))
            note = (
                f"\n[llm-sandbox] the installer's network refused: {refused}. The installer reaches only "
                "public package indexes and those configured on this host (PIP_INDEX_URL, GOPROXY, "
                "HTTPS_PROXY...), never services on this machine or its private networks."
            )
        return dataclasses.replace(output, stderr=output.stderr + note)


def _install(
    engine: Engine,
    spec: ContainerSpec,
    command: str,
    proxy: EgressProxy | None,
    *,
    sandbox: str,
    timeout: float,
    copy_timeout: float,
    max_output_bytes: int,
) -> ConsoleOutput:
    installer = engine.create(spec)
    try:
        if CA_BUNDLE_WRITTEN in spec.environment.values():
            _write_ca_bundle(engine, installer)
        if proxy is not None:
            _start_relay(engine, installer, proxy)
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


def _start_relay(engine: Engine, installer: str, proxy: EgressProxy) -> None:
    """Start the relay on the installer's loopback (it returns once it listens), or say why it cannot run."""
    errors = OutputCollector(limit=4096, errors="replace")
    forwarded = [str(port) for port in relay_ports(proxy.allowed, RELAY_PORT)]
    code = engine.exec(
        installer,
        ["perl", "-e", _RELAY, EGRESS_SOCKET_IN_CONTAINER, str(RELAY_PORT), *forwarded],
        user=SANDBOX_USER,
        on_output=errors,
        deadline=time.monotonic() + 60,
    )
    if code != 0:
        raise PackageManagerError(
            f"the installer's network relay did not start (exit {code}): {errors.stderr.text()[-500:].strip()}. "
            "The installer has no network of its own: it reaches package indexes only through this process's "
            "filtering proxy, via a relay that needs perl in the image (every Debian and Ubuntu image has it)"
        )


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
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        size = pack(engine, source, source_dir, spool, deadline=deadline)
        spool.seek(0)
        unpack(engine, target, target_dir, spool, size, deadline=deadline)
        return size


def pack(
    engine: Engine, container: str, directory: str, into: IO[bytes], *, deadline: float, user: str | None = None
) -> int:
    """Write a tar archive of the contents of ``directory`` in ``container`` to ``into`` (read as ``user``,
    default the container's); its size."""
    errors = bytearray()
    written = 0

    def keep(stream: int, chunk: bytes) -> None:
        nonlocal written
        if stream == STDOUT:
            into.write(chunk)
            written += len(chunk)
        elif len(errors) < 4096:
            errors.extend(chunk)

    # The directory's entries, not "." itself: emptyDir roots belong to root, and tar would
    # fail to restore the mode of "." on the other side.
    script = 'cd "$0" && find . -mindepth 1 -maxdepth 1 -print0 | tar -c --null -T -'
    code = engine.exec(container, ["sh", "-c", script, directory], user=user, on_output=keep, deadline=deadline)
    if code != 0:
        raise ContainerError(f"reading {directory} from {container} failed: {errors.decode()[-500:]}")
    return written


def unpack(
    engine: Engine,
    container: str,
    directory: str,
    archive: IO[bytes],
    size: int,
    *,
    deadline: float,
    replace: bool = False,
    user: str | None = None,
) -> None:
    """Unpack ``size`` bytes of a tar archive from ``archive`` into ``directory`` in ``container`` (as ``user``,
    default the container's); with ``replace``, everything in ``directory`` is deleted first."""
    errors = bytearray()

    def keep(stream: int, chunk: bytes) -> None:
        if stream != STDOUT and len(errors) < 4096:
            errors.extend(chunk)

    script = 'head -c "$0" | tar -x -m --no-same-owner --no-overwrite-dir -C "$1"'
    if replace:
        script = 'find "$1" -mindepth 1 -delete && ' + script
    argv = ["sh", "-c", script, str(size), directory]
    code = engine.exec(container, argv, stdin=archive, user=user, on_output=keep, deadline=deadline)
    if code != 0:
        raise ContainerError(f"writing {directory} in {container} failed: {errors.decode()[-500:]}")

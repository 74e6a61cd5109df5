"""The short-lived installer container: the only place where packages meet the network.

It runs the session's own image with network on, no capabilities, as the
sandbox user, and writes into the session's packages volume. It trusts the
host's CA bundle and uses the host's index and proxy settings (corporate
mirrors and TLS-inspecting proxies work as they do on the host). pip installs
wheels only (``--only-binary=:all:``) and npm runs no install scripts, so
installing never executes package code with network access.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from llm_sandbox.backends.base import ContainerSpec

CA_BUNDLE_IN_CONTAINER = "/etc/llm-sandbox/host-ca.crt"
HOST_SETTINGS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "GOPROXY",
    "GONOSUMDB",
    "GOSUMDB",
)
"""Host environment variables that say how to reach package registries (proxies, private indexes)."""
_CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
_CA_VARIABLES_SET = (*_CA_VARIABLES, "npm_config_cafile")
_DEFAULT_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def host_ca_bundle(environ: Mapping[str, str] | None = None) -> str | None:
    """Path of the CA bundle the host trusts: the usual variables first, then the distribution's file."""
    env = os.environ if environ is None else environ
    for candidate in (*(env.get(name, "") for name in _CA_VARIABLES), *_DEFAULT_BUNDLES):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def host_package_settings() -> dict[str, str]:
    """Index and proxy settings of the host: environment first, then pip's config files (http(s) URLs only)."""
    settings = {name: os.environ[name] for name in HOST_SETTINGS if os.environ.get(name)}
    parser = configparser.ConfigParser()
    parser.read(
        [
            "/etc/pip.conf",
            "/etc/xdg/pip/pip.conf",
            str(Path.home() / ".config/pip/pip.conf"),
            str(Path.home() / ".pip/pip.conf"),
        ]
    )
    for key, variable in (
        ("index-url", "PIP_INDEX_URL"),
        ("extra-index-url", "PIP_EXTRA_INDEX_URL"),
        ("trusted-host", "PIP_TRUSTED_HOST"),
    ):
        if variable in settings or not parser.has_option("global", key):
            continue
        values = [v for v in parser.get("global", key).split() if key == "trusted-host" or v.startswith("http")]
        if values:
            settings[variable] = " ".join(values)
    return settings


def installer_environment(ca_bundle_path: str | None) -> dict[str, str]:
    """Environment of an installer: the host's settings, and every client pointed at the CA bundle."""
    environment = {"HOME": "/tmp", **host_package_settings()}
    if ca_bundle_path:
        environment.update(dict.fromkeys(_CA_VARIABLES_SET, ca_bundle_path))
    return environment


def installer_spec(
    image: str,
    volume: str,
    mount_path: str,
    *,
    labels: dict[str, str],
    network: str | None,
    keeper_command: list[str],
) -> ContainerSpec:
    bundle = host_ca_bundle()
    return ContainerSpec(
        image=image,
        command=list(keeper_command),
        labels=labels,
        environment=installer_environment(CA_BUNDLE_IN_CONTAINER if bundle else None),
        volumes={volume: mount_path},
        binds={bundle: CA_BUNDLE_IN_CONTAINER} if bundle else {},
        options={
            "user": "1000:1000",
            "network_mode": network or "host",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "tmpfs": {"/tmp": "size=1g,uid=1000,gid=1000,mode=1777"},
            "pids_limit": 512,
        },
    )

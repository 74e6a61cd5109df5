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
from pathlib import Path

from llm_sandbox.backends.base import ContainerSpec

CA_BUNDLE_IN_CONTAINER = "/etc/llm-sandbox/host-ca.crt"
_PASSED_THROUGH = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "GOPROXY",
    "GONOSUMDB",
    "GOSUMDB",
)
_CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
_DEFAULT_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def host_ca_bundle() -> str | None:
    """The CA bundle the host trusts, from the usual variables or the distribution's default file."""
    for variable in _CA_VARIABLES:
        value = os.environ.get(variable)
        if value and Path(value).is_file():
            return value
    return next((path for path in _DEFAULT_BUNDLES if Path(path).is_file()), None)


def host_package_settings() -> dict[str, str]:
    """Index and proxy settings of the host: environment first, then pip's config files (http(s) URLs only)."""
    settings = {name: os.environ[name] for name in _PASSED_THROUGH if os.environ.get(name)}
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
        values = [
            v for v in parser.get("global", key).split() if key == "trusted-host" or v.startswith("http")
        ]
        if values:
            settings[variable] = " ".join(values)
    return settings


def installer_spec(
    image: str,
    volume: str,
    mount_path: str,
    *,
    labels: dict[str, str],
    network: str | None,
    keeper_command: list[str],
) -> ContainerSpec:
    environment = {"HOME": "/tmp", **host_package_settings()}
    binds = {}
    bundle = host_ca_bundle()
    if bundle:
        binds[bundle] = CA_BUNDLE_IN_CONTAINER
        for variable in (*_CA_VARIABLES, "npm_config_cafile"):
            environment[variable] = CA_BUNDLE_IN_CONTAINER
    return ContainerSpec(
        image=image,
        command=list(keeper_command),
        labels=labels,
        environment=environment,
        volumes={volume: mount_path},
        binds=binds,
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

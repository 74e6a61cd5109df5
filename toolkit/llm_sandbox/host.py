"""How this host reaches package registries: its CA bundle, index and proxy settings.

Image builds and the library installer both honour them, so corporate mirrors
and TLS-inspecting proxies work in the sandbox's installer as they do on the
host.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

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

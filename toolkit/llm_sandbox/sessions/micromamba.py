"""Micromamba: every command of a session runs inside ``micromamba run -n <environment>``.

A Docker session (same engine, same secure defaults, timeouts, output caps,
copy and artifact behaviour) whose user code and shell commands are wrapped as::

    micromamba run -n <environment> sh -c '<the command>'

Only the command is wrapped, not the library's own plumbing (the run wrapper
that reads the code from stdin and reports the exit code, the timeout killer,
file copies): those need nothing but a POSIX shell and stay fast. Library
installation runs the language's installer inside the environment too, so
``pip`` is the environment's.

The image must have ``micromamba`` on its ``PATH`` (``mambaorg/micromamba``
has, at ``/usr/bin/micromamba`` with ``MAMBA_ROOT_PREFIX=/opt/conda``) and the
environment must exist in it: nothing is created or solved at run time (the
sandbox has no network). Images that also follow the llm-sandbox image
contract (``docs/DESIGN.md``: user 1000, ``/sandbox`` and
``/opt/sandbox-packages`` owned by it) support library installation; see
``docs/backends.md`` for a Dockerfile.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from llm_sandbox.exceptions import ValidationError

DEFAULT_IMAGE = "mambaorg/micromamba:latest"
DEFAULT_ENVIRONMENT = "base"

# conda environment names: no path separators, spaces or shell metacharacters.
_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$")


def wrap_command(command: str, environment: str = DEFAULT_ENVIRONMENT) -> str:
    """The shell command that runs ``command`` inside the micromamba ``environment``."""
    _check_environment(environment)
    return f"micromamba run -n {shlex.quote(environment)} sh -c {shlex.quote(command)}"


def _check_environment(environment: str) -> None:
    if not isinstance(environment, str) or not _ENVIRONMENT_NAME.match(environment):
        raise ValidationError(
            f"invalid micromamba environment name {environment!r}: use letters, digits, '_', '.', '+', '-'"
        )


@dataclass(frozen=True)
class MicromambaEnvironment:
    """The command wrapper of a micromamba session: commands run in environment ``name``."""

    name: str = DEFAULT_ENVIRONMENT

    def __post_init__(self) -> None:
        _check_environment(self.name)

    def wrap(self, command: str) -> str:
        return wrap_command(command, self.name)

    def missing_image_hint(self, image: str) -> str:
        return (
            f"a micromamba session needs an image with micromamba and the {self.name!r} environment: "
            f"pull it (`docker pull {image}`) or build one (docs/backends.md, 'Micromamba')"
        )


__all__ = ["DEFAULT_ENVIRONMENT", "DEFAULT_IMAGE", "MicromambaEnvironment", "wrap_command"]

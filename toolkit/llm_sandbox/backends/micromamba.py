"""Micromamba sessions: every command runs inside ``micromamba run -n <environment>``.

A Docker session (same backend, same secure defaults, timeouts, output caps,
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
from typing import Any

from llm_sandbox.const import SupportedLanguage
from llm_sandbox.data import ConsoleOutput
from llm_sandbox.exceptions import ImageNotFoundError, ValidationError
from llm_sandbox.output import OutputCollector
from llm_sandbox.session import SandboxDockerSession

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


class MicromambaSession(SandboxDockerSession):
    """A Docker session whose commands run in the micromamba environment ``environment``.

    ``client`` is a ``docker.DockerClient`` (default: from the environment);
    ``image`` must have micromamba and the environment (default
    ``mambaorg/micromamba:latest``, which must be present locally or pullable).
    """

    backend_name = "micromamba"

    def __init__(self, client: Any = None, image: str | None = DEFAULT_IMAGE, dockerfile: str | None = None,
                 lang: str = SupportedLanguage.PYTHON, environment: str = DEFAULT_ENVIRONMENT,
                 **kwargs: Any) -> None:  # fmt: skip
        _check_environment(environment)
        super().__init__(client, image or DEFAULT_IMAGE, dockerfile, lang, **kwargs)
        self.environment = environment

    def wrap(self, command: str) -> str:
        return wrap_command(command, self.environment)

    def _wrapped(self, command: str, **kwargs: Any) -> tuple[int, OutputCollector]:
        return super()._wrapped(self.wrap(command), **kwargs)

    def _run_installer(self, command: str) -> ConsoleOutput:
        return super()._run_installer(self.wrap(command))

    def _resolve_image(self) -> str:
        try:
            return super()._resolve_image()
        except ImageNotFoundError as exc:
            raise ImageNotFoundError(
                exc.image,
                "a micromamba session needs an image with micromamba and the "
                f"{self.environment!r} environment: pull it (`docker pull {exc.image}`) "
                "or build one (docs/backends.md, 'Micromamba')",
            ) from None


__all__ = ["DEFAULT_IMAGE", "MicromambaSession", "wrap_command"]

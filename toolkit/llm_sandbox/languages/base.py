"""Languages as data: a :class:`LanguageConfig` record plus a few hooks.

Adding a language is one record (and an image): see ``languages/__init__.py``
for the built-in records and :func:`register_language` for plugins.
"""

from __future__ import annotations

import re
import shlex
from abc import ABC
from dataclasses import dataclass, field
from typing import Any

from llm_sandbox.contract import builtin_image
from llm_sandbox.exceptions import LibraryInstallationNotSupportedError, ValidationError

# pip/npm/gem/R/Go/Debian package specs: a name, optional scope or path, optional version constraint.
# No whitespace, quotes, shell metacharacters or leading dashes (which would be options).
_SAFE_LIBRARY = re.compile(
    r"^(?!-)[A-Za-z0-9@._/+:~\[\],-]+(?:(?:==|>=|<=|~=|!=|>|<|@)[A-Za-z0-9._*+!,-]+)?$"
)


@dataclass(frozen=True)
class PlotDetectionConfig:
    """How a language captures plots (kept for reference compatibility)."""

    enabled: bool = True
    libraries: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    """Environment that switches capture on for a run (e.g. a matplotlib backend)."""


@dataclass(frozen=True)
class LanguageConfig:
    """Everything the session needs to know about a language.

    ``execution_commands`` are shell commands run in order (``&&``) by the run
    wrapper; ``$LLM_SANDBOX_FILE`` is the code file and ``$LLM_SANDBOX_RUN_DIR``
    a private per-run directory (for build outputs). ``install_command`` runs
    in a short-lived installer container with network, where
    ``$LLM_SANDBOX_PACKAGES`` is the packages volume; ``environment`` is set in
    the sandbox so the installed packages are found there.
    """

    name: str
    file_extension: str
    execution_commands: list[str]
    package_manager: str | None = None
    is_support_library_installation: bool = True
    plot_detection: PlotDetectionConfig | None = None
    aliases: tuple[str, ...] = ()
    image: str | None = None
    """Default image; ``None`` means the library's own ``llm-sandbox/<name>:latest`` (see
    :func:`llm_sandbox.contract.builtin_image`), built by the image builder."""
    install_command: str | None = None
    """Shell command template with ``{libraries}`` (already quoted)."""
    environment: dict[str, str] = field(default_factory=dict)
    library_unsupported_reason: str | None = None
    preinstalled_libraries: tuple[str, ...] = ()
    """Told to agents in tool descriptions."""
    exec_tmp: bool = False
    """The language builds programs under ``/tmp`` and runs them (compiled languages): its sandboxes
    mount ``/tmp`` without ``noexec``. Interpreted languages keep the default ``noexec``."""
    warm_runner: tuple[str, ...] | None = None
    """Command of the warm runner shipped in the language's image, which forks each stateless run
    from a warm parent (``runtime/python/llm_sandbox_runner.py``); ``None``: every run starts cold."""
    kernel: tuple[str, ...] | None = None
    """Command of the stateful kernel shipped in the image (``InteractiveSandboxSession``);
    ``None``: the language has no kernel."""

    @property
    def default_image(self) -> str:
        return self.image or builtin_image(self.name)


class AbstractLanguageHandler(ABC):  # noqa: B024 - hooks all have defaults; subclass to override
    """Hooks around a :class:`LanguageConfig`. Override only what differs."""

    def __init__(self, config: LanguageConfig, logger: Any = None) -> None:
        self.config = config
        self.logger = logger

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def file_extension(self) -> str:
        return self.config.file_extension

    @property
    def is_support_library_installation(self) -> bool:
        return self.config.is_support_library_installation

    @property
    def is_support_plot_detection(self) -> bool:
        return bool(self.config.plot_detection and self.config.plot_detection.enabled)

    @property
    def supported_plot_libraries(self) -> list[str]:
        return list(self.config.plot_detection.libraries) if self.config.plot_detection else []

    def source_filename(self, code: str) -> str:
        """Name of the file the code is written to (in a private per-run directory)."""
        return f"main.{self.config.file_extension}"

    def get_execution_commands(self, code_file: str = '"$LLM_SANDBOX_FILE"') -> list[str]:
        return [command.replace("{file}", code_file) for command in self.config.execution_commands]

    def run_command(self) -> str:
        """The shell command the run wrapper executes."""
        return " && ".join(self.get_execution_commands())

    def validate_libraries(self, libraries: list[str]) -> list[str]:
        """Refuse anything that is not a plain package spec; returns the list unchanged."""
        for library in libraries:
            if not isinstance(library, str) or not _SAFE_LIBRARY.match(library):
                raise ValidationError(
                    f"invalid library name {library!r}: use a plain package name, optionally with a "
                    "version (e.g. 'numpy' or 'numpy==2.1.0'); shell syntax is never run"
                )
        return libraries

    def libraries_to_install(self, libraries: list[str]) -> list[str]:
        """Drop what the image already provides: unversioned names of ``preinstalled_libraries`` (a hook)."""
        provided = {_canonical(name.split()[0]) for name in self.config.preinstalled_libraries}
        return [library for library in libraries if _canonical(library) not in provided]

    def get_library_installation_command(self, libraries: list[str] | str) -> str:
        if isinstance(libraries, str):
            libraries = [libraries]
        if not self.config.is_support_library_installation or not self.config.install_command:
            raise LibraryInstallationNotSupportedError(self.name, self.config.library_unsupported_reason)
        self.validate_libraries(libraries)
        return self.config.install_command.format(libraries=" ".join(shlex.quote(x) for x in libraries))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


class LanguageHandler(AbstractLanguageHandler):
    """The handler used for records that need no hook."""

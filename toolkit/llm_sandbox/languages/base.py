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

from llm_sandbox.exceptions import LibraryInstallationNotSupportedError, ValidationError

GENERIC_LIBRARY = r"[A-Za-z0-9][A-Za-z0-9._+-]*(?:==[A-Za-z0-9][A-Za-z0-9._+-]*)?"
"""A package name with an optional ``==version``: what a language without its own rule accepts."""
MAX_LIBRARY_NAME = 256


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
    """Default image; ``None`` means ``llm-sandbox/<name>:latest`` built by the image builder."""
    install_command: str | None = None
    """Shell command template with ``{libraries}`` (already quoted)."""
    environment: dict[str, str] = field(default_factory=dict)
    library_unsupported_reason: str | None = None
    preinstalled_libraries: tuple[str, ...] = ()
    """Told to agents in tool descriptions."""
    exec_tmp: bool = False
    """The language builds programs under ``/tmp`` and runs them (compiled languages): its sandboxes
    mount ``/tmp`` without ``noexec``. Interpreted languages keep the default ``noexec``."""
    library_pattern: str = GENERIC_LIBRARY
    """A regular expression the whole of each library name must match (its package manager's names,
    an optional version): never a URL, a path, an option or shell syntax."""
    library_example: str = "a package name, optionally with ==version"
    """What the error says a library name looks like."""

    @property
    def default_image(self) -> str:
        return self.image or f"llm-sandbox/{self.name}:latest"


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
        """Refuse anything but the language's package names (``config.library_pattern``); returns the list.

        ``LibraryInstallationNotSupportedError`` when the language installs no libraries at all.

        URLs, paths, VCS references (``git+...``), options and shell syntax never reach a package manager.
        """
        if libraries and not (self.config.is_support_library_installation and self.config.install_command):
            raise LibraryInstallationNotSupportedError(self.name, self.config.library_unsupported_reason)
        pattern = re.compile(self.config.library_pattern)
        for library in libraries:
            if (
                not isinstance(library, str)
                or len(library) > MAX_LIBRARY_NAME
                or not pattern.fullmatch(library)
            ):
                raise ValidationError(
                    f"invalid library name {library!r} for {self.name}: use {self.config.library_example}; "
                    "URLs, paths, options and shell syntax are refused (nothing is installed)"
                )
        return libraries

    def libraries_to_install(self, libraries: list[str]) -> list[str]:
        """Drop what the image already provides: unversioned names of ``preinstalled_libraries`` (a hook)."""
        provided = {_canonical(name.split()[0]) for name in self.config.preinstalled_libraries}
        return [library for library in libraries if _canonical(library) not in provided]

    def get_library_installation_command(self, libraries: list[str] | str) -> str:
        if isinstance(libraries, str):
            libraries = [libraries]
        self.validate_libraries(libraries)
        assert self.config.install_command is not None  # validate_libraries refused languages without one
        return self.config.install_command.format(libraries=" ".join(shlex.quote(x) for x in libraries))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


class LanguageHandler(AbstractLanguageHandler):
    """The handler used for records that need no hook."""

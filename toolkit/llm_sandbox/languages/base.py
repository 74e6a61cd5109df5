"""Languages as data: a :class:`LanguageConfig` record plus a few hooks.

Adding a language is one record (and an image): see ``languages/__init__.py``
for the registry and :func:`register_language` for plugins.

Two kinds of handler class share the registry:

* :class:`LanguageHandler`, the handler of this library's records: plots are
  captured by the runtime baked into the image, comments are found by the
  security scanner. Subclass it when one hook must differ.
* :class:`AbstractLanguageHandler`, the plugin base class of the reference API
  (``llm-sandbox``): a handler written for it — its constructor sets
  ``self.config``; it implements ``get_import_patterns`` and the two
  comment-pattern methods; it may inject plot-capture code and extract the
  plot files — registers with ``LanguageHandlerFactory.register_handler`` and
  runs unchanged.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import shlex
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llm_sandbox.const import FileType, StrEnum
from llm_sandbox.contract import builtin_image
from llm_sandbox.data import PlotOutput
from llm_sandbox.exceptions import LibraryInstallationNotSupportedError, ValidationError
from llm_sandbox.security.analyzers import strip_comments

logger = logging.getLogger("llm_sandbox")

GENERIC_LIBRARY = r"[A-Za-z0-9][A-Za-z0-9._+-]*(?:==[A-Za-z0-9][A-Za-z0-9._+-]*)?"
"""A package name with an optional ``==version``: what a language without its own rule accepts."""
MAX_LIBRARY_NAME = 256

PLOT_OUTPUT_DIR = "/tmp/sandbox_plots"
"""Where plot-capture code injected by a reference-style handler writes its image files."""

CODE_FILE = '"$LLM_SANDBOX_FILE"'
"""The code file, as the run wrapper's shell sees it (``{file}`` in execution commands)."""


class PlotLibrary(StrEnum):
    """Plotting libraries a language may capture (the reference API's names)."""

    MATPLOTLIB = "matplotlib"
    PLOTLY = "plotly"
    SEABORN = "seaborn"
    CHARTJS = "chartjs"
    D3JS = "d3js"
    JFREECHART = "jfreechart"
    XCHART = "xchart"
    ROOT = "root"
    GONUM_PLOT = "gonum_plot"
    GRUFF = "gruff"


@dataclass(frozen=True)
class PlotDetectionConfig:
    """How a language captures plots.

    The reference API's fields: ``libraries`` it captures, ``setup_code`` that a
    handler's :meth:`~AbstractLanguageHandler.inject_plot_detection_code` puts
    before the user's code (it writes image files into the plot directory, which
    :meth:`~AbstractLanguageHandler.extract_plots` collects) and ``cleanup_code``.
    This library's built-in languages inject nothing: the runtime in their image
    captures plots when ``environment`` is set for a run.
    """

    libraries: Sequence[PlotLibrary | str] = ()
    setup_code: str = ""
    cleanup_code: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Environment that switches the runtime's capture on for a run (e.g. a matplotlib backend)."""
    enabled: bool = True


@dataclass(frozen=True)
class LanguageConfig:
    """Everything the session needs to know about a language.

    The first six fields are the reference API's, in its order. ``execution_commands``
    are shell commands run in order (``&&``) by the run wrapper; ``{file}`` is the
    code file (``$LLM_SANDBOX_FILE``) and ``$LLM_SANDBOX_RUN_DIR`` a private per-run
    directory (for build outputs). ``install_command`` runs in a short-lived
    installer container with network, where ``$LLM_SANDBOX_PACKAGES`` is the
    packages volume; without it, ``package_manager`` followed by a library is the
    install command, as in the reference API. ``environment`` is set in the
    sandbox so the installed packages are found there.
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
    library_pattern: str = GENERIC_LIBRARY
    """A regular expression the whole of each library name must match (its package manager's names,
    an optional version): never a URL, a path, an option or shell syntax."""
    library_example: str = "a package name, optionally with ==version"
    """What the error says a library name looks like."""
    import_pattern: str | None = None
    """Regex of an import of ``{module}`` (replaced by the escaped module name): ``get_import_patterns``."""
    version_command: str | None = None
    """A command that succeeds when the language's toolchain works: ``session.verify_installation()``."""

    @property
    def default_image(self) -> str:
        return self.image or builtin_image(self.name)


@dataclass
class RuntimeContext:
    """Where a run happens, given to the handler's command hooks (the reference API's record).

    The interpreter, pip and cache paths are always ``None`` here: the image's own
    interpreter runs the code and libraries are installed by the installer container.
    """

    workdir: str
    python_executable_path: str | None = None
    pip_executable_path: str | None = None
    pip_cache_dir: str | None = None


class ContainerProtocol(Protocol):
    """What a handler's artifact hooks may ask of the session they are given."""

    def execute_command(self, command: str, workdir: str | None = None) -> Any: ...

    def get_archive(self, path: str) -> tuple[bytes, dict]: ...

    def run(
        self,
        code: str,
        libraries: list[str] | None = None,
        timeout: float | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> Any: ...


class AbstractLanguageHandler(ABC):
    """A language: its :class:`LanguageConfig` (``config``) and the hooks around it.

    The reference API's plugin base class. ``config`` is set by the subclass
    (as a class attribute, or in ``__init__`` as reference handlers do) or by the
    registry for the record it was registered with.
    """

    config: LanguageConfig

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("llm_sandbox")

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
    def supported_plot_libraries(self) -> list[PlotLibrary | str]:
        return list(self.config.plot_detection.libraries) if self.config.plot_detection else []

    # running ---------------------------------------------------------------------------
    def source_filename(self, code: str) -> str:
        """Name of the file the code is written to (in a private per-run directory)."""
        return f"main.{self.config.file_extension}"

    def get_execution_commands(
        self, code_file: str = CODE_FILE, runtime_context: RuntimeContext | None = None
    ) -> list[str]:
        """The commands that run ``code_file`` (``{file}`` in the record's commands)."""
        return [command.replace("{file}", code_file) for command in self.config.execution_commands]

    def run_command(self, runtime_context: RuntimeContext | None = None) -> str:
        """The shell command the run wrapper executes."""
        return " && ".join(self.get_execution_commands(CODE_FILE, runtime_context))

    # libraries -------------------------------------------------------------------------
    def validate_libraries(self, libraries: list[str]) -> list[str]:
        """Refuse anything but the language's package names (``config.library_pattern``); returns the list.

        ``LibraryInstallationNotSupportedError`` when the language installs no libraries at all.

        URLs, paths, VCS references (``git+...``), options and shell syntax never reach a package manager.
        """
        installer = self.config.install_command or self.config.package_manager
        if libraries and not (self.config.is_support_library_installation and installer):
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

    def get_library_installation_command(
        self, library: str | list[str], runtime_context: RuntimeContext | None = None
    ) -> str:
        """The command that installs ``library`` (one name, as in the reference API, or a list)."""
        libraries = [library] if isinstance(library, str) else list(library)
        if not self.config.is_support_library_installation:
            raise LibraryInstallationNotSupportedError(self.name, self.config.library_unsupported_reason)
        quoted = " ".join(shlex.quote(name) for name in self.validate_libraries(libraries))
        if self.config.install_command:
            return self.config.install_command.format(libraries=quoted)
        if self.config.package_manager:
            return f"{self.config.package_manager} {quoted}"
        raise LibraryInstallationNotSupportedError(self.name, "its record has no install_command or package_manager")

    def library_installation_command(self, libraries: list[str], runtime_context: RuntimeContext | None = None) -> str:
        """The one command the installer runs for ``libraries``.

        A record with an ``install_command`` installs them all at once; otherwise each
        library gets :meth:`get_library_installation_command`, as in the reference API.
        """
        if self.config.install_command:
            return self.get_library_installation_command(libraries, runtime_context)
        return " && ".join(self.get_library_installation_command(name, runtime_context) for name in libraries)

    # comments and imports (the reference's regex security checks) ------------------------
    @abstractmethod
    def get_import_patterns(self, module: str) -> str:
        """A regex matching an import of ``module`` in this language."""

    @staticmethod
    @abstractmethod
    def get_multiline_comment_patterns() -> str:
        """A regex matching a block comment."""

    @staticmethod
    @abstractmethod
    def get_inline_comment_patterns() -> str:
        """A regex matching a comment to the end of its line."""

    def filter_comments(self, code: str) -> str:
        """``code`` without comments: block comments removed, then each line's trailing comment.

        Lines left blank stay (as empty lines); regexes do not know string literals, so a
        comment marker inside a string cuts it too. :class:`LanguageHandler` uses the
        security scanner instead, which does.
        """
        code = re.sub(self.get_multiline_comment_patterns(), "", code)
        lines = (re.sub(self.get_inline_comment_patterns(), "", line) for line in code.split("\n"))
        return "\n".join(line if line.strip() else "" for line in lines)

    # plots ---------------------------------------------------------------------------
    def inject_plot_detection_code(self, code: str) -> str:
        """``code`` with plot-capture code added (a hook; unchanged by default)."""
        return code

    def extract_plots(self, container: ContainerProtocol, output_dir: str) -> list[PlotOutput]:
        """The image files (PNG, SVG, PDF, HTML) that injected code wrote into ``output_dir``, in name order.

        They are removed once read, so each run returns its own plots.
        """
        listing = container.execute_command(
            f"find {shlex.quote(output_dir)} -type f \\( -name '*.png' -o -name '*.svg' -o -name '*.pdf' "
            "-o -name '*.html' \\) 2>/dev/null | sort"
        )
        paths = [line.strip() for line in listing.stdout.splitlines() if line.strip()]
        plots = []
        for path in paths:
            try:
                plots.append(_plot_from_archive(container.get_archive(path)[0], path))
            except (OSError, tarfile.TarError, ValueError) as exc:
                self.logger.warning("could not read the plot %s: %s", path, exc)
        if paths:
            container.execute_command("rm -f -- " + " ".join(shlex.quote(path) for path in paths))
        return plots

    def run_with_artifacts(
        self,
        container: ContainerProtocol,
        code: str,
        libraries: list | None = None,
        enable_plotting: bool = True,
        output_dir: str = PLOT_OUTPUT_DIR,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> tuple[Any, list[PlotOutput]]:
        """Run ``code`` in ``container`` and return ``(result, plots)``.

        With plotting on and a language that captures plots, the code gets
        :meth:`inject_plot_detection_code` and the plots come from
        :meth:`extract_plots`; ``kwargs`` (``on_stdout``, ``on_stderr``) go to ``container.run``.
        """
        capture = enable_plotting and self.is_support_plot_detection
        result = container.run(self.inject_plot_detection_code(code) if capture else code, libraries, timeout, **kwargs)
        return result, self.extract_plots(container, output_dir) if capture else []


def _plot_from_archive(archive: bytes, path: str) -> PlotOutput:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        reader = tar.extractfile(member) if member is not None else None
        if reader is None:
            raise ValueError("the archive holds no file")
        content = reader.read()
    return PlotOutput(format=FileType.from_filename(path), content_base64=base64.b64encode(content).decode())


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-")


class LanguageHandler(AbstractLanguageHandler):
    """The handler of a :class:`LanguageConfig` record; subclass it when a hook must differ.

    Comments are found by the security scanner (it knows string literals), imports
    by the record's ``import_pattern``, and plots are captured by the runtime in
    the image, so they arrive in the run's result and nothing is injected or extracted.
    """

    def get_import_patterns(self, module: str) -> str:
        template = self.config.import_pattern or r"\b{module}\b"
        return template.replace("{module}", re.escape(module))

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r"/\*[\s\S]*?\*/"

    @staticmethod
    def get_inline_comment_patterns() -> str:
        return r"(?://|(?<!\S)#).*$"

    def filter_comments(self, code: str) -> str:
        """``code`` without comments, string literals and line numbers kept (the security scanner's view)."""
        return strip_comments(code, self.name)

    def extract_plots(self, container: ContainerProtocol, output_dir: str) -> list[PlotOutput]:
        """Nothing to extract: the runtime's plots are in the run's result."""
        return []

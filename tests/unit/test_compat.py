"""Code written for the reference API (``llm-sandbox``) runs here: its names, signatures and plugin API.

No engine: sessions are built (engines connect lazily) or run on the in-memory ``FakeEngine``.
Running code through these APIs on real engines is in ``tests/integration/test_compat.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import warnings

import pytest

from llm_sandbox import (
    ArtifactSandboxSession,
    DefaultImage,
    FileType,
    PlotOutput,
    RestrictedModule,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    create_session,
)
from llm_sandbox.const import SandboxBackend, StrEnum, SupportedLanguage
from llm_sandbox.data import ConsoleOutput, ExecutionResult, FileOutput
from llm_sandbox.engines.fake import FakeEngine
from llm_sandbox.exceptions import (
    CommandEmptyError,
    CommandFailedError,
    ExtraArgumentsError,
    ImageNotFoundError,
    ImagePullError,
    InvalidRegexPatternError,
    LanguageHandlerNotInitializedError,
    LanguageNotSupportedError,
    LibraryInstallationNotSupportedError,
    NotOpenSessionError,
    PackageManagerError,
    SandboxError,
    SecurityError,
    UnsupportedBackendError,
    ValidationError,
)
from llm_sandbox.language_handlers.base import AbstractLanguageHandler, LanguageConfig
from llm_sandbox.language_handlers.factory import LanguageHandlerFactory
from llm_sandbox.languages import get_language
from llm_sandbox.languages.base import LanguageHandler
from llm_sandbox.security import check_code
from llm_sandbox.sessions import (
    MicromambaSession,
    SandboxDockerSession,
    SandboxKubernetesSession,
    SandboxPodmanSession,
    Session,
)


# module paths -------------------------------------------------------------------------
def test_reference_module_paths_are_this_librarys_classes() -> None:
    from llm_sandbox import core, language_handlers
    from llm_sandbox.core.session_base import BaseSession
    from llm_sandbox.docker import SandboxDockerSession as Docker
    from llm_sandbox.kubernetes import SandboxKubernetesSession as Kubernetes
    from llm_sandbox.language_handlers.base import PlotDetectionConfig
    from llm_sandbox.language_handlers.runtime_context import RuntimeContext
    from llm_sandbox.micromamba import MicromambaSession as Micromamba
    from llm_sandbox.podman import SandboxPodmanSession as Podman
    from llm_sandbox.session import ArtifactSandboxSession as Artifact
    from llm_sandbox.session import SandboxSession

    assert (Docker, Podman, Kubernetes, Micromamba) == (
        SandboxDockerSession, SandboxPodmanSession, SandboxKubernetesSession, MicromambaSession
    )
    assert BaseSession is Session and core.__name__ == "llm_sandbox.core"
    assert SandboxSession is create_session and Artifact is ArtifactSandboxSession
    import llm_sandbox.languages as languages

    assert (AbstractLanguageHandler, PlotDetectionConfig, LanguageHandlerFactory, RuntimeContext) == (
        languages.AbstractLanguageHandler, languages.PlotDetectionConfig, languages.LanguageHandlerFactory,
        languages.RuntimeContext,
    )
    handlers = [("python", "PythonHandler"), ("javascript", "JavaScriptHandler"), ("java", "JavaHandler"),
                ("cpp", "CppHandler"), ("go", "GoHandler"), ("ruby", "RubyHandler"), ("r", "RHandler")]  # fmt: skip
    for lang, name in handlers:
        module = __import__(f"llm_sandbox.language_handlers.{lang}_handler", fromlist=[name])
        handler_class = getattr(module, name)
        assert handler_class is getattr(language_handlers, name)
        assert type(get_language(lang)) is handler_class  # the registry's own class, not a copy
        assert handler_class().config is get_language(lang).config  # built without a config, as there


def test_default_images_are_the_images_built_here() -> None:
    for language in SupportedLanguage:
        assert getattr(DefaultImage, language.name) == get_language(language).config.default_image
    assert DefaultImage().PYTHON == "llm-sandbox/python:latest"


def test_enums_look_up_names_in_any_case() -> None:
    assert SandboxBackend("Docker") is SandboxBackend.DOCKER
    assert SupportedLanguage("JavaScript") is SupportedLanguage.JAVASCRIPT
    with pytest.raises(ValueError, match="'rust' is not a valid SupportedLanguage; choose one of: python"):
        SupportedLanguage("rust")
    with pytest.raises(TypeError, match="StrEnum values must be strings"):

        class Numbers(StrEnum):
            ONE = 1  # type: ignore[assignment]


# results ------------------------------------------------------------------------------
def test_results_are_immutable() -> None:
    result = ExecutionResult(exit_code=0, stdout="x")
    records = [(result, "stdout"), (ConsoleOutput(), "exit_code"), (PlotOutput(FileType.PNG, ""), "format"),
               (FileOutput("/a", FileType.TXT, 1, None), "size")]  # fmt: skip
    for record, field in records:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)


def test_text_is_the_stdout_read_or_called_and_deprecated() -> None:
    output = ConsoleOutput(exit_code=0, stdout="hello\n")
    with pytest.warns(DeprecationWarning, match="use .stdout"):
        assert output.text() == "hello\n"  # the reference's method
    with pytest.warns(DeprecationWarning):
        assert output.text == "hello\n" and output.text.startswith("hello")  # this library's former property


def test_to_json_leaves_artifacts_out_unless_asked() -> None:
    plot = PlotOutput(FileType.PNG, "cG5n", 1, 2, 3)
    files = [FileOutput("/f", FileType.CSV, 3, "YSxi")]
    result = ExecutionResult(exit_code=1, stderr="e", stdout="o", plots=[plot], files=files)
    plain = json.loads(result.to_json())
    assert plain["exit_code"] == 1 and plain["stdout"] == "o" and plain["stderr"] == "e"
    assert "plots" not in plain and "files" not in plain
    full = json.loads(result.to_json(include_plots=True))
    assert full["plots"] == [{"format": "png", "content_base64": "cG5n", "width": 1, "height": 2, "dpi": 3,
                              "filename": None}]  # fmt: skip
    assert full["files"][0]["format"] == "csv"
    assert json.loads(ConsoleOutput(stdout="x").to_json()) == {"exit_code": 0, "stderr": "", "stdout": "x"}


# exceptions ---------------------------------------------------------------------------
def test_exceptions_take_the_reference_arguments_and_say_more_where_known() -> None:
    assert str(ImagePullError("python:3.11", "timeout")) == "Failed to pull image python:3.11: timeout"
    assert str(CommandFailedError("ls", 2, "no such file")) == "Command ls failed with exit code 2:\nno such file"
    assert str(ImageNotFoundError("x:1")) == "Image x:1 not found"
    assert str(ImageNotFoundError("x:1", "build it")) == "Image x:1 not found; build it"
    assert str(LanguageNotSupportedError("rust")) == "Language rust is not supported"
    assert str(LanguageNotSupportedError("rust", ["go", "c"])) == "Language rust is not supported; choose one of: c, go"
    assert str(LibraryInstallationNotSupportedError("java", "no resolver")).endswith("java: no resolver")
    assert str(PackageManagerError("pip")) == "Package manager pip not found"
    assert str(PackageManagerError("pip", "exit 1")) == "Package manager pip failed: exit 1"
    assert str(InvalidRegexPatternError("[")) == "Invalid regex pattern: ["
    assert str(LanguageHandlerNotInitializedError("x")) == "Language handler for x is not initialized."
    assert str(NotOpenSessionError()).startswith("Session is not open.")
    assert str(CommandEmptyError()) == "Command cannot be empty"


def test_where_the_new_exceptions_sit_in_the_one_hierarchy() -> None:
    assert issubclass(ExtraArgumentsError, ValidationError) and issubclass(CommandEmptyError, ValidationError)
    assert issubclass(CommandFailedError, SandboxError) and issubclass(LanguageHandlerNotInitializedError, SandboxError)
    # a policy's pattern error must not be a ValueError: pydantic would wrap it in its own ValidationError
    assert issubclass(InvalidRegexPatternError, SecurityError) and not issubclass(InvalidRegexPatternError, ValueError)


def test_session_errors_carry_the_reference_types() -> None:
    with pytest.raises(ExtraArgumentsError, match=r"unexpected argument.*: colour"):
        create_session("docker", colour="red")
    with pytest.raises(UnsupportedBackendError, match=r"^Unsupported backend: lxc; choose one of: docker, "):
        create_session("lxc")
    with pytest.raises(InvalidRegexPatternError, match=r"^Invalid regex pattern: a\(b"):
        SecurityPattern.validate_pattern("a(b")


# signatures ---------------------------------------------------------------------------
def test_session_options_are_positional_in_each_kinds_reference_order() -> None:
    docker = SandboxDockerSession(None, None, None, "python", True, False, None, True, False, {"mem_limit": "256m"})
    assert (docker.keep_template, docker.verbose, docker.runtime_configs) == (True, True, {"mem_limit": "256m"})
    podman = SandboxPodmanSession(None, None, None, "python", False, False, True, ["MOUNT"], False, None, "/work")
    assert podman.verbose and not podman.commit_container
    assert podman.runtime_configs == {"mounts": ["MOUNT"]} and podman.workdir == "/work"
    mamba = MicromambaSession(None, "img:1", None, "python", False, False, None, "science")
    assert mamba.environment == "science" and mamba.image == "img:1"
    kube = SandboxKubernetesSession(None, None, "python", False, "ns", None, None, "/sandbox", None, None, 7.0)
    assert kube.kube_namespace == "ns" and kube.execution_timeout == 7.0
    by_backend = create_session("docker", None, None, None, "ruby", True)
    assert by_backend.lang == "ruby" and by_backend.keep_template


def test_mounts_are_added_to_the_runtime_configs() -> None:
    session = create_session("docker", runtime_configs={"mounts": ["a"], "mem_limit": "1g"}, mounts=["b"])
    assert session.runtime_configs == {"mounts": ["a", "b"], "mem_limit": "1g"}


def test_commit_image_tag_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(ValidationError, match=r"commit_image_tag= is not supported.*committed_image"):
        create_session("docker", commit_container=True, commit_image_tag="mine:1")


def test_artifact_run_takes_clear_plots_before_the_callbacks() -> None:
    import inspect

    parameters = list(inspect.signature(ArtifactSandboxSession.run).parameters)
    assert parameters == ["self", "code", "libraries", "timeout", "clear_plots", "on_stdout", "on_stderr"]
    commands = list(inspect.signature(Session.execute_commands).parameters)
    assert commands == ["self", "commands", "workdir", "on_stdout", "on_stderr"]


# session.container and environment_setup on the in-memory engine ------------------------
def test_container_is_the_engines_handle_while_open() -> None:
    engine = FakeEngine(images={"llm-sandbox/python:latest"})
    session = Session(engine)
    assert session.container is None
    with session:
        assert session.container is engine.containers[session.container_id or ""]
    assert session.container is None


def test_open_runs_environment_setup_which_a_subclass_may_extend() -> None:
    class Prepared(Session):
        def environment_setup(self) -> None:
            super().environment_setup()
            self.prepared = True

    with Prepared(FakeEngine(images={"llm-sandbox/python:latest"})) as session:
        assert session.prepared
        assert session.language_handler is session.language  # the reference's name


# the language-handler plugin API ----------------------------------------------------------
def restricting(module: str) -> SecurityPolicy:
    return SecurityPolicy(
        restricted_modules=[RestrictedModule(name=module, description="x", severity=SecurityIssueSeverity.HIGH)]
    )


class ShellHandler(AbstractLanguageHandler):
    """A handler as the reference API's plugins are written: its constructor sets its own record."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger)
        self.config = LanguageConfig(
            name="unit-ref-sh", file_extension="sh", execution_commands=["sh {file}"], package_manager="apk add"
        )

    def get_execution_commands(self, code_file: str, runtime_context: object = None) -> list[str]:
        workdir = getattr(runtime_context, "workdir", "?")
        return [f"cd {workdir} && sh {code_file}"]

    def get_import_patterns(self, module: str) -> str:
        return r"(?:^|\s)\.\s+" + re.escape(module) + r"\b"

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r":<<'EOF'[\s\S]*?EOF"

    @staticmethod
    def get_inline_comment_patterns() -> str:
        return r"#.*$"


def test_a_reference_style_handler_registers_and_drives_the_session(language_registry: None) -> None:
    LanguageHandlerFactory.register_handler("unit-ref-sh", ShellHandler)
    handler = LanguageHandlerFactory.create_handler("UNIT-REF-SH")
    assert isinstance(handler, ShellHandler) and handler.name == "unit-ref-sh"
    assert "unit-ref-sh" in LanguageHandlerFactory.get_supported_languages()

    engine = FakeEngine(images={"llm-sandbox/unit-ref-sh:latest"})
    with Session(engine, lang="unit-ref-sh", workdir="/work") as session:
        session.run("echo hi")
    assert any('cd /work && sh "$LLM_SANDBOX_FILE"' in call.argv for call in engine.execs)

    assert handler.get_library_installation_command("curl") == "apk add curl"  # one library, as there
    assert handler.library_installation_command(["curl", "jq"]) == "apk add curl && apk add jq"
    assert handler.filter_comments(":<<'EOF'\n. evil\nEOF\necho ok  # . evil\n") == "\necho ok  \n"


def test_a_reference_style_handler_checks_restricted_modules_with_its_own_regexes(language_registry: None) -> None:
    LanguageHandlerFactory.register_handler("unit-ref-sh", ShellHandler)
    policy = restricting("secrets")
    assert check_code("# . secrets\necho ok", "unit-ref-sh", policy) == (True, [])
    safe, [violation] = check_code("echo a\n. secrets", "unit-ref-sh", policy)
    assert not safe and violation.rule == "secrets" and violation.line == 2


def test_builtin_languages_keep_their_own_analyzer_when_a_reference_handler_replaces_them() -> None:
    from llm_sandbox.language_handlers.factory import LanguageHandlerFactory
    from llm_sandbox.language_handlers.python_handler import PythonHandler

    class Naive(PythonHandler):
        def get_import_patterns(self, module: str) -> str:
            return r"(?!)"  # would see nothing

    try:
        LanguageHandlerFactory.register_handler("python", Naive)
        assert not check_code('__import__("o" + "s")', "python", restricting("os"))[0]
    finally:
        LanguageHandlerFactory.register_handler("python", PythonHandler)


def test_handlers_that_cannot_work_are_refused_when_registered() -> None:
    from llm_sandbox.language_handlers.base import AbstractLanguageHandler
    class NoRecord(AbstractLanguageHandler):
        def get_import_patterns(self, module: str) -> str:
            return module

        @staticmethod
        def get_multiline_comment_patterns() -> str:
            return "(?!)"

        @staticmethod
        def get_inline_comment_patterns() -> str:
            return "#.*$"

    with pytest.raises(LanguageHandlerNotInitializedError, match="unit-no-record"):
        LanguageHandlerFactory.register_handler("unit-no-record", NoRecord)
    with pytest.raises(TypeError, match="not a subclass of AbstractLanguageHandler"):
        LanguageHandlerFactory.register_handler("unit-bad", dict)  # type: ignore[arg-type]
    with pytest.raises(LanguageNotSupportedError):
        get_language("unit-no-record")


@pytest.mark.parametrize(
    ("lang", "imports", "not_imports"),
    [
        ("python", ["import os", "import sys, os.path", "from os import path", "x = 1; import os as o"],
         ["import oss", "from osmosis import x", "print('import os')"]),
        ("javascript", ["const fs = require('os')", "import os from 'os'", "import('node:os')"], ["require('oss')"]),
        ("java", ["import os.Files;", "import static os.Files.x;"], ["import oss.Files;"]),
        ("cpp", ["#include <os>", '#  include "os.h"'], ["#include <oss>"]),
        ("go", ['import "os"', 'import (\n\t"fmt"\n\t"os/exec"\n)'], ['import "oss"']),
        ("ruby", ["require 'os'", 'require_relative "os/x"'], ["require 'oss'"]),
        ("r", ["library(os)", 'require("os")', "os::f()"], ["library(oss)"]),
    ],
)  # fmt: skip
def test_builtin_import_patterns(lang: str, imports: list[str], not_imports: list[str]) -> None:
    handler = get_language(lang)
    pattern = handler.get_import_patterns("os")
    for code in imports:
        assert re.search(pattern, handler.filter_comments(code)), code
    for code in not_imports:
        assert not re.search(pattern, handler.filter_comments(code)), code


def test_builtin_comment_filters_keep_strings_and_lines() -> None:
    assert get_language("python").filter_comments("x = '#1'  # note\ny = 2") == "x = '#1'  \ny = 2"
    cpp = '#include <a>\n/* c\n */ f("//x"); // c'
    assert get_language("cpp").filter_comments(cpp) == '#include <a>\n \n f("//x"); '
    for lang in ("python", "ruby", "r", "javascript", "java", "cpp", "go"):
        handler = type(get_language(lang))
        assert re.compile(handler.get_inline_comment_patterns())
        assert re.compile(handler.get_multiline_comment_patterns())


def test_plot_detection_config_takes_the_reference_fields() -> None:
    from llm_sandbox.language_handlers.base import PlotDetectionConfig, PlotLibrary

    config = PlotDetectionConfig([PlotLibrary.MATPLOTLIB], "setup()", "cleanup()")
    assert config.libraries == [PlotLibrary.MATPLOTLIB]
    assert (config.setup_code, config.cleanup_code) == ("setup()", "cleanup()")
    assert PlotLibrary.MATPLOTLIB in get_language("python").supported_plot_libraries
    assert isinstance(get_language("python"), LanguageHandler)


def test_verify_installation_needs_an_open_session() -> None:
    with warnings.catch_warnings(), pytest.raises(NotOpenSessionError):
        warnings.simplefilter("ignore")
        create_session("docker").verify_installation()

"""The language records and hooks, without an engine."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources

import pytest

from llm_sandbox.exceptions import (
    LanguageNotSupportedError,
    LibraryInstallationNotSupportedError,
    ValidationError,
)
from llm_sandbox.languages import (
    LanguageConfig,
    LanguageHandler,
    LanguageHandlerFactory,
    get_language,
    register_language,
    supported_languages,
    unregister_language,
)

BUILTIN = ["cpp", "go", "java", "javascript", "python", "r", "ruby"]


def test_the_seven_languages_are_registered() -> None:
    assert set(BUILTIN) <= set(supported_languages())
    for name in BUILTIN:
        handler = get_language(name)
        assert handler.name == name
        assert handler.config.default_image == f"llm-sandbox/{name}:latest"


@pytest.mark.parametrize(
    ("alias", "name"),
    [("js", "javascript"), ("node", "javascript"), ("NodeJS", "javascript"), ("c++", "cpp"), ("golang", "go"),
     ("rb", "ruby"), ("R", "r"), ("py", "python")],
)  # fmt: skip
def test_aliases(alias: str, name: str) -> None:
    assert get_language(alias).name == name


def test_unknown_language_names_the_supported_ones() -> None:
    with pytest.raises(LanguageNotSupportedError, match="javascript"):
        get_language("cobol")


@pytest.mark.parametrize(
    ("code", "filename"),
    [
        ("public class Main { public static void main(String[] a) {} }", "Main.java"),
        ("public class Greeter { public static void main(String[] a) {} }", "Greeter.java"),
        ("class Hidden { public static void main(String[] a) {} }", "Hidden.java"),
        ("final class A {}\npublic class B { public static void main(String[] a) {} }", "B.java"),
        ('// public class Comment {}\n/* public class Block {} */\n'
         'class Real { String s = "public class S {}"; }',
         "Real.java"),
        ("import java.util.*;\npublic record Point(int x, int y) {}", "Point.java"),
        ("System.out.println(1);", "Main.java"),
    ],
)  # fmt: skip
def test_java_file_is_named_after_its_public_class(code: str, filename: str) -> None:
    assert get_language("java").source_filename(code) == filename


@pytest.mark.parametrize(
    ("code", "filename"),
    [
        ("console.log(1)", "main.js"),
        ("const fs = require('fs');\nconsole.log(fs)", "main.js"),
        ("import fs from 'fs';\nconsole.log(fs)", "main.mjs"),
        ("import { x } from './x.mjs'", "main.mjs"),
        ("export default 1", "main.mjs"),
        ("const s = 'import x from y';\nconsole.log(s)", "main.js"),
        ("const m = await import('fs')", "main.js"),
    ],
)
def test_javascript_es_modules_get_the_mjs_extension(code: str, filename: str) -> None:
    assert get_language("javascript").source_filename(code) == filename


def test_cpp_toolchain_libraries_need_no_install() -> None:
    cpp = get_language("cpp")
    assert cpp.libraries_to_install(["libstdc++", "libfmt-dev", "pthread"]) == ["libfmt-dev"]


def test_java_refuses_libraries_with_a_reason() -> None:
    with pytest.raises(LibraryInstallationNotSupportedError, match="Maven"):
        get_language("java").get_library_installation_command(["gson"])


@pytest.mark.parametrize(
    ("lang", "mode", "names"),
    [
        ("cpp", "deb", "pkg-one pkg+two"),
        ("r", "r", "pkg.one r-cran-two"),
        ("ruby", "gem", "pkg-one pkg_two==1.0"),
        ("go", "go", "example.com/one example.com/two@v1.0.0"),
    ],
)
def test_install_commands_run_the_installer_script(lang: str, mode: str, names: str) -> None:
    command = get_language(lang).get_library_installation_command(names.split())
    assert command.startswith("sh -c '")
    assert command.endswith(f" llm-sandbox-install {mode} {names}")


def test_npm_install_runs_no_package_scripts() -> None:
    command = get_language("javascript").get_library_installation_command(["lodash"])
    assert "--ignore-scripts" in command and command.endswith(" lodash")


@pytest.mark.parametrize("lang", ["javascript", "cpp", "r", "ruby", "go"])
def test_shell_syntax_in_library_names_is_refused(lang: str) -> None:
    with pytest.raises(ValidationError):
        get_language(lang).get_library_installation_command(["x; rm -rf /"])


def test_only_compiled_languages_execute_from_tmp() -> None:
    assert {name for name in BUILTIN if get_language(name).config.exec_tmp} == {"cpp", "go"}


@pytest.mark.parametrize("lang", BUILTIN)
def test_run_commands_use_the_code_file(lang: str) -> None:
    assert '"$LLM_SANDBOX_FILE"' in get_language(lang).run_command()


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX shell")
def test_runtime_shell_scripts_parse() -> None:
    script = resources.files("llm_sandbox.runtime").joinpath("install.sh").read_text()
    subprocess.run(["sh", "-n", "-c", script], check=True)
    for lang in ("javascript", "cpp", "go"):
        subprocess.run(["sh", "-n", "-c", get_language(lang).run_command()], check=True)


def test_r_plot_capture_is_shipped_and_switched_on_per_run() -> None:
    r = get_language("r")
    assert r.is_support_plot_detection
    profile = r.config.plot_detection.environment["R_PROFILE_USER"]  # type: ignore[union-attr]
    name = profile.rsplit("/", 1)[1]
    assert resources.files("llm_sandbox.runtime").joinpath("r", name).is_file()


def test_a_plugin_language_is_one_record(language_registry: None) -> None:
    register_language(
        LanguageConfig(name="unit-bash", aliases=("ubash",), file_extension="sh",
                       execution_commands=["exec bash {file}"], is_support_library_installation=False)
    )  # fmt: skip
    handler = get_language("UBASH")
    assert handler.name == "unit-bash"
    assert handler.run_command() == 'exec bash "$LLM_SANDBOX_FILE"'
    assert handler.config.default_image == "llm-sandbox/unit-bash:latest"


def test_an_unregistered_language_is_gone_with_its_aliases(language_registry: None) -> None:
    register_language(LanguageConfig(name="unit-gone", aliases=("ugone",), file_extension="x",
                                     execution_commands=["cat {file}"]))  # fmt: skip
    unregister_language("unit-gone")
    assert "unit-gone" not in supported_languages()
    for name in ("unit-gone", "UGONE"):
        with pytest.raises(LanguageNotSupportedError):
            get_language(name)
    with pytest.raises(LanguageNotSupportedError):
        unregister_language("unit-gone")
    assert get_language("python").name == "python"  # the others stay


def test_the_reference_factory_registers_a_handler_class(language_registry: None) -> None:
    class Shout(LanguageHandler):
        def source_filename(self, code: str) -> str:
            return "SHOUT.sh"

    config = LanguageConfig(name="x", file_extension="sh", execution_commands=["sh {file}"])
    LanguageHandlerFactory.register_handler("unit-shout", Shout, config)
    handler = LanguageHandlerFactory.create_handler("unit-shout")
    assert isinstance(handler, Shout) and handler.name == "unit-shout"
    assert handler.source_filename("") == "SHOUT.sh"

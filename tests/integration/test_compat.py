"""Code written for the reference API (``llm-sandbox``) on real engines: ``session.container``, the
reference's signatures, ``verify_installation``, ``mounts=`` and a plugin handler in the reference's style."""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.models.containers
import docker.types
import pytest

from llm_sandbox import ArtifactSandboxSession, FileType
from llm_sandbox.exceptions import CommandFailedError, SecurityViolationError
from llm_sandbox.language_handlers.base import AbstractLanguageHandler, LanguageConfig, PlotDetectionConfig
from llm_sandbox.language_handlers.factory import LanguageHandlerFactory
from llm_sandbox.languages import register_language
from llm_sandbox.security import RestrictedModule, SecurityIssueSeverity, SecurityPolicy
from llm_sandbox.sessions import Session

pytestmark = pytest.mark.integration

# A 1x1 PNG, written by the plot code the handler below injects.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_container_is_the_docker_sdk_object_of_the_sandbox(make_session: Callable[..., Session]) -> None:
    session = make_session()
    container = session.container
    assert isinstance(container, docker.models.containers.Container)
    assert container.id == session.container_id and container.status == "running"
    session.close()
    assert session.container is None


def test_execute_commands_streams_and_takes_a_workdir_per_command(make_session: Callable[..., Session]) -> None:
    session = make_session()
    seen: list[str] = []
    output = session.execute_commands(["echo one", ("pwd", "/tmp"), "false", "echo never"], on_stdout=seen.append)
    assert "".join(seen) == "one\n/tmp\n"
    assert output.exit_code == 1  # stopped at the first failure


def test_verify_installation_runs_the_languages_toolchain(
    make_session: Callable[..., Session], language_registry: None
) -> None:
    assert make_session().verify_installation().stdout.startswith("Python 3.")
    register_language(LanguageConfig(name="it-broken", file_extension="x", execution_commands=["cat {file}"],
                                     image="llm-sandbox/python:latest", version_command="no-such-tool --version",
                                     is_support_library_installation=False))  # fmt: skip
    with pytest.raises(CommandFailedError, match=r"^Command no-such-tool --version failed with exit code 127:"):
        make_session(lang="it-broken").verify_installation()


def test_mounts_reach_the_sandbox(make_session: Callable[..., Session], tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("from the host\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(tmp_path / "data.txt", 0o644)
    mount = docker.types.Mount("/data", str(tmp_path), type="bind", read_only=True)
    session = make_session(mounts=[mount])
    assert session.execute_command("cat /data/data.txt").stdout == "from the host\n"
    assert session.execute_command("touch /data/new").exit_code != 0  # read-only, as asked


def test_artifact_run_takes_the_reference_positional_order(python_image: str) -> None:
    seen: list[str] = []
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nprint('drawn')"
    with ArtifactSandboxSession(lang="python") as session:
        result = session.run(code, None, None, True, seen.append)  # code, libraries, timeout, clear_plots, on_stdout
    assert "".join(seen) == "drawn\n" == result.stdout
    assert [plot.format for plot in result.plots] == [FileType.PNG]


class PixelHandler(AbstractLanguageHandler):
    """A plugin in the reference API's style: it sets its own record, injects plot code and lets the base
    class extract the plot files from the plot directory."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger)
        setup = (
            "import base64, os\n"
            "def save_plot(name):\n"
            "    os.makedirs('/tmp/sandbox_plots', exist_ok=True)\n"
            f"    open('/tmp/sandbox_plots/' + name, 'wb').write(base64.b64decode({base64.b64encode(PIXEL)!r}))\n"
        )
        self.config = LanguageConfig(
            name="it-pixel",
            file_extension="py",
            execution_commands=["python3 {file}"],
            package_manager=None,
            is_support_library_installation=False,
            plot_detection=PlotDetectionConfig(libraries=[], setup_code=setup, cleanup_code=""),
            image="llm-sandbox/python:latest",
        )

    def inject_plot_detection_code(self, code: str) -> str:
        assert self.config.plot_detection is not None
        return self.config.plot_detection.setup_code + code

    def get_import_patterns(self, module: str) -> str:
        return r"\bimport\s+" + re.escape(module) + r"\b"

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r"(?!)"

    @staticmethod
    def get_inline_comment_patterns() -> str:
        return r"#.*$"


def test_a_reference_style_plugin_injects_extracts_and_checks_imports(
    python_image: str, no_leaks: Any, language_registry: None
) -> None:
    LanguageHandlerFactory.register_handler("it-pixel", PixelHandler)
    seen: list[str] = []
    with ArtifactSandboxSession(lang="it-pixel") as session:
        result = session.run("save_plot('a.png')\nsave_plot('b.png')\nprint('saved')", on_stdout=seen.append)
        assert result.exit_code == 0, result.stderr
        assert "".join(seen) == "saved\n"
        assert [(plot.format, base64.b64decode(plot.content_base64)) for plot in result.plots] == [
            (FileType.PNG, PIXEL), (FileType.PNG, PIXEL)
        ]
        assert session.run("print('no plot')").plots == []  # each run returns its own plots
    with ArtifactSandboxSession(lang="it-pixel", enable_plotting=False) as session:
        assert "NameError" in session.run("save_plot('c.png')").stderr  # nothing injected
    policy = SecurityPolicy(
        restricted_modules=[RestrictedModule(name="socket", description="network", severity=SecurityIssueSeverity.HIGH)]
    )
    with ArtifactSandboxSession(lang="it-pixel", security_policy=policy) as session:
        assert session.run("# import socket\nprint(1)").stdout == "1\n"
        with pytest.raises(SecurityViolationError, match="socket"):
            session.run("import socket")


def test_the_reference_plugin_example_runs(docker_client: Any) -> None:
    from llm_sandbox.images import builder

    builder.ensure_image("cpp", docker_client)
    root = Path(__file__).resolve().parents[2]
    environment = {**os.environ, "PYTHONPATH": str(root / "toolkit")}
    done = subprocess.run([sys.executable, str(root / "examples" / "reference_plugin.py")], env=environment,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("line 1\nline 2\nline 3\nbash ")
    assert "\nfine\n" in done.stdout and "restricted module 'secrets.sh'" in done.stdout

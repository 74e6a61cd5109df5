"""The image builder against the real engine: the Python image, no needless rebuilds, stale images, errors."""

from __future__ import annotations

import io
import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox.exceptions import ImageBuildError
from llm_sandbox.images import builder
from llm_sandbox.images.progress import Progress

pytestmark = pytest.mark.integration

LOCKED_DOWN = {
    "remove": True,
    "read_only": True,
    "tmpfs": {"/tmp": "size=64m"},
    "network_mode": "none",
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}


def run(client: Any, image: str, script: str) -> str:
    """Run a shell script in a locked-down container (as the image's own user) and return its output."""
    output = client.containers.run(image, ["sh", "-c", script], stderr=True, **LOCKED_DOWN)
    return output.decode().strip()


def image_id(client: Any, name: str) -> str:
    return str(client.api.inspect_image(name)["Id"])


class Recorder(Progress):
    """A progress display that remembers which tasks started."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), tty=False)
        self.started: list[str] = []

    def start(self, task: str, message: str) -> None:
        self.started.append(task)
        super().start(task, message)


def test_python_image_runs_as_the_sandbox_user(docker_client: Any, python_image: str) -> None:
    out = run(
        docker_client,
        python_image,
        "id -u; id -g; echo $HOME; pwd; stat -c %u:%g /sandbox /opt/sandbox-packages; ls /opt/llm-sandbox",
    )
    lines = out.splitlines()
    assert lines[:4] == ["1000", "1000", "/home/sandbox", "/sandbox"]
    assert lines[4:6] == ["1000:1000", "1000:1000"]
    assert "llm_sandbox_mpl.py" in lines[6:]


def test_scientific_stack_imports_on_a_read_only_rootfs(docker_client: Any, python_image: str) -> None:
    code = (
        "import sys, numpy, pandas, matplotlib, seaborn, plotly\n"
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3]); plt.savefig('/tmp/plot.png')\n"
        "print(sys.version_info[:2], matplotlib.get_backend(), numpy.__name__, pandas.__name__)\n"
    )
    out = run(docker_client, python_image, f'python3 -c "{code}" && test -s /tmp/plot.png && echo saved')
    assert "(3, 11) agg numpy pandas" in out.lower()
    assert out.endswith("saved")


def test_second_ensure_image_does_not_rebuild(docker_client: Any, python_image: str) -> None:
    before = image_id(docker_client, python_image)
    recorder = Recorder()
    assert builder.ensure_image("python", docker_client, progress=recorder) == python_image
    assert builder.build_image("python", docker_client, progress=recorder) == python_image
    assert recorder.started == []
    assert image_id(docker_client, python_image) == before
    status = builder.image_status("python", docker_client)
    assert status.present and status.current


# --- a throw-away language, to see staleness and failures --------------------------------------------
@pytest.fixture
def scratch_lang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_client: Any) -> Iterator[str]:
    lang = f"itest-{uuid.uuid4().hex[:8]}"
    (tmp_path / "images" / lang).mkdir(parents=True)
    (tmp_path / "runtime" / lang).mkdir(parents=True)
    (tmp_path / "runtime" / lang / "hello.txt").write_text("from the runtime\n")
    monkeypatch.setattr(builder, "IMAGES_DIR", tmp_path / "images")
    monkeypatch.setattr(builder, "RUNTIME_DIR", tmp_path / "runtime")
    yield lang
    for image in docker_client.api.images(filters={"label": f"{builder.LANG_LABEL}={lang}"}):
        docker_client.api.remove_image(image["Id"], force=True)
    for lock in Path(tempfile.gettempdir()).glob(f"llm-sandbox-build-*{lang}*.lock"):
        lock.unlink(missing_ok=True)


def write_dockerfile(lang: str, *lines: str) -> None:
    head = ["ARG BASE_IMAGE", "FROM ${BASE_IMAGE}", "COPY runtime/ /opt/llm-sandbox/"]
    (builder.IMAGES_DIR / lang / "Dockerfile").write_text("\n".join([*head, *lines]) + "\n")


def test_changed_dockerfile_makes_ensure_image_rebuild(docker_client: Any, scratch_lang: str) -> None:
    write_dockerfile(scratch_lang, "RUN echo one > /version")
    name = builder.ensure_image(scratch_lang, docker_client, progress=False)
    assert name == f"llm-sandbox/{scratch_lang}:latest"
    first = docker_client.api.inspect_image(name)
    assert first["Config"]["Labels"][builder.LANG_LABEL] == scratch_lang
    assert run(docker_client, name, "cat /version /opt/llm-sandbox/hello.txt") == "one\nfrom the runtime"

    recorder = Recorder()
    builder.ensure_image(scratch_lang, docker_client, progress=recorder)
    assert recorder.started == []

    write_dockerfile(scratch_lang, "RUN echo two > /version")
    assert not builder.image_status(scratch_lang, docker_client).current
    builder.ensure_image(scratch_lang, docker_client, progress=recorder)
    assert recorder.started == [scratch_lang]
    second = docker_client.api.inspect_image(name)
    assert second["Config"]["Labels"][builder.HASH_LABEL] != first["Config"]["Labels"][builder.HASH_LABEL]
    assert run(docker_client, name, "cat /version") == "two"
    with pytest.raises(Exception, match=r"No such image|not found"):  # the replaced image was removed
        docker_client.api.inspect_image(first["Id"])


def test_build_failure_names_the_step_and_shows_the_output(docker_client: Any, scratch_lang: str) -> None:
    write_dockerfile(scratch_lang, "RUN echo first-line && echo 'it broke here' >&2 && exit 3")
    with pytest.raises(ImageBuildError) as caught:
        builder.build_image(scratch_lang, docker_client, progress=False)
    message = str(caught.value)
    assert re.search(r"failed at Step 4/\d+ : RUN echo first-line", message), message
    assert "it broke here" in message and "returned a non-zero code: 3" in message


def test_progress_off_a_terminal_is_one_line_per_start_and_finish(
    docker_client: Any, scratch_lang: str
) -> None:
    write_dockerfile(scratch_lang, "RUN echo built")
    out = io.StringIO()
    builder.build_image(scratch_lang, docker_client, progress=Progress(out, tty=False))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == f"llm-sandbox: building llm-sandbox/{scratch_lang}:latest"
    assert lines[1].startswith(f"llm-sandbox: built llm-sandbox/{scratch_lang}:latest (")


# --- every shipped image keeps the contract ----------------------------------------------------------
VERSION_COMMAND = {
    "python": "python3 --version",
    "javascript": "node --version && npm --version",
    "java": "java -version 2>&1 | head -1",
    "cpp": "g++ --version | head -1",
    "go": "go version",
    "ruby": "ruby --version",
    "r": "Rscript -e 'library(ggplot2); cat(R.version.string, fill = TRUE)'",
}


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(VERSION_COMMAND))
def test_image_contract(docker_client: Any, lang: str) -> None:
    name = builder.ensure_image(lang, docker_client, progress=False)
    out = run(
        docker_client,
        name,
        "id -u; id -g; echo $HOME; echo $LANG; stat -c %u:%g /sandbox /opt/sandbox-packages; "
        "test -d /opt/llm-sandbox && echo runtime-dir; for t in sh tar find head setsid; do "
        "command -v $t >/dev/null || echo missing $t; done; " + VERSION_COMMAND[lang],
    )
    lines = out.splitlines()
    assert lines[:7] == ["1000", "1000", "/home/sandbox", "C.UTF-8", "1000:1000", "1000:1000", "runtime-dir"]
    assert not any(line.startswith("missing") for line in lines), out
    assert len(lines) > 7, out
    labels = docker_client.api.inspect_image(name)["Config"]["Labels"]
    assert labels[builder.LANG_LABEL] == lang and len(labels[builder.HASH_LABEL]) == 64

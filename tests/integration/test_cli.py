"""The ``llm-sandbox`` command, run as a real process: ``run`` and ``gc``.

``gc --all`` removes the sandboxes of every owner, so it is never run against the engines shared
with other test runs: it runs against a throwaway Podman service of its own (own storage, own
socket), started and stopped by the test. On the shared engines only ``--all --dry-run`` runs.
"""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from llm_sandbox.contract import OWNER_LABEL, SESSION_LABEL, owner_label
from tests.handshake import RELEASE, wait_for_release
from tests.integration.conftest import owned
from tests.process import Program
from tests.waits import GENEROUS, eventually

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "llm_sandbox.cli"]


# run ----------------------------------------------------------------------------------------
def test_run_streams_a_file_and_exits_with_its_code(
    tmp_path: Path, docker_client: Any, python_image: str, start_program: Callable[..., Program]
) -> None:
    """The code waits for a release the test sends only after the command printed its first line."""
    job = tmp_path / "job.py"
    job.write_text(
        f"import sys\nprint('first', flush=True)\n{wait_for_release()}"
        "print('second')\nprint('to stderr', file=sys.stderr)\nsys.exit(3)\n"
    )
    cli = start_program(argv=[*CLI, "run", str(job)])
    cli.wait_for("first")
    [sandbox] = docker_client.containers.list(filters={"label": f"{OWNER_LABEL}={cli.owner}"})
    assert sandbox.exec_run(["touch", RELEASE], user="1000").exit_code == 0
    assert cli.finish() == 3, cli.text()
    assert sorted(cli.text().splitlines()) == ["first", "second", "to stderr"]
    assert not owned(docker_client, cli.owner)


def test_run_reads_standard_input_in_the_language_asked_for(
    docker_client: Any, start_program: Callable[..., Program]
) -> None:
    cli = start_program(argv=[*CLI, "run", "--lang", "javascript", "-"])
    cli.answer("console.log(6 * 7)\n")
    assert cli.finish() == 0, cli.text()
    assert cli.text() == "42\n"
    assert not owned(docker_client, cli.owner)


def test_run_timeout_is_an_error_naming_it(docker_client: Any, start_program: Callable[..., Program]) -> None:
    cli = start_program(argv=[*CLI, "run", "--timeout", "2", "-"])
    cli.answer("import time\ntime.sleep(600)\n")
    assert cli.finish() == 1, cli.text()
    assert "llm-sandbox: error:" in cli.text() and "timeout of 2s" in cli.text()
    assert not owned(docker_client, cli.owner)


# gc on the shared engines: only what this test's processes own is removed ---------------------
LEFT_RUNNING = """
import sys
from llm_sandbox import create_session
session = create_session({backend!r}, lang="python").open()
print("opened", flush=True)
sys.stdin.read()
"""


def gc(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """``llm-sandbox gc ARGS``: its output lines (it must succeed)."""
    command = Program(argv=[*CLI, "gc", *args], env=env)
    command.answer()
    assert command.finish() == 0, command.text()
    return command.text().splitlines()


def test_gc_removes_the_sandboxes_of_a_killed_process_only(
    backend_name: str, engine_client: Any, make_session: Any, start_program: Callable[..., Program]
) -> None:
    live = make_session()  # a sandbox of this (living) test process
    mine = owned(engine_client)
    killed = start_program(LEFT_RUNNING.format(backend=backend_name))
    killed.wait_for("opened")
    killed.send(signal.SIGKILL)  # no atexit, no cleanup: an orphan
    assert killed.finish() == -signal.SIGKILL
    orphans = owned(engine_client, killed.owner)
    assert {entry.split()[0] for entry in orphans} == {"container", "volume"}

    listed = gc("--dry-run", "--backend", backend_name)
    for entry in orphans:
        kind, name = entry.split()
        assert any(line.startswith(f"would remove {kind} {name[:12]}") for line in listed), (entry, listed)
    assert owned(engine_client, killed.owner) == orphans  # a dry run removes nothing
    assert not any(f"container {live.container_id[:12]}" in line for line in listed)

    everything = gc("--all", "--dry-run", "--backend", backend_name)
    assert any(f"would remove container {live.container_id[:24]}" == line for line in everything)

    removed = gc("--backend", backend_name)
    assert sum(line.startswith("removed ") for line in removed) >= len(orphans)
    assert not owned(engine_client, killed.owner)
    assert owned(engine_client) == mine  # this process's sandboxes stay
    assert live.run("print('alive')").stdout == "alive\n"


# gc --all on a throwaway Podman service -------------------------------------------------------
@pytest.fixture
def throwaway_podman() -> Iterator[tuple[Any, str]]:
    """A Podman service with its own storage and socket: nobody else's sandboxes are there."""
    binary = shutil.which("podman")
    if binary is None:
        pytest.skip("podman is not installed (scripts/setup-podman.sh installs it)")
    home = Path(tempfile.mkdtemp(prefix="llm-sbx-gc-"))  # short: a Unix socket path has at most 107 bytes
    url = f"unix://{home}/podman.sock"
    storage = ["--root", home / "root", "--runroot", home / "run", "--tmpdir", home / "tmp",
               "--volumepath", home / "volumes", "--storage-driver", "vfs"]  # fmt: skip
    service = subprocess.Popen(
        [binary, *map(str, storage), "system", "service", "--time=0", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = docker.DockerClient(base_url=url, version="1.41")
        eventually(lambda: _answers(client), "the throwaway Podman service answering")
        yield client, url
        client.close()
    finally:
        service.terminate()
        service.wait(GENEROUS)
        shutil.rmtree(home)


def _answers(client: Any) -> bool:
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False


def test_gc_all_removes_every_sandbox_even_of_live_processes(throwaway_podman: tuple[Any, str]) -> None:
    client, url = throwaway_podman
    client.api.import_image(src=_empty_rootfs(), repository="llm-sandbox-test/gc")
    [image] = client.images.list()
    live = {SESSION_LABEL: uuid.uuid4().hex[:16], OWNER_LABEL: owner_label()}  # this test process: alive
    sandbox = client.api.create_container(image.id, ["/true"], labels=live)["Id"]
    volume = client.api.create_volume("llm-sandbox-gc-test-packages", labels=live)["Name"]
    other = client.api.create_container(image.id, ["/true"], labels={"not": "a sandbox"})["Id"]

    assert gc("--backend", "podman", env={"CONTAINER_HOST": url}) == ["nothing to remove"]  # its owner lives
    removed = gc("--all", "--backend", "podman", env={"CONTAINER_HOST": url})
    assert removed == [f"removed container {sandbox[:24]}", f"removed volume {volume[:24]}"]
    assert [c["Id"] for c in client.api.containers(all=True)] == [other]  # not a sandbox: not touched
    assert not client.api.volumes().get("Volumes")


def _empty_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.addfile(tarfile.TarInfo("marker"), io.BytesIO(b""))
    return buffer.getvalue()

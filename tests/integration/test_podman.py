"""Podman-specific behaviour on a real Podman service.

The behaviour suite itself (``test_session.py``) runs on Podman through the
``backend_name`` parametrisation of ``conftest.py``; this module checks what is
Podman's own: the client and connection, images loaded from Docker, the
container as Podman created it, attach, and no leftovers. The exec-with-stdin
checks at the end run on both engines (they share ``DockerEngine.exec``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import create_session
from llm_sandbox.contract import KEEPER_COMMAND, OWNER_LABEL, SESSION_LABEL, owner_label
from llm_sandbox.engines import podman
from llm_sandbox.engines.base import ContainerSpec, ExecDeadlineExceeded
from llm_sandbox.engines.docker import DockerEngine
from llm_sandbox.exceptions import ContainerError, ImageNotFoundError, ValidationError
from llm_sandbox.sessions import SandboxDockerSession, SandboxPodmanSession
from tests.integration.test_session import SURVIVOR, check_kills_spare_the_containers_own_processes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def podman_url(podman_client: Any) -> str:
    return podman.service_url()


@pytest.fixture(scope="module")
def podman_image(podman_client: Any, python_image: str) -> str:
    return podman.ensure_image_loaded(python_image, podman_client)


# connection --------------------------------------------------------------------------------
def test_podman_client_is_accepted(podman_image: str, podman_url: str, podman_client: Any, docker_client: Any,
                                   no_leaks: None) -> None:  # fmt: skip
    pytest.importorskip("podman")
    from podman import PodmanClient

    client = PodmanClient(base_url=podman_url)
    with SandboxPodmanSession(client=client, lang="python") as session:
        assert isinstance(session, SandboxDockerSession)
        assert session.run("print('hello from podman')").stdout == "hello from podman\n"
        container_id = session.container_id
        assert podman_client.api.inspect_container(container_id)["State"]["Running"]
        import docker.errors

        with pytest.raises(docker.errors.NotFound):  # it lives in Podman, not in Docker
            docker_client.api.inspect_container(container_id)
    with create_session("podman", client=client, lang="python") as session:
        assert session.execute_command("echo via create_session").stdout == "via create_session\n"


def test_container_host_selects_the_service(podman_image: str, podman_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("CONTAINER_HOST", podman_url)
    with create_session("podman", lang="python") as session:
        assert session.run("print(6 * 7)").stdout == "42\n"

    monkeypatch.setenv("CONTAINER_HOST", "unix:///nonexistent/podman.sock")
    with pytest.raises(ContainerError, match=r"setup-podman\.sh"):
        create_session("podman", lang="python").open()
    assert not podman.service_available()

    monkeypatch.setenv("CONTAINER_HOST", "ssh://core@example.invalid/run/podman/podman.sock")
    with pytest.raises(ValidationError, match="ssh"):
        create_session("podman", lang="python").open()


def test_client_urls() -> None:
    pytest.importorskip("podman")
    from podman import PodmanClient

    assert podman.service_url(PodmanClient(base_url="unix:///run/x/podman.sock")) == "unix:///run/x/podman.sock"
    assert podman.service_url(PodmanClient(base_url="tcp://127.0.0.1:8888")) == "http://127.0.0.1:8888"
    with pytest.raises(ValidationError, match="PodmanClient"):
        podman.service_url(object())


def test_tmpfs_owner_becomes_podmans_u_option() -> None:
    convert = podman._podman_tmpfs
    assert convert("size=1m,uid=1000,gid=1000,mode=1777", "1000:1000", "/tmp") == "size=1m,mode=1777,U"
    assert convert("size=1m", "1000:1000", "/tmp") == "size=1m"
    # another owner than the container's user (PID 1 runs as root): world-writable, sticky
    assert convert("size=1m,uid=1000,gid=1000,mode=0755", "0:0", "/sandbox") == "size=1m,mode=1777,notmpcopyup"


# the container as Podman made it -------------------------------------------------------------
def test_secure_defaults_as_created(podman_image: str, podman_client: Any, no_leaks: None) -> None:
    with create_session("podman", lang="python") as session:
        info = podman_client.api.inspect_container(session.container_id)
        host = info["HostConfig"]
        assert info["Config"]["User"] == "0:0"  # PID 1 only (the keeper, CAP_KILL alone); code runs as 1000
        assert host["ReadonlyRootfs"] is True
        assert host["NetworkMode"] == "none"
        assert "no-new-privileges" in host["SecurityOpt"]
        assert (host["PidsLimit"], host["Memory"], host["NanoCpus"]) == (256, 1 << 30, 1_000_000_000)
        assert info["Config"]["Labels"][SESSION_LABEL] == session.session_id

        probe = session.execute_command(
            "grep CapEff /proc/self/status; stat -c '%u %a' /sandbox /tmp; touch /var/tmp/x 2>&1; touch /run/x 2>&1"
        )
        lines = probe.stdout.splitlines()
        assert lines[0].split()[1] == "0000000000000000"
        keeper = session.execute_command("grep CapEff /proc/1/status").stdout.split()
        assert keeper[1] == "0000000000000020"  # CAP_KILL alone
        assert lines[1:3] == ["0 1777", "0 1777"]  # Podman cannot chown a tmpfs to uid 1000: sticky, world-writable
        assert "Read-only file system" in lines[3]  # Podman's --read-only-tmpfs /var/tmp is not there
        assert "Permission denied" in lines[4] or "Read-only" in lines[4]


def test_attach_to_a_container_made_with_podman_client(podman_image: str, podman_url: str, no_leaks: None) -> None:
    from podman import PodmanClient

    client = PodmanClient(base_url=podman_url)
    container = client.containers.create(
        podman_image, ["sleep", "300"], user="1000", network_mode="none", labels={"test": "attach"}
    )
    try:
        container.start()
        container.exec_run(SURVIVOR.split(), user="1000", detach=True)

        def processes() -> str:
            _, (out, _) = container.exec_run(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"], demux=True)
            return (out or b"").decode()

        with create_session("podman", client=client, container_id=container.id, lang="python") as session:
            check_kills_spare_the_containers_own_processes(session, processes)
        container.reload()
        assert container.status == "running"
        assert SURVIVOR in processes()
    finally:
        container.remove(force=True)


def test_dockerfile_template_and_commit_on_podman(podman_image: str, podman_client: Any, tmp_path: Path,
                                                   no_leaks: None) -> None:  # fmt: skip
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {podman_image}\nENV TEMPLATE_MARK={uuid.uuid4().hex}\n")
    with create_session("podman", dockerfile=str(dockerfile), lang="python") as session:
        assert session.run("import os; print(os.environ['TEMPLATE_MARK'])").exit_code == 0
        template = session._built_template
    assert template and podman._image_id(podman_client, template) is None  # built by Podman, removed again

    with create_session("podman", lang="python", commit_container=True) as session:
        session.run("open('state.txt', 'w').write('kept')")
    image = session.committed_image
    assert image
    try:
        with create_session("podman", lang="python", image=image) as restored:
            assert restored.run("print(open('state.txt').read())").stdout == "kept\n"
    finally:
        podman_client.api.remove_image(image)


# images ------------------------------------------------------------------------------------
def _tiny_rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"llm-sandbox podman load test\n"
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_images_are_loaded_from_docker_and_kept_in_sync(podman_client: Any, docker_client: Any, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(_tiny_rootfs())
    image = f"llm-sandbox-test/load:{uuid.uuid4().hex[:8]}"
    repository, tag = image.split(":")
    try:
        docker_client.api.import_image(src=str(rootfs), repository=repository, tag=tag, changes=["LABEL v=1"])
        first = docker_client.api.inspect_image(image)["Id"]
        assert not podman._image_id(podman_client, image)

        assert podman.ensure_image_loaded(image, podman_client, docker_client) == image
        assert "sha256:" + str(podman._image_id(podman_client, image)) == first  # same image, same id

        docker_client.api.import_image(src=str(rootfs), repository=repository, tag=tag, changes=["LABEL v=2"])
        second = docker_client.api.inspect_image(image)["Id"]
        podman.ensure_image_loaded(image, podman_client, docker_client)
        assert "sha256:" + str(podman._image_id(podman_client, image)) == second
        assert podman._image_id(podman_client, first) is None  # the replaced version is gone
        docker_client.api.remove_image(first, force=True)
    finally:
        for client in (docker_client, podman_client):
            with contextlib.suppress(Exception):
                client.api.remove_image(image, force=True)

    with pytest.raises(ImageNotFoundError) as caught:
        podman.ensure_image_loaded(image, podman_client, docker_client)
    assert "python -m llm_sandbox.engines.podman load" in str(caught.value)
    assert "docker save" in str(caught.value)


@pytest.mark.slow
def test_session_loads_its_missing_default_image_from_docker(
    podman_client: Any, docker_client: Any, python_image: str, language_registry: None, no_leaks: None
) -> None:
    """A language whose default image only Docker has: the Podman session loads it by itself.

    The image is a tag of its own, so no other test's (or engineer's) Podman containers lose theirs.
    """
    from llm_sandbox.languages import get_language, register_language

    name = f"podman-load-{uuid.uuid4().hex[:8]}"
    image = f"llm-sandbox-test/{name}:latest"
    register_language(dataclasses.replace(get_language("python").config, name=name, aliases=(), image=image))
    docker_client.images.get(python_image).tag(image)
    try:
        assert podman._image_id(podman_client, image) is None
        with create_session("podman", lang=name) as session:
            assert session.run("print('loaded')").stdout == "loaded\n"
        assert podman._image_id(podman_client, image) is not None
    finally:
        for client in (docker_client, podman_client):
            with contextlib.suppress(Exception):
                client.api.remove_image(image)


def test_cli(podman_image: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert podman.main(["socket"]) == 0
    assert capsys.readouterr().out.strip() == podman.service_url()
    assert podman.main(["load", podman_image]) == 0
    assert podman.main(["load", "llm-sandbox-test/never-built:1"]) == 1
    assert "never-built" in capsys.readouterr().err
    assert podman.main([]) == 2


# exec with stdin, on both engines (DockerEngine.exec is Podman's too) -----------------------
@pytest.fixture
def raw_container(backend_name: str, python_image: str) -> Iterator[tuple[Any, str]]:
    """A bare container made by the engine itself, on each engine under test."""
    backend = podman.PodmanEngine() if backend_name == "podman" else DockerEngine()
    spec = ContainerSpec(
        image=python_image, command=list(KEEPER_COMMAND),
        labels={SESSION_LABEL: "stdin-test", OWNER_LABEL: owner_label()},
        options={"user": "1000:1000", "network_mode": "none"},
    )  # fmt: skip
    container_id = backend.create(spec)
    try:
        yield backend, container_id
    finally:
        backend.remove(container_id)


def _exec(backend: Any, container_id: str, script: str, stdin: bytes, seconds: float = 120) -> tuple[int, bytes]:
    """Run ``script`` with ``stdin``; the deadline only turns a hang into a failure unless a test sets it."""
    out: list[bytes] = []
    code = backend.exec(container_id, ["sh", "-c", script], stdin=stdin,
                        on_output=lambda stream, data: out.append(data) if stream == 1 else None,
                        deadline=time.monotonic() + seconds)  # fmt: skip
    return code, b"".join(out)


def test_stdin_is_written_while_output_is_read(raw_container: tuple[Any, str]) -> None:
    """A process that writes a lot before reading its input must not deadlock the exec."""
    backend, container_id = raw_container
    data = os.urandom(5_000_000)
    code, out = _exec(backend, container_id, "head -c 3000000 /dev/zero; head -c 5000000 | wc -c", data)
    assert code == 0
    assert len(out) == 3_000_000 + len(b"5000000\n") and out.endswith(b"5000000\n")


def test_process_that_ignores_its_stdin_still_reports_its_exit_code(raw_container: tuple[Any, str]) -> None:
    backend, container_id = raw_container
    for size in (30, 5_000_000):
        assert _exec(backend, container_id, "exit 3", b"x" * size)[0] == 3  # a hang would hit the deadline


def test_deadline_applies_while_stdin_is_pending(raw_container: tuple[Any, str]) -> None:
    backend, container_id = raw_container
    with pytest.raises(ExecDeadlineExceeded):  # without it, the exec would wait for the 10-minute sleep
        _exec(backend, container_id, "sleep 600", b"x" * 5_000_000, seconds=1.5)


def test_copy_to_a_read_only_path_reports_the_command_failure(make_session: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5_000_000))
    session = make_session()
    with pytest.raises(ContainerError, match=r"failed \(exit 1\)"):
        session.copy_to_runtime(str(big), "/usr/lib/not-writable/big.bin")
    assert session.run("print('still fine')").stdout == "still fine\n"

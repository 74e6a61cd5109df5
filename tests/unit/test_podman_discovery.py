"""Where the Podman backend looks for the service, in the documented order (real Unix sockets, no engine)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_sandbox.engines import podman

SYSTEM_SOCKET = "/run/podman/podman.sock"


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """The setup script's socket and the user's runtime-dir socket, moved under tmp_path (nothing listens yet)."""
    setup = tmp_path / "setup" / "podman.sock"
    user = tmp_path / "runtime" / "podman" / "podman.sock"
    monkeypatch.setattr(podman, "SETUP_SOCKET", str(setup))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    listening: list[socket.socket] = []

    def listen(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        listening.append(server)

    yield {"setup": setup, "user": user, "listen": listen}  # type: ignore[dict-item]
    for server in listening:
        server.close()


def test_the_sockets_are_tried_in_the_documented_order(places: dict) -> None:
    assert podman.default_sockets() == [str(places["setup"]), SYSTEM_SOCKET, str(places["user"])]


def test_the_first_existing_socket_is_used(places: dict) -> None:
    system = Path(SYSTEM_SOCKET).is_socket()  # a rootful system service of this machine, if any, is second
    nothing = SYSTEM_SOCKET if system else places["setup"]  # else the setup script's, named in errors
    assert podman.service_url() == f"unix://{nothing}"
    places["setup"].parent.mkdir(parents=True)
    places["setup"].write_text("not a socket")  # a stale file is not a service
    places["listen"](places["user"])
    assert podman.service_url() == f"unix://{SYSTEM_SOCKET if system else places['user']}"
    places["setup"].unlink()
    places["listen"](places["setup"])
    assert podman.service_url() == f"unix://{places['setup']}"


def test_container_host_and_a_client_come_before_the_sockets(places: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from podman import PodmanClient

    places["listen"](places["setup"])
    monkeypatch.setenv("CONTAINER_HOST", "/run/elsewhere/podman.sock")
    assert podman.service_url() == "unix:///run/elsewhere/podman.sock"
    client = PodmanClient(base_url="unix:///run/client/podman.sock")
    assert podman.service_url(client) == "unix:///run/client/podman.sock"

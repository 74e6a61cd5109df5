"""Integration fixtures: real engines, real images, and one check that nothing is left behind.

A missing engine or image skips outside CI (with the command that provides it) and fails in CI
(see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# LangGraph checkpoints refuse unregistered types in strict mode, as they will by default: every agent test
# runs that way (read when LangGraph is imported, so set before any test module imports it).
os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

from llm_sandbox import create_session
from llm_sandbox.contract import OWNER_LABEL, SESSION_LABEL, owner_label
from llm_sandbox.sessions import Session
from tests.process import Program
from tests.waits import eventually

BACKENDS = [name for name in os.environ.get("LLM_SANDBOX_TEST_BACKENDS", "docker,podman").split(",") if name]
PODMAN_MISSING = "no Podman service answers (run scripts/setup-podman.sh, or set CONTAINER_HOST)"


@pytest.fixture(scope="session")
def docker_client() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # the suite needs a real engine; say so instead of failing obscurely
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/setup.sh")
    return client


@pytest.fixture(scope="session")
def python_image(docker_client: Any) -> str:
    from llm_sandbox.images import builder

    return builder.ensure_image("python", docker_client)


@pytest.fixture(scope="session")
def podman_client(python_image: str) -> Iterator[Any]:
    """A docker-py client on the Podman service (to look at what the library created), with the Python image."""
    from llm_sandbox.engines import podman

    if not podman.service_available():
        pytest.skip(PODMAN_MISSING)
    client = podman.connect()
    podman.ensure_image_loaded(python_image, client)
    yield client
    client.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest, python_image: str) -> str:
    name = str(request.param)
    if name == "podman":
        request.getfixturevalue("podman_client")
    return name


@pytest.fixture
def engine_client(backend_name: str, request: pytest.FixtureRequest) -> Any:
    """A docker-py client on the engine under test (Docker's, or Podman's compatible API)."""
    return request.getfixturevalue(f"{backend_name}_client")


def owned(client: Any, owner: str | None = None) -> set[str]:
    """The sandbox containers and volumes on an engine created by this test process (or by ``owner``).

    Other processes' sandboxes (other engineers' test runs on a shared machine) are not ours to judge.
    One label per query: Podman 4.3 matches volumes having *any* of several labels asked for.
    """
    mine = {"label": f"{OWNER_LABEL}={owner or owner_label()}"}
    containers = [c["Id"] for c in client.api.containers(all=True, filters=mine) if SESSION_LABEL in c["Labels"]]
    volumes = [v["Name"] for v in client.api.volumes(filters=mine).get("Volumes") or [] if SESSION_LABEL in v["Labels"]]
    return {f"container {c[:12]}" for c in containers} | {f"volume {v}" for v in volumes}


@pytest.fixture
def no_leaks(docker_client: Any, request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test if it leaves a sandbox container or volume behind, on Docker or Podman.

    Both engines are checked whatever the test used (Podman only when it answers outside CI).
    Removal may finish in another thread (a session_timeout closing the session), so what is left
    is given time to go; the deadline is only there to fail instead of waiting forever.
    """
    from llm_sandbox.engines import podman

    engines = {"docker": docker_client}
    if "podman" in BACKENDS and podman.service_available():
        engines["podman"] = request.getfixturevalue("podman_client")
    before = {name: owned(client) for name, client in engines.items()}
    yield

    def leaked() -> dict[str, set[str]]:
        return {name: left for name, client in engines.items() if (left := owned(client) - before[name])}

    try:
        eventually(lambda: not leaked(), "removing every container and volume the test created", timeout=30)
    except AssertionError:
        pytest.fail(f"left behind: {leaked()}")


@pytest.fixture
def make_session(backend_name: str, no_leaks: None) -> Iterator[Callable[..., Session]]:
    """Opens sessions on the backend under test and closes them after the test, whatever happens."""
    opened: list[Session] = []

    def factory(**kwargs: Any) -> Session:
        kwargs.setdefault("lang", "python")
        session = create_session(backend_name, **kwargs)
        opened.append(session)
        return session.open()

    yield factory
    for session in opened:
        session.close()


@pytest.fixture(scope="session")
def language_image(docker_client: Any, backend_name: str) -> Callable[[str], str]:
    """Makes the library's image of a language current on the backend under test; returns its name."""
    from llm_sandbox.images import builder

    ready: dict[str, str] = {}

    def ensure(lang: str) -> str:
        if lang not in ready:
            image = builder.ensure_image(lang, docker_client)
            if backend_name == "podman":
                from llm_sandbox.engines import podman

                podman.ensure_image_loaded(image)
            ready[lang] = image
        return ready[lang]

    return ensure


@pytest.fixture
def start_program() -> Iterator[Callable[..., Program]]:
    """Starts real Python programs (``tests/process.py``); kills any that a failed test left running."""
    started: list[Program] = []

    def start(*args: Any, **kwargs: Any) -> Program:
        started.append(Program(*args, **kwargs))
        return started[-1]

    yield start
    for program in started:
        program.stop()

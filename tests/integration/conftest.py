"""Integration fixtures: a real engine, real images, and a check that nothing is left behind."""

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

BACKENDS = [name for name in os.environ.get("LLM_SANDBOX_TEST_BACKENDS", "docker,podman").split(",") if name]


def _docker_client() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # the suite needs a real engine; say so instead of failing obscurely
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/setup.sh")
    return client


@pytest.fixture(scope="session")
def docker_client() -> Any:
    return _docker_client()


@pytest.fixture(scope="session")
def python_image(docker_client: Any) -> str:
    from llm_sandbox.images import builder

    return builder.ensure_image("python", docker_client)


def _podman_available() -> str | None:
    """None when Podman answers, else the reason to skip."""
    try:
        from llm_sandbox.engines import podman
    except Exception as exc:
        return f"the podman backend is not importable: {exc}"
    probe = getattr(podman, "service_available", None)
    if probe is None:
        return "the podman backend has no service probe"
    return None if probe() else "no Podman service answers (run scripts/setup-podman.sh)"


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest, python_image: str) -> str:
    name = str(request.param)
    if name == "podman":
        reason = _podman_available()
        if reason:
            pytest.skip(reason)
        from llm_sandbox.engines import podman

        podman.ensure_image_loaded(python_image)
    return name


@pytest.fixture
def make_session(backend_name: str) -> Iterator[Callable[..., Session]]:
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


@pytest.fixture(scope="module")
def shared_session(request: pytest.FixtureRequest, python_image: str) -> Iterator[Session]:
    """One open Docker session for read-mostly tests of a module."""
    with create_session("docker", lang="python") as session:
        yield session


def sandbox_containers(client: Any) -> set[str]:
    """Sandbox containers owned by this test process (other processes' sandboxes are not ours to judge)."""
    owner = f"{OWNER_LABEL}={owner_label()}"
    return {c["Id"] for c in client.api.containers(all=True, filters={"label": [SESSION_LABEL, owner]})}


@pytest.fixture
def no_leaks(docker_client: Any) -> Iterator[None]:
    """Fails the test if it leaves a sandbox container behind."""
    before = sandbox_containers(docker_client)
    yield
    leaked = sandbox_containers(docker_client) - before
    assert not leaked, f"containers left behind: {leaked}"


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

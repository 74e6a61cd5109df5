"""The playground as users start it: ``python -m playground`` in its own process, driven through Chromium.

What only a real server process shows: a real SIGTERM closes every sandbox, an idle tab's
sandbox is closed after ``--idle-timeout``, and at ``--max-sessions`` the least recently used
idle sandbox is recycled for a new tab.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import Served, free_port
from tests.browser.test_playground import open_code_tab, run_code, wait_for_stdout
from tests.integration.conftest import owned
from tests.process import Program
from tests.waits import eventually

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def serve_process(browser_requirements: None) -> Iterator[Callable[..., tuple[Program, Served]]]:
    """Starts ``python -m playground OPTIONS`` on a free loopback port; kills it if a test left it running."""
    started: list[Program] = []

    def start(*options: str) -> tuple[Program, Served]:
        port = free_port()
        argv = [sys.executable, "-m", "playground", "--host", "127.0.0.1", "--port", str(port), *options]
        server = Program(argv=argv, env={"GRADIO_ANALYTICS_ENABLED": "False"})
        started.append(server)
        server.wait_for("LLM Sandbox playground: http://")  # printed just before it listens
        eventually(lambda: _listening(port), "the playground listening")
        return server, Served(f"http://127.0.0.1:{port}/", None)

    yield start
    for server in started:
        server.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def docker_client() -> Any:
    import docker

    return docker.from_env()


def containers(client: Any, server: Program) -> set[str]:
    return {entry for entry in owned(client, server.owner) if entry.startswith("container")}


def test_max_sessions_recycles_the_least_recently_used_and_sigterm_closes_everything(
    serve_process: Callable[..., tuple[Program, Served]], open_tab: Callable[[str], Any], docker_client: Any
) -> None:
    server, served = serve_process("--max-sessions", "1", "--idle-timeout", "600")
    first = open_code_tab(open_tab, served)
    run_code(first, "print('first tab')")
    wait_for_stdout(first, "first tab")
    [first_sandbox] = containers(docker_client, server)

    second = open_code_tab(open_tab, served)
    run_code(second, "print('second tab')")
    wait_for_stdout(second, "second tab")  # the only slot was the first tab's idle sandbox: recycled
    [second_sandbox] = containers(docker_client, server)
    assert second_sandbox != first_sandbox

    server.send(signal.SIGTERM)
    assert server.finish() in (0, 130), server.text()  # SIGTERM becomes a Ctrl-C: Gradio may catch it
    assert not owned(docker_client, server.owner), "the stopped playground left sandboxes behind"


def test_an_idle_tabs_sandbox_is_closed_and_a_new_one_opens_on_the_next_run(
    serve_process: Callable[..., tuple[Program, Served]], open_tab: Callable[[str], Any], docker_client: Any
) -> None:
    server, served = serve_process("--idle-timeout", "2")
    page = open_code_tab(open_tab, served)
    run_code(page, "open('mine.txt', 'w').write('x')\nprint('ran')")
    wait_for_stdout(page, "ran")
    [sandbox] = eventually(lambda: containers(docker_client, server), "the tab's sandbox")
    eventually(lambda: sandbox not in containers(docker_client, server), "closing the idle tab's sandbox")

    run_code(page, "import os\nprint('fresh:', not os.path.exists('mine.txt'))")  # the tab is still open
    wait_for_stdout(page, "fresh: True")
    assert containers(docker_client, server) - {sandbox}

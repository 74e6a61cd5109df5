"""A real Ctrl-C and a plain interpreter exit leave no container or volume behind.

Each case is a real Python process using the library, sent a real ``SIGINT`` with ``os.kill``
once it printed that it is where the signal should land (inside ``open()``, inside a run): a
handshake, not a sleep. Then nothing labelled with that process as its owner may be left.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import owned
from tests.process import Program

pytestmark = pytest.mark.integration


# docker-py calls during open(); the program pauses right after one returns. Podman is driven
# through the same client (its Docker-compatible API), so the same points exist there.
PAUSE_POINTS = {
    "volume-created": ("docker.api.volume", "VolumeApiMixin", "create_volume"),
    "container-created": ("docker.api.container", "ContainerApiMixin", "create_container"),
    "container-started": ("docker.api.container", "ContainerApiMixin", "start"),
}
PAUSE = """
import importlib, time
owner = getattr(importlib.import_module({module!r}), {cls!r})
original = getattr(owner, {method!r})
def paused(self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    print("inside open()", flush=True)  # the test sends SIGINT now
    time.sleep(600)
    return result
setattr(owner, {method!r}, paused)
"""
OPEN = """
from llm_sandbox import create_session
with create_session({backend!r}, lang="python") as session:
    print("opened", flush=True)
"""


@pytest.mark.parametrize("point", sorted(PAUSE_POINTS))
def test_ctrl_c_during_open_leaves_nothing(
    backend_name: str, engine_client: Any, start_program: Callable[..., Program], point: str
) -> None:
    module, cls, method = PAUSE_POINTS[point]
    opening = start_program(PAUSE.format(module=module, cls=cls, method=method) + OPEN.format(backend=backend_name))
    opening.wait_for("inside open()")
    assert owned(engine_client, opening.owner), "the program had created nothing yet: the test proves nothing"
    opening.send(signal.SIGINT)
    assert opening.finish() == -signal.SIGINT, opening.text()
    assert "KeyboardInterrupt" in opening.text() and "opened" not in opening.text()
    assert not owned(engine_client, opening.owner)


RUN = """
from llm_sandbox import create_session
with create_session({backend!r}, lang="python") as session:
    session.run(
        "import subprocess, time\\nsubprocess.Popen(['sleep', '900'])\\nprint('inside the run', flush=True)\\n"
        "time.sleep(600)",
        on_stdout=lambda text: print(text, end="", flush=True),
    )
"""


def test_ctrl_c_during_a_run_leaves_nothing(
    backend_name: str, engine_client: Any, start_program: Callable[..., Program]
) -> None:
    running = start_program(RUN.format(backend=backend_name))
    running.wait_for("inside the run")
    assert owned(engine_client, running.owner)
    running.send(signal.SIGINT)
    assert running.finish() == -signal.SIGINT, running.text()
    assert "KeyboardInterrupt" in running.text()
    assert not owned(engine_client, running.owner)


LEFT_OPEN = """
import sys
from llm_sandbox import create_session
session = create_session({backend!r}, lang="python").open()
print(session.run("print(6 * 7)").stdout, end="", flush=True)
sys.stdin.read()  # the test looks at the container, then closes this program's stdin
print("exiting without close()", flush=True)
"""


def test_a_session_left_open_is_closed_at_interpreter_exit(
    backend_name: str, engine_client: Any, start_program: Callable[..., Program]
) -> None:
    exiting = start_program(LEFT_OPEN.format(backend=backend_name))
    exiting.wait_for("42")
    assert owned(engine_client, exiting.owner)
    exiting.answer()
    assert exiting.finish() == 0, exiting.text()
    assert "exiting without close()" in exiting.text()
    assert not owned(engine_client, exiting.owner)

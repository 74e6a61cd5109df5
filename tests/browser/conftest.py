"""Browser fixtures: the playground served on 127.0.0.1 in this process, and Debian's headless Chromium.

Playwright's own browser download does not work everywhere (and is not needed): the tests
drive the system ``chromium`` (``scripts/setup-browser.sh`` installs it) through
``executable_path``. Set ``PLAYGROUND_SCREENSHOT=docs/playground.png`` to also save the
screenshot of the playground used in the README.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.handshake import RELEASE, wait_for_release
from tests.waits import GENEROUS

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before Gradio is imported: nothing leaves loopback

CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]

# What the scripted (test-only) model does: one tool call that streams, plots and writes a file,
# then an answer.
CHAT_CODE = (
    "import matplotlib.pyplot as plt\n"
    "\n"
    "print('step 0: 0', flush=True)\n"
    + wait_for_release()  # the test lets the code go on once the page showed the first step
    + "squares = [n * n for n in range(5)]\n"
    "for n in range(1, 5):\n"
    "    print(f'step {n}: {n * n}', flush=True)\n"
    "with open('outputs/squares.csv', 'w') as f:\n"
    "    f.write('\\n'.join(map(str, squares)))\n"
    "plt.plot(squares, marker='o')\n"
    "plt.title('squares')\n"
    "plt.show()\n"
    "print('sum of squares:', sum(squares))\n"
)
CHAT_SCRIPT = {
    "replies": [
        {
            "content": "I'll compute the squares and plot them.",
            "tool_calls": [{"name": "run_code", "args": {"code": CHAT_CODE}}],
        },
        {
            "content": "The squares of 0 to 4 are 0, 1, 4, 9 and 16 (sum 30): the plot is above, "
            "and squares.csv is ready to download."
        },
    ]
}


def release(playground: Any) -> None:
    """Let the code waiting in the playground's sandboxes go on (creates the release file in each)."""
    manager = playground.manager
    for info in manager.sessions():
        with manager.session(info.key, info.language) as sandbox:
            sandbox.write_file(RELEASE, "")


@dataclass
class Served:
    url: str
    playground: Any
    """The in-process ``playground.app.Playground`` (its session manager, tabs...)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docker_answers() -> str | None:
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        return f"no Docker engine answers ({exc}); run scripts/setup.sh"
    return None


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    pytest.importorskip("gradio", reason="needs the [playground] extra")
    pytest.importorskip("playwright.sync_api", reason="needs playwright (the [dev] extra)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; run scripts/setup-browser.sh")
    reason = _docker_answers()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def serve_playground(browser_requirements: None) -> Iterator[Callable[..., Served]]:
    """Starts playgrounds on free loopback ports (``model=`` a spec or ``None``); stops them at the end."""
    from playground.app import build_app, launch
    from playground.models import resolve_model
    from playground.options import PlaygroundConfig

    started: list[tuple[Any, Any]] = []

    def start(model: str | None, **options: Any) -> Served:
        config = PlaygroundConfig(host="127.0.0.1", port=free_port(), model=model, timeout=60, **options)
        demo, playground = build_app(config, resolve_model(model, env={}))
        started.append((demo, playground))
        launch(demo, playground, block=False)
        return Served(f"http://127.0.0.1:{config.port}/", playground)

    yield start
    for demo, playground in started:
        demo.close()
        playground.close()
        assert not playground.manager.sessions(), "the playground left sandboxes open"


@pytest.fixture(scope="module")
def served(serve_playground: Callable[..., Served], tmp_path_factory: pytest.TempPathFactory) -> Served:
    """The playground with the test-only scripted model (``--model scripted:<json>``)."""
    script = tmp_path_factory.mktemp("playground") / "script.json"
    script.write_text(json.dumps(CHAT_SCRIPT))
    return serve_playground(f"scripted:{script}")


@pytest.fixture(scope="session")
def browser(browser_requirements: None) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=GENEROUS * 1000)  # expectations wait this long only to fail instead of hanging
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Callable[[str], Any]]:
    """Opens the playground in new browser tabs (each its own Gradio session); closes them after the test."""
    contexts: list[Any] = []
    outside: list[str] = []

    def loopback_only(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:  # the page must not need anything from outside this machine
            outside.append(route.request.url)
            route.abort()

    def open_page(url: str) -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1050})
        context.route("**/*", loopback_only)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(GENEROUS * 1000)  # only to fail instead of hanging
        page.goto(url)
        page.wait_for_selector("#chat-input")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not outside, f"the playground page requested addresses outside this machine: {outside}"


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Any], None]:
    """``screenshot(page)`` saves the README's screenshot when ``PLAYGROUND_SCREENSHOT`` names a file."""

    def take(page: Any) -> None:
        target = os.environ.get("PLAYGROUND_SCREENSHOT")
        if target:
            path = Path(target) if Path(target).is_absolute() else ROOT / target
            path.parent.mkdir(parents=True, exist_ok=True)
            boxes = [page.locator(selector).bounding_box() for selector in ("#chat-input", "#files")]
            bottom = max((box["y"] + box["height"] for box in boxes if box), default=0) + 24
            viewport = page.viewport_size
            height = min(bottom, viewport["height"]) if bottom > 24 else viewport["height"]
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": viewport["width"], "height": height})

    return take

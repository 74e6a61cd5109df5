"""The playground end to end: a real headless Chromium against the app served on 127.0.0.1.

Each test opens its own browser tab, so each gets its own sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import release
from tests.handshake import wait_for_release
from tests.waits import eventually

if TYPE_CHECKING:
    from tests.browser.conftest import Served

pytestmark = [pytest.mark.browser, pytest.mark.integration]

expect = pytest.importorskip("playwright.sync_api", reason="needs playwright (the [dev] extra)").expect

STREAMING_CODE = (
    "import sys\nprint('tick 0', flush=True)\n"
    + wait_for_release()  # the test lets it go on once the page showed "tick 0"
    + "print('tick 1', flush=True)\nprint('a warning', file=sys.stderr)\nprint('done')\n"
)

PLOT_CODE = """\
import matplotlib.pyplot as plt
plt.plot([1, 4, 9, 16])
plt.title("from the code tab")
plt.show()
print("plotted")
"""


def set_code(page: Any, code: str) -> None:
    """Replace the editor's content (typed through CodeMirror, as a user would paste it)."""
    editor = page.locator("#code-input .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)


def run_code(page: Any, code: str) -> None:
    set_code(page, code)
    page.locator("#run-button").click()


def stdout_of(page: Any) -> str:
    return str(page.locator("#stdout textarea").input_value())


def wait_for_stdout(page: Any, text: str) -> str:
    """The stdout box's text once it shows ``text`` (the deadline only turns a hang into a failure)."""

    def showing() -> str:
        value = stdout_of(page)
        return value if text in value else ""

    return eventually(showing, f"stdout showing {text!r}")


def open_code_tab(open_tab: Callable[[str], Any], served: Served) -> Any:
    page = open_tab(served.url)
    page.get_by_role("tab", name="Code").click()
    page.wait_for_selector("#code-input .cm-content")
    return page


def test_code_tab_streams_stdout_and_stderr_live(open_tab: Callable[[str], Any], served: Served) -> None:
    page = open_code_tab(open_tab, served)
    run_code(page, STREAMING_CODE)

    partial = wait_for_stdout(page, "tick 0")  # the code waits for the release below: it is still running
    assert "done" not in partial
    assert "Running" in page.locator("#run-status").inner_text()
    release(served.playground)

    final = wait_for_stdout(page, "done")
    assert final.splitlines() == ["tick 0", "tick 1", "done"]
    assert "a warning" in page.locator("#stderr textarea").input_value()
    page.wait_for_function("document.querySelector('#run-status').innerText.includes('exit code 0')")


def test_stop_interrupts_the_run_and_keeps_the_sandbox(open_tab: Callable[[str], Any], served: Served) -> None:
    page = open_code_tab(open_tab, served)
    run_code(page, "open('kept.txt', 'w').write('x')\nimport time\nprint('started', flush=True)\ntime.sleep(60)")
    wait_for_stdout(page, "started")

    page.locator("#stop-button").click()
    expect(page.locator("#run-status")).to_contain_text("Stopped")

    run_code(page, "import os\nprint('kept:', os.path.exists('kept.txt'))")
    wait_for_stdout(page, "kept: True")


def test_code_tab_cells_share_a_kernel_with_rich_results_and_restart(
    open_tab: Callable[[str], Any], served: Served
) -> None:
    page = open_code_tab(open_tab, served)
    run_code(page, "answer = 41\nprint('defined', flush=True)")
    wait_for_stdout(page, "defined")
    run_code(page, "import pandas as pd\nprint('answer is', answer + 1)\npd.DataFrame({'column': [1, 2]})")
    wait_for_stdout(page, "answer is 42")
    frame = page.locator("#rich-result iframe.rich-result")
    expect(frame).to_have_count(1)
    assert "<table" in str(frame.get_attribute("srcdoc"))
    assert frame.get_attribute("sandbox") == ""  # the cell's HTML runs no script in this page

    page.locator("#restart-kernel-button").click()
    expect(page.locator("#run-status")).to_contain_text("restarted", timeout=30_000)
    run_code(page, "print('answer' in dir())")
    wait_for_stdout(page, "False")


def test_matplotlib_plot_appears_in_the_gallery(open_tab: Callable[[str], Any], served: Served) -> None:
    page = open_code_tab(open_tab, served)
    assert page.locator("#plots img").count() == 0

    run_code(page, PLOT_CODE)

    wait_for_stdout(page, "plotted")
    page.wait_for_selector("#plots img")
    assert page.locator("#plots img").count() == 1
    assert "1 plot" in page.locator("#run-status").inner_text()


def test_chat_with_a_scripted_model_shows_the_tool_step_its_output_and_plot(
    open_tab: Callable[[str], Any], served: Served, screenshot: Callable[[Any], None]
) -> None:
    page = open_tab(served.url)
    chat = page.locator("#chatbot")
    page.locator("#chat-input textarea").fill("Compute the squares of 0 to 4 and plot them")
    page.locator("#chat-input textarea").press("Enter")

    # The tool step appears while the code runs, open, with its code and its output streaming.
    step_title = chat.get_by_text("run_code · python")
    step_title.wait_for()
    chat.get_by_text("step 0").wait_for()  # the code waits for the release below: it is still running
    assert "sum of squares: 30" not in chat.inner_text()
    assert "running…" in chat.inner_text()
    assert "for n in range(1, 5):" in chat.inner_text()  # the code, in the step
    release(served.playground)

    # The model's answer comes after the tool result; the finished step folds, showing the exit code.
    chat.get_by_text("ready to download").wait_for()
    assert "exit code 0" in chat.inner_text()
    page.wait_for_selector("#plots img")
    page.locator("#files").get_by_text("squares", exact=True).wait_for()  # squares.csv, to download

    step_title.click()  # unfold the finished step: output, exit code and the plot inline
    chat.get_by_text("sum of squares: 30").wait_for()
    chat.locator("img[src*='plot']").first.wait_for()
    assert "✓ exit code 0" in chat.inner_text()
    chat.locator("pre").first.evaluate("code => code.scrollIntoView({block: 'nearest'})")  # the step's top
    step_title.evaluate("title => title.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)  # let the plot finish painting for the screenshot
    screenshot(page)


def test_reset_gives_a_fresh_sandbox(open_tab: Callable[[str], Any], served: Served) -> None:
    page = open_code_tab(open_tab, served)
    run_code(page, "open('notes.txt', 'w').write('kept?')\nimport os\nprint('exists:', os.path.exists('notes.txt'))")
    wait_for_stdout(page, "exists: True")

    page.get_by_role("tab", name="Settings").click()
    files = page.locator("#session-files")
    expect(files).to_contain_text("/sandbox/notes.txt")  # the live session view
    page.locator("#reset-button").click()
    page.locator("#reset-note").get_by_text("New sandbox").wait_for()
    expect(files).not_to_contain_text("/sandbox/notes.txt")

    page.get_by_role("tab", name="Code").click()
    run_code(page, "import os\nprint('after reset:', os.path.exists('notes.txt'))")
    wait_for_stdout(page, "after reset: False")


def track_session(page: Any) -> list[str]:
    """The Gradio session hash(es) the page's events are sent with (the key of its sandbox)."""
    hashes: list[str] = []

    def seen(request: Any) -> None:
        if "/queue/join" in request.url and request.post_data:
            hashes.append(json.loads(request.post_data)["session_hash"])

    page.on("request", seen)
    return hashes


def test_browser_tabs_get_separate_sandboxes_closed_with_the_tab(
    open_tab: Callable[[str], Any], served: Served
) -> None:
    first = open_code_tab(open_tab, served)
    second = open_code_tab(open_tab, served)
    first_keys, second_keys = track_session(first), track_session(second)
    run_code(first, "open('mine.txt', 'w').write('first tab')\nprint('written')")
    wait_for_stdout(first, "written")
    run_code(second, "import os\nprint('visible:', os.path.exists('mine.txt'))")
    wait_for_stdout(second, "visible: False")

    manager = served.playground.manager
    first_key, second_key = first_keys[0], second_keys[0]
    assert first_key != second_key
    assert {first_key, second_key} <= {info.key for info in manager.sessions()}

    second.context.close()  # the tab goes away: its sandbox closes, the other tab's stays
    eventually(lambda: second_key not in {info.key for info in manager.sessions()}, "closing the tab's sandbox")
    keys = {info.key for info in manager.sessions()}
    assert second_key not in keys
    assert first_key in keys


def test_without_a_model_the_chat_explains_how_to_configure_one(
    open_tab: Callable[[str], Any], serve_playground: Callable[..., Served]
) -> None:
    bare = serve_playground(None)
    page = open_tab(bare.url)
    help_text = page.locator("#model-help").inner_text()
    assert "No chat model is configured" in help_text
    assert "OPENAI_BASE_URL" in help_text and "--model" in help_text

    page.get_by_role("tab", name="Code").click()  # the rest still works
    run_code(page, "print(6 * 7)")
    wait_for_stdout(page, "42")

"""The playground served beyond this machine (issue #15, item 10): a login, capped settings, sandboxes
bounded per visitor. A real headless Chromium against the app on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_playground import open_code_tab, run_code, wait_for_stdout
from tests.waits import GENEROUS

if TYPE_CHECKING:
    from tests.browser.conftest import Served

pytestmark = [pytest.mark.browser, pytest.mark.integration]

expect = pytest.importorskip("playwright.sync_api", reason="needs playwright (the [dev] extra)").expect


def test_a_login_keeps_out_who_has_no_credentials(browser: Any, serve_playground: Callable[..., Served]) -> None:
    served = serve_playground(None, credentials=(("ada", "correct horse"),))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(GENEROUS * 1000)  # only to fail instead of hanging
        page.goto(served.url)
        page.get_by_text("code you run here runs in containers on this server").wait_for()
        assert page.locator("#chat-input").count() == 0
        inputs = page.locator("input")
        inputs.nth(0).fill("ada")
        inputs.nth(1).fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect Credentials").wait_for()
        assert page.locator("#chat-input").count() == 0
        refused = context.request.get(served.url + "config")  # nothing is served before a login
        assert refused.status == 401 and "Not authenticated" in refused.text()
        inputs.nth(0).fill("ada")
        inputs.nth(1).fill("correct horse")
        page.get_by_role("button", name="Login").click()
        page.wait_for_selector("#chat-input")
    finally:
        context.close()


def test_settings_cannot_raise_limits_above_the_operators_caps(
    open_tab: Callable[[str], Any], serve_playground: Callable[..., Served]
) -> None:
    served = serve_playground(None, max_memory="2g", max_cpus=1.0, max_timeout=120)
    page = open_tab(served.url)
    page.get_by_role("tab", name="Settings").click()
    note = page.locator("#settings-note")
    memory = page.locator("#memory textarea, #memory input").first
    memory.fill("64g")
    memory.blur()
    expect(note).to_contain_text("Not applied")
    expect(note).to_contain_text("above 2g, the most this server allows")
    for selector in ("#cpus input", "#timeout input"):  # Gradio itself refuses numbers above their maximum
        field = page.locator(selector)
        field.fill("100000")
        field.blur()
        page.get_by_text("greater than").first.wait_for()
    (tab,) = served.playground.tabs._tabs.values()
    assert (tab.settings.memory, tab.settings.cpus, tab.settings.timeout) == ("1g", 1.0, 60)

    # The handler refuses as well, whatever a crafted request to the app's API sends.
    request = SimpleNamespace(session_hash=tab.key, username=None, client=None)
    update = served.playground.settings.update
    for memory_value, cpus, timeout, refusal in (
        ("64g", 1, 60, "above 2g"), ("1g", 8, 60, "at most 1"), ("1g", 1, 100000, "above 120 s"),
        ("1g", 1, float("inf"), "timeout"), ("1g", float("nan"), 60, "CPUs"),
    ):  # fmt: skip
        assert "Not applied" in update("docker", "python", memory_value, cpus, timeout, "none", request)
        assert refusal in update("docker", "python", memory_value, cpus, timeout, "none", request)
    assert (tab.settings.memory, tab.settings.cpus, tab.settings.timeout) == ("1g", 1.0, 60)
    assert "Saved" in update("docker", "python", "2g", 1, 120, "none", request)


def test_one_visitor_cannot_hold_more_than_their_share_of_sandboxes(
    open_tab: Callable[[str], Any], serve_playground: Callable[..., Served]
) -> None:
    served = serve_playground(None, max_sessions_per_visitor=1, max_sessions=4)
    first = open_code_tab(open_tab, served)
    run_code(first, "print('first tab runs')")
    wait_for_stdout(first, "first tab runs")

    second = open_code_tab(open_tab, served)  # the same visitor (this machine's address), another tab
    run_code(second, "print('second tab runs')")
    expect(second.locator("#run-status")).to_contain_text("the most one visitor may have (1)")
    assert len(served.playground.manager.sessions()) == 1

    first.context.close()  # the first tab goes away with its sandbox: the second may open one now
    second.wait_for_timeout(500)
    deadline_runs = 40
    while served.playground.manager.sessions() and deadline_runs:
        second.wait_for_timeout(250)
        deadline_runs -= 1
    run_code(second, "print('second tab runs')")
    wait_for_stdout(second, "second tab runs")

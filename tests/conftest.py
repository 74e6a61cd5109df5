"""Shared test configuration: the package importable from a checkout, and what a skip means in CI.

Outside CI a test whose engine, image, browser or package is missing skips with a reason that
says how to get it. In CI (``CI=true``, which ``scripts/test.sh`` sets) a skip is a failure: a
green CI run must have run the engine and browser tests, not skipped them. The only tests CI may
skip are those marked ``cluster`` (they need a real Kubernetes cluster, which this kind of
machine cannot run), each with its reason.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "toolkit"))
sys.path.insert(0, str(ROOT))

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# Ctrl-C as a user has it, however the suite was started: a shell without job control starts a
# background command (`cmd &`, `nohup ... &`) with SIGINT ignored, and then Python raises no
# KeyboardInterrupt, `_thread.interrupt_main()` does nothing, and every program a test starts
# inherits the ignored signal. A handler here makes children start with the default again.
if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs a real Kubernetes cluster (KUBECONFIG); the only tests CI may skip"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and not item.get_closest_marker("cluster"):
        _fail_the_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A module-level ``importorskip`` skips the whole module at collection: the same rule applies."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        _fail_the_skip(report)


def _fail_the_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI: {reason}\n"
        "CI=true: a missing engine, image, browser or package is a failure here, not a skip "
        "(scripts/test.sh installs them all)"
    )


@pytest.fixture
def language_registry() -> Iterator[None]:
    """For tests that register plugin languages or analyzers: whatever they add is removed after them."""
    from llm_sandbox.languages import supported_languages, unregister_language
    from llm_sandbox.security import registered_languages, unregister_analyzer

    languages, analyzers = set(supported_languages()), set(registered_languages())
    yield
    for name in set(supported_languages()) - languages:
        unregister_language(name)
    for name in set(registered_languages()) - analyzers:
        unregister_analyzer(name)


@pytest.fixture(autouse=True)
def _registries_are_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """The language and analyzer registries are global: a test that adds to them must also remove it."""
    from llm_sandbox.languages import supported_languages
    from llm_sandbox.security import registered_languages

    languages, analyzers = set(supported_languages()), set(registered_languages())
    yield
    added = sorted(set(supported_languages()) - languages) + sorted(set(registered_languages()) - analyzers)
    assert not added, f"{request.node.name} left {added} registered (use the language_registry fixture)"

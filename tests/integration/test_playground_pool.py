"""The playground's ``--pool-size``: tabs with the server's settings take warm containers from a pool
(reset between tabs); a tab whose visitor changed its limits opens a container of its own. Real Docker."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from playground.options import PlaygroundConfig
from playground.sandboxes import Sandboxes
from playground.state import Settings, Tabs
from tests.waits import eventually

pytestmark = pytest.mark.integration


def memory_of(docker_client: Any, sandboxes: Sandboxes, key: str) -> int:
    """The memory limit the engine gave the container of the tab ``key``."""
    [info] = [info for info in sandboxes.manager.sessions() if info.key == key]
    return int(docker_client.containers.get(info.container_id).attrs["HostConfig"]["Memory"])


def wait_for_idle(sandboxes: Sandboxes, count: int) -> None:
    """Until the pool reports ``count`` warm containers (a state it reports, not a timing)."""
    pool = sandboxes.pool
    assert pool is not None
    eventually(lambda: pool.get_stats()["idle"] >= count, f"the pool having {count} idle containers")


def test_default_tabs_take_pooled_containers_and_changed_tabs_their_own(
    python_image: str, docker_client: Any, no_leaks: None
) -> None:
    config = PlaygroundConfig(pool_size=1, memory="512m")
    tabs = Tabs(Settings.from_config(config))
    sandboxes = Sandboxes(config, tabs)
    try:
        assert sandboxes.pool is not None
        wait_for_idle(sandboxes, 1)
        first = tabs.get("first")
        sandboxes.manager.run(first.key, "open('/sandbox/left-behind', 'w').write('x')")
        assert memory_of(docker_client, sandboxes, first.key) == 512 * 2**20  # the server's settings, the pool's
        assert sandboxes.pool.get_stats()["busy"] == 1  # the tab holds the pool's container

        changed = tabs.get("changed")
        changed.settings = replace(changed.settings, memory="256m")
        sandboxes.manager.run(changed.key, "print(1)")
        assert memory_of(docker_client, sandboxes, changed.key) == 256 * 2**20
        stats = sandboxes.pool.get_stats()
        assert (stats["total"], stats["busy"], stats["temporary"]) == (1, 1, 0)  # not the pool's: its own

        sandboxes.close_tab(first.key)  # the container goes back, reset for the next tab
        wait_for_idle(sandboxes, 1)
        second = tabs.get("second")
        result = sandboxes.manager.run(second.key, "import os; print(os.path.exists('/sandbox/left-behind'))")
        assert result.stdout.strip() == "False"
        assert sandboxes.pool.get_stats()["reused"] >= 1
    finally:
        sandboxes.close()
        tabs.close()

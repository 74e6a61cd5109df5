"""A pool of warm sandboxes: sessions open in milliseconds, and no user sees what the one before left.

    .venv/bin/python examples/pools.py

Makes a pool of one Python container with `six` preinstalled (so every user gets the same container),
lets one user leave a file, a running process, an extra library and a kernel variable behind, and shows
that the next user finds none of them; then serves two agent conversations through a SessionManager.
"""

from __future__ import annotations

import time

from llm_sandbox import InteractiveSandboxSession, SandboxSession
from llm_sandbox.agents import SessionManager
from llm_sandbox.pool import PoolConfig, create_pool_manager

PROCESSES = "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"


def main() -> None:
    config = PoolConfig(max_pool_size=1, min_pool_size=1, max_container_uses=100)
    with create_pool_manager(lang="python", config=config, libraries=["six"]) as pool:
        while pool.get_stats()["idle"] < 1:  # the container is started in the background
            time.sleep(0.05)

        started = time.perf_counter()
        with SandboxSession(pool=pool) as session:
            output = session.run("print('warm:', 6 * 7)").stdout.strip()
        print(output, f"(checkout + first run + give back: {(time.perf_counter() - started) * 1000:.0f} ms)")

        with InteractiveSandboxSession(pool=pool) as first:
            container = first.container_id
            first.run("secret = 'first user'\nopen('notes.txt', 'w').write(secret)")
            first.execute_command("setsid sleep 1000 >/dev/null 2>&1 &")
            first.install(["iniconfig"])
            seen = first.run("import iniconfig, six, os\nprint(secret, os.listdir())").stdout.strip()
            print("first user:", seen, "| sleep 1000 running:", "sleep 1000" in first.execute_command(PROCESSES).stdout)

        with InteractiveSandboxSession(pool=pool) as second:
            print("second user, same container:", second.container_id == container)
            print("  secret, files:", second.run("import os\nprint('secret' in dir(), os.listdir())").stdout.strip())
            print("  sleep 1000 running:", "sleep 1000" in second.execute_command(PROCESSES).stdout)
            print("  iniconfig:", second.run("import iniconfig").stderr.strip().splitlines()[-1])
            print("  six (the pool's):", second.run("import six; print(six.__name__)").stdout.strip())

        with SessionManager(pool=pool, max_sessions=4) as manager:
            for conversation in ("alice", "bob"):
                manager.run(conversation, f"me = {conversation!r}")
                print(conversation, "->", manager.run(conversation, "print(me)").stdout.strip())
                manager.close_session(conversation)  # the container goes back to the pool, reset

        stats = pool.get_stats()
        print("pool:", {key: stats[key] for key in ("total", "reused", "failed", "replaced")})


if __name__ == "__main__":
    main()

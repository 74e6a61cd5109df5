"""Pools of warm sandboxes beside a plain open and beside llm-sandbox 0.3.46's pool, same image (issue 16).

    .venv/bin/python benchmarks/pools.py [--runs 20] [--agents 50] [--calls 20] [--pool-size 10]

Prints: checkout + first `run("print(1)")` from a warm pool (target <= 20 ms median) beside a plain
open + first run and the original's pool; what giving a container back costs the caller, and how long
the reset takes in the background; then `--agents` concurrent agents (threads, one conversation each,
through `SessionManager(pool=...)`) making `--calls` tool calls: errors (target 0), calls/s, median and
p95 per call, and the containers and volumes left afterwards (target 0).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from common import machine, print_table, run_rival, summary, timed

from llm_sandbox import SandboxSession
from llm_sandbox.agents import SessionManager
from llm_sandbox.contract import OWNER_LABEL, owner_label
from llm_sandbox.images import builder
from llm_sandbox.pool import ContainerPoolManager, PoolConfig, create_pool_manager
from llm_sandbox.sessions import Session


def wait_for(predicate: Callable[[], bool]) -> float:
    """Milliseconds until ``predicate()`` holds (polled every millisecond)."""
    started = time.perf_counter()
    while not predicate():
        time.sleep(0.001)
    return (time.perf_counter() - started) * 1000


def checkouts(image: str, runs: int) -> tuple[list[float], list[float], list[float]]:
    """Checkout + first run from a warm pool; giving back (the caller's cost); the background reset."""
    checkout, give_back, reset = [], [], []
    with create_pool_manager(lang="python", image=image, config=PoolConfig(max_pool_size=2, min_pool_size=2)) as pool:
        ready = lambda: pool.get_stats()["idle"] == 2  # noqa: E731
        wait_for(ready)
        for _ in range(runs):
            session = SandboxSession(pool=pool)

            def first_run(session: Session = session) -> None:
                session.open()
                assert session.run("print(1)").stdout == "1\n"

            checkout.append(timed(first_run))
            give_back.append(timed(session.close))
            reset.append(wait_for(ready))
    return checkout, give_back, reset


@dataclass
class Load:
    errors: list[str]
    calls_per_second: float
    latencies: list[float]
    left: int
    reused: int
    replaced: int


def agents(image: str, count: int, calls: int, pool_size: int) -> Load:
    """``count`` agents at once, each one conversation of ``calls`` tool calls through a SessionManager."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    config = PoolConfig(max_pool_size=pool_size, min_pool_size=pool_size, acquisition_timeout=None)
    pool: ContainerPoolManager = create_pool_manager(lang="python", image=image, config=config)
    wait_for(lambda: pool.get_stats()["idle"] == pool_size)
    manager = SessionManager(pool=pool, max_sessions=count, wait_timeout=None)
    start = threading.Barrier(count + 1)

    def agent(n: int) -> None:
        start.wait()
        key = f"agent-{n}"
        for call in range(calls):
            began = time.perf_counter()
            try:
                result = manager.run(key, f"total = {call} if {call} == 0 else total + {call}\nprint(total)")
                if result.stdout != f"{call * (call + 1) // 2}\n":
                    raise AssertionError(f"{result.stdout!r} {result.stderr[-200:]!r}")
            except Exception as exc:  # counted, never stops the others
                with lock:
                    errors.append(f"{key} call {call}: {exc!r}")
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
        manager.close_session(key)  # the conversation ends: its container goes back, reset

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    stats = pool.get_stats()
    manager.close()
    pool.close()
    left = pool.engine.list_labelled(f"{OWNER_LABEL}={owner_label()}")
    return Load(errors, len(latencies) / elapsed, latencies, len(left), stats["reused"], stats["replaced"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    image = builder.ensure_image("python")

    plain = []
    for _ in range(args.runs):
        session = SandboxSession(lang="python", image=image)

        def open_and_run(session: Session = session) -> None:
            session.open()
            assert session.run("print(1)").stdout == "1\n"

        plain.append(timed(open_and_run))
        session.close()
    checkout, give_back, reset = checkouts(image, args.runs)
    rival = run_rival("rival_probe.py", image=image, runs=args.runs, mode="pool")
    load = agents(image, args.agents, args.calls, args.pool_size)
    rival_load = run_rival(
        "rival_probe.py", image=image, runs=args.runs, mode="pool-load", agents=args.agents, calls=args.calls,
        pool_size=args.pool_size,
    )  # fmt: skip

    print(f"machine: {machine()}; image {image}")
    print_table(
        "Pools (ms)",
        [
            ('plain open + first run("print(1)")', plain, rival.get("plain open + first run")),
            ('pool: checkout + first run("print(1)")', checkout, rival.get("pool: checkout + first run")),
            ("pool: give back (the caller's part)", give_back, rival.get("pool: give back")),
            ("pool: reset, in the background", reset, None),
        ],
    )
    print(f"\n{args.agents} agents x {args.calls} tool calls, pool of {args.pool_size}")
    print("| figure | ours | rival |")
    print("|---|---|---|")
    rival_latency = rival_load.get("latencies") or []

    def rival_figure(name: str) -> str:
        return f"{rival_load[name][0]:g}" if name in rival_load else "-"

    rows = [
        ("errors", str(len(load.errors)), rival_figure("errors")),
        ("calls/s", f"{load.calls_per_second:.1f}", f"{rival_load['calls/s'][0]:.1f}" if rival_load else "-"),
        ("median call (ms)", f"{summary(load.latencies)[0]:.1f}",
         f"{summary(rival_latency)[0]:.1f}" if rival_latency else "-"),
        ("p95 call (ms)", f"{summary(load.latencies)[1]:.1f}",
         f"{summary(rival_latency)[1]:.1f}" if rival_latency else "-"),
        ("containers and volumes left", str(load.left), rival_figure("left")),
    ]  # fmt: skip
    for name, ours, theirs in rows:
        print(f"| {name} | {ours} | {theirs} |")
    if load.errors:
        print("\nerrors:", *load.errors[:10], sep="\n  ")
    print(
        f"\ncheckout + first run: {summary(checkout)[0]:.1f} ms median (target <= 20); reused {load.reused}, "
        f"replaced {load.replaced} in the load run"
    )


if __name__ == "__main__":
    main()

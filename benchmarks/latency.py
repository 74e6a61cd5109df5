"""How fast output streams and kills land: the timings the tests no longer assert (they prove order only).

    .venv/bin/python benchmarks/latency.py [--runs 20] [--backend docker]

* first chunk: from the moment the code printed (its own clock, written into the line) to the
  moment the host's on_stdout callback received it. Both clocks are the same machine's
  CLOCK_MONOTONIC (containers share the host kernel's);
* timeout overshoot: how long after its timeout a run's SandboxTimeoutError arrives (the kill of
  every process, confirmed);
* interrupt to next run: from interrupt() on a blocked run to the end of the next run("print(1)").
"""

from __future__ import annotations

import argparse
import threading
import time

from common import machine, print_table, timed

from llm_sandbox import SandboxTimeoutError, create_session
from llm_sandbox.sessions import Session

STREAM = "import time\nprint(time.monotonic(), flush=True)\ntime.sleep(0.2)"
BLOCK = "import subprocess, time\nsubprocess.Popen(['sleep', '600'])\nprint('ready', flush=True)\ntime.sleep(600)"


def first_chunk(session: Session) -> float:
    arrived: list[float] = []

    def on_stdout(text: str) -> None:
        if not arrived:
            arrived.append(time.monotonic() - float(text.split()[0]))

    session.run(STREAM, on_stdout=on_stdout)
    return arrived[0] * 1000


def timeout_overshoot(session: Session, timeout: float = 1.0) -> float:
    started = time.perf_counter()
    try:
        session.run("import time\ntime.sleep(600)", timeout=timeout)
    except SandboxTimeoutError:
        return (time.perf_counter() - started - timeout) * 1000
    raise AssertionError("the run did not time out")


def interrupt_to_next_run(session: Session) -> float:
    ready = threading.Event()
    worker = threading.Thread(target=lambda: session.run(BLOCK, on_stdout=lambda text: ready.set()))
    worker.start()
    ready.wait(60)
    elapsed = timed(lambda: (session.interrupt(), session.run("print(1)")))
    worker.join(60)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backend", default="docker")
    args = parser.parse_args()
    with create_session(args.backend, lang="python") as session:
        session.run("print(1)")  # warm
        chunks = [first_chunk(session) for _ in range(args.runs)]
        overshoots = [timeout_overshoot(session) for _ in range(args.runs)]
        restarts = [interrupt_to_next_run(session) for _ in range(args.runs)]
    print(f"machine: {machine()}; backend {args.backend}")
    print_table(
        "Streaming and kills (ms)",
        [
            ("print -> on_stdout (first chunk)", chunks, None),
            ("timeout -> SandboxTimeoutError (overshoot)", overshoots, None),
            ("interrupt() -> next run('print(1)') done", restarts, None),
        ],
    )


if __name__ == "__main__":
    main()

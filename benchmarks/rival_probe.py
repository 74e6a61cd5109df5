"""Timings of the reference implementation (llm-sandbox 0.3.46); run by common.run_rival in its own venv.

Prints one JSON line: {figure: [ms, ...]}.
"""

import json
import shlex
import sys
import time
from typing import Any

from llm_sandbox import ArtifactSandboxSession, SandboxSession

params = json.loads(sys.argv[1])
image, runs, mode = params["image"], params["runs"], params["mode"]
results: dict[str, list[float]] = {}


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def add(name: str, value: float) -> None:
    results.setdefault(name, []).append(value)


if mode == "sessions":
    for skip in (True, False):
        label = "skip_environment_setup" if skip else "default setup"
        for _ in range(runs if skip else max(3, runs // 4)):
            t = time.perf_counter()
            session = SandboxSession(
                lang=params.get("lang", "python"),
                image=image,
                skip_environment_setup=skip,
                keep_template=True,
            )
            session.open()
            add(f"open ({label})", ms(t))
            t = time.perf_counter()
            session.run(params.get("code", "print(1)"))
            add(f"first run ({label})", ms(t))
            for _ in range(3):
                t = time.perf_counter()
                session.run(params.get("code", "print(1)"))
                add(f"warm run ({label})", ms(t))
            t = time.perf_counter()
            session.close()
            add(f"close ({label})", ms(t))
elif mode == "languages":
    lang, code = params["lang"], params["code"]
    failed = 0
    for _ in range(runs):
        t = time.perf_counter()
        session = SandboxSession(lang=lang, image=image, skip_environment_setup=True, keep_template=True)
        session.open()
        result = session.run(code)
        add("cold", ms(t))
        failed += result.stdout.strip() != "Hello, World!"
        session.close()
    with SandboxSession(lang=lang, image=image, skip_environment_setup=True, keep_template=True) as session:
        session.run(code)
        for _ in range(runs):
            t = time.perf_counter()
            result = session.run(code)
            add("warm", ms(t))
            failed += result.stdout.strip() != "Hello, World!"
    if failed:
        results = {"failed": [float(failed)]}
elif mode == "artifacts":
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n"
    for plotting in (True, False):
        with ArtifactSandboxSession(
            lang="python",
            image=image,
            skip_environment_setup=True,
            keep_template=True,
            enable_plotting=plotting,
        ) as session:
            session.run(code)
            for _ in range(runs):
                t = time.perf_counter()
                result = session.run(code)
                add("plot run" if plotting else "no-plot run", ms(t))
            add("plots per run" if plotting else "plots per run, plotting off", float(len(result.plots)))
            add("exit code" if plotting else "exit code, plotting off", float(result.exit_code))
elif mode == "interactive":
    from llm_sandbox.interactive import InteractiveSandboxSession

    class PreparedInteractive(InteractiveSandboxSession):
        """Its runtime as its default setup would make it, without the network that setup needs: a venv
        over the image's packages (IPython included) and a pip that is the image's."""

        def _ensure_runtime_dependencies(self) -> None:
            venv = "/sandbox/.sandbox-venv"
            make_pip = (
                "import os, sys; path = sys.argv[1] + '/bin/pip'; "
                "open(path, 'w').write('#!/bin/sh\\nexec python3 -m pip \"$@\"\\n'); os.chmod(path, 0o755)"
            )
            # its execute_command runs argv without a shell: one command at a time
            self.execute_command(f"python3 -m venv --without-pip --system-site-packages {venv}")
            self.execute_command(f"python3 -c {shlex.quote(make_pip)} {venv}")
            super()._ensure_runtime_dependencies()

    t = time.perf_counter()
    session = PreparedInteractive(lang="python", image=image, skip_environment_setup=True, keep_template=True)
    session.open()
    add("interactive open", ms(t))
    try:
        session.run("x = 0")
        for _ in range(runs):
            t = time.perf_counter()
            session.run("x += 1")
            add("interactive x += 1", ms(t))
    finally:
        session.close()
elif mode in ("pool", "pool-load"):
    import threading

    import docker

    from llm_sandbox.pool import PoolConfig, create_pool_manager

    def pool_of(size: int) -> Any:
        config = PoolConfig(max_pool_size=size, min_pool_size=size, acquisition_timeout=None)
        made = create_pool_manager(config=config, lang="python", image=image)  # its pool sets up each container
        while made.get_stats()["state_counts"]["idle"] < size:
            time.sleep(0.001)
        return made

    if mode == "pool":
        for _ in range(runs):
            t = time.perf_counter()
            session = SandboxSession(lang="python", image=image, skip_environment_setup=True, keep_template=True)
            session.open()
            session.run("print(1)")
            add("plain open + first run", ms(t))
            session.close()
        pool = pool_of(2)
        for _ in range(runs):
            t = time.perf_counter()
            session = SandboxSession(pool=pool, lang="python")
            session.open()
            session.run("print(1)")
            add("pool: checkout + first run", ms(t))
            t = time.perf_counter()
            session.close()
            add("pool: give back", ms(t))
        pool.close()
    else:
        agents, calls = params["agents"], params["calls"]
        pool = pool_of(params["pool_size"])
        lock = threading.Lock()
        errors: list[str] = []
        seen: set[str] = set()
        start = threading.Barrier(agents + 1)

        def agent(n: int) -> None:
            start.wait()
            try:
                with SandboxSession(pool=pool, lang="python") as session:
                    with lock:
                        seen.add(session.backend_session.container.id)
                    for call in range(calls):
                        t = time.perf_counter()
                        try:
                            if session.run(f"print({call})").stdout != f"{call}\n":
                                raise AssertionError("wrong output")
                        except Exception as exc:
                            with lock:
                                errors.append(repr(exc))
                        with lock:
                            add("latencies", ms(t))
            except Exception as exc:
                with lock:
                    errors.append(repr(exc))

        threads = [threading.Thread(target=agent, args=(n,)) for n in range(agents)]
        for thread in threads:
            thread.start()
        start.wait()
        t = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t
        pool.close()
        client = docker.from_env()
        left = [c for c in seen if client.containers.list(all=True, filters={"id": c})]
        results.update({"errors": [float(len(errors))], "calls/s": [len(results.get("latencies", [])) / elapsed],
                        "left": [float(len(left))]})
print(json.dumps(results))

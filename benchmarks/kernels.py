"""Warm kernels and warm stateless runs, beside llm-sandbox 0.3.46 and a cold `docker exec` (issue 14).

    .venv/bin/python benchmarks/kernels.py [--runs 30]

Targets: a stateful run of `x += 1` <= 5 ms median; a warm stateless `run("print(1)")` <= 10 ms; a
pandas + matplotlib snippet with one plot, stateless, <= 100 ms; `open()` of an interactive session at
most 150 ms longer than a plain open. Also printed: the warm runner's idle memory per session.
"""

from __future__ import annotations

import argparse
import subprocess

from common import machine, print_table, run_rival, summary, timed

from llm_sandbox import ArtifactSandboxSession, InteractiveSandboxSession, SandboxSession
from llm_sandbox.images import builder

PLOT = (
    "import pandas as pd\nimport matplotlib.pyplot as plt\n"
    "frame = pd.DataFrame({'x': range(10), 'y': [v * v for v in range(10)]})\n"
    "plt.plot(frame.x, frame.y)\nplt.show()\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    image = builder.ensure_image("python")
    runs = args.runs

    plain_opens, interactive_opens = [], []
    for _ in range(max(5, runs // 3)):
        plain = SandboxSession(lang="python", image=image)
        plain_opens.append(timed(plain.open))
        plain.close()
        interactive = InteractiveSandboxSession(lang="python", image=image)
        interactive_opens.append(timed(interactive.open))
        interactive.close()

    with InteractiveSandboxSession(lang="python", image=image) as kernel:
        kernel.run("x = 0")
        stateful = [timed(lambda: kernel.run("x += 1")) for _ in range(runs)]

    with SandboxSession(lang="python", image=image) as session:
        session.run("print(1)")
        container = session.container_id
        cold_exec = [
            timed(
                lambda: subprocess.run(
                    ["docker", "exec", "-u", "1000", container, "python3", "-c", "print(1)"],
                    check=True,
                    capture_output=True,
                )
            )
            for _ in range(runs)
        ]
        warm_print = [timed(lambda: session.run("print(1)")) for _ in range(runs)]
        memory = session.run(
            "import glob, os\n"
            "for status in glob.glob('/proc/[0-9]*/status'):\n"
            "    pid = status.split('/')[2]\n"
            "    try:\n"
            "        if 'llm_sandbox_runner' in open(f'/proc/{pid}/cmdline').read() and int(pid) == os.getppid():\n"
            "            print([line for line in open(status) if line.startswith('VmRSS')][0])\n"
            "    except OSError:\n"
            "        pass\n"
        ).stdout.split()
    with ArtifactSandboxSession(lang="python", image=image) as artifacts:
        artifacts.run(PLOT)  # the warm runner learns pandas and matplotlib
        artifacts.run(PLOT)
        plotted = [timed(lambda: artifacts.run(PLOT)) for _ in range(runs)]
        assert len(artifacts.run(PLOT).plots) == 1

    rival = run_rival("rival_probe.py", image=image, runs=runs, mode="interactive")
    print(f"machine: {machine()}; image {image}")
    print_table(
        "Warm kernels and warm runs (ms)",
        [
            ("cold docker exec python3 -c 'print(1)'", cold_exec, None),
            ("InteractiveSandboxSession: run x += 1", stateful, rival.get("interactive x += 1")),
            ('SandboxSession: run("print(1)"), warm', warm_print, None),
            ("pandas + matplotlib, one plot, stateless", plotted, None),
            ("open, plain session", plain_opens, None),
            ("open, interactive session", interactive_opens, rival.get("interactive open")),
        ],
    )
    rss = f"{memory[1]} {memory[2]}" if len(memory) >= 3 else "?"
    extra = summary(interactive_opens)[0] - summary(plain_opens)[0]
    print(
        f"\nx += 1: {summary(stateful)[0]:.1f} ms (target <= 5); print(1): {summary(warm_print)[0]:.1f} ms "
        f"(target <= 10); plot: {summary(plotted)[0]:.1f} ms (target <= 100); interactive open +{extra:.0f} ms "
        f"over a plain open (target <= 150); warm runner RSS after a print(1) session: {rss}"
    )


if __name__ == "__main__":
    main()

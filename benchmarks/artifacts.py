"""Overhead of plot capture: a run with one plot vs the same run with plotting disabled (target <= +30 ms).

    .venv/bin/python benchmarks/artifacts.py [--runs 20]
"""

from __future__ import annotations

import argparse

from common import machine, print_table, run_rival, summary, timed

from llm_sandbox import ArtifactSandboxSession
from llm_sandbox.images import builder

CODE = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    image = builder.ensure_image("python")
    samples: dict[bool, list[float]] = {}
    for plotting in (True, False):
        with ArtifactSandboxSession(lang="python", image=image, enable_plotting=plotting) as session:
            session.run(CODE)  # warm the font cache
            samples[plotting] = [timed(lambda s=session: s.run(CODE)) for _ in range(args.runs)]
    rival = run_rival("rival_probe.py", image=image, runs=args.runs, mode="artifacts")
    print(f"machine: {machine()}; image {image}")
    print_table("Plot capture overhead (ms)", [
        ("run with one plot captured", samples[True], rival.get("plot run")),
        ("same run, plotting disabled", samples[False], rival.get("no-plot run")),
    ])
    overhead = summary(samples[True])[0] - summary(samples[False])[0]
    print(f"\ncapture overhead (median difference): {overhead:+.1f} ms (target <= +30 ms)")
    if rival.get("plot run") and rival.get("no-plot run"):
        print(f"rival overhead: {summary(rival['plot run'])[0] - summary(rival['no-plot run'])[0]:+.1f} ms")


if __name__ == "__main__":
    main()

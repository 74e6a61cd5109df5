"""Overhead of plot capture: a run with one plot vs the same run with plotting disabled (target <= +30 ms).

.venv/bin/python benchmarks/artifacts.py [--runs 20]
"""

from __future__ import annotations

import argparse

from common import machine, print_table, run_rival, summary, timed

from llm_sandbox import ArtifactSandboxSession
from llm_sandbox.images import builder

CODE = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n"
RENDER_ONLY = (
    "import io\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.savefig(io.BytesIO(), format='png')\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    image = builder.ensure_image("python")
    samples: dict[bool, list[float]] = {}
    for plotting in (True, False):
        with ArtifactSandboxSession(lang="python", image=image, enable_plotting=plotting) as session:
            first = session.run(CODE)  # also warms the font cache
            assert first.exit_code == 0 and len(first.plots) == (1 if plotting else 0), first
            samples[plotting] = [timed(lambda s=session: s.run(CODE)) for _ in range(args.runs)]
        if not plotting:
            # What rendering the figure costs by itself, without any capture: the floor of any capture.
            with ArtifactSandboxSession(lang="python", image=image, enable_plotting=False) as session:
                session.run(RENDER_ONLY)
                render_only = [timed(lambda s=session: s.run(RENDER_ONLY)) for _ in range(args.runs)]
    rival = run_rival("rival_probe.py", image=image, runs=args.runs, mode="artifacts")
    print(f"machine: {machine()}; image {image}")
    print_table(
        "Plot capture overhead (ms)",
        [
            ("run with one plot captured", samples[True], rival.get("plot run")),
            ("same run, plotting disabled", samples[False], rival.get("no-plot run")),
            ("plotting disabled, code renders the PNG itself", render_only, None),
        ],
    )
    if rival:
        print(f"rival: plots per run {rival.get('plots per run')}, exit codes {rival.get('exit code')}")
    overhead = summary(samples[True])[0] - summary(samples[False])[0]
    print(f"\ncapture overhead (median difference): {overhead:+.1f} ms (target <= +30 ms)")
    print(f"capture overhead beyond rendering: {summary(samples[True])[0] - summary(render_only)[0]:+.1f} ms")
    if rival.get("plot run") and rival.get("no-plot run"):
        print(f"rival overhead: {summary(rival['plot run'])[0] - summary(rival['no-plot run'])[0]:+.1f} ms")


if __name__ == "__main__":
    main()

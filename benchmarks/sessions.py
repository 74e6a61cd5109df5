"""Session open, run("print(1)") and close, beside llm-sandbox 0.3.46 and a raw `docker run --rm`.

    .venv/bin/python benchmarks/sessions.py [--runs 20]

Targets (issue 2): open + first run <= 1.2x raw `docker run --rm IMAGE python3 -c 1`;
run("print(1)") in an open session <= 100 ms median.
"""

from __future__ import annotations

import argparse
import subprocess

from common import machine, print_table, run_rival, summary, timed

from llm_sandbox import SandboxSession
from llm_sandbox.images import builder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    image = builder.ensure_image("python")

    raw = [
        timed(
            lambda: subprocess.run(
                ["docker", "run", "--rm", "--network", "none", image, "python3", "-c", "1"],
                check=True,
                capture_output=True,
            )
        )
        for _ in range(args.runs)
    ]
    opens, firsts, warms, closes, open_first = [], [], [], [], []
    for _ in range(args.runs):
        session = SandboxSession(lang="python", image=image)
        opens.append(timed(session.open))
        firsts.append(timed(lambda s=session: s.run("print(1)")))
        open_first.append(opens[-1] + firsts[-1])
        warms += [timed(lambda s=session: s.run("print(1)")) for _ in range(3)]
        closes.append(timed(session.close))

    rival = run_rival("rival_probe.py", image=image, runs=args.runs, mode="sessions")
    rival_open_first = [
        o + f
        for o, f in zip(
            rival.get("open (skip_environment_setup)", []),
            rival.get("first run (skip_environment_setup)", []),
            strict=False,
        )
    ]
    print(f"machine: {machine()}; image {image}")
    print_table(
        "Session lifecycle (ms)",
        [
            ("raw docker run --rm python3 -c 1", raw, None),
            ("open", opens, rival.get("open (skip_environment_setup)")),
            ("open + first run", open_first, rival_open_first),
            ('run("print(1)") in an open session', warms, rival.get("warm run (skip_environment_setup)")),
            ("close", closes, rival.get("close (skip_environment_setup)")),
            ("rival open, default setup (venv + pip)", None, rival.get("open (default setup)")),
            ("rival warm run, default setup", None, rival.get("warm run (default setup)")),
        ],
    )
    ratio = summary(open_first)[0] / summary(raw)[0]
    print(
        f"\nopen + first run / raw docker run: {ratio:.2f}x (target <= 1.2x); "
        f"warm run median {summary(warms)[0]:.1f} ms (target <= 100 ms)"
    )


if __name__ == "__main__":
    main()

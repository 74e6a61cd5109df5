"""Per-language latency on Docker beside llm-sandbox 0.3.46 on the same images.

    .venv/bin/python benchmarks/languages.py [--runs 10] [--lang go --lang cpp ...]

cold = open a session + first hello world; warm = hello world in an open session (ms, median and p95).
Compiled languages compile on every run (the Go build cache stays in /tmp between the runs of a
session). A rival figure is printed only when its run printed "Hello, World!": a failed run would
measure the failure.
"""

from __future__ import annotations

import argparse

from common import machine, print_table, run_rival, timed

from llm_sandbox import SandboxSession
from llm_sandbox.images import builder

HELLO = {
    "python": 'print("Hello, World!")',
    "javascript": "console.log('Hello, World!')",
    "java": (
        'public class Main {\npublic static void main(String[] args) {\nSystem.out.println("Hello, World!");\n}\n}\n'
    ),
    "cpp": '#include <iostream>\nint main() { std::cout << "Hello, World!" << std::endl; }\n',
    "go": 'package main\nimport "fmt"\nfunc main() {\nfmt.Println("Hello, World!")\n}\n',
    "ruby": 'puts "Hello, World!"',
    "r": 'cat("Hello, World!\\n")',
}


def measure(lang: str, runs: int) -> dict[str, list[float]]:
    code = HELLO[lang]

    def check(result: object) -> None:
        assert getattr(result, "stdout", "") == "Hello, World!\n", (lang, result)

    cold = []
    for _ in range(runs):
        session = SandboxSession(lang=lang)
        try:
            cold.append(timed(lambda s=session: (s.open(), check(s.run(code)))))
        finally:
            session.close()
    with SandboxSession(lang=lang) as session:
        session.run(code)
        warm = [timed(lambda s=session: check(s.run(code))) for _ in range(runs)]
    return {"cold": cold, "warm": warm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="repetitions of each figure (at least 10)")
    parser.add_argument("--lang", action="append", choices=sorted(HELLO), help="languages (default: all)")
    args = parser.parse_args()
    runs = max(10, args.runs)
    langs = args.lang or list(HELLO)
    builder.build_images(langs, progress=False)
    rows = []
    for lang in langs:
        ours = measure(lang, runs)
        rival = run_rival(
            "rival_probe.py", mode="languages", lang=lang, code=HELLO[lang], image=builder.image_name(lang), runs=runs
        )
        rows += [
            (f"{lang}: cold (open + first run)", ours["cold"], rival.get("cold")),
            (f"{lang}: warm run", ours["warm"], rival.get("warm")),
        ]
        if rival.get("failed"):
            print(f"rival {lang}: {rival['failed'][0]:.0f} runs did not print Hello, World! (columns left empty)")
    print(f"machine: {machine()}")
    print_table("Hello world per language (ms)", rows)


if __name__ == "__main__":
    main()

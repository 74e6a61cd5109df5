"""Per-language latency on Docker: cold (open a session + first run) and warm (a run in an open session).

    PYTHONPATH=toolkit python benchmarks/languages.py [--runs 10] [--lang go --lang cpp ...]

Prints a table in milliseconds: median and p95 of each figure over ``--runs`` repetitions (at least 10).
The code is each language's hello world; compiled languages compile it on every run (the Go build
cache is kept in /tmp between the runs of a session). Images are built first when missing or stale,
outside the timings. Times are wall-clock from the caller's side, closing the session excluded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "toolkit"))

from llm_sandbox import SandboxSession

HELLO = {
    "python": 'print("Hello, World!")',
    "javascript": "console.log('Hello, World!')",
    "java": "public class Main {\npublic static void main(String[] args) {\n"
    'System.out.println("Hello, World!");\n}\n}\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "Hello, World!" << std::endl; }\n',
    "go": 'package main\nimport "fmt"\nfunc main() {\nfmt.Println("Hello, World!")\n}\n',
    "ruby": 'puts "Hello, World!"',
    "r": 'cat("Hello, World!\\n")',
}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def measure(lang: str, runs: int) -> dict[str, list[float]]:
    code = HELLO[lang]
    cold: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        session = SandboxSession(lang=lang)
        try:
            session.open()
            result = session.run(code)
            cold.append(time.perf_counter() - started)
        finally:
            session.close()
        assert result.stdout == "Hello, World!\n", (lang, result)
    warm: list[float] = []
    with SandboxSession(lang=lang) as session:
        session.run(code)  # the first run is the cold figure
        for _ in range(runs):
            started = time.perf_counter()
            result = session.run(code)
            warm.append(time.perf_counter() - started)
            assert result.stdout == "Hello, World!\n", (lang, result)
    return {"cold": cold, "warm": warm}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="repetitions of each figure (at least 10)")
    parser.add_argument("--lang", action="append", choices=sorted(HELLO), help="languages (default: all)")
    args = parser.parse_args(argv)
    runs = max(10, args.runs)
    langs = args.lang or list(HELLO)

    from llm_sandbox.images import builder

    builder.build_images(langs, progress=False)

    rows = []
    for lang in langs:
        figures = measure(lang, runs)
        rows.append((lang, figures))
        print(f"measured {lang}", file=sys.stderr, flush=True)

    columns = ("cold median", "cold p95", "warm median", "warm p95")
    header = f"{'language':<11} " + " ".join(f"{c:>12}" for c in columns) + f" {'runs':>5}"
    print(
        "\nhello world on Docker, milliseconds "
        "(cold = open session + first run; warm = run in an open session)"
    )
    print(header)
    print("-" * len(header))
    for lang, figures in rows:
        cold, warm = figures["cold"], figures["warm"]
        print(
            f"{lang:<11} {statistics.median(cold) * 1000:>12.0f} {percentile(cold, 0.95) * 1000:>12.0f} "
            f"{statistics.median(warm) * 1000:>12.0f} {percentile(warm, 0.95) * 1000:>12.0f} {runs:>5}"
        )


if __name__ == "__main__":
    main()

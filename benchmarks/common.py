"""Shared helpers for the benchmark scripts: timing, the rival's virtualenv, and the table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "toolkit"))
RIVAL_VENV = ROOT / ".venv-rival"
RIVAL = "llm-sandbox==0.3.46"


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> tuple[float, float, int]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, len(ordered)


def print_table(title: str, rows: list[tuple[str, list[float] | None, list[float] | None]]) -> None:
    """Rows of (figure, ours, rival) samples in ms; a missing side prints as '-'."""
    print(f"\n{title}")
    columns = ("ours median", "ours p95", "runs", "rival median", "rival p95")
    header = f"| {'figure':<44} | " + " | ".join(columns) + " |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for name, ours, rival in rows:
        o = summary(ours) if ours else None
        r = summary(rival) if rival else None
        print(
            f"| {name:<44} | {f'{o[0]:.1f}' if o else '-':>11} | {f'{o[1]:.1f}' if o else '-':>9} | "
            f"{o[2] if o else (r[2] if r else 0):>4} | "
            f"{f'{r[0]:.1f}' if r else '-':>12} | {f'{r[1]:.1f}' if r else '-':>9} |"
        )


def ensure_rival() -> Path | None:
    """The reference implementation in its own virtualenv (never importable by our code)."""
    python = RIVAL_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing {RIVAL} into {RIVAL_VENV} ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(RIVAL_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", f"llm-sandbox[docker]=={RIVAL.split('==')[1]}"],
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            print(f"could not install the rival ({exc}); its columns stay empty", file=sys.stderr)
            return None
    return python


def run_rival(script: str, **params: object) -> dict[str, list[float]]:
    """Run ``benchmarks/<script>`` with the rival's interpreter, outside our tree; it prints JSON."""
    python = ensure_rival()
    if python is None:
        return {}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    completed = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / script), json.dumps(params)],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if completed.returncode != 0:
        print(f"rival run failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
        return {}
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return f"{os.cpu_count()} cores ({cpu}), Linux {os.uname().release}"

"""Open / run / close costs of a session on each container backend, from one run on the same image.

    .venv/bin/python benchmarks/backends.py [--runs 20] [--backends docker,podman] [--lang python]

``--runs`` rounds; in each, every backend in turn opens a session (create and
start the container and its packages volume), runs a hello-world twice (the
first run in a fresh container, then a warm one), runs a shell command and
closes it (removes container and volume). Taking turns means both backends see
the same machine load. Prints one table: figure, backend, median, p95, runs.
Backends that do not answer are listed as skipped, with the reason.
Podman gets the image Docker has (loaded once, before timing).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from common import machine, summary

FIGURES = ("open", "first run", "warm run", "command", "close", "open+run+close")


def _timed(action: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    result = action(*args)
    if getattr(result, "exit_code", 0) != 0:
        raise RuntimeError(f"benchmark step failed: {result}")
    return (time.perf_counter() - started) * 1000


def sample(backend: str, lang: str, code: str) -> dict[str, float]:
    """One session's figures (ms)."""
    from llm_sandbox import create_session

    session = create_session(backend, lang=lang)
    opened = _timed(session.open)
    try:
        first = _timed(session.run, code)
        warm = _timed(session.run, code)
        command = _timed(session.execute_command, "true")
    finally:
        closed = _timed(session.close)
    values = (opened, first, warm, command, closed, opened + first + closed)
    return dict(zip(FIGURES, values, strict=True))


def measure(backends: list[str], lang: str, code: str, runs: int) -> dict[str, dict[str, list[float]]]:
    """Backends take turns, one session each per round, so both see the same machine load."""
    from llm_sandbox import create_session

    samples: dict[str, dict[str, list[float]]] = {b: {figure: [] for figure in FIGURES} for b in backends}
    for backend in backends:  # warm-up: image lookup, connection, page cache
        create_session(backend, lang=lang).open().close()
    for _ in range(runs):
        for backend in backends:
            for figure, value in sample(backend, lang, code).items():
                samples[backend][figure].append(value)
    return samples


def prepare(backend: str, lang: str) -> str | None:
    """None when the backend can be measured, else why not."""
    from llm_sandbox.images import builder

    try:
        if backend == "docker":
            from llm_sandbox.engines.docker import connect

            builder.ensure_image(lang, connect())
        elif backend == "podman":
            from llm_sandbox.engines import podman

            if not podman.service_available():
                return "no Podman service answers (scripts/setup-podman.sh)"
            podman.ensure_image_loaded(builder.image_name(lang))
        else:
            return f"not measured by this script: {backend}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backends", default="docker,podman")
    parser.add_argument("--lang", default="python")
    parser.add_argument("--code", default="print('hello')")
    args = parser.parse_args(argv)

    ready: list[str] = []
    skipped: dict[str, str] = {}
    for backend in [name.strip() for name in args.backends.split(",") if name.strip()]:
        reason = prepare(backend, args.lang)
        if reason:
            skipped[backend] = reason
        else:
            ready.append(backend)
    print(f"measuring {', '.join(ready) or 'nothing'} ({args.runs} rounds)...", file=sys.stderr, flush=True)
    results = measure(ready, args.lang, args.code, args.runs) if ready else {}

    print(f"machine: {machine()}")
    print(f"session costs, {args.lang} image, code {args.code!r} (ms)")
    print(f"{'figure':<16} {'backend':<8} {'median':>8} {'p95':>8} {'runs':>5}")
    for figure in FIGURES:
        for backend, samples in results.items():
            median, p95, runs = summary(samples[figure])
            print(f"{figure:<16} {backend:<8} {median:8.1f} {p95:8.1f} {runs:5d}")
    for backend, reason in skipped.items():
        print(f"{backend}: skipped ({reason})")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())

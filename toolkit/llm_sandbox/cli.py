"""The ``llm-sandbox`` command.

One subparser per command group and one function per subcommand; add a command by adding a
``_add_<group>`` function to :data:`_GROUPS` and its handlers.

    llm-sandbox images build [LANG ...] [--force] [--jobs N]
    llm-sandbox images list
    llm-sandbox run [--lang LANG] [FILE | -]
    llm-sandbox gc [--all] [--dry-run] [--backend docker|podman]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from llm_sandbox.exceptions import SandboxError


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------
def cmd_images_build(args: argparse.Namespace) -> int:
    from llm_sandbox.images import builder

    langs = args.langs or builder.available_languages()
    built = builder.build_images(langs, force=args.force, parallel=args.jobs)
    for lang, name in built.items():
        print(f"{name}\t{lang}\tready")
    return 0


def cmd_images_list(args: argparse.Namespace) -> int:
    from llm_sandbox.images import builder

    rows = [("IMAGE", "LANG", "HASH", "SIZE", "STATUS")]
    for status in builder.list_images():
        state = "missing" if not status.present else "current" if status.current else "stale"
        if status.lang == "base" and status.present:
            state = "present"
        rows.append((status.name, status.lang, (status.hash or "-")[:12], _size(status.size), state))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1e6:.0f}MB"


def _add_images(commands: argparse._SubParsersAction) -> None:
    images = commands.add_parser("images", help="build and list the sandbox images")
    sub = images.add_subparsers(dest="images_command", metavar="COMMAND", required=True)

    build = sub.add_parser(
        "build", help="build llm-sandbox/<lang>:latest images (only those whose inputs changed)"
    )
    build.add_argument("langs", nargs="*", metavar="LANG", help="languages to build (default: all)")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date, without cache")
    build.add_argument("--jobs", "-j", type=int, default=2, help="builds run at the same time (default 2)")
    build.set_defaults(handler=cmd_images_build)

    listing = sub.add_parser("list", help="show each language image: hash, size, current/stale/missing")
    listing.set_defaults(handler=cmd_images_list)


# --------------------------------------------------------------------------------------------
# run, gc
# --------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from llm_sandbox import create_session

    code = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    with create_session(args.backend, lang=args.lang, execution_timeout=args.timeout) as session:
        result = session.run(
            code,
            libraries=args.library or None,
            on_stdout=lambda text: print(text, end="", flush=True),
            on_stderr=lambda text: print(text, end="", file=sys.stderr, flush=True),
        )
    return result.exit_code


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run a file (or stdin) in a fresh sandbox and stream its output")
    run.add_argument("file", nargs="?", default="-", help="code file, or - for standard input (default)")
    run.add_argument("--lang", default="python", help="language (default python)")
    run.add_argument("--backend", default="docker", help="docker, podman, kubernetes or micromamba")
    run.add_argument("--timeout", type=float, default=None, help="seconds before the run is killed")
    run.add_argument("--library", "-l", action="append", help="library to install first (repeatable)")
    run.set_defaults(handler=cmd_run)


def cmd_gc(args: argparse.Namespace) -> int:
    from llm_sandbox.engines.docker import DockerEngine
    from llm_sandbox.gc import collect

    engine: type[DockerEngine] = DockerEngine
    if args.backend == "podman":
        from llm_sandbox.engines.podman import PodmanEngine

        engine = PodmanEngine
    removed = collect(engine(), everything=args.all, dry_run=args.dry_run)
    for entry in removed:
        print(("would remove " if args.dry_run else "removed ") + entry)
    if not removed:
        print("nothing to remove")
    return 0


def _add_gc(commands: argparse._SubParsersAction) -> None:
    gc = commands.add_parser("gc", help="remove sandbox containers and volumes whose owner process is gone")
    gc.add_argument("--all", action="store_true", help="remove every sandbox, even of live processes")
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    gc.add_argument("--backend", choices=["docker", "podman"], default="docker", help="engine (default docker)")
    gc.set_defaults(handler=cmd_gc)


def _add_playground(commands: argparse._SubParsersAction) -> None:
    from playground.cli import run  # light: Gradio is imported only when it runs
    from playground.options import add_arguments

    playground = commands.add_parser("playground", help="serve the Gradio playground on 127.0.0.1:7860")
    add_arguments(playground)
    playground.set_defaults(handler=run)


_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [_add_images, _add_run, _add_gc, _add_playground]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-sandbox", description="Run the code an AI agent writes in isolated containers."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _GROUPS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except SandboxError as exc:
        print(f"llm-sandbox: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("llm-sandbox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

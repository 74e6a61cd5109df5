"""The ``llm-sandbox`` command.

One subparser per command group and one function per subcommand; add a command by adding a
``_add_<group>`` function to :data:`_GROUPS` and its handlers.

    llm-sandbox images build [LANG ...] [--force] [--jobs N]
    llm-sandbox images list
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

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


_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [_add_images]


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

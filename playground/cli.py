"""The playground's command line: ``python -m playground`` and ``llm-sandbox playground``.

Light on purpose, like :mod:`playground.options`: Gradio and LangChain are imported only
when :func:`run` serves the app.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from playground.options import add_arguments, config_from_args


def run(args: argparse.Namespace) -> int:
    """Serve the playground until interrupted."""
    from playground.app import serve

    serve(config_from_args(args))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground",
        description="LLM Sandbox playground: chat with a model that runs code in a sandbox, or run code yourself.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    from llm_sandbox.exceptions import SandboxError

    try:
        return run(args)
    except SandboxError as exc:
        parser.exit(1, f"playground: error: {exc}\n")
    except KeyboardInterrupt:
        return 130

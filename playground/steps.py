"""How a tool call shows in the chat: its code, live output, result and plots, as markdown."""

from __future__ import annotations

import json
import re
from typing import Any


def render_step(
    name: str,
    args: dict[str, Any],
    language: str,
    stdout: str,
    stderr: str,
    footer: str,
    *,
    plots: list[str] | None = None,
    result_text: str | None = None,
) -> str:
    """The markdown body of a tool step: code, live output, exit code and duration, plots."""
    parts = []
    if name == "run_code":
        parts.append(_fence(str(args.get("code", "")), language))
        libraries = args.get("libraries")
        if libraries:
            parts.append("libraries: " + ", ".join(f"`{lib}`" for lib in libraries))
    else:
        shown = {k: v for k, v in args.items() if k != "language"}
        parts.append(_fence(json.dumps(shown, indent=2, ensure_ascii=False), "json"))
    if stdout:
        parts.append("**stdout**\n\n" + _fence(stdout, "text"))
    if stderr:
        parts.append("**stderr**\n\n" + _fence(stderr, "text"))
    if result_text:
        parts.append(_fence(result_text, "text"))
    for path in plots or []:
        parts.append(f"![plot](/gradio_api/file={path})")
    if footer:
        parts.append(footer)
    return "\n\n".join(parts)


def _fence(text: str, language: str = "") -> str:
    """``text`` in a fenced block longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text.rstrip()}\n{ticks}"

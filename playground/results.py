"""A finished run as a tab shows it, from the chat or the Code tab alike.

Its plots and files are copied into the tab's folder on the host (the gallery and the
downloads beside every tab), and it is summed up in one line.
"""

from __future__ import annotations

import base64
import html
import posixpath

from llm_sandbox.const import FileType
from llm_sandbox.data import ExecutionResult
from playground.state import TabState


def keep_artifacts(tab: TabState, result: ExecutionResult | None, origin: str) -> list[str]:
    """Save a run's plots (gallery) and files (downloads) on the host; returns the new plot paths."""
    if result is None:
        return []
    new_plots = []
    for plot in result.plots:
        number = tab.next_number()
        extension = plot.format.value
        path = tab.directory / f"plot-{number}.{extension}"
        path.write_bytes(base64.b64decode(plot.content_base64))
        if plot.format.is_image and plot.format is not FileType.PDF:
            tab.plots.append((str(path), f"{origin} · plot {len(tab.plots) + 1}"))
            new_plots.append(str(path))
        else:
            tab.files[f"plot-{number}"] = str(path)
    for output in result.files:
        if output.content_base64 is None:  # over the session's artifact limit: not copied
            continue
        folder = tab.directory / f"files-{tab.next_number()}"
        folder.mkdir(exist_ok=True)
        path = folder / (posixpath.basename(output.path) or "file")
        path.write_bytes(base64.b64decode(output.content_base64))
        tab.files[output.path] = str(path)
    return new_plots


def result_line(result: ExecutionResult, plots: int) -> str:
    """``✓ exit code 0 · 1.20 s · 1 plot · 1 file to download``."""
    ok = "✓" if result.exit_code == 0 else "✗"
    parts = [f"{ok} exit code {result.exit_code}"]
    if result.duration is not None:
        parts.append(f"{result.duration:.2f} s")
    if plots:
        parts.append(f"{plots} plot{'s' if plots != 1 else ''}")
    if result.files:
        parts.append(f"{len(result.files)} file{'s' if len(result.files) != 1 else ''} to download")
    if result.stdout_truncated or result.stderr_truncated:
        parts.append("output truncated")
    return " · ".join(parts)


def rich_results(result: ExecutionResult | None) -> str:
    """A kernel cell's rich results (a DataFrame's table, a value's text) as HTML for the tab.

    HTML comes from the sandboxed code, so it is shown in a sandboxed ``<iframe>`` (no scripts, no
    access to the page): a cell cannot run code in the visitor's browser.
    """
    parts = []
    for item in result.results if result is not None else []:
        data = item.get("data") or {}
        if "text/html" in data:
            document = html.escape(f"<!doctype html><meta charset=utf-8><body>{data['text/html']}</body>")
            parts.append(f'<iframe class="rich-result" sandbox srcdoc="{document}"></iframe>')
        elif "text/plain" in data:
            parts.append(f'<pre class="rich-result">{html.escape(str(data["text/plain"]))}</pre>')
    return "".join(parts)

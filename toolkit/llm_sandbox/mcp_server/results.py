"""Tool replies as MCP results: the text a model reads, the images it sees, files as embedded resources.

The text comes from the shared tool layer (:mod:`llm_sandbox.tools.text`); this module only
adds what MCP carries beside it: every plot of a run (raster images as ``ImageContent``,
others as embedded resources) and every file the run wrote to its outputs directory.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from urllib.parse import quote

from mcp import types

from llm_sandbox.const import FileType
from llm_sandbox.data import ExecutionResult, FileOutput, PlotOutput
from llm_sandbox.tools.text import ToolReply, human_size

IMAGE_TYPES = {FileType.PNG: "image/png", FileType.JPEG: "image/jpeg", FileType.GIF: "image/gif"}
"""Formats sent as ``ImageContent``: the ones clients and model APIs display. SVG travels as text."""

_MIME_TYPES = {
    FileType.SVG: "image/svg+xml",
    FileType.PDF: "application/pdf",
    FileType.EPS: "application/postscript",
    FileType.HTML: "text/html",
    FileType.CSV: "text/csv",
    FileType.JSON: "application/json",
    FileType.TXT: "text/plain",
    FileType.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    FileType.PARQUET: "application/vnd.apache.parquet",
    FileType.ZIP: "application/zip",
}
_TEXT_TYPES = {FileType.SVG, FileType.HTML, FileType.CSV, FileType.JSON, FileType.TXT}

Content = types.ContentBlock


def text_result(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=error)


def run_result(reply: ToolReply, *, max_bytes: int) -> types.CallToolResult:
    """A run's (or command's) reply: its text, then its plots and output files.

    ``isError`` when the reply reports an error (a timeout, a refused import) or the
    program failed (a non-zero exit code): a result the model reads, never a protocol error.
    """
    content: list[Content] = [types.TextContent(type="text", text=reply.text)]
    result = reply.artifact
    failed = not reply.ok
    if isinstance(result, ExecutionResult):
        failed = failed or result.exit_code != 0
        content += artifact_contents(result, max_bytes=max_bytes)
    return types.CallToolResult(content=content, isError=failed)


def file_result(reply: ToolReply) -> types.CallToolResult:
    """A downloaded file: a line naming it, then the file (an image, text, or a blob)."""
    content: list[Content] = [types.TextContent(type="text", text=reply.text)]
    file = reply.artifact
    if reply.ok and isinstance(file, FileOutput) and file.content_base64 is not None:
        content.append(file_content(file.path, file.format, file.content_base64))
    return types.CallToolResult(content=content, isError=not reply.ok)


def artifact_contents(result: ExecutionResult, *, max_bytes: int) -> list[Content]:
    """Each plot and output file of ``result``; those over ``max_bytes`` are named in a note instead."""
    contents: list[Content] = []
    withheld: list[str] = []
    for number, plot in enumerate(result.plots, start=1):
        name = plot.filename or f"plot-{number}.{plot.format.value}"
        if _decoded_size(plot.content_base64) > max_bytes:
            withheld.append(f"{name} ({human_size(_decoded_size(plot.content_base64))})")
            continue
        contents.append(plot_content(plot, number))
    for file in result.files:
        if file.content_base64 is None or file.size > max_bytes:
            withheld.append(f"{file.path} ({human_size(file.size)})")
            continue
        contents.append(file_content(file.path, file.format, file.content_base64))
    if withheld:
        note = (
            f"not included (over {human_size(max_bytes)}): {', '.join(withheld)}; "
            "reduce them or split them, then use download_file"
        )
        contents.append(types.TextContent(type="text", text=note))
    return contents


def plot_content(plot: PlotOutput, number: int) -> Content:
    """A plot: a file the code saved (``filename``), or a captured figure, named by its position."""
    if plot.filename or plot.format in IMAGE_TYPES:
        return file_content(plot.filename or "", plot.format, plot.content_base64)
    return _resource(f"sandbox://plots/{number}.{plot.format.value}", plot.format, plot.content_base64)


def file_content(path: str, kind: FileType, data_base64: str) -> Content:
    """A sandbox file: an image the model sees, or an embedded resource (text when it decodes as text)."""
    if kind in IMAGE_TYPES:
        return types.ImageContent(type="image", data=data_base64, mimeType=IMAGE_TYPES[kind])
    return _resource("sandbox://" + quote(path), kind, data_base64, path)


def _resource(uri: str, kind: FileType, data_base64: str, path: str = "") -> types.EmbeddedResource:
    mime = _MIME_TYPES.get(kind) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    resource: types.TextResourceContents | types.BlobResourceContents
    text = _as_text(data_base64) if kind in _TEXT_TYPES or mime.startswith("text/") else None
    if text is not None:
        resource = types.TextResourceContents(uri=uri, mimeType=mime, text=text)  # type: ignore[arg-type]
    else:
        resource = types.BlobResourceContents(uri=uri, mimeType=mime, blob=data_base64)  # type: ignore[arg-type]
    return types.EmbeddedResource(type="resource", resource=resource)


def _as_text(data_base64: str) -> str | None:
    try:
        return base64.b64decode(data_base64).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _decoded_size(data_base64: str) -> int:
    return len(data_base64) * 3 // 4

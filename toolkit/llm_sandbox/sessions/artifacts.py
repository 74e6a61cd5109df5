"""The artifacts of a run: plots and output files, read from the run wrapper's tar stream."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import tarfile

from llm_sandbox.const import FileType
from llm_sandbox.data import FileOutput, PlotOutput

MAX_ARTIFACT_BYTES = 10 * 1024 * 1024
"""Larger plots are dropped (with a notice) and larger output files are listed without content."""

_PLOT_NAME = re.compile(r"^plots/(\d+)-(\d+)x(\d+)-(\d+)\.(\w+)$")


def read_artifacts(data: bytes, plotting: bool) -> tuple[list[PlotOutput], list[FileOutput]]:
    """Plots (in capture order) and output files from the wrapper's tar stream."""
    plots: list[tuple[int, PlotOutput]] = []
    images: list[PlotOutput] = []
    files: list[FileOutput] = []
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = member.name
            handle = archive.extractfile(member)
            if name == "large-files":
                files += _large_files((handle.read() if handle else b"").decode(errors="replace"))
                continue
            content = handle.read() if handle and member.size <= MAX_ARTIFACT_BYTES else None
            encoded = base64.b64encode(content).decode() if content is not None else None
            match = _PLOT_NAME.match(name)
            if match:
                if plotting and encoded is not None:
                    order, width, height, dpi, ext = match.groups()
                    if width == "0" and content is not None:  # saved by the code: size from the file
                        width, height = (str(value or 0) for value in _image_size(content))
                    plots.append(
                        (
                            int(order),
                            PlotOutput(
                                format=FileType.from_filename(f"x.{ext}"),
                                content_base64=encoded,
                                width=int(width) or None,
                                height=int(height) or None,
                                dpi=int(dpi) or None,
                            ),
                        )
                    )
                continue
            path = "/" + name.lstrip("/")
            kind = FileType.from_filename(path)
            # A figure saved into the outputs directory was captured when it was saved, in order
            # (savefig, ggsave): name that capture instead of returning the same file twice.
            same = next(
                (i for i, (_, plot) in enumerate(plots) if encoded is not None and plot.content_base64 == encoded), None
            )
            if same is not None:
                order, plot = plots[same]
                plots[same] = (order, dataclasses.replace(plot, filename=path))
                continue
            if kind.is_image and plotting and encoded is not None:
                width, height = _image_size(content or b"")
                images.append(PlotOutput(kind, encoded, width, height, None, filename=path))
            else:
                files.append(FileOutput(path=path, format=kind, size=member.size, content_base64=encoded))
    return [plot for _, plot in sorted(plots, key=lambda item: item[0])] + images, files


def _large_files(listing: str) -> list[FileOutput]:
    """Output files over the size limit: listed (``<size> <path>`` lines), their content not sent."""
    found = []
    for line in listing.splitlines():
        size, _, path = line.partition(" ")
        if size.isdigit() and path:
            found.append(
                FileOutput(path=path, format=FileType.from_filename(path), size=int(size), content_base64=None)
            )
    return found


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG (from its header); ``None`` for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None, None

"""The artifacts of a run: plots and output files, read from the run wrapper's tar stream."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from llm_sandbox.const import FileType
from llm_sandbox.data import FileOutput, PlotOutput

MAX_ARTIFACT_BYTES = 10 * 1024 * 1024
"""Larger plots are dropped (with a notice) and larger output files are listed without content."""
MAX_PLOTS = 50
"""Plots returned per run; more are dropped with a notice."""

_PLOT_NAME = re.compile(r"^plots/(\d+)-(\d+)x(\d+)-(\d+)\.(\w+)$")


@dataclass
class Artifacts:
    """What a run left: its plots (in capture order), its output files, and notices about what was dropped."""

    plots: list[PlotOutput] = field(default_factory=list)
    files: list[FileOutput] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def read_artifacts(data: bytes, plotting: bool, outputs_dir: str) -> Artifacts:
    """The plots and output files in the run wrapper's tar stream, checked here on the host.

    The sandbox's side is not trusted: every limit is enforced here (at most
    :data:`MAX_PLOTS` plots and :data:`MAX_ARTIFACT_BYTES` per file), only
    regular files are read, and every path must lie under ``outputs_dir``.
    """
    found = Artifacts()
    captured: list[tuple[int, PlotOutput]] = []
    images: list[PlotOutput] = []
    outputs = PurePosixPath(outputs_dir)
    dropped_plots = 0
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = member.name
            if name == "large-files":
                found.files += _large_files(_read(archive, member, MAX_ARTIFACT_BYTES) or b"", outputs)
                continue
            match = _PLOT_NAME.match(name)
            if match:
                content = _read(archive, member, MAX_ARTIFACT_BYTES)
                if not plotting:
                    continue
                if content is None or len(captured) >= MAX_PLOTS:
                    dropped_plots += 1
                    continue
                captured.append((int(match.group(1)), _captured_plot(match, content)))
                continue
            path = _output_path(name, outputs)
            if path is None:
                found.notices.append(f"ignored {name!r}: not under {outputs_dir}")
                continue
            content = _read(archive, member, MAX_ARTIFACT_BYTES)
            encoded = base64.b64encode(content).decode() if content is not None else None
            kind = FileType.from_filename(path)
            # A figure saved into the outputs directory was captured when it was saved, in order
            # (savefig, ggsave): name that capture instead of returning the same file twice.
            same = next(
                (i for i, (_, plot) in enumerate(captured) if encoded is not None and plot.content_base64 == encoded),
                None,
            )
            if same is not None:
                order, plot = captured[same]
                captured[same] = (order, dataclasses.replace(plot, filename=path))
            elif kind.is_image and plotting and encoded is not None and len(captured) + len(images) < MAX_PLOTS:
                width, height = _image_size(content or b"")
                images.append(PlotOutput(kind, encoded, width, height, None, filename=path))
            else:
                found.files.append(FileOutput(path=path, format=kind, size=member.size, content_base64=encoded))
    found.plots = [plot for _, plot in sorted(captured, key=lambda item: item[0])] + images
    if dropped_plots:
        found.notices.append(_dropped_notice(dropped_plots))
    return found


def plots_from_capture(named: list[tuple[str, str]]) -> Artifacts:
    """Plots from captured files given as ``(name, base64)`` (a kernel's cell), with the same limits."""
    found = Artifacts()
    dropped = 0
    for name, encoded in named:
        match = _PLOT_NAME.match(f"plots/{name}")
        try:
            content = base64.b64decode(encoded, validate=True)
        except ValueError:
            content = None
        if match is None or content is None or len(content) > MAX_ARTIFACT_BYTES or len(found.plots) >= MAX_PLOTS:
            dropped += 1
            continue
        found.plots.append(_captured_plot(match, content))
    if dropped:
        found.notices.append(_dropped_notice(dropped))
    return found


def merge_saved_figures(captured: list[PlotOutput], written: list[PlotOutput]) -> list[PlotOutput]:
    """Captured figures, then the images written into the outputs directory; a figure that was both
    captured and saved there (``savefig``, ``ggsave``) is returned once, named after its file."""
    merged = list(captured)
    for image in written:
        same = next((i for i, plot in enumerate(merged) if plot.content_base64 == image.content_base64), None)
        if same is not None:
            merged[same] = dataclasses.replace(merged[same], filename=image.filename)
        else:
            merged.append(image)
    return merged


def _dropped_notice(count: int) -> str:
    return (
        f"{count} plot(s) not returned: at most {MAX_PLOTS} per run, each at most "
        f"{MAX_ARTIFACT_BYTES // 2**20} MiB"
    )


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes | None:
    """The member's bytes, or None when it is larger than ``limit`` (nothing beyond it is read)."""
    if member.size > limit:
        return None
    handle = archive.extractfile(member)
    return handle.read(limit + 1)[:limit] if handle is not None else None


def _captured_plot(match: re.Match[str], content: bytes) -> PlotOutput:
    _, width, height, dpi, ext = match.groups()
    if width == "0":  # saved by the code: the size from the file
        width, height = (str(value or 0) for value in _image_size(content))
    return PlotOutput(
        format=FileType.from_filename(f"x.{ext}"),
        content_base64=base64.b64encode(content).decode(),
        width=int(width) or None,
        height=int(height) or None,
        dpi=int(dpi) or None,
    )


def _output_path(name: str, outputs: PurePosixPath) -> str | None:
    """``/name`` when it names a file under ``outputs`` (no ``..``, nothing outside); else None."""
    path = PurePosixPath("/" + name.lstrip("/"))
    if ".." in path.parts or "\x00" in name or not path.is_relative_to(outputs) or path == outputs:
        return None
    return str(path)


def _large_files(listing: bytes, outputs: PurePosixPath) -> list[FileOutput]:
    """Output files over the size limit: NUL-separated ``<size> <path>`` records, listed without content."""
    found = []
    for record in listing.split(b"\0"):
        size, _, raw = record.partition(b" ")
        path = _output_path(raw.decode(errors="replace"), outputs) if raw else None
        if size.isdigit() and path is not None:
            kind = FileType.from_filename(path)
            found.append(FileOutput(path=path, format=kind, size=int(size), content_base64=None))
    return found


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    """Width and height of a PNG (from its header); ``None`` for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None, None

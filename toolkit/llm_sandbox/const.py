"""Enumerations of the public API."""

from __future__ import annotations

from enum import Enum, StrEnum


class SandboxBackend(StrEnum):
    """Container technology that isolates the code."""

    DOCKER = "docker"
    KUBERNETES = "kubernetes"
    PODMAN = "podman"
    MICROMAMBA = "micromamba"


class SupportedLanguage(StrEnum):
    """Language identifiers accepted by ``lang=``."""

    PYTHON = "python"
    JAVASCRIPT = "javascript"
    JAVA = "java"
    CPP = "cpp"
    GO = "go"
    RUBY = "ruby"
    R = "r"


class FileType(Enum):
    """Formats of artifacts (plots and output files) returned from the sandbox."""

    PNG = "png"
    JPEG = "jpeg"
    GIF = "gif"
    SVG = "svg"
    PDF = "pdf"
    EPS = "eps"
    HTML = "html"
    CSV = "csv"
    JSON = "json"
    TXT = "txt"
    XLSX = "xlsx"
    PARQUET = "parquet"
    ZIP = "zip"
    OTHER = "other"

    @classmethod
    def from_filename(cls, name: str) -> FileType:
        """Guess the type from a file name's extension (``other`` when unknown)."""
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        ext = {"jpg": "jpeg", "htm": "html", "text": "txt", "md": "txt", "log": "txt"}.get(ext, ext)
        try:
            return cls(ext)
        except ValueError:
            return cls.OTHER

    @property
    def is_image(self) -> bool:
        return self in _IMAGE_TYPES


_IMAGE_TYPES = frozenset({FileType.PNG, FileType.JPEG, FileType.GIF, FileType.SVG})


# Reference name kept for compatibility.
PlotFormat = FileType

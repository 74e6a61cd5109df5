"""Enumerations and constants of the public API."""

from __future__ import annotations

import enum
from enum import Enum
from typing import Any


class StrEnum(enum.StrEnum):
    """A string enumeration whose lookup ignores case: ``SandboxBackend("Docker")`` is ``DOCKER``."""

    def __new__(cls, value: Any) -> StrEnum:
        if not isinstance(value, str):
            raise TypeError(f"StrEnum values must be strings, not {type(value).__name__} ({value!r})")
        member = str.__new__(cls, value)
        member._value_ = value
        return member

    @classmethod
    def _missing_(cls, value: object) -> StrEnum:
        if isinstance(value, str):
            for member in cls:
                if member.value == value.lower():
                    return member
        raise ValueError(f"{value!r} is not a valid {cls.__name__}; choose one of: {', '.join(cls)}")


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


class DefaultImage:
    """The image each language's sessions use when no ``image=`` is given (the reference API's constants).

    These are the images this library builds itself (``llm-sandbox images build``), not the
    reference's registry images: passing ``image=DefaultImage.PYTHON`` works without a registry.
    """

    PYTHON = "llm-sandbox/python:latest"
    JAVASCRIPT = "llm-sandbox/javascript:latest"
    JAVA = "llm-sandbox/java:latest"
    CPP = "llm-sandbox/cpp:latest"
    GO = "llm-sandbox/go:latest"
    RUBY = "llm-sandbox/ruby:latest"
    R = "llm-sandbox/r:latest"

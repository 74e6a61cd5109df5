"""Image builder: ``llm-sandbox/<lang>:latest`` images from the Dockerfiles in this package."""

from llm_sandbox.images.builder import (
    BASE_IMAGE,
    HASH_LABEL,
    LANG_LABEL,
    ImageStatus,
    available_languages,
    build_image,
    build_images,
    ensure_base_image,
    ensure_image,
    image_name,
    image_status,
    list_images,
)
from llm_sandbox.images.progress import NullProgress, Progress

__all__ = [
    "BASE_IMAGE",
    "HASH_LABEL",
    "LANG_LABEL",
    "ImageStatus",
    "NullProgress",
    "Progress",
    "available_languages",
    "build_image",
    "build_images",
    "ensure_base_image",
    "ensure_image",
    "image_name",
    "image_status",
    "list_images",
]

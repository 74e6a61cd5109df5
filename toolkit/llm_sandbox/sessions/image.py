"""Which image a session runs: a Dockerfile's template, the built-in image, or the user's (pulled if missing)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from llm_sandbox.engines.base import Engine
from llm_sandbox.exceptions import ImageNotFoundError

logger = logging.getLogger("llm_sandbox")

TEMPLATE_REPOSITORY = "llm-sandbox-template"


def template_tag(dockerfile: str, lang: str) -> str:
    """The tag an image built from ``dockerfile`` gets: its content decides it, so it is built once."""
    try:
        digest = hashlib.sha256(Path(dockerfile).read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FileNotFoundError(f"Dockerfile {dockerfile} does not exist") from None
    return f"{TEMPLATE_REPOSITORY}/{lang}:{digest[:16]}"


def build_template(engine: Engine, dockerfile: str, lang: str) -> tuple[str, bool]:
    """The template image of ``dockerfile``, built when missing; ``(tag, built now)``."""
    tag = template_tag(dockerfile, lang)
    if engine.image_exists(tag):
        return tag, False
    logger.info("building %s from %s", tag, dockerfile)
    engine.build_image(dockerfile, tag)
    return tag, True


def resolve(engine: Engine, lang: str, image: str | None, default_image: str, hint: str | None = None) -> str:
    """``image`` (else ``default_image``) made available on ``engine``: found, built in, or pulled."""
    wanted = image or default_image
    if engine.image_exists(wanted):
        return wanted
    if wanted == default_image:
        logger.info("image for %s is missing; building it (one time)", lang)
        return engine.builtin_image(lang, wanted)
    logger.info("image %s is not here; pulling it", wanted)
    if engine.pull_image(wanted):
        return wanted
    raise ImageNotFoundError(
        wanted,
        hint
        or (
            f"it is not on this machine and could not be pulled; pull or build it first (e.g. `docker pull "
            f"{wanted}`), or leave image= unset to use the built-in llm-sandbox/{lang} image "
            f"(`llm-sandbox images build {lang}`)"
        ),
    )

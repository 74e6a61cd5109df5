"""``commit_container=True``: the session's state saved as an image, and restored from one."""

from __future__ import annotations

import logging

from llm_sandbox.contract import COMMITTED_WORKDIR, KEEPER_COMMAND, PACKAGES_DIR, ownership_labels
from llm_sandbox.engines.base import ContainerSpec
from llm_sandbox.sessions.sandbox import Sandbox

logger = logging.getLogger("llm_sandbox")

COMMIT_REPOSITORY = "llm-sandbox-commit"


def commit(sandbox: Sandbox, image: str, lang: str, session_id: str) -> str:
    """Save the workdir and installed packages as ``llm-sandbox-commit/<lang>:<session id>``; its name.

    The sandbox's own layer is empty (read-only root, tmpfs workdir), so the
    state is unpacked into a fresh container of the same image and that one is
    committed: the workdir under ``COMMITTED_WORKDIR`` (a session opened from the
    image copies it back into its tmpfs workdir, see :func:`restore`), the
    packages where they were (Docker seeds the new packages volume from the image).
    """
    archive = sandbox.exec_checked(
        ["sh", "-c", 'tar -c -C "$0" --transform "s,^\\.,workdir," . -C / "${1#/}"', sandbox.workdir, PACKAGES_DIR],
        "saving the session state",
    )
    spec = ContainerSpec(
        image=image,
        command=list(KEEPER_COMMAND),
        labels=ownership_labels(session_id),
        options={
            "user": "0:0",
            "network_mode": "none",
            "cap_drop": ["ALL"],
            "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"],
            "security_opt": ["no-new-privileges"],
        },
    )
    engine = sandbox.engine
    helper = engine.create(spec)
    try:
        script = (
            'mkdir -p "$1" && head -c "$0" | tar -x -C / --transform "s,^workdir,${1#/},"'
            ' && chown -R 1000:1000 "$1"'
        )
        sandbox.exec_checked(
            ["sh", "-c", script, str(len(archive)), COMMITTED_WORKDIR],
            "restoring the session state for commit",
            stdin=archive,
            user="0:0",
            container_id=helper,
        )
        repository = f"{COMMIT_REPOSITORY}/{lang}"
        engine.commit(helper, repository, session_id)
    finally:
        engine.remove(helper)
    committed = f"{repository}:{session_id}"
    logger.info("committed the session to %s", committed)
    return committed


def is_committed(image: str | None) -> bool:
    return (image or "").startswith(f"{COMMIT_REPOSITORY}/")


def restore(sandbox: Sandbox) -> None:
    """Copy the workdir a committed image carries into the session's (tmpfs) workdir.

    Only its entries: the workdir itself may belong to root (a Podman tmpfs with a
    root keeper), whose times and mode the sandbox user may not set.
    """
    sandbox.exec_checked(
        ["sh", "-c", '[ ! -d "$0" ] || find "$0" -mindepth 1 -maxdepth 1 -exec cp -a -t "$1" {} +', COMMITTED_WORKDIR,
         sandbox.workdir],
        "restoring the committed workdir",
    )

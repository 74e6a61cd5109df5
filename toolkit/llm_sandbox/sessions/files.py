"""Files between the host and the sandbox: tar streams over exec, on every engine the same.

Paths in the sandbox are resolved by :func:`sandbox_path` (the one rule:
relative to the workdir, no ``..`` escapes, never the root). Copies into the
sandbox carry regular files, directories and in-tree links only, owned by the
sandbox user; copies out refuse links that leave the copied tree.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath

from llm_sandbox.contract import SANDBOX_UID
from llm_sandbox.exceptions import ContainerError, ValidationError
from llm_sandbox.sessions.output import OutputCollector
from llm_sandbox.sessions.sandbox import Sandbox

_NOT_FOUND = 44


def check_absolute(path: str, what: str) -> None:
    if not path.startswith("/") or "\x00" in path:
        raise ValidationError(f"{what} must be an absolute path inside the sandbox, got {path!r}")


def sandbox_path(path: str, workdir: str, *, allow_root: bool = False) -> PurePosixPath:
    """Resolve ``path`` against the workdir; refuse ``..`` escapes in relative paths and (unless
    ``allow_root``) the root itself."""
    if "\x00" in path or not path:
        raise ValidationError(f"invalid sandbox path {path!r}")
    pure = PurePosixPath(path)
    if not pure.is_absolute():
        if ".." in pure.parts:
            raise ValidationError(f"relative sandbox path {path!r} may not contain '..'")
        pure = PurePosixPath(workdir) / pure
    normalized = PurePosixPath(os.path.normpath(str(pure)))
    if str(normalized) == "/" and not allow_root:
        raise ValidationError("refusing to copy the whole root filesystem; name a file or directory")
    return normalized


def _host_member_filter(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Copy regular files, directories and relative in-tree symlinks only; owned by the sandbox user."""
    if member.isdev() or member.isfifo():
        return None
    if (member.issym() or member.islnk()) and (
        member.linkname.startswith("/") or ".." in PurePosixPath(member.linkname).parts
    ):
        return None
    member.uid = member.gid = SANDBOX_UID
    member.uname = member.gname = ""
    return member


def copy_to(sandbox: Sandbox, src: str, dest: str) -> None:
    """Copy a host file or directory to ``dest`` in the sandbox, creating parent directories."""
    source = Path(src)
    if not source.exists():
        raise FileNotFoundError(f"{src} does not exist on the host")
    target = sandbox_path(dest, sandbox.workdir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(str(source), arcname=target.name, filter=_host_member_filter)
    data = buffer.getvalue()
    script = 'mkdir -p "$1" && head -c "$0" | tar -x -m --no-same-owner --no-same-permissions -C "$1"'
    sandbox.exec_checked(
        ["sh", "-c", script, str(len(data)), str(target.parent)], f"copying {src} to {dest}", stdin=data
    )


def copy_from(sandbox: Sandbox, src: str, dest: str) -> None:
    """Copy ``src`` (file or directory) from the sandbox to host path ``dest``, creating parents."""
    data = get_archive(sandbox, src)[0]
    destination = Path(dest)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
        if not members:
            raise FileNotFoundError(f"{src} is empty in the sandbox")
        root = members[0].name.split("/", 1)[0]
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=destination.parent) as staging:
            try:
                archive.extractall(staging, filter="data")
            except tarfile.FilterError as exc:
                raise ValidationError(
                    f"refusing to copy {src}: unsafe archive member ({exc}); links must stay inside the copied tree"
                ) from None
            extracted = Path(staging) / root
            if destination.is_dir() and extracted.is_dir():
                for child in extracted.iterdir():
                    os.replace(child, destination / child.name)
            else:
                os.replace(extracted, destination)


def get_archive(sandbox: Sandbox, path: str) -> tuple[bytes, dict]:
    """A tar archive of ``path`` in the sandbox and its stat: ``(bytes, {"name", "size", "mode"})``."""
    target = sandbox_path(path, sandbox.workdir)
    script = f'[ -e "$0/$1" ] || exit {_NOT_FOUND}; tar -c -C "$0" -- "$1"'
    collector = OutputCollector(limit=1 << 62)
    code = sandbox.engine.exec(
        sandbox.container_id,
        ["sh", "-c", script, str(target.parent), target.name],
        user=sandbox.user,
        on_output=collector,
        deadline=time.monotonic() + sandbox.timeout,
    )
    if code == _NOT_FOUND:
        raise FileNotFoundError(f"{path} does not exist in the sandbox")
    if code != 0:
        raise ContainerError(f"reading {path} from the sandbox failed: {collector.stderr.text()[-500:]}")
    data = bytes(collector.stdout.kept)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        first = archive.next()
        stat = {
            "name": target.name,
            "size": first.size if first else 0,
            "mode": first.mode if first else 0,
        }
    return data, stat

"""Files between the host and the sandbox: tar streams over exec, on every engine the same.

Paths in the sandbox are resolved by :func:`sandbox_path` (the one rule:
relative to the workdir, no ``..`` escapes, never the root). Copies into the
sandbox carry regular files, directories and in-tree links only, owned by the
sandbox user (a device named as the source is refused, one inside a directory
is left out); copies out refuse links that leave the copied tree and device
files.

What the sandbox sends is hostile until proven otherwise: copies out stream
to disk as they arrive (never the whole archive in memory), and bring at most
``limit`` bytes to this machine, counted as the archive arrives and checked
against each file's declared size before it is written — a sparse file counts
at its full length, so a few bytes of sandbox disk never become gigabytes here.

Where a copy lands (as ``docker cp`` and the reference package):

======================  ========================  ===========================
source                  ``dest`` does not exist   ``dest`` is a directory
======================  ========================  ===========================
file ``f``              ``dest`` (the file)       ``dest/f``
directory ``d``         ``dest/d/...``            ``dest/d/...``
======================  ========================  ===========================

An existing file ``dest`` is overwritten by a file and refused for a directory.
"""

from __future__ import annotations

import logging
import os
import posixpath
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

from llm_sandbox.contract import SANDBOX_UID
from llm_sandbox.engines.base import STDOUT, ExecDeadlineExceeded
from llm_sandbox.exceptions import ContainerError, ResourceError, SandboxTimeoutError, ValidationError
from llm_sandbox.sessions.sandbox import Sandbox

logger = logging.getLogger("llm_sandbox")

DEFAULT_MAX_COPY_BYTES = 512 * 1024 * 1024
"""What one copy from the sandbox may bring to this machine, unless the session says otherwise."""

_NOT_FOUND = 44
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_PIPE_CHUNK = 1024 * 1024


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


# into the sandbox ---------------------------------------------------------------------------
def copy_to(sandbox: Sandbox, src: str, dest: str) -> None:
    """Copy a host file or directory to ``dest`` in the sandbox, creating parent directories.

    The archive is built in a spool file (memory up to 8 MiB, then disk) and streamed as the exec's stdin.
    """
    source = Path(src)
    if not source.exists():
        raise FileNotFoundError(f"{src} does not exist on the host")
    if not (source.is_file() or source.is_dir()):
        raise ValidationError(f"refusing to copy {src}: it is a device, FIFO or socket; copy regular files instead")
    target = sandbox_path(dest, sandbox.workdir)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        with tarfile.open(fileobj=spool, mode="w") as archive:
            archive.add(str(source), arcname=target.name, filter=_host_member_filter)
        size = spool.tell()
        spool.seek(0)
        script = 'mkdir -p "$1" && head -c "$0" | tar -x -m --no-same-owner --no-same-permissions -C "$1"'
        sandbox.exec_checked(
            ["sh", "-c", script, str(size), str(target.parent)], f"copying {src} to {dest}", stdin=spool
        )


# out of the sandbox -------------------------------------------------------------------------
def _too_large(path: str, limit: int) -> ResourceError:
    return ResourceError(
        f"copying {path} out of the sandbox would bring more than {_size(limit)} to this machine "
        "(files count at their full length, sparse or not); copy a smaller part, or open the session "
        f"with a larger max_copy_bytes= (now {limit})"
    )


def _size(size: int) -> str:
    return f"{size / 2**20:g} MiB" if size >= 2**20 else f"{size} bytes"


def _stream_tar(sandbox: Sandbox, path: str, target: PurePosixPath, write: Callable[[bytes], object],
                limit: int) -> None:  # fmt: skip
    """Stream a tar archive of ``target`` into ``write``, chunk by chunk; at most ``limit`` bytes."""
    script = f'[ -e "$0/$1" ] || [ -L "$0/$1" ] || exit {_NOT_FOUND}; exec tar -c -C "$0" -- "$1"'
    errors = bytearray()
    received = 0

    def on_output(stream: int, chunk: bytes) -> None:
        nonlocal received
        if stream != STDOUT:
            errors.extend(chunk)
            del errors[:-4096]
            return
        received += len(chunk)
        if received > limit:
            raise _too_large(path, limit)
        write(chunk)

    try:
        for _ in range(2):  # tar writes at least 1 KiB: none at all is an engine that lost the stream; once more
            code = sandbox.engine.exec(
                sandbox.container_id,
                ["sh", "-c", script, str(target.parent), target.name],
                user=sandbox.user,
                on_output=on_output,
                deadline=time.monotonic() + sandbox.timeout,
            )
            if code != 0 or received:
                break
            logger.info("copying %s: the engine returned no archive; asking again", path)
    except ExecDeadlineExceeded:
        raise SandboxTimeoutError(
            f"copying {path} out of the sandbox took longer than {sandbox.timeout:g}s (the session's default_timeout)",
            timeout_duration=sandbox.timeout,
        ) from None
    if code == _NOT_FOUND:
        raise FileNotFoundError(f"{path} does not exist in the sandbox")
    if code != 0:
        raise ContainerError(f"reading {path} from the sandbox failed: {errors.decode(errors='replace')}")


def get_archive(sandbox: Sandbox, path: str, limit: int = DEFAULT_MAX_COPY_BYTES) -> tuple[bytes, dict]:
    """A tar archive of ``path`` in the sandbox and its stat: ``(bytes, {"name", "size", "mode"})``.

    The archive is the return value, so it is held in memory: at most ``limit`` bytes.
    """
    target = sandbox_path(path, sandbox.workdir)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        _stream_tar(sandbox, path, target, spool.write, limit)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r|") as archive:
            first = archive.next()
        spool.seek(0)
        data = spool.read()
    stat = {"name": target.name, "size": first.size if first else 0, "mode": first.mode if first else 0}
    return data, stat


def copy_from(sandbox: Sandbox, src: str, dest: str, limit: int = DEFAULT_MAX_COPY_BYTES) -> None:
    """Copy ``src`` (file or directory) from the sandbox to host path ``dest``, creating parents.

    Where it lands: see the module's table. The archive is extracted as it
    streams in (into a staging directory beside the destination, moved into
    place at the end), so a failed copy leaves nothing behind.
    """
    target = sandbox_path(src, sandbox.workdir)
    destination = Path(dest)
    into = destination if destination.is_dir() else destination.parent
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=into, prefix=".llm-sandbox-copy-") as staging:
        _pull_extracted(sandbox, src, target, Path(staging), limit)
        extracted = Path(staging) / target.name
        if destination.is_dir():
            final = destination / target.name
        elif extracted.is_dir() and not extracted.is_symlink():
            if destination.exists() or destination.is_symlink():
                raise NotADirectoryError(f"{dest} is a file; a directory ({src}) is copied into a directory")
            destination.mkdir()
            final = destination / target.name
        else:
            final = destination
        _move(extracted, final)


def _pull_extracted(sandbox: Sandbox, path: str, target: PurePosixPath, staging: Path, limit: int) -> None:
    """Extract the archive of ``target`` into ``staging`` as it arrives.

    The exec runs in a helper thread and writes into a pipe; this thread reads
    the pipe with :mod:`tarfile`, member by member. Whichever side fails first
    stops the other: the helper's failure (not found, the limit, the engine)
    closes the pipe, and its error is raised; a failure here (an unsafe member,
    this machine's disk, Ctrl-C) closes the reading end, so the helper's next
    write fails and its exec ends.
    """
    read_fd, write_fd = os.pipe()
    outcome: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb", buffering=_PIPE_CHUNK) as pipe:
                _stream_tar(sandbox, path, target, pipe.write, limit)
        except BaseException as exc:
            outcome.append(exc)

    producer = threading.Thread(target=produce, name="llm-sandbox-copy", daemon=True)
    producer.start()
    try:
        with open(read_fd, "rb", buffering=_PIPE_CHUNK) as pipe:
            _extract(pipe, staging, path, target.name, limit)
    except tarfile.ReadError as exc:  # the stream ended early: the helper says why
        producer.join()
        if outcome:
            raise outcome[0] from None
        raise ContainerError(f"reading {path} from the sandbox failed: the archive is incomplete ({exc})") from None
    finally:
        producer.join()
    if outcome:
        raise outcome[0]


def _extract(pipe: IO[bytes], staging: Path, path: str, name: str, limit: int) -> None:
    """Extract every member of the tar stream ``pipe`` under ``staging``; all must be ``name`` or under it."""
    declared = 0
    with tarfile.open(fileobj=pipe, mode="r|") as archive:
        for member in archive:
            if member.name != name and not member.name.startswith(f"{name}/"):
                raise ValidationError(f"refusing to copy {path}: unexpected archive member {member.name!r}")
            if (member.issym() or member.islnk()) and not _inside(member, name):
                raise ValidationError(
                    f"refusing to copy {path}: unsafe archive member {member.name!r}, a link pointing outside "
                    f"the copied tree ({member.linkname!r})"
                )
            declared += member.size
            if declared > limit:
                raise _too_large(path, limit)
            try:
                if member.islnk():  # by hand: tarfile's fallback for a stream would seek backwards
                    checked = tarfile.data_filter(member, str(staging))
                    os.link(staging / checked.linkname, staging / checked.name, follow_symlinks=False)
                else:
                    archive.extract(member, staging, filter="data")
            except tarfile.FilterError as exc:
                raise ValidationError(
                    f"refusing to copy {path}: unsafe archive member ({exc}); links must stay inside the "
                    "copied tree, and device files and pipes are not copied"
                ) from None


def _inside(link: tarfile.TarInfo, name: str) -> bool:
    """Whether ``link`` points at ``name`` or below it (symlinks: from the link's directory; hard links:
    an archive path)."""
    base = "" if link.islnk() else posixpath.dirname(link.name)
    if link.linkname.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(base, link.linkname))
    return resolved == name or resolved.startswith(f"{name}/")


def _move(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, merging directories into existing ones (never following links)."""
    if target.is_dir() and not target.is_symlink():
        if not source.is_dir() or source.is_symlink():
            raise IsADirectoryError(f"{target} is a directory; it is not replaced by a file")
        for child in source.iterdir():
            _move(child, target / child.name)
        return
    if source.is_dir() and not source.is_symlink() and (target.exists() or target.is_symlink()):
        raise NotADirectoryError(f"{target} is a file; it is not replaced by a directory")
    os.replace(source, target)

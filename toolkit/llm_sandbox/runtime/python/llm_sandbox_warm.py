"""The wire protocol of warm processes (the warm runner, the Python kernel), inside the sandbox.

A warm process is started as ``sh -c 'exec 3<&0 0</dev/null; exec python3 ...'``:
requests arrive on fd 3 (the exec's stdin), so code that reads stdin gets
``/dev/null``, as in an ordinary run. Each request is ``<size>\\n<json>`` with a
``nonce``. The process answers on its own stdout and stderr, where the code's
output has streamed live::

    stdout: <nonce> <code> <size>\\n<payload>
    stderr: <nonce> \\n

The host cuts both streams at the marker (stderr arrives independently of
stdout, so the end of a request is marked on both). ``code`` is an exit code;
``payload`` a tar stream of artifacts (runner) or a JSON document (kernel).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tarfile
from typing import Any

REQUESTS_FD = 3


def read_request(stream: Any) -> dict[str, Any] | None:
    """The next request from ``stream`` (the binary file of fd 3); None when the host closed it."""
    header = stream.readline()
    if not header:
        return None
    size = int(header)
    body = bytearray()
    while len(body) < size:  # a pipe gives what it holds, not what was asked
        chunk = stream.read(size - len(body))
        if not chunk:
            return None
        body += chunk
    return json.loads(body)  # type: ignore[no-any-return]


def open_requests() -> Any:
    return os.fdopen(REQUESTS_FD, "rb", buffering=0)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def reply(nonce: str, code: int, payload: bytes = b"") -> None:
    """End the request ``nonce``: everything the code printed is flushed first, then the markers."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()  # type: ignore[union-attr]
    write_all(1, f"{nonce} {code} {len(payload)}\n".encode() + payload)
    write_all(2, f"{nonce} \n".encode())


def collect_artifacts(script: str, mode: str, run_dir: str, outputs: str, max_file_bytes: int | None) -> None:
    """``runtime/artifacts.sh`` (its text is ``script``) for a run's plots and output files.

    When no regular file lies under ``outputs`` its result is known without starting it: no
    listing before (the script takes a missing one as empty), and after, an archive of the
    plots directory alone. That saves a dozen process starts on most runs; the host checks
    what it receives either way.
    """
    if mode == "before":
        with contextlib.suppress(OSError):
            os.makedirs(outputs, exist_ok=True)
        if not _holds_a_file(outputs):
            return
    elif not _holds_a_file(outputs):
        with tarfile.open(os.path.join(run_dir, "artifacts.tar"), "w") as archive:
            plots = os.path.join(run_dir, "plots")
            if os.path.isdir(plots):
                archive.add(plots, arcname="plots")
        return
    limit = str(max_file_bytes or 10485760)
    subprocess.run(["sh", "-c", script, "llm-sandbox", mode, run_dir, outputs, limit], check=False)


def _holds_a_file(directory: str) -> bool:
    """True if a regular file lies under ``directory``, or if a directory could not be read (maybe one does)."""
    pending = [directory]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        return True
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except FileNotFoundError:
            continue
        except OSError:
            return True
    return False

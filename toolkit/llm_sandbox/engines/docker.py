"""The Docker engine, on docker-py's low-level API.

Also serves any engine that speaks the Docker API (Podman's compat service,
see ``engines/podman.py``); engine errors become library errors in
:func:`translate_errors` only.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llm_sandbox.engines.base import (
    Capabilities,
    ContainerSpec,
    ExecDeadlineExceeded,
    OutputCallback,
    Stdin,
)
from llm_sandbox.exceptions import (
    ContainerError,
    ImageBuildError,
    ImageNotFoundError,
    MissingDependencyError,
    SandboxError,
)

try:
    import docker
    import docker.errors
    import docker.models.containers
    import docker.types
    import docker.utils
except ImportError as exc:  # pragma: no cover - docker is a core dependency
    raise MissingDependencyError(
        "the Docker backend needs the `docker` package: pip install llm-sandbox-toolkit"
    ) from exc


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn engine exceptions into library exceptions, naming the failed operation."""
    try:
        yield
    except SandboxError:
        raise
    except docker.errors.ImageNotFound as exc:
        explanation = str(exc.explanation or exc)
        raise ImageNotFoundError(explanation.removeprefix("No such image: "), f"{what} failed") from exc
    except docker.errors.NotFound as exc:
        raise ContainerError(f"{what}: not found ({exc.explanation or exc})") from exc
    except docker.errors.APIError as exc:
        raise ContainerError(f"{what} failed: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:
        raise ContainerError(
            f"{what} failed: {exc}. Is the container engine running? "
            "(`docker info` should answer; see README, 'Setup')"
        ) from exc
    except (OSError, ConnectionError) as exc:
        raise ContainerError(f"{what} failed: lost the connection to the engine ({exc})") from exc


def connect() -> docker.DockerClient:
    """A client for the engine of the environment (DOCKER_HOST or the default socket)."""
    with translate_errors("connecting to the Docker engine"):
        client = docker.from_env()
        client.ping()
        return client


class DockerEngine:
    """:class:`~llm_sandbox.engines.base.Engine` for the Docker API."""

    name = "docker"
    capabilities = Capabilities()

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self.client = client or connect()
        self.api = self.client.api

    # images -------------------------------------------------------------
    def image_exists(self, image: str) -> bool:
        with translate_errors(f"looking up image {image}"):
            try:
                self.api.inspect_image(image)
                return True
            except docker.errors.ImageNotFound:
                return False

    def pull_image(self, image: str) -> bool:
        repository, tag = docker.utils.parse_repository_tag(image)
        try:
            for event in self.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
                if "error" in event:
                    return False
        except docker.errors.DockerException:
            return False
        return self.image_exists(image)

    def build_image(self, dockerfile: str, tag: str) -> None:
        path = Path(dockerfile)
        if not path.is_file():
            raise FileNotFoundError(f"Dockerfile {dockerfile} does not exist")
        with translate_errors(f"building {tag} from {dockerfile}"):
            try:
                self.client.images.build(
                    path=str(path.parent), dockerfile=path.name, tag=tag, rm=True, forcerm=True,
                    network_mode=self._build_network(),
                )
            except docker.errors.BuildError as exc:
                tail = "".join(str(line.get("stream", line.get("error", ""))) for line in exc.build_log)
                raise ImageBuildError(f"building {tag} from {dockerfile} failed: {exc}\n{tail[-2000:]}") from exc

    def _build_network(self) -> str | None:
        """Builds reach the package mirror through the host network when the daemon has no bridge."""
        return None if self.client.networks.list(names=["bridge"]) else "host"

    def builtin_image(self, lang: str, image: str) -> str:
        """Build ``llm-sandbox/<lang>`` here from the package's Dockerfile when it is missing or stale."""
        from llm_sandbox.images import builder

        return builder.ensure_image(lang, self.client)

    def remove_image(self, image: str) -> None:
        with translate_errors(f"removing image {image}"), contextlib.suppress(docker.errors.NotFound):
            self.api.remove_image(image)

    # containers ---------------------------------------------------------
    def create(self, spec: ContainerSpec) -> str:
        options = dict(spec.options)
        mounts = list(options.pop("mounts", None) or [])  # the user's docker.types.Mount list
        mounts += [
            docker.types.Mount(target, name, type="volume", read_only=target in spec.read_only_paths)
            for name, target in spec.volumes.items()
        ]
        mounts += [
            docker.types.Mount(target, source, type="bind", read_only=True)
            for source, target in spec.binds.items()
        ]
        with translate_errors(f"creating a container from {spec.image}"):
            container = self.client.containers.create(
                spec.image,
                spec.command,
                labels=spec.labels,
                environment=spec.environment,
                working_dir=spec.workdir,
                mounts=mounts,
                detach=True,
                **options,
            )
        try:
            with translate_errors(f"starting container {container.short_id}"):
                container.start()
        except BaseException:
            self.remove(container.id)
            raise
        return str(container.id)

    def exists(self, container_id: str) -> bool:
        with translate_errors(f"inspecting container {container_id[:12]}"):
            try:
                return bool(self.api.inspect_container(container_id)["State"]["Running"])
            except docker.errors.NotFound:
                return False

    def container_handle(self, container_id: str) -> docker.models.containers.Container:
        with translate_errors(f"looking up container {container_id[:12]}"):
            return self.client.containers.get(container_id)

    def remove(self, container_id: str) -> None:
        with translate_errors(f"removing container {container_id[:12]}"), contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(container_id, force=True, v=True)

    def signal(self, container_id: str, signal: str) -> None:
        """Send ``signal`` to the container's PID 1 (the keeper)."""
        with translate_errors(f"signalling container {container_id[:12]}"):
            self.api.kill(container_id, signal=signal)

    def commit(self, container_id: str, repository: str, tag: str) -> str:
        with translate_errors(f"committing container {container_id[:12]}"):
            return str(self.api.commit(container_id, repository=repository, tag=tag)["Id"])

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        with translate_errors(f"creating volume {name}"):
            self.api.create_volume(name, labels=labels)

    def remove_volume(self, name: str) -> None:
        with translate_errors(f"removing volume {name}"), contextlib.suppress(docker.errors.NotFound):
            self.api.remove_volume(name, force=True)

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        with translate_errors("listing sandbox containers"):
            found = [
                {"kind": "container", "id": c["Id"], "labels": c.get("Labels") or {}}
                for c in self.api.containers(all=True, filters={"label": label})
            ]
            volumes = self.api.volumes(filters={"label": label}).get("Volumes") or []
            found += [{"kind": "volume", "id": v["Name"], "labels": v.get("Labels") or {}} for v in volumes]
            return found

    # exec ---------------------------------------------------------------
    def exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        stdin: Stdin | None = None,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
    ) -> int:
        with translate_errors(f"running a command in container {container_id[:12]}"):
            exec_id = self.api.exec_create(
                container_id, argv, stdin=stdin is not None, environment=environment,
                workdir=workdir, user=user or "",
            )["Id"]
            raw = self.api.exec_start(exec_id, socket=True)
            sock: socket.socket = getattr(raw, "_sock", raw)
            writer = _StdinWriter(sock, stdin, deadline) if stdin is not None else None
            try:
                _pump_frames(sock, on_output, deadline, writer)
            finally:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a writer blocked in sendall
                with contextlib.suppress(OSError):
                    sock.close()
                with contextlib.suppress(OSError):
                    raw.close()
                if writer is not None:
                    writer.join(5)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
            return -1 if code is None else int(code)


    def open_exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> DockerExecChannel:
        with translate_errors(f"starting a process in container {container_id[:12]}"):
            exec_id = self.api.exec_create(
                container_id, argv, stdin=True, environment=environment, workdir=workdir, user=user or ""
            )["Id"]
            return DockerExecChannel(self.api, exec_id, self.api.exec_start(exec_id, socket=True))


_STDIN_CHUNK = 256 * 1024


class _StdinWriter(threading.Thread):
    """Writes the process's stdin while the caller reads its output.

    Writing first and reading after would hang when the process writes a lot
    before reading its input, or exits without reading all of it (the engine
    then stops taking the data without closing the connection). Errors here
    are the process's business (its exit code says what happened), not the
    engine's: the writer just stops.
    """

    def __init__(self, sock: socket.socket, data: Stdin, deadline: float | None) -> None:
        super().__init__(name="llm-sandbox-stdin", daemon=True)
        # Its own socket object: the reader changes its timeout as the deadline nears.
        self.sock, self.data = sock.dup(), data
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001) if deadline is not None else 86400.0)
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            if isinstance(self.data, bytes | bytearray | memoryview):
                self.sock.sendall(self.data)
            else:
                while chunk := self.data.read(_STDIN_CHUNK):
                    self.sock.sendall(chunk)
            self.done.set()
        except OSError:
            pass
        finally:
            self.sock.close()


def _pump_frames(
    sock: socket.socket,
    on_output: OutputCallback | None,
    deadline: float | None,
    writer: _StdinWriter | None = None,
) -> None:
    """Read Docker's multiplexed stream until EOF, passing each frame to ``on_output``.

    A connection reset while stdin was still being written means the process
    exited without reading it all (the engine resets the connection then): that
    is the end of the stream, not a failure.
    """
    frames = _FrameReader(sock)
    while True:
        try:
            frame = frames.next(deadline)
        except ConnectionResetError:
            if writer is not None and not writer.done.is_set():
                return
            raise
        if frame is None:
            return
        if on_output is not None:
            on_output(*frame)


class _FrameReader:
    """Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, size), frame by frame."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def _frame(self) -> tuple[int, bytes] | None:
        while len(self.buffer) >= 8:
            stream, size = struct.unpack(">BxxxL", self.buffer[:8])
            if len(self.buffer) < 8 + size:
                return None
            payload = bytes(self.buffer[8 : 8 + size])
            del self.buffer[: 8 + size]
            if payload:
                return stream, payload
        return None

    def next(self, deadline: float | None) -> tuple[int, bytes] | None:
        """The next non-empty frame; None at the end of the stream; ``ExecDeadlineExceeded`` at ``deadline``."""
        while True:
            frame = self._frame()
            if frame is not None:
                return frame
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExecDeadlineExceeded
                self.sock.settimeout(remaining)
            else:
                self.sock.settimeout(None)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError as exc:
                raise ExecDeadlineExceeded from exc
            if not chunk:
                return None
            self.buffer += chunk


class DockerExecChannel:
    """A long-lived exec: its stdin written in pieces, its output read frame by frame (see the protocol)."""

    def __init__(self, api: Any, exec_id: str, raw: Any) -> None:
        self._api = api
        self._exec_id = exec_id
        self._raw = raw
        self._sock: socket.socket = getattr(raw, "_sock", raw)
        self._frames = _FrameReader(self._sock)
        self._send_lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._send_lock:
            self._sock.settimeout(None)
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise ContainerError(f"the process in the sandbox stopped reading its input ({exc})") from exc

    def receive(self, deadline: float | None) -> tuple[int, bytes] | None:
        try:
            return self._frames.next(deadline)
        except (ConnectionResetError, BrokenPipeError):
            return None
        except OSError as exc:
            if exc.errno == errno.EBADF:  # close() from another thread (the session closing): the end
                return None
            raise

    def exit_code(self) -> int | None:
        with translate_errors("inspecting an exec"):
            code = self._api.exec_inspect(self._exec_id).get("ExitCode")
        return None if code is None else int(code)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self._raw.close()

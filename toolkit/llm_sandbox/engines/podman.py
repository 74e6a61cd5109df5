"""The Podman engine: Podman's Docker-compatible API, driven by :class:`DockerEngine`.

``podman system service`` serves the Docker Engine API (v1.41) on a Unix
socket, so Podman needs no second implementation of the engine protocol:
:class:`PodmanEngine` is a ``DockerEngine`` whose docker-py client talks to
the Podman socket. Engine errors arrive as docker-py exceptions and are
translated at the one boundary in ``engines/docker.py``. What is different is
kept here, and only that:

* where the engine is: a ``podman.PodmanClient``'s base URL, ``CONTAINER_HOST``,
  or the usual socket paths (:func:`service_url`);
* tmpfs ownership: Podman 4 refuses ``uid=``/``gid=`` tmpfs options; its ``U``
  option (chown to the container's user) says the same thing when the owner is
  the container's user; for another owner (the sandbox user, PID 1 being root)
  the mount is made world-writable with the sticky bit instead;
* ``read_only``: Podman adds writable, unbounded tmpfs mounts on ``/run``,
  ``/tmp`` and ``/var/tmp`` (``--read-only-tmpfs``, on by default). ``/tmp`` is
  the session's own size-limited mount and ``/run`` is root's, but ``/var/tmp``
  would be a world-writable extra: it is mounted read-only, as on Docker,
  where it is part of the read-only root filesystem;
* images: ``llm-sandbox/<lang>`` images built on Docker are copied in with
  :func:`load_from_docker` (``docker save | podman load`` through both APIs).

Exec with stdin over the hijacked connection and Docker's multiplexed stream
format behave as on Docker (tested in ``tests/integration/test_podman.py``).
Podman reports ``OOMKilled=false`` for a memory-bombed container; the library
never relies on that flag (the run's exit code is 137 on both engines).

Command line (for setup scripts and CI)::

    python -m llm_sandbox.engines.podman socket             # the URL the backend connects to
    python -m llm_sandbox.engines.podman load IMAGE [...]   # copy images from Docker into Podman
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import stat
import sys
from typing import Any
from urllib.parse import unquote

import docker
import docker.errors

from llm_sandbox.engines.base import STDERR, ContainerSpec, OutputCallback
from llm_sandbox.engines.docker import DockerEngine, translate_errors
from llm_sandbox.exceptions import ContainerError, ImageNotFoundError, ValidationError

logger = logging.getLogger("llm_sandbox")

SETUP_SOCKET = "/run/llm-sandbox/podman.sock"
"""Where ``scripts/setup-podman.sh`` starts the service."""

_MIN_API_VERSION = "1.24"  # the oldest docker-py speaks; only used to ask for the real one
_DEFAULT_API_VERSION = "1.41"  # what Podman 4 and 5 serve

_SETUP_HINT = (
    "start the Podman API service (`scripts/setup-podman.sh`, or "
    "`podman system service --time=0 unix:///run/llm-sandbox/podman.sock &`) "
    "or point CONTAINER_HOST at a running one"
)


# ---------------------------------------------------------------------------------------------
# where the engine is
# ---------------------------------------------------------------------------------------------
def default_sockets() -> list[str]:
    """Socket paths tried in order when neither a client nor ``CONTAINER_HOST`` is given."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return [SETUP_SOCKET, "/run/podman/podman.sock", f"{runtime_dir}/podman/podman.sock"]


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _normalise(url: str) -> str:
    """A URL docker-py accepts: ``unix:///path``, ``tcp://host:port``, ``http(s)://host:port``."""
    if url.startswith("/"):
        return f"unix://{url}"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("unix", "tcp", "http", "https"):
        return url
    if scheme == "ssh":
        raise ValidationError(
            f"Podman connections over ssh ({url}) are not supported; forward the remote socket "
            "(`ssh -L /tmp/podman.sock:/run/podman/podman.sock host`) and use unix:///tmp/podman.sock"
        )
    raise ValidationError(f"unsupported Podman service URL {url!r}; use unix:///path/to/podman.sock")


def _client_url(client: Any) -> str:
    """The service URL of a ``podman.PodmanClient`` (its ``api.base_url``)."""
    base = getattr(getattr(client, "api", None), "base_url", None)
    if base is None:
        raise ValidationError(
            f"client must be a podman.PodmanClient or a docker.DockerClient, not {type(client).__name__}"
        )
    scheme = getattr(base, "scheme", None)
    if scheme is None:  # a plain string
        return _normalise(str(base))
    if scheme == "http+unix":
        return f"unix://{unquote(base.netloc)}"
    if scheme in ("http", "https"):
        return f"{scheme}://{base.netloc}"
    return _normalise(f"{scheme.removeprefix('http+')}://{unquote(base.netloc)}{base.path}")


def service_url(client: Any = None) -> str:
    """The URL of the Podman service: ``client``'s, else ``CONTAINER_HOST``, else the first live socket."""
    if client is not None:
        return _client_url(client)
    host = os.environ.get("CONTAINER_HOST")
    if host:
        return _normalise(host)
    for path in default_sockets():
        if _is_socket(path):
            return f"unix://{path}"
    return f"unix://{SETUP_SOCKET}"


def _probe(url: str, timeout: float) -> dict[str, str]:
    """The headers of the service's ``/_ping``: ``Api-Version``, and ``Libpod-Api-Version`` on Podman.

    docker-py would ask ``/version`` for the API version, which costs Podman
    ~300 ms (it runs conmon and the OCI runtime to report their versions); the
    ping says it in ~1 ms.
    """
    probe = docker.DockerClient(base_url=url, version=_MIN_API_VERSION, timeout=max(1, int(timeout)))
    try:
        response = probe.api.get(f"{probe.api.base_url}/_ping", timeout=timeout)
        response.raise_for_status()
        return dict(response.headers)
    finally:
        probe.close()


def connect(client: Any = None, timeout: float = 60.0) -> docker.DockerClient:
    """A docker-py client on the Podman service.

    ``client`` may be a ``podman.PodmanClient`` (its socket is used), a
    ``docker.DockerClient`` already pointed at Podman (returned as is), or
    ``None`` (``CONTAINER_HOST`` or the default sockets).
    """
    if isinstance(client, docker.DockerClient):
        return client
    url = service_url(client)
    try:
        with translate_errors(f"connecting to the Podman service at {url}"):
            version = _probe(url, min(timeout, 10.0)).get("Api-Version") or _DEFAULT_API_VERSION
            return docker.DockerClient(base_url=url, version=version, timeout=int(timeout))
    except ContainerError as exc:
        raise ContainerError(f"no Podman service answers at {url} ({exc.__cause__}); {_SETUP_HINT}") from exc


def service_available(client: Any = None, timeout: float = 3.0) -> bool:
    """True when a Podman service answers (used to skip Podman tests with a reason)."""
    try:
        if isinstance(client, docker.DockerClient):
            headers = client.api.get(f"{client.api.base_url}/_ping", timeout=timeout).headers
        else:
            headers = _probe(service_url(client), timeout)
        return "Libpod-Api-Version" in headers
    except (ValidationError, docker.errors.DockerException, OSError):
        return False


# ---------------------------------------------------------------------------------------------
# the backend
# ---------------------------------------------------------------------------------------------
class PodmanEngine(DockerEngine):
    """:class:`~llm_sandbox.engines.base.Engine` for a Podman service (Docker-compatible API)."""

    name = "podman"

    def __init__(self, client: Any = None) -> None:
        super().__init__(connect(client))

    def create(self, spec: ContainerSpec) -> str:
        options = dict(spec.options)
        tmpfs = {path: _podman_tmpfs(opts, options.get("user"), path) for path, opts in
                 (options.get("tmpfs") or {}).items()}  # fmt: skip
        if options.get("read_only") and "/var/tmp" not in tmpfs:
            tmpfs["/var/tmp"] = "ro,size=64k"  # read-only, as on Docker (Podman ignores mode= here)
        if tmpfs:
            options["tmpfs"] = tmpfs
        container_id = super().create(dataclasses.replace(spec, options=options))
        shared = [path for path, opts in tmpfs.items() if "notmpcopyup" in opts.split(",")]
        if shared:
            # Podman sets up the mount points (the working directory above all) itself, whatever mode=
            # says; the container's user owns them, so it may give them the mode they were asked.
            try:
                code = self.exec(container_id, ["chmod", "1777", *shared], user=options.get("user") or "0:0")
                if code != 0:
                    raise ContainerError(f"could not make {', '.join(shared)} writable for the sandbox user")
            except BaseException:
                self.remove(container_id)
                raise
        return container_id

    def exists(self, container_id: str) -> bool:
        """As Docker's; Podman 4.3 answers for a container it is removing with 500 "no such container", not 404."""
        try:
            return super().exists(container_id)
        except ContainerError as exc:
            if "no such container" in str(exc):
                return False
            raise

    def exec(self, container_id: str, argv: list[str], *, on_output: OutputCallback | None = None,
             **kwargs: Any) -> int:  # fmt: skip
        """As Docker's, without the attach error Podman writes into stderr when a process exits
        before reading all of its stdin (``Error: read unixpacket @->/proc/self/fd/N/attach: ...``)."""
        if on_output is not None:
            on_output = _without_attach_errors(on_output)
        return super().exec(container_id, argv, on_output=on_output, **kwargs)

    def _build_network(self) -> str | None:
        """Podman's compat API lists no ``bridge`` by that filter; builds use the host network."""
        return "host"

    def builtin_image(self, lang: str, image: str) -> str:
        """The image Docker holds for ``lang``, loaded into Podman when missing or different here."""
        return ensure_image_loaded(image, self.client)


_ATTACH_ERROR = re.compile(rb"^Error: (read|write) unixpacket [^\n]*/attach: [^\n]*\n?$")


def _without_attach_errors(on_output: OutputCallback) -> OutputCallback:
    def forward(stream: int, payload: bytes) -> None:
        if stream == STDERR and _ATTACH_ERROR.match(payload):
            logger.debug("podman: %s", payload.decode(errors="replace").strip())
            return
        on_output(stream, payload)

    return forward


def _podman_tmpfs(options: str, user: Any, path: str) -> str:
    """Docker tmpfs options for Podman, which refuses ``uid=``/``gid=``.

    Owned by the container's user: Podman's ``U`` option says the same. Owned by another user (the
    sandbox user, when PID 1 runs as root): Podman cannot chown a tmpfs to anyone else, so the mount
    becomes world-writable with the sticky bit (``mode=1777``), which lets that user write it.
    """
    parts = [part for part in str(options or "").split(",") if part]
    owner = {key: value for key, _, value in (p.partition("=") for p in parts) if key in ("uid", "gid")}
    if not owner:
        return ",".join(parts)
    kept = [p for p in parts if p.partition("=")[0] not in ("uid", "gid")]
    uid, _, gid = str(user or "0").partition(":")
    wanted = {"uid": uid, "gid": gid or uid}
    if all(wanted[key] == value for key, value in owner.items()):
        return ",".join([*kept, "U"])
    # notmpcopyup: else Podman copies the image directory's owner and mode over the mount's
    return ",".join([p for p in kept if p.partition("=")[0] != "mode"] + ["mode=1777", "notmpcopyup"])


# ---------------------------------------------------------------------------------------------
# images: Docker -> Podman without a registry
# ---------------------------------------------------------------------------------------------
def _docker_engine(docker_client: Any = None) -> docker.DockerClient:
    if docker_client is not None:
        return docker_client  # type: ignore[no-any-return]
    from llm_sandbox.engines.docker import connect as docker_connect

    return docker_connect()


def _image_id(engine: docker.DockerClient, image: str) -> str | None:
    with translate_errors(f"looking up image {image}"):
        try:
            return str(engine.api.inspect_image(image)["Id"]).removeprefix("sha256:")
        except docker.errors.NotFound:
            return None


def _load_command(image: str) -> str:
    return f"python -m llm_sandbox.engines.podman load {image}"


def load_from_docker(image: str, podman_client: Any = None, docker_client: Any = None) -> str:
    """Copy ``image`` from Docker into Podman (``docker save | podman load``, streamed through both APIs).

    The image keeps its id; Podman stores it as ``localhost/<name>``, which it
    also finds by the short name. Returns ``image``.
    """
    source = _docker_engine(docker_client)
    target = connect(podman_client)
    if _image_id(source, image) is None:
        raise ImageNotFoundError(
            image, f"Docker has no such image to load into Podman; build it first (e.g. `llm-sandbox images "
                   f"build {_lang_of(image)}`) or load it yourself: `docker save {image} | podman load`"
        )  # fmt: skip
    logger.info("loading %s from Docker into Podman", image)
    with translate_errors(f"loading {image} from Docker into Podman"):
        stream = source.api.get_image(image)
        for _ in target.api.load_image(stream):
            pass
    if _image_id(target, image) is None:
        hint = f"try `docker save {image} | podman load`"
        raise ContainerError(f"Podman did not keep {image} after loading it; {hint}")
    return image


def ensure_image_loaded(image: str, podman_client: Any = None, docker_client: Any = None) -> str:
    """Make Podman hold the same ``image`` as Docker: load it when missing or when Docker's differs.

    Without Docker (or when Docker lacks it), an image Podman already has is used as is.
    """
    target = connect(podman_client)
    have = _image_id(target, image)
    try:
        source = _docker_engine(docker_client)
        want = _image_id(source, image)
    except ContainerError:
        source, want = None, None
    if want is None:
        if have is not None:
            return image
        raise ImageNotFoundError(
            image,
            "neither Podman nor Docker has it. Build it on Docker "
            f"(`llm-sandbox images build {_lang_of(image)}`) and load it into Podman "
            f"(`{_load_command(image)}`, or `docker save {image} | podman load`)",
        )
    if have != want:
        load_from_docker(image, target, source)
        if have is not None:
            _remove_if_untagged(target, have)
    return image


def _remove_if_untagged(engine: docker.DockerClient, image_id: str) -> None:
    """Drop the version a reload replaced, unless it still has a name or a container uses it."""
    try:
        if not engine.api.inspect_image(image_id).get("RepoTags"):
            engine.api.remove_image(image_id)
    except docker.errors.DockerException as exc:
        logger.debug("kept the replaced image %s: %s", image_id[:12], exc)


def _lang_of(image: str) -> str:
    name = image.split(":", 1)[0]
    return name.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["socket"]:
        print(service_url())
        return 0
    if args[:1] == ["load"] and len(args) > 1:
        for image in args[1:]:
            try:
                ensure_image_loaded(image)
            except (ContainerError, ImageNotFoundError, ValidationError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"{image}: loaded into Podman")
        return 0
    print("usage: python -m llm_sandbox.engines.podman {socket | load IMAGE [IMAGE...]}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = [
    "PodmanEngine",
    "connect",
    "ensure_image_loaded",
    "load_from_docker",
    "service_available",
    "service_url",
]

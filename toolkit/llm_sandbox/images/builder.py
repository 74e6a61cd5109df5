"""Builds the ``llm-sandbox/<lang>:latest`` images from the Dockerfiles shipped in this package.

Nothing here needs a container registry:

* the base image ``llm-sandbox/base:bookworm`` is ``debian:bookworm-slim`` when that can be pulled,
  otherwise a Debian root filesystem made by ``debootstrap --variant=minbase`` and imported;
* ``images/<lang>/Dockerfile`` is built ``FROM`` that base with the host's package mirror, proxy,
  index and CA bundle, so ``apt-get``/``pip``/``npm`` inside the build reach what the host reaches;
* every image carries the label ``llm-sandbox.hash`` (sha256 of the build context and the base image
  id): an image whose inputs did not change is never rebuilt.

The ``client`` is a docker-py ``DockerClient``; only its low-level ``client.api`` is used, through
:class:`_Engine`, so a client talking to a Podman socket (Docker-compatible API) works too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llm_sandbox import host
from llm_sandbox.contract import builtin_image
from llm_sandbox.exceptions import ContainerError, ImageBuildError, ImageError
from llm_sandbox.images.progress import Progress, resolve_progress

__all__ = [
    "BASE_IMAGE",
    "BASE_LABEL",
    "HASH_LABEL",
    "LANG_LABEL",
    "ImageStatus",
    "available_languages",
    "build_image",
    "build_images",
    "content_hash",
    "context_files",
    "ensure_base_image",
    "ensure_image",
    "image_name",
    "image_status",
    "list_images",
]

IMAGES_DIR = Path(__file__).resolve().parent
RUNTIME_DIR = IMAGES_DIR.parent / "runtime"

BASE_REPOSITORY, BASE_TAG = "llm-sandbox/base", "bookworm"
BASE_IMAGE = f"{BASE_REPOSITORY}:{BASE_TAG}"
PULL_REPOSITORY, PULL_TAG = "debian", "bookworm-slim"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"

HASH_LABEL = "llm-sandbox.hash"
LANG_LABEL = "llm-sandbox.lang"
BASE_LABEL = "llm-sandbox.base"  # id of the base image the image was built on

PULL_TIMEOUT = 15.0  # seconds; without a registry a pull fails at once or hangs on DNS/TCP
PARALLEL_BUILDS = 2
_HASH_SCHEME = b"llm-sandbox-image-hash-v1"
_TAIL_LINES = 20

CA_FILE_NAME = "host-ca.crt"  # where the host CA bundle lands in every build context

_IGNORED_NAMES = {"__pycache__", ".keep", ".gitkeep", ".DS_Store", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = (".pyc", ".pyo", "~", ".swp", ".orig", ".rej")


def image_name(lang: str) -> str:
    """The name of the image of a language: ``llm-sandbox/<lang>:latest`` (see ``contract.builtin_image``)."""
    return builtin_image(lang)


def available_languages(images_dir: Path | None = None) -> list[str]:
    """Languages that have a Dockerfile in this package."""
    return sorted(p.parent.name for p in (images_dir or IMAGES_DIR).glob("*/Dockerfile"))


# ---------------------------------------------------------------------------------------------
# build context and content hash
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ContextFile:
    data: bytes
    executable: bool = False


def _ignored(path: Path) -> bool:
    return any(part in _IGNORED_NAMES for part in path.parts) or path.name.endswith(_IGNORED_SUFFIXES)


def _collect(root: Path, prefix: str) -> dict[str, ContextFile]:
    files: dict[str, ContextFile] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if _ignored(rel) or not path.is_file():
            continue
        files[f"{prefix}{rel.as_posix()}"] = ContextFile(path.read_bytes(), bool(path.stat().st_mode & 0o111))
    return files


def context_files(
    lang: str, *, images_dir: Path | None = None, runtime_dir: Path | None = None
) -> dict[str, ContextFile]:
    """The files a language's build context holds, by path inside the context.

    ``images/<lang>/*`` at the top (``Dockerfile`` and its inputs) and ``runtime/<lang>/*`` under
    ``runtime/``, so the Dockerfile can ``COPY runtime/ /opt/llm-sandbox/``. The host CA bundle
    (``host-ca.crt``) is added only when the context is sent: it is a transport setting, not an input
    of the image, and is not part of the hash.
    """
    images_dir = images_dir or IMAGES_DIR
    runtime_dir = runtime_dir or RUNTIME_DIR
    lang_dir = images_dir / lang
    if not (lang_dir / "Dockerfile").is_file():
        known = ", ".join(available_languages(images_dir)) or "none"
        raise ImageBuildError(
            f"there is no Dockerfile for language {lang!r} ({lang_dir / 'Dockerfile'} is missing); "
            f"languages with a Dockerfile: {known}"
        )
    files = _collect(lang_dir, "")
    files.pop(CA_FILE_NAME, None)
    runtime = runtime_dir / lang
    if runtime.is_dir():
        files.update(_collect(runtime, "runtime/"))
    return files


def content_hash(files: Mapping[str, ContextFile], base_id: str) -> str:
    """sha256 over every context file (path, executable bit, bytes) and the base image id."""
    digest = hashlib.sha256(_HASH_SCHEME + b"\0")
    for name in sorted(files):
        item = files[name]
        digest.update(name.encode() + b"\0" + (b"x" if item.executable else b"-"))
        digest.update(len(item.data).to_bytes(8, "big") + item.data)
    digest.update(b"base\0" + base_id.encode())
    return digest.hexdigest()


def host_ca_bundle(environ: Mapping[str, str] | None = None) -> bytes:
    """The bytes of the host's CA bundle (see :func:`llm_sandbox.host.host_ca_bundle`), or b""."""
    path = host.host_ca_bundle(environ)
    try:
        return Path(path).read_bytes() if path else b""
    except OSError:
        return b""


def build_args(base_image: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``BASE_IMAGE`` plus the host's proxy and package-index settings that are set."""
    env = os.environ if environ is None else environ
    args = {"BASE_IMAGE": base_image}
    args.update({name: env[name] for name in host.HOST_SETTINGS if env.get(name)})
    return args


def context_tar(files: Mapping[str, ContextFile], ca_bundle: bytes = b"") -> io.BytesIO:
    """A tar stream of the build context: the files, a ``runtime/`` directory and ``host-ca.crt``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = {"runtime"}
        for name in files:
            parts = name.split("/")[:-1]
            directories.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        for name in sorted(directories):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        entries = dict(files)
        entries[CA_FILE_NAME] = ContextFile(ca_bundle)
        for name in sorted(entries):
            item = entries[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(item.data), 0o755 if item.executable else 0o644, 0
            tar.addfile(info, io.BytesIO(item.data))
    buffer.seek(0)
    return buffer


# ---------------------------------------------------------------------------------------------
# the engine: every container-engine call of this module
# ---------------------------------------------------------------------------------------------
def _engine_errors() -> tuple[type[BaseException], ...]:
    import docker.errors
    import requests

    return (docker.errors.DockerException, requests.RequestException)


class _Engine:
    """The few image operations the builder needs, on docker-py's low-level API.

    Docker and Podman (through its Docker-compatible socket) answer the same calls; engine errors
    are turned into :mod:`llm_sandbox.exceptions` here and nowhere else.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.api = client.api

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except _engine_errors() as exc:
            raise ContainerError(f"{what} failed: {exc}") from exc

    def inspect(self, ref: str) -> dict[str, Any] | None:
        import docker.errors

        with self._translate(f"inspecting image {ref}"):
            try:
                return dict(self.api.inspect_image(ref))
            except docker.errors.ImageNotFound:
                return None
            except docker.errors.APIError as exc:
                if exc.status_code == 404:
                    return None
                raise

    def find_by_label(self, key: str, value: str) -> list[dict[str, Any]]:
        with self._translate(f"listing images labelled {key}"):
            return list(self.api.images(filters={"label": f"{key}={value}"}))

    def tag(self, image: str, repository: str, tag: str) -> None:
        with self._translate(f"tagging {image} as {repository}:{tag}"):
            self.api.tag(image, repository, tag)

    def remove_if_unused(self, image_id: str) -> None:
        """Drop an image that lost its last tag to a rebuild (kept when a container still uses it)."""
        with contextlib.suppress(*_engine_errors()):
            info = self.api.inspect_image(image_id)
            if not info.get("RepoTags"):
                self.api.remove_image(image_id)

    def has_bridge_network(self) -> bool:
        with self._translate("listing networks"):
            return bool(self.client.networks.list(names=["bridge"]))

    def pull(self, repository: str, tag: str, timeout: float) -> bool:
        """Pull with a bound on the wait; ``False`` when no registry answers in time."""
        outcome: list[bool] = []

        def attempt() -> None:
            try:
                self.api.pull(repository, tag=tag)
                outcome.append(True)
            except Exception:  # a failed pull is the normal case without a registry
                outcome.append(False)

        worker = threading.Thread(target=attempt, name="llm-sandbox-pull", daemon=True)
        worker.start()
        worker.join(timeout)
        return bool(outcome and outcome[0] and self.inspect(f"{repository}:{tag}"))

    def import_rootfs(self, tar_path: str, repository: str, tag: str, changes: list[str]) -> None:
        with self._translate(f"importing {repository}:{tag}"):
            # "repo:tag" in one field: Podman's compat import ignores a separate tag.
            self.api.import_image(src=tar_path, repository=f"{repository}:{tag}", changes=changes)

    def build(
        self,
        context: io.BytesIO,
        tag: str,
        buildargs: dict[str, str],
        labels: dict[str, str],
        network_mode: str | None,
        nocache: bool,
    ) -> Generator[dict[str, Any], None, None]:
        with self._translate(f"building {tag}"):
            yield from self.api.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                buildargs=buildargs,
                labels=labels,
                network_mode=network_mode,
                rm=True,
                forcerm=True,
                pull=False,
                nocache=nocache,
                decode=True,
            )


def _default_client() -> Any:
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a hard dependency
        raise ImageError("the docker package is needed to build images: pip install docker") from exc
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise ContainerError(
            f"no Docker daemon answers ({exc}); start one (e.g. `dockerd` or `systemctl start docker`) "
            "or set DOCKER_HOST"
        ) from exc


# ---------------------------------------------------------------------------------------------
# a lock so that two processes (or threads) never build the same image at once
# ---------------------------------------------------------------------------------------------
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def _build_lock(name: str) -> Iterator[None]:
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(name, threading.Lock())
    with thread_lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            yield
            return
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        path = os.path.join(tempfile.gettempdir(), f"llm-sandbox-build-{safe}.lock")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            try:  # another user's lock file in a sticky /tmp (fs.protected_regular)
                fd = os.open(path, os.O_RDONLY)
            except OSError:  # cannot open it at all: go on without the lock
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------------
# the base image
# ---------------------------------------------------------------------------------------------
def ensure_base_image(client: Any = None, progress: Progress | bool | None = None) -> str:
    """Make sure ``llm-sandbox/base:bookworm`` exists and return its name.

    Present: used as is. Else ``debian:bookworm-slim`` is pulled (bounded to ~15 s) and tagged.
    Else a root filesystem is bootstrapped with debootstrap (needs root and the ``debootstrap``
    package) from the host's Debian mirror and imported.
    """
    engine = _Engine(client if client is not None else _default_client())
    if engine.inspect(BASE_IMAGE) is not None:
        return BASE_IMAGE
    with _build_lock(BASE_IMAGE):
        if engine.inspect(BASE_IMAGE) is not None:  # built by someone else meanwhile
            return BASE_IMAGE
        display = resolve_progress(progress)
        display.start("base", f"pulling {PULL_REPOSITORY}:{PULL_TAG} for {BASE_IMAGE}")
        if engine.pull(PULL_REPOSITORY, PULL_TAG, PULL_TIMEOUT):
            engine.tag(f"{PULL_REPOSITORY}:{PULL_TAG}", BASE_REPOSITORY, BASE_TAG)
            display.finish("base", f"tagged {PULL_REPOSITORY}:{PULL_TAG} as {BASE_IMAGE}")
            return BASE_IMAGE
        display.finish("base", f"{PULL_REPOSITORY}:{PULL_TAG} cannot be pulled; bootstrapping {BASE_IMAGE}")
        _bootstrap_base(engine, display)
        return BASE_IMAGE


@dataclasses.dataclass
class AptSource:
    uris: list[str]
    suites: list[str]
    components: list[str]


def _host_apt_sources(root: Path = Path("/")) -> list[AptSource]:
    """The host's enabled ``deb`` sources, from deb822 ``*.sources`` files and ``sources.list``."""
    sources: list[AptSource] = []
    apt = root / "etc/apt"
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for stanza in re.split(r"\n\s*\n", path.read_text()):
                fields: dict[str, str] = {}
                key = ""
                for line in stanza.splitlines():
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    if line[0].isspace() and key:
                        fields[key] += " " + line.strip()
                        continue
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                sources.append(
                    AptSource(
                        fields.get("uris", "").split(),
                        fields.get("suites", "").split(),
                        fields.get("components", "").split(),
                    )
                )
    lists = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    for path in lists:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in path.read_text().splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
                if len(words) >= 3 and words[0] == "deb":
                    sources.append(AptSource([words[1]], [words[2]], words[3:]))
    return [s for s in sources if s.uris and s.suites]


def debian_mirror(root: Path = Path("/"), environ: Mapping[str, str] | None = None) -> str:
    """The Debian mirror to bootstrap from: ``LLM_SANDBOX_DEBIAN_MIRROR``, the host's, or the default."""
    env = os.environ if environ is None else environ
    if env.get("LLM_SANDBOX_DEBIAN_MIRROR"):
        return env["LLM_SANDBOX_DEBIAN_MIRROR"].rstrip("/")
    sources = _host_apt_sources(root)
    for source in sources:
        if SUITE in source.suites:
            return source.uris[0].rstrip("/")
    for source in sources:  # a Debian host on another release: same archive, other suite
        for uri in source.uris:
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def target_apt_sources(mirror: str, root: Path = Path("/")) -> str:
    """deb822 sources for the image: the host's bookworm entries (main only) when ``mirror`` is the host's
    bookworm mirror, else ``mirror`` (plus Debian's security archive when ``mirror`` is the default)."""
    stanzas: list[tuple[str, list[str]]] = []
    wanted = {SUITE, f"{SUITE}-updates", f"{SUITE}-security"}
    host = _host_apt_sources(root)
    if not any(SUITE in s.suites and mirror in (u.rstrip("/") for u in s.uris) for s in host):
        host = []
    for source in host:
        suites = [s for s in source.suites if s in wanted]
        if suites and (not source.components or "main" in source.components):
            stanza = (" ".join(u.rstrip("/") for u in source.uris), suites)
            if stanza not in stanzas:
                stanzas.append(stanza)
    if not any(SUITE in suites for _, suites in stanzas):
        stanzas = [(mirror, [SUITE, f"{SUITE}-updates"])]
        if mirror == DEFAULT_MIRROR:
            stanzas.append((DEFAULT_SECURITY_MIRROR, [f"{SUITE}-security"]))
    return "\n".join(
        f"Types: deb\nURIs: {uris}\nSuites: {' '.join(suites)}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for uris, suites in stanzas
    )


# What debian:bookworm-slim does to keep images small, applied to the bootstrapped base too.
_DPKG_EXCLUDES = """\
# llm-sandbox: no documentation, manual pages or translations in the images (like debian:*-slim)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
_APT_CONF = """\
// llm-sandbox: small images, no caches left behind
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""  # noqa: E501


def _find_debootstrap() -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(["/usr/sbin", "/sbin"])
    return shutil.which("debootstrap", path=path)


def _bootstrap_base(engine: _Engine, display: Progress) -> None:
    debootstrap = _find_debootstrap()
    alternatives = (
        f"or make {PULL_REPOSITORY}:{PULL_TAG} pullable, or load an image named {BASE_IMAGE} "
        "(docker load / docker tag)"
    )
    if debootstrap is None:
        raise ImageBuildError(
            f"cannot build the base image {BASE_IMAGE}: {PULL_REPOSITORY}:{PULL_TAG} cannot be pulled and "
            "debootstrap is not installed; install it with `sudo apt-get install debootstrap "
            f"debian-archive-keyring` and run `sudo llm-sandbox images build`, {alternatives}"
        )
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"cannot build the base image {BASE_IMAGE}: {PULL_REPOSITORY}:{PULL_TAG} cannot be pulled and "
            f"debootstrap needs root; run `sudo llm-sandbox images build` once, {alternatives}"
        )
    mirror = debian_mirror()
    workdir = tempfile.mkdtemp(prefix="llm-sandbox-base-", dir=os.environ.get("LLM_SANDBOX_TMPDIR"))
    rootfs = os.path.join(workdir, "rootfs")
    display.start("base", f"bootstrapping {BASE_IMAGE} from {mirror}")
    try:
        command = [debootstrap, "--variant=minbase"]
        if mirror.startswith("https:"):
            command.append("--include=ca-certificates")
        command += [SUITE, rootfs, mirror]
        _run_logged(command, display, "base", f"debootstrap from {mirror}")
        _slim_rootfs(Path(rootfs), mirror)
        display.update("base", "packing the root filesystem")
        tarball = os.path.join(workdir, "rootfs.tar")
        _run_logged(
            [
                "tar",
                "--numeric-owner",
                "--one-file-system",
                "-C",
                rootfs,
                "-cf",
                tarball,
                "--exclude=./proc/*",
                "--exclude=./sys/*",
                "--exclude=./dev/*",
                ".",
            ],
            display,
            "base",
            "packing the root filesystem",
        )
        display.update("base", f"importing {BASE_IMAGE}")
        engine.import_rootfs(
            tarball,
            BASE_REPOSITORY,
            BASE_TAG,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                'CMD ["bash"]',
                f"LABEL llm-sandbox.base.source=debootstrap llm-sandbox.base.mirror={mirror}",
            ],
        )
    except BaseException:
        display.finish("base", f"bootstrapping {BASE_IMAGE} failed", ok=False)
        raise
    finally:
        _remove_tree(workdir)
    display.finish("base", f"bootstrapped {BASE_IMAGE}")


def _run_logged(command: list[str], display: Progress, task: str, what: str) -> None:
    """Run a command, showing its lines as progress; on failure raise with the last lines."""
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # so an interruption can stop debootstrap's dpkg children too
    )
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip()
            if line:
                tail.append(line)
                display.update(task, line)
        code = process.wait()
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if code != 0:
        raise ImageBuildError(
            f"{what} failed (exit code {code}) while building {BASE_IMAGE}; last output:\n"
            + "\n".join(tail)
            + "\nIf the mirror is wrong, set LLM_SANDBOX_DEBIAN_MIRROR; a missing keyring is installed "
            "with `apt-get install debian-archive-keyring`."
        )


def _slim_rootfs(root: Path, mirror: str) -> None:
    """Drop docs, manuals, locales and apt caches; configure apt for later builds (host network)."""

    def clear(directory: Path, keep: tuple[str, ...] = ()) -> None:
        if not directory.is_dir() or directory.is_symlink():
            return
        for child in directory.iterdir():
            if child.name in keep:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    usr_share = root / "usr/share"
    doc = usr_share / "doc"
    if doc.is_dir():
        for package in doc.iterdir():  # keep the licences, as debian:*-slim does
            if package.is_dir() and not package.is_symlink():
                clear(package, keep=("copyright",))
            elif not (package / "copyright").exists():
                package.unlink(missing_ok=True)
    clear(usr_share / "man")
    (usr_share / "man/man1").mkdir(parents=True, exist_ok=True)  # Java's postinst needs it
    clear(usr_share / "locale", keep=("locale.alias",))
    for name in ("info", "groff", "lintian", "linda"):
        clear(usr_share / name)
    clear(root / "var/cache/apt")
    clear(root / "var/lib/apt/lists")
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    clear(root / "var/cache/debconf", keep=("config.dat", "templates.dat", "passwords.dat"))
    for log in ("var/log/dpkg.log", "var/log/bootstrap.log", "var/log/alternatives.log"):
        (root / log).unlink(missing_ok=True)
    clear(root / "var/log/apt")
    for name in ("etc/resolv.conf", "etc/hostname", "etc/machine-id"):  # the engine provides these
        path = root / name
        if path.exists() and not path.is_symlink():
            path.write_text("")

    (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/dpkg/dpkg.cfg.d/llm-sandbox-slim").write_text(_DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/apt.conf.d/90llm-sandbox").write_text(_APT_CONF)
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(target_apt_sources(mirror))


def _remove_tree(path: str) -> None:
    """Remove a bootstrap directory, unmounting first whatever a failed debootstrap left mounted."""
    real = os.path.realpath(path)
    with contextlib.suppress(OSError):
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(real + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    shutil.rmtree(real, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# language images
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ImageStatus:
    """What ``llm-sandbox images list`` shows for one language."""

    lang: str
    name: str
    present: bool
    current: bool
    hash: str | None
    size: int | None
    image_id: str | None


def _is_current(info: dict[str, Any] | None, files: Mapping[str, ContextFile], base_id: str | None) -> bool:
    """Up to date: the label matches the context and the base it was built on (the current base, if any).

    When the base image is gone (e.g. an image loaded from elsewhere), the context alone decides, so a
    session never bootstraps a base just to learn that its image is fine.
    """
    if info is None:
        return False
    labels = (info.get("Config") or {}).get("Labels") or {}
    built_on = labels.get(BASE_LABEL)
    if not built_on or not labels.get(HASH_LABEL):
        return False
    if base_id is not None and built_on != base_id:
        return False
    return bool(labels[HASH_LABEL] == content_hash(files, built_on))


def image_status(lang: str, client: Any = None) -> ImageStatus:
    """Whether ``llm-sandbox/<lang>:latest`` is present and built from the current inputs."""
    engine = _Engine(client if client is not None else _default_client())
    return _status(engine, lang)


def list_images(client: Any = None) -> list[ImageStatus]:
    """The base image (``lang`` ``"base"``) then every language with a Dockerfile."""
    engine = _Engine(client if client is not None else _default_client())
    base = engine.inspect(BASE_IMAGE)
    rows = [
        ImageStatus(
            lang="base",
            name=BASE_IMAGE,
            present=base is not None,
            current=base is not None,
            hash=None,
            size=(base or {}).get("Size"),
            image_id=(base or {}).get("Id"),
        )
    ]
    return rows + [_status(engine, lang) for lang in available_languages()]


def _status(engine: _Engine, lang: str) -> ImageStatus:
    name = image_name(lang)
    info = engine.inspect(name)
    base = engine.inspect(BASE_IMAGE)
    current = _is_current(info, context_files(lang), base["Id"] if base else None)
    labels = ((info or {}).get("Config") or {}).get("Labels") or {}
    return ImageStatus(
        lang=lang,
        name=name,
        present=info is not None,
        current=current,
        hash=labels.get(HASH_LABEL),
        size=(info or {}).get("Size"),
        image_id=(info or {}).get("Id"),
    )


def build_image(
    lang: str, client: Any = None, *, force: bool = False, progress: Progress | bool | None = None
) -> str:
    """Build ``llm-sandbox/<lang>:latest`` (skipped when an image with the same content hash exists).

    ``force`` rebuilds without the layer cache (fresh packages from the mirror). Returns the name.
    Raises :class:`ImageBuildError` with the failing step and the last lines of the build output.
    """
    engine = _Engine(client if client is not None else _default_client())
    display = resolve_progress(progress)
    name = image_name(lang)
    files = context_files(lang)
    ensure_base_image(engine.client, display)
    with _build_lock(name):
        base = engine.inspect(BASE_IMAGE)
        if base is None:
            raise ImageBuildError(f"the base image {BASE_IMAGE} disappeared during the build of {name}")
        digest = content_hash(files, base["Id"])
        previous = engine.inspect(name)
        if not force:
            if _is_current(previous, files, base["Id"]):
                return name
            for match in engine.find_by_label(HASH_LABEL, digest):  # built before, tag moved away
                repository, _, tag = name.rpartition(":")
                engine.tag(match["Id"], repository, tag)
                return name
        _build(engine, lang, name, files, base["Id"], digest, force, display)
        if previous is not None and previous["Id"] != (engine.inspect(name) or {}).get("Id"):
            engine.remove_if_unused(previous["Id"])
    return name


_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _build(
    engine: _Engine,
    lang: str,
    name: str,
    files: Mapping[str, ContextFile],
    base_id: str,
    digest: str,
    nocache: bool,
    display: Progress,
) -> None:
    network = None if engine.has_bridge_network() else "host"
    labels = {HASH_LABEL: digest, LANG_LABEL: lang, BASE_LABEL: base_id}
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    step = "before the first step"
    error: str | None = None
    display.start(lang, f"building {name}")
    try:
        stream = engine.build(
            context_tar(files, host_ca_bundle()), name, build_args(BASE_IMAGE), labels, network, nocache
        )
        try:
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    error = _ANSI.sub("", str(chunk.get("error") or detail.get("message") or chunk))
                    break
                text = _ANSI.sub("", str(chunk.get("stream") or chunk.get("status") or ""))
                for raw in text.splitlines():
                    line = raw.rstrip()
                    if not line:
                        continue
                    tail.append(line)
                    match = _STEP.match(line)
                    if match:
                        step = line
                        display.update(lang, f"{match[1]}/{match[2]} {match[3]}")
                    elif not line.startswith((" ---> ", "Removing intermediate container")):
                        display.update(lang, f"{step.split(' : ')[0].removeprefix('Step ')} {line}")
        finally:
            stream.close()
    except ContainerError as exc:
        error = str(exc)
    except BaseException:
        display.finish(lang, f"building {name} interrupted", ok=False)
        raise
    built = engine.inspect(name) if error is None else None
    if error is None and (built is None or (built["Config"].get("Labels") or {}).get(HASH_LABEL) != digest):
        error = "the engine reported no error but no image with the expected label was produced"
    if error is not None:
        display.finish(lang, f"building {name} failed", ok=False)
        failure = ImageBuildError(
            f"building {name} failed at {step}: {error.strip()}\n"
            f"last lines of the build output:\n" + "\n".join(tail)
        )
        failure.step = step  # type: ignore[attr-defined]
        failure.log_tail = list(tail)  # type: ignore[attr-defined]
        raise failure
    display.finish(lang, f"built {name}")


def ensure_image(lang: str, client: Any = None, progress: Progress | bool | None = None) -> str:
    """Return the image name of ``lang``, building it first when it is missing or stale."""
    engine = _Engine(client if client is not None else _default_client())
    name = image_name(lang)
    files = context_files(lang)
    base = engine.inspect(BASE_IMAGE)
    if _is_current(engine.inspect(name), files, base["Id"] if base else None):
        return name
    return build_image(lang, engine.client, progress=progress)


def build_images(
    langs: list[str] | None = None,
    client: Any = None,
    *,
    force: bool = False,
    progress: Progress | bool | None = None,
    parallel: int = PARALLEL_BUILDS,
) -> dict[str, str]:
    """Build several images (default: every language with a Dockerfile), ``parallel`` at a time.

    Every build is attempted; afterwards the first failure is raised (the others are named in it).
    Returns ``{lang: image name}`` of the images that are now up to date.
    """
    targets = list(dict.fromkeys(langs)) if langs else available_languages()
    for lang in targets:
        context_files(lang)  # unknown languages fail before any work starts
    engine = _Engine(client if client is not None else _default_client())
    display = resolve_progress(progress)
    ensure_base_image(engine.client, display)
    results: dict[str, str] = {}
    failures: dict[str, BaseException] = {}

    def one(lang: str) -> None:
        try:
            results[lang] = build_image(lang, engine.client, force=force, progress=display)
        except Exception as exc:
            failures[lang] = exc

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="llm-sandbox-build") as pool:
        list(pool.map(one, targets))
    if failures:
        first_lang, first = next(iter(failures.items()))
        if len(failures) == 1:
            raise first
        others = ", ".join(lang for lang in failures if lang != first_lang)
        message = f"{first}" + (f"\n(also failed: {others})" if others else "")
        raise ImageBuildError(message) from first
    return {lang: results[lang] for lang in targets}

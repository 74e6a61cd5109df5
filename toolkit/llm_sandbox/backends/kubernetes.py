"""Kubernetes backend: every sandbox is a pod; commands run through the API's exec stream.

:class:`KubernetesBackend` implements the backend protocol of ``backends/base.py``
on the official ``kubernetes`` client, and :class:`SandboxKubernetesSession` is
the session of the API reference on top of it. Everything a session does (the
run wrapper, output caps, timeouts that kill, tar copies) comes from
``session.py`` unchanged; this module only knows pods:

* **Pods.** A pod is built from ``k8s/pod.yaml`` (secure defaults), the
  session's :class:`~llm_sandbox.backends.base.ContainerSpec` (image, keeper
  command, user, environment, emptyDir volumes for the workdir, ``/tmp`` and
  ``/opt/sandbox-packages``, limits) and the user's ``pod_manifest``, deep-merged
  in that order (:func:`deep_merge` gives the rules). Creation waits for
  readiness for a bounded time, fails fast on image-pull and container-config
  errors with the pod's conditions and events in the message, and deletes the
  pod on every failure path.
* **Exec.** ``pods/exec`` over a websocket (``v4``/``v5.channel.k8s.io``):
  stdin bytes go out on channel 0, stdout/stderr arrive on channels 1/2 and are
  streamed to the callback, the exit status is the JSON status on channel 3.
  When the deadline passes the stream is closed and
  :class:`~llm_sandbox.backends.base.ExecDeadlineExceeded` raised; the session
  then kills the processes through a second exec (closing an exec stream never
  kills anything in Kubernetes).
* **Libraries.** Sandbox pods get no network (with the NetworkPolicy of
  :func:`apply_network_policy`). ``install()`` starts a short-lived installer
  pod (same image, labelled ``llm-sandbox.role=installer`` so the policy leaves
  it its egress, same non-root/no-capability hardening) that installs into its
  own emptyDir; the result is then copied into the sandbox pod's
  ``/opt/sandbox-packages`` as a tar stream over exec. emptyDirs cannot be
  shared between pods, and the containers of one pod share its network, so this
  is the way that needs neither a storage class nor network for the sandbox.

Engine exceptions are translated into ``llm_sandbox.exceptions`` here only.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import secrets
import select
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any

from llm_sandbox.backends.base import (
    STDERR,
    STDOUT,
    ContainerSpec,
    ExecDeadlineExceeded,
    OutputCallback,
)
from llm_sandbox.const import SupportedLanguage
from llm_sandbox.exceptions import (
    ContainerError,
    ImageBuildError,
    ImagePullError,
    MissingDependencyError,
    SandboxError,
    SandboxTimeoutError,
    ValidationError,
)
from llm_sandbox.session import (
    KEEPER_COMMAND,
    OWNER_LABEL,
    PACKAGES_DIR,
    SANDBOX_USER,
    SESSION_LABEL,
    Session,
    owner_label,
)

try:
    import kubernetes.client
    import kubernetes.config
    import kubernetes.stream
    import urllib3.exceptions
    import websocket
    import yaml
    from kubernetes.client.exceptions import ApiException
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        "the Kubernetes backend needs the `kubernetes` package: pip install 'llm-sandbox-toolkit[kubernetes]'"
    ) from exc

logger = logging.getLogger("llm_sandbox")

SANDBOX_CONTAINER = "sandbox"
ROLE_LABEL = "llm-sandbox.role"
INSTALLER_ROLE = "installer"
DEFAULT_READY_TIMEOUT = 180.0
NETWORK_POLICY_NAME = "llm-sandbox-isolate"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CA_BUNDLE_IN_INSTALLER = "/tmp/llm-sandbox-ca/ca.crt"
PACKAGES_SIZE_LIMIT = "4Gi"

_STDIN_CHUNK = 32 * 1024
_ERROR_CHANNEL = 3
_SPOOL_IN_MEMORY = 32 * 1024 * 1024

# Waiting reasons after which a pod never becomes ready on its own.
_IMAGE_REASONS = {"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
_FATAL_REASONS = _IMAGE_REASONS | {
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
}
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
# docker-style create options that have a pod equivalent (or none, on purpose); others are warned about.
_MAPPED_OPTIONS = {
    "user",
    "cap_drop",
    "cap_add",
    "security_opt",
    "read_only",
    "privileged",
    "mem_limit",
    "mem_reservation",
    "nano_cpus",
    "tmpfs",
    "network_mode",
    "network_disabled",
    "pids_limit",
    "pod_manifest",
}


# errors -------------------------------------------------------------------
def _api_status(exc: ApiException) -> int:
    """The HTTP status, also for failed websocket handshakes (which the client reports as status 0)."""
    handshake = re.search(r"Handshake status (\d+)", str(exc.reason or ""))
    return int(handshake.group(1)) if not exc.status and handshake else int(exc.status or 0)


def _api_message(exc: ApiException) -> str:
    """The ``message`` of the API server's Status body, else the reason."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    message = None
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = body[:500]
    if not message and exc.reason:  # a failed websocket handshake: the client keeps only a text dump
        reason = str(exc.reason)
        found = re.search(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)"', reason)
        message = json.loads(f'"{found.group(1)}"') if found else reason[:500]
    code = _api_status(exc)
    return f"{message or 'no details'} ({f'HTTP {code}' if code else 'no response'})"


@contextlib.contextmanager
def _translate(what: str, namespace: str = "") -> Iterator[None]:
    """Turn client, HTTP and websocket exceptions into library exceptions, naming the failed operation."""
    try:
        yield
    except (SandboxError, ExecDeadlineExceeded):
        raise
    except ApiException as exc:
        hint = ""
        status = _api_status(exc)
        if status == 403:
            hint = (
                f"; the credentials in use may not create/get/list/delete pods and create pods/exec in "
                f"namespace {namespace or '?'} (see docs/kubernetes.md, 'Permissions (RBAC)')"
            )
        elif status == 401:
            hint = "; the cluster refused the credentials (expired token? check `kubectl auth whoami`)"
        raise ContainerError(f"{what} failed: {_api_message(exc)}{hint}") from exc
    except websocket.WebSocketException as exc:
        raise ContainerError(f"{what} failed: the exec stream broke ({exc})") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ContainerError(
            f"{what} failed: cannot reach the Kubernetes API server ({exc}); "
            "check KUBECONFIG and `kubectl cluster-info`"
        ) from exc


def connect(context: str | None = None) -> Any:
    """A ``CoreV1Api`` for the cluster of the kubeconfig (``KUBECONFIG``, ``~/.kube/config``) or, inside a
    pod, of its service account."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(context=context, client_configuration=configuration)
    except (kubernetes.config.ConfigException, OSError) as first:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            raise ContainerError(
                f"no Kubernetes configuration found ({first}); set KUBECONFIG to a kubeconfig file, run "
                "inside a cluster, or pass client=kubernetes.client.CoreV1Api(...)"
            ) from first
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))


# manifests ----------------------------------------------------------------
def _data_file(name: str) -> str:
    return resources.files("llm_sandbox.backends").joinpath(f"k8s/{name}").read_text()


def base_pod_manifest() -> dict[str, Any]:
    """The secure defaults every sandbox pod starts from (``k8s/pod.yaml``)."""
    return dict(yaml.safe_load(_data_file("pod.yaml")))


def network_policy_manifest(name: str = NETWORK_POLICY_NAME) -> dict[str, Any]:
    """The NetworkPolicy that cuts sandbox pods off the network (``k8s/network-policy.yaml``)."""
    policy = dict(yaml.safe_load(_data_file("network-policy.yaml")))
    policy["metadata"]["name"] = name
    return policy


def deep_merge(base: Any, override: Any, *, key: str = "") -> Any:
    """``override`` merged over ``base``; neither is modified.

    * dicts merge key by key, recursively; a ``None`` value removes the key;
    * ``containers``: an override container merges with the base container of
      the same name; one whose name is not in the base merges with the base
      container at the same position (so a manifest's first container, whatever
      its name, configures the sandbox container); the rest are added;
    * other lists of named objects (``volumes``, ``volumeMounts``, ``env``,
      ``initContainers``, ``ports``...) merge by ``name``, new names are added;
    * any other value, including other lists, replaces the base value.
    """
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for name, value in override.items():
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = deep_merge(merged[name], value, key=name)
            else:
                merged[name] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        if key == "containers" and _all_dicts(base) and _all_dicts(override):
            return _merge_named(base, override, by_position=True)
        if _all_dicts(base, named=True) and _all_dicts(override, named=True):
            return _merge_named(base, override, by_position=False)
    return copy.deepcopy(override)


def _all_dicts(items: list[Any], *, named: bool = False) -> bool:
    return all(isinstance(item, dict) and (not named or "name" in item) for item in items)


def _merge_named(base: list[dict], override: list[dict], *, by_position: bool) -> list[dict]:
    merged = copy.deepcopy(base)
    index = {item.get("name"): i for i, item in enumerate(base)}
    claimed = {index[item["name"]] for item in override if item.get("name") in index}
    for position, item in enumerate(override):
        target = index.get(item["name"]) if "name" in item else None
        if target is None and by_position and position < len(base) and position not in claimed:
            target = position
            claimed.add(position)
        if target is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[target] = deep_merge(merged[target], item)
    return merged


def build_pod_manifest(
    spec: ContainerSpec, *, name: str, namespace: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The pod for ``spec``: ``k8s/pod.yaml``, then what the spec says, then ``overrides`` (deep-merged)."""
    if spec.binds:
        raise ValidationError(
            f"host bind mounts ({', '.join(spec.binds)}) do not exist on Kubernetes; "
            "mount volumes through pod_manifest instead"
        )
    options = dict(spec.options)
    options.pop("pod_manifest", None)
    labels, annotations = _split_labels(spec.labels)
    container: dict[str, Any] = {
        "name": SANDBOX_CONTAINER,
        "image": spec.image,
        "command": list(spec.command),
    }
    if spec.workdir:
        container["workingDir"] = spec.workdir
    if spec.environment:
        container["env"] = [{"name": key, "value": str(value)} for key, value in spec.environment.items()]
    pod_security, container_security = _security_contexts(options)
    if container_security:
        container["securityContext"] = container_security
    limits, requests = _resources(options)
    if limits or requests:
        container["resources"] = {k: v for k, v in (("limits", limits), ("requests", requests)) if v}
    volumes, mounts = _volumes(spec, options)
    if mounts:
        container["volumeMounts"] = mounts
    derived: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [container]},
    }
    if annotations:
        derived["metadata"]["annotations"] = annotations
    if pod_security:
        derived["spec"]["securityContext"] = pod_security
    if volumes:
        derived["spec"]["volumes"] = volumes
    manifest: dict[str, Any] = deep_merge(base_pod_manifest(), derived)
    _clamp_requests(manifest["spec"]["containers"][0])
    if overrides:
        manifest = deep_merge(manifest, overrides)
    manifest.setdefault("metadata", {})["namespace"] = namespace
    containers = manifest.get("spec", {}).get("containers") or []
    if not containers or not containers[0].get("image") or not containers[0].get("name"):
        raise ValidationError("pod_manifest left the pod without a named sandbox container with an image")
    return manifest


def _split_labels(labels: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Values a label may hold stay labels; others (``host/pid`` owners...) become annotations."""
    kept: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValidationError(f"{key!r} is not a valid Kubernetes label key")
        value = str(value)
        if len(value) <= 63 and _LABEL_VALUE.match(value):
            kept[key] = value
        else:
            annotations[key] = value
    return kept, annotations


def _security_contexts(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod: dict[str, Any] = {}
    container: dict[str, Any] = {}
    user = options.get("user")
    if user not in (None, ""):
        uid, _, gid = str(user).partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise ValidationError(
                f"user {user!r}: Kubernetes needs a numeric uid[:gid] (runAsUser/runAsGroup), e.g. '1000:1000'"
            )
        pod["runAsUser"] = int(uid)
        pod["runAsNonRoot"] = int(uid) != 0
        if gid:
            pod["runAsGroup"] = int(gid)
            pod["fsGroup"] = int(gid)
    capabilities: dict[str, Any] = {}
    if options.get("cap_drop") is not None:
        capabilities["drop"] = [str(c).upper().removeprefix("CAP_") for c in options["cap_drop"]]
    if options.get("cap_add"):
        capabilities["add"] = [str(c).upper().removeprefix("CAP_") for c in options["cap_add"]]
    if capabilities:
        container["capabilities"] = capabilities
    for opt in options.get("security_opt") or []:
        text = str(opt).replace("=", ":")
        if text in ("no-new-privileges", "no-new-privileges:true"):
            container["allowPrivilegeEscalation"] = False
        elif text == "seccomp:unconfined":
            pod["seccompProfile"] = {"type": "Unconfined"}
        else:
            logger.warning("security_opt %r has no Kubernetes equivalent here; set it through pod_manifest", opt)
    if "read_only" in options:
        container["readOnlyRootFilesystem"] = bool(options["read_only"])
    if "privileged" in options:
        container["privileged"] = bool(options["privileged"])
        if options["privileged"]:
            container["allowPrivilegeEscalation"] = True
    for key in sorted(set(options) - _MAPPED_OPTIONS - {"environment", "labels"}):
        logger.warning("runtime_configs key %r has no Kubernetes equivalent; ignored (use pod_manifest)", key)
    if options.get("network_mode") not in (None, "none"):
        logger.warning(
            "network_mode %r is ignored on Kubernetes: the pod's network is the cluster's, restricted by "
            "NetworkPolicies (see apply_network_policy)",
            options["network_mode"],
        )
    return pod, container


def _resources(options: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if options.get("mem_limit") not in (None, 0, ""):
        limits["memory"] = memory_quantity(options["mem_limit"])
    if options.get("mem_reservation") not in (None, 0, ""):
        requests["memory"] = memory_quantity(options["mem_reservation"])
    if options.get("nano_cpus"):
        millicores = max(1, round(int(options["nano_cpus"]) / 1_000_000))
        limits["cpu"] = str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"
    return limits, requests


def _clamp_requests(container: dict[str, Any]) -> None:
    """Keep the default requests at or below limits lowered through runtime_configs."""
    res = container.get("resources") or {}
    limits, requests = res.get("limits") or {}, res.get("requests") or {}
    for kind, parse in (("memory", quantity_bytes), ("cpu", _millicores)):
        if kind in limits and kind in requests and parse(requests[kind]) > parse(limits[kind]):
            requests[kind] = limits[kind]


_DOCKER_UNITS = {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}
_QUANTITY_FACTORS = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "m": 10**-3,
}


def memory_quantity(value: int | str) -> str:
    """A docker-style size (``1g``, ``512m``, ``65536``) as a Kubernetes quantity (``1Gi``, ``512Mi``)."""
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgtBKMGT]?)", text)
    if match:
        return f"{match.group(1)}{_DOCKER_UNITS[match.group(2).lower()]}"
    if re.fullmatch(r"\d+(?:\.\d+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?", text):
        return text  # already a Kubernetes quantity
    raise ValidationError(f"cannot read {value!r} as a memory size (use e.g. '512m', '1g' or '1Gi')")


def quantity_bytes(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P|m)?", str(quantity).strip())
    if not match:
        raise ValidationError(f"cannot read Kubernetes quantity {quantity!r}")
    return float(match.group(1)) * _QUANTITY_FACTORS[match.group(2) or ""]


def _millicores(quantity: str) -> float:
    return quantity_bytes(quantity) * 1000


def _volumes(spec: ContainerSpec, options: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """tmpfs mounts become memory-backed emptyDirs, named volumes disk-backed ones; named after their path."""
    volumes: list[dict] = []
    mounts: list[dict] = []
    used: set[str] = set()

    def add(path: str, empty_dir: dict[str, Any]) -> None:
        base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:55] or "root"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        volumes.append({"name": name, "emptyDir": empty_dir})
        mounts.append({"name": name, "mountPath": path})

    for path, settings in (options.get("tmpfs") or {}).items():
        empty_dir: dict[str, Any] = {"medium": "Memory"}
        size = next(
            (part.split("=", 1)[1] for part in str(settings or "").split(",") if part.startswith("size=")),
            None,
        )
        if size:
            empty_dir["sizeLimit"] = memory_quantity(size)
        add(path, empty_dir)
    for path in spec.volumes.values():
        add(path, {"sizeLimit": PACKAGES_SIZE_LIMIT} if path == PACKAGES_DIR else {})
    return volumes, mounts


def _pod_name(spec: ContainerSpec) -> str:
    kind = spec.labels.get(ROLE_LABEL) or spec.labels.get("llm-sandbox.lang") or "sandbox"
    session = spec.labels.get(SESSION_LABEL, "")[:12]
    parts = ["llm-sandbox", kind, session, secrets.token_hex(3)]
    name = "-".join(re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts if part)
    return name[:63].rstrip("-")


# pod status ---------------------------------------------------------------
def describe_pod(pod: dict[str, Any], events: list[dict[str, Any]] | None = None) -> str:
    """Phase, conditions, container states and recent events of a pod, on one line for error messages."""
    status = pod.get("status") or {}
    parts = [f"phase {status.get('phase') or 'unknown'}"]
    if status.get("reason") or status.get("message"):
        parts.append(f"{status.get('reason') or ''} {status.get('message') or ''}".strip())
    conditions = []
    for condition in status.get("conditions") or []:
        text = f"{condition.get('type')}={condition.get('status')}"
        detail = ": ".join(str(x) for x in (condition.get("reason"), condition.get("message")) if x)
        conditions.append(f"{text} ({detail})" if detail else text)
    if conditions:
        parts.append("conditions: " + ", ".join(conditions))
    for kind, statuses in (("init container", "initContainerStatuses"), ("container", "containerStatuses")):
        for item in status.get(statuses) or []:
            state = item.get("state") or {}
            for which in ("waiting", "terminated"):
                info = state.get(which)
                if info:
                    code = f", exit code {info['exitCode']}" if "exitCode" in info else ""
                    why = ": ".join(str(x) for x in (info.get("reason"), info.get("message")) if x)
                    parts.append(f"{kind} {item.get('name')} {which} ({why or 'no reason'}{code})")
    if events:
        recent = [
            f"{e.get('type') or 'Normal'} {e.get('reason') or ''}: {(e.get('message') or '').strip()}"
            for e in events[-8:]
        ]
        parts.append("events: " + "; ".join(recent))
    return "; ".join(parts)


def _pod_state(pod: dict[str, Any], container: str) -> tuple[str, str]:
    """``("ready" | "pending" | "failed" | "image", why)`` for a pod being started."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = status.get("phase")
    if metadata.get("deletionTimestamp"):
        return "failed", "is being deleted"
    for field in ("initContainerStatuses", "containerStatuses"):
        for item in status.get(field) or []:
            state = item.get("state") or {}
            reason = (state.get("waiting") or {}).get("reason")
            if reason in _IMAGE_REASONS:
                return "image", f"cannot pull image {item.get('image')!r} ({reason})"
            if reason in _FATAL_REASONS:
                return "failed", f"cannot start container {item.get('name')} ({reason})"
            terminated = state.get("terminated")
            if terminated and (field == "containerStatuses" or terminated.get("exitCode")):
                return (
                    "failed",
                    f"container {item.get('name')} exited (exit code {terminated.get('exitCode')})",
                )
    if phase in ("Failed", "Succeeded"):
        return "failed", f"stopped (phase {phase})"
    if phase == "Running":
        for item in status.get("containerStatuses") or []:
            if item.get("name") == container and item.get("ready") and (item.get("state") or {}).get("running"):
                return "ready", ""
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                return "ready", ""
    return "pending", ""


def exit_status(raw: bytes | str | None) -> int:
    """The exit code in the status JSON the exec stream sends on channel 3."""
    if not raw:
        raise ContainerError(
            "the exec stream ended without an exit status: the pod or container was stopped or deleted"
        )
    try:
        status = json.loads(raw)
    except ValueError:
        raise ContainerError(f"unreadable exec status from the cluster: {raw[:300]!r}") from None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message"))
    message = str(status.get("message") or status)
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    raise ContainerError(f"the command could not be run in the pod: {message}")


# the backend ---------------------------------------------------------------
class KubernetesBackend:
    """:class:`~llm_sandbox.backends.base.Backend` on the Kubernetes API: containers are pods.

    ``client`` is a ``kubernetes.client.CoreV1Api`` (default: :func:`connect`).
    Every pod lives in ``namespace``.
    """

    name = "kubernetes"

    def __init__(
        self,
        client: Any = None,
        namespace: str = "default",
        *,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        poll_interval: float = 0.25,
    ) -> None:
        self.api = client if client is not None else connect()
        self.namespace = namespace
        self.ready_timeout = ready_timeout
        self.poll_interval = poll_interval
        # kubernetes.stream swaps `call_api` on the ApiClient it is given while it opens a stream:
        # a dedicated ApiClient keeps concurrent REST calls (timers, other threads) off that swap.
        api_client = self.api.api_client
        stream_client = kubernetes.client.ApiClient(api_client.configuration)
        stream_client.default_headers.update(api_client.default_headers)
        self._stream_api = kubernetes.client.CoreV1Api(stream_client)
        self._stream_lock = threading.Lock()
        self._containers: dict[str, str] = {}

    def _what(self, action: str, name: str) -> str:
        return f"{action} pod {self.namespace}/{name}"

    # images -------------------------------------------------------------
    def image_exists(self, image: str) -> bool:
        """Always true: the nodes pull images; a missing one fails pod start with the kubelet's reason."""
        return True

    def pull_image(self, image: str) -> bool:
        """Always true: the nodes pull images themselves."""
        return True

    def build_image(self, dockerfile: str, tag: str) -> None:
        raise ImageBuildError(
            f"the Kubernetes backend does not build images: build {tag} from {dockerfile} with Docker, "
            "push it to a registry the cluster pulls from and pass image= (docs/kubernetes.md, 'Images')"
        )

    def remove_image(self, image: str) -> None:
        """Nothing to do: images belong to the registry and the nodes."""

    def commit(self, container_id: str, repository: str, tag: str) -> str:
        raise ContainerError("committing a pod to an image is not supported on Kubernetes")

    def create_volume(self, name: str, labels: dict[str, str]) -> None:
        """Nothing to do: volumes are emptyDirs that live and die with their pod."""

    def remove_volume(self, name: str) -> None:
        """Nothing to do: volumes are emptyDirs that live and die with their pod."""

    # pods ---------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> str:
        """Create the pod and wait until it is ready; delete it again on any failure (no orphans)."""
        overrides = spec.options.get("pod_manifest") or None
        name = ((overrides or {}).get("metadata") or {}).get("name") or _pod_name(spec)
        manifest = build_pod_manifest(spec, name=name, namespace=self.namespace, overrides=overrides)
        name = manifest["metadata"]["name"]
        container = manifest["spec"]["containers"][0]["name"]
        conflict = False
        try:
            try:
                with _translate(self._what("creating", name), self.namespace):
                    self.api.create_namespaced_pod(self.namespace, manifest, _preload_content=False)
            except ContainerError as exc:
                conflict = isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 409
                raise
            self._containers[name] = container
            started = time.monotonic()
            self._wait_ready(name, container)
            logger.info("pod %s/%s ready in %.1f s", self.namespace, name, time.monotonic() - started)
        except BaseException:
            if not conflict:  # a 409 means the name belongs to someone else's pod
                self._delete_quietly(name)
            raise
        return str(name)

    def _read_pod(self, name: str) -> dict[str, Any] | None:
        with _translate(self._what("reading", name), self.namespace):
            try:
                response = self.api.read_namespaced_pod(name, self.namespace, _preload_content=False)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            return dict(json.loads(response.data))

    def _events(self, name: str) -> list[dict[str, Any]]:
        """The pod's events, oldest first; empty when they cannot be read (RBAC, no events yet)."""
        try:
            response = self.api.list_namespaced_event(
                self.namespace, field_selector=f"involvedObject.name={name}", _preload_content=False
            )
            items = [
                e
                for e in json.loads(response.data).get("items") or []
                if (e.get("involvedObject") or {}).get("name") == name
            ]
        except Exception:  # events only enrich an error message
            return []
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def _wait_ready(self, name: str, container: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        delay = self.poll_interval
        while True:
            pod = self._read_pod(name)
            if pod is None:
                raise ContainerError(
                    f"pod {self.namespace}/{name} disappeared while starting (deleted or evicted); "
                    "check `kubectl get events`"
                )
            state, why = _pod_state(pod, container)
            if state == "ready":
                return
            if state == "pending" and time.monotonic() >= deadline:
                state, why = "timeout", f"did not become ready within {self.ready_timeout:g}s"
            if state != "pending":
                raise self._start_error(name, pod, state, why)
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 2.0)

    def _start_error(self, name: str, pod: dict[str, Any], state: str, why: str) -> SandboxError:
        details = describe_pod(pod, self._events(name))
        message = f"pod {self.namespace}/{name} {why}; it was deleted. {details}"
        if state == "image":
            return ImagePullError(
                f"{message}. Push the image to a registry the cluster can pull from (or load it into the "
                "nodes, e.g. `kind load docker-image`) and pass image=; see docs/kubernetes.md, 'Images'"
            )
        if "Unschedulable" in details:
            message += ". No node can take the pod: lower its requests (pod_manifest resources) or add capacity"
        return ContainerError(message)

    def exists(self, container_id: str) -> bool:
        pod = self._read_pod(container_id)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return False
        self._containers.setdefault(container_id, _default_container(pod))
        return (pod.get("status") or {}).get("phase") == "Running"

    def remove(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        with _translate(self._what("deleting", container_id), self.namespace):
            try:
                self.api.delete_namespaced_pod(container_id, self.namespace, _preload_content=False)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    def _delete_quietly(self, name: str) -> None:
        try:
            self.remove(name)
        except Exception as exc:  # already failing: say what is left behind
            logger.warning("could not delete pod %s/%s (%s); delete it with kubectl", self.namespace, name, exc)

    def list_labelled(self, label: str) -> list[dict[str, Any]]:
        key = label.split("=", 1)[0]
        with _translate(f"listing pods labelled {label} in namespace {self.namespace}", self.namespace):
            response = self.api.list_namespaced_pod(self.namespace, label_selector=label, _preload_content=False)
            pods = json.loads(response.data).get("items") or []
        found = []
        for pod in pods:
            metadata = pod.get("metadata") or {}
            labels = dict(metadata.get("labels") or {})
            if key not in labels:
                continue
            annotations = metadata.get("annotations") or {}
            labels.update({k: v for k, v in annotations.items() if k.startswith("llm-sandbox.")})
            found.append({"kind": "container", "id": metadata.get("name"), "labels": labels})
        return found

    def _container_of(self, name: str) -> str:
        if name not in self._containers:
            pod = self._read_pod(name)
            if pod is None:
                raise ContainerError(f"pod {self.namespace}/{name} does not exist")
            self._containers[name] = _default_container(pod)
        return self._containers[name]

    # exec ---------------------------------------------------------------
    def exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        stdin: bytes | None = None,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
    ) -> int:
        """Run ``argv`` in the pod's sandbox container (see the protocol).

        The exec API has no user, environment or working directory: commands run
        as the container's ``runAsUser`` (``user`` is not switchable and is
        ignored) and ``environment``/``workdir`` are applied by a ``sh`` prefix.
        """
        return self.exec_stream(
            container_id,
            argv,
            stdin=stdin,
            environment=environment,
            workdir=workdir,
            on_output=on_output,
            deadline=deadline,
        )

    def exec_stream(
        self,
        container_id: str,
        argv: list[str],
        *,
        stdin: bytes | IO[bytes] | None = None,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
    ) -> int:
        """:meth:`exec` whose stdin may also be a binary file, sent in chunks (for large copies)."""
        command = _with_env_and_workdir(argv, environment, workdir)
        container = self._container_of(container_id)
        what = self._what("running a command in", container_id)
        with _translate(what, self.namespace), self._stream_lock:
            ws = kubernetes.stream.stream(
                self._stream_api.connect_get_namespaced_pod_exec,
                container_id,
                self.namespace,
                container=container,
                command=command,
                stdin=stdin is not None,
                stdout=True,
                stderr=True,
                tty=False,
                _preload_content=False,
                binary=True,
            )
        stream = _ExecStream(ws, on_output)
        try:
            with _translate(what, self.namespace):
                if stdin is not None:
                    stream.send(stdin, deadline)
                return stream.finish(deadline)
        finally:
            with contextlib.suppress(Exception):
                ws.close()

    def transfer(self, source: str, source_dir: str, target: str, target_dir: str, *, deadline: float) -> int:
        """Copy the contents of ``source_dir`` in pod ``source`` into ``target_dir`` in pod ``target``.

        Streams a tar archive through a spool file on this machine (memory up to 32 MiB, then disk);
        returns the archive's size.
        """
        errors = bytearray()

        def keep_errors(stream: int, chunk: bytes) -> None:
            if stream == STDOUT:
                spool.write(chunk)
            elif len(errors) < 4096:
                errors.extend(chunk)

        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            # The directory's entries, not "." itself: emptyDir roots belong to root, and tar would
            # fail to restore the mode of "." on the other side.
            pack = 'cd "$0" && find . -mindepth 1 -maxdepth 1 -print0 | tar -c --null -T -'
            code = self.exec_stream(source, ["sh", "-c", pack, source_dir], on_output=keep_errors, deadline=deadline)
            if code != 0:
                raise ContainerError(f"reading {source_dir} from pod {source} failed: {errors.decode()[-500:]}")
            size = spool.tell()
            spool.seek(0)
            script = 'head -c "$0" | tar -x -m --no-same-owner --no-overwrite-dir -C "$1"'
            code = self.exec_stream(
                target,
                ["sh", "-c", script, str(size), target_dir],
                stdin=spool,
                on_output=keep_errors,
                deadline=deadline,
            )
            if code != 0:
                raise ContainerError(f"writing {target_dir} in pod {target} failed: {errors.decode()[-500:]}")
            return size


def _default_container(pod: dict[str, Any]) -> str:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(annotations.get(DEFAULT_CONTAINER_ANNOTATION) or containers[0].get("name") or SANDBOX_CONTAINER)


def _with_env_and_workdir(argv: list[str], environment: dict[str, str] | None, workdir: str | None) -> list[str]:
    if not environment and not workdir:
        return list(argv)
    prefix = ["sh", "-c", 'cd "$0" && exec "$@"', workdir or "."]
    if environment:
        for key in environment:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValidationError(f"invalid environment variable name {key!r}")
        prefix += ["env", *(f"{key}={value}" for key, value in environment.items())]
    return prefix + list(argv)


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ExecDeadlineExceeded
    return remaining


def _chunks(data: bytes) -> Any:
    view = memoryview(data)
    offset = 0

    def read(size: int) -> bytes:
        nonlocal offset
        chunk = view[offset : offset + size]
        offset += len(chunk)
        return bytes(chunk)

    return read


class _ExecStream:
    """One exec websocket, read frame by frame.

    Frames are ``<channel byte><payload>``: stdout (1) and stderr (2) go to the
    callback as they arrive, the status (3) is collected, and the stream ends
    with the server's close. (The client's own ``WSClient.update()`` buffers
    bursts by concatenation, which is quadratic on large outputs.)
    """

    def __init__(self, ws: Any, on_output: OutputCallback | None) -> None:
        self.ws = ws
        self.sock = ws.sock
        self.on_output = on_output
        self.status = bytearray()
        self.closed = False

    def _read_frame(self) -> None:
        try:
            opcode, frame = self.sock.recv_data_frame(True)
        except websocket.WebSocketConnectionClosedException:
            self.closed = True
            return
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.closed = True
            return
        data = frame.data.encode() if isinstance(frame.data, str) else bytes(frame.data)
        if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT) or not data:
            return
        channel, payload = data[0], data[1:]
        if channel in (STDOUT, STDERR):
            if payload and self.on_output is not None:
                self.on_output(channel, payload)
        elif channel == _ERROR_CHANNEL:
            self.status += payload
        # 255 is v5's "channel closed" signal: nothing to do

    def _readable(self) -> bool:
        raw = self.sock.sock
        if raw is None:
            return False
        if isinstance(raw, ssl.SSLSocket) and raw.pending():
            return True
        if not hasattr(select, "poll"):  # Windows
            return bool(select.select([raw], [], [], 0)[0])
        poller = select.poll()
        poller.register(raw, select.POLLIN)
        return bool(poller.poll(0))

    def send(self, data: bytes | IO[bytes], deadline: float | None) -> None:
        """Write stdin in chunks, reading whatever output arrives in between (no deadlock on full pipes)."""
        reader = data.read if hasattr(data, "read") else _chunks(bytes(data))  # type: ignore[union-attr]
        try:
            while not self.closed:
                chunk = reader(_STDIN_CHUNK)
                if not chunk:
                    close_channel = getattr(self.ws, "close_channel", None)  # clients before v5 support lack it
                    if close_channel is not None:
                        close_channel(0)  # EOF on v5; nothing on v4 (the wrappers read exact lengths)
                    return
                self.sock.settimeout(_remaining(deadline))
                self.ws.write_stdin(bytes(chunk))
                while not self.closed and self._readable():
                    self._read_frame()
        except websocket.WebSocketTimeoutException as exc:
            raise ExecDeadlineExceeded from exc
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            # The process ended (or failed) before reading all its input; its status follows.
            logger.debug("exec stream closed while sending stdin; reading the exit status")

    def finish(self, deadline: float | None) -> int:
        """Forward output until the server closes the stream; the exit code from the status."""
        try:
            while not self.closed:
                self.sock.settimeout(_remaining(deadline))
                self._read_frame()
        except websocket.WebSocketTimeoutException as exc:
            raise ExecDeadlineExceeded from exc
        return exit_status(bytes(self.status))


# network isolation --------------------------------------------------------
def _networking_api(client: Any) -> Any:
    if client is None:
        client = connect()
    api_client = getattr(client, "api_client", client)
    return kubernetes.client.NetworkingV1Api(api_client)


def apply_network_policy(namespace: str = "default", client: Any = None, *, name: str = NETWORK_POLICY_NAME) -> dict:
    """Create (or update) the NetworkPolicy that cuts sandbox pods in ``namespace`` off the network.

    ``client``: a ``CoreV1Api``, an ``ApiClient`` or ``None`` for the kubeconfig's cluster. Returns the
    manifest applied. It needs a network plugin that enforces NetworkPolicies.
    """
    api = _networking_api(client)
    policy = network_policy_manifest(name)
    with _translate(f"applying NetworkPolicy {namespace}/{name}", namespace):
        try:
            api.create_namespaced_network_policy(namespace, policy, _preload_content=False)
        except ApiException as exc:
            if exc.status != 409:
                raise
            # JSON merge patch: lists (selectors, rules) are replaced whole, so the policy is ours again
            api.patch_namespaced_network_policy(
                name, namespace, policy, _content_type="application/merge-patch+json", _preload_content=False
            )
    return policy


def remove_network_policy(namespace: str = "default", client: Any = None, *, name: str = NETWORK_POLICY_NAME) -> None:
    """Delete the policy of :func:`apply_network_policy`; no error if it is not there."""
    api = _networking_api(client)
    with _translate(f"deleting NetworkPolicy {namespace}/{name}", namespace):
        try:
            api.delete_namespaced_network_policy(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise


# the session --------------------------------------------------------------
class SandboxKubernetesSession(Session):
    """A session whose sandbox is a pod.

    ``client`` is a ``kubernetes.client.CoreV1Api`` (default: the kubeconfig's
    cluster, or the in-cluster service account). ``env_vars`` are set in the
    sandbox; ``pod_manifest`` is deep-merged over the default pod (see
    :func:`deep_merge`; its ``metadata.namespace``, when set, wins over
    ``kube_namespace``). ``container_id`` names an existing pod to attach to:
    it is used as it is and never deleted.

    Also accepted: ``pod_ready_timeout`` (seconds to wait for a pod to be ready,
    default 180), ``installer_pod_manifest`` (deep-merged over the library
    installer pod) and every keyword of :class:`~llm_sandbox.session.Session`
    except ``dockerfile`` and ``commit_container``.
    """

    backend_name = "kubernetes"

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        verbose: bool = False,
        kube_namespace: str = "default",
        env_vars: dict[str, str] | None = None,
        pod_manifest: dict | None = None,
        workdir: str = "/sandbox",
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("dockerfile", None):
            raise ValidationError(
                "dockerfile= is not available on Kubernetes: build the image with Docker, push it to a "
                "registry the cluster pulls from and pass image= (docs/kubernetes.md, 'Images')"
            )
        if kwargs.pop("commit_container", False):
            raise ValidationError("commit_container=True is not supported on Kubernetes")
        self.pod_ready_timeout = float(kwargs.pop("pod_ready_timeout", DEFAULT_READY_TIMEOUT))
        self.installer_pod_manifest = copy.deepcopy(kwargs.pop("installer_pod_manifest", None) or {})
        if pod_manifest is not None and not isinstance(pod_manifest, dict):
            raise ValidationError("pod_manifest must be a dict (a parsed pod manifest)")
        self.pod_manifest = copy.deepcopy(pod_manifest or {})
        self.env_vars = dict(env_vars or {})
        self.kube_namespace = (self.pod_manifest.get("metadata") or {}).get("namespace") or kube_namespace
        runtime_configs = dict(kwargs.pop("runtime_configs", None) or {})
        if self.env_vars:
            environment = runtime_configs.get("environment") or {}
            if isinstance(environment, list):
                environment = dict(item.split("=", 1) for item in environment)
            runtime_configs["environment"] = {**environment, **self.env_vars}
        runtime_configs["pod_manifest"] = self.pod_manifest
        self._client = client
        super().__init__(
            None,
            image,
            None,
            lang,
            verbose=verbose,
            runtime_configs=runtime_configs,
            workdir=workdir,
            security_policy=security_policy,
            default_timeout=default_timeout,
            execution_timeout=execution_timeout,
            session_timeout=session_timeout,
            container_id=container_id,
            **kwargs,
        )

    def _connect(self) -> KubernetesBackend:
        return KubernetesBackend(self._client, self.kube_namespace, ready_timeout=self.pod_ready_timeout)

    @property
    def pod_name(self) -> str | None:
        """The sandbox pod's name (``container_id``)."""
        return self.container_id

    def _installer_spec(self) -> ContainerSpec:
        """A short-lived installer pod; its packages are copied into the sandbox pod afterwards.

        The installer pod runs the session's image as the sandbox user with no
        capabilities and a read-only root, carries ``llm-sandbox.role=installer``
        (the NetworkPolicy of :func:`apply_network_policy` leaves it its egress)
        and gets the host's package index/proxy settings and CA bundle, as the
        Docker installer does. Pods cannot share an emptyDir, hence the copy.
        """
        from llm_sandbox.installer import host_ca_bundle, installer_environment

        return ContainerSpec(
            image=self._resolve_image(),
            command=list(KEEPER_COMMAND),
            labels={
                SESSION_LABEL: self.session_id,
                OWNER_LABEL: owner_label(),
                ROLE_LABEL: INSTALLER_ROLE,
                "llm-sandbox.lang": self.lang,
            },
            environment=installer_environment(CA_BUNDLE_IN_INSTALLER if host_ca_bundle() else None),
            workdir="/tmp",
            # disk-backed /tmp: wheels are downloaded there, and memory-backed space would count as memory
            volumes={self.packages_volume: PACKAGES_DIR, f"{self.packages_volume}-tmp": "/tmp"},
            options={
                "user": SANDBOX_USER,
                "cap_drop": ["ALL"],
                "security_opt": ["no-new-privileges"],
                "read_only": True,
                "mem_limit": "2g",
                "pod_manifest": self.installer_pod_manifest,
            },
        )

    def _prepare_installer(self, installer: str) -> None:
        """Pods cannot bind-mount a host file: write the host's CA bundle into the installer pod."""
        from llm_sandbox.installer import host_ca_bundle

        bundle = host_ca_bundle()
        if bundle:
            ca = Path(bundle).read_bytes()
            self.backend.exec(
                installer,
                ["sh", "-c", 'mkdir -p "${1%/*}" && head -c "$0" >"$1"', str(len(ca)), CA_BUNDLE_IN_INSTALLER],
                stdin=ca,
                deadline=time.monotonic() + 60,
            )

    def _collect_installed(self, installer: str) -> None:
        """Copy the installed packages from the installer pod into the sandbox pod (tar over exec)."""
        backend = self.backend
        assert isinstance(backend, KubernetesBackend) and self.container_id is not None
        try:
            size = backend.transfer(
                installer,
                PACKAGES_DIR,
                self.container_id,
                PACKAGES_DIR,
                deadline=time.monotonic() + self._timeout(None, None),
            )
        except ExecDeadlineExceeded:
            raise SandboxTimeoutError(
                "copying the installed libraries into the sandbox pod timed out",
                timeout_duration=self._timeout(None, None),
            ) from None
        logger.info("copied %.1f MB of packages into pod %s", size / 1e6, self.container_id)


__all__ = [
    "KubernetesBackend",
    "SandboxKubernetesSession",
    "apply_network_policy",
    "build_pod_manifest",
    "connect",
    "deep_merge",
    "network_policy_manifest",
    "remove_network_policy",
]

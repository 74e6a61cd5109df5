"""The Kubernetes engine: every sandbox is a pod; commands run through the API's exec stream.

:class:`KubernetesEngine` implements the engine protocol on the official
``kubernetes`` client. It only knows pods:

* **Pods.** A pod is built by :func:`~.manifest.build_pod_manifest` from
  ``pod.yaml`` (what only pods have), the :class:`ContainerSpec` (image, keeper,
  the contract's hardening, environment, emptyDir volumes, limits) and the
  user's ``pod_manifest``, deep-merged in that order. Creation waits for
  readiness for a bounded time, fails fast on image-pull and container-config
  errors with the pod's conditions and events in the message
  (:mod:`.status`), and deletes the pod on every failure path.
* **Exec.** ``pods/exec`` over a websocket (``v4``/``v5.channel.k8s.io``,
  :mod:`.stream`). When the deadline passes the stream is closed and
  :class:`ExecDeadlineExceeded` raised; the session then kills the processes
  through a second exec (closing an exec stream never kills anything in
  Kubernetes, and there is no signal API: ``capabilities.signal`` is false).
* **What pods cannot do** is declared in :data:`CAPABILITIES`: no commits, no
  builds, no host bind mounts, no volumes shared between pods, exec as the
  pod's user only. The session's installer copes (it writes the CA bundle into
  the installer pod and copies the packages over), see
  ``llm_sandbox.sessions.installer``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from typing import Any

import kubernetes.client
import kubernetes.stream
from kubernetes.client.exceptions import ApiException

from llm_sandbox.engines.base import Capabilities, ContainerSpec, OutputCallback, Stdin
from llm_sandbox.engines.kubernetes.errors import connect, translate_errors
from llm_sandbox.engines.kubernetes.manifest import SANDBOX_CONTAINER, build_pod_manifest, pod_name
from llm_sandbox.engines.kubernetes.status import describe_pod, pod_state
from llm_sandbox.engines.kubernetes.stream import ExecChannel, ExecStream
from llm_sandbox.exceptions import ContainerError, ImageBuildError, ImagePullError, SandboxError, ValidationError

logger = logging.getLogger("llm_sandbox")

DEFAULT_READY_TIMEOUT = 180.0
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
CAPABILITIES = Capabilities(
    signal=False,
    commit=False,
    build=False,
    shared_volumes=False,
    host_binds=False,
    exec_user=False,
    root_keeper=False,
)


class KubernetesEngine:
    """:class:`~llm_sandbox.engines.base.Engine` on the Kubernetes API: containers are pods.

    ``client`` is a ``kubernetes.client.CoreV1Api`` (default: :func:`connect`).
    Every pod lives in ``namespace``.
    """

    name = "kubernetes"
    capabilities = CAPABILITIES

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
            f"the Kubernetes engine does not build images: build {tag} from {dockerfile} with Docker, "
            "push it to a registry the cluster pulls from and pass image= (docs/kubernetes.md, 'Images')"
        )

    def builtin_image(self, lang: str, image: str) -> str:
        """``image`` as it is: the nodes pull it (push it to a registry they reach, docs/kubernetes.md)."""
        return image

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
        name = ((overrides or {}).get("metadata") or {}).get("name") or pod_name(spec)
        manifest = build_pod_manifest(spec, name=name, namespace=self.namespace, overrides=overrides)
        name = manifest["metadata"]["name"]
        container = manifest["spec"]["containers"][0]["name"]
        conflict = False
        try:
            try:
                with translate_errors(self._what("creating", name), self.namespace):
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
        with translate_errors(self._what("reading", name), self.namespace):
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
            state, why = pod_state(pod, container)
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
                _image_of(pod),
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

    def container_handle(self, container_id: str) -> str:
        """The pod name, as the reference API's Kubernetes sessions give it."""
        return container_id

    def remove(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        with translate_errors(self._what("deleting", container_id), self.namespace):
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
        with translate_errors(f"listing pods labelled {label} in namespace {self.namespace}", self.namespace):
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
        stdin: Stdin | None = None,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
        on_output: OutputCallback | None = None,
        deadline: float | None = None,
    ) -> int:
        """Run ``argv`` in the pod's sandbox container (see the protocol).

        The exec API has no user, environment or working directory: commands run
        as the container's ``runAsUser`` (``user`` is ignored: ``capabilities.exec_user``
        is false) and ``environment``/``workdir`` are applied by a ``sh`` prefix.
        """
        what = self._what("running a command in", container_id)
        ws = self._connect_exec(container_id, argv, environment, workdir, stdin=stdin is not None)
        stream = ExecStream(ws, on_output)
        try:
            with translate_errors(what, self.namespace):
                if stdin is not None:
                    stream.send(stdin, deadline)
                return stream.finish(deadline)
        finally:
            with contextlib.suppress(Exception):
                ws.close()

    def open_exec(
        self,
        container_id: str,
        argv: list[str],
        *,
        environment: dict[str, str] | None = None,
        workdir: str | None = None,
        user: str | None = None,
    ) -> ExecChannel:
        return ExecChannel(self._connect_exec(container_id, argv, environment, workdir, stdin=True))

    def _connect_exec(
        self,
        container_id: str,
        argv: list[str],
        environment: dict[str, str] | None,
        workdir: str | None,
        *,
        stdin: bool,
    ) -> Any:
        """The exec websocket of ``argv`` in the pod's sandbox container."""
        command = _with_env_and_workdir(argv, environment, workdir)
        container = self._container_of(container_id)
        with translate_errors(self._what("running a command in", container_id), self.namespace), self._stream_lock:
            return kubernetes.stream.stream(
                self._stream_api.connect_get_namespaced_pod_exec,
                container_id,
                self.namespace,
                container=container,
                command=command,
                stdin=stdin,
                stdout=True,
                stderr=True,
                tty=False,
                _preload_content=False,
                binary=True,
            )

    def signal(self, container_id: str, signal: str) -> None:
        raise ContainerError("Kubernetes has no API to signal a pod's process; the session kills through exec")


def _default_container(pod: dict[str, Any]) -> str:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(annotations.get(DEFAULT_CONTAINER_ANNOTATION) or containers[0].get("name") or SANDBOX_CONTAINER)


def _image_of(pod: dict[str, Any]) -> str:
    """The image of the pod's sandbox container (what failed to pull)."""
    name = _default_container(pod)
    containers = (pod.get("spec") or {}).get("containers") or []
    return next((str(c.get("image")) for c in containers if c.get("name") == name), "(unknown image)")


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


__all__ = ["CAPABILITIES", "KubernetesEngine"]

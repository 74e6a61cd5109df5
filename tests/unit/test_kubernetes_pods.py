"""Kubernetes backend: pod lifecycle and manifests against a real Kubernetes API emulator (kmock) on loopback.

Nothing here mocks the client: the official ``kubernetes`` client talks HTTP to kmock's emulator,
which stores pods as an API server does. Nothing runs the pods, so where a test needs a pod to
progress, the test itself plays the kubelet by writing the pod's status through the API.
Running code in pods is tested in ``tests/integration/test_kubernetes_double.py``.
"""

from __future__ import annotations

import _thread
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_sandbox import ContainerError, ValidationError, create_session
from llm_sandbox.engines.kubernetes import KubernetesEngine, apply_network_policy, remove_network_policy
from llm_sandbox.engines.kubernetes.manifest import NETWORK_POLICY_NAME
from llm_sandbox.exceptions import ImagePullError
from llm_sandbox.sessions import SandboxKubernetesSession
from tests.k8s_kubelet_double import FakeCluster


def container_status(state: dict, *, name: str = "sandbox", image: str = "llm-sandbox/python:latest") -> dict:
    return {"name": name, "image": image, "imageID": "", "restartCount": 0, "ready": "running" in state,
            "state": state}


RUNNING = {
    "phase": "Running",
    "conditions": [{"type": "Ready", "status": "True"}],
    "containerStatuses": [container_status({"running": {}})],
}


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster() as running:
        yield running


@contextlib.contextmanager
def kubelet(
    cluster: FakeCluster, status: Callable[[dict], dict | None] = lambda pod: RUNNING
) -> Iterator[None]:
    """Play the kubelet: give every new pod the status ``status(pod)`` (``None``: leave it alone)."""
    api = cluster.api
    stop = threading.Event()
    seen: set[tuple[str, str]] = set()

    def loop() -> None:
        while not stop.is_set():
            pods = json.loads(api.list_pod_for_all_namespaces(_preload_content=False).data)["items"]
            for pod in pods:
                key = (pod["metadata"].get("namespace") or "default", pod["metadata"]["name"])
                if key not in seen:
                    seen.add(key)
                    new = status(pod)
                    if new is not None:
                        api.patch_namespaced_pod_status(
                            key[1], key[0], {"status": new}, _preload_content=False
                        )
            stop.wait(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def session(cluster: FakeCluster, **kwargs: Any) -> SandboxKubernetesSession:
    kwargs.setdefault("lang", "python")
    made = create_session("kubernetes", client=cluster.api, **kwargs)
    assert isinstance(made, SandboxKubernetesSession)
    return made


def event(cluster: FakeCluster, pod: str, reason: str, message: str) -> None:
    cluster.api.create_namespaced_event("default", {
        "metadata": {"name": f"{pod}.{reason.lower()}"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
        "type": "Warning", "reason": reason, "message": message,
    })


# the pod as the API server stores it -------------------------------------------
def test_pod_carries_the_secure_defaults_and_is_deleted_on_close(cluster: FakeCluster) -> None:
    with kubelet(cluster), session(cluster, env_vars={"GREETING": "hi"}) as sandbox:
        [pod] = cluster.pods()
        assert isinstance(sandbox, SandboxKubernetesSession)
        assert pod["metadata"]["name"] == sandbox.pod_name == sandbox.container_id == sandbox.container
        assert pod["metadata"]["labels"]["llm-sandbox.session"] == sandbox.session_id
        assert pod["metadata"]["annotations"]["llm-sandbox.owner"].endswith(f"/{__import__('os').getpid()}")
        spec = pod["spec"]
        assert spec["restartPolicy"] == "Never"
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert spec["shareProcessNamespace"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000
        assert spec["securityContext"]["runAsGroup"] == 1000
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = spec["containers"]
        security = container["securityContext"]
        assert security["capabilities"]["drop"] == ["ALL"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["privileged"] is False
        assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
        assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
        assert container["workingDir"] == "/sandbox"
        assert {"name": "GREETING", "value": "hi"} in container["env"]
        assert container["command"][0] == "sh"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v["emptyDir"] for v in spec["volumes"]}
        assert volumes[mounts["/sandbox"]] == {"medium": "Memory", "sizeLimit": "512Mi"}
        assert volumes[mounts["/tmp"]] == {"medium": "Memory", "sizeLimit": "256Mi"}
        assert volumes[mounts["/opt/sandbox-packages"]] == {"sizeLimit": "4Gi"}
    assert cluster.pods() == []


def test_runtime_configs_map_onto_the_pod(cluster: FakeCluster) -> None:
    configs = {"mem_limit": "64m", "cpu_count": 0.05}
    with kubelet(cluster), session(cluster, runtime_configs=configs) as sandbox:
        [pod] = cluster.pods()
        resources = pod["spec"]["containers"][0]["resources"]
        assert resources["limits"] == {"cpu": "50m", "memory": "64Mi"}
        assert resources["requests"] == {"cpu": "50m", "memory": "64Mi"}, "requests above limits are lowered"
        assert sandbox.is_open


def test_user_manifest_is_deep_merged(cluster: FakeCluster) -> None:
    manifest: dict[str, Any] = {
        "metadata": {"labels": {"team": "agents"}, "annotations": {"note": "mine"}},
        "spec": {
            "nodeSelector": {"pool": "sandboxes"},
            "tolerations": [{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {
                    "name": "whatever-the-reference-called-it",
                    "resources": {"limits": {"memory": "2Gi"}},
                    "env": [{"name": "EXTRA", "value": "1"}],
                },
                {"name": "sidecar", "image": "busybox", "command": ["sleep", "inf"]},
            ],
            "volumes": [{"name": "sandbox", "emptyDir": {"sizeLimit": "2Gi"}}],
            "securityContext": {"seccompProfile": None},
        },
    }
    with kubelet(cluster), session(cluster, pod_manifest=manifest, env_vars={"MINE": "x"}):
        [pod] = cluster.pods()
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"]["team"] == "agents" and "llm-sandbox.session" in meta["labels"]
    assert meta["annotations"]["note"] == "mine" and "llm-sandbox.owner" in meta["annotations"]
    assert spec["nodeSelector"] == {"pool": "sandboxes"}
    assert spec["tolerations"] == manifest["spec"]["tolerations"]
    assert "seccompProfile" not in spec["securityContext"], "None removes a key"
    assert spec["securityContext"]["runAsNonRoot"] is True
    sandbox, sidecar = spec["containers"]
    assert sandbox["name"] == "whatever-the-reference-called-it"  # the first container is the sandbox
    assert sandbox["image"] == "llm-sandbox/python:latest"
    assert sandbox["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert sandbox["securityContext"]["capabilities"]["drop"] == ["ALL"]
    env = {e["name"]: e["value"] for e in sandbox["env"]}
    assert env["EXTRA"] == "1" and env["MINE"] == "x"
    assert sidecar == manifest["spec"]["containers"][1]
    volumes = {v["name"]: v["emptyDir"] for v in spec["volumes"]}
    assert volumes["sandbox"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    assert volumes["tmp"] == {"medium": "Memory", "sizeLimit": "256Mi"}


def test_manifest_namespace_and_name_are_used(cluster: FakeCluster) -> None:
    manifest = {"metadata": {"name": "my-sandbox", "namespace": "agents"}}
    with kubelet(cluster), session(cluster, pod_manifest=manifest, kube_namespace="ignored") as sandbox:
        assert isinstance(sandbox, SandboxKubernetesSession) and sandbox.kube_namespace == "agents"
        assert sandbox.container_id == "my-sandbox"
        assert cluster.pods("agents")[0]["metadata"]["name"] == "my-sandbox"
        assert cluster.pods("ignored") == []
    assert cluster.pods("agents") == []


def test_kube_namespace_places_the_pod(cluster: FakeCluster) -> None:
    with kubelet(cluster), session(cluster, kube_namespace="team-a") as sandbox:
        assert [p["metadata"]["name"] for p in cluster.pods("team-a")] == [sandbox.container_id]
        assert cluster.pods("default") == []
    assert cluster.pods("team-a") == []


# failures: clear errors, no orphan pods ------------------------------------------
def test_unschedulable_pod_times_out_with_conditions_and_events_and_is_deleted(cluster: FakeCluster) -> None:
    def unschedulable(pod: dict) -> dict:
        name = pod["metadata"]["name"]
        event(cluster, name, "FailedScheduling", "0/3 nodes are available: 3 Insufficient memory.")
        return {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
        }]}

    started = time.monotonic()
    with kubelet(cluster, unschedulable), pytest.raises(ContainerError) as caught:
        session(cluster, pod_ready_timeout=1.5).open()
    message = str(caught.value)
    assert time.monotonic() - started >= 1.5  # order, not speed: it gave up only after its timeout
    assert "did not become ready within 1.5s" in message
    assert "PodScheduled=False (Unschedulable: 0/3 nodes are available: 3 Insufficient memory.)" in message
    assert "events: Warning FailedScheduling: 0/3 nodes" in message
    assert "lower its requests" in message
    assert cluster.pods() == []


def test_image_pull_failure_fails_fast_with_the_fix(cluster: FakeCluster) -> None:
    def cannot_pull(pod: dict) -> dict:
        event(cluster, pod["metadata"]["name"], "Failed", 'Failed to pull image "nope:1": not found')
        waiting = {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}
        statuses = [container_status({"waiting": waiting}, image="nope:1")]
        return {"phase": "Pending", "containerStatuses": statuses}

    with kubelet(cluster, cannot_pull), pytest.raises(ImagePullError) as caught:
        # Waiting for this timeout instead of failing at the first ImagePullBackOff would hang the test.
        session(cluster, image="nope:1", pod_ready_timeout=3600).open()
    message = str(caught.value)
    assert caught.value.image == "nope:1" and message.startswith("Failed to pull image nope:1: pod default/")
    assert "did not become ready" not in message
    assert "cannot pull image 'nope:1' (ImagePullBackOff)" in message
    assert 'Failed to pull image "nope:1": not found' in message
    assert "registry" in message and "docs/kubernetes.md" in message
    assert cluster.pods() == []


def test_container_that_exits_during_start_is_reported_and_deleted(cluster: FakeCluster) -> None:
    def crashed(pod: dict) -> dict:
        terminated = {"exitCode": 127, "reason": "Error", "message": "sh: not found"}
        return {"phase": "Failed", "containerStatuses": [container_status({"terminated": terminated})]}

    with kubelet(cluster, crashed), pytest.raises(ContainerError, match=r"exit code 127.*sh: not found"):
        session(cluster).open()
    assert cluster.pods() == []


def test_interrupt_while_waiting_deletes_the_pod(cluster: FakeCluster) -> None:
    def interrupt_main(pod: dict) -> None:
        _thread.interrupt_main()  # Ctrl-C while open() waits for the pod

    with kubelet(cluster, interrupt_main), pytest.raises(KeyboardInterrupt):
        session(cluster, pod_ready_timeout=30).open()
    assert cluster.pods() == []


def test_pod_deleted_by_someone_else_while_starting(cluster: FakeCluster) -> None:
    api = cluster.api

    def delete(pod: dict) -> None:
        api.delete_namespaced_pod(pod["metadata"]["name"], "default")

    with kubelet(cluster, delete), pytest.raises(ContainerError, match="disappeared while starting"):
        session(cluster, pod_ready_timeout=30).open()


def test_name_conflict_leaves_the_other_pod_alone(cluster: FakeCluster) -> None:
    cluster.api.create_namespaced_pod("default", {
        "metadata": {"name": "taken"}, "spec": {"containers": [{"name": "c", "image": "x"}]},
    })
    with pytest.raises(ContainerError, match="creating pod default/taken failed"):
        session(cluster, pod_manifest={"metadata": {"name": "taken"}}).open()
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["taken"]


def test_api_errors_become_library_errors(cluster: FakeCluster) -> None:
    with pytest.raises(ValidationError, match="numeric uid"), kubelet(cluster):
        session(cluster, runtime_configs={"user": "sandbox"}).open()
    unreachable = FakeCluster()
    unreachable.url = "http://127.0.0.1:9"
    with pytest.raises(ContainerError, match="cannot reach the Kubernetes API server"):
        create_session("kubernetes", client=unreachable.api, lang="python").open()
    assert cluster.pods() == []


def test_bad_arguments_are_refused_before_anything_is_created(cluster: FakeCluster) -> None:
    with pytest.raises(ValidationError, match="dockerfile"):
        session(cluster, dockerfile="Dockerfile")
    with pytest.raises(ValidationError, match="commit_container"):
        session(cluster, commit_container=True)
    with pytest.raises(ValidationError, match="pod_manifest must be a dict"):
        session(cluster, pod_manifest="apiVersion: v1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unexpected argument"):
        session(cluster, no_such_option=1)
    assert cluster.pods() == []


# attaching -------------------------------------------------------------------
def test_attach_uses_an_existing_pod_and_never_deletes_it(cluster: FakeCluster) -> None:
    api = cluster.api
    api.create_namespaced_pod("default", {
        "metadata": {"name": "theirs", "annotations": {"kubectl.kubernetes.io/default-container": "main"}},
        "spec": {"containers": [{"name": "side", "image": "x"}, {"name": "main", "image": "y"}]},
    })
    api.patch_namespaced_pod_status("theirs", "default", {"status": RUNNING}, _preload_content=False)
    with session(cluster, container_id="theirs") as attached:
        assert attached.container_id == "theirs"
        backend = attached.backend
        assert isinstance(backend, KubernetesEngine)
        assert backend._container_of("theirs") == "main"
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["theirs"]
    with pytest.raises(ContainerError, match="does not exist"):
        session(cluster, container_id="no-such-pod").open()


# listing, network policy -----------------------------------------------------
def test_sandbox_pods_are_listed_with_their_owner(cluster: FakeCluster) -> None:
    cluster.api.create_namespaced_pod("default", {
        "metadata": {"name": "unrelated"}, "spec": {"containers": [{"name": "c", "image": "x"}]},
    })
    with kubelet(cluster), session(cluster) as sandbox:
        found = KubernetesEngine(cluster.api).list_labelled("llm-sandbox.session")
        assert [(f["kind"], f["id"]) for f in found] == [("container", sandbox.container_id)]
        assert found[0]["labels"]["llm-sandbox.owner"].endswith(f"/{__import__('os').getpid()}")


def test_network_policy_is_applied_on_request_and_idempotent(cluster: FakeCluster) -> None:
    from kubernetes.client import NetworkingV1Api

    networking: Any = NetworkingV1Api(cluster.api_client())
    applied = apply_network_policy("default", cluster.api)
    apply_network_policy("default", cluster.api)  # again: replaced, not an error
    stored = json.loads(networking.read_namespaced_network_policy(
        NETWORK_POLICY_NAME, "default", _preload_content=False).data)
    assert stored["spec"] == applied["spec"]
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert stored["spec"]["egress"] == [] and stored["spec"]["ingress"] == []
    expressions = stored["spec"]["podSelector"]["matchExpressions"]
    assert {"key": "llm-sandbox.session", "operator": "Exists"} in expressions
    assert {"key": "llm-sandbox.role", "operator": "NotIn", "values": ["installer"]} in expressions
    remove_network_policy("default", cluster.api)
    remove_network_policy("default", cluster.api)  # already gone: no error


def test_gc_removes_orphaned_pods_only(cluster: FakeCluster) -> None:
    import socket

    from llm_sandbox.gc import collect

    for name, pid in (("orphan", 999_999_999), ("alive", __import__("os").getpid())):
        cluster.api.create_namespaced_pod("default", {
            "metadata": {"name": name, "labels": {"llm-sandbox.session": name},
                         "annotations": {"llm-sandbox.owner": f"{socket.gethostname()}/{pid}"}},
            "spec": {"containers": [{"name": "sandbox", "image": "x"}]},
        }, _preload_content=False)
    removed = collect(KubernetesEngine(cluster.api))
    assert removed == ["container orphan"]
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["alive"]


def test_forbidden_names_the_permissions_needed(cluster: FakeCluster) -> None:
    message = 'pods is forbidden: User "agent" cannot create resource "pods" in the namespace "locked"'
    cluster.emulator["post /api/v1/namespaces/locked/pods"] << 403 << {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": message,
    }
    with pytest.raises(ContainerError) as caught:
        session(cluster, kube_namespace="locked").open()
    assert f"{message} (HTTP 403)" in str(caught.value)
    assert "pods/exec in namespace locked" in str(caught.value)
    assert "Permissions (RBAC)" in str(caught.value)

"""The Kubernetes backend on a real cluster: runs only when ``KUBECONFIG`` points at one.

Works with kind, k3s or a managed cluster. The images must be pullable by the nodes:

    kind load docker-image llm-sandbox/python:latest          # kind
    docker save llm-sandbox/python:latest | sudo k3s ctr images import -   # k3s
    # or push to a registry and set LLM_SANDBOX_K8S_IMAGE=registry.example.com/llm-sandbox/python:TAG

Settings (environment):
    KUBECONFIG                      required; the tests are skipped without it
    LLM_SANDBOX_K8S_NAMESPACE       namespace to use (default: default); it must exist
    LLM_SANDBOX_K8S_IMAGE           the Python image (default: llm-sandbox/python:latest)
    LLM_SANDBOX_K8S_NETPOL_ENFORCED 1 when the network plugin enforces NetworkPolicies (recent kind,
                                    k3s, Calico, Cilium): then the sandbox's isolation is asserted
    LLM_SANDBOX_K8S_INSTALL         1 to test library installation from the cluster (needs egress to PyPI
                                    from installer pods)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import ArtifactSandboxSession, create_session
from llm_sandbox.exceptions import ImagePullError
from llm_sandbox.sessions import Session
from tests.handshake import ReleaseWhenSeen, time_out_after, wait_for_release
from tests.integration.test_session import SURVIVOR, check_kills_spare_the_containers_own_processes
from tests.waits import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.cluster,  # the only tests CI may skip: no cluster can run on the CI machine
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="needs a real Kubernetes cluster: set KUBECONFIG (kind, k3s or managed) to run these tests",
    ),
]

NAMESPACE = os.environ.get("LLM_SANDBOX_K8S_NAMESPACE", "default")
IMAGE = os.environ.get("LLM_SANDBOX_K8S_IMAGE", "llm-sandbox/python:latest")


@pytest.fixture(scope="module")
def api() -> Any:
    from llm_sandbox.engines.kubernetes import connect

    try:
        client = connect()
        client.list_namespaced_pod(NAMESPACE, limit=1, _preload_content=False)
    except Exception as exc:
        pytest.skip(f"KUBECONFIG is set but the cluster does not answer in namespace {NAMESPACE}: {exc}")
    return client


def sandbox_pods(api: Any) -> list[dict]:
    response = api.list_namespaced_pod(
        NAMESPACE, label_selector="llm-sandbox.session", _preload_content=False
    )
    return list(json.loads(response.data)["items"])


def wait_until_gone(api: Any, names: set[str]) -> None:
    eventually(lambda: not names & {p["metadata"]["name"] for p in sandbox_pods(api)}, f"deleting pods {names}",
               interval=0.5)  # fmt: skip


@pytest.fixture
def make_session(api: Any) -> Iterator[Callable[..., Session]]:
    opened: list[Session] = []

    def factory(**kwargs: Any) -> Session:
        kwargs.setdefault("lang", "python")
        kwargs.setdefault("image", IMAGE)
        session = create_session("kubernetes", client=api, kube_namespace=NAMESPACE, **kwargs)
        opened.append(session)
        return session.open()

    yield factory
    names = {s.container_id for s in opened if s.container_id and not s.attached}
    for session in opened:
        session.close()
    wait_until_gone(api, names)


def test_run_exit_codes_stderr_and_streaming(make_session: Any) -> None:
    session = make_session()
    result = session.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    release = ReleaseWhenSeen(session, "first\n")  # the code goes on only once the host saw its first line
    streamed = session.run(f"print('first', flush=True)\n{wait_for_release()}print('second')", on_stdout=release)
    assert (streamed.exit_code, streamed.stdout) == (0, "first\nsecond\n"), streamed.stderr
    assert session.execute_command("echo one | tr o O; exit 7").exit_code == 7


def test_pod_is_hardened_as_admitted(make_session: Any, api: Any) -> None:
    session = make_session()
    pod = json.loads(api.read_namespaced_pod(session.container_id, NAMESPACE, _preload_content=False).data)
    assert pod["metadata"]["labels"]["llm-sandbox.session"] == session.session_id
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["enableServiceLinks"] is False
    probe = session.run(
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0])\n"
        "try:\n    open('/usr/evil', 'w')\nexcept OSError as e:\n    print('rootfs', e.errno)\n"
        "print(os.path.exists('/var/run/secrets/kubernetes.io/serviceaccount/token'))\n"
    )
    assert probe.stdout.splitlines() == ["1000 1000", "0000000000000000", "1", "rootfs 30", "False"]


def test_timeout_kills_inside_the_pod_and_the_session_survives(make_session: Any, api: Any) -> None:
    session = make_session()
    code = (
        "import subprocess, time\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "subprocess.Popen(['setsid', 'sleep', '301'])\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n"
    )
    time_out_after("started", lambda timeout, out: session.run(code, timeout=timeout, on_stdout=out))
    processes = session.execute_command("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    assert "sleep 300" not in processes and "sleep 301" not in processes
    assert session.run("print('still usable')").stdout == "still usable\n"


def test_copy_both_ways(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    payload = os.urandom(3 * 1024 * 1024)
    (tmp_path / "blob.bin").write_bytes(payload)
    session.copy_to_runtime(str(tmp_path / "blob.bin"), "/sandbox/in/blob.bin")
    digest = session.execute_command("sha256sum /sandbox/in/blob.bin").stdout.split()[0]
    assert digest == hashlib.sha256(payload).hexdigest()
    session.copy_from_runtime("/sandbox/in", str(tmp_path / "back"))
    assert (tmp_path / "back" / "blob.bin").read_bytes() == payload


def test_user_manifest_is_admitted(make_session: Any, api: Any) -> None:
    manifest = {
        "metadata": {"labels": {"llm-sandbox-test": "merge"}},
        "spec": {"containers": [{"resources": {"limits": {"memory": "512Mi"}}}]},
    }
    session = make_session(pod_manifest=manifest, env_vars={"FROM_TEST": "yes"})
    pod = json.loads(api.read_namespaced_pod(session.container_id, NAMESPACE, _preload_content=False).data)
    assert pod["metadata"]["labels"]["llm-sandbox-test"] == "merge"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    assert session.run("import os; print(os.environ['FROM_TEST'])").stdout == "yes\n"


def test_plots_come_back(api: Any) -> None:
    with ArtifactSandboxSession(backend="kubernetes", client=api, kube_namespace=NAMESPACE, image=IMAGE,
                                lang="python") as session:
        result = session.run("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")
        assert result.exit_code == 0, result.stderr
        assert len(result.plots) == 1


def test_missing_image_fails_fast_and_leaves_no_pod(api: Any) -> None:
    session = create_session("kubernetes", client=api, kube_namespace=NAMESPACE, lang="python",
                             image="llm-sandbox/no-such-image:0", pod_ready_timeout=3600)
    with pytest.raises(ImagePullError, match="no-such-image"):  # waiting for the 3600 s timeout would hang
        session.open()
    wait_until_gone(api, {p["metadata"]["name"] for p in sandbox_pods(api)
                          if p["metadata"]["labels"].get("llm-sandbox.session") == session.session_id})


def test_attach_to_an_existing_pod_leaves_it_and_its_processes(api: Any) -> None:
    name = f"llm-sandbox-attach-test-{os.getpid()}"
    api.create_namespaced_pod(NAMESPACE, {
        "metadata": {"name": name},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True},
            "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", f"{SURVIVOR} & exec sleep 3600"], "workingDir": "/tmp"}],
        },
    }, _preload_content=False)
    try:
        eventually(lambda: json.loads(api.read_namespaced_pod(name, NAMESPACE, _preload_content=False).data)
                   .get("status", {}).get("phase") == "Running", "the pod running", interval=0.5)  # fmt: skip
        with create_session("kubernetes", client=api, kube_namespace=NAMESPACE, container_id=name,
                            workdir="/tmp", lang="python") as session:
            check_kills_spare_the_containers_own_processes(
                session, lambda: session.execute_command("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
            )
        pod = json.loads(api.read_namespaced_pod(name, NAMESPACE, _preload_content=False).data)
        assert pod["status"]["phase"] == "Running" and not pod["metadata"].get("deletionTimestamp")
    finally:
        api.delete_namespaced_pod(name, NAMESPACE, _preload_content=False)


@pytest.fixture
def network_policy(api: Any) -> Iterator[dict]:
    from kubernetes.client import NetworkingV1Api

    from llm_sandbox.engines.kubernetes import apply_network_policy, remove_network_policy
    from llm_sandbox.engines.kubernetes.manifest import NETWORK_POLICY_NAME

    networking: Any = NetworkingV1Api(api.api_client)
    existing = json.loads(networking.list_namespaced_network_policy(NAMESPACE, _preload_content=False).data)
    ours_already = any(p["metadata"]["name"] == NETWORK_POLICY_NAME for p in existing["items"])
    yield apply_network_policy(NAMESPACE, api)
    if not ours_already:
        remove_network_policy(NAMESPACE, api)


def test_network_policy_isolates_sandbox_pods(make_session: Any, network_policy: dict) -> None:
    assert network_policy["spec"]["egress"] == []
    if os.environ.get("LLM_SANDBOX_K8S_NETPOL_ENFORCED") != "1":
        pytest.skip("set LLM_SANDBOX_K8S_NETPOL_ENFORCED=1 when the network plugin enforces NetworkPolicies")
    result = make_session().run(
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('kubernetes.default.svc', 443), timeout=5)\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print('blocked', type(e).__name__)\n",
        timeout=60,
    )
    assert result.stdout.startswith("blocked"), result.stdout


@pytest.mark.skipif(os.environ.get("LLM_SANDBOX_K8S_INSTALL") != "1",
                    reason="set LLM_SANDBOX_K8S_INSTALL=1 when installer pods can reach PyPI")
def test_install_through_an_installer_pod(make_session: Any, network_policy: dict) -> None:
    session = make_session()
    result = session.run("import six\nprint(six.__name__)", libraries=["six"])
    assert result.stdout == "six\n", result.stderr

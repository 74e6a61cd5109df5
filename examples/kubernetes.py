"""Run an agent's code in Kubernetes pods.

Needs: ``pip install 'llm-sandbox-toolkit[kubernetes]'``, a kubeconfig (``KUBECONFIG`` or
``~/.kube/config``; inside a cluster the pod's service account is used) and the image pullable by
the nodes, e.g. for kind::

    llm-sandbox images build python
    kind load docker-image llm-sandbox/python:latest

or pushed to your registry (then set ``LLM_SANDBOX_K8S_IMAGE``). See docs/kubernetes.md.

    python examples/kubernetes.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script, this file's folder is first on the import path, where this file would shadow the
# `kubernetes` package it uses; drop that folder.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from llm_sandbox import ContainerError, SandboxBackend, SandboxTimeoutError, create_session  # noqa: E402
from llm_sandbox.engines.kubernetes import apply_network_policy, connect  # noqa: E402

NAMESPACE = os.environ.get("LLM_SANDBOX_K8S_NAMESPACE", "default")
IMAGE = os.environ.get("LLM_SANDBOX_K8S_IMAGE", "llm-sandbox/python:latest")


def main() -> None:
    try:
        client = connect()  # a kubernetes.client.CoreV1Api for the kubeconfig's cluster
    except ContainerError as error:
        print(f"No Kubernetes cluster to run on: {error}\n\n{__doc__}")
        return

    # Sandbox pods get no network at all (needs a network plugin that enforces NetworkPolicies).
    # Once per namespace; `kubectl apply -f toolkit/llm_sandbox/engines/kubernetes/network-policy.yaml` does the same.
    apply_network_policy(NAMESPACE, client)

    with create_session(
        SandboxBackend.KUBERNETES,
        client=client,
        kube_namespace=NAMESPACE,
        image=IMAGE,
        lang="python",
        env_vars={"GREETING": "hello"},
        # Deep-merged over the secure default pod (docs/kubernetes.md, "Customising the pod"):
        pod_manifest={
            "metadata": {"labels": {"team": "agents"}},
            "spec": {"containers": [{"resources": {"limits": {"memory": "512Mi"}}}]},
        },
    ) as session:
        print("pod:", session.container_id)

        result = session.run("import os, platform\nprint(os.environ['GREETING'], 'from', platform.node())")
        print(result.stdout, end="")

        failed = session.run("import sys\nprint('to stderr', file=sys.stderr)\nsys.exit(3)")
        print("exit code:", failed.exit_code, "stderr:", failed.stderr.strip())

        session.run("open('report.txt', 'w').write('written in the pod\\n')")
        session.copy_from_runtime("report.txt", "report-from-pod.txt")
        copied = Path("report-from-pod.txt")
        print("copied back:", copied.read_text().strip())
        copied.unlink()

        try:
            session.run("import time\ntime.sleep(60)", timeout=2)
        except SandboxTimeoutError as exc:
            print("timed out and killed inside the pod:", exc)
        print(session.run("print('the pod is still usable')").stdout, end="")

        if os.environ.get("LLM_SANDBOX_K8S_INSTALL") == "1":
            # Installed by a short-lived installer pod (which may reach the package index), then copied
            # into this pod's /opt/sandbox-packages: the sandbox itself never gets a network.
            print(session.run("import six\nprint('six', six.__version__)", libraries=["six"]).stdout, end="")
    # Leaving the block deletes the pod.


if __name__ == "__main__":
    main()

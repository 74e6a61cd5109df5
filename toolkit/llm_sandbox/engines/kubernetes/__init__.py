"""The Kubernetes engine (``pip install 'llm-sandbox-toolkit[kubernetes]'``).

``engine`` (the protocol on pods), ``manifest`` (pods from specs), ``status``
(why a pod is not ready), ``stream`` (the exec websocket), ``network`` (the
NetworkPolicy), ``errors`` (client errors as library errors).
"""

from llm_sandbox.exceptions import MissingDependencyError

try:
    import kubernetes.client  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(
        "the Kubernetes engine needs the `kubernetes` package: pip install 'llm-sandbox-toolkit[kubernetes]'"
    ) from exc

from llm_sandbox.engines.kubernetes.engine import CAPABILITIES, KubernetesEngine
from llm_sandbox.engines.kubernetes.errors import connect
from llm_sandbox.engines.kubernetes.manifest import (
    build_pod_manifest,
    deep_merge,
    network_policy_manifest,
)
from llm_sandbox.engines.kubernetes.network import apply_network_policy, remove_network_policy

__all__ = [
    "CAPABILITIES",
    "KubernetesEngine",
    "apply_network_policy",
    "build_pod_manifest",
    "connect",
    "deep_merge",
    "network_policy_manifest",
    "remove_network_policy",
]

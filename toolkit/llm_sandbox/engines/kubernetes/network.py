"""The NetworkPolicy that cuts sandbox pods off the network (installer pods keep their egress)."""

from __future__ import annotations

from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException

from llm_sandbox.engines.kubernetes.errors import connect, translate_errors
from llm_sandbox.engines.kubernetes.manifest import NETWORK_POLICY_NAME, network_policy_manifest


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
    with translate_errors(f"applying NetworkPolicy {namespace}/{name}", namespace):
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
    with translate_errors(f"deleting NetworkPolicy {namespace}/{name}", namespace):
        try:
            api.delete_namespaced_network_policy(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status != 404:
                raise

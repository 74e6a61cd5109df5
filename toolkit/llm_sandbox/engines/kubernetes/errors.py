"""Kubernetes client errors as library errors, and the connection to the cluster."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import kubernetes.client
import kubernetes.config
import urllib3.exceptions
import websocket
from kubernetes.client.exceptions import ApiException

from llm_sandbox.engines.base import ExecDeadlineExceeded
from llm_sandbox.exceptions import ContainerError, SandboxError


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
def translate_errors(what: str, namespace: str = "") -> Iterator[None]:
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

"""Reading pod status: why a pod is not ready, and an exec's exit code."""

from __future__ import annotations

import json
from typing import Any

from llm_sandbox.exceptions import ContainerError

# Waiting reasons after which a pod never becomes ready on its own.
_IMAGE_REASONS = {"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
_FATAL_REASONS = _IMAGE_REASONS | {
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
}


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


def pod_state(pod: dict[str, Any], container: str) -> tuple[str, str]:
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

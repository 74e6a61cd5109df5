"""Pod manifests: ``pod.yaml``, then what a :class:`ContainerSpec` says, then the user's ``pod_manifest``.

The hardening comes from the contract's ``HARDENING`` (user, dropped
capabilities, no privilege escalation, read-only root) overridden by the
spec's options; ``pod.yaml`` adds only what pods alone have.
"""

from __future__ import annotations

import copy
import logging
import re
import secrets
from importlib import resources
from typing import Any

import yaml

from llm_sandbox.contract import HARDENING, LANG_LABEL, PACKAGES_DIR, ROLE_LABEL, SESSION_LABEL
from llm_sandbox.engines.base import ContainerSpec
from llm_sandbox.exceptions import ValidationError

logger = logging.getLogger("llm_sandbox")

SANDBOX_CONTAINER = "sandbox"
NETWORK_POLICY_NAME = "llm-sandbox-isolate"
PACKAGES_SIZE_LIMIT = "4Gi"
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


def _data_file(name: str) -> str:
    return resources.files("llm_sandbox.engines.kubernetes").joinpath(name).read_text()


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
    # The contract's hardening is the floor of every pod; the spec's options override it key by key.
    options = {**HARDENING, **spec.options}
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


def pod_name(spec: ContainerSpec) -> str:
    kind = spec.labels.get(ROLE_LABEL) or spec.labels.get(LANG_LABEL) or "sandbox"
    session = spec.labels.get(SESSION_LABEL, "")[:12]
    parts = ["llm-sandbox", kind, session, secrets.token_hex(3)]
    name = "-".join(re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts if part)
    return name[:63].rstrip("-")

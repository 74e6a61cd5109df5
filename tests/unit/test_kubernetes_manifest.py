"""Kubernetes backend: the pure parts (manifest merge rules, quantities, exec status, error text)."""

from __future__ import annotations

import json

import pytest

from llm_sandbox import ContainerError, ValidationError
from llm_sandbox.engines.base import ContainerSpec
from llm_sandbox.engines.kubernetes.manifest import (
    base_pod_manifest,
    build_pod_manifest,
    deep_merge,
    memory_quantity,
    network_policy_manifest,
)
from llm_sandbox.engines.kubernetes.status import describe_pod, exit_status


def test_dicts_merge_recursively_and_none_removes() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": 3}
    assert deep_merge(base, {"a": {"c": 20, "e": 5}, "d": None}) == {"a": {"b": 1, "c": 20, "e": 5}}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}, "inputs are not modified"


def test_containers_merge_by_name_then_by_position() -> None:
    base = {"containers": [{"name": "sandbox", "image": "x", "env": [{"name": "A", "value": "1"}]}]}
    renamed = deep_merge(base, {"containers": [{"name": "main", "env": [{"name": "B", "value": "2"}]}]})
    assert renamed["containers"] == [
        {"name": "main", "image": "x", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    ]
    with_sidecar = deep_merge(base, {"containers": [{"name": "side", "image": "y"}, {"name": "sandbox"}]})
    assert with_sidecar["containers"] == [base["containers"][0], {"name": "side", "image": "y"}]


def test_containers_without_a_name_merge_by_position() -> None:
    base = {"containers": [{"name": "sandbox", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}
    merged = deep_merge(base, {"containers": [{"resources": {"limits": {"memory": "1Gi"}}}, {"image": "y"}]})
    assert merged["containers"] == [
        {"name": "sandbox", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        {"image": "y"},
    ]


def test_named_lists_merge_by_name_other_lists_replace() -> None:
    base = {"volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}], "args": ["a", "b"]}
    merged = deep_merge(base, {"volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "x"}],
                               "args": ["c"]})
    assert merged == {
        "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}, {"name": "x"}],
        "args": ["c"],
    }


@pytest.mark.parametrize(
    ("docker", "kubernetes"),
    [("1g", "1Gi"), ("512m", "512Mi"), ("64k", "64Ki"), ("100b", "100"), (1048576, "1048576"),
     ("2Gi", "2Gi")],
)
def test_memory_sizes(docker: str | int, kubernetes: str) -> None:
    assert memory_quantity(docker) == kubernetes


def test_bad_memory_size() -> None:
    with pytest.raises(ValidationError, match="memory size"):
        memory_quantity("lots")


def test_spec_options_map_and_odd_labels_become_annotations() -> None:
    spec = ContainerSpec(
        image="img", command=["sh"], labels={"llm-sandbox.session": "abc", "llm-sandbox.owner": "host/123"},
        options={"user": "0", "cap_add": ["NET_RAW"], "privileged": True, "read_only": False,
                 "security_opt": ["seccomp=unconfined"], "nano_cpus": 2_500_000_000},
    )
    pod = build_pod_manifest(spec, name="p", namespace="ns")
    assert pod["metadata"] == {
        "name": "p", "namespace": "ns",
        "labels": {"app.kubernetes.io/name": "llm-sandbox", "app.kubernetes.io/managed-by": "llm-sandbox",
                   "llm-sandbox.session": "abc"},
        "annotations": {"llm-sandbox.owner": "host/123"},
    }
    assert pod["spec"]["securityContext"]["runAsUser"] == 0
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is False
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    security = pod["spec"]["containers"][0]["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert security["privileged"] is True and security["allowPrivilegeEscalation"] is True
    assert security["readOnlyRootFilesystem"] is False
    assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "2500m"


def test_host_binds_are_refused() -> None:
    with pytest.raises(ValidationError, match="bind mounts"):
        build_pod_manifest(ContainerSpec("img", ["sh"], binds={"/etc": "/x"}), name="p", namespace="ns")


def test_a_manifest_that_drops_the_sandbox_container_is_refused() -> None:
    with pytest.raises(ValidationError, match="sandbox container"):
        build_pod_manifest(ContainerSpec("img", ["sh"]), name="p", namespace="ns",
                           overrides={"spec": {"containers": [{"image": None}]}})


def test_data_files_parse() -> None:
    assert base_pod_manifest()["spec"]["automountServiceAccountToken"] is False
    assert network_policy_manifest("x")["metadata"]["name"] == "x"


def test_exit_status_from_channel_3() -> None:
    assert exit_status(b'{"metadata":{},"status":"Success"}') == 0
    failure = {"status": "Failure", "reason": "NonZeroExitCode",
               "details": {"causes": [{"reason": "ExitCode", "message": "42"}]}}
    assert exit_status(json.dumps(failure)) == 42
    missing = {"status": "Failure", "reason": "InternalError",
               "message": 'exec: "nope": executable file not found in $PATH'}
    assert exit_status(json.dumps(missing)) == 127
    with pytest.raises(ContainerError, match="without an exit status"):
        exit_status(b"")
    with pytest.raises(ContainerError, match="could not be run"):
        exit_status(json.dumps({"status": "Failure", "message": "container not running"}))


def test_describe_pod() -> None:
    condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no"}
    init = {"name": "init", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    pod = {"status": {"phase": "Pending", "conditions": [condition], "initContainerStatuses": [init]}}
    text = describe_pod(pod, [{"type": "Warning", "reason": "FailedScheduling", "message": "no nodes\n"}])
    assert text == (
        "phase Pending; conditions: PodScheduled=False (Unschedulable: no); "
        "init container init terminated (Error, exit code 1); events: Warning FailedScheduling: no nodes"
    )

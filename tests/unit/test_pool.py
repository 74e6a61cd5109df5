"""Pool configuration and the pool's errors: what is refused before any container exists."""

from __future__ import annotations

import pytest

from llm_sandbox import ContainerError, SandboxError, ValidationError
from llm_sandbox.exceptions import ResourceError
from llm_sandbox.pool import (
    ExhaustionStrategy,
    PoolClosedError,
    PoolConfig,
    PoolExhaustedError,
    PoolHealthCheckError,
    create_pool_manager,
)


def test_defaults_are_the_original_packages() -> None:
    config = PoolConfig()
    assert (config.max_pool_size, config.min_pool_size) == (10, 0)
    assert (config.idle_timeout, config.acquisition_timeout, config.health_check_interval) == (300, 30, 60)
    assert (config.max_container_lifetime, config.max_container_uses) == (3600, None)
    assert config.exhaustion_strategy is ExhaustionStrategy.WAIT and config.enable_prewarming
    assert PoolConfig(exhaustion_strategy="fail_fast").exhaustion_strategy is ExhaustionStrategy.FAIL_FAST  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_pool_size": 0}, r"max_pool_size must be a whole number of at least 1, got 0"),
        ({"min_pool_size": -1}, r"min_pool_size must be a whole number of at least 0"),
        ({"max_pool_size": 2, "min_pool_size": 3}, r"min_pool_size \(3\) cannot be greater than max_pool_size \(2\)"),
        ({"max_container_uses": 0}, r"max_container_uses must be a whole number of at least 1"),
        ({"max_pool_size": True}, r"max_pool_size must be a whole number"),
        ({"idle_timeout": -5}, r"idle_timeout must be a number of seconds above 0"),
        ({"acquisition_timeout": float("nan")}, r"acquisition_timeout must be a number of seconds"),
        ({"health_check_interval": None}, r"health_check_interval must be a number of seconds above 0, not None"),
        ({"exhaustion_strategy": "panic"}, r"exhaustion_strategy must be one of fail_fast, wait, temporary"),
        ({"enable_prewarming": "yes"}, r"enable_prewarming must be True or False"),
    ],
)
def test_bad_configuration_is_refused_with_what_to_do(options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PoolConfig(**options)


def test_none_means_no_limit() -> None:
    config = PoolConfig(idle_timeout=None, acquisition_timeout=None, max_container_lifetime=None)
    assert (config.idle_timeout, config.acquisition_timeout, config.max_container_lifetime) == (None, None, None)


def test_the_pools_errors_sit_in_the_one_hierarchy_with_the_originals_arguments() -> None:
    exhausted = PoolExhaustedError(4, 2.5)
    assert isinstance(exhausted, ResourceError) and (exhausted.pool_size, exhausted.timeout) == (4, 2.5)
    assert str(exhausted).startswith("All 4 containers in pool are busy and timeout of 2.5s exceeded; ")
    assert "ExhaustionStrategy.TEMPORARY" in str(exhausted)
    assert str(PoolExhaustedError(4)).startswith("All 4 containers in pool are busy; ")
    closed = PoolClosedError()
    assert isinstance(closed, SandboxError) and "create a new pool" in str(closed)
    unhealthy = PoolHealthCheckError("abc", "dead")
    assert isinstance(unhealthy, ContainerError) and (unhealthy.container_id, unhealthy.reason) == ("abc", "dead")
    assert str(unhealthy) == "Health check failed for container abc: dead"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"container_id": "abc"}, r"container_id= is not available for a pool"),
        ({"commit_container": True}, r"commit_container= is not available for a pool"),
        ({"runtime_configs": {"volumes": {"/h": {"bind": "/data", "mode": "rw"}}}}, r"writable shared mounts \(/data"),
        ({"runtime_configs": {"volumes": ["/host/data:/data"]}}, r"writable shared mounts \(/data"),
        ({"colour": "red"}, r"unexpected argument"),
        ({"backend": "lxc"}, r"Unsupported backend: lxc"),
    ],
)
def test_a_pool_that_cannot_be_made_is_refused_before_any_engine_is_asked(options: dict, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        create_pool_manager(**options)


def test_read_only_mounts_pass_and_a_missing_engine_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine here: the pool says so at once
    with pytest.raises(ContainerError):
        create_pool_manager(runtime_configs={"volumes": ["/host/data:/data:ro"]})

"""Pools of warm sandboxes, under the reference package's module name (see :mod:`llm_sandbox.sessions.pool`).

::

    from llm_sandbox import SandboxSession
    from llm_sandbox.pool import PoolConfig, create_pool_manager

    with create_pool_manager(lang="python", config=PoolConfig(max_pool_size=4, min_pool_size=2)) as pool:
        with SandboxSession(pool=pool) as session:   # a warm container, reset clean for this user
            print(session.run("print(1)").stdout)
"""

from llm_sandbox.exceptions import PoolClosedError, PoolExhaustedError, PoolHealthCheckError
from llm_sandbox.sessions.pool import (
    ArtifactPooledSandboxSession,
    ContainerPoolManager,
    ContainerState,
    ExhaustionStrategy,
    PoolConfig,
    PooledContainer,
    PooledSandboxSession,
    create_pool_manager,
)

__all__ = [
    "ArtifactPooledSandboxSession",
    "ContainerPoolManager",
    "ContainerState",
    "ExhaustionStrategy",
    "PoolClosedError",
    "PoolConfig",
    "PoolExhaustedError",
    "PoolHealthCheckError",
    "PooledContainer",
    "PooledSandboxSession",
    "create_pool_manager",
]

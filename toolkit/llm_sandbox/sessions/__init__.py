"""Sessions: the session lifecycle and runs, composed on one engine.

``session`` (the :class:`Session` and its operations), ``kinds`` (one kind per
engine, :func:`create_session`), ``artifact`` (:class:`ArtifactSandboxSession`),
``runner`` (runs and kills), ``files`` (copies and the sandbox-path rule),
``artifacts`` (plots and files of a run), ``installer`` (libraries),
``image`` (which image), ``commit``, ``output`` (output caps), ``sandbox``
(an open container), ``micromamba`` (its command wrapper), ``interactive``
(``InteractiveSandboxSession``: a kernel), ``warm`` (warm processes: the kernel, the warm runner).
"""

from llm_sandbox.sessions.artifact import ArtifactSandboxSession
from llm_sandbox.sessions.interactive import InteractiveSandboxSession, KernelType
from llm_sandbox.sessions.kinds import (
    SESSION_KINDS,
    MicromambaSession,
    SandboxDockerSession,
    SandboxKubernetesSession,
    SandboxPodmanSession,
    SandboxSession,
    create_session,
)
from llm_sandbox.sessions.session import Session

__all__ = [
    "SESSION_KINDS",
    "ArtifactSandboxSession",
    "InteractiveSandboxSession",
    "KernelType",
    "MicromambaSession",
    "SandboxDockerSession",
    "SandboxKubernetesSession",
    "SandboxPodmanSession",
    "SandboxSession",
    "Session",
    "create_session",
]

"""The reference API's module path for the Podman session: ``from llm_sandbox.podman import SandboxPodmanSession``."""

from llm_sandbox.sessions.kinds import SandboxPodmanSession

__all__ = ["SandboxPodmanSession"]

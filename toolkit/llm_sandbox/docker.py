"""The reference API's module path for the Docker session: ``from llm_sandbox.docker import SandboxDockerSession``."""

from llm_sandbox.sessions.kinds import SandboxDockerSession

__all__ = ["SandboxDockerSession"]

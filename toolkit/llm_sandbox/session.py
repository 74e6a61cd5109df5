"""The reference API's module path for the session entry points: ``from llm_sandbox.session import SandboxSession``."""

from llm_sandbox.sessions import ArtifactSandboxSession, InteractiveSandboxSession, SandboxSession, create_session

__all__ = ["ArtifactSandboxSession", "InteractiveSandboxSession", "SandboxSession", "create_session"]

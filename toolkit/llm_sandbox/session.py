"""The reference API's module path for the session entry points: ``from llm_sandbox.session import SandboxSession``."""

from llm_sandbox.sessions import ArtifactSandboxSession, SandboxSession, create_session

__all__ = ["ArtifactSandboxSession", "SandboxSession", "create_session"]

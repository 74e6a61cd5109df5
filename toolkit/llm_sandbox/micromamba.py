"""The reference API's module path for the Micromamba session.

``from llm_sandbox.micromamba import MicromambaSession``.
"""

from llm_sandbox.sessions.kinds import MicromambaSession

__all__ = ["MicromambaSession"]

"""The reference API's module path for the Kubernetes session.

``from llm_sandbox.kubernetes import SandboxKubernetesSession``; the ``kubernetes``
package is needed only when such a session connects.
"""

from llm_sandbox.sessions.kinds import SandboxKubernetesSession

__all__ = ["SandboxKubernetesSession"]

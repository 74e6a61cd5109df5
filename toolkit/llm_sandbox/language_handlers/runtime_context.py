"""The reference API's ``llm_sandbox.language_handlers.runtime_context``."""

from llm_sandbox.languages.base import RuntimeContext

__all__ = ["RuntimeContext"]

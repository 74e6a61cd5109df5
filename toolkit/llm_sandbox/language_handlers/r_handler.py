"""The reference API's ``llm_sandbox.language_handlers.r_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import RHandler

__all__ = ["RHandler"]

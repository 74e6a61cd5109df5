"""The reference API's ``llm_sandbox.language_handlers.java_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import JavaHandler

__all__ = ["JavaHandler"]

"""The reference API's ``llm_sandbox.language_handlers.go_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import GoHandler

__all__ = ["GoHandler"]

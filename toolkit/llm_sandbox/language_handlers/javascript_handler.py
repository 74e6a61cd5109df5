"""The reference API's ``llm_sandbox.language_handlers.javascript_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import JavaScriptHandler

__all__ = ["JavaScriptHandler"]

"""The reference API's ``llm_sandbox.language_handlers.python_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import PythonHandler

__all__ = ["PythonHandler"]

"""The reference API's ``llm_sandbox.language_handlers.cpp_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import CppHandler

__all__ = ["CppHandler"]

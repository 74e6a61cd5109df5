"""The reference API's ``llm_sandbox.language_handlers.ruby_handler``: the built-in handler."""

from llm_sandbox.languages.builtin import RubyHandler

__all__ = ["RubyHandler"]

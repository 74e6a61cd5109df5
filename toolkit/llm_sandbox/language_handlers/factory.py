"""The reference API's ``llm_sandbox.language_handlers.factory``: the factory on this library's registry."""

from llm_sandbox.languages import LanguageHandlerFactory

__all__ = ["LanguageHandlerFactory"]

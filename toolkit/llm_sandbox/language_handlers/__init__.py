"""The reference API's module paths for language handlers, on this library's registry (``llm_sandbox.languages``).

A handler written for the reference API subclasses :class:`AbstractLanguageHandler`
and registers with ``LanguageHandlerFactory.register_handler(name, HandlerClass)``.
"""

from llm_sandbox.languages.base import AbstractLanguageHandler, LanguageConfig, PlotDetectionConfig, PlotLibrary
from llm_sandbox.languages.builtin import (
    CppHandler,
    GoHandler,
    JavaHandler,
    JavaScriptHandler,
    PythonHandler,
    RHandler,
    RubyHandler,
)

__all__ = [
    "AbstractLanguageHandler",
    "CppHandler",
    "GoHandler",
    "JavaHandler",
    "JavaScriptHandler",
    "LanguageConfig",
    "PlotDetectionConfig",
    "PlotLibrary",
    "PythonHandler",
    "RHandler",
    "RubyHandler",
]

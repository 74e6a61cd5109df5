"""The reference API's ``llm_sandbox.language_handlers.base``: the plugin base class and its records."""

from llm_sandbox.languages.base import (
    AbstractLanguageHandler,
    ContainerProtocol,
    LanguageConfig,
    PlotDetectionConfig,
    PlotLibrary,
)

__all__ = ["AbstractLanguageHandler", "ContainerProtocol", "LanguageConfig", "PlotDetectionConfig", "PlotLibrary"]

"""The reference API's ``llm_sandbox.language_handlers.base``: the plugin base class and the records it uses."""

from llm_sandbox.const import FileType
from llm_sandbox.data import PlotOutput
from llm_sandbox.languages.base import (
    AbstractLanguageHandler,
    ContainerProtocol,
    LanguageConfig,
    PlotDetectionConfig,
    PlotLibrary,
)

__all__ = [
    "AbstractLanguageHandler",
    "ContainerProtocol",
    "FileType",
    "LanguageConfig",
    "PlotDetectionConfig",
    "PlotLibrary",
    "PlotOutput",
]

"""Language registry: built-in records and the plugin API.

Register a new language with one record (and an image that has its tools)::

    from llm_sandbox.languages import LanguageConfig, register_language

    register_language(LanguageConfig(
        name="bash", file_extension="sh", execution_commands=["bash {file}"],
        image="llm-sandbox/bash:latest", is_support_library_installation=False,
    ))

Give a handler class as well when a hook must differ (see ``base.py``).
"""

from __future__ import annotations

from typing import Any

from llm_sandbox.exceptions import LanguageNotSupportedError
from llm_sandbox.languages.base import (
    AbstractLanguageHandler,
    LanguageConfig,
    LanguageHandler,
    PlotDetectionConfig,
)

_CONFIGS: dict[str, LanguageConfig] = {}
_HANDLERS: dict[str, type[AbstractLanguageHandler]] = {}
_ALIASES: dict[str, str] = {}


def register_language(
    config: LanguageConfig, handler: type[AbstractLanguageHandler] = LanguageHandler
) -> None:
    """Add (or replace) a language. Its name and aliases become valid ``lang=`` values."""
    _CONFIGS[config.name] = config
    _HANDLERS[config.name] = handler
    for alias in (config.name, *config.aliases):
        _ALIASES[alias.lower()] = config.name


def supported_languages() -> list[str]:
    return sorted(_CONFIGS)


def get_language(lang: str, logger: Any = None) -> AbstractLanguageHandler:
    """The handler for ``lang`` (a name or alias, any case)."""
    name = _ALIASES.get(str(lang).lower())
    if name is None:
        raise LanguageNotSupportedError(str(lang), supported_languages())
    return _HANDLERS[name](_CONFIGS[name], logger)


class LanguageHandlerFactory:
    """The reference's factory, on top of :func:`register_language` / :func:`get_language`."""

    @staticmethod
    def create_handler(language: str, logger: Any = None) -> AbstractLanguageHandler:
        return get_language(language, logger)

    @staticmethod
    def register_handler(
        name: str, handler_class: type[AbstractLanguageHandler], config: LanguageConfig
    ) -> None:
        register_language(config if config.name == name else _renamed(config, name), handler_class)

    @staticmethod
    def get_supported_languages() -> list[str]:
        return supported_languages()


def _renamed(config: LanguageConfig, name: str) -> LanguageConfig:
    from dataclasses import replace

    return replace(config, name=name)


from llm_sandbox.languages.builtin import BUILTIN_LANGUAGES  # noqa: E402

for _config, _handler in BUILTIN_LANGUAGES:
    register_language(_config, _handler)

__all__ = [
    "AbstractLanguageHandler",
    "LanguageConfig",
    "LanguageHandler",
    "LanguageHandlerFactory",
    "PlotDetectionConfig",
    "get_language",
    "register_language",
    "supported_languages",
]

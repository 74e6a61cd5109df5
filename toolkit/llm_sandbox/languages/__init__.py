"""Language registry: built-in records and the plugin API.

Register a new language with one record (and an image that has its tools)::

    from llm_sandbox.languages import LanguageConfig, register_language

    register_language(LanguageConfig(
        name="bash", file_extension="sh", execution_commands=["bash {file}"],
        image="llm-sandbox/bash:latest", is_support_library_installation=False,
    ))

Give a handler class as well when a hook must differ (subclass :class:`LanguageHandler`,
see ``base.py``). A handler written for the reference API (an
:class:`AbstractLanguageHandler` subclass whose constructor sets ``self.config``)
registers with ``LanguageHandlerFactory.register_handler(name, HandlerClass)``.
``unregister_language("bash")`` removes a language again.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from llm_sandbox.exceptions import LanguageHandlerNotInitializedError, LanguageNotSupportedError
from llm_sandbox.languages.base import (
    PLOT_OUTPUT_DIR,
    AbstractLanguageHandler,
    ContainerProtocol,
    LanguageConfig,
    LanguageHandler,
    PlotDetectionConfig,
    PlotLibrary,
    RuntimeContext,
)
from llm_sandbox.security.analyzers import canonical_language, register_pattern_analyzer, registered_languages

_CONFIGS: dict[str, LanguageConfig] = {}
_HANDLERS: dict[str, type[AbstractLanguageHandler]] = {}
_ALIASES: dict[str, str] = {}


def register_language(
    config: LanguageConfig, handler: type[AbstractLanguageHandler] = LanguageHandler
) -> None:
    """Add (or replace) a language. Its name and aliases become valid ``lang=`` values."""
    _check_handler_class(handler)
    _CONFIGS[config.name] = config
    _HANDLERS[config.name] = handler
    for alias in (config.name, *config.aliases):
        _ALIASES[alias.lower()] = config.name


def unregister_language(name: str) -> None:
    """Remove a language added with :func:`register_language`: its name and aliases are no longer valid."""
    if name not in _CONFIGS:
        raise LanguageNotSupportedError(name, supported_languages())
    del _CONFIGS[name], _HANDLERS[name]
    for alias in [alias for alias, target in _ALIASES.items() if target == name]:
        del _ALIASES[alias]


def supported_languages() -> list[str]:
    return sorted(_CONFIGS)


def get_language(lang: str, logger: logging.Logger | None = None) -> AbstractLanguageHandler:
    """The handler for ``lang`` (a name or alias, any case), bound to the record it was registered with."""
    name = _ALIASES.get(str(lang).lower())
    if name is None:
        raise LanguageNotSupportedError(str(lang), supported_languages())
    handler = _HANDLERS[name](logger=logger)
    handler.config = _CONFIGS[name]
    return handler


def _check_handler_class(handler: object) -> None:
    if not (isinstance(handler, type) and issubclass(handler, AbstractLanguageHandler)):
        raise TypeError(f"handler class {handler!r} is not a subclass of AbstractLanguageHandler")


def _register_reference_handler(name: str, handler_class: type[AbstractLanguageHandler]) -> None:
    """A handler written for the reference API: its record is the one it sets up itself (in ``__init__``
    or as a class attribute), and, for a language the security checks do not know, its import and
    comment regexes check restricted modules, as in the reference."""
    _check_handler_class(handler_class)
    handler = handler_class()
    config = getattr(handler, "config", None)
    if not isinstance(config, LanguageConfig):
        raise LanguageHandlerNotInitializedError(name)
    register_language(config if config.name == name else replace(config, name=name), handler_class)
    if canonical_language(name) not in registered_languages():
        register_pattern_analyzer(name, handler.get_import_patterns, handler.filter_comments)


class LanguageHandlerFactory:
    """The reference API's factory, on top of :func:`register_language` / :func:`get_language`."""

    @staticmethod
    def create_handler(language: str, logger: logging.Logger | None = None) -> AbstractLanguageHandler:
        return get_language(language, logger)

    @staticmethod
    def register_handler(
        name: str, handler_class: type[AbstractLanguageHandler], config: LanguageConfig | None = None
    ) -> None:
        """Make ``name`` a language handled by ``handler_class``.

        Its record is ``config`` or, as in the reference API, the one the handler sets itself.
        """
        if config is None:
            _register_reference_handler(name, handler_class)
        else:
            register_language(config if config.name == name else replace(config, name=name), handler_class)

    @staticmethod
    def get_supported_languages() -> list[str]:
        return supported_languages()


from llm_sandbox.languages.builtin import BUILTIN_LANGUAGES  # noqa: E402

for _handler in BUILTIN_LANGUAGES:
    register_language(_handler.config, _handler)

__all__ = [
    "PLOT_OUTPUT_DIR",
    "AbstractLanguageHandler",
    "ContainerProtocol",
    "LanguageConfig",
    "LanguageHandler",
    "LanguageHandlerFactory",
    "PlotDetectionConfig",
    "PlotLibrary",
    "RuntimeContext",
    "get_language",
    "register_language",
    "supported_languages",
    "unregister_language",
]

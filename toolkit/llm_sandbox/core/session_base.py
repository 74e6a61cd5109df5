"""The reference API's module path for the session base class: ``BaseSession`` is :class:`~llm_sandbox.Session`."""

from llm_sandbox.sessions.session import Session as BaseSession

__all__ = ["BaseSession"]

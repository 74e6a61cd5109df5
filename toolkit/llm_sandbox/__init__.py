"""LLM Sandbox Toolkit: run the code an AI agent writes in isolated containers.

The public names of the API reference, nothing else.
"""

from llm_sandbox.const import DefaultImage, FileType, PlotFormat, SandboxBackend, SupportedLanguage
from llm_sandbox.data import ConsoleOutput, ExecutionResult, FileOutput, PlotOutput, StreamCallback
from llm_sandbox.exceptions import (
    ContainerError,
    ImageNotFoundError,
    KernelDiedError,
    LanguageNotSupportedError,
    LibraryInstallationNotSupportedError,
    MissingDependencyError,
    NotOpenSessionError,
    ResourceError,
    SandboxError,
    SandboxTimeoutError,
    SecurityError,
    SecurityViolationError,
    UnsupportedBackendError,
    ValidationError,
)
from llm_sandbox.languages import AbstractLanguageHandler, LanguageConfig, LanguageHandlerFactory
from llm_sandbox.security import (
    RestrictedModule,
    SecurityIssueSeverity,
    SecurityPattern,
    SecurityPolicy,
    get_security_policy,
)
from llm_sandbox.sessions import (
    ArtifactSandboxSession,
    InteractiveSandboxSession,
    KernelType,
    SandboxDockerSession,
    SandboxSession,
    Session,
    create_session,
)

BaseSession = Session

__all__ = [
    "AbstractLanguageHandler",
    "ArtifactSandboxSession",
    "BaseSession",
    "ConsoleOutput",
    "ContainerError",
    "DefaultImage",
    "ExecutionResult",
    "FileOutput",
    "FileType",
    "ImageNotFoundError",
    "InteractiveSandboxSession",
    "KernelDiedError",
    "KernelType",
    "LanguageConfig",
    "LanguageHandlerFactory",
    "LanguageNotSupportedError",
    "LibraryInstallationNotSupportedError",
    "MissingDependencyError",
    "NotOpenSessionError",
    "PlotFormat",
    "PlotOutput",
    "ResourceError",
    "RestrictedModule",
    "SandboxBackend",
    "SandboxDockerSession",
    "SandboxError",
    "SandboxSession",
    "SandboxTimeoutError",
    "SecurityError",
    "SecurityIssueSeverity",
    "SecurityPattern",
    "SecurityPolicy",
    "SecurityViolationError",
    "Session",
    "StreamCallback",
    "SupportedLanguage",
    "UnsupportedBackendError",
    "ValidationError",
    "create_session",
    "get_security_policy",
]

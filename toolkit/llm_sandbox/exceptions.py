"""One exception hierarchy, rooted at :class:`SandboxError`.

Every message says what happened and what to do about it. Engine exceptions
(docker, podman, kubernetes) are translated into these at the engine boundary
and never reach users raw::

    SandboxError
    ├── ContainerError                  the engine failed, or the container is gone
    ├── ImageError
    │   ├── ImageNotFoundError
    │   ├── ImagePullError
    │   └── ImageBuildError
    ├── NotOpenSessionError
    │   └── SessionClosedError          closed, or its session_timeout expired
    ├── SandboxTimeoutError             the processes were killed; the session stays usable
    ├── ResourceError                   a limit was reached
    │   ├── ArtifactLimitError          a run's plots and files exceed what the host takes back
    │   └── SessionLimitError           a SessionManager's max_sessions
    ├── ManagerClosedError
    ├── ValidationError (ValueError)    bad input: paths, names, options
    │   └── CommandEmptyError
    ├── LanguageNotSupportedError (ValueError)
    ├── LanguageNotSupportPlotError
    ├── LibraryInstallationNotSupportedError
    ├── PackageManagerError             the package manager failed (its message included)
    ├── MissingDependencyError (ImportError)
    ├── UnsupportedBackendError (ValueError)
    └── SecurityError
        └── SecurityViolationError      refused by the session's policy
"""

from __future__ import annotations


class SandboxError(Exception):
    """Base class of every error this library raises on purpose."""


class ContainerError(SandboxError):
    """The container engine failed or the container is gone."""


class ImageError(SandboxError):
    """An image could not be found, pulled or built."""


class ImageNotFoundError(ImageError):
    """The image does not exist locally and cannot be obtained automatically."""

    def __init__(self, image: str, hint: str | None = None) -> None:
        self.image = image
        message = f"image {image!r} was not found"
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class ImagePullError(ImageError):
    """The image could not be pulled from a registry."""


class ImageBuildError(ImageError):
    """Building an image failed."""


class NotOpenSessionError(SandboxError):
    """An operation needs an open session."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the session is not open; use it as a context manager (`with SandboxSession(...) as s:`) "
            "or call open() first"
        )


class SessionClosedError(NotOpenSessionError):
    """The session was closed, for example because its session_timeout expired."""


class SandboxTimeoutError(SandboxError):
    """An operation ran longer than its timeout; the processes it started were killed."""

    def __init__(self, message: str, timeout_duration: float | None = None) -> None:
        super().__init__(message)
        self.timeout_duration = timeout_duration


class ResourceError(SandboxError):
    """A resource limit was hit or a resource could not be allocated."""


class ArtifactLimitError(ResourceError):
    """The artifacts of a run (its plots and output files together) exceed the host-side limit.

    Its own type, so that nothing else (an ``OverflowError`` from a socket, say)
    is ever taken for it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"the artifacts of this run exceed {limit // 2**20} MiB in total; write fewer or smaller files "
            "to the outputs directory (large files are best fetched with copy_from_runtime from another "
            "directory)"
        )


class SessionLimitError(ResourceError):
    """``max_sessions`` sandboxes of a session manager are live and none became free in time."""


class ManagerClosedError(SandboxError):
    """The session manager was closed; create a new one."""


class ValidationError(SandboxError, ValueError):
    """An argument is invalid (library name, path, configuration value...)."""


class LanguageNotSupportedError(SandboxError, ValueError):
    """The language is not registered."""

    def __init__(self, lang: str, supported: list[str] | None = None) -> None:
        self.lang = lang
        message = f"language {lang!r} is not supported"
        if supported:
            message += f"; choose one of: {', '.join(sorted(supported))}"
        super().__init__(message)


class LanguageNotSupportPlotError(SandboxError):
    """Kept for compatibility with the reference API; this library never raises it from run()."""


class LibraryInstallationNotSupportedError(SandboxError):
    """The language has no library installation in this sandbox."""

    def __init__(self, lang: str, why: str | None = None) -> None:
        self.lang = lang
        super().__init__(f"library installation is not supported for {lang}" + (f": {why}" if why else ""))


class PackageManagerError(SandboxError):
    """Installing libraries failed (the package manager's own message is included)."""


class MissingDependencyError(SandboxError, ImportError):
    """An optional Python dependency of a backend or integration is not installed."""


class UnsupportedBackendError(SandboxError, ValueError):
    """The backend name is unknown."""


class SecurityError(SandboxError):
    """A security check failed."""


class SecurityViolationError(SecurityError):
    """Code or libraries were refused by the session's security policy."""

    def __init__(self, message: str, violations: list | None = None) -> None:
        super().__init__(message)
        self.violations = list(violations or [])


class CommandEmptyError(ValidationError):
    """A command was empty."""

    def __init__(self) -> None:
        super().__init__("the command is empty; pass a non-empty shell command")

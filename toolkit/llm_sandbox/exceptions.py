"""One exception hierarchy, rooted at :class:`SandboxError`.

Every message says what happened and what to do about it. Engine exceptions
(docker, podman, kubernetes) are translated into these at the engine boundary
and never reach users raw. The names, constructor arguments and base messages
are those of the reference API (``llm-sandbox``), so code that catches them, or
builds them in tests, runs unchanged; where this library knows more, it adds to
the message::

    SandboxError
    ├── ContainerError                  the engine failed, or the container is gone
    │   └── PoolHealthCheckError        a pooled container failed its check (it is replaced)
    ├── ImageError
    │   ├── ImageNotFoundError
    │   ├── ImagePullError              (image, error)
    │   └── ImageBuildError
    ├── NotOpenSessionError
    │   └── SessionClosedError          closed, or its session_timeout expired
    ├── SandboxTimeoutError             the processes were killed; the session stays usable
    ├── KernelDiedError                 an interactive session's kernel died; restarted, state lost
    ├── ResourceError                   a limit was reached
    │   ├── ArtifactLimitError          a run's plots and files exceed what the host takes back
    │   ├── SessionLimitError           a SessionManager's max_sessions
    │   └── PoolExhaustedError          every container of a full pool is in use (pool_size, timeout)
    ├── ManagerClosedError
    ├── PoolClosedError                 the pool was closed; create a new one
    ├── ArtifactNotFoundError (LookupError)  an artifact reference the manager no longer keeps
    ├── ValidationError (ValueError)    bad input: paths, names, options
    │   ├── CommandEmptyError
    │   └── ExtraArgumentsError         arguments a session does not take
    ├── CommandFailedError              a command run for you failed (verify_installation)
    ├── LanguageNotSupportedError (ValueError)
    ├── LanguageHandlerNotInitializedError  a handler class that sets no LanguageConfig
    ├── LanguageNotSupportPlotError
    ├── LibraryInstallationNotSupportedError
    ├── PackageManagerError             the package manager is missing or failed (its output included)
    ├── MissingDependencyError (ImportError)
    ├── UnsupportedBackendError (ValueError)
    └── SecurityError
        ├── SecurityViolationError      refused by the session's policy
        └── InvalidRegexPatternError    a policy pattern that does not compile (not a ValueError, so
                                        pydantic lets it through unwrapped)
"""

from __future__ import annotations


def _extended(base: str, *details: str | None, separator: str = "; ") -> str:
    """``base``, followed by the details this library adds (the reference API's message comes first)."""
    return separator.join([base, *(detail for detail in details if detail)])


class SandboxError(Exception):
    """Base class of every error this library raises on purpose."""


class ContainerError(SandboxError):
    """The container engine failed or the container is gone."""


class PoolHealthCheckError(ContainerError):
    """A pooled container failed a check (dead, unresponsive, or not reset as it must be); the pool
    destroys it and creates another in its place."""

    def __init__(self, container_id: str, reason: str) -> None:
        self.container_id = container_id
        self.reason = reason
        super().__init__(f"Health check failed for container {container_id}: {reason}")


class ImageError(SandboxError):
    """An image could not be found, pulled or built."""


class ImageNotFoundError(ImageError):
    """The image does not exist locally and cannot be obtained automatically."""

    def __init__(self, image: str, hint: str | None = None) -> None:
        self.image = image
        super().__init__(_extended(f"Image {image} not found", hint))


class ImagePullError(ImageError):
    """The image could not be pulled from a registry."""

    def __init__(self, image: str, error: str) -> None:
        self.image = image
        self.error = error
        super().__init__(f"Failed to pull image {image}: {error}")


class ImageBuildError(ImageError):
    """Building an image failed."""


class NotOpenSessionError(SandboxError):
    """An operation needs an open session."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Session is not open. Please call open() method before running code.")


class SessionClosedError(NotOpenSessionError):
    """The session was closed, for example because its session_timeout expired."""


class SandboxTimeoutError(SandboxError):
    """An operation ran longer than its timeout; the processes it started were killed."""

    def __init__(self, message: str, timeout_duration: float | None = None) -> None:
        super().__init__(message)
        self.timeout_duration = timeout_duration


class KernelDiedError(SandboxError):
    """The kernel of an interactive session died during a cell; it was restarted, its state is gone.

    ``stdout`` and ``stderr`` hold what the cell printed before.
    """

    def __init__(self, message: str, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


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


class PoolExhaustedError(ResourceError):
    """Every container of a pool at ``max_pool_size`` is in use, and the pool's exhaustion strategy
    (``FAIL_FAST``, or ``WAIT`` past ``acquisition_timeout``) gives up."""

    def __init__(self, pool_size: int, timeout: float | None = None, detail: str | None = None) -> None:
        self.pool_size = pool_size
        self.timeout = timeout
        base = f"All {pool_size} containers in pool are busy"
        if timeout is not None:
            base += f" and timeout of {timeout}s exceeded"
        super().__init__(
            _extended(
                base,
                detail,
                "close finished sessions sooner, raise max_pool_size or acquisition_timeout, or use "
                "ExhaustionStrategy.TEMPORARY to get a container outside the pool",
            )
        )


class ManagerClosedError(SandboxError):
    """The session manager was closed; create a new one."""


class PoolClosedError(SandboxError):
    """The container pool was closed; create a new pool (``create_pool_manager``)."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Container pool has been closed; create a new pool with create_pool_manager()")


class ArtifactNotFoundError(SandboxError, LookupError):
    """An artifact reference (``"ref"`` of a stored tool artifact) is not, or no longer, in the store."""


class ValidationError(SandboxError, ValueError):
    """An argument is invalid (library name, path, configuration value...)."""


class CommandEmptyError(ValidationError):
    """A command was empty."""

    def __init__(self) -> None:
        super().__init__("Command cannot be empty")


class ExtraArgumentsError(ValidationError):
    """A session was given arguments it does not take."""


class CommandFailedError(SandboxError):
    """A command the library ran on the user's behalf exited with a non-zero code."""

    def __init__(self, command: str, exit_code: int, output: str) -> None:
        self.command = command
        self.exit_code = exit_code
        self.output = output
        super().__init__(f"Command {command} failed with exit code {exit_code}:\n{output}")


class LanguageNotSupportedError(SandboxError, ValueError):
    """The language is not registered (or cannot do what was asked: ``why`` says)."""

    def __init__(self, lang: str, supported: list[str] | None = None, why: str | None = None) -> None:
        self.lang = lang
        choices = f"choose one of: {', '.join(sorted(supported))}" if supported else None
        super().__init__(_extended(f"Language {lang} is not supported" + (f" {why}" if why else ""), choices))


class LanguageHandlerNotInitializedError(SandboxError):
    """A language handler has no :class:`~llm_sandbox.languages.LanguageConfig` (its class must set ``config``)."""

    def __init__(self, language: str) -> None:
        self.language = language
        super().__init__(f"Language handler for {language} is not initialized.")


class LanguageNotSupportPlotError(SandboxError):
    """The language captures no plots. Kept for compatibility: ``run()`` never raises it here."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        super().__init__(f"Language {lang} does not support plot detection")


class LibraryInstallationNotSupportedError(SandboxError):
    """The language has no library installation in this sandbox."""

    def __init__(self, lang: str, why: str | None = None) -> None:
        self.lang = lang
        super().__init__(_extended(f"Library installation is not supported for {lang}", why, separator=": "))


class PackageManagerError(SandboxError):
    """The package manager is missing, or installing failed (``failure`` holds its own output)."""

    def __init__(self, package_manager: str, failure: str | None = None) -> None:
        self.package_manager = package_manager
        self.failure = failure
        super().__init__(
            f"Package manager {package_manager} failed: {failure}"
            if failure is not None
            else f"Package manager {package_manager} not found"
        )


class MissingDependencyError(SandboxError, ImportError):
    """An optional Python dependency of a backend or integration is not installed."""


class UnsupportedBackendError(SandboxError, ValueError):
    """The backend name is unknown."""

    def __init__(self, backend: str, supported: list[str] | None = None) -> None:
        self.backend = backend
        choices = f"choose one of: {', '.join(supported)}" if supported else None
        super().__init__(_extended(f"Unsupported backend: {backend}", choices))


class SecurityError(SandboxError):
    """A security check failed, or a security policy is invalid."""


class SecurityViolationError(SecurityError):
    """Code or libraries were refused by the session's security policy."""

    def __init__(self, message: str, violations: list | None = None) -> None:
        super().__init__(message)
        self.violations = list(violations or [])


class InvalidRegexPatternError(SecurityError):
    """A security pattern is not a valid regular expression."""

    def __init__(self, pattern: str, reason: str | None = None) -> None:
        self.pattern = pattern
        hint = f"{reason}; fix the pattern (escape literal text with re.escape())" if reason else None
        super().__init__(_extended(f"Invalid regex pattern: {pattern}", hint))

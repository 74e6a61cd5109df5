"""The kinds of session, one per engine, and :func:`create_session`, which picks one by name.

Each kind is a :class:`Session` given its engine (connected lazily, so a
session can be built without an engine running) and, for Micromamba, a
command wrapper. The registry maps the reference API's backend names to
kinds; engines that need an optional dependency are imported only when a
session of their kind connects.

Each kind takes its options positionally in the reference API's order (which
differs between kinds) or by keyword; every other keyword of
:class:`~llm_sandbox.sessions.session.Session` is accepted too.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

from llm_sandbox.const import SandboxBackend, SupportedLanguage
from llm_sandbox.contract import DEFAULT_WORKDIR
from llm_sandbox.engines.base import Engine
from llm_sandbox.exceptions import MissingDependencyError, UnsupportedBackendError, ValidationError
from llm_sandbox.sessions.micromamba import DEFAULT_ENVIRONMENT, DEFAULT_IMAGE, MicromambaEnvironment
from llm_sandbox.sessions.session import Session
from llm_sandbox.timeouts import check_timeout

DEFAULT_READY_TIMEOUT = 180.0


def _needs(extra: str, connect: Callable[[], Engine]) -> Engine:
    """``connect()``, or a clear error naming the extra to install when its package is missing."""
    try:
        return connect()
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            f"the {extra} backend needs an optional dependency ({exc.name}); "
            f"install it with: pip install 'llm-sandbox-toolkit[{extra}]'"
        ) from exc


def _docker(client: Any) -> Engine:
    from llm_sandbox.engines.docker import DockerEngine

    return DockerEngine(client)


def _podman(client: Any) -> Engine:
    def connect() -> Engine:
        from llm_sandbox.engines.podman import PodmanEngine

        return PodmanEngine(client)

    return _needs("podman", connect)


class SandboxDockerSession(Session):
    """A session on the Docker API: ``client`` is a ``docker.DockerClient`` (default: from the environment).

    Podman and Micromamba sessions are Docker-API sessions too; they differ only
    in :attr:`connect_engine` (Podman) or in a command wrapper (Micromamba).
    """

    backend_name = "docker"

    @classmethod
    def connect_engine(cls, client: Any) -> Engine:
        """The engine for ``client``, built when the session first needs it."""
        return _docker(client)

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        keep_template: bool = False,
        commit_container: bool = False,
        commit_image_tag: str | None = None,
        verbose: bool = False,
        stream: bool = False,
        runtime_configs: dict | None = None,
        workdir: str | None = DEFAULT_WORKDIR,
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        encoding_errors: str = "replace",
        **kwargs: Any,
    ) -> None:
        if commit_image_tag is not None:
            raise ValidationError(
                "commit_image_tag= is not supported: a committed session becomes the image "
                "llm-sandbox-commit/<lang>:<session id> (session.committed_image); tag it yourself if needed"
            )
        kind = type(self)  # not self: a dropped session is then freed at once, without a reference cycle
        super().__init__(
            lambda: kind.connect_engine(client),
            image,
            dockerfile,
            lang,
            keep_template=keep_template,
            commit_container=commit_container,
            verbose=verbose,
            stream=stream,
            runtime_configs=_with_mounts(runtime_configs, kwargs.pop("mounts", None)),
            workdir=workdir,
            security_policy=security_policy,
            default_timeout=default_timeout,
            execution_timeout=execution_timeout,
            session_timeout=session_timeout,
            container_id=container_id,
            skip_environment_setup=skip_environment_setup,
            encoding_errors=encoding_errors,
            **kwargs,
        )


def _with_mounts(runtime_configs: dict | None, mounts: Any) -> dict:
    """``runtime_configs`` with the reference's ``mounts=`` (a list of ``docker.types.Mount``) added to its own."""
    configs = dict(runtime_configs or {})
    if mounts:
        configs["mounts"] = [*_as_list(configs.get("mounts")), *_as_list(mounts)]
    return configs


def _as_list(value: Any) -> list:
    return [] if not value else list(value) if isinstance(value, list | tuple) else [value]


class SandboxPodmanSession(SandboxDockerSession):
    """A session on Podman: ``client`` is a ``podman.PodmanClient`` (default: ``CONTAINER_HOST`` or the
    default sockets). Everything but the engine is the Docker session's behaviour.

    When the language's default image is missing in Podman it is loaded from Docker.
    """

    backend_name = "podman"

    @classmethod
    def connect_engine(cls, client: Any) -> Engine:
        return _podman(client)

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        keep_template: bool = False,
        commit_container: bool = False,
        verbose: bool = False,
        mounts: list | None = None,
        stream: bool = False,
        runtime_configs: dict | None = None,
        workdir: str | None = DEFAULT_WORKDIR,
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        encoding_errors: str = "replace",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            client,
            image,
            dockerfile,
            lang,
            keep_template=keep_template,
            commit_container=commit_container,
            verbose=verbose,
            mounts=mounts,
            stream=stream,
            runtime_configs=runtime_configs,
            workdir=workdir,
            security_policy=security_policy,
            default_timeout=default_timeout,
            execution_timeout=execution_timeout,
            session_timeout=session_timeout,
            container_id=container_id,
            skip_environment_setup=skip_environment_setup,
            encoding_errors=encoding_errors,
            **kwargs,
        )


class MicromambaSession(SandboxDockerSession):
    """A Docker session whose commands run in the micromamba environment ``environment``.

    ``client`` is a ``docker.DockerClient`` (default: from the environment);
    ``image`` must have micromamba and the environment (default
    ``mambaorg/micromamba:latest``, which must be present locally or pullable).
    """

    backend_name = "micromamba"

    def __init__(
        self,
        client: Any = None,
        image: str | None = DEFAULT_IMAGE,
        dockerfile: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        keep_template: bool = False,
        verbose: bool = False,
        mounts: list | None = None,
        environment: str = DEFAULT_ENVIRONMENT,
        commit_container: bool = False,
        stream: bool = True,
        runtime_configs: dict | None = None,
        workdir: str | None = DEFAULT_WORKDIR,
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        **kwargs: Any,
    ) -> None:
        self.environment_wrapper = MicromambaEnvironment(environment)
        super().__init__(
            client,
            image or DEFAULT_IMAGE,
            dockerfile,
            lang,
            keep_template=keep_template,
            verbose=verbose,
            mounts=mounts,
            commit_container=commit_container,
            stream=stream,
            runtime_configs=runtime_configs,
            workdir=workdir,
            security_policy=security_policy,
            default_timeout=default_timeout,
            execution_timeout=execution_timeout,
            session_timeout=session_timeout,
            container_id=container_id,
            skip_environment_setup=skip_environment_setup,
            command_wrapper=self.environment_wrapper,
            **kwargs,
        )
        self.environment = environment

    def wrap(self, command: str) -> str:
        """``command`` as it runs in the session's environment."""
        return self.environment_wrapper.wrap(command)


class SandboxKubernetesSession(Session):
    """A session whose sandbox is a pod.

    ``client`` is a ``kubernetes.client.CoreV1Api`` (default: the kubeconfig's
    cluster, or the in-cluster service account). ``env_vars`` are set in the
    sandbox; ``pod_manifest`` is deep-merged over the default pod (see
    :func:`deep_merge`; its ``metadata.namespace``, when set, wins over
    ``kube_namespace``). ``container_id`` names an existing pod to attach to:
    it is used as it is and never deleted.

    Also accepted: ``pod_ready_timeout`` (seconds to wait for a pod to be ready,
    default 180), ``installer_pod_manifest`` (deep-merged over the library
    installer pod) and every keyword of :class:`~llm_sandbox.sessions.session.Session`
    except ``dockerfile`` and ``commit_container``.
    """

    backend_name = "kubernetes"

    def __init__(
        self,
        client: Any = None,
        image: str | None = None,
        lang: str = SupportedLanguage.PYTHON,
        verbose: bool = False,
        kube_namespace: str = "default",
        env_vars: dict[str, str] | None = None,
        pod_manifest: dict | None = None,
        workdir: str = "/sandbox",
        security_policy: Any = None,
        default_timeout: float | None = None,
        execution_timeout: float | None = None,
        session_timeout: float | None = None,
        container_id: str | None = None,
        skip_environment_setup: bool = False,
        encoding_errors: str = "replace",
        **kwargs: Any,
    ) -> None:
        if kwargs.pop("dockerfile", None):
            raise ValidationError(
                "dockerfile= is not available on Kubernetes: build the image with Docker, push it to a "
                "registry the cluster pulls from and pass image= (docs/kubernetes.md, 'Images')"
            )
        if kwargs.pop("commit_container", False):
            raise ValidationError("commit_container=True is not supported on Kubernetes")
        self.pod_ready_timeout = check_timeout(kwargs.pop("pod_ready_timeout", None), "pod_ready_timeout") or (
            DEFAULT_READY_TIMEOUT
        )
        self.installer_pod_manifest = copy.deepcopy(kwargs.pop("installer_pod_manifest", None) or {})
        if pod_manifest is not None and not isinstance(pod_manifest, dict):
            raise ValidationError("pod_manifest must be a dict (a parsed pod manifest)")
        self.pod_manifest = copy.deepcopy(pod_manifest or {})
        self.env_vars = dict(env_vars or {})
        self.kube_namespace = (self.pod_manifest.get("metadata") or {}).get("namespace") or kube_namespace
        runtime_configs = dict(kwargs.pop("runtime_configs", None) or {})
        if self.env_vars:
            environment = runtime_configs.get("environment") or {}
            if isinstance(environment, list):
                environment = dict(item.split("=", 1) for item in environment)
            runtime_configs["environment"] = {**environment, **self.env_vars}
        runtime_configs["pod_manifest"] = self.pod_manifest
        super().__init__(
            functools.partial(_kubernetes_engine, client, self.kube_namespace, self.pod_ready_timeout),
            image,
            None,
            lang,
            verbose=verbose,
            runtime_configs=runtime_configs,
            workdir=workdir,
            security_policy=security_policy,
            default_timeout=default_timeout,
            execution_timeout=execution_timeout,
            session_timeout=session_timeout,
            container_id=container_id,
            skip_environment_setup=skip_environment_setup,
            encoding_errors=encoding_errors,
            **kwargs,
        )

    @property
    def pod_name(self) -> str | None:
        """The sandbox pod's name (``container_id``)."""
        return self.container_id

    def _installer_overrides(self) -> dict[str, Any]:
        """The installer pod: the user's ``installer_pod_manifest``, and a disk-backed ``/tmp``.

        Wheels are downloaded into ``/tmp``; memory-backed space would count against the pod's memory.
        """
        from llm_sandbox.engines.kubernetes import deep_merge

        disk_tmp = {"spec": {"volumes": [{"name": "tmp", "emptyDir": {"medium": None, "sizeLimit": None}}]}}
        return {"pod_manifest": deep_merge(disk_tmp, self.installer_pod_manifest)}


def _kubernetes_engine(client: Any, namespace: str, ready_timeout: float) -> Engine:
    def connect() -> Engine:
        from llm_sandbox.engines.kubernetes import KubernetesEngine as Kubernetes

        return Kubernetes(client, namespace, ready_timeout=ready_timeout)

    return _needs("kubernetes", connect)


SESSION_KINDS: dict[SandboxBackend, type[Session]] = {
    SandboxBackend.DOCKER: SandboxDockerSession,
    SandboxBackend.PODMAN: SandboxPodmanSession,
    SandboxBackend.KUBERNETES: SandboxKubernetesSession,
    SandboxBackend.MICROMAMBA: MicromambaSession,
}
"""The session kind of each backend name of the reference API."""


def create_session(backend: SandboxBackend | str = SandboxBackend.DOCKER, *args: Any, **kwargs: Any) -> Session:
    """Create a session for ``backend`` (``docker``, ``podman``, ``kubernetes``, ``micromamba``).

    Open it with ``with`` (or ``open()``/``close()``). With ``pool=`` (a pool from
    ``llm_sandbox.pool.create_pool_manager``) the session takes a container from the pool
    when it opens and gives it back when it closes; the pool's backend and container
    options apply, and only a session's own options (timeouts, policy, output limits,
    libraries to add...) may be given here.
    """
    pool = kwargs.get("pool")
    if pool is not None:
        if args:
            raise ValidationError("with pool=, give the session's options by keyword")
        return pool.session_kind(**pool.session_options(backend, kwargs))  # type: ignore[no-any-return]
    try:
        kind = SandboxBackend(str(backend).lower())
    except ValueError:
        raise UnsupportedBackendError(str(backend), [b.value for b in SandboxBackend]) from None
    return SESSION_KINDS[kind](*args, **kwargs)


SandboxSession = create_session

__all__ = [
    "SESSION_KINDS",
    "MicromambaSession",
    "SandboxDockerSession",
    "SandboxKubernetesSession",
    "SandboxPodmanSession",
    "SandboxSession",
    "create_session",
]

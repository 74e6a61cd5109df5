"""Micromamba sessions on Docker, with a stand-in ``micromamba``.

No micromamba binary can be had on this machine (no conda channel, no
``mambaorg/micromamba`` image, no Debian or PyPI package ships the binary), so
these tests build ``llm-sandbox-test/micromamba`` from the Python image plus a
shell script that implements ``micromamba run -n ENV CMD...`` the way
micromamba does it: it fails for an environment that does not exist under
``$MAMBA_ROOT_PREFIX``, puts the environment's ``bin`` first on ``PATH``, sets
``CONDA_DEFAULT_ENV``/``CONDA_PREFIX`` and runs the command. It also logs each
call to ``/tmp/micromamba-calls.log``, so the tests can see which commands were
wrapped. What this checks is the session's side (every command wrapped, with
the right environment, and the session's behaviour unchanged), not micromamba.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from llm_sandbox import ArtifactSandboxSession, create_session
from llm_sandbox.exceptions import (
    ImageNotFoundError,
    PackageManagerError,
    ValidationError,
)
from llm_sandbox.sessions import MicromambaSession
from llm_sandbox.sessions.micromamba import DEFAULT_IMAGE, wrap_command
from tests.handshake import time_out_after

pytestmark = pytest.mark.integration

FAKE_MICROMAMBA = r"""#!/bin/sh
# Stand-in for micromamba in llm-sandbox's tests: implements `micromamba run -n ENV CMD [ARG...]` only.
[ "$1" = run ] && [ "$2" = -n ] && [ -n "$3" ] && [ -n "$4" ] || {
    echo "fake micromamba: only 'run -n ENV CMD...' is implemented" >&2; exit 2; }
env_name=$3; shift 3
root=${MAMBA_ROOT_PREFIX:-/opt/conda}
if [ "$env_name" = base ]; then prefix=$root; else prefix=$root/envs/$env_name; fi
if [ ! -d "$prefix/conda-meta" ]; then
    echo "critical libmamba Cannot activate, prefix does not exist at: '$prefix'" >&2
    exit 1
fi
printf '%s\t%s\n' "$env_name" "$*" >>/tmp/micromamba-calls.log 2>/dev/null
export CONDA_DEFAULT_ENV="$env_name" CONDA_PREFIX="$prefix" PATH="$prefix/bin:$PATH"
exec "$@"
"""

DOCKERFILE = """\
ARG BASE
FROM ${BASE}
USER root
COPY micromamba /usr/local/bin/micromamba
RUN set -eu; chmod 755 /usr/local/bin/micromamba; \\
    mkdir -p /opt/conda/conda-meta /opt/conda/bin; \\
    mkdir -p /opt/conda/envs/analysis/conda-meta /opt/conda/envs/analysis/bin; \\
    ln -s /usr/bin/python3 /opt/conda/envs/analysis/bin/python3; \\
    printf '#!/bin/sh\\necho "envtool sees $CONDA_DEFAULT_ENV"\\n' >/opt/conda/envs/analysis/bin/envtool; \\
    chmod 755 /opt/conda/envs/analysis/bin/envtool
ENV MAMBA_ROOT_PREFIX=/opt/conda
USER 1000:1000
"""


@pytest.fixture(scope="module")
def micromamba_image(docker_client: Any, python_image: str) -> Iterator[str]:
    base_id = docker_client.api.inspect_image(python_image)["Id"]
    digest = hashlib.sha256((DOCKERFILE + FAKE_MICROMAMBA + base_id).encode()).hexdigest()[:12]
    tag = f"llm-sandbox-test/micromamba:{digest}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        for name, text in (("Dockerfile", DOCKERFILE), ("micromamba", FAKE_MICROMAMBA)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    context.seek(0)
    build = docker_client.api.build(
        fileobj=context, custom_context=True, tag=tag, buildargs={"BASE": python_image},
        rm=True, forcerm=True, pull=False, decode=True, network_mode="none",
    )  # fmt: skip
    for _ in build:
        pass
    yield tag
    with contextlib.suppress(Exception):  # still used by a container of another test run: left for it
        docker_client.api.remove_image(tag)


def _calls(session: Any) -> list[tuple[str, str]]:
    log = session.execute_command("cat /tmp/micromamba-calls.log").stdout
    return [tuple(line.split("\t", 1)) for line in log.splitlines()]  # type: ignore[misc]


def test_wrap_command() -> None:
    assert wrap_command("echo 'a b'", "analysis") == "micromamba run -n analysis sh -c 'echo '\"'\"'a b'\"'\"''"
    for bad in ("", "a b", "x;rm -rf /", "../etc", "$(id)", "-n"):
        with pytest.raises(ValidationError, match="environment"):
            wrap_command("true", bad)


def test_code_and_commands_run_in_the_environment(micromamba_image: str) -> None:
    with MicromambaSession(image=micromamba_image, environment="analysis", lang="python") as session:
        result = session.run("import os, sys\nprint(sys.executable)\nprint(os.environ['CONDA_DEFAULT_ENV'])")
        assert result.stdout == "/opt/conda/envs/analysis/bin/python3\nanalysis\n", result.stderr
        assert session.execute_command("envtool").stdout == "envtool sees analysis\n"
        assert session.execute_command("echo $CONDA_PREFIX", workdir="/tmp").stdout == "/opt/conda/envs/analysis\n"
        calls = _calls(session)
        # each run and command (the `cat` of the log too) went through `micromamba run -n analysis sh -c`;
        # nothing else did (the run wrapper and the copies run outside the environment)
        assert [env for env, _ in calls] == ["analysis"] * 4
        assert all(argv.startswith("sh -c ") for _, argv in calls)


def test_default_environment_is_base(micromamba_image: str) -> None:
    with create_session("micromamba", image=micromamba_image, lang="python") as session:
        assert isinstance(session, MicromambaSession)
        assert session.environment == "base"
        assert session.execute_command("echo $CONDA_DEFAULT_ENV").stdout == "base\n"
        assert session.execute_command("envtool").exit_code == 127  # only in the analysis environment


def test_session_behaviour_is_unchanged(micromamba_image: str) -> None:
    with MicromambaSession(image=micromamba_image, environment="analysis", lang="python") as session:
        failed = session.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
        assert (failed.exit_code, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
        assert session.run("input()").stderr.strip().endswith("EOFError: EOF when reading a line")
        code = "import subprocess, time\nsubprocess.Popen(['sleep', '300'])\nprint('started', flush=True)\n"
        code += "time.sleep(300)"
        time_out_after("started", lambda timeout, out: session.run(code, timeout=timeout, on_stdout=out))
        processes = session.execute_command("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
        assert "sleep 300" not in processes and "time.sleep" not in processes
        assert session.run("print('still usable')").stdout == "still usable\n"
        probe = session.run("import os\nprint(os.getuid(), sorted(os.listdir('/sys/class/net')))")
        assert probe.stdout == "1000 ['lo']\n"


def test_missing_environment_is_the_commands_failure(micromamba_image: str) -> None:
    with MicromambaSession(image=micromamba_image, environment="nope", lang="python") as session:
        result = session.run("print('never')")
        assert result.exit_code == 1 and result.stdout == ""
        assert "/opt/conda/envs/nope" in result.stderr
        with pytest.raises(PackageManagerError, match="envs/nope"):  # the installer runs in it too
            session.install(["six"])


def test_libraries_are_installed_with_the_environments_python(micromamba_image: str) -> None:
    with MicromambaSession(image=micromamba_image, environment="analysis", lang="python") as session:
        result = session.run("import six, sys\nprint(six.__name__, sys.executable)", libraries=["six"])
        assert result.stdout == "six /opt/conda/envs/analysis/bin/python3\n", result.stderr


def test_artifacts_work_through_the_wrapper(micromamba_image: str) -> None:
    with ArtifactSandboxSession(backend="micromamba", image=micromamba_image, environment="analysis",
                                lang="python") as session:  # fmt: skip
        result = session.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nprint('drawn')")
        assert result.stdout == "drawn\n", result.stderr
        assert len(result.plots) == 1


def test_invalid_environment_is_refused_before_anything_is_created() -> None:
    with pytest.raises(ValidationError, match="environment"):
        MicromambaSession(environment="base; rm -rf /")


def test_missing_image_names_the_image_and_the_fix() -> None:
    assert MicromambaSession(lang="python").image == DEFAULT_IMAGE
    missing = f"{DEFAULT_IMAGE.split(':')[0]}:llm-sandbox-test-{uuid.uuid4().hex[:8]}"  # never present
    with pytest.raises(ImageNotFoundError) as caught:
        MicromambaSession(lang="python", image=missing).open()
    assert missing in str(caught.value)
    assert f"docker pull {missing}" in str(caught.value) and "micromamba" in str(caught.value)

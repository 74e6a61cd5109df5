"""The Kubernetes backend's exec and copy protocol, through the real client, against a kubelet double.

No cluster can run here. ``tests/k8s_kubelet_double.py`` serves kmock's Kubernetes API on
127.0.0.1 and **stands in for a kubelet**: it runs each pod's container in the local Docker
daemon (from the pod spec the backend wrote) and answers ``pods/exec`` with the real websocket
protocol (``v4.channel.k8s.io``/``v5``, channel-prefixed binary frames, exit status as JSON on
channel 3). The backend and the official ``kubernetes`` client code run unchanged, so the
session behaviour suite of ``test_session.py`` is run here again, on Kubernetes. What only a real
cluster can show (scheduling, image pulls, NetworkPolicy enforcement) is in
``test_kubernetes_cluster.py``.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import ContainerError, InteractiveSandboxSession, SandboxTimeoutError, create_session
from llm_sandbox.exceptions import ImagePullError
from llm_sandbox.pool import PoolConfig, create_pool_manager
from llm_sandbox.sessions import SandboxKubernetesSession, Session
from tests.handshake import time_out_after
from tests.integration.test_session import (  # noqa: F401 - the shared behaviour suite, collected and run here on Kubernetes
    SURVIVOR,
    check_kills_spare_the_containers_own_processes,
    test_an_interrupted_run_is_finished_before_the_next_starts,
    test_code_file_shadows_no_stdlib_module_and_is_removed,
    test_concurrent_runs_in_one_session_are_serialised,
    test_copies_refuse_device_files,
    test_copy_errors,
    test_copy_files_and_directories_both_ways,
    test_empty_command_is_refused,
    test_encoding_errors,
    test_environment_has_no_host_secrets,
    test_execute_command_has_shell_semantics,
    test_execute_commands_stops_at_first_failure,
    test_execution_timeout_and_default_timeout,
    test_hello_world_exit_codes_and_stderr,
    test_huge_output_does_not_exhaust_host_memory,
    test_input_gets_eof_instead_of_hanging,
    test_invalid_utf8_is_replaced_by_default,
    test_is_safe_without_policy,
    test_library_names_are_validated,
    test_memory_limit_kills_a_memory_bomb,
    test_modules_written_to_the_workdir_are_importable,
    test_output_is_capped_at_one_mib_per_stream_by_default,
    test_output_is_capped_with_a_notice,
    test_secure_defaults,
    test_session_timeout_closes_the_session,
    test_session_timeout_interrupts_a_running_run,
    test_stdout_is_exactly_what_was_printed,
    test_streaming_callbacks_receive_output_while_running,
    test_timeout_kills_the_whole_process_tree_and_session_survives,
    test_traceback_keeps_user_line_numbers,
    test_unicode_round_trips,
    test_unsafe_archive_members_are_refused,
)
from tests.k8s_kubelet_double import V4, V5, FakeCluster
from tests.waits import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=[V4, V5])
def cluster(request: pytest.FixtureRequest, docker_client: Any, python_image: str) -> Iterator[FakeCluster]:
    with FakeCluster(docker_client, protocols=(request.param,)) as running:
        yield running
    assert not docker_client.containers.list(all=True, filters={"label": running.label}), "pods left running"


@pytest.fixture
def make_session(cluster: FakeCluster) -> Iterator[Callable[..., Session]]:
    """Sessions on Kubernetes (the kubelet double); overrides the Docker/Podman fixture of conftest."""
    opened: list[Session] = []
    before = cluster.exec_count

    def factory(**kwargs: Any) -> Session:
        kwargs.setdefault("lang", "python")
        session = create_session("kubernetes", client=cluster.api, **kwargs)
        opened.append(session)
        return session.open()

    yield factory
    for session in opened:
        session.close()
    assert cluster.exec_count >= before
    eventually(lambda: cluster.pods() == [], "deleting every pod the sessions created")


# beyond the shared suite ----------------------------------------------------
def test_commands_really_go_through_the_exec_stream(make_session: Any, cluster: FakeCluster) -> None:
    before = cluster.exec_count
    session = make_session()
    assert session.run("print('via exec')").stdout == "via exec\n"
    assert cluster.exec_count == before + 1
    assert isinstance(session, SandboxKubernetesSession)


def test_large_code_and_binary_output_cross_the_stream_intact(make_session: Any) -> None:
    session = make_session()
    code = ("#" + "x" * 99 + "\n") * 30_000 + "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 4)\n"
    assert len(code) > 3_000_000  # about 90 stdin frames
    result = session.run(code, timeout=60)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (bytes(range(256)) * 4).decode("utf-8", "replace")


def test_binary_files_round_trip(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    payload = bytes(range(256)) * 20_000  # 5 MB through stdin frames
    (tmp_path / "blob.bin").write_bytes(payload)
    session.copy_to_runtime(str(tmp_path / "blob.bin"), "blob.bin")
    digest = session.execute_command("sha256sum blob.bin").stdout.split()[0]
    assert digest == hashlib.sha256(payload).hexdigest()
    session.copy_from_runtime("blob.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == payload


def test_timeout_kills_inside_the_pod_not_the_pod(make_session: Any, cluster: FakeCluster) -> None:
    session = make_session()
    pod = session.container_id
    time_out_after(
        "started",
        lambda timeout, out: session.execute_command(
            "sleep 120 & sleep 121 & echo started; wait", timeout=timeout, on_stdout=out
        ),
    )
    processes = session.execute_command("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    assert "sleep 120" not in processes and "sleep 121" not in processes
    assert [p["metadata"]["name"] for p in cluster.pods()] == [pod]
    assert session.run("print('same pod')").stdout == "same pod\n"


def test_exec_into_a_deleted_pod_is_a_clear_error(make_session: Any, cluster: FakeCluster) -> None:
    session = make_session()
    cluster.api.delete_namespaced_pod(session.container_id, "default", _preload_content=False)
    eventually(lambda: ("default", session.container_id) not in cluster.containers, "the kubelet removing the pod")
    with pytest.raises(ContainerError):
        session.run("print(1)")


def test_attach_to_an_existing_pod_leaves_it_and_its_processes_running(
    cluster: FakeCluster, python_image: str
) -> None:
    api = cluster.api
    api.create_namespaced_pod("default", {
        "metadata": {"name": "existing"},
        "spec": {"containers": [{
            "name": "main", "image": python_image, "command": ["sleep", "300"], "workingDir": "/sandbox",
            "securityContext": {"runAsUser": 1000},
        }]},
    })
    try:
        container = cluster.docker.containers.get(
            eventually(lambda: cluster.containers.get(("default", "existing")), "the kubelet starting the pod")
        )
        container.exec_run(SURVIVOR.split(), user="1000", detach=True)

        def processes() -> str:
            return str(container.exec_run(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).output.decode())

        attach = {"client": cluster.api, "container_id": "existing", "lang": "python"}
        with create_session("kubernetes", **attach) as session:
            check_kills_spare_the_containers_own_processes(session, processes)
        assert [p["metadata"]["name"] for p in cluster.pods()] == ["existing"]
        assert SURVIVOR in processes()
    finally:
        api.delete_namespaced_pod("existing", "default", _preload_content=False)


def test_no_pod_left_after_failure_paths(cluster: FakeCluster) -> None:
    with pytest.raises(ImagePullError, match="no-such-image:1"):
        create_session("kubernetes", client=cluster.api, image="no-such-image:1", lang="python").open()
    with pytest.raises(RuntimeError), create_session("kubernetes", client=cluster.api, lang="python"):
        raise RuntimeError("user code failed")
    with pytest.raises(SandboxTimeoutError), create_session("kubernetes", client=cluster.api) as session:
        session.run("while True: pass", timeout=1)

    def interrupt(_: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), create_session("kubernetes", client=cluster.api) as session:
        session.run("import time\nwhile True:\n    print('tick', flush=True); time.sleep(0.1)",
                    on_stdout=interrupt)
    assert cluster.pods() == []


# libraries: installer pod + copy -----------------------------------------------
def _wheel(name: str, version: str, module: str, source: str) -> tuple[str, bytes]:
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{module}/__init__.py": source.encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    ) + f"{dist}.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist}.dist-info/RECORD", record)
    return f"{dist}-py3-none-any.whl", buffer.getvalue()


@pytest.fixture
def package_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 with one tiny wheel; the installer pod is pointed at it."""
    filename, data = _wheel("llm-sandbox-probe", "1.0", "llm_sandbox_probe", "VALUE = 'from the index'\n")
    project = tmp_path / "simple" / "llm-sandbox-probe"
    project.mkdir(parents=True)
    (project / filename).write_bytes(data)
    (project / "index.html").write_text(f'<html><body><a href="{filename}">{filename}</a></body></html>')

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", url)
    for variable in ("PIP_EXTRA_INDEX_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(variable, raising=False)
    try:
        yield url
    finally:
        server.shutdown()


def test_install_runs_in_an_installer_pod_and_lands_in_the_sandbox(
    make_session: Any, cluster: FakeCluster, package_index: str
) -> None:
    session = make_session()
    output = session.install(["llm-sandbox-probe"])
    assert output.exit_code == 0, output.stderr
    result = session.run("import llm_sandbox_probe\nprint(llm_sandbox_probe.VALUE)")
    assert result.stdout == "from the index\n", result.stderr
    assert [p["metadata"]["name"] for p in cluster.pods()] == [session.container_id], "installer pod left"
    assert session.run("import os\nprint(sorted(os.listdir('/sys/class/net')))").stdout == "['lo']\n"
    assert session.install(["llm-sandbox-probe"]).exit_code == 0  # already there: nothing to do


def test_install_failure_is_reported_and_cleaned_up(
    make_session: Any, cluster: FakeCluster, package_index: str
) -> None:
    from llm_sandbox.exceptions import PackageManagerError

    session = make_session()
    with pytest.raises(PackageManagerError, match="no-such-package-xyz"):
        session.install(["no-such-package-xyz"])
    assert [p["metadata"]["name"] for p in cluster.pods()] == [session.container_id]


def test_a_process_that_exits_before_reading_stdin_reports_its_status(make_session: Any) -> None:
    session = make_session()
    backend = session.backend
    code = backend.exec(session.container_id, ["sh", "-c", "echo early >&2; exit 5"], stdin=b"x" * 5_000_000,
                        deadline=time.monotonic() + 120)
    assert code == 5


HELLO = {
    "python": "print('hello')",
    "javascript": "console.log('hello')",
    "ruby": "puts 'hello'",
    "r": "cat('hello\\n')",
    "java": 'public class Main { public static void main(String[] a) { System.out.println("hello"); } }',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello\\n"; }',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }',
}


@pytest.mark.parametrize("lang", sorted(HELLO))
def test_every_language_runs_in_a_pod(make_session: Any, docker_client: Any, lang: str) -> None:
    """Compiled languages build into and run from emptyDirs, which (unlike Docker's tmpfs) allow exec."""
    from llm_sandbox.languages import get_language, supported_languages

    if lang not in supported_languages():
        pytest.skip(f"{lang} is not registered")
    image = get_language(lang).config.default_image
    if not docker_client.images.list(name=image):
        pytest.skip(f"{image} is not built (llm-sandbox images build {lang})")
    result = make_session(lang=lang).run(HELLO[lang], timeout=120)
    assert (result.exit_code, result.stdout) == (0, "hello\n"), result.stderr


def test_interactive_kernel_keeps_state_interrupts_and_restarts_in_a_pod(cluster: FakeCluster) -> None:
    from llm_sandbox import InteractiveSandboxSession, SandboxTimeoutError

    with InteractiveSandboxSession(backend="kubernetes", client=cluster.api, lang="python") as kernel:
        kernel.run("total = 40")
        assert kernel.run("total += 2\ntotal").results[-1]["data"]["text/plain"] == "42"
        with pytest.raises(SandboxTimeoutError, match="state are kept"):
            kernel.run("import time\nwhile True:\n    time.sleep(0.05)", timeout=2)
        assert kernel.run("print(total)").stdout == "42\n"
        ignoring = (
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)"
        )
        with pytest.raises(SandboxTimeoutError, match="was lost"):
            kernel.run(ignoring, timeout=1)
        after = kernel.run("print('total' in dir())")
        assert after.stdout == "False\n" and "kernel was restarted" in after.stderr


# pools of pods ------------------------------------------------------------------
def test_a_pool_of_pods_resets_files_processes_packages_and_kernels(cluster: FakeCluster) -> None:
    """On Kubernetes the packages emptyDir is writable by the sandbox (pods cannot mount it read-only for
    one container and writable for another): the reset brings it back to the pool's base all the same."""
    leftovers = (
        "[ -e /sandbox/f ] && echo workdir; [ -e /tmp/f ] && echo tmp; [ -e /opt/sandbox-packages/evil.py ] && "
        "echo packages; cat /proc/[0-9]*/cmdline | tr '\\0' ' ' | grep -q 'sleep 100[1]' && echo process; true"
    )
    with create_pool_manager(cluster.api, backend="kubernetes", config=PoolConfig(max_pool_size=1)) as pool:
        with InteractiveSandboxSession(pool=pool) as first:
            pod = first.container_id
            first.run("secret = 1")
            first.execute_command(
                "echo x > /sandbox/f; echo x > /tmp/f; echo x > /opt/sandbox-packages/evil.py; "
                "setsid sleep 1001 >/dev/null 2>&1 &"
            )
            assert first.execute_command(leftovers).stdout.split() == ["workdir", "tmp", "packages", "process"]
        with InteractiveSandboxSession(pool=pool) as second:
            assert second.container_id == pod
            assert second.run("print('secret' in dir())").stdout == "False\n"
            assert second.execute_command(leftovers).stdout == ""
        assert pool.get_stats()["reused"] == 1
    deadline = time.monotonic() + 30
    while cluster.pods() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cluster.pods() == [], "the pool left pods behind"

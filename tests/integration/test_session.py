"""The session library's behaviour on real engines (parametrised over backends) with real images."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import (
    ContainerError,
    ImageNotFoundError,
    LanguageNotSupportedError,
    NotOpenSessionError,
    SandboxTimeoutError,
    UnsupportedBackendError,
    ValidationError,
    create_session,
)
from llm_sandbox.contract import SESSION_LABEL
from llm_sandbox.exceptions import SessionClosedError
from tests.handshake import ReleaseWhenSeen, time_out_after, wait_for_release
from tests.waits import eventually

pytestmark = pytest.mark.integration


# running code --------------------------------------------------------------
def test_hello_world_exit_codes_and_stderr(make_session: Any) -> None:
    session = make_session()
    ok = session.run("print('Hello, World!')")
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "Hello, World!\n", "")
    assert ok.success()
    failed = session.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert (failed.exit_code, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
    assert not failed.success()


def test_stdout_is_exactly_what_was_printed(make_session: Any) -> None:
    result = make_session().run("import sys\nsys.stdout.write('no newline')")
    assert result.stdout == "no newline"
    assert result.stderr == ""


def test_traceback_keeps_user_line_numbers(make_session: Any) -> None:
    result = make_session().run("x = 1\ny = 2\n\nraise ValueError('boom')\n")
    assert result.exit_code == 1
    assert "line 4, in <module>" in result.stderr
    assert "ValueError: boom" in result.stderr


def test_code_file_shadows_no_stdlib_module_and_is_removed(make_session: Any) -> None:
    session = make_session()
    result = session.run("import code, os\nprint(code.__file__)\nprint(sorted(os.listdir('.')))")
    assert result.stdout.splitlines()[0].startswith("/usr/lib/python3")
    assert result.stdout.splitlines()[1] == "[]"
    leftovers = session.execute_command("find /tmp/llm-sandbox -name 'main.*' | wc -l").stdout.strip()
    assert leftovers == "0"


def test_modules_written_to_the_workdir_are_importable(make_session: Any) -> None:
    session = make_session()
    session.run("open('helper.py', 'w').write('VALUE = 42\\n')")
    assert session.run("import helper; print(helper.VALUE)").stdout == "42\n"


def test_streaming_callbacks_receive_output_while_running(make_session: Any) -> None:
    """The code prints a line, then waits until the host's callback has seen it: it ends only if output streamed."""
    session = make_session()
    release = ReleaseWhenSeen(session, "first\n")
    result = session.run(f"print('first', flush=True)\n{wait_for_release()}print('second')", on_stdout=release)
    assert (result.exit_code, result.stderr) == (0, "")
    assert release.text == result.stdout == "first\nsecond\n"


def test_input_gets_eof_instead_of_hanging(make_session: Any) -> None:
    result = make_session().run("input()", timeout=20)
    assert "EOFError" in result.stderr


# timeouts ------------------------------------------------------------------
def test_timeout_kills_the_whole_process_tree_and_session_survives(make_session: Any) -> None:
    session = make_session()
    code = (
        "import subprocess, time\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "subprocess.Popen(['setsid', 'sleep', '301'])\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n"
    )
    error = time_out_after("started", lambda timeout, out: session.run(code, timeout=timeout, on_stdout=out))
    assert error.timeout_duration in (2, 8, 30, 120)
    processes = session.execute_command("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout
    assert "sleep 300" not in processes and "sleep 301" not in processes and "time.sleep" not in processes
    assert session.run("print('still usable')").stdout == "still usable\n"


def test_the_code_cannot_trace_or_signal_the_keeper_and_timeouts_still_kill(make_session: Any) -> None:
    """PID 1 runs as root with CAP_KILL alone: PTRACE_ATTACH and signals from the code fail (issue 15)."""
    session = make_session()
    probe = session.run(
        "import ctypes, os, signal\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('ptrace', libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\n"  # PTRACE_ATTACH
        "for sig in (signal.SIGSTOP, signal.SIGKILL, signal.SIGUSR1):\n"
        "    try:\n"
        "        os.kill(1, sig)\n"
        "        print('signalled', sig)\n"
        "    except PermissionError:\n"
        "        print('refused', int(sig))\n"
        "print(open('/proc/1/status').read().split('State:')[1].split()[0])\n"
    )
    assert probe.stdout.splitlines() == ["ptrace -1 1", "refused 19", "refused 9", "refused 10", "S"], probe
    with pytest.raises(SandboxTimeoutError):
        session.run("import subprocess, time\nsubprocess.Popen(['sleep', '302'])\ntime.sleep(300)", timeout=2)
    assert "sleep 302" not in session.execute_command("cat /proc/[0-9]*/cmdline | tr '\\0' ' '").stdout


def test_execution_timeout_and_default_timeout(make_session: Any) -> None:
    with pytest.raises(SandboxTimeoutError):
        make_session(execution_timeout=1).run("import time; time.sleep(30)")
    session = make_session(default_timeout=1)
    with pytest.raises(SandboxTimeoutError):
        session.execute_command("sleep 30")
    assert session.run("print(1)", timeout=30).stdout == "1\n"


def test_session_timeout_interrupts_a_running_run(make_session: Any) -> None:
    session = make_session(session_timeout=2)
    with pytest.raises(SessionClosedError, match="session_timeout"):
        session.run("import time; time.sleep(600)", timeout=900)
    # the timer thread removes the container (the no_leaks check of make_session sees it go too)
    eventually(lambda: not session.engine.exists(session.container_id), "removing the expired session's container")


def test_session_timeout_closes_the_session(make_session: Any) -> None:
    session = make_session(session_timeout=1.5)
    assert session.run("print(1)").stdout == "1\n"
    eventually(lambda: not session.is_open, "the session_timeout closing the session")
    with pytest.raises(SessionClosedError, match="session_timeout"):
        session.run("print(2)")
    eventually(lambda: not session.engine.exists(session.container_id), "removing the expired session's container")
    assert isinstance(SessionClosedError(), NotOpenSessionError)


# output --------------------------------------------------------------------
def test_output_is_capped_with_a_notice(make_session: Any) -> None:
    result = make_session(max_output_bytes=1000).run("print('x' * 100_000)\nprint('tail')")
    assert result.stdout_truncated
    assert result.stdout.startswith("x" * 1000)
    assert "output truncated" in result.stdout
    assert "100006 bytes" in result.stdout


def test_output_is_capped_at_one_mib_per_stream_by_default(make_session: Any) -> None:
    session = make_session()
    exact = session.run("import sys\nsys.stdout.write('x' * 1048576)\nsys.stderr.write('e' * 1048576)")
    assert (exact.stdout, exact.stderr) == ("x" * 1048576, "e" * 1048576)
    assert not exact.stdout_truncated and not exact.stderr_truncated
    over = session.run("import sys\nsys.stdout.write('x' * 1048577)\nsys.stderr.write('e' * 1048586)")
    assert over.stdout_truncated and over.stderr_truncated
    assert over.stdout.startswith("x" * 1048576 + "\n[llm-sandbox: output truncated; kept the first 1048576 of 1048577")
    assert over.stderr.startswith("e" * 1048576 + "\n[llm-sandbox: output truncated; kept the first 1048576 of 1048586")


def test_invalid_utf8_is_replaced_by_default(make_session: Any) -> None:
    result = make_session().run("import sys\nsys.stdout.buffer.write(b'a\\xffb\\n')")
    assert result.stdout == "a\ufffdb\n"


@pytest.mark.slow
def test_huge_output_does_not_exhaust_host_memory(make_session: Any) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = make_session().run(
        "import sys\nblock = 'y' * 1048576\nfor _ in range(300):\n    sys.stdout.write(block)\n", timeout=120
    )
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.stdout_truncated and result.exit_code == 0
    assert grown_mib < 100, f"host memory grew by {grown_mib:.0f} MiB for 300 MiB of output"


@pytest.mark.parametrize(("errors", "expected"), [("replace", "a\ufffdb\n"), ("ignore", "ab\n")])
def test_encoding_errors(make_session: Any, errors: str, expected: str) -> None:
    result = make_session(encoding_errors=errors).run("import sys\nsys.stdout.buffer.write(b'a\\xffb\\n')")
    assert result.stdout == expected


def test_unicode_round_trips(make_session: Any) -> None:
    assert make_session().run("print('héllo wörld ✓ 日本')").stdout == "héllo wörld ✓ 日本\n"


# secure defaults -----------------------------------------------------------
def test_secure_defaults(make_session: Any) -> None:
    session = make_session()
    probe = session.run(
        "import os\n"
        "print(os.getuid(), os.getgid())\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0])\n"
        "print(sorted(os.listdir('/sys/class/net')))\n"
        "try:\n    open('/usr/evil', 'w')\nexcept OSError as e:\n    print('rootfs', e.errno)\n"
        "open('/sandbox/ok', 'w').write('ok'); open('/tmp/ok', 'w').write('ok'); print('writable')\n"
        "try:\n    open('/opt/sandbox-packages/x', 'w')\n    print('packages writable')\n"
        "except OSError as e:\n    print('packages', e.errno)\n"
    )
    uid_gid, caps, no_new_privs, interfaces, rootfs, writable, packages = probe.stdout.splitlines()
    assert uid_gid == "1000 1000"
    assert caps == "0000000000000000"
    assert no_new_privs == "1"
    assert interfaces == "['lo']"
    assert rootfs == "rootfs 30"  # EROFS
    assert writable == "writable"
    # Only the installer writes the disk-backed packages volume. Kubernetes copies packages in over
    # exec, so there it is a writable emptyDir (bounded by its sizeLimit).
    expected = "packages writable" if session.backend_name == "kubernetes" else "packages 30"
    assert packages == expected


def test_workdir_and_tmp_are_size_limited_tmpfs(make_session: Any) -> None:
    session = make_session()
    mounts = session.execute_command("grep -E ' (/sandbox|/tmp) ' /proc/mounts").stdout
    sizes = session.execute_command("df -k /sandbox /tmp | tail -2").stdout.split("\n")[:2]
    assert [line.split()[2] for line in mounts.splitlines()] == ["tmpfs", "tmpfs"], mounts
    assert [int(line.split()[1]) for line in sizes] == [512 * 1024, 256 * 1024]


def test_network_is_unreachable_even_for_host_loopback(make_session: Any) -> None:
    # A listener on the host's loopback: reachable from the host, not from the sandbox.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        result = make_session().run(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as e:\n"
            "    print('refused', type(e).__name__)\n"
        )
        assert result.stdout.startswith("refused"), result.stdout
    finally:
        server.close()


def test_pids_limit_stops_a_fork_bomb(make_session: Any) -> None:
    session = make_session()
    result = session.run(
        "import subprocess\nprocs = []\n"
        "try:\n    for _ in range(400):\n        procs.append(subprocess.Popen(['sleep', '60']))\n"
        "except OSError as e:\n    print('stopped at', len(procs))\n",
        timeout=60,
    )
    assert result.stdout.startswith("stopped at"), result.stdout + result.stderr
    assert int(result.stdout.split()[-1]) < 256


@pytest.mark.slow
def test_memory_limit_kills_a_memory_bomb(make_session: Any) -> None:
    result = make_session(runtime_configs={"mem_limit": "256m"}).run(
        "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))\n", timeout=60
    )
    assert result.exit_code == 137


def test_runtime_configs_override_defaults(make_session: Any, engine_client: Any) -> None:
    session = make_session(runtime_configs={"pids_limit": 77, "cpu_count": 0.5, "mem_limit": "300m"})
    host_config = engine_client.api.inspect_container(session.container_id)["HostConfig"]
    assert host_config["PidsLimit"] == 77
    assert host_config["NanoCpus"] == 500_000_000
    assert host_config["Memory"] == 300 * 1024 * 1024


# commands ------------------------------------------------------------------
def test_execute_command_has_shell_semantics(make_session: Any) -> None:
    session = make_session()
    result = session.execute_command("echo one | tr o O && X=2; echo $X; cd /tmp && pwd; id -u")
    assert result.stdout == "One\n2\n/tmp\n1000\n"  # sh -c, as the sandbox user
    assert session.execute_command("pwd", workdir="/tmp").stdout == "/tmp\n"
    assert session.execute_command("exit 7").exit_code == 7


def test_execute_commands_stops_at_first_failure(make_session: Any) -> None:
    session = make_session()
    result = session.execute_commands(["echo a > f1", ("pwd", "/tmp"), "false", "echo never > f2"])
    assert result.exit_code == 1
    assert session.execute_command("ls").stdout == "f1\n"
    assert session.execute_commands([("pwd", "/tmp")]).stdout == "/tmp\n"


def test_empty_command_is_refused(make_session: Any) -> None:
    with pytest.raises(ValidationError):
        make_session().execute_command("  ")


# files ---------------------------------------------------------------------
def test_copy_files_and_directories_both_ways(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    tree = tmp_path / "tree"
    (tree / "nested").mkdir(parents=True)
    (tree / "nested" / "x.txt").write_text("x")
    session.copy_to_runtime(str(tmp_path / "data.csv"), "/sandbox/in/deep/data.csv")
    session.copy_to_runtime(str(tree), "copied")
    listing = session.run("import os\nfor r, d, f in sorted(os.walk('.')):\n    print(r, sorted(f))")
    assert "./in/deep ['data.csv']" in listing.stdout
    assert "./copied/nested ['x.txt']" in listing.stdout
    assert session.execute_command("stat -c %u in/deep/data.csv").stdout == "1000\n"

    session.run("open('result.txt', 'w').write('from sandbox')")
    session.copy_from_runtime("result.txt", str(tmp_path / "out" / "result.txt"))
    assert (tmp_path / "out" / "result.txt").read_text() == "from sandbox"
    session.copy_from_runtime("/sandbox/copied", str(tmp_path / "back"))  # a directory lands inside dest
    assert (tmp_path / "back" / "copied" / "nested" / "x.txt").read_text() == "x"

    data, stat = session.get_archive("/sandbox/result.txt")
    assert stat["name"] == "result.txt" and stat["size"] == len("from sandbox")
    assert data[:100].count(b"result.txt") == 1


def test_copy_errors(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    with pytest.raises(FileNotFoundError):
        session.copy_to_runtime(str(tmp_path / "missing"), "/sandbox/x")
    with pytest.raises(FileNotFoundError):
        session.copy_from_runtime("/sandbox/missing", str(tmp_path / "x"))
    with pytest.raises(ValidationError):
        session.copy_from_runtime("../../etc/passwd", str(tmp_path / "x"))
    with pytest.raises(ValidationError):
        session.copy_to_runtime(str(tmp_path), "/")


def test_copies_refuse_device_files(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    with pytest.raises(ValidationError, match="device"):
        session.copy_to_runtime("/dev/null", "null")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "data.txt").write_text("kept")
    os.mkfifo(tree / "pipe")  # a special file, as tar sees devices: left out of the copy
    session.copy_to_runtime(str(tree), "tree")
    assert session.execute_command("ls -A tree").stdout == "data.txt\n"

    assert session.execute_command("mkfifo out-pipe").exit_code == 0
    with pytest.raises(ValidationError, match="unsafe"):
        session.copy_from_runtime("out-pipe", str(tmp_path / "out-pipe"))
    assert not (tmp_path / "out-pipe").exists()


def test_unsafe_archive_members_are_refused(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    session.execute_command("mkdir evil && ln -s /etc/passwd evil/link && ln -s ../../../../etc evil/up")
    with pytest.raises(ValidationError, match="unsafe"):
        session.copy_from_runtime("evil", str(tmp_path / "evil"))
    assert not (tmp_path / "evil").exists()


# libraries -----------------------------------------------------------------
def test_install_without_giving_the_sandbox_a_network(make_session: Any) -> None:
    session = make_session()
    result = session.run("import six\nprint(six.__name__)", libraries=["six"])
    assert result.stdout == "six\n", result.stderr
    assert session.run("import os\nprint(sorted(os.listdir('/sys/class/net')))").stdout == "['lo']\n"
    session.install(["six"])  # already there: nothing to do


@pytest.mark.parametrize("bad", ["numpy; rm -rf /", "$(reboot)", "--index-url=http://evil", "a b", "x`id`"])
def test_library_names_are_validated(make_session: Any, bad: str) -> None:
    with pytest.raises(ValidationError, match="invalid library name"):
        make_session().install([bad])


# attach, templates, commit -------------------------------------------------
SURVIVOR = "sleep 1001"
"""A process of the attached container's own, started before the session attaches."""


def check_kills_spare_the_containers_own_processes(session: Any, processes: Callable[[], str]) -> None:
    """In a container the library did not create, a kill stops the run's own processes only.

    ``processes()`` lists the container's command lines from outside the session; the test has
    started :data:`SURVIVOR` in the container beforehand.
    """
    eventually(lambda: SURVIVOR in processes(), "the container's own process starting")
    assert session.run("print('attached')").stdout == "attached\n"
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '302'])\nprint('started', flush=True)\ntime.sleep(600)"
    time_out_after("started", lambda timeout, out: session.run(code, timeout=timeout, on_stdout=out))
    left = processes()
    assert "sleep 302" not in left and "time.sleep" not in left, "the run's own processes survived"
    assert SURVIVOR in left, "the kill reached a process the run did not start"
    assert session.run("print('again')").stdout == "again\n"


def test_attach_to_existing_container_leaves_it_and_its_processes_running(
    make_session: Any, engine_client: Any, python_image: str
) -> None:
    container = engine_client.containers.run(
        python_image, ["sleep", "300"], detach=True, user="1000", network_mode="none", labels={"test": "attach"}
    )
    try:
        container.exec_run(SURVIVOR.split(), user="1000", detach=True)

        def processes() -> str:
            return str(container.exec_run(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).output.decode())

        session = make_session(container_id=container.id)
        check_kills_spare_the_containers_own_processes(session, processes)
        session.close()
        container.reload()
        assert container.status == "running"
        assert SURVIVOR in processes()
    finally:
        container.remove(force=True)


def test_attach_to_missing_container_is_a_clear_error(backend_name: str) -> None:
    with pytest.raises(ContainerError, match="does not exist"):
        create_session(backend_name, container_id="no-such-container-xyz", lang="python").open()


def test_dockerfile_template_is_removed_unless_kept(
    docker_client: Any, python_image: str, tmp_path: Path, no_leaks: None
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {python_image}\nENV TEMPLATE_MARK={time.time_ns()}\n")
    with create_session("docker", dockerfile=str(dockerfile), lang="python") as session:
        assert session.run("import os; print(os.environ['TEMPLATE_MARK'])").exit_code == 0
        template = session._built_template
    assert template and not docker_client.images.list(name=template)
    with create_session("docker", dockerfile=str(dockerfile), lang="python", keep_template=True) as session:
        template = session._built_template
    assert template and docker_client.images.list(name=template)
    docker_client.images.remove(template)


def test_commit_container_saves_workdir_and_packages(
    docker_client: Any, python_image: str, no_leaks: None
) -> None:
    with create_session("docker", lang="python", commit_container=True) as session:
        session.run("open('state.txt', 'w').write('kept')")
    image = session.committed_image
    assert image == f"llm-sandbox-commit/python:{session.session_id}"
    try:
        with create_session("docker", lang="python", image=image) as restored:
            assert restored.run("print(open('state.txt').read())").stdout == "kept\n"
    finally:
        docker_client.images.remove(image)


# lifecycle and errors ------------------------------------------------------
def test_open_is_idempotent_and_required(python_image: str, no_leaks: None) -> None:
    session = create_session("docker", lang="python", session_timeout=60)
    with pytest.raises(NotOpenSessionError, match="context manager"):
        session.run("print(1)")
    session.open()
    container_id = session.container_id
    assert session.open() is session and session.container_id == container_id
    assert session.is_open
    session.close()
    assert not session.is_open


def test_containers_are_labelled_and_removed(
    make_session: Any, docker_client: Any, backend_name: str
) -> None:
    session = make_session()
    if backend_name == "docker":
        labels = docker_client.api.inspect_container(session.container_id)["Config"]["Labels"]
        assert labels["llm-sandbox.session"] == session.session_id
    session.close()
    session.close()  # idempotent
    with pytest.raises(NotOpenSessionError):
        session.run("print(1)")


@pytest.mark.parametrize("round_", range(8))
def test_an_interrupted_run_is_finished_before_the_next_starts(make_session: Any, round_: int) -> None:
    """Interrupt from another thread, then run again at once: the kill never reaches the new run.

    The first run signals the test through its output (a handshake, not a sleep) once it has
    started a child that ignores SIGTERM; the interrupt arrives while it is blocked.
    """
    session = make_session()
    ready = threading.Event()
    interrupted: list[bool] = []

    def on_stdout(text: str) -> None:
        if "ready" in text and not ready.is_set():
            ready.set()
            interrupted.append(session.interrupt())

    code = (
        "import signal, subprocess, time\n"
        "subprocess.Popen(['sh', '-c', 'trap \"\" TERM; sleep 600'])\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: holder.update(result=session.run(code, on_stdout=on_stdout)))
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the interrupted run did not return"
    assert interrupted == [True]
    assert holder["result"].exit_code in (125, 137)
    after = session.run("import os\nprint('next', os.getpid() > 0)")
    assert (after.exit_code, after.stdout) == (0, "next True\n"), after.stderr
    assert "sleep 600" not in _command_lines(session), "a process of the interrupted run survived"


def _command_lines(session: Any) -> str:
    """The command lines of every process in the sandbox (the images have no ``ps``)."""
    listing = session.run(
        "import glob\n"
        "for path in glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n"
        "        print(open(path, 'rb').read().replace(b'\\0', b' ').decode())\n"
        "    except OSError:\n"
        "        pass\n"
    )
    assert listing.exit_code == 0 and "python3" in listing.stdout, listing.stderr  # it sees itself
    return listing.stdout


def test_no_container_or_volume_left_on_success_and_failure_paths(backend_name: str, no_leaks: None) -> None:
    with create_session(backend_name, lang="python") as session:
        labelled = session.backend.list_labelled(f"{SESSION_LABEL}={session.session_id}")
        assert {entry["kind"] for entry in labelled} == {"container", "volume"}
        session.run("print(1)", libraries=["six"])  # an installer container comes and goes
    assert not session.backend.list_labelled(f"{SESSION_LABEL}={session.session_id}")

    with pytest.raises(ImageNotFoundError, match="no-such-image"):
        create_session(backend_name, image="no-such-image:1", lang="python").open()
    with pytest.raises(RuntimeError), create_session(backend_name, lang="python") as session:
        raise RuntimeError("user code failed")
    with pytest.raises(SandboxTimeoutError), create_session(backend_name, lang="python") as session:
        session.run("while True: pass", timeout=1)

    def interrupt(_: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), create_session(backend_name, lang="python") as session:
        session.run(
            "import time\nwhile True:\n    print('tick', flush=True); time.sleep(0.1)", on_stdout=interrupt
        )


def test_open_with_bad_arguments_creates_nothing(docker_client: Any, no_leaks: None) -> None:
    with pytest.raises(LanguageNotSupportedError, match="python"):
        create_session("docker", lang="cobol")
    with pytest.raises(UnsupportedBackendError, match="docker"):
        create_session("lxc")
    with pytest.raises(ValidationError):
        create_session("docker", lang="python", no_such_option=1)


def test_gc_removes_orphans_only(docker_client: Any, python_image: str) -> None:
    from llm_sandbox.engines.docker import DockerEngine
    from llm_sandbox.gc import collect

    orphan = docker_client.containers.create(
        python_image,
        ["sleep", "60"],
        labels={
            "llm-sandbox.session": "orphan-test",
            "llm-sandbox.owner": f"{socket.gethostname()}/999999999",
        },
    )
    with create_session("docker", lang="python") as live:
        removed = collect(DockerEngine(docker_client))
        assert any(orphan.id[:24] in entry for entry in removed)
        assert live.run("print('alive')").stdout == "alive\n"
    assert not docker_client.containers.list(all=True, filters={"id": orphan.id})


def test_concurrent_runs_in_one_session_are_serialised(make_session: Any) -> None:
    session = make_session()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(session.run(f"print({i})").stdout))
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [f"{i}\n" for i in range(4)]


def test_is_safe_without_policy(make_session: Any) -> None:
    assert make_session().is_safe("import os") == (True, [])


def test_missing_default_image_is_provided_on_open(docker_client: Any, python_image: str, no_leaks: None) -> None:
    """A missing default image is (re)built on open instead of failing; here the builder finds an image
    with the same content hash under another tag and restores the name without a full build."""
    from llm_sandbox.images import builder

    builder.ensure_image("ruby", docker_client)
    name = builder.image_name("ruby")
    backup = "llm-sandbox-test/ruby-backup:latest"
    docker_client.images.get(name).tag(backup)
    docker_client.images.remove(name)
    try:
        with create_session("docker", lang="ruby") as session:
            assert session.run('puts "back"').stdout == "back\n"
        assert docker_client.images.get(name)
    finally:
        docker_client.images.remove(backup)


def test_missing_user_image_names_the_image_and_the_fix() -> None:
    with pytest.raises(ImageNotFoundError) as caught:
        create_session("docker", image="example.invalid/nothing:1", lang="python").open()
    assert "example.invalid/nothing:1" in str(caught.value)
    assert "docker pull" in str(caught.value)


def test_environment_has_no_host_secrets(make_session: Any) -> None:
    os.environ["LLM_SANDBOX_TEST_SECRET"] = "s3cret"
    try:
        assert "s3cret" not in make_session().run("import os; print(os.environ)").stdout
    finally:
        del os.environ["LLM_SANDBOX_TEST_SECRET"]


@pytest.fixture
def loopback_registry(tmp_path: Path) -> Any:
    """A real registry (Debian's docker-registry) on 127.0.0.1, stopped after the test."""
    import shutil
    import subprocess

    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (scripts/test.sh installs it)")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: _accepts(port), "the registry listening")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_missing_user_image_is_pulled(docker_client: Any, loopback_registry: str, no_leaks: None) -> None:
    from llm_sandbox.images import builder

    image = f"{loopback_registry}/llm-sandbox-pull-test:1"
    docker_client.images.get(builder.ensure_image("ruby", docker_client)).tag(image)
    docker_client.images.push(image)
    docker_client.images.remove(image)
    try:
        with create_session("docker", lang="ruby", image=image) as session:
            assert session.run('puts "pulled"').stdout == "pulled\n"
        assert docker_client.images.get(image)
    finally:
        with contextlib.suppress(Exception):
            docker_client.images.remove(image)

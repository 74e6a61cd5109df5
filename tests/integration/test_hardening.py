"""What a hostile program or a hostile tool call can still do to the host: regression tests on real engines.

Each test here guards one row of the table in ``docs/security.md`` (issue #15): copies that stream
and are bounded, reads that read only what is shown, timeouts that are checked, library names that
are only names, an installer that cannot reach this machine's loopback, sessions that never outlive
their object.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import ResourceError, ValidationError
from llm_sandbox.exceptions import ArtifactLimitError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def tree(root: Path) -> list[str]:
    """Every path under ``root``, relative, directories with a trailing slash."""
    return sorted(
        str(path.relative_to(root)) + ("/" if path.is_dir() and not path.is_symlink() else "")
        for path in root.rglob("*")
    )


# copies out of the sandbox: where they land (issue #18) ------------------------------------------
def _make_tree(session: Any) -> None:
    made = session.execute_command(
        "mkdir -p out_dir/sub && echo a > out_dir/a.txt && echo b > out_dir/sub/b.txt && echo f > f.txt"
    )
    assert made.exit_code == 0, made.stderr


def test_copies_land_where_docker_cp_and_the_reference_put_them(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    _make_tree(session)

    session.copy_from_runtime("f.txt", str(tmp_path / "c1/new.txt"))  # file -> new path: that file
    (tmp_path / "c2/existing").mkdir(parents=True)
    session.copy_from_runtime("/sandbox/f.txt", str(tmp_path / "c2/existing"))  # file -> dir: inside it
    session.copy_from_runtime("out_dir", str(tmp_path / "c3/new"))  # dir -> new path: dest/out_dir/...
    (tmp_path / "c4/existing").mkdir(parents=True)
    (tmp_path / "c4/existing/kept.txt").write_text("mine")
    session.copy_from_runtime("out_dir", str(tmp_path / "c4/existing"))  # dir -> dir: dest/out_dir/...
    (tmp_path / "c5").mkdir()
    (tmp_path / "c5/old.txt").write_text("old")
    session.copy_from_runtime("f.txt", str(tmp_path / "c5/old.txt"))  # file -> existing file: replaced

    assert tree(tmp_path) == [
        "c1/", "c1/new.txt",
        "c2/", "c2/existing/", "c2/existing/f.txt",
        "c3/", "c3/new/", "c3/new/out_dir/", "c3/new/out_dir/a.txt", "c3/new/out_dir/sub/", "c3/new/out_dir/sub/b.txt",
        "c4/", "c4/existing/", "c4/existing/kept.txt", "c4/existing/out_dir/", "c4/existing/out_dir/a.txt",
        "c4/existing/out_dir/sub/", "c4/existing/out_dir/sub/b.txt",
        "c5/", "c5/old.txt",
    ]  # fmt: skip
    assert (tmp_path / "c3/new/out_dir/sub/b.txt").read_text() == "b\n"
    assert (tmp_path / "c5/old.txt").read_text() == "f\n"

    (tmp_path / "c6").write_text("a file")
    with pytest.raises(NotADirectoryError, match="copied into a directory"):
        session.copy_from_runtime("out_dir", str(tmp_path / "c6"))
    assert (tmp_path / "c6").read_text() == "a file"
    assert not [p for p in tmp_path.rglob(".llm-sandbox-copy-*")], "a staging directory was left behind"


# copies out of the sandbox: bounded and streamed (issue #15, item 1) -------------------------------
def test_a_huge_sparse_file_is_refused_before_it_costs_this_machine_anything(
    make_session: Any, tmp_path: Path
) -> None:
    session = make_session()
    made = session.execute_command("truncate -s 4G /sandbox/sparse && mkdir d && truncate -s 3G d/inner")
    assert made.exit_code == 0, made.stderr
    for source, dest in (("sparse", tmp_path / "sparse"), ("d", tmp_path / "d")):
        with pytest.raises(ResourceError, match=r"more than 512 MiB .*max_copy_bytes="):
            session.copy_from_runtime(source, str(dest))
    with pytest.raises(ResourceError, match="max_copy_bytes"):
        session.get_archive("sparse")
    assert tree(tmp_path) == [], "a refused copy left files behind"
    assert session.run("print('still usable')").stdout == "still usable\n"


def test_the_copy_limit_is_the_sessions_to_set(make_session: Any, tmp_path: Path) -> None:
    session = make_session(max_copy_bytes=64 * 1024)
    session.execute_command("head -c 40000 /dev/zero > small && head -c 70000 /dev/zero > big")
    session.copy_from_runtime("small", str(tmp_path / "small"))
    assert (tmp_path / "small").stat().st_size == 40000
    with pytest.raises(ResourceError, match=r"more than 65536 bytes .*max_copy_bytes= \(now 65536\)"):
        session.copy_from_runtime("big", str(tmp_path / "big"))
    with pytest.raises(ResourceError, match="max_copy_bytes"):
        session.get_archive("big")
    assert not (tmp_path / "big").exists()
    with pytest.raises(ValidationError, match="max_copy_bytes"):
        make_session(max_copy_bytes=0)


_MEASURE_COPY = textwrap.dedent(
    """
    import json, resource, sys
    from llm_sandbox import create_session
    backend, dest = sys.argv[1], sys.argv[2]
    with create_session(backend, lang="python", max_copy_bytes=400 * 2**20) as session:
        session.execute_command("truncate -s 300M /sandbox/sparse")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        session.copy_from_runtime("/sandbox/sparse", dest)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"grew_kib": after - before}))
    """
)


@pytest.mark.slow
def test_a_copy_streams_to_disk_instead_of_holding_the_archive_in_memory(
    backend_name: str, tmp_path: Path
) -> None:
    """In a fresh process (its peak memory is its own): pulling 300 MB raises the peak by far less."""
    dest = tmp_path / "sparse"
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE_COPY, backend_name, str(dest)],
        capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT / "toolkit")},
    )  # fmt: skip
    assert measured.returncode == 0, measured.stderr
    grew_mib = json.loads(measured.stdout.strip().splitlines()[-1])["grew_kib"] / 1024
    assert dest.stat().st_size == 300 * 2**20
    assert grew_mib < 64, f"the copy raised this process's peak memory by {grew_mib:.0f} MiB"


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        ("mkdir t && ln -s /etc/passwd t/link", "outside the copied tree"),
        ("mkdir t && ln -s ../../etc t/up", "outside the copied tree"),
        ("mkdir -p t/in && ln -s .. t/in/up && ln -s ../.. t/in/out", "outside the copied tree"),
        ("mkdir t && mkfifo t/pipe", "device files and pipes"),
    ],
)
def test_links_leaving_the_tree_and_pipes_are_refused(
    make_session: Any, tmp_path: Path, setup: str, why: str
) -> None:
    session = make_session()
    assert session.execute_command(setup).exit_code == 0
    with pytest.raises(ValidationError, match=why):
        session.copy_from_runtime("t", str(tmp_path / "dest"))
    assert tree(tmp_path) == []


def test_in_tree_links_and_odd_names_are_copied(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    made = session.execute_command(
        "mkdir -p 't/new\nline/x' && echo hi > 't/new\nline/x/f' && ln -s 'new\nline/x/f' t/ok && ln t/ok t/hard"
        " && printf 'name\\n../../evil\\n' > 't/ -T list'"
    )
    assert made.exit_code == 0, made.stderr
    session.copy_from_runtime("t", str(tmp_path))
    copied = tmp_path / "t"
    assert (copied / "new\nline/x/f").read_text() == "hi\n"
    assert (copied / "ok").is_symlink() and (copied / "ok").read_text() == "hi\n"
    assert (copied / " -T list").read_text() == "name\n../../evil\n"
    assert not (tmp_path.parent / "evil").exists()


def test_copies_into_the_sandbox_stream_from_disk(make_session: Any, tmp_path: Path) -> None:
    session = make_session()
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(40 * 2**20)
        handle.seek(0)
        handle.write(b"start")
    (tmp_path / "dir/sub").mkdir(parents=True)
    (tmp_path / "dir/sub/x.txt").write_text("x")
    session.copy_to_runtime(str(big), "/sandbox/in/big.bin")
    session.copy_to_runtime(str(tmp_path / "dir"), "/sandbox/in/dir")
    listing = session.execute_command("stat -c '%s %U' in/big.bin && head -c 5 in/big.bin; echo; cat in/dir/sub/x.txt")
    assert listing.stdout == f"{40 * 2**20} sandbox\nstart\nx", listing.stderr
    with pytest.raises(FileNotFoundError):
        session.copy_from_runtime("missing", str(tmp_path / "missing"))


def test_get_archive_returns_the_tar_and_its_stat(make_session: Any) -> None:
    session = make_session()
    session.execute_command("printf 12345 > five")
    data, stat = session.get_archive("five")
    assert stat["name"] == "five" and stat["size"] == 5
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        handle = archive.extractfile("five")
        assert handle is not None and handle.read() == b"12345"


# timeouts (issue #15, item 6) ----------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0, 1e12, "5", True], ids=repr)
def test_degenerate_run_timeouts_are_validation_errors_and_the_session_stays_usable(
    make_session: Any, value: object
) -> None:
    session = make_session()
    with pytest.raises(ValidationError, match="timeout"):
        session.run("print(1)", timeout=value)
    with pytest.raises(ValidationError, match="timeout"):
        session.execute_command("true", timeout=value)
    assert session.run("print(2)", timeout=30).stdout == "2\n"


def test_an_unrelated_overflow_error_is_not_taken_for_an_artifact_overflow(make_session: Any) -> None:
    session = make_session()

    def callback(text: str) -> None:
        raise OverflowError("the caller's own overflow")

    with pytest.raises(OverflowError, match="the caller's own overflow"):
        session.run("print('x')", on_stdout=callback)
    assert not issubclass(OverflowError, ResourceError) and issubclass(ArtifactLimitError, ResourceError)
    assert session.run("print(3)").stdout == "3\n"


# the agent tools' read_file (issue #15, item 2) -----------------------------------------------------
@pytest.fixture
def operations(backend_name: str) -> Any:
    from llm_sandbox.agents import SessionManager
    from llm_sandbox.tools.operations import SandboxOperations

    manager = SessionManager(backend=backend_name, lang="python", max_sessions=2)
    try:
        yield SandboxOperations(manager, max_file_chars=100)
    finally:
        manager.close()


def test_read_file_shows_the_start_and_reads_no_more(operations: Any) -> None:
    with operations.manager.session("k") as sandbox:
        sandbox.execute_command(
            "python3 -c \"print('é' * 300)\" > text.txt && truncate -s 3G sparse && printf 'short' > short.txt"
            " && ln -s /etc/passwd link && mkfifo pipe && mkdir dir"
        )
        head = sandbox.read_file("sparse", max_bytes=10)
        assert (head.size, head.data, head.truncated) == (3 * 2**30, b"\0" * 10, True)
    text = operations.read_file("k", "text.txt")
    assert text.ok and text.text.startswith("/sandbox/text.txt (601 bytes):\n" + "é" * 100 + "\n[... the rest")
    assert text.artifact.size == 601 and text.artifact.content_base64 is None  # not all of it was read
    short = operations.read_file("k", "short.txt")
    assert short.text == "/sandbox/short.txt (5 bytes):\nshort" and short.artifact.content_base64 == "c2hvcnQ="
    sparse = operations.read_file("k", "sparse")
    assert "3.0 GB" in sparse.text and sparse.artifact.content_base64 is None
    for path, why in (("link", "is a link to /etc/passwd"), ("pipe", "not a regular file"),
                      ("dir", "is a directory"), ("missing", "does not exist")):  # fmt: skip
        reply = operations.read_file("k", path)
        assert not reply.ok and why in reply.text, reply.text


_MEASURE_READ = textwrap.dedent(
    """
    import json, resource, sys
    from llm_sandbox.agents import SessionManager
    from llm_sandbox.tools.operations import SandboxOperations
    with SessionManager(backend=sys.argv[1], lang="python") as manager:
        operations = SandboxOperations(manager)
        with manager.session("k") as sandbox:
            sandbox.execute_command("truncate -s 512M /sandbox/big")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        reply = operations.read_file("k", "big")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"grew_kib": after - before, "text": reply.text[:60]}))
    """
)


@pytest.mark.slow
def test_reading_a_huge_file_costs_the_host_what_the_model_sees(backend_name: str) -> None:
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE_READ, backend_name],
        capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT / "toolkit")},
    )  # fmt: skip
    assert measured.returncode == 0, measured.stderr
    report = json.loads(measured.stdout.strip().splitlines()[-1])
    assert report["text"].startswith("/sandbox/big is a binary file") or "512.0 MB" in report["text"]
    assert report["grew_kib"] / 1024 < 32, f"reading raised this process's peak memory by {report['grew_kib']} KiB"


# sessions dropped without close() (issue #15, item 11) ---------------------------------------------
_DROPPED_SESSION = textwrap.dedent(
    """
    import gc, sys
    from llm_sandbox import create_session
    from llm_sandbox.contract import owner_label

    print(owner_label(), flush=True)

    def work(name):
        session = create_session(sys.argv[1], lang="python")
        session.open()
        session.run("print('opened')")
        raise RuntimeError(f"{name} failed")  # the session is never closed

    try:
        work("caught")  # the caller goes on
    except RuntimeError:
        pass
    gc.collect()  # the session is garbage now, and collected
    if sys.argv[2] == "uncaught":
        work("uncaught")  # the interpreter exits with the session still referenced by the traceback
    """
)


@pytest.mark.parametrize("ending", ["caught", "uncaught"])
def test_a_session_dropped_without_close_leaves_no_container(backend_name: str, ending: str) -> None:
    import docker

    from llm_sandbox.contract import OWNER_LABEL

    finished = subprocess.run(
        [sys.executable, "-c", _DROPPED_SESSION, backend_name, ending],
        capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT / "toolkit")},
    )  # fmt: skip
    if ending == "uncaught":
        assert finished.returncode == 1 and "RuntimeError: uncaught failed" in finished.stderr
    else:
        assert finished.returncode == 0, finished.stderr
    owner = finished.stdout.splitlines()[0]
    if backend_name == "podman":
        from llm_sandbox.engines.podman import connect

        client = connect()
    else:
        client = docker.from_env()
    label = {"label": f"{OWNER_LABEL}={owner}"}
    assert client.api.containers(all=True, filters=label) == [], "the dropped session's container is still there"
    assert not client.api.volumes(filters=label).get("Volumes"), "its packages volume is still there"


# library names and the installer's network (issue #15, item 7) ---------------------------------------
@pytest.fixture
def loopback_server() -> Any:
    """An HTTP service on this machine's loopback, standing for any host-only service (a database UI, an
    admin API); it records every request it gets."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host secret")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "name", ["http://127.0.0.1:{port}/x.whl", "git+http://127.0.0.1:{port}/r.git", "file:///etc", "./local", "-e ."]
)
def test_urls_and_paths_as_library_names_start_nothing(
    make_session: Any, loopback_server: tuple[int, list[str]], name: str
) -> None:
    port, hits = loopback_server
    session = make_session()
    with pytest.raises(ValidationError, match="invalid library name"):
        session.install([name.format(port=port)])
    with pytest.raises(ValidationError, match="invalid library name"):
        session.run("print(1)", libraries=[name.format(port=port)])
    assert hits == []


_INSTALLER_PROBE = """
import json, socket, urllib.request
seen = {{}}
for url in ["http://127.0.0.1:{port}/proxied", "http://localhost:{port}/by-name", "http://127.0.0.1/port-80",
            "http://169.254.169.254/latest/meta-data/", "http://{host_address}:{port}/own-address"]:
    try:
        seen[url] = urllib.request.urlopen(url, timeout=20).read().decode()
    except Exception as exc:
        seen[url] = "refused: " + str(exc)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5)
    seen["direct"] = "connected"
except OSError as exc:
    seen["direct"] = "refused: " + str(exc)
print(json.dumps(seen))
"""


def _host_address() -> str:
    """This machine's own non-loopback address (no traffic is sent to it: the proxy refuses it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("203.0.113.1", 9))  # UDP: picks the outgoing interface, sends nothing
        return str(probe.getsockname()[0])


def test_the_installer_cannot_reach_this_machine_but_reaches_the_package_index(
    make_session: Any, loopback_server: tuple[int, list[str]]
) -> None:
    """The installer is the only container with a way out: through the library's filtering proxy only."""
    import shlex

    from llm_sandbox.sessions import installer

    port, hits = loopback_server
    session = make_session()
    probe = _INSTALLER_PROBE.format(port=port, host_address=_host_address())
    command = f"python3 -c {shlex.quote(probe)} && python3 -m pip download --no-deps -q -d /tmp/w six && ls /tmp/w"
    output = installer.install(
        session.engine, session._installer_spec(), command, sandbox=session.container_id,
        timeout=300, copy_timeout=60, max_output_bytes=1 << 20,
    )  # fmt: skip
    assert output.exit_code == 0, output.stderr
    seen = json.loads(output.stdout.splitlines()[0])
    assert hits == [], f"the installer reached the host's loopback service: {seen}"
    assert all(value.startswith("refused: ") for value in seen.values()), seen
    assert "this machine's loopback" in seen[f"http://127.0.0.1:{port}/proxied"]
    assert "link-local" in seen["http://169.254.169.254/latest/meta-data/"]
    assert "an address of this machine" in seen[f"http://{_host_address()}:{port}/own-address"]
    assert "Connection refused" in seen["direct"]  # its own loopback: nothing listens there
    assert output.stdout.splitlines()[-1].startswith("six-"), output.stdout  # the package index works
    result = session.run("import six; print(six.__name__)", libraries=["six"])
    assert result.stdout == "six\n", result.stderr


# what comes back from a run: checked on the host (items 3, 4, 5) ------------------------------------
def test_a_newline_in_a_directory_name_smuggles_no_path_into_the_artifacts(make_session: Any) -> None:
    """The output listing is NUL-separated: a directory named ``x\\n/etc`` is a directory, not two paths."""
    from llm_sandbox import ArtifactSandboxSession

    with ArtifactSandboxSession(backend=make_session().backend_name, lang="python") as session:
        result = session.run(
            "import os\n"
            "evil = 'outputs/x\\n/etc'\n"
            "os.makedirs(evil)\n"
            "open(evil + '/hostname', 'w').write('mine')\n"
            "open('outputs/big.bin', 'wb').write(b'0' * (12 * 1024 * 1024))\n"
        )
        assert result.exit_code == 0, result.stderr
        paths = {output.path: output for output in result.files}
        assert "/etc/hostname" not in paths
        assert paths["/sandbox/outputs/x\n/etc/hostname"].content_base64 is not None  # its own file, in outputs
        assert paths["/sandbox/outputs/big.bin"].content_base64 is None  # over 10 MB: listed, not sent
        assert all(path.startswith("/sandbox/outputs/") for path in paths)


def test_plots_written_straight_into_the_plots_directory_are_capped_on_the_host(make_session: Any) -> None:
    """The in-sandbox limit is the code's to change; the host's is not: at most 50 plots come back."""
    from llm_sandbox import ArtifactSandboxSession

    with ArtifactSandboxSession(backend=make_session().backend_name, lang="python") as session:
        result = session.run(
            "import os\n"
            "os.environ['LLM_SANDBOX_MAX_PLOTS'] = '1000'\n"
            "for n in range(1, 121):\n"
            "    open(os.path.join(os.environ['LLM_SANDBOX_PLOTS_DIR'], f'{n:03d}-1x1-1.png'), 'wb').write(b'x')\n"
        )
        assert len(result.plots) == 50
        assert "70 plot(s) not returned" in result.stderr


@pytest.mark.parametrize("way_out", ["callback raises", "KeyboardInterrupt", "strict decoding"])
def test_every_way_out_of_run_kills_the_program(make_session: Any, way_out: str) -> None:
    session = make_session(encoding_errors="strict" if way_out == "strict decoding" else "replace")
    first_line = "b'\\xff\\xfe not utf-8\\n'" if way_out == "strict decoding" else "b'hi\\n'"
    code = f"import sys\nsys.stdout.buffer.write({first_line})\nsys.stdout.flush()\nwhile True:\n    pass\n"

    def on_stdout(text: str) -> None:
        if way_out == "callback raises":
            raise RuntimeError("the callback failed")
        if way_out == "KeyboardInterrupt":
            raise KeyboardInterrupt

    expected: type[BaseException] = {
        "callback raises": RuntimeError,
        "KeyboardInterrupt": KeyboardInterrupt,
        "strict decoding": UnicodeDecodeError,
    }[way_out]
    with pytest.raises(expected):
        session.run(code, on_stdout=on_stdout, timeout=120)
    # the kill is confirmed before run() returns: nothing of the program is left, and the session works
    listing = session.execute_command("for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done").stdout
    assert "python3" not in listing, listing  # the run (and the warm runner it was forked from) are gone
    assert session.run("print('usable')").stdout == "usable\n"

"""Image builder without an engine: content hash, build context, apt sources, progress, CLI parsing."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from llm_sandbox.exceptions import ImageBuildError
from llm_sandbox.images import builder
from llm_sandbox.images.progress import NullProgress, Progress, resolve_progress

BASE_ID = "sha256:" + "1" * 64


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    images, runtime = tmp_path / "images", tmp_path / "runtime"
    (images / "demo").mkdir(parents=True)
    (images / "demo/Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY runtime/ /opt/llm-sandbox/\n"
    )
    (images / "demo/requirements.txt").write_text("numpy==2.0\n")
    (runtime / "demo").mkdir(parents=True)
    (runtime / "demo/helper.py").write_text("print('hi')\n")
    return images, runtime


def files_of(tree: tuple[Path, Path]) -> dict[str, builder.ContextFile]:
    images, runtime = tree
    return builder.context_files("demo", images_dir=images, runtime_dir=runtime)


def test_image_name() -> None:
    assert builder.image_name("python") == "llm-sandbox/python:latest"


def test_every_supported_language_has_a_dockerfile() -> None:
    assert set(builder.available_languages()) >= {"python", "javascript", "java", "cpp", "go", "ruby", "r"}


# --- content hash ------------------------------------------------------------------------------------
def test_hash_is_stable(tree: tuple[Path, Path]) -> None:
    assert builder.content_hash(files_of(tree), BASE_ID) == builder.content_hash(files_of(tree), BASE_ID)
    assert re.fullmatch(r"[0-9a-f]{64}", builder.content_hash(files_of(tree), BASE_ID))


def test_hash_changes_when_the_dockerfile_changes(tree: tuple[Path, Path]) -> None:
    before = builder.content_hash(files_of(tree), BASE_ID)
    dockerfile = tree[0] / "demo/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN true\n")
    assert builder.content_hash(files_of(tree), BASE_ID) != before


@pytest.mark.parametrize("path", ["images/demo/requirements.txt", "runtime/demo/helper.py"])
def test_hash_changes_when_a_build_input_changes(tree: tuple[Path, Path], path: str) -> None:
    before = builder.content_hash(files_of(tree), BASE_ID)
    target = tree[0].parent / path
    target.write_text(target.read_text() + "# changed\n")
    assert builder.content_hash(files_of(tree), BASE_ID) != before


def test_hash_changes_when_a_file_is_added_or_made_executable(tree: tuple[Path, Path]) -> None:
    before = builder.content_hash(files_of(tree), BASE_ID)
    helper = tree[1] / "demo/helper.py"
    helper.chmod(0o755)
    executable = builder.content_hash(files_of(tree), BASE_ID)
    assert executable != before
    (tree[1] / "demo/more.py").write_text("")
    assert builder.content_hash(files_of(tree), BASE_ID) not in {before, executable}


def test_hash_changes_with_the_base_image(tree: tuple[Path, Path]) -> None:
    assert builder.content_hash(files_of(tree), BASE_ID) != builder.content_hash(
        files_of(tree), "sha256:" + "2" * 64
    )


def test_hash_ignores_caches_placeholders_and_the_host_ca(tree: tuple[Path, Path]) -> None:
    before = builder.content_hash(files_of(tree), BASE_ID)
    (tree[1] / "demo/__pycache__").mkdir()
    (tree[1] / "demo/__pycache__/helper.cpython-311.pyc").write_bytes(b"\0")
    (tree[1] / "demo/.keep").write_text("")
    (tree[0] / "demo/host-ca.crt").write_text("a stray certificate")
    assert builder.content_hash(files_of(tree), BASE_ID) == before


def test_shipped_python_image_hash_is_reproducible() -> None:
    one = builder.content_hash(builder.context_files("python"), BASE_ID)
    assert one == builder.content_hash(builder.context_files("python"), BASE_ID)


# --- build context -----------------------------------------------------------------------------------
def test_context_holds_the_language_dir_and_its_runtime(tree: tuple[Path, Path]) -> None:
    assert sorted(files_of(tree)) == ["Dockerfile", "requirements.txt", "runtime/helper.py"]


def test_missing_dockerfile_is_a_clear_error(tree: tuple[Path, Path]) -> None:
    with pytest.raises(ImageBuildError, match=r"no Dockerfile for language 'cobol'.*demo"):
        builder.context_files("cobol", images_dir=tree[0], runtime_dir=tree[1])


def test_context_tar_layout(tree: tuple[Path, Path]) -> None:
    (tree[1] / "demo/helper.py").chmod(0o755)
    stream = builder.context_tar(files_of(tree), b"CERT")
    with tarfile.open(fileobj=stream) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {
            "Dockerfile",
            "requirements.txt",
            "runtime",
            "runtime/helper.py",
            "host-ca.crt",
        }
        assert members["runtime"].isdir()
        assert members["runtime/helper.py"].mode == 0o755
        assert members["Dockerfile"].mode == 0o644
        ca = tar.extractfile("host-ca.crt")
        assert ca is not None and ca.read() == b"CERT"


def test_context_tar_without_runtime_still_has_a_runtime_dir(tmp_path: Path) -> None:
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare/Dockerfile").write_text("FROM scratch\n")
    files = builder.context_files("bare", images_dir=tmp_path, runtime_dir=tmp_path / "none")
    with tarfile.open(fileobj=builder.context_tar(files)) as tar:
        names = tar.getnames()
        ca = tar.extractfile("host-ca.crt")
        assert ca is not None and ca.read() == b""  # empty when the host has no bundle
    assert "runtime" in names and "Dockerfile" in names


def test_host_ca_bundle_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"PEM")
    assert builder.host_ca_bundle({"REQUESTS_CA_BUNDLE": str(bundle)}) == b"PEM"
    assert (
        builder.host_ca_bundle({"SSL_CERT_FILE": str(tmp_path / "missing"), "PIP_CERT": str(bundle)})
        == b"PEM"
    )
    from llm_sandbox import host as installer

    monkeypatch.setattr(installer, "_DEFAULT_BUNDLES", (str(tmp_path / "absent.crt"),))
    assert builder.host_ca_bundle({}) == b""


def test_build_args_pass_through_only_what_is_set() -> None:
    env = {
        "HTTPS_PROXY": "http://proxy:3128",
        "PIP_INDEX_URL": "",
        "npm_config_registry": "https://npm.local/",
    }
    assert builder.build_args("llm-sandbox/base:bookworm", env) == {
        "BASE_IMAGE": "llm-sandbox/base:bookworm",
        "HTTPS_PROXY": "http://proxy:3128",
        "npm_config_registry": "https://npm.local/",
    }


# --- is an image current? ----------------------------------------------------------------------------
def image_info(files: dict[str, builder.ContextFile], base_id: str) -> dict:
    labels = {builder.HASH_LABEL: builder.content_hash(files, base_id), builder.BASE_LABEL: base_id}
    return {"Id": "sha256:img", "Config": {"Labels": labels}}


def test_current_image_is_recognised(tree: tuple[Path, Path]) -> None:
    files = files_of(tree)
    info = image_info(files, BASE_ID)
    assert builder._is_current(info, files, BASE_ID)
    assert builder._is_current(info, files, None)  # base gone: the context alone decides
    assert not builder._is_current(info, files, "sha256:" + "9" * 64)  # base rebuilt since
    assert not builder._is_current(None, files, BASE_ID)
    assert not builder._is_current({"Config": {"Labels": None}}, files, BASE_ID)


def test_changed_context_makes_the_image_stale(tree: tuple[Path, Path]) -> None:
    info = image_info(files_of(tree), BASE_ID)
    (tree[0] / "demo/Dockerfile").write_text("FROM other\n")
    assert not builder._is_current(info, files_of(tree), BASE_ID)


# --- Dockerfiles keep the image contract -------------------------------------------------------------
@pytest.mark.parametrize("lang", builder.available_languages())
def test_dockerfile_contract(lang: str) -> None:
    text = (builder.IMAGES_DIR / lang / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line[0].isspace()]
    instructions = [word for word in instructions if word.isupper()]
    assert text.count("ARG BASE_IMAGE") == 1 and "FROM ${BASE_IMAGE}" in text
    assert "--uid 1000 --gid 1000 --home-dir /home/sandbox" in text
    assert "chown -R 1000:1000 /sandbox /opt/sandbox-packages" in text
    assert "COPY runtime/ /opt/llm-sandbox/" in text
    assert "WORKDIR /sandbox" in text and "LANG=C.UTF-8" in text
    assert [i for i in instructions if i == "USER"] == ["USER"] and text.rstrip().splitlines()[-2:][0] == (
        "USER 1000:1000"
    )
    for install in re.findall(r"apt-get install[^;]*", text):
        assert "--no-install-recommends" in install
    assert "rm -rf /var/lib/apt/lists/*" in text


# --- apt sources of the bootstrapped base ------------------------------------------------------------
def write_sources(root: Path, deb822: str = "", one_line: str = "") -> Path:
    (root / "etc/apt/sources.list.d").mkdir(parents=True)
    if deb822:
        (root / "etc/apt/sources.list.d/debian.sources").write_text(deb822)
    if one_line:
        (root / "etc/apt/sources.list").write_text(one_line)
    return root


DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    root = write_sources(tmp_path, DEB822)
    assert builder.debian_mirror(root, {}) == "http://mirror.example/debian"
    target = builder.target_apt_sources("http://mirror.example/debian", root)
    assert "URIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n" in target
    assert "URIs: http://mirror.example/debian-security\nSuites: bookworm-security\n" in target
    assert "src.example" not in target and "contrib" not in target


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    one_line = (
        "# deb http://old/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
    )
    root = write_sources(tmp_path, one_line=one_line)
    assert builder.debian_mirror(root, {}) == "http://one.example/debian"


def test_mirror_of_another_debian_release_and_default(tmp_path: Path) -> None:
    trixie = write_sources(tmp_path / "a", "Types: deb\nURIs: http://m.example/debian\nSuites: trixie\n")
    assert builder.debian_mirror(trixie, {}) == "http://m.example/debian"
    target = builder.target_apt_sources("http://m.example/debian", trixie)
    assert "Suites: bookworm bookworm-updates" in target and "security" not in target
    ubuntu = write_sources(tmp_path / "b", one_line="deb http://archive.ubuntu.com/ubuntu jammy main\n")
    assert builder.debian_mirror(ubuntu, {}) == builder.DEFAULT_MIRROR
    assert "debian-security" in builder.target_apt_sources(builder.DEFAULT_MIRROR, ubuntu)


def test_mirror_override(tmp_path: Path) -> None:
    root = write_sources(tmp_path, DEB822)
    env = {"LLM_SANDBOX_DEBIAN_MIRROR": "http://override.example/debian/"}
    mirror = builder.debian_mirror(root, env)
    assert mirror == "http://override.example/debian"
    assert "mirror.example" not in builder.target_apt_sources(mirror, root)


# --- progress ----------------------------------------------------------------------------------------
def test_progress_off_a_terminal_prints_start_and_finish_only() -> None:
    out = io.StringIO()
    display = Progress(out, tty=False)
    display.start("python", "building llm-sandbox/python:latest")
    display.update("python", "3/9 RUN apt-get install python3")
    display.finish("python", "built llm-sandbox/python:latest")
    lines = out.getvalue().splitlines()
    assert lines[0] == "llm-sandbox: building llm-sandbox/python:latest"
    assert re.fullmatch(r"llm-sandbox: built llm-sandbox/python:latest \(\d+\.\ds\)", lines[1])
    assert len(lines) == 2


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    out = io.StringIO()
    display = Progress(out, tty=True)
    display.start("python", "building")
    display.update("python", "3/9 RUN apt-get\ninstall")
    assert out.getvalue().count("\n") == 0 and "\r\x1b[K" in out.getvalue()
    assert "python 0s 3/9 RUN apt-get install" in out.getvalue()
    display.finish("python", "built")
    assert out.getvalue().endswith("\n") and "llm-sandbox: built" in out.getvalue()


def test_resolve_progress() -> None:
    assert isinstance(resolve_progress(False), NullProgress)
    mine = Progress(io.StringIO(), tty=False)
    assert resolve_progress(mine) is mine
    assert type(resolve_progress(None)) is Progress


# --- CLI ---------------------------------------------------------------------------------------------
def test_cli_parses_image_commands() -> None:
    from llm_sandbox import cli

    args = cli.build_parser().parse_args(["images", "build", "python", "r", "--force"])
    assert args.langs == ["python", "r"] and args.force and args.handler is cli.cmd_images_build
    args = cli.build_parser().parse_args(["images", "list"])
    assert args.handler is cli.cmd_images_list


def test_cli_reports_errors_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from llm_sandbox import cli

    assert cli.main(["images", "build", "no-such-language"]) == 1
    assert "no Dockerfile for language 'no-such-language'" in capsys.readouterr().err


# --- bootstrapping the base (debootstrap faked; no engine) -------------------------------------------
class FakeAPI:
    """Just enough of docker-py's APIClient: no image exists, pulls fail, imports are recorded."""

    def __init__(self) -> None:
        self.imported: list[dict] = []

    def inspect_image(self, ref: str) -> dict:
        import docker.errors

        raise docker.errors.ImageNotFound(f"no such image: {ref}")

    def pull(self, repository: str, tag: str | None = None) -> None:
        import docker.errors

        raise docker.errors.APIError("no registry here")

    def import_image(self, src: str, repository: str, changes: list[str]) -> None:
        with tarfile.open(src) as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            sources = tar.extractfile("./etc/apt/sources.list.d/debian.sources")
            assert sources is not None
            self.imported.append(
                {
                    "repository": repository,
                    "changes": changes,
                    "members": members,
                    "sources": sources.read().decode(),
                }
            )


class FakeClient:
    def __init__(self) -> None:
        self.api = FakeAPI()


FAKE_DEBOOTSTRAP = """#!/bin/sh
# called as: debootstrap --variant=minbase bookworm DIR MIRROR
echo "I: Retrieving InRelease"
[ "$FAIL" = 1 ] && { echo "E: Couldn't download packages"; exit 2; }
d=$3
mkdir -p $d/usr/share/doc/bash $d/usr/share/man/man8 $d/usr/share/locale/de $d/var/lib/apt/lists \\
    $d/etc/apt/sources.list.d $d/var/cache/apt/archives $d/usr/bin
echo licence > $d/usr/share/doc/bash/copyright
echo readme > $d/usr/share/doc/bash/README
echo page > $d/usr/share/man/man8/x.8
echo mo > $d/usr/share/locale/de/bash.mo
echo alias > $d/usr/share/locale/locale.alias
echo list > $d/var/lib/apt/lists/deb.debian.org_Packages
echo deb > $d/var/cache/apt/archives/x.deb
echo "deb $4 bookworm main" > $d/etc/apt/sources.list
echo "#!/bin/sh" > $d/usr/bin/tool && chmod 755 $d/usr/bin/tool
echo "I: Base system installed successfully."
"""


@pytest.fixture
def fake_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "debootstrap"
    script.write_text(FAKE_DEBOOTSTRAP)
    script.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(builder, "_find_debootstrap", lambda: str(script))
    monkeypatch.setattr(builder.os, "geteuid", lambda: 0)
    monkeypatch.setattr(builder, "PULL_TIMEOUT", 5.0)
    monkeypatch.setenv("LLM_SANDBOX_TMPDIR", str(work))
    monkeypatch.setenv("LLM_SANDBOX_DEBIAN_MIRROR", "http://mirror.example/debian")
    return work


def test_bootstrap_imports_a_slimmed_rootfs_and_cleans_up(fake_debootstrap: Path) -> None:
    client = FakeClient()
    assert builder.ensure_base_image(client, progress=False) == "llm-sandbox/base:bookworm"
    [imported] = client.api.imported
    assert imported["repository"] == "llm-sandbox/base:bookworm"
    members = imported["members"]
    assert "usr/share/doc/bash/copyright" in members and "usr/share/doc/bash/README" not in members
    assert members["usr/share/man/man1"].isdir() and "usr/share/man/man8/x.8" not in members
    assert "usr/share/locale/de/bash.mo" not in members and "usr/share/locale/locale.alias" in members
    assert "var/lib/apt/lists/deb.debian.org_Packages" not in members
    assert "var/cache/apt/archives/x.deb" not in members and "etc/apt/sources.list" not in members
    assert members["usr/bin/tool"].mode & 0o111
    assert "etc/dpkg/dpkg.cfg.d/llm-sandbox-slim" in members
    assert "URIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates" in imported["sources"]
    assert any(change.startswith("ENV PATH=") for change in imported["changes"])
    assert list(fake_debootstrap.iterdir()) == []


def test_failed_bootstrap_shows_its_output_and_cleans_up(
    fake_debootstrap: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL", "1")
    client = FakeClient()
    with pytest.raises(ImageBuildError, match=r"(?s)exit code 2.*Couldn't download packages"):
        builder.ensure_base_image(client, progress=False)
    assert client.api.imported == []
    assert list(fake_debootstrap.iterdir()) == []


def test_missing_debootstrap_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder, "_find_debootstrap", lambda: None)
    with pytest.raises(ImageBuildError, match=r"apt-get install debootstrap"):
        builder.ensure_base_image(FakeClient(), progress=False)


def test_bootstrap_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder, "_find_debootstrap", lambda: "/usr/sbin/debootstrap")
    monkeypatch.setattr(builder.os, "geteuid", lambda: 1000)
    with pytest.raises(ImageBuildError, match=r"debootstrap needs root"):
        builder.ensure_base_image(FakeClient(), progress=False)

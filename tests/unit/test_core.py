"""Fast tests of the session library's pure logic (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_sandbox import FileType, LanguageNotSupportedError, ValidationError
from llm_sandbox.contract import CA_BUNDLE_IN_CONTAINER
from llm_sandbox.engines.base import STDERR, STDOUT, Capabilities
from llm_sandbox.engines.fake import FakeEngine
from llm_sandbox.exceptions import ArtifactLimitError, LibraryInstallationNotSupportedError
from llm_sandbox.host import host_package_settings
from llm_sandbox.languages import LanguageConfig, get_language, register_language, supported_languages
from llm_sandbox.sessions.artifacts import read_artifacts as _read_artifacts
from llm_sandbox.sessions.files import sandbox_path as _container_path
from llm_sandbox.sessions.installer import CA_BUNDLE_WRITTEN, install, installer_spec
from llm_sandbox.sessions.output import OutputCollector
from llm_sandbox.sessions.session import _translate_runtime_configs

MARKER = b"0123456789abcdef "


@pytest.mark.parametrize("split", range(1, 30))
def test_marker_is_found_across_any_chunk_boundary(split: int) -> None:
    seen: list[str] = []
    collector = OutputCollector(marker=MARKER, on_stdout=seen.append)
    stream = b"user output 0123" + MARKER + b"0\nTRAILER"
    collector(STDOUT, stream[:split])
    collector(STDOUT, stream[split:])
    collector.finish()
    assert collector.stdout.text() == "user output 0123"
    assert "".join(seen) == "user output 0123"
    assert bytes(collector.trailer or b"") == b"0\nTRAILER"


def test_output_without_marker_is_released_at_the_end() -> None:
    collector = OutputCollector(marker=MARKER)
    collector(STDOUT, b"ends with 0123456")
    collector.finish()
    assert collector.stdout.text() == "ends with 0123456"
    assert collector.trailer is None


def test_cap_keeps_the_head_and_says_how_much_was_dropped() -> None:
    collector = OutputCollector(limit=10)
    for _ in range(100):
        collector(STDERR, b"abcdefghij")
    text = collector.stderr.text()
    assert text.startswith("abcdefghij\n[llm-sandbox: output truncated")
    assert "first 10 of 1000 bytes" in text
    assert collector.stderr.truncated


def test_callbacks_get_whole_characters_across_chunks() -> None:
    seen: list[str] = []
    collector = OutputCollector(on_stdout=seen.append)
    data = "é✓".encode()
    for byte in data:
        collector(STDOUT, bytes([byte]))
    collector.stdout.text()
    assert "".join(seen) == "é✓"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.txt", "/sandbox/a.txt"),
        ("/etc/x", "/etc/x"),
        ("sub/./b", "/sandbox/sub/b"),
        ("/sandbox/../tmp", "/tmp"),
    ],
)
def test_container_paths(path: str, expected: str) -> None:
    assert str(_container_path(path, "/sandbox")) == expected


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/", "", "a\x00b"])
def test_container_paths_refused(path: str) -> None:
    with pytest.raises(ValidationError):
        _container_path(path, "/sandbox")


def test_install_command_quotes_and_validates() -> None:
    command = get_language("python").get_library_installation_command(["numpy==2.0", "six"])
    assert "--only-binary=:all:" in command and command.endswith("numpy==2.0 six")


def test_runtime_configs_translation() -> None:
    assert _translate_runtime_configs({"cpu_count": 2, "mem_limit": "1g"}) == {
        "nano_cpus": 2_000_000_000,
        "mem_limit": "1g",
    }
    assert _translate_runtime_configs({"environment": ["A=1", "B=x=y"]}) == {
        "environment": {"A": "1", "B": "x=y"}
    }


def test_file_types() -> None:
    assert FileType.from_filename("a.JPG") is FileType.JPEG
    assert FileType.from_filename("table.csv") is FileType.CSV
    assert FileType.from_filename("noext") is FileType.OTHER
    assert FileType.PNG.is_image and not FileType.CSV.is_image


def test_language_registry_and_plugins(language_registry: None) -> None:
    assert get_language("PY").name == "python"
    with pytest.raises(LanguageNotSupportedError, match="python"):
        get_language("brainfuck")
    register_language(
        LanguageConfig(
            name="unit-test-lang",
            file_extension="x",
            execution_commands=["cat {file}"],
            is_support_library_installation=False,
        )
    )
    handler = get_language("unit-test-lang")
    assert handler.run_command() == 'cat "$LLM_SANDBOX_FILE"'
    assert "unit-test-lang" in supported_languages()
    with pytest.raises(LibraryInstallationNotSupportedError):
        handler.get_library_installation_command(["x"])


def test_artifacts_are_ordered_and_savefig_into_outputs_is_not_duplicated() -> None:
    import io
    import tarfile

    png = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + (7).to_bytes(4, "big")
        + (5).to_bytes(4, "big")
        + b"rest"
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in [
            ("plots/002-640x480-100.png", b"second"),
            ("plots/001-10x20-72.svg", b"<svg/>"),
            ("sandbox/outputs/again.svg", b"<svg/>"),
            ("sandbox/outputs/new.png", png),
            ("sandbox/outputs/t.csv", b"a,b"),
            ("large-files", b"52428800 /sandbox/outputs/huge.parquet\0"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    found = _read_artifacts(buffer.getvalue(), plotting=True, outputs_dir="/sandbox/outputs")
    plots, files = found.plots, found.files
    assert [(p.format, p.width, p.filename) for p in plots] == [
        (FileType.SVG, 10, "/sandbox/outputs/again.svg"),
        (FileType.PNG, 640, None),
        (FileType.PNG, 7, "/sandbox/outputs/new.png"),
    ]
    assert [(f.path, f.format, f.size, f.content_base64 is None) for f in files] == [
        ("/sandbox/outputs/t.csv", FileType.CSV, 3, False),
        ("/sandbox/outputs/huge.parquet", FileType.PARQUET, 52428800, True),
    ]
    found = _read_artifacts(buffer.getvalue(), plotting=False, outputs_dir="/sandbox/outputs")
    plots, files = found.plots, found.files
    assert plots == [] and len(files) == 4  # images in outputs are plain files then


def test_installer_is_locked_down_and_trusts_the_host_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    spec = installer_spec(FakeEngine(), "img", "vol", labels={})
    assert spec.options["user"] == "1000:1000" and spec.options["cap_drop"] == ["ALL"]
    assert spec.options["read_only"] is True
    assert spec.environment["PIP_INDEX_URL"] == "https://mirror.example/simple"
    assert host_package_settings()["PIP_INDEX_URL"] == "https://mirror.example/simple"


@pytest.fixture
def host_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CA bundle the host trusts (as a TLS-inspecting corporate proxy needs)."""
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nunit test CA\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return bundle


CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
                "npm_config_cafile")  # fmt: skip


def test_the_installer_is_given_the_host_ca_bundle(host_ca: Path) -> None:
    spec = installer_spec(FakeEngine(), "img", "vol", labels={})
    assert spec.binds == {str(host_ca): CA_BUNDLE_IN_CONTAINER}
    assert {name: spec.environment.get(name) for name in CA_VARIABLES} == dict.fromkeys(
        CA_VARIABLES, CA_BUNDLE_IN_CONTAINER
    )


def test_without_host_binds_the_ca_bundle_is_written_into_the_installer_first(host_ca: Path) -> None:
    engine = FakeEngine(capabilities=Capabilities(host_binds=False))
    spec = installer_spec(engine, "img", "vol", labels={})
    assert spec.binds == {}
    assert {spec.environment.get(name) for name in CA_VARIABLES} == {CA_BUNDLE_WRITTEN}
    install(engine, spec, "pip install six", sandbox="sandbox", timeout=60, copy_timeout=60, max_output_bytes=1000)
    writes, installs = (
        [i for i, call in enumerate(engine.execs) if condition(call)]
        for condition in (lambda c: c.stdin == host_ca.read_bytes() and CA_BUNDLE_WRITTEN in c.argv,
                          lambda c: c.argv[-1:] == ["pip install six"])
    )  # fmt: skip
    assert len(writes) == 1 and len(installs) == 1 and writes[0] < installs[0]


def test_trailer_is_bounded() -> None:
    collector = OutputCollector(marker=MARKER, trailer_limit=10)
    collector(STDOUT, MARKER + b"0\n")
    with pytest.raises(ArtifactLimitError, match="exceed"):
        collector(STDOUT, b"x" * 20)


def test_preinstalled_libraries_are_not_installed_again() -> None:
    python = get_language("python")
    assert python.libraries_to_install(["numpy", "Matplotlib", "numpy==1.26.4", "scipy"]) == ["numpy==1.26.4", "scipy"]

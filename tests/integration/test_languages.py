"""Every built-in language end to end on Docker: real images, real compilers, real package installs.

One session per language is shared by the tests of that language (module scope), as a user's session
would be: a file written in one run is read in the next, and a timeout leaves the session usable.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from llm_sandbox import ArtifactSandboxSession, SandboxSession
from llm_sandbox.exceptions import (
    LibraryInstallationNotSupportedError,
    PackageManagerError,
    SandboxTimeoutError,
)
from llm_sandbox.sessions import Session

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Lang:
    hello: str  # prints "Hello, World!" (the reference's examples, unchanged, where it has one)
    fail: str  # prints "out" on stdout and "err" on stderr, exits 3
    unicode: str  # prints "héllo ✓ 世界"
    loop: str  # never ends
    write: str  # writes "saved" to data.txt in the workdir
    read: str  # prints the content of data.txt
    compile_error: str | None = None
    compile_message: str = ""
    library: tuple[list[str], str, str] | None = None  # libraries, code, expected stdout fragment


JAVA_HELLO = """
public class Main {
public static void main(String[] args) {
System.out.println("Hello, World!");
}
}
"""  # the reference's example, unchanged

LANGS: dict[str, Lang] = {
    "javascript": Lang(
        hello="console.log('Hello, World!')",
        fail="console.log('out'); console.error('err'); process.exit(3)",
        unicode="console.log('héllo ✓ 世界')",
        loop="while (true) {}",
        write="require('fs').writeFileSync('data.txt', 'saved')",
        read="console.log(require('fs').readFileSync('data.txt', 'utf8'))",
        library=(
            ["is-number"],
            "const isNumber = require('is-number'); console.log(isNumber(5), isNumber('x'))",
            "true false",
        ),
    ),
    "java": Lang(
        hello=JAVA_HELLO,
        fail='public class Main { public static void main(String[] a) { System.out.println("out"); '
        'System.err.println("err"); System.exit(3); } }',
        unicode="public class Main { public static void main(String[] a) {\n"
        'System.out.println("héllo ✓ 世界"); } }',
        loop="public class Main { public static void main(String[] a) { while (true) {} } }",
        write="import java.nio.file.*;\npublic class Main {\n"
        "public static void main(String[] a) throws Exception { "
        'Files.writeString(Path.of("data.txt"), "saved"); } }',
        read="import java.nio.file.*;\npublic class Main {\n"
        "public static void main(String[] a) throws Exception { "
        'System.out.println(Files.readString(Path.of("data.txt"))); } }',
        compile_error="public class Main { public static void main(String[] a) { int x = ; } }",
        compile_message="error",
    ),
    "cpp": Lang(
        hello='#include <iostream>\nint main() { std::cout << "Hello, World!" << std::endl; }\n',
        fail='#include <iostream>\nint main() { std::cout << "out" << std::endl;\n'
        'std::cerr << "err" << std::endl; return 3; }',
        unicode='#include <iostream>\nint main() { std::cout << "héllo ✓ 世界" << std::endl; }',
        # a fork loop: stopped by the pids limit, killed (every process) by the timeout
        loop="#include <unistd.h>\nint main() { for (;;) fork(); }",
        write='#include <fstream>\nint main() { std::ofstream("data.txt") << "saved"; }',
        read='#include <fstream>\n#include <iostream>\nint main() { std::ifstream f("data.txt"); '
        "std::cout << f.rdbuf() << std::endl; }",
        compile_error="int main() { return undefined_name; }",
        compile_message="undefined_name",
        library=(
            ["libfmt-dev", "nlohmann-json3-dev"],
            "#include <fmt/core.h>\n#include <nlohmann/json.hpp>\n"
            'int main() { nlohmann::json j = {{"a", 1}}; fmt::print("fmt {} {}\\n", 42, j.dump()); }',
            'fmt 42 {"a":1}',
        ),
    ),
    "go": Lang(
        hello='package main\nimport "fmt"\nfunc main() {\nfmt.Println("Hello, World!")\n}\n',
        fail='package main\nimport ("fmt"; "os")\nfunc main() { fmt.Println("out"); '
        'fmt.Fprintln(os.Stderr, "err"); os.Exit(3) }',
        unicode='package main\nimport "fmt"\nfunc main() { fmt.Println("héllo ✓ 世界") }',
        loop="package main\nfunc main() { for {} }",
        write='package main\nimport "os"\nfunc main() { os.WriteFile("data.txt", []byte("saved"), 0o644) }',
        read='package main\nimport ("fmt"; "os")\nfunc main() { b, _ := os.ReadFile("data.txt"); '
        "fmt.Println(string(b)) }",
        compile_error='package main\nimport "fmt"\nfunc main() { fmt.Println(undefinedName) }',
        compile_message="undefined: undefinedName",
    ),
    "ruby": Lang(
        hello='puts "Hello, World!"',
        fail='puts "out"\n$stderr.puts "err"\nexit 3',
        unicode='puts "héllo ✓ 世界"',
        loop="loop {}",
        write='File.write("data.txt", "saved")',
        read='puts File.read("data.txt")',
        library=(["rainbow"], 'require "rainbow"\nputs Rainbow("gem loaded").to_s', "gem loaded"),
    ),
    "r": Lang(
        hello='cat("Hello, World!\\n")',
        fail='cat("out\\n")\nmessage("err")\nquit(status = 3)',
        unicode='cat("héllo ✓ 世界\\n")',
        loop="repeat {}",
        write='writeLines("saved", "data.txt")',
        read='cat(readLines("data.txt"), "\\n")',
        library=(["jsonlite"], 'library(jsonlite)\ncat(toJSON(list(a = 1)), "\\n")', '{"a":[1]}'),
    ),
}


@pytest.fixture(scope="module", autouse=True)
def images(docker_client: Any) -> None:
    """Every language image, current with its Dockerfile and runtime files (built only when stale)."""
    from llm_sandbox.images import builder

    builder.build_images(sorted(LANGS), docker_client)


@pytest.fixture(scope="module", params=sorted(LANGS))
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def session(lang: str) -> Iterator[Session]:
    with SandboxSession(lang=lang, default_timeout=120) as sandbox:
        yield sandbox


def test_hello_world(session: Session, lang: str) -> None:
    result = session.run(LANGS[lang].hello)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "Hello, World!\n", ""), result


def test_stdout_stderr_and_exit_code(session: Session, lang: str) -> None:
    result = session.run(LANGS[lang].fail)
    assert result.exit_code == 3
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"


def test_unicode_output(session: Session, lang: str) -> None:
    result = session.run(LANGS[lang].unicode)
    assert result.stdout == "héllo ✓ 世界\n", result


@pytest.mark.parametrize("lang", sorted(name for name, case in LANGS.items() if case.compile_error), indirect=True)
def test_compile_error_is_a_result(session: Session, lang: str) -> None:
    case = LANGS[lang]
    assert case.compile_error
    result = session.run(case.compile_error)
    assert result.exit_code != 0
    assert case.compile_message in result.stderr
    assert result.stdout == ""


def test_file_written_in_one_run_is_read_in_the_next(session: Session, lang: str) -> None:
    assert session.run(LANGS[lang].write).exit_code == 0
    result = session.run(LANGS[lang].read)
    assert result.stdout.strip() == "saved", result


def test_timeout_kills_and_the_session_stays_usable(session: Session, lang: str) -> None:
    with pytest.raises(SandboxTimeoutError):
        session.run(LANGS[lang].loop, timeout=4)
    processes = session.execute_command("ls -d /proc/[0-9]* | wc -l").stdout.strip()
    assert int(processes) < 10, f"processes left after the timeout: {processes}"
    assert session.run(LANGS[lang].hello).stdout == "Hello, World!\n"


@pytest.mark.parametrize("lang", sorted(name for name, case in LANGS.items() if case.library), indirect=True)
def test_library_install(session: Session, lang: str) -> None:
    """Go and Java have tests of their own below."""
    case = LANGS[lang]
    assert case.library
    libraries, code, expected = case.library
    result = session.run(code, libraries=libraries)
    assert result.exit_code == 0, result.stderr
    assert expected in result.stdout
    # the sandbox itself still has no network
    assert session.execute_command(
        "cat /sys/class/net/*/operstate 2>/dev/null | grep -c up"
    ).stdout.strip() in ("0", "")


# --- language specifics --------------------------------------------------------------------------
def _session(lang: str) -> Session:
    return SandboxSession(lang=lang, default_timeout=120)


def test_reference_examples_unchanged() -> None:
    with _session("cpp") as cpp:
        result = cpp.run(
            """
#include <iostream>
#include <vector>
#include <algorithm>
int main() {
std::vector<int> v = {1, 2, 3, 4, 5};
std::reverse(v.begin(), v.end());
for (int i : v) {
std::cout << i << " ";
}
std::cout << std::endl;
return 0;
}
""",
            libraries=["libstdc++"],
        )
        assert result.stdout == "5 4 3 2 1 \n"
    with _session("node") as js:
        assert js.run("console.log('Hello, World!')").stdout == "Hello, World!\n"


def test_java_class_names_and_visibility() -> None:
    with _session("java") as java:
        other = java.run(
            'public class Greeter { public static void main(String[] a) { System.out.println("g"); } }'
        )
        assert (other.exit_code, other.stdout) == (0, "g\n"), other.stderr
        hidden = java.run('class Hidden { public static void main(String[] a) { System.out.println("h"); } }')
        assert (hidden.exit_code, hidden.stdout) == (0, "h\n"), hidden.stderr
        two = java.run(
            "public class Main { public static void main(String[] a) {\n"
            "System.out.println(Helper.twice(21)); } }\n"
            "class Helper { static int twice(int x) { return 2 * x; } }"
        )
        assert two.stdout == "42\n", two.stderr
        crash = java.run(
            'public class Main { public static void main(String[] a) { throw new RuntimeException("x"); } }'
        )
        assert crash.exit_code == 1 and "RuntimeException: x" in crash.stderr


def test_javascript_es_module_and_output_cap_and_streaming() -> None:
    chunks: list[str] = []
    with SandboxSession(lang="js", max_output_bytes=10_000) as js:
        esm = js.run("import { platform } from 'node:os';\nconsole.log(platform());", libraries=["is-number"])
        assert esm.stdout == "linux\n", esm.stderr
        esm_package = js.run("import isNumber from 'is-number';\nconsole.log(isNumber(1));")
        assert esm_package.stdout == "true\n", esm_package.stderr
        flood = js.run("for (let i = 0; i < 100000; i++) console.log('line ' + i)", on_stdout=chunks.append)
        assert flood.exit_code == 0 and flood.stdout_truncated
        assert len(flood.stdout.encode()) < 11_000 and "output truncated" in flood.stdout
        assert "".join(chunks).startswith("line 0\n")


def test_go_modules_need_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOPROXY", raising=False)  # the host's settings reach the installer
    with _session("golang") as go, pytest.raises(PackageManagerError, match="no Go module proxy is reachable"):
        go.run("package main\nfunc main() {}", libraries=["github.com/spyzhov/ajson"])


@pytest.fixture
def go_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A GOPROXY on loopback serving example.com/greet v1.0.0 (the installer uses the host's network)."""
    module, version = "example.com/greet", "v1.0.0"
    go_mod = f"module {module}\n\ngo 1.19\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(f"{module}@{version}/go.mod", go_mod)
        zipped.writestr(
            f"{module}@{version}/greet.go",
            'package greet\n\nfunc Hello(name string) string { return "hello, " + name }\n',
        )
    info = json.dumps({"Version": version, "Time": "2024-01-01T00:00:00Z"}).encode()
    files = {
        f"/{module}/@v/list": f"{version}\n".encode(), f"/{module}/@v/{version}.info": info,
        f"/{module}/@latest": info, f"/{module}/@v/{version}.mod": go_mod.encode(),
        f"/{module}/@v/{version}.zip": archive.getvalue(),
    }  # fmt: skip

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GOPROXY", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("GOSUMDB", "off")
    yield module
    server.shutdown()
    server.server_close()


def test_go_modules_from_a_reachable_proxy(go_proxy: str) -> None:
    with _session("go") as go:
        result = go.run(
            f'package main\nimport ("fmt"; "{go_proxy}")\nfunc main() {{ fmt.Println(greet.Hello("go")) }}',
            libraries=[go_proxy],
        )
        assert (result.exit_code, result.stdout) == (0, "hello, go\n"), result.stderr
        plain = go.run('package main\nimport "fmt"\nfunc main() { fmt.Println("std only") }')
        assert plain.stdout == "std only\n", plain.stderr


def test_java_libraries_are_refused_plainly() -> None:
    with _session("java") as java, pytest.raises(LibraryInstallationNotSupportedError, match="java"):
        java.install(["com.google.code.gson:gson"])


def test_r_base_and_ggplot2_plots_are_captured() -> None:
    code = """
plot(1:10, main = "base graphics")
library(ggplot2)
ggplot(data.frame(x = 1:5, y = (1:5)^2), aes(x, y)) + geom_point()
cat("drawn\\n")
"""
    with ArtifactSandboxSession(lang="r", default_timeout=120) as session:
        result = session.run(code)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == "drawn\n"
        assert result.stderr == ""
        assert len(result.plots) == 2
        for plot in result.plots:
            assert plot.format.value == "png"
            assert plot.width == 700 and plot.height == 500 and plot.dpi == 100
            import base64

            assert base64.b64decode(plot.content_base64).startswith(b"\x89PNG")
        # plots of an earlier run never come back; an error still returns what was drawn before it
        failed = session.run('barplot(c(3, 1, 2))\nstop("boom")')
        assert failed.exit_code == 1 and "boom" in failed.stderr
        assert len(failed.plots) == 1
        # ggsave()d plots are captured too (after the drawn pages), with their size from the file
        saved = session.run(
            "library(ggplot2)\nhist(rnorm(50))\n"
            "p <- ggplot(data.frame(x = 1:3, y = 1:3), aes(x, y)) + geom_line()\n"
            "ggsave('/tmp/saved.png', p, width = 4, height = 3, dpi = 50)\n"
        )
        assert saved.exit_code == 0, saved.stderr
        assert [(p.format.value, p.width, p.height) for p in saved.plots] == [("png", 700, 500), ("png", 200, 150)]


def test_a_language_registered_through_the_plugin_api(language_registry: None) -> None:
    from llm_sandbox.languages import LanguageConfig, register_language, supported_languages

    register_language(
        LanguageConfig(
            name="bash",
            aliases=("sh-bash",),
            file_extension="sh",
            execution_commands=["exec bash {file}"],
            image="llm-sandbox/cpp:latest",  # any image with bash that follows the image contract
            is_support_library_installation=False,
        )
    )
    assert "bash" in supported_languages()
    with SandboxSession(lang="bash") as session:
        result = session.run('declare -A seen=([x]=1)\necho "bash ${BASH_VERSINFO[0]} ${seen[x]}"\nexit 4')
        assert result.exit_code == 4
        assert result.stdout.startswith("bash 5 1")

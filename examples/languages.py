"""One snippet per language, with a library where one can be installed, and a language added as a plugin.

    PYTHONPATH=toolkit python examples/languages.py

Images are built on first use (``llm-sandbox images build`` builds them ahead of time).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "toolkit"))

from llm_sandbox import ArtifactSandboxSession, SandboxSession
from llm_sandbox.exceptions import SandboxError
from llm_sandbox.languages import LanguageConfig, register_language


def show(title: str, result: object) -> None:
    print(f"--- {title}: exit {result.exit_code}")  # type: ignore[attr-defined]
    print(result.stdout, end="")  # type: ignore[attr-defined]
    if result.stderr:  # type: ignore[attr-defined]
        print("stderr:", result.stderr, end="")  # type: ignore[attr-defined]


# JavaScript (Node.js 18): npm packages are installed outside the sandbox and loaded with require/import.
with SandboxSession(lang="javascript") as session:
    show("javascript", session.run(
        "const _ = require('lodash');\nconsole.log(_.chunk([1, 2, 3, 4, 5], 2));", libraries=["lodash"]
    ))  # fmt: skip

# Java 17: any class name, public or not; the class with main comes first.
with SandboxSession(lang="java") as session:
    show(
        "java",
        session.run("""
import java.util.stream.IntStream;
public class Squares {
    public static void main(String[] args) {
        System.out.println(IntStream.rangeClosed(1, 5).map(i -> i * i).sum());
    }
}
"""),
    )

# C++17 (g++ 12): libraries are Debian packages; their headers and shared libraries are found and linked.
with SandboxSession(lang="cpp") as session:
    show(
        "cpp",
        session.run(
            """
#include <fmt/core.h>
#include <vector>
#include <numeric>
int main() {
    std::vector<int> v(10);
    std::iota(v.begin(), v.end(), 1);
    fmt::print("sum of 1..10 = {}\\n", std::accumulate(v.begin(), v.end(), 0));
}
""",
            libraries=["libfmt-dev"],
        ),
    )

# Go 1.19: the standard library; modules install only where a module proxy is reachable (GOPROXY).
with SandboxSession(lang="go") as session:
    show(
        "go",
        session.run("""
package main

import (
    "fmt"
    "strings"
)

func main() {
    fmt.Println(strings.ToUpper("hello from go"))
}
"""),
    )
    try:
        session.install(["github.com/spyzhov/ajson"])
    except SandboxError as exc:
        print("go modules:", " ".join(str(exc).splitlines()[-3:]))

# Ruby 3.1: gems (from Debian's ruby-* packages when rubygems.org is not reachable).
with SandboxSession(lang="ruby") as session:
    show("ruby", session.run(
        'require "rainbow"\nRainbow.enabled = true\nputs Rainbow("ruby").bright.inspect',
        libraries=["rainbow"],
    ))  # fmt: skip

# R 4.2: CRAN packages from Debian's r-cran-* packages; plots (base graphics, ggplot2) come back as PNG.
with ArtifactSandboxSession(lang="r") as session:
    result = session.run(
        """
library(jsonlite)
cat(toJSON(head(mtcars[, 1:3], 2)), "\\n")
library(ggplot2)
ggplot(mtcars, aes(wt, mpg)) + geom_point()
""",
        libraries=["jsonlite"],
    )
    show("r", result)
    for index, plot in enumerate(result.plots, 1):
        path = Path(f"r-plot-{index}.{plot.format.value}")
        path.write_bytes(base64.b64decode(plot.content_base64))
        print(f"saved {path} ({plot.width}x{plot.height} at {plot.dpi} dpi)")

# A language of your own: one record (and an image that has its interpreter).
register_language(LanguageConfig(
    name="bash",
    aliases=("shell",),
    file_extension="sh",
    execution_commands=["exec bash {file}"],
    image="llm-sandbox/cpp:latest",  # any image that follows the image contract and has bash
    is_support_library_installation=False,
    library_unsupported_reason="use the tools of the image",
))  # fmt: skip
with SandboxSession(lang="bash") as session:
    show("bash", session.run('words=(three two one)\necho "${#words[@]} words, last: ${words[-1]}"'))

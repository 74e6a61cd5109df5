"""The built-in languages: one record each, plus a handler class where a hook differs.

Every run is one shell command (``execution_commands`` joined with ``&&``) executed by the run
wrapper with ``$LLM_SANDBOX_FILE`` (the code, in a private per-run directory
``$LLM_SANDBOX_RUN_DIR`` under ``/tmp``) and the workdir as the current directory. Compiled
languages build into ``$LLM_SANDBOX_RUN_DIR`` and ``exec`` the result; a compile error is the
compiler's message on stderr and a non-zero exit code.

Libraries are installed by ``install_command`` in the installer container (see ``installer.py``),
into the packages volume mounted at ``/opt/sandbox-packages``. pip and npm run their own clients;
C++, R, Ruby (when no gem source is reachable) and Go go through ``runtime/install.sh``, which
unpacks Debian packages without running their maintainer scripts.
"""

from __future__ import annotations

import re
import shlex
from importlib import resources

from llm_sandbox.contract import PACKAGES_DIR, RUNTIME_DIR
from llm_sandbox.languages.base import LanguageConfig, LanguageHandler, PlotDetectionConfig, PlotLibrary

PACKAGES = PACKAGES_DIR
DEB_ROOT = f"{PACKAGES}/deb/root"
DEB_LIB = f"{PACKAGES}/deb/lib"  # symlink made by install.sh: root/usr/lib/<multiarch>

# Library names per package manager (matched whole; see LanguageConfig.library_pattern). Only names and
# version constraints: a URL, path, VCS reference, alias, option or shell syntax never reaches an installer.
_PEP508_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PEP440_CLAUSE = r"(?:===|==|!=|<=|>=|~=|<|>) *[A-Za-z0-9][A-Za-z0-9.*+!_-]*"
PIP_LIBRARY = (
    rf"{_PEP508_NAME} *(?:\[ *{_PEP508_NAME}(?: *, *{_PEP508_NAME})* *\])?"
    rf" *(?:{_PEP440_CLAUSE}(?: *, *{_PEP440_CLAUSE})*)?"
)
"""A PEP 508 name with extras and version clauses (``pandas[excel]>=2,<3``); no ``name @ URL``, no markers."""
NPM_LIBRARY = r"(?:@[a-z0-9~][a-z0-9._~-]*/)?[A-Za-z0-9~][A-Za-z0-9._~-]*(?:@[A-Za-z0-9.^~<>=*|+ -]+)?"
"""An npm name, scoped or not, with a version, range or tag (``@types/node@^20``); no ``user/repo``,
``git+``, ``file:``, ``npm:`` aliases or URLs (they need ``/`` or ``:``)."""
GEM_LIBRARY = r"[A-Za-z0-9][A-Za-z0-9._-]*(?:==[0-9][A-Za-z0-9.]*)?"
CRAN_LIBRARY = r"[A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]|r-[a-z0-9][a-z0-9+.-]+"
"""A CRAN package name (installed from Debian's ``r-cran-<name>``), or a Debian ``r-*`` package."""
DEBIAN_LIBRARY = r"[a-z0-9][a-z0-9+.-]+"
_GO_ELEMENT = r"[A-Za-z0-9_~+-]+(?:\.[A-Za-z0-9_~+-]+)*"
GO_LIBRARY = rf"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/{_GO_ELEMENT})*(?:(?:@|==)[A-Za-z0-9][A-Za-z0-9_.+-]*)?"
"""A Go module path (its first element a domain name) with an optional ``@version``."""


class _SlashComments(LanguageHandler):
    """``//`` to the end of the line, ``/* ... */`` blocks (the reference's regexes; the scanner filters)."""

    @staticmethod
    def get_inline_comment_patterns() -> str:
        return r"//.*$"

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r"/\*[\s\S]*?\*/"


class _HashComments(LanguageHandler):
    """``#`` to the end of the line; no block comments unless a subclass says so."""

    @staticmethod
    def get_inline_comment_patterns() -> str:
        return r"#.*$"

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r"(?!)"


def _install_script(mode: str) -> str:
    """``install_command`` running ``runtime/install.sh`` in ``mode`` (braces escaped for ``str.format``)."""
    script = resources.files("llm_sandbox.runtime").joinpath("install.sh").read_text()
    command = f"sh -c {shlex.quote(script)} llm-sandbox-install {mode} "
    return command.replace("{", "{{").replace("}", "}}") + "{libraries}"


# ---------------------------------------------------------------------------------------------
# Python
# ---------------------------------------------------------------------------------------------
PYTHON = LanguageConfig(
    name="python",
    aliases=("py", "python3"),
    file_extension="py",
    # The code file lives in a private run directory; the workdir goes first on the
    # path so modules the code wrote there import as they would from a script beside them.
    execution_commands=['PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec python3 {file}'],
    package_manager="pip",
    install_command=(
        'PYTHONUSERBASE="$LLM_SANDBOX_PACKAGES/python" '
        "python3 -m pip install --user --only-binary=:all: --no-warn-script-location "
        "--progress-bar off --quiet {libraries}"
    ),
    library_pattern=PIP_LIBRARY,
    library_example="a PyPI name with optional extras and version (numpy, numpy==2.1.0, pandas[excel]>=2)",
    plot_detection=PlotDetectionConfig(
        libraries=(PlotLibrary.MATPLOTLIB, PlotLibrary.SEABORN, PlotLibrary.PLOTLY),
        environment={"MPLBACKEND": "module://llm_sandbox_mpl", "PYTHONPATH": "/opt/llm-sandbox"},
    ),
    preinstalled_libraries=("numpy", "pandas", "matplotlib", "seaborn", "plotly"),
    warm_runner=("python3", f"{RUNTIME_DIR}/llm_sandbox_runner.py"),
    kernel=("python3", f"{RUNTIME_DIR}/llm_sandbox_kernel.py"),
    import_pattern=r"(?m)(?:^|[;:])\s*(?:import\s+(?:[\w.]+(?:\s+as\s+\w+)?\s*,\s*)*{module}(?![\w])"
    r"|from\s+{module}(?:\.[\w.]+)?\s+import\b)",
    version_command="python3 --version",
)


class PythonHandler(_HashComments):
    config = PYTHON

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        """Docstrings, which the reference counts as comments."""
        return r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\''


# ---------------------------------------------------------------------------------------------
# JavaScript (Node.js)
# ---------------------------------------------------------------------------------------------
_ESM = re.compile(
    r"^ *(?:import *[\w{*'\"]|export\s+(?:default|const|let|var|function|class|async|\{))", re.M
)

JAVASCRIPT = LanguageConfig(
    name="javascript",
    aliases=("js", "node", "nodejs"),
    file_extension="js",
    # npm packages are in the packages volume: `require` finds them through NODE_PATH (image), and
    # ES modules (which ignore NODE_PATH) through a node_modules link beside the code file.
    execution_commands=[
        f'ln -s {PACKAGES}/node/node_modules "$LLM_SANDBOX_RUN_DIR/node_modules" 2>/dev/null; '
        "exec node {file}"
    ],
    package_manager="npm",
    # --ignore-scripts: no package code runs while the installer has network.
    install_command=(
        'npm install --prefix "$LLM_SANDBOX_PACKAGES/node" --ignore-scripts --no-audit --no-fund '
        "--no-update-notifier --no-package-lock --loglevel=error {libraries}"
    ),
    kernel=("node", f"{RUNTIME_DIR}/llm_sandbox_kernel.js"),
    library_pattern=NPM_LIBRARY,
    library_example="an npm package name, optionally scoped and versioned (lodash, lodash@4.17.21, @types/node@^20)",
    import_pattern=r"(?:\brequire\s*\(\s*|\bimport\s*\(\s*|\bfrom\s*|\bimport\s*)"
    r"['\"](?:node:)?{module}(?:/[^'\"]*)?['\"]",
    version_command="node --version",
)


class JavaScriptHandler(_SlashComments):
    """Code with ``import``/``export`` statements runs as an ES module (``.mjs``)."""

    config = JAVASCRIPT

    def source_filename(self, code: str) -> str:
        return "main.mjs" if _ESM.search(code) else "main.js"


# ---------------------------------------------------------------------------------------------
# Java
# ---------------------------------------------------------------------------------------------
JAVA = LanguageConfig(
    name="java",
    aliases=("jdk",),
    file_extension="java",
    # Single-file source launch (JEP 330): compiled in memory and run in one JVM; the first top-level
    # class must declare main, whatever its name and whether or not it is public. The C1 JIT only and
    # the image's class-data-sharing archive of the launcher: ~250 ms to start instead of ~650 ms.
    execution_commands=[
        "exec java -XX:TieredStopAtLevel=1 -XX:SharedArchiveFile=/opt/llm-sandbox/source-launcher.jsa {file}"
    ],
    is_support_library_installation=False,
    library_unsupported_reason=(
        "the Java image has no Maven or Gradle resolver and no Maven repository is assumed reachable; "
        "use the JDK's standard library, or copy jars into the sandbox and load them yourself"
    ),
    import_pattern=r"\bimport\s+(?:static\s+)?{module}(?:\.[\w*]+)*\s*;",
    version_command="java -version",
)

_JAVA_COMMENTS_AND_STRINGS = re.compile(
    r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S
)
_JAVA_TYPE = re.compile(
    r"^[ \t]*((?:(?:public|final|abstract|sealed|non-sealed|strictfp)\s+)*)"
    r"(?:class|interface|enum|record)\s+(\w+)",
    re.M,
)


class JavaHandler(_SlashComments):
    """The code file is named after its public class (or its first class), as javac expects."""

    config = JAVA

    def source_filename(self, code: str) -> str:
        stripped = _JAVA_COMMENTS_AND_STRINGS.sub(" ", code)
        types = _JAVA_TYPE.findall(stripped)
        public = [name for modifiers, name in types if "public" in modifiers.split()]
        name = public[0] if public else (types[0][1] if types else "Main")
        return f"{name}.java"


# ---------------------------------------------------------------------------------------------
# C++
# ---------------------------------------------------------------------------------------------
# Libraries g++ links (or that are part of the toolchain): nothing to install for them.
_CPP_BUILTIN = frozenset({
    "libstdc++", "stdc++", "libstdc++6", "libstdc++-12-dev", "libc", "libc6", "libc6-dev", "libm",
    "libpthread", "pthread", "libgcc", "g++", "gcc", "libgomp", "libgomp1",
})  # fmt: skip

CPP = LanguageConfig(
    name="cpp",
    aliases=("c++", "cxx"),
    file_extension="cpp",
    # Installed Debian libraries are linked when used (--as-needed drops the others).
    execution_commands=[
        'g++ -std=gnu++17 -O1 -pipe -o "$LLM_SANDBOX_RUN_DIR/main" {file} -Wl,--as-needed '
        f"$(cat {PACKAGES}/deb/ldflags 2>/dev/null)",
        'exec "$LLM_SANDBOX_RUN_DIR/main"',
    ],
    package_manager="apt",
    install_command=_install_script("deb"),
    library_pattern=DEBIAN_LIBRARY,
    library_example="a Debian package name (libfmt-dev, or fmt for libfmt-dev); the version is Debian's",
    environment={
        "CPATH": f"{DEB_ROOT}/usr/include:{PACKAGES}/deb/include-arch",
        "LIBRARY_PATH": f"{DEB_LIB}:{DEB_ROOT}/usr/lib",
        "LD_LIBRARY_PATH": f"{DEB_LIB}:{DEB_ROOT}/usr/lib",
    },
    exec_tmp=True,
    preinstalled_libraries=("libstdc++ (C++17 standard library)",),
    import_pattern=r"(?m)^\s*#\s*include\s*[<\"]{module}(?:\.h|\.hpp)?[>\"]",
    version_command="g++ --version",
)


class CppHandler(_SlashComments):
    """``libstdc++`` and the other toolchain libraries are part of the image: nothing to install."""

    config = CPP

    def libraries_to_install(self, libraries: list[str]) -> list[str]:
        return [name for name in libraries if name.lower() not in _CPP_BUILTIN]


# ---------------------------------------------------------------------------------------------
# Go
# ---------------------------------------------------------------------------------------------
_GO_MODULE = f"{PACKAGES}/go/src"  # the module install.sh `go get`s into

GO = LanguageConfig(
    name="go",
    aliases=("golang",),
    file_extension="go",
    # Built in the run directory; the build cache (GOCACHE, /tmp) is kept for the session's later runs.
    # Once modules were installed, the code is built inside a copy of their module (go.mod/go.sum).
    # No symbol table or DWARF: links 2-3x faster (panics still show file:line).
    execution_commands=[
        f'(cd "$LLM_SANDBOX_RUN_DIR" && if [ -f {_GO_MODULE}/go.mod ]; then '
        f"cp {_GO_MODULE}/go.mod {_GO_MODULE}/go.sum . 2>/dev/null; "
        'exec go build -ldflags="-s -w" -o main .; '
        'else exec go build -ldflags="-s -w" -o main {file}; fi)',
        'exec "$LLM_SANDBOX_RUN_DIR/main"',
    ],
    package_manager="go",
    install_command=_install_script("go"),
    library_pattern=GO_LIBRARY,
    library_example="a Go module path, optionally with @version (github.com/google/uuid@v1.6.0)",
    # GOCACHE (/tmp, kept between the runs of a session), GOPATH and GOPROXY=off are set in the image.
    exec_tmp=True,
    import_pattern=r"\bimport\s*(?:\([^)]*?)?(?:[\w.]+\s+)?\"{module}(?:/[^\"]*)?\"",
    version_command="go version",
)


class GoHandler(_SlashComments):
    config = GO


# ---------------------------------------------------------------------------------------------
# Ruby
# ---------------------------------------------------------------------------------------------
RUBY = LanguageConfig(
    name="ruby",
    aliases=("rb",),
    file_extension="rb",
    execution_commands=["exec ruby {file}"],
    package_manager="gem",
    install_command=_install_script("gem"),
    library_pattern=GEM_LIBRARY,
    library_example="a gem name, optionally with ==version (rainbow, rainbow==3.1.1)",
    # Gems, and Debian's ruby-* packages (used when no gem source answers), are found in GEM_HOME
    # (set in the image); older Debian packages through RUBYLIB, their system libraries in deb/lib.
    environment={"RUBYLIB": f"{DEB_ROOT}/usr/lib/ruby/vendor_ruby", "LD_LIBRARY_PATH": DEB_LIB},
    kernel=("ruby", f"{RUNTIME_DIR}/llm_sandbox_kernel.rb"),
    import_pattern=r"\brequire(?:_relative)?\s*\(?\s*['\"]{module}(?:/[^'\"]*)?['\"]",
    version_command="ruby --version",
)


class RubyHandler(_HashComments):
    config = RUBY

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r"(?m)^=begin[\s\S]*?^=end"


# ---------------------------------------------------------------------------------------------
# R
# ---------------------------------------------------------------------------------------------
R = LanguageConfig(
    name="r",
    aliases=("rlang", "rscript"),
    file_extension="R",
    execution_commands=["exec Rscript {file}"],
    package_manager="apt (r-cran-*)",
    install_command=_install_script("r"),
    library_pattern=CRAN_LIBRARY,
    library_example="a CRAN package name (data.table, jsonlite); the version is Debian's r-cran-* package",
    # R_LIBS_USER (image) holds the installed packages; their system libraries are in deb/lib.
    # Fontconfig (cairo plots) needs a writable cache; HOME is read-only.
    environment={"LD_LIBRARY_PATH": DEB_LIB, "XDG_CACHE_HOME": "/tmp/.cache"},
    plot_detection=PlotDetectionConfig(
        libraries=("graphics", "ggplot2", "lattice"),
        environment={"R_PROFILE_USER": "/opt/llm-sandbox/llm_sandbox_capture.R"},
    ),
    preinstalled_libraries=("ggplot2",),
    # stdbuf: R's console output is line-buffered, so a cell's output streams as it is printed.
    kernel=("stdbuf", "-oL", "-eL", "Rscript", f"{RUNTIME_DIR}/llm_sandbox_kernel.R"),
    import_pattern=r"\b(?:library|require|requireNamespace|loadNamespace)\s*\(\s*(?:package\s*=\s*)?['\"]?"
    r"{module}['\"]?\s*[,)]|\b{module}:::?",
    version_command="Rscript --version",
)


class RHandler(_HashComments):
    config = R


BUILTIN_LANGUAGES: list[type[LanguageHandler]] = [
    PythonHandler,
    JavaScriptHandler,
    JavaHandler,
    CppHandler,
    GoHandler,
    RubyHandler,
    RHandler,
]
"""Each built-in language's handler class; its ``config`` is the language's record."""

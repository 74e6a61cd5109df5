"""Table-driven check of the security analyzers: what must be caught and what must pass.

Each row: language, preset, snippet, and either the restricted module / pattern that must be
reported as blocking, or ``None`` for innocent code that must pass.
"""

from __future__ import annotations

import pytest

from llm_sandbox.security import check_code, get_security_policy

CAUGHT = [
    # --- Python: every import form ------------------------------------------------
    ("python", "strict", "import os\nprint(os.getcwd())", "os"),
    ("python", "strict", "import os.path as p\nprint(p.join('a', 'b'))", "os"),
    ("python", "minimal", "import subprocess as sp\nsp.run(['ls'])", "subprocess"),
    ("python", "minimal", "from subprocess import run\nrun(['ls'])", "subprocess"),
    ("python", "minimal", "from os import system\nsystem('id')", "os.system"),
    ("python", "minimal", "import os as o\nrun = o.system\nrun('id')", "os.system"),
    ("python", "minimal", "from os import *\nsystem('id')", "os.system"),
    ("python", "minimal", "import posix\nposix.system('id')", "posix"),
    # dynamic imports with constant names
    ("python", "minimal", "__import__('subprocess').run(['ls'])", "subprocess"),
    ("python", "minimal", "m = __import__('sub' + 'process')", "subprocess"),
    ("python", "minimal", "name = 'sub' 'process'\nmod = __import__(name)", "subprocess"),
    ("python", "minimal", "n = 'sub'\nn += 'process'\n__import__(n)", "subprocess"),
    (
        "python",
        "minimal",
        "import importlib\nimportlib.import_module(''.join(['sub', 'process']))",
        "subprocess",
    ),
    ("python", "minimal", "import importlib as il\nil.import_module('ssecorpbus'[::-1])", "subprocess"),
    ("python", "minimal", "import importlib\nimportlib.import_module(f'{chr(115)}ubprocess')", "subprocess"),
    ("python", "production", "from importlib import import_module\nimport_module('socket')", "socket"),
    ("python", "minimal", "__builtins__.__import__('os').system('id')", "os.system"),
    ("python", "minimal", "getattr(__builtins__, '__import__')('subprocess')", "subprocess"),
    ("python", "minimal", "import builtins\nbuiltins.__import__('subprocess')", "subprocess"),
    ("python", "minimal", "__builtins__['__import__']('subprocess')", "subprocess"),
    ("python", "minimal", "vars(__builtins__)['__im' + 'port__']('sub' + 'process')", "subprocess"),
    ("python", "minimal", "import sys\nsys.modules['subprocess'].run(['ls'])", "subprocess"),
    ("python", "minimal", "import os\ngetattr(os, 'sys' + 'tem')('id')", "os.system"),
    ("python", "minimal", "exec('import sub' + 'process')", "subprocess"),
    ("python", "minimal", "globals()['__builtins__']['__import__']('subprocess')", "subprocess"),
    ("python", "minimal", "exec(compile('import subprocess', 'x', 'exec'))", "subprocess"),
    ("python", "minimal", "x = input()\n__import__(x)", "<dynamic import>"),
    # per preset
    ("python", "data_science", "import socket\ns = socket.socket()", "socket"),
    ("python", "data_science", "import requests\nrequests.get('https://example.com')", "requests"),
    ("python", "web_scraping", "import smtplib", "smtplib"),
    ("python", "development", "import ctypes\nctypes.CDLL(None)", "ctypes"),
    ("python", "production", "eval(input())", "builtins.eval"),
    # --- JavaScript ----------------------------------------------------------------
    ("javascript", "minimal", 'const cp = require("child_process");', "child_process"),
    ("javascript", "minimal", "const { exec } = require('node:child_process');", "child_process"),
    ("javascript", "minimal", 'import { spawn } from "child_process";', "child_process"),
    ("javascript", "minimal", 'const m = await import("child_" + "process");', "child_process"),
    ("javascript", "minimal", 'const cp = require("child\\x5fprocess");', "child_process"),
    ("javascript", "production", "import net from 'net';", "net"),
    ("javascript", "minimal", 'require("child_processX".slice(0, -1));', "<dynamic import>"),
    # --- Java ----------------------------------------------------------------------
    ("java", "production", "import java.net.Socket;\nclass Main {}", "java.net.Socket"),
    ("java", "production", 'class Main { Object s = new java.net.Socket("h", 80); }', "java.net.Socket"),
    ("java", "production", "\\u0069mport java.net.Socket;\nclass Main {}", "java.net.Socket"),
    # --- C++ -----------------------------------------------------------------------
    ("cpp", "production", "#include <sys/socket.h>\nint main() { return 0; }", "sys/socket.h"),
    # --- Go ------------------------------------------------------------------------
    ("go", "minimal", 'package main\nimport (\n\t"fmt"\n\tx "os/exec"\n)\n', "os/exec"),
    ("go", "production", 'package main\nimport "net/http"\n', "net/http"),
    # --- Ruby ----------------------------------------------------------------------
    ("ruby", "production", "require 'socket'\n", "socket"),
    ("ruby", "minimal", 'require("open3")\n', "open3"),
    # --- R -------------------------------------------------------------------------
    ("r", "production", "library(httr)\n", "httr"),
    ("r", "production", 'suppressMessages(require("curl"))\n', "curl"),
    ("r", "minimal", 'processx::run("id")\n', "processx"),
]

CAUGHT_BY_PATTERN = [
    ("python", "educational", "print(().__class__.__bases__[0].__subclasses__())"),
    ("javascript", "production", 'eval("1 + 1")'),
    ("java", "minimal", 'class M { void f() throws Exception { Runtime.getRuntime().exec("id"); } }'),
    ("cpp", "minimal", '#include <cstdlib>\nint main() { return std::system("id"); }'),
    ("ruby", "minimal", "puts `id`\n"),
    ("r", "minimal", 'system("id")\n'),
    ("python", "minimal", "cmd = 'rm -rf / --no-preserve-root'"),
]

HELLO_WORLDS = [
    ("python", "print('Hello, World!')"),
    ("javascript", "console.log('Hello, World!');"),
    (
        "java",
        'public class Main {\n  public static void main(String[] a) {\n    System.out.println("Hi");\n  }\n}',
    ),
    ("cpp", '#include <iostream>\n#include <cstdio>\nint main() { std::cout << "Hi"; printf("!"); }'),
    ("go", 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hi")\n}'),
    ("ruby", "puts 'Hello, World!'"),
    ("r", 'print("Hello, World!")'),
]

INNOCENT = [
    *[(lang, "strict", code) for lang, code in HELLO_WORLDS],
    (
        "python",
        "production",
        "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
        "df = pd.DataFrame({'x': np.linspace(0, 1, 5)})\ndf.plot()\nplt.show()",
    ),
    ("python", "strict", "print('os')"),
    ("python", "strict", "import osmosis"),
    ("python", "strict", "# we never call subprocess here\nprint(1)"),
    ("python", "strict", 'def f():\n    """Example: import os; os.system(\'ls\')"""\n    return 1'),
    ("python", "strict", "s = 'import subprocess'\nprint(s)"),
    ("python", "strict", "import json\nprint(json.dumps({'os': 1}))"),
    ("python", "production", "import pandas as pd\ndf = pd.DataFrame({'a': [1]})\ndf.eval('a + 1')"),
    ("python", "web_scraping", "import requests\nrequests.get('https://example.com')"),
    ("python", "data_science", "import numpy as np\nimport os.path\nprint(np.zeros(3))"),
    ("python", "minimal", "from os import path\nprint(path.join('a', 'b'))"),
    ("python", "minimal", "import os\nprint(os.listdir('.'))"),
    ("javascript", "minimal", "console.log(\"require('child_process')\");"),
    ("javascript", "minimal", '// const cp = require("child_process");\nconsole.log(1);'),
    ("javascript", "strict", '/* import fs from "fs" */\nconst x = 1;'),
    ("javascript", "minimal", 'const re = /"/;\nconst name = "child_process";\nconsole.log(re, name);'),
    ("java", "production", "// import java.net.Socket;\nclass Main {}"),
    ("java", "production", 'class Main { String s = "import java.net.Socket;"; }'),
    ("cpp", "production", "// #include <sys/socket.h>\n#include <iostream>\nint main() { return 0; }"),
    ("cpp", "production", 'const char* s = "#include <sys/socket.h>";\nint main() { return 0; }'),
    (
        "go",
        "minimal",
        'package main\n// import "os/exec"\nimport "fmt"\nfunc main() { fmt.Println("os/exec") }\n',
    ),
    ("ruby", "production", "require_relative 'socket'\n# require 'socket'\nputs 'require \"socket\"'\n"),
    ("r", "production", '# library(httr)\nprint("library(httr)")\nlibrary(ggplot2)\n'),
]


@pytest.mark.parametrize(
    ("lang", "preset", "code", "rule"),
    CAUGHT,
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_caught(lang: str, preset: str, code: str, rule: str) -> None:
    safe, violations = check_code(code, lang, get_security_policy(preset))
    assert not safe, violations
    blocking = {v.rule for v in violations if v.blocking}
    assert rule in blocking, [str(v) for v in violations]
    assert all(not v.fallback for v in violations)


@pytest.mark.parametrize(("lang", "preset", "code"), CAUGHT_BY_PATTERN)
def test_caught_by_pattern(lang: str, preset: str, code: str) -> None:
    safe, violations = check_code(code, lang, get_security_policy(preset))
    assert not safe
    assert any(v.kind == "pattern" and v.blocking for v in violations), [str(v) for v in violations]


@pytest.mark.parametrize(("lang", "preset", "code"), INNOCENT)
def test_innocent(lang: str, preset: str, code: str) -> None:
    safe, violations = check_code(code, lang, get_security_policy(preset))
    assert safe, [str(v) for v in violations]
    assert not [v for v in violations if v.blocking]


def test_table_size() -> None:
    assert len(CAUGHT) + len(CAUGHT_BY_PATTERN) + len(INNOCENT) >= 40

"""Shipped policy presets, built from one catalog of rules grouped by risk.

Groups (each entry tagged with the languages it applies to):

* ``process``: starting processes or shells — the usual way out of the language runtime
  into the tools of the image.
* ``native``: loading native code or raw memory access (ctypes, cgo, FFI, Unsafe).
* ``raw_network``: sockets and non-HTTP protocols (SMTP, FTP, SSH, raw TCP/UDP).
* ``http``: HTTP clients and servers.
* ``dynamic_code``: running code built at run time (eval/exec/new Function).
* ``introspection``: interpreter internals used to escape restrictions (``__subclasses__``,
  ``__globals__``, ``builtins``, ``importlib``).
* ``fs_delete``: deleting or re-permissioning files and trees.
* ``system``: system and environment information, the OS interface as a whole.
* ``serialization``: formats that run code when loaded (pickle, marshal).
* ``concurrency``: threads and process pools.
* ``file_access``: opening files at all.

Severities within the catalog: process/native HIGH; network, dynamic code,
introspection, deletion MEDIUM; the rest LOW. A preset picks groups and a threshold.
"""

from __future__ import annotations

from collections.abc import Callable

from ..exceptions import ValidationError
from .models import RestrictedModule, SecurityIssueSeverity, SecurityPattern, SecurityPolicy

HIGH = SecurityIssueSeverity.HIGH
MEDIUM = SecurityIssueSeverity.MEDIUM
LOW = SecurityIssueSeverity.LOW

PY = ("python",)
JS = ("javascript",)
JAVA = ("java",)
CPP = ("cpp",)
GO = ("go",)
RUBY = ("ruby",)
R = ("r",)

# (name, description, languages)
ModuleEntry = tuple[str, str, tuple[str, ...] | None]
# (regex, description, languages)
PatternEntry = tuple[str, str, tuple[str, ...] | None]


def _many(names: str, description: str, langs: tuple[str, ...] | None) -> list[ModuleEntry]:
    return [(n, description, langs) for n in names.split()]


_OS_EXEC = (
    "os.system os.popen os.execl os.execle os.execlp os.execlpe os.execv os.execve os.execvp "
    "os.execvpe os.spawnl os.spawnle os.spawnlp os.spawnlpe os.spawnv os.spawnve os.spawnvp "
    "os.spawnvpe os.posix_spawn os.posix_spawnp os.fork os.forkpty os.kill os.killpg"
)

MODULES: dict[str, list[ModuleEntry]] = {
    "process": [
        ("subprocess", "starts processes and shells", PY),
        ("pty", "spawns processes on pseudo-terminals", PY),
        ("posix", "low-level OS calls (system, exec, fork) without going through os", PY),
        *_many(_OS_EXEC, "runs shell commands or starts, replaces or signals processes", PY),
        *_many(
            "asyncio.create_subprocess_exec asyncio.create_subprocess_shell",
            "starts processes from asyncio",
            PY,
        ),
        ("child_process", "starts processes and shells", JS),
        ("java.lang.ProcessBuilder", "starts processes", JAVA),
        ("java.lang.Runtime", "Runtime.exec starts processes", JAVA),
        ("os/exec", "starts processes", GO),
        ("syscall", "raw system calls, including fork and exec", GO),
        ("golang.org/x/sys", "raw system calls, including fork and exec", GO),
        ("open3", "starts processes and shells", RUBY),
        ("pty", "spawns processes on pseudo-terminals", RUBY),
        ("processx", "starts processes", R),
        ("sys", "starts processes (sys::exec_wait)", R),
    ],
    "native": [
        ("ctypes", "calls native code and reads or writes raw memory", PY),
        ("_ctypes", "calls native code and reads or writes raw memory", PY),
        ("cffi", "calls native code", PY),
        ("ffi-napi", "calls native code", JS),
        ("node-ffi", "calls native code", JS),
        ("sun.misc.Unsafe", "raw memory access", JAVA),
        ("java.lang.foreign", "calls native code and accesses foreign memory", JAVA),
        ("dlfcn.h", "loads shared libraries at run time", CPP),
        ("unsafe", "bypasses Go's memory safety", GO),
        ("C", "cgo: compiles and calls C code", GO),
        ("plugin", "loads shared objects at run time", GO),
        ("fiddle", "calls native code", RUBY),
        ("ffi", "calls native code", RUBY),
    ],
    "raw_network": [
        *_many(
            "socket socketserver asyncio.open_connection asyncio.start_server "
            "asyncio.open_unix_connection asyncio.start_unix_server",
            "opens raw network connections or listening sockets",
            PY,
        ),
        *_many(
            "ftplib smtplib poplib imaplib telnetlib nntplib xmlrpc paramiko",
            "speaks a network protocol other than HTTP (mail, FTP, SSH, RPC)",
            PY,
        ),
        *_many("net dgram tls dns", "opens raw network connections or listening sockets", JS),
        *_many("java.nio.channels javax.net", "opens raw network connections", JAVA),
        ("java.net.Socket", "opens raw network connections", JAVA),
        ("java.net.ServerSocket", "listens for network connections", JAVA),
        ("java.net.DatagramSocket", "opens UDP sockets", JAVA),
        *_many(
            "sys/socket.h netinet/in.h netinet/tcp.h arpa/inet.h netdb.h boost/asio",
            "opens raw network connections or listening sockets",
            CPP,
        ),
        *_many("net/smtp net/rpc net/mail crypto/tls", "speaks a network protocol other than HTTP", GO),
        *_many("socket net/ssh net/smtp net/ftp net/pop net/imap", "opens raw network connections", RUBY),
        *_many("socket", "opens raw network connections", R),
    ],
    "http": [
        *_many(
            "urllib.request http.client http.server requests httpx aiohttp urllib3 pycurl "
            "websocket websockets webbrowser",
            "makes HTTP requests or serves HTTP",
            PY,
        ),
        *_many("http https http2 undici axios node-fetch got ws", "makes HTTP requests or serves HTTP", JS),
        *_many(
            "java.net.http java.net.URL java.net.URLConnection java.net.HttpURLConnection okhttp3 "
            "org.apache.http",
            "makes HTTP requests",
            JAVA,
        ),
        ("curl", "makes HTTP requests (libcurl)", CPP),
        ("net/http", "makes HTTP requests or serves HTTP", GO),
        *_many("net/http open-uri httparty faraday rest-client", "makes HTTP requests", RUBY),
        *_many("httr httr2 curl RCurl", "makes HTTP requests", R),
    ],
    "dynamic_code": [
        *_many(
            "builtins.eval builtins.exec", "runs code built at run time, which static checks cannot see", PY
        ),
        ("builtins.compile", "compiles code built at run time", PY),
        ("vm", "runs code built at run time", JS),
        ("javax.script", "runs code built at run time", JAVA),
    ],
    "introspection": [
        ("builtins", "the builtins module: a way around checks on builtins and imports", PY),
        ("importlib", "imports modules by computed names", PY),
        ("builtins.__import__", "imports modules by computed names", PY),
        ("java.lang.reflect", "reflection: reaches private members and computed classes", JAVA),
        ("java.lang.invoke", "method handles: calls computed methods", JAVA),
        ("reflect", "reflection on arbitrary values", GO),
    ],
    "fs_delete": [
        *_many(
            "shutil.rmtree os.remove os.unlink os.rmdir os.removedirs os.chmod os.chown os.lchown",
            "deletes files or changes their permissions",
            PY,
        ),
    ],
    "system": [
        *_many(
            "os sys platform getpass pwd grp resource signal", "operating-system and interpreter access", PY
        ),
        *_many("os process", "operating-system access", JS),
        ("os", "operating-system access", GO),
        ("etc", "reads user and system information", RUBY),
    ],
    "serialization": [
        *_many("pickle marshal shelve dill cloudpickle", "runs code when loading data", PY),
        ("java.io.ObjectInputStream", "Java deserialization runs code when loading data", JAVA),
    ],
    "concurrency": [
        *_many("multiprocessing threading concurrent.futures _thread", "starts threads or processes", PY),
        *_many("worker_threads cluster", "starts threads or processes", JS),
    ],
    "file_access": [
        *_many(
            "builtins.open io.open pathlib shutil tempfile os.open fileinput glob",
            "reads or writes files",
            PY,
        ),
        *_many("fs fs/promises", "reads or writes files", JS),
        *_many("java.io.File java.nio.file", "reads or writes files", JAVA),
        ("fstream", "reads or writes files", CPP),
        ("io/ioutil", "reads or writes files", GO),
        ("fileutils", "reads, writes or deletes files", RUBY),
    ],
}

PATTERNS: dict[str, list[PatternEntry]] = {
    "process": [
        (
            r"\bRuntime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(",
            "Runtime.exec starts processes",
            JAVA,
        ),
        (r"\bnew\s+ProcessBuilder\b", "starts processes", JAVA),
        (
            r"(?<![\w.])(?:std\s*::\s*)?(?:system|popen|_popen|fork|vfork|execl|execlp|execle|execv|execvp|"
            r"execvpe|execve|posix_spawnp?)\s*\(",
            "runs shell commands or starts processes",
            CPP,
        ),
        (r"`[^`\n]*`|%x[({\[<|!]", "backquotes / %x run shell commands", RUBY),
        (
            r"(?<![\w.:])(?:Kernel\s*\.\s*)?(?:system|exec|spawn|fork)\b\s*(?:\(|['\"%])",
            "runs shell commands or starts processes",
            RUBY,
        ),
        (
            r"\b(?:IO|Process|Open3|PTY)\s*\.\s*(?:popen\w*|spawn|fork|exec|capture\w*)\b",
            "starts processes",
            RUBY,
        ),
        (
            r"(?<![\w.])(?:system2?|shell|shell\.exec|pipe)\s*\(",
            "runs shell commands",
            R,
        ),
        (
            r"\b(?:do\.call|match\.fun|get0?|getFunction)\s*\(\s*[\"'](?:system2?|shell|pipe)[\"']",
            "reaches system()/shell() by name",
            R,
        ),
        (r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:", "shell fork bomb", None),
        (
            r"\brm\s+-[a-zA-Z]*[rR][a-zA-Z]*\s+(?:--\s+)?(?:/|~|\$HOME)(?:[\s'\"*]|$)",
            "recursive deletion of / or home",
            None,
        ),
    ],
    "native": [
        (r"\bprocess\s*\.\s*(?:binding|_linkedBinding|dlopen)\s*\(", "reaches Node's native internals", JS),
        (r"\bdyn\.load\s*\(", "loads native code", R),
        (r"(?<![\w.])dlopen\s*\(", "loads shared libraries at run time", CPP),
    ],
    "raw_network": [
        (
            r"\bnet\s*\.\s*(?:Dial\w*|Listen\w*|Dialer|ListenConfig|FileConn|FileListener)\b",
            "opens raw network connections or listening sockets",
            GO,
        ),
        (r"\bsocketConnection\s*\(|\bmake\.socket\s*\(", "opens raw network connections", R),
    ],
    "http": [
        (r"(?<![\w$.])fetch\s*\(", "makes HTTP requests (global fetch)", JS),
        (r"\b(?:download\.file|url)\s*\(", "downloads from the network", R),
    ],
    "dynamic_code": [
        (r"(?<![\w$])eval\b", "runs code built at run time", JS),
        (r"\b(?:new\s+)?Function\s*\(", "compiles code built at run time", JS),
        (r"(?<![\w.])(?:eval|instance_eval|class_eval|module_eval)\b", "runs code built at run time", RUBY),
        (r"(?<![\w.])eval\s*\(\s*(?:parse|str2lang|str2expression)\s*\(", "runs code built at run time", R),
    ],
    "introspection": [
        (
            r"\.\s*__(?:subclasses|globals|code|closure|mro|bases|base|getattribute|loader|spec)__\b",
            "interpreter internals used to escape restrictions",
            PY,
        ),
        (r"\.\s*(?:send|__send__|public_send|instance_variable_get|const_get)\s*[(\s]", "reflection", RUBY),
    ],
    "fs_delete": [
        (
            r"\bfs\s*\.\s*(?:rm|rmdir|unlink|chmod|chown)(?:Sync)?\s*\(",
            "deletes files or changes permissions",
            JS,
        ),
        (r"\bos\s*\.\s*(?:Remove|RemoveAll|Chmod|Chown)\s*\(", "deletes files or changes permissions", GO),
        (r"\bFileUtils\s*\.\s*(?:rm\w*|remove\w*|chmod\w*|chown\w*)\b", "deletes files", RUBY),
        (r"\b(?:unlink|file\.remove|Sys\.chmod)\s*\(", "deletes files or changes permissions", R),
        (r"\bFiles\s*\.\s*(?:delete|deleteIfExists|setPosixFilePermissions)\s*\(", "deletes files", JAVA),
    ],
    "system": [
        (r"\bprocess\s*\.\s*(?:env|exit|kill|chdir|setuid|setgid)\b", "process and environment access", JS),
        (r"\bSystem\s*\.\s*(?:getenv|exit)\s*\(", "environment access", JAVA),
        (r"\bENV\s*\[", "environment access", RUBY),
        (r"\bSys\.(?:getenv|setenv)\s*\(", "environment access", R),
    ],
    "serialization": [],
    "concurrency": [],
    "file_access": [
        (
            r"(?<![\w.])(?:std\s*::\s*)?(?:fopen|freopen|open|creat|unlink)\s*\(",
            "opens or deletes files",
            CPP,
        ),
        (
            r"\bFile\s*\.\s*(?:open|read|write|delete)\b|\bIO\s*\.\s*(?:read|write)\b",
            "reads or writes files",
            RUBY,
        ),
        (r"\b(?:readLines|writeLines|file|readRDS|saveRDS)\s*\(", "reads or writes files", R),
    ],
}

GROUP_SEVERITY: dict[str, SecurityIssueSeverity] = {
    "process": HIGH,
    "native": HIGH,
    "raw_network": MEDIUM,
    "http": MEDIUM,
    "dynamic_code": MEDIUM,
    "introspection": MEDIUM,
    "fs_delete": MEDIUM,
    "system": LOW,
    "serialization": LOW,
    "concurrency": LOW,
    "file_access": LOW,
}


def _policy(
    threshold: SecurityIssueSeverity,
    groups: dict[str, SecurityIssueSeverity | None],
) -> SecurityPolicy:
    """A policy with the rules of ``groups`` (value: severity override or None for the default)."""
    modules: list[RestrictedModule] = []
    patterns: list[SecurityPattern] = []
    for group, override in groups.items():
        severity = override if override is not None else GROUP_SEVERITY[group]
        for name, description, langs in MODULES[group]:
            modules.append(
                RestrictedModule(
                    name=name,
                    description=description,
                    severity=severity,
                    languages=list(langs) if langs else None,
                )
            )
        for regex, description, langs in PATTERNS[group]:
            patterns.append(
                SecurityPattern(
                    pattern=regex,
                    description=description,
                    severity=severity,
                    languages=list(langs) if langs else None,
                )
            )
    return SecurityPolicy(severity_threshold=threshold, patterns=patterns, restricted_modules=modules)


def minimal_policy() -> SecurityPolicy:
    """Blocks only starting processes/shells and destructive shell strings."""
    return _policy(HIGH, {"process": None})


def development_policy() -> SecurityPolicy:
    """Blocks processes and native code; reports network, eval and deletions without blocking."""
    return _policy(
        HIGH,
        {
            "process": None,
            "native": None,
            "raw_network": None,
            "http": None,
            "dynamic_code": None,
            "introspection": None,
            "fs_delete": None,
        },
    )


def educational_policy() -> SecurityPolicy:
    """For learners' code: no processes, native code, network, eval, internals or deletions."""
    return _policy(
        MEDIUM,
        {
            "process": None,
            "native": None,
            "raw_network": None,
            "http": None,
            "dynamic_code": None,
            "introspection": None,
            "fs_delete": None,
            "system": None,
        },
    )


def data_science_policy() -> SecurityPolicy:
    """Numerical work on data already in the sandbox: no processes, native code, network or deletions."""
    return _policy(
        MEDIUM,
        {
            "process": None,
            "native": None,
            "raw_network": None,
            "http": None,
            "introspection": None,
            "fs_delete": None,
            "dynamic_code": LOW,
            "serialization": LOW,
        },
    )


def web_scraping_policy() -> SecurityPolicy:
    """HTTP clients allowed; processes, native code, raw sockets, eval, internals, deletions blocked."""
    return _policy(
        MEDIUM,
        {
            "process": None,
            "native": None,
            "raw_network": None,
            "dynamic_code": None,
            "introspection": None,
            "fs_delete": None,
        },
    )


def production_policy() -> SecurityPolicy:
    """Untrusted code in a service: everything MEDIUM+ blocked, system access reported."""
    return _policy(
        MEDIUM,
        {
            "process": None,
            "native": None,
            "raw_network": None,
            "http": None,
            "dynamic_code": None,
            "introspection": None,
            "fs_delete": None,
            "system": None,
            "serialization": None,
            "concurrency": None,
        },
    )


def strict_policy() -> SecurityPolicy:
    """Pure computation only: every rule of the catalog blocks (threshold LOW)."""
    return _policy(LOW, {group: None for group in GROUP_SEVERITY})


PRESETS: dict[str, Callable[[], SecurityPolicy]] = {
    "minimal": minimal_policy,
    "development": development_policy,
    "educational": educational_policy,
    "data_science": data_science_policy,
    "web_scraping": web_scraping_policy,
    "production": production_policy,
    "strict": strict_policy,
}


def list_security_policies() -> list[str]:
    """Names accepted by :func:`get_security_policy`."""
    return list(PRESETS)


def get_security_policy(name: str) -> SecurityPolicy:
    """A fresh copy of a shipped preset (case-insensitive; ``data-science`` = ``data_science``).

    Unknown names raise :class:`~llm_sandbox.exceptions.ValidationError` (a ``ValueError``)
    listing the valid ones.
    """
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    factory = PRESETS.get(key)
    if factory is None:
        raise ValidationError(f"unknown security policy preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return factory()

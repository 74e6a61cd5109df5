"""Per-language import analyzers and their registry.

An analyzer turns source code into the list of modules it imports or uses
(:class:`ModuleRef`) plus the comment-stripped text the regex patterns run on.
Python is analyzed with ``ast`` (see :mod:`.python_analyzer`); the other built-in
languages use the comment- and string-aware scanner of :mod:`.scanner` and match their
import forms in the text where string literals are blanked.

Plugins add a language with :func:`register_analyzer`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .imports import Analysis, ImportForm, ModuleRef, find_imports
from .python_analyzer import analyze_python
from .scanner import GENERIC_SYNTAX, CommentSyntax, scan_source

logger = logging.getLogger("llm_sandbox.security")






AnalyzeFn = Callable[[str], Analysis]
PluginAnalyzer = Callable[[str], Iterable["ModuleRef | tuple[str | None, int | None] | str"]]


@dataclass(frozen=True)
class LanguageAnalyzer:
    """A registered language: how to analyze it and how to compare its module names."""

    name: str
    analyze: AnalyzeFn
    normalize: Callable[[str], str]
    detects_imports: bool = True
    import_pattern: Callable[[str], str] | None = None
    """The reference API's way: ``import_pattern(module)`` is a regex searched in the stripped code."""


_REGISTRY: dict[str, LanguageAnalyzer] = {}
_ALIASES: dict[str, str] = {}


def canonical_language(lang: object) -> str:
    """The registered name of ``lang`` (aliases resolved, case-insensitive)."""
    key = str(getattr(lang, "value", lang)).strip().lower()
    return _ALIASES.get(key, key)


def _identity(name: str) -> str:
    return name


def _register(
    name: str,
    analyze: AnalyzeFn,
    *,
    aliases: Iterable[str] = (),
    normalize: Callable[[str], str] | None = None,
    detects_imports: bool = True,
    import_pattern: Callable[[str], str] | None = None,
) -> None:
    key = name.strip().lower()
    _REGISTRY[key] = LanguageAnalyzer(key, analyze, normalize or _identity, detects_imports, import_pattern)
    _ALIASES.pop(key, None)
    for alias in aliases:
        alias_key = alias.strip().lower()
        if alias_key != key:
            _ALIASES[alias_key] = key


def register_analyzer(
    lang: str,
    analyzer: PluginAnalyzer | None,
    *,
    comments: CommentSyntax | None = None,
    aliases: Iterable[str] = (),
    normalize: Callable[[str], str] | None = None,
) -> None:
    """Register (or replace) the import analyzer of a language.

    ``analyzer(code)`` returns the modules the code imports, each a :class:`ModuleRef`,
    a ``(name, line)`` tuple or a bare name; ``None`` as name means "dynamic import whose
    name is not a constant". ``analyzer=None`` registers a language with regex patterns
    only. ``comments`` is the language's comment syntax, used to strip comments before the
    policy's regex patterns run (default: ``//``, ``/* */`` and ``#`` after whitespace).
    :func:`scan_source` and :func:`regex_import_analyzer` help write analyzers that ignore
    comments and strings. ``normalize`` maps a module name to the form compared with
    restricted names (for example dropping a ``node:`` prefix).
    """
    syntax = comments or GENERIC_SYNTAX

    def analyze(code: str) -> Analysis:
        stripped = scan_source(code, syntax).stripped
        refs: list[ModuleRef] = []
        if analyzer is not None:
            for item in analyzer(code):
                if isinstance(item, ModuleRef):
                    refs.append(item)
                elif isinstance(item, tuple):
                    refs.append(ModuleRef(item[0], item[1] if len(item) > 1 else None))
                else:
                    refs.append(ModuleRef(str(item)))
        return Analysis(refs, stripped)

    _register(lang, analyze, aliases=aliases, normalize=normalize, detects_imports=analyzer is not None)


def register_pattern_analyzer(
    lang: str, import_pattern: Callable[[str], str], strip: Callable[[str], str], *, aliases: Iterable[str] = ()
) -> None:
    """Register a language checked the reference API's way, from a language handler's hooks.

    ``strip(code)`` removes comments (the handler's ``filter_comments``); a restricted
    module is imported when ``import_pattern(module)`` (``get_import_patterns``) is found
    in what is left. Regexes cannot tell code from strings: prefer :func:`register_analyzer`.
    """
    _register(lang, lambda code: Analysis([], strip(code)), aliases=aliases, import_pattern=import_pattern)


def unregister_analyzer(lang: str) -> None:
    """Remove a language's analyzer and its aliases (code in that language then gets the generic analysis)."""
    key = canonical_language(lang)
    _REGISTRY.pop(key, None)
    for alias in [alias for alias, target in _ALIASES.items() if target == key]:
        del _ALIASES[alias]


def get_analyzer(lang: object) -> LanguageAnalyzer:
    """The analyzer of ``lang``; unknown languages get regex patterns only (generic comments)."""
    key = canonical_language(lang)
    found = _REGISTRY.get(key)
    if found is not None:
        return found
    return LanguageAnalyzer(key, _generic_analyze, _identity, detects_imports=False)


def registered_languages() -> list[str]:
    """Names of the languages with a registered analyzer."""
    return sorted(_REGISTRY)


def _generic_analyze(code: str) -> Analysis:
    return Analysis([], scan_source(code, GENERIC_SYNTAX).stripped)


def analyze_code(code: str, lang: object) -> Analysis:
    """Run the analyzer of ``lang`` on ``code``."""
    return get_analyzer(lang).analyze(code)


def strip_comments(code: str, lang: object) -> str:
    """``code`` with the comments of ``lang`` removed (string literals kept, lines kept)."""
    return analyze_code(code, lang).stripped






def regex_import_analyzer(forms: Sequence[str | ImportForm], comments: CommentSyntax) -> PluginAnalyzer:
    """Build a plugin analyzer from import regexes (for :func:`register_analyzer`).

    Each regex is searched (``re.MULTILINE``) in the code with comments removed and string
    literals blanked. If it has a group named ``name``, that group is the module name;
    otherwise a string literal must follow the match and its value is the module name.
    A ``(regex, mode)`` tuple chooses the mode explicitly (see :func:`find_imports`).
    """
    normalized: list[ImportForm] = []
    for form in forms:
        if isinstance(form, tuple):
            normalized.append(form)
        else:
            normalized.append((form, "name" if "(?P<name>" in form else "string"))

    def analyzer(code: str) -> list[ModuleRef]:
        return find_imports(scan_source(code, comments), normalized)

    return analyzer


def _scanner_analyzer(
    syntax: CommentSyntax,
    forms: Sequence[ImportForm],
    prepare: Callable[[str], str] | None = None,
    post: Callable[[str], str] | None = None,
) -> AnalyzeFn:
    def analyze(code: str) -> Analysis:
        source = prepare(code) if prepare else code
        scanned = scan_source(source, syntax)
        refs = find_imports(scanned, forms)
        if post is not None:
            refs = [ModuleRef(post(r.name), r.line) if r.name is not None else r for r in refs]
        return Analysis(refs, scanned.stripped)

    return analyze


# --- JavaScript / TypeScript -------------------------------------------------

JS_SYNTAX = CommentSyntax(
    line=("//",),
    block=(("/*", "*/"),),
    strings=('"', "'"),
    multiline_strings=("`",),
    regex_literals=True,
)
_JS_FORMS: list[ImportForm] = [
    (r"\brequire\s*\(\s*", "dynamic"),
    (r"(?<![\w$.])import\s*\(\s*", "dynamic"),
    (r"(?<![\w$.])(?:import|export)\s*(?:type\s+)?[\w$\s,{}*]*?\bfrom\s*(?=\")", "string"),
    (r"(?<![\w$.])import\s*(?=\")", "string"),
    (r"\b_load\s*\(\s*", "string"),  # Module._load("fs")
]


def _js_normalize(name: str) -> str:
    return name[5:] if name.startswith("node:") else name


# --- Java ----------------------------------------------------------------------

JAVA_SYNTAX = CommentSyntax(
    line=("//",), block=(("/*", "*/"),), strings=('"', "'"), multiline_strings=('"""',)
)
_JAVA_FORMS: list[ImportForm] = [
    (r"(?<![\w$.])import\s+(?:static\s+)?(?P<name>[\w$]+(?:\s*\.\s*[\w$]+)*(?:\s*\.\s*\*)?)\s*;", "name"),
    # fully-qualified uses of platform packages: new java.net.Socket(...)
    (r"(?<![\w$.])(?P<name>(?:java|javax|jdk|sun|com\s*\.\s*sun)\s*\.\s*[\w$]+(?:\s*\.\s*[\w$]+)*)", "name"),
    (r"\bClass\s*\.\s*forName\s*\(\s*", "dynamic"),
    (r"\.\s*loadClass\s*\(\s*", "string"),
]
_JAVA_UNICODE_RE = re.compile(r"(?<!\\)((?:\\\\)*)\\u+([0-9a-fA-F]{4})")


def _java_prepare(code: str) -> str:
    # Java translates \uXXXX escapes before lexing: \u0069mport is `import`.
    return _JAVA_UNICODE_RE.sub(lambda m: m.group(1) + chr(int(m.group(2), 16)), code)


def _java_post(name: str) -> str:
    name = re.sub(r"\s+", "", name)
    return name[:-2] if name.endswith(".*") else name


# --- C / C++ -------------------------------------------------------------------

CPP_SYNTAX = CommentSyntax(
    line=("//",), block=(("/*", "*/"),), strings=('"', "'"), digit_separator=True, cpp_raw_strings=True
)
_CPP_DIRECTIVE = r"^[ \t]*(?:#|%:)[ \t]*(?:include_next|include|import)[ \t]*"
_CPP_FORMS: list[ImportForm] = [
    (_CPP_DIRECTIVE + r"<(?P<name>[^>\n]+)>", "name"),
    (_CPP_DIRECTIVE + r"(?=\")", "string"),
]


def _cpp_prepare(code: str) -> str:
    """Join backslash-continued lines (``#inc\\<newline>lude``), keeping the line count."""
    if "\\\n" not in code and "\\\r\n" not in code:
        return code
    out: list[str] = []
    pending = ""
    joined = 0
    for line in code.split("\n"):
        body = line[:-1] if line.endswith("\r") else line
        if body.endswith("\\"):
            pending += body[:-1]
            joined += 1
            continue
        out.append(pending + line)
        out.extend([""] * joined)
        pending, joined = "", 0
    if pending or joined:
        out.append(pending)
        out.extend([""] * (joined - 1))
    return "\n".join(out)


# --- Go ------------------------------------------------------------------------

GO_SYNTAX = CommentSyntax(line=("//",), block=(("/*", "*/"),), strings=('"', "'"), raw_strings=("`",))
_GO_FORMS: list[ImportForm] = [
    (r"(?<![\w.])import\s+(?:[\w.]+\s+)?(?=\")", "string"),
    (r"(?<![\w.])import\s*\(", "group"),
]


# --- Ruby ----------------------------------------------------------------------

RUBY_SYNTAX = CommentSyntax(
    line=("#",),
    strings=(),
    multiline_strings=('"', "'", "`"),
    line_start_block=(("=begin", "=end"),),
    no_string_after="$?",
)
_RUBY_FORMS: list[ImportForm] = [
    (r"(?<![\w:])require\b(?!\s*[=:])\s*\(?\s*", "dynamic"),
    (r"\bautoload\s*\(?\s*:?[\w:]+\s*,\s*", "string"),
]


# --- R -------------------------------------------------------------------------

R_SYNTAX = CommentSyntax(line=("#",), strings=(), multiline_strings=('"', "'", "`"))
_R_LOADERS = r"(?<![\w.])(?:library|require|requireNamespace|loadNamespace|attachNamespace)\s*\(\s*"
_R_FORMS: list[ImportForm] = [
    (_R_LOADERS + r"(?:package\s*=\s*)?(?P<name>[A-Za-z.][\w.]*)\s*(?=[,)])", "name"),
    (_R_LOADERS + r"(?:package\s*=\s*)?", "string"),
    (r"(?<![\w.])(?P<name>[A-Za-z.][\w.]*)\s*:::?(?![:=])", "name"),
]


def _register_builtins() -> None:
    _register("python", analyze_python, aliases=("py", "python3"))
    _register(
        "javascript",
        _scanner_analyzer(JS_SYNTAX, _JS_FORMS),
        aliases=("js", "node", "nodejs", "typescript", "ts", "mjs"),
        normalize=_js_normalize,
    )
    _register("java", _scanner_analyzer(JAVA_SYNTAX, _JAVA_FORMS, _java_prepare, _java_post))
    _register(
        "cpp",
        _scanner_analyzer(CPP_SYNTAX, _CPP_FORMS, _cpp_prepare, lambda s: s.strip()),
        aliases=("c++", "cxx", "cc", "c"),
    )
    _register("go", _scanner_analyzer(GO_SYNTAX, _GO_FORMS), aliases=("golang",))
    _register("ruby", _scanner_analyzer(RUBY_SYNTAX, _RUBY_FORMS), aliases=("rb",))
    _register("r", _scanner_analyzer(R_SYNTAX, _R_FORMS), aliases=("rscript",))


_register_builtins()

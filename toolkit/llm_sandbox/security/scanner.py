"""One small lexical scanner: removes comments, keeps string literals, knows where they are.

The scanner walks the source once, in order, so a comment marker inside a string and a
quote inside a comment are both handled. It produces:

* ``stripped``: the source with comments removed (line structure kept: a block comment
  becomes one space plus its newlines). Regex patterns of a policy run on this text.
* ``masked``: ``stripped`` with every string literal blanked to ``"   "`` (same length,
  newlines kept). Import statements are searched in this text, so an import written
  inside a string (``console.log("require('fs')")``) never matches.
* ``literals``: the string literals by start offset, with their decoded value, so an
  import form found in ``masked`` can read the module name that follows it.

When in doubt the scanner treats text as code, never as a string or a comment: an
unterminated literal is code, so a misread can only add findings, not hide them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CommentSyntax:
    """Comment and string syntax of a language, as far as the scanner needs it."""

    line: tuple[str, ...] = ()
    """Line-comment markers (``//``, ``#``)."""
    block: tuple[tuple[str, str], ...] = ()
    """Block-comment delimiters (``("/*", "*/")``)."""
    strings: tuple[str, ...] = ('"', "'")
    """Delimiters of one-line string literals with backslash escapes."""
    multiline_strings: tuple[str, ...] = ()
    """Delimiters of string literals that may span lines, with backslash escapes."""
    raw_strings: tuple[str, ...] = ()
    """Delimiters of literals without escapes that may span lines (Go's backquote)."""
    line_start_block: tuple[tuple[str, str], ...] = ()
    """Block comments whose delimiters must start a line (Ruby's ``=begin``/``=end``)."""
    hash_needs_space: bool = False
    """``#`` starts a comment only at the start of a line or after whitespace."""
    no_string_after: str = ""
    """Characters after which a quote does not open a string (Ruby's ``$'`` and ``?'``)."""
    digit_separator: bool = False
    """A ``'`` right after a letter or digit is not a literal (C++14 ``1'000``)."""
    regex_literals: bool = False
    """JavaScript ``/.../`` regex literals (their quotes do not open strings)."""
    cpp_raw_strings: bool = False
    """C++ raw strings ``R"delim(...)delim"``."""


GENERIC_SYNTAX = CommentSyntax(line=("//", "#"), block=(("/*", "*/"),), hash_needs_space=True)


@dataclass(frozen=True)
class StringLiteral:
    start: int
    end: int
    value: str
    """Decoded content (escapes resolved unless the literal is raw)."""
    is_template: bool = False
    """The literal interpolates expressions (JS template with ``${``): not a constant."""


@dataclass
class Scanned:
    stripped: str
    masked: str
    literals: dict[int, StringLiteral] = field(default_factory=dict)
    _newlines: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._newlines = [i for i, ch in enumerate(self.stripped) if ch == "\n"]

    def line_of(self, offset: int) -> int:
        """1-based line number of an offset in ``stripped``/``masked``."""
        return bisect.bisect_left(self._newlines, offset) + 1

    def const_string_at(self, pos: int) -> tuple[str | None, int]:
        """Read a constant string expression starting at ``pos`` (after whitespace).

        Accepts one literal or literals joined by ``+`` (``"child_" + 'process'``).
        Returns ``(value, end)``; ``value`` is ``None`` when no constant starts there.
        """
        masked = self.masked
        pos = _skip_ws(masked, pos)
        lit = self.literals.get(pos)
        if lit is None or lit.is_template:
            return None, pos
        parts = [lit.value]
        end = lit.end
        while True:
            nxt = _skip_ws(masked, end)
            if nxt < len(masked) and masked[nxt] == "+":
                after = _skip_ws(masked, nxt + 1)
                more = self.literals.get(after)
                if more is None or more.is_template:
                    return None, end  # "a" + variable: not a constant
                parts.append(more.value)
                end = more.end
                continue
            break
        return "".join(parts), end


def _skip_ws(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos] in " \t\r\n\f\v":
        pos += 1
    return pos


_SIMPLE_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "\n": "",
}
_ESCAPE_RE = re.compile(
    r"\\(?:x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-7]{1,3})|(.))",
    re.DOTALL,
)


def unescape(text: str) -> str:
    """Decode the usual backslash escapes (``\\x5f``, ``\\u005f``, ``\\137``, ``\\n``...)."""

    def repl(m: re.Match[str]) -> str:
        hex2, brace, hex4, hex8, octal, other = m.groups()
        num = hex2 or brace or hex4 or hex8
        try:
            if num:
                return chr(int(num, 16))
            if octal:
                return chr(int(octal, 8))
        except (ValueError, OverflowError):
            return m.group(0)
        return _SIMPLE_ESCAPES.get(other, other)

    return _ESCAPE_RE.sub(repl, text) if "\\" in text else text


_JS_REGEX_PRECEDERS = set("(,=:[!&|?{};+-*%<>~^")
_JS_REGEX_KEYWORDS = {
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
}
_CPP_RAW_RE = re.compile(r'(?:u8|u|U|L)?R"([^()\\\s"]{0,16})\(')


def _is_ident(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def scan_source(code: str, syntax: CommentSyntax) -> Scanned:
    """Scan ``code`` with ``syntax``; see the module docstring."""
    n = len(code)
    stripped: list[str] = []
    masked: list[str] = []
    literals: dict[int, StringLiteral] = {}
    out = 0  # current offset in the outputs

    escaped_delims = [(d, True, False) for d in syntax.strings]
    escaped_delims += [(d, True, True) for d in syntax.multiline_strings]
    escaped_delims += [(d, False, True) for d in syntax.raw_strings]
    delims = sorted(escaped_delims, key=lambda t: len(t[0]), reverse=True)
    line_markers = sorted(syntax.line, key=len, reverse=True)

    def emit_code(text: str) -> None:
        nonlocal out
        stripped.append(text)
        masked.append(text)
        out += len(text)

    def emit_literal(text: str, value: str, template: bool = False) -> None:
        nonlocal out
        stripped.append(text)
        body = "".join("\n" if ch == "\n" else " " for ch in text[1:-1])
        masked.append('"' + body + '"')
        literals[out] = StringLiteral(out, out + len(text), value, template)
        out += len(text)

    def prev_significant() -> tuple[str, str]:
        """Last non-space character emitted and, if it ends a word, that word."""
        text = "".join(stripped[-64:]) if stripped else ""
        text = text.rstrip()
        if not text:
            return "", ""
        last = text[-1]
        word = ""
        if _is_ident(last):
            m = re.search(r"[\w$]+$", text)
            word = m.group(0) if m else ""
        return last, word

    i = 0
    while i < n:
        ch = code[i]
        at_line_start = i == 0 or code[i - 1] == "\n"

        # Ruby's =begin ... =end (delimiters at the start of a line)
        if at_line_start and syntax.line_start_block:
            handled = False
            for open_mark, close_mark in syntax.line_start_block:
                if code.startswith(open_mark, i):
                    close_re = re.compile(r"^" + re.escape(close_mark) + r"\b.*$", re.MULTILINE)
                    m = close_re.search(code, i + len(open_mark))
                    j = m.end() if m else n
                    emit_code(" " + "\n" * code.count("\n", i, j))
                    i = j
                    handled = True
                    break
            if handled:
                continue

        # block comments
        handled = False
        for open_mark, close_mark in syntax.block:
            if code.startswith(open_mark, i):
                j = code.find(close_mark, i + len(open_mark))
                j = n if j < 0 else j + len(close_mark)
                emit_code(" " + "\n" * code.count("\n", i, j))
                i = j
                handled = True
                break
        if handled:
            continue

        # line comments
        for marker in line_markers:
            if code.startswith(marker, i):
                if marker == "#" and syntax.hash_needs_space and i > 0 and not code[i - 1].isspace():
                    continue
                j = code.find("\n", i)
                i = n if j < 0 else j
                handled = True
                break
        if handled:
            continue

        # C++ raw strings
        if syntax.cpp_raw_strings and ch in "uULR" and (i == 0 or not _is_ident(code[i - 1])):
            m = _CPP_RAW_RE.match(code, i)
            if m:
                closing = ")" + m.group(1) + '"'
                j = code.find(closing, m.end())
                if j >= 0:
                    j += len(closing)
                    emit_literal(code[i:j], code[m.end() : j - len(closing)])
                    i = j
                    continue

        # string literals
        for delim, escapes, multiline in delims:
            if not code.startswith(delim, i):
                continue
            if i > 0 and code[i - 1] in syntax.no_string_after:
                break
            if syntax.digit_separator and delim == "'" and i > 0 and code[i - 1].isalnum():
                break
            j = i + len(delim)
            end = -1
            while j < n:
                c = code[j]
                if escapes and c == "\\":
                    j += 2
                    continue
                if code.startswith(delim, j):
                    end = j + len(delim)
                    break
                if c == "\n" and not multiline:
                    break
                j += 1
            if end < 0:
                break  # unterminated: treat the quote as code
            content = code[i + len(delim) : end - len(delim)]
            template = delim == "`" and syntax.regex_literals and "${" in content
            emit_literal(code[i:end], unescape(content) if escapes else content, template)
            i = end
            handled = True
            break
        if handled:
            continue

        # JavaScript regex literals: skip them so their quotes do not open strings
        if syntax.regex_literals and ch == "/":
            last, word = prev_significant()
            if last == "" or last in _JS_REGEX_PRECEDERS or word in _JS_REGEX_KEYWORDS:
                j = i + 1
                in_class = False
                end = -1
                while j < n:
                    c = code[j]
                    if c == "\\":
                        j += 2
                        continue
                    if c == "\n":
                        break
                    if c == "[":
                        in_class = True
                    elif c == "]":
                        in_class = False
                    elif c == "/" and not in_class:
                        end = j + 1
                        break
                    j += 1
                if end > 0:
                    while end < n and code[end].isalpha():
                        end += 1
                    emit_code(code[i:end])  # kept as code: a misread never hides anything
                    i = end
                    continue

        emit_code(ch)
        i += 1

    return Scanned("".join(stripped), "".join(masked), literals)


def strip_with_syntax(code: str, syntax: CommentSyntax) -> str:
    """The code with comments removed and string literals kept."""
    return scan_source(code, syntax).stripped

"""Python analysis with ``ast``: every import form, aliases, constant-folded dynamic imports.

Found (module name ``m`` a constant expression, including ``"o" + "s"``, f-strings of
constants, ``"".join([...])``, ``chr(111)``, slicing and ``str`` methods of constants, and
names assigned such constants):

* ``import a.b as c``, ``from a import b`` (reported as ``a`` and ``a.b``), ``from a.b import c``
* ``__import__(m)``, ``importlib.import_module(m)``, ``import_module(m)``, and the same
  reached through ``__builtins__.__import__``, ``builtins.__import__``,
  ``getattr(__builtins__, "__import__")``, ``__builtins__["__import__"]``, ``vars(...)``
* ``sys.modules[m]`` and ``sys.modules.get(m)``
* uses of members through aliases: ``import os as o; o.system(...)`` uses ``os.system``;
  ``getattr(os, "sys" + "tem")`` too; bare builtins (``eval``) as ``builtins.eval``
* ``exec``/``eval``/``compile`` of a constant string: that string is analyzed as code.

Comments, strings and docstrings never produce a module reference. A dynamic import whose
name is not a constant is reported as such (``ModuleRef(None)``).

Code that does not parse (or defeats the analyzer) falls back to text rules over the
comment-stripped text; the result is marked ``fallback``.
"""

from __future__ import annotations

import ast
import builtins
import io
import itertools
import logging
import re
import tokenize
from collections import defaultdict
from collections.abc import Sequence

from .imports import Analysis, ModuleRef, find_imports
from .scanner import CommentSyntax, Scanned, scan_source

logger = logging.getLogger("llm_sandbox.security")

PYTHON_SYNTAX = CommentSyntax(line=("#",), strings=('"', "'"), multiline_strings=('"""', "'''"))

_BUILTIN_NAMES = frozenset(dir(builtins)) - {"__builtins__"}
_IMPORT_FUNCS = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
_IMPORT_ATTRS = frozenset({"__import__", "import_module"})
_EXEC_FUNCS = frozenset({"builtins.exec", "builtins.eval", "builtins.compile"})
_STR_METHODS = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "title",
        "capitalize",
        "casefold",
        "swapcase",
        "replace",
        "format",
        "removeprefix",
        "removesuffix",
        "decode",
        "encode",
        "zfill",
        "center",
        "ljust",
        "rjust",
        "expandtabs",
    }
)
_NAMESPACE = "<namespace>"  # what globals()/locals() return
_MAX_VALUES = 32
_MAX_LEN = 512
_MAX_EXEC_DEPTH = 3

Resolved = frozenset[tuple[str, bool]]  # (qualified name, implicit builtin)
_EMPTY: Resolved = frozenset()


def _cap(values: set[str]) -> frozenset[str]:
    return frozenset(v for v in itertools.islice(values, _MAX_VALUES) if len(v) <= _MAX_LEN)


class _PythonAnalyzer:
    def __init__(
        self,
        tree: ast.AST,
        depth: int = 0,
        aliases: dict[str, set[tuple[str, bool]]] | None = None,
        consts: dict[str, set[str]] | None = None,
    ) -> None:
        self.tree = tree
        self.depth = depth
        self.aliases: dict[str, set[tuple[str, bool]]] = defaultdict(set)
        self.consts: dict[str, set[str]] = defaultdict(set)
        for k, v in (aliases or {}).items():
            self.aliases[k] |= v
        for k, c in (consts or {}).items():
            self.consts[k] |= c
        self.bound: set[str] = set()
        self.star: list[str] = []
        self._memo: dict[int, Resolved] = {}
        self._collect()

    # -- pre-pass: bindings, aliases, constants --------------------------------

    def _collect(self) -> None:
        assigns: list[ast.AST] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                self.bound.add(node.id)
            elif isinstance(node, ast.arg):
                self.bound.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)):
                if node.name:
                    self.bound.add(node.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.bound.add(a.asname)
                        self.aliases[a.asname].add((a.name, False))
                    else:
                        top = a.name.split(".")[0]
                        self.bound.add(top)
                        self.aliases[top].add((top, False))
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name == "*":
                        if node.level == 0 and node.module:
                            self.star.append(node.module)
                        continue
                    local = a.asname or a.name
                    self.bound.add(local)
                    if node.level == 0 and node.module:
                        self.aliases[local].add((f"{node.module}.{a.name}", False))
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                assigns.append(node)

        for _ in range(4):  # fixpoint over chains of assignments (bounded)
            before = self._snapshot()
            self._memo.clear()
            for node in assigns:
                self._apply_assignment(node)
            if self._snapshot() == before:
                break
        self._memo.clear()

    def _snapshot(self) -> tuple[int, int]:
        return (sum(len(v) for v in self.aliases.values()), sum(len(v) for v in self.consts.values()))

    def _bind(self, target: ast.AST, value: ast.AST | None) -> None:
        if value is None:
            return
        if isinstance(target, ast.Name):
            resolved = self.resolve(value)
            if resolved:
                self.aliases[target.id] |= set(resolved)
            folded = self.fold(value)
            if folded:
                self.consts[target.id] = set(_cap(self.consts[target.id] | set(folded)))
        elif (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
        ):
            for t, v in zip(target.elts, value.elts, strict=True):
                self._bind(t, v)

    def _apply_assignment(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, node.value)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)):
            self._bind(node.target, node.value)
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.op, ast.Add)
        ):
            extra = self.fold(node.value)
            current = self.consts.get(node.target.id)
            if extra and current:
                grown = {a + b for a in current for b in extra}
                self.consts[node.target.id] = set(_cap(current | grown))

    # -- constant folding ---------------------------------------------------------

    def fold(self, node: ast.AST | None) -> frozenset[str]:
        """Possible string values of a constant expression (empty: not a constant)."""
        try:
            return self._fold(node)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError, AttributeError, LookupError):
            return frozenset()

    def _fold(self, node: ast.AST | None) -> frozenset[str]:
        if node is None:
            return frozenset()
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return frozenset({node.value})
            if isinstance(node.value, bytes):
                return frozenset({node.value.decode("latin-1")})
            return frozenset()
        if isinstance(node, ast.Name):
            return frozenset(self.consts.get(node.id, ()))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Add):
                left, right = self._fold(node.left), self._fold(node.right)
                return _cap({a + b for a in left for b in right})
            if isinstance(node.op, ast.Mult):
                for s_node, n_node in ((node.left, node.right), (node.right, node.left)):
                    count = _const_int(n_node)
                    if count is not None and 0 <= count <= _MAX_LEN:
                        return _cap({s * count for s in self._fold(s_node)})
                return frozenset()
            if isinstance(node.op, ast.Mod):
                fmt = self._fold(node.left)
                args = self._fold_args(node.right.elts if isinstance(node.right, ast.Tuple) else [node.right])
                return _cap({f % tuple(a) for f in fmt for a in args})
            return frozenset()
        if isinstance(node, ast.JoinedStr):
            pieces: list[frozenset[str]] = []
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    pieces.append(frozenset({part.value}))
                elif (
                    isinstance(part, ast.FormattedValue)
                    and part.format_spec is None
                    and part.conversion in (-1, ord("s"))
                ):
                    folded = self._fold(part.value)
                    if not folded:
                        return frozenset()
                    pieces.append(folded)
                else:
                    return frozenset()
            return _cap({"".join(p) for p in itertools.islice(itertools.product(*pieces), _MAX_VALUES)})
        if isinstance(node, ast.Subscript):
            base = self._fold(node.value)
            if not base:
                return frozenset()
            sl = node.slice
            if isinstance(sl, ast.Slice):
                parts = [None if p is None else _const_int(p) for p in (sl.lower, sl.upper, sl.step)]
                for p, raw in zip(parts, (sl.lower, sl.upper, sl.step), strict=True):
                    if raw is not None and p is None:
                        return frozenset()
                if parts[2] == 0:
                    return frozenset()
                return _cap({b[slice(*parts)] for b in base})
            idx = _const_int(sl)
            if idx is None:
                return frozenset()
            return _cap({b[idx] for b in base})
        if isinstance(node, ast.Call):
            return self._fold_call(node)
        return frozenset()

    def _fold_args(self, nodes: list[ast.expr]) -> list[tuple[object, ...]]:
        options: list[Sequence[object]] = []
        for n in nodes:
            integer = _const_int(n)
            if integer is not None:
                options.append([integer])
                continue
            folded = self._fold(n)
            if not folded:
                return []
            options.append(sorted(folded))
        return list(itertools.islice(itertools.product(*options), _MAX_VALUES))

    def _fold_call(self, node: ast.Call) -> frozenset[str]:
        func = node.func
        if node.keywords:
            return frozenset()
        if isinstance(func, ast.Name) and func.id not in self.bound:
            if func.id == "chr" and len(node.args) == 1:
                code = _const_int(node.args[0])
                return frozenset({chr(code)}) if code is not None else frozenset()
            if func.id == "str" and len(node.args) == 1:
                return self._fold(node.args[0])
            return frozenset()
        if not isinstance(func, ast.Attribute):
            return frozenset()
        base = self._fold(func.value)
        if not base:
            return frozenset()
        if func.attr == "join" and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, (ast.List, ast.Tuple)):
                parts = [self._fold(e) for e in arg.elts]
                if any(not p for p in parts):
                    return frozenset()
                joined = {
                    sep.join(combo)
                    for sep in base
                    for combo in itertools.islice(itertools.product(*parts), _MAX_VALUES)
                }
                return _cap(joined)
            return _cap({sep.join(s) for sep in base for s in self._fold(arg)})
        if func.attr in _STR_METHODS:
            arg_options = self._fold_args(list(node.args)) if node.args else [()]
            out: set[str] = set()
            for b in base:
                for args in arg_options:
                    if func.attr in ("decode", "encode"):
                        out.add(b)
                    else:
                        value = getattr(b, func.attr)(*args)
                        if isinstance(value, str) and len(value) <= _MAX_LEN:
                            out.add(value)
            return _cap(out)
        return frozenset()

    # -- name resolution ------------------------------------------------------------

    def resolve(self, node: ast.AST) -> Resolved:
        """Qualified names (module paths) an expression may denote."""
        key = id(node)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        self._memo[key] = _EMPTY  # cycle guard
        result = self._resolve(node)
        self._memo[key] = result
        return result

    def _resolve(self, node: ast.AST) -> Resolved:
        out: set[tuple[str, bool]] = set()
        if isinstance(node, ast.Name):
            out |= self._resolve_name(node.id)
        elif isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if node.attr == "__dict__":
                out |= base
            else:
                out |= {(f"{b}.{node.attr}", imp) for b, imp in base}
        elif isinstance(node, ast.Subscript):
            base = self.resolve(node.value)
            if base:
                for k in self.fold(node.slice):
                    for b, imp in base:
                        if b == "sys.modules":
                            out.add((k, False))
                        elif b == _NAMESPACE:
                            out |= self._resolve_name(k)
                        else:
                            out.add((f"{b}.{k}", imp))
        elif isinstance(node, ast.Call):
            out |= self._resolve_call(node)
        return frozenset(itertools.islice(out, 4 * _MAX_VALUES))

    def _resolve_name(self, name: str) -> set[tuple[str, bool]]:
        out = set(self.aliases.get(name, set()))
        if name == "__builtins__":
            out.add(("builtins", False))
        elif name in _BUILTIN_NAMES and name not in self.bound:
            out.add((f"builtins.{name}", True))
        elif not out and self.star and name not in self.bound:
            out |= {(f"{m}.{name}", False) for m in self.star}
        return out

    def _resolve_call(self, node: ast.Call) -> set[tuple[str, bool]]:
        out: set[tuple[str, bool]] = set()
        func = node.func
        fnames = {n for n, _ in self.resolve(func)}
        if fnames & {"builtins.globals", "builtins.locals"}:
            out.add((_NAMESPACE, False))  # globals()["__builtins__"] is resolved like a name
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and node.args
            and _NAMESPACE in {n for n, _ in self.resolve(func.value)}
        ):
            for k in self.fold(node.args[0]):
                out |= self._resolve_name(k)
        if "builtins.getattr" in fnames and len(node.args) >= 2:
            for b, imp in self.resolve(node.args[0]):
                for attr in self.fold(node.args[1]):
                    out.add((b if attr == "__dict__" else f"{b}.{attr}", imp))
        if "builtins.vars" in fnames and node.args:
            out |= self.resolve(node.args[0])
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and node.args
            and "sys.modules" in {n for n, _ in self.resolve(func.value)}
        ):
            out |= {(k, False) for k in self.fold(node.args[0])}
        kind = self._import_call_kind(node, fnames)
        if kind:
            for name in self.fold(_first_arg(node, "name")):
                out.add((name.split(".")[0] if kind == "__import__" else name, False))
        return out

    def _import_call_kind(self, node: ast.Call, fnames: set[str] | None = None) -> str | None:
        """``"__import__"`` or ``"import_module"`` when the call imports a module."""
        func = node.func
        if fnames is None:
            fnames = {n for n, _ in self.resolve(func)}
        if isinstance(func, ast.Name) and func.id in _IMPORT_ATTRS:
            return func.id
        if isinstance(func, ast.Attribute) and func.attr in _IMPORT_ATTRS:
            return func.attr
        for name in fnames & _IMPORT_FUNCS:
            return "__import__" if name.endswith("__import__") else "import_module"
        # whatever the object: x["__import__"](...), getattr(x, "import_module")(...)
        key: ast.AST | None = None
        if isinstance(func, ast.Subscript):
            key = func.slice
        elif (
            isinstance(func, ast.Call)
            and len(func.args) >= 2
            and "builtins.getattr" in {n for n, _ in self.resolve(func.func)}
        ):
            key = func.args[1]
        for name in self.fold(key) & _IMPORT_ATTRS:
            return name
        return None

    # -- the walk -------------------------------------------------------------------

    def run(self, line_override: int | None = None) -> list[ModuleRef]:
        refs: list[ModuleRef] = []
        for node in ast.walk(self.tree):
            line = line_override if line_override is not None else getattr(node, "lineno", None)
            if isinstance(node, ast.Import):
                refs.extend(ModuleRef(a.name, line) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    refs.append(ModuleRef(node.module, line))
                    refs.extend(
                        ModuleRef(f"{node.module}.{a.name}", line) for a in node.names if a.name != "*"
                    )
            elif isinstance(node, ast.Call):
                fnames = {n for n, _ in self.resolve(node.func)}
                if self._import_call_kind(node, fnames):
                    names = self.fold(_first_arg(node, "name"))
                    refs.extend(ModuleRef(n, line) for n in names)
                    if not names:
                        refs.append(ModuleRef(None, line))
                if fnames & _EXEC_FUNCS or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in ("exec", "eval", "compile")
                    and node.func.id not in self.bound
                ):
                    refs.extend(self._analyze_exec(node, line))
            if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                    continue
                refs.extend(ModuleRef(n, line, imp) for n, imp in self.resolve(node))
        return refs

    def _analyze_exec(self, node: ast.Call, line: int | None) -> list[ModuleRef]:
        if self.depth >= _MAX_EXEC_DEPTH:
            return []
        refs: list[ModuleRef] = []
        for source in self.fold(_first_arg(node, "source")):
            try:
                tree = ast.parse(source)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            sub = _PythonAnalyzer(tree, self.depth + 1, self.aliases, self.consts)
            refs.extend(sub.run(line_override=line))
        return refs


def _first_arg(node: ast.Call, keyword: str) -> ast.expr | None:
    if node.args:
        first = node.args[0]
        return None if isinstance(first, ast.Starred) else first
    for kw in node.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def _const_int(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _const_int(node.operand)
        return -inner if inner is not None else None
    return None


# ---------------------------------------------------------------------------
# comment stripping and the text fallback
# ---------------------------------------------------------------------------


def strip_python_comments(code: str) -> str:
    """``code`` without its ``#`` comments, via ``tokenize`` (strings and line numbers kept)."""
    lines = code.split("\n")
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                line = lines[row - 1]
                lines[row - 1] = line[:col] + ("\r" if line.endswith("\r") else "")
    except (tokenize.TokenError, SyntaxError, IndentationError, ValueError, IndexError):
        return scan_source(code, PYTHON_SYNTAX).stripped
    return "\n".join(lines)


_FALLBACK_FORMS = [
    (r"\b__import__\s*\(\s*", "dynamic"),
    (r"\bimport_module\s*\(\s*", "dynamic"),
    (r"\bmodules\s*\[\s*", "string"),
    (r"\bmodules\s*\.\s*get\s*\(\s*", "string"),
]
_FB_IMPORT_RE = re.compile(r"(?:^|;)[ \t]*import[ \t]+([\w. \t,]+)", re.MULTILINE)
_FB_FROM_RE = re.compile(r"(?:^|;)[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]*\(?([\w \t,\\\n]*)", re.MULTILINE)
_FB_DOTTED_RE = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)+)")
_FB_CALL_RE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*\(")


def _fallback(code: str) -> Analysis:
    scanned: Scanned = scan_source(code, PYTHON_SYNTAX)
    masked = scanned.masked
    refs = find_imports(scanned, _FALLBACK_FORMS)
    aliases: dict[str, str] = {}
    for m in _FB_IMPORT_RE.finditer(masked):
        line = scanned.line_of(m.start(1))
        for item in m.group(1).split(","):
            words = item.split()
            if not words:
                continue
            refs.append(ModuleRef(words[0], line))
            if len(words) == 3 and words[1] == "as":
                aliases[words[2]] = words[0]
    for m in _FB_FROM_RE.finditer(masked):
        module = m.group(1)
        if module.startswith("."):
            continue
        line = scanned.line_of(m.start(1))
        refs.append(ModuleRef(module, line))
        for item in m.group(2).replace("\\", " ").split(","):
            words = item.split()
            if words and words[0] != "*":
                qualified = f"{module}.{words[0]}"
                refs.append(ModuleRef(qualified, line))
                aliases[words[2] if len(words) == 3 and words[1] == "as" else words[0]] = qualified
    for m in _FB_DOTTED_RE.finditer(masked):
        dotted = re.sub(r"\s+", "", m.group(1))
        head, _, rest = dotted.partition(".")
        line = scanned.line_of(m.start())
        refs.append(ModuleRef(dotted, line))
        if head in aliases:
            refs.append(ModuleRef(f"{aliases[head]}.{rest}", line))
    for m in _FB_CALL_RE.finditer(masked):
        name = m.group(1)
        line = scanned.line_of(m.start())
        if name in aliases:
            refs.append(ModuleRef(aliases[name], line))
        elif name in _BUILTIN_NAMES:
            refs.append(ModuleRef(f"builtins.{name}", line, implicit=True))
    return Analysis(refs, scanned.stripped, fallback=True)


def analyze_python(code: str) -> Analysis:
    """Analyze Python code; falls back to text rules when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        logger.debug("python code does not parse (%s); using the text fallback", exc)
        return _fallback(code)
    try:
        refs = _PythonAnalyzer(tree).run()
    except RecursionError:
        logger.warning("python code too deeply nested for the analyzer; using the text fallback")
        return _fallback(code)
    return Analysis(refs, strip_python_comments(code))

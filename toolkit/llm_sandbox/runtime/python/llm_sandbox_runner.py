"""The warm runner: a per-session parent that forks a fresh child for each stateless run.

Started in the background when a Python session opens (see
``llm_sandbox/sessions/warm.py``) as::

    sh -c 'exec 3<&0 0</dev/null; exec python3 /opt/llm-sandbox/llm_sandbox_runner.py "$0"' ARTIFACTS_SH

Each ``run`` request forks a child that is the run: its own process group, the
request's environment and working directory, stdin ``/dev/null``, stdout and
stderr the exec's own (output streams live, exactly as printed), the code
executed as ``__main__`` from its file (tracebacks are those of ``python3 FILE``).
Nothing a child does (globals, patched modules, ``sys.modules``, environment,
threads) reaches the parent or the next child. When the child has exited, its
process group is killed and the parent answers with the exit code and, for
artifact runs, the tar stream of ``runtime/artifacts.sh``.

The parent starts with nothing imported but itself. After a run it imports
the installed modules that run imported (never code from the workdir or
``/tmp``), so the next run that imports them finds them loaded: a session pays
only for what its runs use.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import importlib.util
import os
import shutil
import signal
import sys
import threading
import types

import llm_sandbox_warm as warm

_ARTIFACTS_SH = sys.argv[1] if len(sys.argv) > 1 else ""
_WRITABLE_ROOTS = ("/sandbox", "/tmp")
_MAX_LEARNED = 64


def main() -> None:
    sys.path[:] = [entry for entry in sys.path if entry not in ("", os.path.dirname(__file__))]
    sys.path.append(os.path.dirname(__file__))  # the capture modules stay importable, last
    requests = warm.open_requests()
    while True:
        request = warm.read_request(requests)
        if request is None:
            return
        op = request.get("op")
        if op == "hello":
            warm.reply(request["nonce"], 0, str(os.getpid()).encode())
        elif op == "run":
            learned = _run(request, requests)
            _warm_up(learned)
        else:
            warm.reply(request["nonce"], 2, f"unknown request {op!r}".encode())


def _run(request: dict, requests: object) -> list[str]:
    """Fork the run, wait for it, answer; return the modules it imported."""
    run_dir, outputs = request["run_dir"], request.get("outputs") or ""
    os.makedirs(os.path.join(run_dir, "plots"), mode=0o700, exist_ok=True)
    path = os.path.join(run_dir, request["file"])
    with open(path, "w", encoding="utf-8") as source:
        source.write(request["code"])
    if outputs:
        _artifacts("before", run_dir, outputs, request)
    learned_read, learned_write = os.pipe()
    before = {name.partition(".")[0] for name in sys.modules}
    pid = os.fork()
    if pid == 0:  # the child: it is the run
        os.close(learned_read)
        _child(path, request, before, learned_write, requests)
    os.close(learned_write)
    with open(run_dir + "/pid", "w") as pidfile:
        pidfile.write(str(pid))
    _, status = os.waitpid(pid, 0)
    with os.fdopen(learned_read, "r") as learned_pipe:
        learned = learned_pipe.read().split()
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code  # killed by a signal, as a shell reports it
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # whatever the run left in its process group
    payload = b""
    if outputs:
        _artifacts("after", run_dir, outputs, request)
        with open(os.path.join(run_dir, "artifacts.tar"), "rb") as archive:
            payload = archive.read()
    shutil.rmtree(run_dir, ignore_errors=True)
    warm.reply(request["nonce"], code, payload)
    return learned


def _artifacts(mode: str, run_dir: str, outputs: str, request: dict) -> None:
    warm.collect_artifacts(_ARTIFACTS_SH, mode, run_dir, outputs, request.get("max_file_bytes"))


def _child(path: str, request: dict, before: set[str], learned_fd: int, requests: object) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        requests.close()  # type: ignore[attr-defined]  # the host's requests are not the run's business
        os.environ.update(request.get("env") or {})
        os.environ["LLM_SANDBOX_FILE"] = path
        os.environ["LLM_SANDBOX_RUN_DIR"] = os.path.dirname(path)
        os.environ["LLM_SANDBOX_PLOTS_DIR"] = os.path.join(os.path.dirname(path), "plots")
        os.chdir(request.get("cwd") or os.getcwd())
        code = _execute(path)
    except BaseException:  # the runner's own failure: say so, never hang the host
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(OSError):
            learned = _named_imports(path) | ({name.partition(".")[0] for name in sys.modules} - before)
            warm.write_all(learned_fd, " ".join(sorted(learned))[:4096].encode())  # fits the pipe: no wait
            os.close(learned_fd)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _execute(path: str) -> int:
    """Run ``path`` as ``python3 path`` would, in this (forked) process; the exit code."""
    importlib.invalidate_caches()  # libraries installed since the parent started
    _ensure_user_site()
    sys.argv = [path]
    # As `PYTHONPATH="$PWD:$PYTHONPATH" python3 FILE` starts: the file's directory, the workdir, then
    # PYTHONPATH (whose sitecustomize, if any, runs now, as at start-up).
    extra = [entry for entry in os.environ.get("PYTHONPATH", "").split(":") if entry]
    os.environ["PYTHONPATH"] = ":".join([os.getcwd(), *extra])
    sys.path[:0] = [os.path.dirname(path), os.getcwd(), *extra]
    for entry in extra:  # the first sitecustomize on PYTHONPATH runs, as at start-up
        customize = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(customize):
            spec = importlib.util.spec_from_file_location("sitecustomize", customize)
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                sys.modules["sitecustomize"] = module
                spec.loader.exec_module(module)
            break
    backend = os.environ.get("MPLBACKEND")
    if backend and "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use(backend)
    main_module = types.ModuleType("__main__")
    main_module.__file__ = path
    main_module.__builtins__ = __builtins__  # type: ignore[attr-defined]
    sys.modules["__main__"] = main_module
    with open(path, "rb") as source:
        text = source.read()
    code = 0
    try:
        exec(compile(text, path, "exec"), main_module.__dict__)
    except SystemExit as stop:
        code = _exit_code(stop)
    except BaseException as error:
        traceback = error.__traceback__.tb_next if error.__traceback__ else None  # without this frame
        sys.excepthook(type(error), error.with_traceback(traceback), traceback)
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # wait for non-daemon threads, as at exit
        atexit._run_exitfuncs()
    except SystemExit as stop:
        code = _exit_code(stop)
    return code


def _named_imports(path: str) -> set[str]:
    """The modules the code imports by name (``import a.b``, ``from a.b import c``), submodules included."""
    import ast

    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code & 0xFF
    print(stop.code, file=sys.stderr)
    return 1


def _ensure_user_site() -> None:
    import site

    user_site = site.getusersitepackages()
    if os.path.isdir(user_site) and user_site not in sys.path:
        site.addsitedir(user_site)


def _warm_up(modules: list[str]) -> None:
    """Import in the parent the installed modules a run used (never code the sandbox wrote).

    What an import prints goes nowhere: between requests, stdout and stderr are the host's.
    """
    saved = os.dup(1), os.dup(2)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    try:
        before = set(sys.modules)
        _import_installed(modules)
        if set(sys.modules) == before:
            return
        for name, first_use in _FIRST_USE.items():
            if name in sys.modules and name not in before:
                with contextlib.suppress(Exception):
                    first_use()
        gc.collect()
        gc.freeze()  # what the parent holds stays out of the children's collections: fewer copied pages
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, quiet):
            os.close(fd)


def _import_installed(modules: list[str]) -> None:
    for name in modules[:_MAX_LEARNED]:
        if name in sys.modules or not all(part.isidentifier() for part in name.split(".")):
            continue
        top = name.partition(".")[0]
        if top not in sys.modules and not _installed(top):
            continue
        try:
            importlib.import_module(name)
        except BaseException:  # a module that fails here will fail (or work) in the run itself
            sys.modules.pop(name, None)


def _warm_matplotlib() -> None:
    """Draw and encode one figure, off pyplot: fonts, the Agg renderer and the PNG encoder load here,
    once, instead of in every run that plots. No pyplot state changes (no figure numbers taken)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    figure = Figure()
    axes = figure.add_subplot()
    axes.plot([0, 1], [1, 0], label="warm")
    axes.set_title("warm")
    axes.legend()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    pixels = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    pixels.save(io.BytesIO(), "png", compress_level=1)


def _warm_pandas() -> None:
    """Build, print and describe a small frame: the lazily imported parts of pandas load here."""
    import pandas

    frame = pandas.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    repr(frame.describe())


_FIRST_USE = {"matplotlib.pyplot": _warm_matplotlib, "pandas": _warm_pandas}
"""What a module costs on its first use, paid in the parent once it was imported there."""


def _installed(name: str) -> bool:
    """True when ``name`` is found in the image or the packages volume, not in a directory the runs write."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = (spec.origin or "") if spec else ""
    return bool(origin) and origin not in ("built-in", "frozen") and not origin.startswith(_WRITABLE_ROOTS)


if __name__ == "__main__":
    main()

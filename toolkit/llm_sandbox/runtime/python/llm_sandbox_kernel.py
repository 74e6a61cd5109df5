"""The Python kernel of ``InteractiveSandboxSession``: IPython's ``InteractiveShell``, one cell per request.

Started as a warm process (see ``llm_sandbox_warm``). State lives across cells
as in a notebook. Each ``execute`` request runs one cell: its output streams
as it is printed, tracebacks go to stderr with the cell's own line numbers,
and the answer's JSON carries the cell's rich results (the last expression's
value and every ``display()``, as MIME bundles) and the figures it drew
(captured by ``llm_sandbox_mpl``, once: they are closed after the cell).

With ``outputs`` in a request, the files the cell wrote there come back too
(``runtime/artifacts.sh``, whose text is the kernel's second argument, as a
base64 tar stream). An interrupt is a SIGINT from the host: it stops the cell (``KeyboardInterrupt``),
never the kernel between cells.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import shutil
import signal
import site
import sys

os.environ.setdefault("IPYTHONDIR", "/tmp/llm-sandbox-ipython")  # HOME is read-only

import llm_sandbox_capture
import llm_sandbox_warm as warm
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

_HISTORY_SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
_ARTIFACTS_SH = sys.argv[2] if len(sys.argv) > 2 else ""
_results: list[dict] = []
_executing = False


def _jsonable(bundle: dict) -> dict:
    """A MIME bundle as JSON: binary values (``image/png``) base64-encoded, as Jupyter sends them."""
    return {key: base64.b64encode(v).decode() if isinstance(v, bytes) else v for key, v in bundle.items()}


class _Publisher(DisplayPublisher):
    """``display()`` calls become results of the cell."""

    def publish(  # type: ignore[no-untyped-def,override]
        self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs
    ):
        _results.append({"type": "display_data", "data": _jsonable(data), "metadata": metadata or {}})

    def clear_output(self, wait=False):  # type: ignore[no-untyped-def]
        _results.clear()


class _Hook(DisplayHook):
    """The last expression's value becomes a result of the cell, not text on stdout."""

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(self, format_dict, md_dict=None) -> None:  # type: ignore[no-untyped-def]
        _results.append(
            {
                "type": "execute_result",
                "data": _jsonable(format_dict),
                "metadata": md_dict or {},
                "execution_count": self.prompt_count,
            }
        )

    def finish_displayhook(self) -> None:
        sys.stdout.flush()
        self._is_active = False


class _Shell(InteractiveShell):
    displayhook_class = _Hook
    display_pub_class = _Publisher

    def _showtraceback(self, etype, evalue, stb):  # type: ignore[no-untyped-def]
        print(self.InteractiveTB.stb2text(stb), file=sys.stderr, flush=True)


def _on_sigint(signum: int, frame: object) -> None:
    if _executing:
        raise KeyboardInterrupt


def _make_shell(history_size: int) -> InteractiveShell:
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.cache_size = history_size
    return _Shell.instance(config=config)


def _artifacts(mode: str, request: dict) -> None:
    warm.collect_artifacts(_ARTIFACTS_SH, mode, request["run_dir"], request["outputs"], request.get("max_file_bytes"))


def _execute(shell: InteractiveShell, request: dict) -> tuple[int, bytes]:
    global _executing
    if request.get("outputs"):
        os.makedirs(request["run_dir"], mode=0o700, exist_ok=True)
        _artifacts("before", request)
    plots_dir = request.get("plots_dir") or ""
    if plots_dir:
        os.makedirs(plots_dir, mode=0o700, exist_ok=True)
        os.environ["LLM_SANDBOX_PLOTS_DIR"] = plots_dir
    else:
        os.environ.pop("LLM_SANDBOX_PLOTS_DIR", None)
    llm_sandbox_capture.reset()
    importlib.invalidate_caches()  # libraries installed since the last cell
    user_site = site.getusersitepackages()
    if os.path.isdir(user_site) and user_site not in sys.path:
        site.addsitedir(user_site)
    _results.clear()
    _executing = True
    try:
        outcome = shell.run_cell(request["code"], store_history=True)
        if "llm_sandbox_mpl" in sys.modules:
            sys.modules["llm_sandbox_mpl"].flush()  # figures drawn but not shown
    finally:
        _executing = False
    llm_sandbox_capture.report_dropped()
    files = ""
    if request.get("outputs"):
        _artifacts("after", request)
        with open(os.path.join(request["run_dir"], "artifacts.tar"), "rb") as archive:
            files = base64.b64encode(archive.read()).decode()
        shutil.rmtree(request["run_dir"], ignore_errors=True)
    error = outcome.error_before_exec or outcome.error_in_exec
    document = {
        "status": "ok" if error is None else "error",
        "execution_count": outcome.execution_count,
        "results": list(_results),
        "plots": _collect(plots_dir),
        "files": files,
        "error": None if error is None else {"name": type(error).__name__, "value": str(error)},
    }
    return (0 if error is None else 1), json.dumps(document).encode()


def _collect(plots_dir: str) -> list[dict]:
    if not plots_dir or not os.path.isdir(plots_dir):
        return []
    plots = []
    for name in sorted(os.listdir(plots_dir)):
        with open(os.path.join(plots_dir, name), "rb") as plot:
            plots.append({"name": name, "data": base64.b64encode(plot.read()).decode()})
    shutil.rmtree(plots_dir, ignore_errors=True)
    return plots


def main() -> None:
    os.set_inheritable(warm.REQUESTS_FD, False)  # shell escapes and subprocesses do not get the requests
    requests = warm.open_requests()
    signal.signal(signal.SIGINT, _on_sigint)
    shell = _make_shell(_HISTORY_SIZE)
    while True:
        request = warm.read_request(requests)
        if request is None:
            return
        op = request.get("op")
        if op == "hello":
            warm.reply(request["nonce"], 0, str(os.getpid()).encode())
        elif op == "execute":
            code, payload = _execute(shell, request)
            warm.reply(request["nonce"], code, payload)
        else:
            warm.reply(request["nonce"], 2, json.dumps({"error": f"unknown request {op!r}"}).encode())


if __name__ == "__main__":
    main()

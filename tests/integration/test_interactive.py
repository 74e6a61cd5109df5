"""InteractiveSandboxSession on real engines: warm kernels that keep state from run to run.

Streaming and interrupts are proven with handshakes (the cell waits for a file the test writes once
it saw the cell's output), never with timings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import (
    InteractiveSandboxSession,
    KernelDiedError,
    LanguageNotSupportedError,
    SandboxTimeoutError,
)
from llm_sandbox.const import FileType

pytestmark = pytest.mark.integration


@pytest.fixture
def interactive(backend_name: str, language_image: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """Opens interactive sessions on the backend under test; closes them whatever happens."""
    opened: list[InteractiveSandboxSession] = []

    def factory(lang: str = "python", **kwargs: Any) -> InteractiveSandboxSession:
        language_image(lang)
        session = InteractiveSandboxSession(backend=backend_name, lang=lang, **kwargs)
        opened.append(session)
        return session.open()

    yield factory
    for session in opened:
        session.close()


def _release_when_seen(session: Any, marker: str, seen: threading.Event, tmp_path: Path) -> Callable[[str], None]:
    """An output callback that, once ``marker`` was printed, writes /tmp/go into the sandbox."""
    go = tmp_path / "go"
    go.write_text("go")

    def on_stdout(text: str) -> None:
        if marker in text and not seen.is_set():
            seen.set()
            session.copy_to_runtime(str(go), "/tmp/go")

    return on_stdout


# Python ------------------------------------------------------------------------------------------
def test_python_state_lives_from_run_to_run_and_errors_keep_it(interactive: Any) -> None:
    session = interactive("python")
    assert session.run("import math\ncounter = 41").exit_code == 0
    result = session.run("counter += 1\ncounter")
    assert result.exit_code == 0 and result.stdout == ""
    assert [item["data"]["text/plain"] for item in result.results] == ["42"]
    failed = session.run("x = 1\n\ny = counter / 0\n")
    assert failed.exit_code == 1
    assert "Cell In[3], line 3" in failed.stderr and "ZeroDivisionError" in failed.stderr
    assert session.run("print(counter, x, math.pi > 3)").stdout == "42 1 True\n"


def test_python_magics_display_and_rich_results(interactive: Any) -> None:
    session = interactive("python")
    result = session.run(
        "import pandas as pd\n"
        "from IPython.display import display\n"
        "display({'a': 1})\n"
        "pd.DataFrame({'x': [1, 2]})"
    )
    assert result.exit_code == 0, result.stderr
    kinds = [item["type"] for item in result.results]
    assert kinds == ["display_data", "execute_result"]
    frame = result.results[-1]["data"]
    assert "<table" in frame["text/html"] and "x" in frame["text/plain"]
    assert session.run("%timeit -n1 -r1 sum(range(10))").exit_code == 0
    assert session.run("value = 5;").results == []  # a trailing ';' shows nothing, as in a notebook


def test_python_output_streams_while_the_cell_runs(interactive: Any, tmp_path: Path) -> None:
    session = interactive("python")
    seen = threading.Event()
    result = session.run(
        "import os, time\n"
        "print('waiting', flush=True)\n"
        "deadline = time.time() + 120\n"
        "while not os.path.exists('/tmp/go') and time.time() < deadline:\n"
        "    time.sleep(0.02)\n"
        "print('released' if os.path.exists('/tmp/go') else 'never released')\n",
        on_stdout=_release_when_seen(session, "waiting", seen, tmp_path),
    )
    assert seen.is_set()
    assert result.stdout == "waiting\nreleased\n"


def test_python_figures_come_back_once_with_their_cell(interactive: Any) -> None:
    session = interactive("python")
    drawn = session.run("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('one')")
    assert [plot.format for plot in drawn.plots] == [FileType.PNG]
    assert drawn.plots[0].width == 640
    assert session.run("print('next')").plots == []  # never again in a later cell
    two = session.run("plt.figure(); plt.plot([1]); plt.show()\nplt.figure(); plt.plot([2])")
    assert len(two.plots) == 2


def test_python_interrupted_cell_keeps_the_state(interactive: Any) -> None:
    session = interactive("python")
    session.run("kept = 'still here'")
    with pytest.raises(SandboxTimeoutError, match=r"interrupted.*state are kept"):
        session.run("import time\nwhile True:\n    time.sleep(0.05)", timeout=2)
    assert session.run("print(kept)").stdout == "still here\n"


def test_python_cell_that_ignores_the_interrupt_restarts_the_kernel(interactive: Any) -> None:
    session = interactive("python")
    session.run("lost = 1")
    code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)"
    with pytest.raises(SandboxTimeoutError, match=r"restarted and its state.*was lost"):
        session.run(code, timeout=1)
    after = session.run("print('lost' in dir())")
    assert after.stdout == "False\n"
    assert "kernel was restarted" in after.stderr and "gone" in after.stderr
    assert "kernel was restarted" not in session.run("print(2)").stderr  # said once


@pytest.mark.parametrize(
    "code",
    ["import os\nos._exit(3)", "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"],
    ids=["exit", "memory bomb"],
)
def test_python_kernel_that_dies_is_restarted_never_a_hang(interactive: Any, code: str) -> None:
    session = interactive("python", max_memory="256m")
    session.run("before = 1")
    with pytest.raises(KernelDiedError, match="restarted"):
        session.run(code, timeout=120)
    after = session.run("print('before' in dir())")
    assert after.stdout == "False\n" and "kernel was restarted" in after.stderr


def test_python_installed_library_is_importable_without_a_restart(interactive: Any) -> None:
    session = interactive("python")
    session.run("kept = 7")
    assert session.run("import six").exit_code == 1  # not there yet
    session.install(["six"])
    result = session.run("import six\nprint(six.__name__, kept)")
    assert result.stdout == "six 7\n", result.stderr


def test_kernel_has_the_secure_defaults(interactive: Any) -> None:
    session = interactive("python")
    result = session.run(
        "import os, socket\n"
        "print(os.getuid(), sorted(os.listdir('/sys/class/net')))\n"
        "try:\n"
        "    open('/etc/hacked', 'w')\n"
        "except OSError as error:\n"
        "    print(type(error).__name__)\n"
    )
    assert result.stdout == "1000 ['lo']\nOSError\n" or result.stdout.startswith("1000 ['lo']\n"), result.stdout
    assert "PermissionError" in result.stdout or "OSError" in result.stdout


# JavaScript, Ruby, R -------------------------------------------------------------------------------
def test_javascript_keeps_let_const_functions_and_awaits(interactive: Any) -> None:
    session = interactive("javascript")
    assert session.run("let total = 40; const step = 1; function add(a) { return a + step }").exit_code == 0
    assert session.run("total = add(total) + step; total").results[-1]["data"]["text/plain"] == "42"
    assert session.run("let total = 5; total").results[-1]["data"]["text/plain"] == "5"  # redeclared
    awaited = session.run("const data = await Promise.resolve([1, 2, 3]);\ndata.length")
    assert awaited.results[-1]["data"]["text/plain"] == "3", awaited.stderr
    assert session.run("data.map((v) => v * 2)").results[-1]["data"]["application/json"] == [2, 4, 6]
    failed = session.run("\n\nnull.missing")
    assert failed.exit_code == 1 and "cell[6]:3" in failed.stderr and "TypeError" in failed.stderr
    assert session.run("console.log(total)").stdout == "5\n"


def test_javascript_interrupt_keeps_the_state(interactive: Any) -> None:
    session = interactive("javascript")
    session.run("let kept = 'yes'")
    with pytest.raises(SandboxTimeoutError, match="state are kept"):
        session.run("while (true) {}", timeout=2)
    assert session.run("console.log(kept)").stdout == "yes\n"


def test_ruby_keeps_locals_methods_and_classes(interactive: Any) -> None:
    session = interactive("ruby")
    session.run("x = 41\ndef twice(a) = a * 2\nclass Greeter; def hi = 'hi'; end")
    result = session.run("x += 1\nputs Greeter.new.hi\ntwice(x)")
    assert result.stdout == "hi\n" and result.results[-1]["data"]["text/plain"] == "84"
    failed = session.run("\n\nnil.upcase")
    assert failed.exit_code == 1 and "cell[3]:3" in failed.stderr and "NoMethodError" in failed.stderr
    assert session.run("puts x").stdout == "42\n"


def test_r_keeps_the_global_environment_and_captures_plots(interactive: Any) -> None:
    session = interactive("r")
    session.run("x <- 41\nf <- function(a) a + 1")
    assert session.run("f(x)").stdout == "[1] 42\n"
    failed = session.run("stop('boom')")
    assert failed.exit_code == 1 and failed.stderr == "Error: boom\n"
    base = session.run("plot(1:10)")
    assert [plot.format for plot in base.plots] == [FileType.PNG]
    gg = session.run(
        "library(ggplot2)\nggplot(data.frame(a = 1:3, b = c(2, 1, 3)), aes(a, b)) + geom_point()"
    )
    assert len(gg.plots) == 1, gg.stderr
    assert session.run("x").stdout == "[1] 41\n"


@pytest.mark.parametrize("lang", ["java", "cpp", "go"])
def test_languages_without_a_kernel_are_refused_clearly(lang: str) -> None:
    with pytest.raises(LanguageNotSupportedError) as caught:
        InteractiveSandboxSession(lang=lang)
    message = str(caught.value)
    assert lang in message and all(name in message for name in ("python", "javascript", "ruby", "r"))

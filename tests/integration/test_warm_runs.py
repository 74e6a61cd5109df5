"""Warm stateless runs: each Python run is a fresh child forked from a warm parent, and nothing of one
run is visible to the next (real engines, real images)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_sandbox import SandboxTimeoutError

pytestmark = pytest.mark.integration

PARENT = "print(open(f'/proc/{__import__(\"os\").getppid()}/cmdline').read().replace(chr(0), ' '))"


def test_runs_are_forked_from_the_warm_runner(make_session: Any) -> None:
    session = make_session()
    session.run("print(1)")
    assert "llm_sandbox_runner.py" in session.run(PARENT).stdout


def test_nothing_of_one_run_is_visible_to_the_next(make_session: Any) -> None:
    session = make_session()
    first = session.run(
        "import json, os, sys, threading, time\n"
        "json.dumps = None\n"
        "sys.modules['planted'] = sys\n"
        "os.environ['PLANTED'] = 'yes'\n"
        "planted_global = 1\n"
        "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
        "print(threading.active_count())\n"
    )
    assert (first.exit_code, first.stdout) == (0, "2\n"), first.stderr
    second = session.run(
        "import json, os, sys, threading\n"
        "print(json.dumps([1]), 'planted' in sys.modules, os.environ.get('PLANTED'),\n"
        "      'planted_global' in globals(), threading.active_count())\n"
    )
    assert second.stdout == "[1] False None False 1\n", second.stderr


def test_a_run_is_the_main_program_of_its_own_file(make_session: Any) -> None:
    result = make_session().run(
        "import sys\nprint(__name__, sys.argv[0].endswith('.py'), __file__ == sys.argv[0])\n"
        "if __name__ == '__main__':\n    sys.exit(5)\n"
    )
    assert (result.exit_code, result.stdout) == (5, "__main__ True True\n")


def test_exit_codes_atexit_and_threads_as_python_gives_them(make_session: Any) -> None:
    session = make_session()
    assert session.run("raise SystemExit('bye')").exit_code == 1
    assert session.run("raise SystemExit('bye')").stderr == "bye\n"
    finishing = session.run(
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('at exit'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
    )
    assert finishing.stdout == "thread done\nat exit\n"


def test_after_a_timeout_the_next_run_gets_a_new_warm_parent(make_session: Any) -> None:
    session = make_session()
    before = session.run(PARENT).stdout
    with pytest.raises(SandboxTimeoutError):
        session.run("while True: pass", timeout=1)
    after = session.run("import os\nprint('usable')\n" + PARENT)
    assert after.stdout.startswith("usable\n") and "llm_sandbox_runner.py" in after.stdout
    assert session.run("import os; print(os.getppid())").stdout != before  # a new parent


def test_an_image_without_the_warm_runner_runs_cold(make_session: Any, tmp_path: Path, python_image: str) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {python_image}\nUSER root\nRUN rm /opt/llm-sandbox/llm_sandbox_runner.py\nUSER 1000\n")
    session = make_session(dockerfile=str(dockerfile))
    result = session.run("import sys\nprint('cold', sys.argv[0].endswith('.py'))")
    assert (result.exit_code, result.stdout) == (0, "cold True\n"), result.stderr
    assert "llm_sandbox_runner.py" not in session.run(PARENT).stdout

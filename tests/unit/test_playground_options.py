"""The playground's options as docs/playground.md documents them (its option table), without Gradio."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from llm_sandbox.exceptions import ValidationError
from playground.options import PlaygroundConfig, add_arguments, config_from_args

DOCUMENTED_DEFAULTS = {
    "host": "127.0.0.1",  # this machine only
    "port": 7860,
    "model": None,
    "backend": "docker",
    "lang": "python",
    "memory": "1g",
    "cpus": 1.0,
    "timeout": 60.0,
    "security_policy": None,
    "idle_timeout": 600.0,  # "closed ... after 10 idle minutes"
    "max_sessions": 16,
    "pool_size": 0,  # no pool unless asked for
}


def test_the_defaults_are_the_documented_ones() -> None:
    config = config_from_args(add_arguments(argparse.ArgumentParser()).parse_args([]))
    assert {name: getattr(config, name) for name in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS
    assert {name: getattr(PlaygroundConfig(), name) for name in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS


def test_every_documented_option_is_taken() -> None:
    argv = ["--host", "0.0.0.0", "--port", "8000", "--model", "ollama:qwen2.5:7b", "--backend", "podman",
            "--lang", "r", "--memory", "2g", "--cpus", "1.5", "--timeout", "30", "--security-policy", "strict",
            "--idle-timeout", "5", "--max-sessions", "2", "--pool-size", "2"]  # fmt: skip
    config = config_from_args(add_arguments(argparse.ArgumentParser()).parse_args(argv))
    assert (config.host, config.port, config.model, config.backend, config.lang) == (
        "0.0.0.0", 8000, "ollama:qwen2.5:7b", "podman", "r"
    )
    assert (config.memory, config.cpus, config.timeout, config.security_policy) == ("2g", 1.5, 30.0, "strict")
    assert (config.idle_timeout, config.max_sessions, config.pool_size) == (5.0, 2, 2)


@pytest.mark.parametrize("size", [-1, 17])
def test_a_pool_beyond_the_bound_of_sandboxes_is_refused(size: int) -> None:
    with pytest.raises(ValidationError, match="--pool-size"):
        PlaygroundConfig(pool_size=size).check()


def test_the_command_line_does_not_load_gradio_or_langchain() -> None:
    """``llm-sandbox`` builds its parser with these options: Gradio and LangChain load only when it serves."""
    probe = (
        "import sys, llm_sandbox.cli as cli\ncli.build_parser()\n"
        "print(sorted(m for m in ('gradio', 'langchain_core') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert done.stdout == "[]\n"

"""The built-in languages: one record each, plus a handler class where a hook differs."""

from __future__ import annotations

from llm_sandbox.languages.base import (
    AbstractLanguageHandler,
    LanguageConfig,
    LanguageHandler,
    PlotDetectionConfig,
)

PYTHON = LanguageConfig(
    name="python",
    aliases=("py", "python3"),
    file_extension="py",
    # The code file lives in a private run directory; the workdir goes first on the
    # path so modules the code wrote there import as they would from a script beside them.
    execution_commands=['PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" exec python3 {file}'],
    package_manager="pip",
    install_command=(
        'PYTHONUSERBASE="$LLM_SANDBOX_PACKAGES/python" '
        "python3 -m pip install --user --only-binary=:all: --no-warn-script-location "
        "--progress-bar off --quiet {libraries}"
    ),
    plot_detection=PlotDetectionConfig(
        libraries=("matplotlib", "seaborn", "plotly"),
        environment={"MPLBACKEND": "module://llm_sandbox_mpl", "PYTHONPATH": "/opt/llm-sandbox"},
    ),
    preinstalled_libraries=("numpy", "pandas", "matplotlib", "seaborn", "plotly"),
)


BUILTIN_LANGUAGES: list[tuple[LanguageConfig, type[AbstractLanguageHandler]]] = [
    (PYTHON, LanguageHandler),
]

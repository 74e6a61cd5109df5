"""The Code tab: code typed in the editor runs in the tab's sandbox, its output streams while it runs.

No ``from __future__ import annotations`` here: Gradio finds ``gr.Request`` parameters
by their annotation.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from llm_sandbox.exceptions import SandboxError, SandboxTimeoutError, SecurityViolationError
from llm_sandbox.tools.text import MODEL_FIXABLE_ERRORS, format_error
from playground.live import changes
from playground.options import PlaygroundConfig
from playground.results import keep_artifacts, result_line, rich_results
from playground.sandboxes import Sandboxes
from playground.state import Tabs
from playground.ui import gr

EDITOR_LANGUAGES = {"python": "python", "javascript": "javascript", "cpp": "cpp", "r": "r"}
"""gr.Code highlights these; the others show as plain text."""

EXAMPLES = {
    "python": (
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n\n"
        "x = np.linspace(0, 4 * np.pi, 400)\n"
        'print(f"max of sin(x) * exp(-x/8): {np.max(np.sin(x) * np.exp(-x / 8)):.3f}")\n\n'
        "plt.plot(x, np.sin(x) * np.exp(-x / 8))\n"
        'plt.title("a damped sine")\n'
        "plt.show()\n"
    ),
    "javascript": 'const squares = [1, 2, 3, 4].map((n) => n * n);\nconsole.log("squares:", squares);\n',
    "java": (
        "public class Main {\n"
        "    public static void main(String[] args) {\n"
        '        System.out.println("Hello from Java " + System.getProperty("java.version"));\n'
        "    }\n}\n"
    ),
    "cpp": (
        "#include <iostream>\n\nint main() {\n"
        '    for (int i = 1; i <= 3; ++i) std::cout << "line " << i << "\\n";\n'
        "    return 0;\n}\n"
    ),
    "go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello from Go")\n}\n',
    "ruby": 'puts "Hello from Ruby #{RUBY_VERSION}"\n',
    "r": (
        "x <- seq(0, 2 * pi, length.out = 100)\n"
        'cat("mean of sin(x):", mean(sin(x)), "\\n")\n'
        'plot(x, sin(x), type = "l")\n'
    ),
}
"""What the editor shows for each language until the user writes their own code."""


class CodeTab:
    """The Code tab's handlers: Run, Stop and Restart kernel.

    Where the language has a kernel, runs share the tab's interpreter with the chat's tool calls,
    like notebook cells (variables stay until Restart kernel)."""

    def __init__(self, config: PlaygroundConfig, tabs: Tabs, sandboxes: Sandboxes) -> None:
        self.default_language = config.lang
        self.tabs = tabs
        self.sandboxes = sandboxes

    async def run(self, code: str, language: str, request: gr.Request) -> AsyncIterator[tuple[Any, ...]]:
        """Run the editor's code in the tab's sandbox; stream stdout/stderr; plots go to the gallery."""
        tab = self.tabs.get(request)
        if not (code or "").strip():
            yield "", "", "Nothing to run: type some code first.", "", *tab.artifacts()
            return
        lang = language or self.default_language
        yield "", "", f"Running {lang} code…", "", *tab.artifacts()
        live, task = self.sandboxes.run(tab, code, lang)
        async for _ in changes(live, task):
            yield live.stdout, live.stderr, f"Running {lang} code… {live.elapsed:.1f} s", "", *tab.artifacts()
        try:
            result = task.result()
        except MODEL_FIXABLE_ERRORS as exc:
            yield live.stdout, format_error(exc), f"**{_error_title(exc)}**", "", *tab.artifacts()
            return
        except SandboxError as exc:
            yield live.stdout, live.stderr, f"**The sandbox failed:** {exc}", "", *tab.artifacts()
            return
        new_plots = keep_artifacts(tab, result, f"code tab ({lang})")
        status = result_line(result, len(new_plots))
        if live.cancelled:
            status = f"**Stopped:** the run was interrupted (the sandbox and its files stay) · {status}"
        yield result.stdout, result.stderr, status, rich_results(result), *tab.artifacts()

    async def restart(self, language: str, request: gr.Request) -> str:
        """Restart the kernel of the tab's sandbox: variables gone, files kept."""
        tab = self.tabs.get(request)
        lang = language or self.default_language
        try:
            restarted = await asyncio.to_thread(self.sandboxes.restart_kernel, tab, lang)
        except SandboxError as exc:
            return f"**The sandbox failed:** {exc}"
        if not restarted:
            return f"{lang} runs start fresh every time: there is no kernel to restart."
        return f"The {lang} kernel was restarted: its variables are gone, the files in the sandbox stay."

    def stop(self, request: gr.Request) -> None:
        """The Code tab's Stop: kill what runs in the tab's sandbox (its files stay)."""
        self.sandboxes.interrupt(self.tabs.get(request))


def switch_language(language: str, code: str) -> Any:
    """Show the new language's example unless the user wrote their own code."""
    editor_language = EDITOR_LANGUAGES.get(language)
    if not (code or "").strip() or code in EXAMPLES.values():
        return gr.update(value=EXAMPLES.get(language, ""), language=editor_language)
    return gr.update(language=editor_language)


def _error_title(exc: BaseException) -> str:
    if isinstance(exc, SandboxTimeoutError):
        return "Timed out: the run was stopped (the sandbox and its files are kept)."
    if isinstance(exc, SecurityViolationError):
        return "Refused by the security preset: nothing was run."
    return f"Not run: {exc}"

"""Warm, stateful kernels: variables live from run to run, as in a notebook, inside the sandbox.

    .venv/bin/python examples/interactive.py

Loads data in one run and uses it in the next (Python), keeps a JavaScript binding between runs,
shows a DataFrame's rich result, and shows what a timeout does to the state.
"""

from __future__ import annotations

from llm_sandbox import InteractiveSandboxSession, SandboxTimeoutError


def main() -> None:
    with InteractiveSandboxSession(lang="python") as kernel:
        kernel.run(
            "import pandas as pd\n"
            "sales = pd.DataFrame({'month': ['jan', 'feb', 'mar'], 'units': [120, 95, 143]})"
        )
        summary = kernel.run("sales.describe().loc[['mean', 'max']]")  # the data is still loaded
        print("rich result (text/plain):")
        print(summary.results[-1]["data"]["text/plain"])
        print("has an HTML table too:", "<table" in summary.results[-1]["data"]["text/html"])

        plotted = kernel.run("ax = sales.plot.bar(x='month', y='units')")
        print("plots of that cell:", [(plot.format.value, plot.width, plot.height) for plot in plotted.plots])

        try:
            kernel.run("import time\nwhile True: time.sleep(0.1)", timeout=2)
        except SandboxTimeoutError as error:
            print("timeout:", error)
        print("state kept after the interrupt:", kernel.run("len(sales)").results[-1]["data"]["text/plain"])

    with InteractiveSandboxSession(lang="javascript") as node:
        node.run("const greet = (name) => `hello, ${name}`; let calls = 0;")
        result = node.run("calls += 1; await Promise.resolve(greet('sandbox'))")
        print("javascript:", result.results[-1]["data"]["text/plain"])


if __name__ == "__main__":
    main()

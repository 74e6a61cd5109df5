"""A LlamaIndex FunctionAgent that answers by running Python in a sandbox.

Run it against any OpenAI-compatible chat model:

    OPENAI_API_KEY=sk-... .venv/bin/python examples/llamaindex_agent.py
    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=qwen2.5 .venv/bin/python examples/llamaindex_agent.py
    .venv/bin/python examples/llamaindex_agent.py "Fit a line to y = 3x + noise and plot it."

Needs: `pip install 'llm-sandbox-toolkit[examples]'` (scripts/setup.sh installs it) and a Docker engine.
The model's code runs in a container with no network; its output streams live, and plots come back
as artifacts, saved under ./sandbox_outputs/ (never overwriting earlier ones). One agent Context is
one conversation and gets one sandbox: files and variables persist between its turns. Without a
configured model the script explains itself and exits.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path

try:  # run from a checkout without installing: use the library next to this file
    import llm_sandbox  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "toolkit"))

DEFAULT_TASK = "Simulate 1000 rolls of two dice, print how often each sum occurs, and plot the distribution."
SYSTEM = (
    "You are a data assistant. When a question needs computation, write Python and run it with the "
    "run_code tool; read its output before answering. Keep answers short."
)


def explain(reason: str) -> None:
    print(f"{reason}\n")
    print(__doc__.strip())


async def main() -> int:
    api_key = os.environ.get("OPENAI_API_KEY")
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not api_key and not base_url:
        explain(
            "No model is configured: set OPENAI_API_KEY (and/or OPENAI_BASE_URL for a local "
            "OpenAI-compatible server) to run this example."
        )
        return 0
    try:
        from llama_index.core.agent.workflow import FunctionAgent, ToolCall, ToolCallResult
        from llama_index.core.workflow import Context
        from llama_index.llms.openai_like import OpenAILike
    except ImportError as exc:
        explain(f"This example needs {exc.name}; install it with: pip install 'llm-sandbox-toolkit[examples]'")
        return 0

    from llm_sandbox.llamaindex import SandboxOutput, SandboxToolSpec

    task = " ".join(sys.argv[1:]) or DEFAULT_TASK
    llm = OpenAILike(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        api_base=base_url or "https://api.openai.com/v1",
        api_key=api_key or "not-needed",  # local servers usually ignore the key
        is_chat_model=True,
        is_function_calling_model=True,
        temperature=0,
    )
    spec = SandboxToolSpec(lang="python", execution_timeout=60)
    try:
        agent = FunctionAgent(tools=spec.to_tool_list(), llm=llm, system_prompt=SYSTEM)
        ctx = Context(agent)  # keep it to continue the conversation (and its sandbox) later
        print(f"user: {task}")
        handler = agent.run(task, ctx=ctx, max_iterations=8)
        line_start = True
        async for event in handler.stream_events():
            if isinstance(event, SandboxOutput):  # the sandbox's output, live
                for piece in event.text.splitlines(keepends=True):
                    print(("  | " if line_start else "") + piece, end="", flush=True)
                    line_start = piece.endswith("\n")
            elif isinstance(event, ToolCallResult):
                print(f"< {event.tool_output.content}")
            elif isinstance(event, ToolCall):
                arguments = ", ".join(f"{k}={v!r}"[:200] for k, v in event.tool_kwargs.items())
                print(f"\n> {event.tool_name}({arguments})")
        answer = await handler
        print(f"\nassistant: {answer}")
        saved = [path for record in spec.results_for(ctx) for path in save_plots(record.artifact)]
        if saved:
            print("\nplots saved: " + ", ".join(str(path) for path in saved))
    finally:
        await spec.aclose()
    return 0


def save_plots(result: object) -> list[Path]:
    """The application's side of the artifact: write the run's plots to new files."""
    folder = Path("sandbox_outputs")
    paths: list[Path] = []
    for plot in getattr(result, "plots", None) or []:
        folder.mkdir(exist_ok=True)
        number = len(list(folder.glob("plot_*"))) + 1
        while (path := folder / f"plot_{number}.{plot.format.value}").exists():
            number += 1
        path.write_bytes(base64.b64decode(plot.content_base64))
        paths.append(path)
    return paths


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

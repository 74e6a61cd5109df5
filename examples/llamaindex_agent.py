"""A LlamaIndex FunctionAgent that answers by running Python in a sandbox.

Run it against any OpenAI-compatible chat model:

    OPENAI_API_KEY=sk-...            python examples/llamaindex_agent.py
    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=qwen2.5 python examples/llamaindex_agent.py
    python examples/llamaindex_agent.py "Fit a line to y = 3x + noise and plot it."

Needs: `pip install 'llm-sandbox-toolkit[llamaindex]' llama-index-llms-openai-like` and a Docker engine.
One agent Context is one conversation and gets one sandbox: files persist between its turns.
Plots come back as artifacts (spec.last_result) and are saved under ./sandbox_outputs/.
Without a configured model the script explains itself and exits.
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
        explain(
            f"This example needs llama-index-llms-openai-like ({exc}); install it with: "
            "pip install llama-index-llms-openai-like"
        )
        return 0

    from llm_sandbox.llamaindex import SandboxToolSpec

    task = " ".join(sys.argv[1:]) or DEFAULT_TASK
    llm = OpenAILike(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        api_base=base_url or "https://api.openai.com/v1",
        api_key=api_key or "not-needed",  # local servers usually ignore the key
        is_chat_model=True,
        is_function_calling_model=True,
        temperature=0,
    )
    spec = SandboxToolSpec(lang="python", execution_timeout=60, idle_timeout=300)
    try:
        agent = FunctionAgent(tools=[*spec.to_tool_list()], llm=llm, system_prompt=SYSTEM)
        ctx = Context(agent)  # keep it to continue the conversation (and its sandbox) later
        print(f"user: {task}")
        handler = agent.run(task, ctx=ctx, max_iterations=8)
        async for event in handler.stream_events():
            if isinstance(event, ToolCall) and not isinstance(event, ToolCallResult):
                arguments = ", ".join(f"{k}={v!r}"[:200] for k, v in event.tool_kwargs.items())
                print(f"\n> {event.tool_name}({arguments})")
            elif isinstance(event, ToolCallResult):
                print(f"< {event.tool_output.content}")
        answer = await handler
        print(f"\nassistant: {answer}")
        saved = save_plots(spec)
        if saved:
            print("\nplots saved: " + ", ".join(str(path) for path in saved))
    finally:
        await spec.aclose()
    return 0


def save_plots(spec: object) -> list[Path]:
    """The application's side of the artifacts: write every plot of the conversation to files."""
    paths: list[Path] = []
    for record in getattr(spec, "results", []):
        for plot in getattr(record.artifact, "plots", None) or []:
            path = Path("sandbox_outputs") / f"plot_{len(paths) + 1}.{plot.format.value}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(base64.b64decode(plot.content_base64))
            paths.append(path)
    return paths


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

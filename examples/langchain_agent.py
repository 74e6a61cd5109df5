"""A LangChain agent (`langchain.agents.create_agent`, a LangGraph graph) that answers by running Python
in a sandbox.

Run it against any OpenAI-compatible chat model:

    OPENAI_API_KEY=sk-... .venv/bin/python examples/langchain_agent.py
    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=qwen2.5 .venv/bin/python examples/langchain_agent.py
    .venv/bin/python examples/langchain_agent.py "How many primes are below 10000? Plot their gaps."

Needs: `pip install 'llm-sandbox-toolkit[examples]'` (scripts/setup.sh installs it) and a Docker engine.
The model's code runs in a container with no network; its output streams live, and plots come back
as artifacts, saved under ./sandbox_outputs/ (never overwriting earlier ones). The conversation is
checkpointed (LangGraph's InMemorySaver): one thread id, one sandbox. Without a configured model
the script explains itself and exits.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

try:  # run from a checkout without installing: use the library next to this file
    import llm_sandbox  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "toolkit"))

DEFAULT_TASK = (
    "Draw 500 samples from a normal distribution with mean 10 and standard deviation 2, "
    "print their mean and standard deviation, and plot a histogram."
)
SYSTEM = (
    "You are a data assistant. When a question needs computation, write Python and run it with the "
    "run_code tool; read its output before answering. Keep answers short."
)


def explain(reason: str) -> None:
    print(f"{reason}\n")
    print(__doc__.strip())


def main() -> int:
    api_key = os.environ.get("OPENAI_API_KEY")
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not api_key and not base_url:
        explain(
            "No model is configured: set OPENAI_API_KEY (and/or OPENAI_BASE_URL for a local "
            "OpenAI-compatible server) to run this example."
        )
        return 0
    try:
        from langchain.agents import create_agent
        from langchain_core.messages import AIMessage, ToolMessage
        from langchain_openai import ChatOpenAI
        from langgraph.checkpoint.memory import InMemorySaver
        from pydantic import SecretStr
    except ImportError as exc:
        explain(f"This example needs {exc.name}; install it with: pip install 'llm-sandbox-toolkit[examples]'")
        return 0

    from llm_sandbox.data import ExecutionResult
    from llm_sandbox.langchain import OUTPUT_EVENT, SandboxToolkit

    task = " ".join(sys.argv[1:]) or DEFAULT_TASK
    model = ChatOpenAI(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        base_url=base_url,
        api_key=SecretStr(api_key or "not-needed"),  # local servers usually ignore the key
        temperature=0,
    )
    with SandboxToolkit(lang="python", execution_timeout=60) as toolkit:
        agent = create_agent(model, toolkit.get_tools(), system_prompt=SYSTEM, checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": "example-conversation"}, "recursion_limit": 16}
        print(f"user: {task}")
        saved: list[Path] = []
        line_start = True
        stream = agent.stream({"messages": [("user", task)]}, config, stream_mode=["updates", "custom"])
        for mode, chunk in stream:
            if mode == "custom" and chunk.get("type") == OUTPUT_EVENT:  # the sandbox's output, live
                for piece in chunk["text"].splitlines(keepends=True):
                    print(("  | " if line_start else "") + piece, end="", flush=True)
                    line_start = piece.endswith("\n")
                continue
            for update in chunk.values():
                for message in (update or {}).get("messages", []):
                    if isinstance(message, AIMessage):
                        for call in message.tool_calls:
                            args = ", ".join(f"{k}={v!r}"[:200] for k, v in call["args"].items())
                            print(f"\n> {call['name']}({args})")
                        if not message.tool_calls:
                            print(f"\nassistant: {message.content}")
                    elif isinstance(message, ToolMessage):
                        print(f"< {message.content}")
                        result = toolkit.load_artifact(message)  # the typed artifact, as the application sees it
                        if isinstance(result, ExecutionResult):
                            saved += save_plots(result)
        if saved:
            print("\nplots saved: " + ", ".join(str(path) for path in saved))
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
    sys.exit(main())

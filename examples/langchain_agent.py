"""A LangChain agent that answers by running Python in a sandbox.

Run it against any OpenAI-compatible chat model:

    OPENAI_API_KEY=sk-...            python examples/langchain_agent.py
    OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=qwen2.5 python examples/langchain_agent.py
    python examples/langchain_agent.py "How many primes are below 10000? Plot their gaps."

Needs: `pip install 'llm-sandbox-toolkit[langchain]' langchain-openai` and a Docker engine.
The model's code runs in a container with no network; plots come back as artifacts and are
saved under ./sandbox_outputs/. Without a configured model the script explains itself and exits.
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
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
        from langchain_core.runnables import RunnableConfig
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr
    except ImportError as exc:
        explain(f"This example needs langchain-openai ({exc}); install it with: pip install langchain-openai")
        return 0

    from llm_sandbox.agents import OutputChunk, SandboxEvent
    from llm_sandbox.langchain import SandboxToolkit

    task = " ".join(sys.argv[1:]) or DEFAULT_TASK
    model = ChatOpenAI(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        base_url=base_url,
        api_key=SecretStr(api_key or "not-needed"),  # local servers usually ignore the key
        temperature=0,
    )

    with SandboxToolkit(lang="python", execution_timeout=60, idle_timeout=300) as toolkit:
        tools = {tool.name: tool for tool in toolkit.get_tools()}

        line_start = True

        def show_live_output(event: SandboxEvent) -> None:  # the same events a UI would subscribe to
            nonlocal line_start
            if isinstance(event, OutputChunk):
                for piece in event.text.splitlines(keepends=True):
                    print(("  | " if line_start else "") + piece, end="", flush=True)
                    line_start = piece.endswith("\n")

        toolkit.manager.subscribe(show_live_output, kinds={"output"})
        config: RunnableConfig = {"configurable": {"thread_id": "example-conversation"}}
        agent = model.bind_tools(list(tools.values()))
        messages: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage(task)]
        print(f"user: {task}")
        saved: list[Path] = []
        for _ in range(8):  # the agent loop: model → tool calls → tool results → model
            reply = agent.invoke(messages, config)
            assert isinstance(reply, AIMessage)
            messages.append(reply)
            if not reply.tool_calls:
                print(f"\nassistant: {reply.content}")
                break
            for call in reply.tool_calls:
                print(f"\n> {call['name']}({', '.join(f'{k}={v!r}'[:200] for k, v in call['args'].items())})")
                result = tools[call["name"]].invoke(call, config)
                messages.append(result)
                print(f"< {result.content}")
                saved += save_plots(getattr(result, "artifact", None), len(saved))
        else:
            print("\n(stopped after 8 steps)")
        if saved:
            print("\nplots saved: " + ", ".join(str(path) for path in saved))
    return 0


def save_plots(artifact: object, start: int) -> list[Path]:
    """The application's side of the artifact: write the run's plots to files."""
    paths: list[Path] = []
    for number, plot in enumerate(getattr(artifact, "plots", None) or [], start=start + 1):
        path = Path("sandbox_outputs") / f"plot_{number}.{plot.format.value}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(base64.b64decode(plot.content_base64))
        paths.append(path)
    return paths


if __name__ == "__main__":
    sys.exit(main())

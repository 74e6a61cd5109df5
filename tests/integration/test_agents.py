"""LangChain tools and per-agent session lifecycles against real Docker (issue: agent toolkit).

A langchain-core fake chat model emits the tool calls; a small agent loop feeds
them to the tools exactly as an agent framework does (model → tool calls →
ToolMessages → model).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_sandbox.agents import SessionClosed, SessionManager
from llm_sandbox.const import FileType
from llm_sandbox.contract import SESSION_LABEL
from llm_sandbox.data import ExecutionResult
from tests.waits import eventually

pytestmark = pytest.mark.integration
pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage  # noqa: E402

from llm_sandbox.langchain import SandboxTool, SandboxToolkit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class ToolCallingFakeModel(GenericFakeChatModel):
    """GenericFakeChatModel whose bind_tools returns itself, as agent code expects."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFakeModel:  # type: ignore[override]
        return self


def script(*turns: list[tuple[str, dict[str, Any]]] | str) -> ToolCallingFakeModel:
    """A model that answers with these turns: a list of (tool, args) calls, or a final text."""
    messages = []
    for number, turn in enumerate(turns):
        if isinstance(turn, str):
            messages.append(AIMessage(content=turn))
        else:
            calls = [
                {"name": name, "args": args, "id": f"call-{number}-{i}", "type": "tool_call"}
                for i, (name, args) in enumerate(turn)
            ]
            messages.append(AIMessage(content="", tool_calls=calls))
    return ToolCallingFakeModel(messages=iter(messages))


def run_agent(
    model: ToolCallingFakeModel, tools: list[Any], prompt: str, thread_id: str
) -> list[BaseMessage]:
    """The agent loop: ask the model, run the tool calls it makes, repeat until it answers."""
    config = {"configurable": {"thread_id": thread_id}}
    by_name = {tool.name: tool for tool in tools}
    bound = model.bind_tools(tools)
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    while True:
        reply = bound.invoke(messages, config)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        for call in reply.tool_calls:
            messages.append(by_name[call["name"]].invoke(call, config))


def tool_messages(messages: list[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def containers(client: Any, session_id: str) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"{SESSION_LABEL}={session_id}"})


@pytest.fixture(scope="module")
def toolkit(python_image: str) -> Iterator[SandboxToolkit]:
    with SandboxToolkit(lang="python", max_sessions=6, idle_timeout=300) as toolkit:
        yield toolkit


@pytest.fixture(scope="module")
def tools(toolkit: SandboxToolkit) -> list[Any]:
    return toolkit.get_tools()


PLOT_CODE = """
import matplotlib.pyplot as plt
import pandas as pd
df = pd.DataFrame({"x": range(10), "y": [v * v for v in range(10)]})
df.plot(x="x", y="y", title="squares")
plt.show()
df.to_csv("/sandbox/outputs/squares.csv", index=False)
print("mean", df.y.mean())
"""


def test_agent_gets_compact_content_and_the_plot_as_artifact(toolkit: SandboxToolkit, tools: list[Any]) -> None:
    model = script([("run_code", {"code": PLOT_CODE})], "Here is the plot of the squares.")
    messages = run_agent(model, tools, "plot the squares of 0..9", "plot-thread")
    [message] = tool_messages(messages)
    assert message.tool_call_id == "call-0-0" and message.name == "run_code"
    content = message.content
    assert isinstance(content, str)
    assert content.startswith("exit code: 0")
    assert "stdout:\nmean 28.5" in content
    assert "plots: 1 image captured (png" in content
    assert "/sandbox/outputs/squares.csv (csv" in content
    assert "base64" not in content and len(content) < 600  # compact: no image data for the model
    result = toolkit.load_artifact(message)
    assert isinstance(result, ExecutionResult) and result.exit_code == 0
    [plot] = result.plots
    assert plot.format == FileType.PNG and base64.b64decode(plot.content_base64).startswith(b"\x89PNG")
    [csv] = result.files
    assert base64.b64decode(csv.content_base64 or "").decode().startswith("x,y\n0,0\n")
    assert messages[-1].content == "Here is the plot of the squares."


def test_errors_come_back_as_content_and_the_agent_goes_on(python_image: str) -> None:
    with SandboxToolkit(lang="python", execution_timeout=2, security_policy="production") as strict:
        model = script(
            [("run_code", {"code": "print(1 / 0)"})],
            [("run_code", {"code": "import time\ntime.sleep(60)"})],
            [("run_code", {"code": "import subprocess\nsubprocess.run(['id'])"})],
            [("run_code", {"code": "print(1)", "libraries": ["numpy; rm -rf /"]})],
            [("read_file", {"path": "missing.txt"})],
            "I could not do it.",
        )
        messages = run_agent(model, strict.get_tools(), "try things", "errors-thread")
    exception, timeout, refused, bad_library, missing = (m.content for m in tool_messages(messages))
    assert "exit code: 1" in exception and "ZeroDivisionError: division by zero" in exception
    assert "error: timeout" in timeout and "2s" in timeout
    assert "security policy refused" in refused and "subprocess" in refused
    assert "invalid library name" in bad_library
    assert "does not exist" in missing
    assert messages[-1].content == "I could not do it."


def test_a_timeout_comes_back_with_what_the_code_printed_before_it(python_image: str) -> None:
    """The timeout must fire after the code printed; on a machine too busy for that, a longer one is tried."""
    for seconds in (2, 8, 30):
        with SandboxToolkit(lang="python", execution_timeout=seconds) as toolkit:
            model = script([("run_code", {"code": "print('started', flush=True)\nimport time\ntime.sleep(600)"})], "ok")
            [message] = tool_messages(run_agent(model, toolkit.get_tools(), "wait", "timeout-thread"))
        if "started" in message.content:
            break
    assert message.content.startswith("error: timeout") and f"{seconds}s" in message.content
    assert "stdout before the error:\nstarted" in message.content


def test_two_thread_ids_get_two_sandboxes(
    toolkit: SandboxToolkit, tools: list[Any], docker_client: Any
) -> None:
    write = script([("run_code", {"code": "open('note.txt', 'w').write('from A')"})], "done")
    look = script([("run_code", {"code": "import os\nprint(os.path.exists('note.txt'))"})], "done")
    run_agent(write, tools, "write a note", "thread-A")
    messages = run_agent(look, tools, "is there a note?", "thread-B")
    assert "stdout:\nFalse" in tool_messages(messages)[0].content
    infos = {info.key: info for info in toolkit.manager.sessions()}
    assert infos["thread-A"].container_id != infos["thread-B"].container_id
    for key in ("thread-A", "thread-B"):
        session_id = infos[key].session_id
        assert session_id and len(containers(docker_client, session_id)) == 1


def test_one_thread_keeps_its_files_across_calls(toolkit: SandboxToolkit, tools: list[Any]) -> None:
    thread = "files-thread"
    first = script(
        [("run_code", {"code": "import pandas as pd\npd.DataFrame({'v': [1, 2, 3]}).to_csv('data.csv')"})],
        "saved",
    )
    run_agent(first, tools, "save data", thread)
    second = script(
        [("list_files", {}), ("read_file", {"path": "data.csv"})],
        [("upload_file", {"path": "extra/numbers.txt", "content": "10\n20\n"})],
        [
            (
                "run_code",
                {
                    "code": "import pandas as pd\nprint(pd.read_csv('data.csv').v.sum() + "
                    "sum(int(x) for x in open('extra/numbers.txt')))"
                },
            )
        ],
        "The total is 36.",
    )
    listed, read, uploaded, total = tool_messages(run_agent(second, tools, "use the data", thread))
    assert "data.csv" in listed.content and "outputs/" in listed.content
    assert ",v\n0,1\n1,2\n2,3" in read.content and toolkit.load_artifact(read).size == len(",v\n0,1\n1,2\n2,3\n")
    assert "wrote /sandbox/extra/numbers.txt (6 bytes)" in uploaded.content
    assert "stdout:\n36" in total.content


def test_idle_reaping_removes_the_container(python_image: str, docker_client: Any) -> None:
    closed: list[SessionClosed] = []
    with SessionManager(lang="python", idle_timeout=1.0) as manager:
        manager.subscribe(closed.append, kinds={"session_closed"})
        tool = SandboxTool(manager=manager)
        with manager.session("short-lived"):  # held while the test looks: a held sandbox is never reaped
            tool.invoke(
                {"type": "tool_call", "id": "1", "name": "run_code", "args": {"code": "print(1)"}},
                config={"configurable": {"thread_id": "short-lived"}},
            )
            [info] = manager.sessions()
            assert info.session_id and containers(docker_client, info.session_id)
        eventually(lambda: containers(docker_client, info.session_id) == [], "the reaper removing the container")
        eventually(lambda: closed, "the reaper announcing the close")  # emitted once the removal is done
        assert manager.sessions() == []
        assert [(e.session_key, e.reason, e.run_count) for e in closed] == [("short-lived", "idle", 1)]


def test_closing_the_manager_removes_every_container(python_image: str, docker_client: Any) -> None:
    manager = SessionManager(lang="python")
    for key in ("one", "two"):
        manager.run(key, "print(1)")
    ids = [info.session_id or "" for info in manager.sessions()]
    assert all(containers(docker_client, session_id) for session_id in ids)
    manager.close()
    assert all(containers(docker_client, session_id) == [] for session_id in ids)


def test_a_finished_conversations_container_is_removed_never_handed_on(
    python_image: str, docker_client: Any
) -> None:
    """No pool: the next conversation gets a fresh container, never one another conversation used."""
    with SessionManager(lang="python", max_sessions=1) as manager:
        manager.run("first", "open('secret.txt', 'w').write('first conversation')")
        [first] = manager.sessions()
        assert manager.close_session("first")
        assert first.session_id and containers(docker_client, first.session_id) == []
        result = manager.run("second", "import os\nprint(os.path.exists('secret.txt'))")
        [second] = manager.sessions()
        assert result.stdout == "False\n" and second.container_id != first.container_id


def test_sandboxes_are_closed_at_interpreter_exit(python_image: str, docker_client: Any) -> None:
    program = (
        "import json\n"
        "from llm_sandbox.langchain import SandboxTool\n"
        "tool = SandboxTool(lang='python')\n"
        "for thread in ('a', 'b'):\n"
        "    tool.invoke({'code': 'print(1)'}, config={'configurable': {'thread_id': thread}})\n"
        "print(json.dumps([info.session_id for info in tool.manager.sessions()]))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "toolkit"), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(ids) == 2
    assert all(containers(docker_client, session_id) == [] for session_id in ids)

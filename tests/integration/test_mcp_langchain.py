"""The MCP server with a second real client: LangChain's ``langchain-mcp-adapters``, against real Docker.

The adapters turn the server's tools into LangChain tools: results become content blocks
(text, images), ``isError`` results become error ``ToolMessage``s the model can read, and
the server's log and progress notifications reach LangChain callbacks.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration
pytest.importorskip("langchain_mcp_adapters")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_mcp_adapters.callbacks import CallbackContext, Callbacks  # noqa: E402
from langchain_mcp_adapters.client import MultiServerMCPClient  # noqa: E402
from langchain_mcp_adapters.tools import load_mcp_tools  # noqa: E402
from mcp.types import LoggingMessageNotificationParams  # noqa: E402

from tests.integration.mcp_support import ENV, ROOT, HttpServer, containers_of  # noqa: E402

STDIO = {
    "transport": "stdio",
    "command": sys.executable,
    "args": ["-m", "llm_sandbox.mcp_server"],
    "env": ENV,
    "cwd": str(ROOT),
}


class ToolCallingFakeModel(GenericFakeChatModel):
    """GenericFakeChatModel whose bind_tools returns itself, as agent code expects."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFakeModel:  # type: ignore[override]
        return self


def call(name: str, args: dict[str, Any], number: int) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call-{number}", "type": "tool_call"}


async def run_agent(model: ToolCallingFakeModel, tools: list[Any], prompt: str) -> list[BaseMessage]:
    """The agent loop: ask the model, run the tool calls it makes, repeat until it answers."""
    by_name = {tool.name: tool for tool in tools}
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    while True:
        reply = await model.bind_tools(tools).ainvoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return messages
        for tool_call in reply.tool_calls:
            messages.append(await by_name[tool_call["name"]].ainvoke(tool_call))


async def test_an_agent_uses_the_sandbox_through_langchain_mcp_adapters(
    docker_client: Any, python_image: str
) -> None:
    heard: dict[str, str] = {"stdout": "", "stderr": ""}

    async def on_log(params: LoggingMessageNotificationParams, context: CallbackContext) -> None:
        assert context.server_name == "sandbox"
        heard[str(params.logger)] += str(params.data)

    client = MultiServerMCPClient({"sandbox": STDIO}, callbacks=Callbacks(on_logging_message=on_log))  # type: ignore[dict-item]
    model = ToolCallingFakeModel(
        messages=iter(
            [
                AIMessage(content="", tool_calls=[call("execute_code", {"code": "open('n.txt','w').write('7')"}, 1)]),
                AIMessage(content="", tool_calls=[call("execute_code", {"code": "int('seven')"}, 2)]),
                AIMessage(
                    content="",
                    tool_calls=[
                        call(
                            "execute_code",
                            {"code": "import matplotlib.pyplot as plt\nn = int(open('n.txt').read())\n"
                             "plt.bar(['n'], [n])\nplt.show()\nprint('n is', n)"},
                            3,
                        )
                    ],
                ),
                AIMessage(
                    content="",
                    tool_calls=[call("execute_code", {"code": "console.log('node too')", "language": "javascript"}, 4)],
                ),
                AIMessage(content="n is 7, and here is its chart."),
            ]
        )
    )
    # One MCP session for the whole conversation: one sandbox, whose files persist between calls.
    async with client.session("sandbox") as session:
        tools = await load_mcp_tools(session, callbacks=client.callbacks, server_name="sandbox")
        assert {"execute_code", "upload_file", "download_file", "list_files"} <= {tool.name for tool in tools}
        messages = await run_agent(model, tools, "Store 7, then chart it.")

    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(results) == 4
    wrote, failed, charted, node = results
    assert wrote.status == "success"
    assert failed.status == "error" and "ValueError" in str(failed.content)  # the model reads the error...
    assert charted.status == "success"  # ...and the next call works
    blocks = charted.content if isinstance(charted.content, list) else []
    assert any(isinstance(b, dict) and b.get("type") == "text" and "n is 7" in b["text"] for b in blocks)
    assert any(isinstance(b, dict) and b.get("type") == "image" and b.get("mime_type") == "image/png" for b in blocks)
    assert "node too" in str(node.content)
    # The output also streamed to LangChain's callback while the code ran.
    assert "n is 7\n" in heard["stdout"] and "ValueError" in heard["stderr"]
    assert messages[-1].content == "n is 7, and here is its chart."


async def test_langchain_mcp_adapters_over_http_with_a_token(docker_client: Any, python_image: str) -> None:
    server = HttpServer(env={"LLM_SANDBOX_MCP_TOKEN": "lc-token"})
    try:
        client = MultiServerMCPClient(
            {
                "sandbox": {
                    "transport": "http",
                    "url": server.url,
                    "headers": {"Authorization": "Bearer lc-token"},
                }
            }
        )
        # get_tools() without a session: every call opens its own MCP session, hence a fresh sandbox.
        tools = {tool.name: tool for tool in await client.get_tools()}
        first = await tools["execute_code"].ainvoke(call("execute_code", {"code": "open('f','w').write('x')"}, 1))
        second = await tools["execute_code"].ainvoke(
            call("execute_code", {"code": "import os; print(os.path.exists('f'))"}, 2)
        )
        assert first.status == "success" and "False" in str(second.content)
        server.wait_for(r"ended; its sandbox was removed")
        server.wait_for(r"ended; its sandbox was removed")
        assert containers_of(docker_client, server.pid) == []
    finally:
        assert server.stop() == 0
    assert containers_of(docker_client, server.pid) == []

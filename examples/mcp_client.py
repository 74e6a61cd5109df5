"""Use the sandbox from any MCP client: here the MCP SDK's own, talking to `llm-sandbox-mcp`.

    python examples/mcp_client.py                                    # starts the server itself (stdio)
    llm-sandbox-mcp --transport http --port 8765 &                   # or: a server already running
    python examples/mcp_client.py --url http://127.0.0.1:8765/mcp    #     (--token, or LLM_SANDBOX_MCP_TOKEN)

Needs: `pip install 'llm-sandbox-toolkit[mcp]'` and a Docker engine. No model is involved: the
script makes the calls a model would. It uploads a CSV, analyses it with Python while the output
streams in, saves the chart the code drew under ./sandbox_outputs/, and runs a line of JavaScript
in the same session. The session's sandbox is removed when the script disconnects.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import LoggingMessageNotificationParams

CSV = "month,sales\nJan,120\nFeb,135\nMar,128\nApr,160\nMay,171\n"
ANALYSIS = """
import pandas as pd
import matplotlib.pyplot as plt

sales = pd.read_csv("sales.csv")
print("months:", len(sales), flush=True)
print("best month:", sales.loc[sales.sales.idxmax(), "month"])
sales.plot(x="month", y="sales", kind="bar", legend=False, title="Sales")
plt.show()
"""


async def print_output(params: LoggingMessageNotificationParams) -> None:
    """The server streams the code's output (logger ``stdout`` or ``stderr``) as log notifications."""
    print(str(params.data), end="", file=sys.stdout if params.logger == "stdout" else sys.stderr, flush=True)


@asynccontextmanager
async def connect(url: str | None, token: str | None) -> AsyncIterator[ClientSession]:
    if url is None:
        server = StdioServerParameters(command=sys.executable, args=["-m", "llm_sandbox.mcp_server"])
        async with (
            stdio_client(server) as (read, write),
            ClientSession(read, write, logging_callback=print_output) as session,
        ):
            yield session
        return
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write, logging_callback=print_output) as session,
    ):
        yield session


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


async def main(url: str | None, token: str | None) -> int:
    async with connect(url, token) as session:
        await session.initialize()
        tools = await session.list_tools()
        print("tools:", ", ".join(tool.name for tool in tools.tools))

        upload = {"path": "sales.csv", "content_base64": base64.b64encode(CSV.encode()).decode()}
        print(text(await session.call_tool("upload_file", upload)))
        print("-- live output of the analysis --")
        result = await session.call_tool("execute_code", {"code": ANALYSIS})
        print("-- the result a model reads --")
        print(text(result))
        outputs = Path("sandbox_outputs")
        for number, image in enumerate(c for c in result.content if c.type == "image"):
            outputs.mkdir(exist_ok=True)
            path = outputs / f"mcp-chart-{number}.png"
            path.write_bytes(base64.b64decode(image.data))
            print(f"saved {path}")

        node = {"code": "console.log(`node ${process.version}`)", "language": "javascript"}
        print("-- JavaScript --")
        print(text(await session.call_tool("execute_code", node)))
        print("-- an error is a result (isError) the model can read --")
        error = await session.call_tool("execute_code", {"code": "1 / 0"})
        print(f"isError={error.isError}: {text(error).splitlines()[0]}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server's MCP endpoint (default: start one over stdio)")
    parser.add_argument("--token", default=os.environ.get("LLM_SANDBOX_MCP_TOKEN"), help="its bearer token")
    args = parser.parse_args()
    raise SystemExit(anyio.run(main, args.url, args.token))

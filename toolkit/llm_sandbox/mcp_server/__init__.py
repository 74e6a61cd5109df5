"""An MCP server that runs code in llm-sandbox containers: ``llm-sandbox-mcp``.

Any MCP client (a desktop assistant, an IDE agent, LangChain's ``langchain-mcp-adapters``)
gets the tools ``execute_code``, ``execute_command``, ``upload_file``, ``download_file``,
``list_files``, ``reset_session``, ``get_supported_languages`` and ``get_language_details``
and the resource ``sandbox://languages``. Each client session has its own sandbox, removed
when the session ends.

- ``config``: flags and environment variables (``llm-sandbox-mcp --help``);
- ``server``: the tools on top of :class:`~llm_sandbox.agents.SessionManager` and the shared
  tool layer (:mod:`llm_sandbox.tools.operations`);
- ``results``, ``streaming``: what a call returns, and what its client hears while it runs;
- ``transports``: stdio and streamable HTTP (bearer token, loopback by default);
- ``cli``: the command.

Needs the ``mcp`` extra: ``pip install 'llm-sandbox-toolkit[mcp]'``.
"""

from llm_sandbox.mcp_server.cli import main

__all__ = ["main"]

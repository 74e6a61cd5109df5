"""The agent tool adapters: one shared layer, and the frameworks on top of it.

``operations`` (the sandbox operations, framework-free), ``text`` (what a
model reads), ``schemas`` (argument schemas), ``descriptions`` (what each tool
says of itself), and the adapters on top: ``langchain`` (``SandboxTool``,
``SandboxToolkit``) and ``llamaindex`` (``SandboxToolSpec``), imported as
``llm_sandbox.langchain`` and ``llm_sandbox.llamaindex``. The MCP server
(:mod:`llm_sandbox.mcp_server`) calls the same operations. A new framework's
adapter goes beside them and calls :class:`~.operations.SandboxOperations`.
"""

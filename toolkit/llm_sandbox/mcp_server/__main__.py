"""``python -m llm_sandbox.mcp_server``: the same as ``llm-sandbox-mcp``."""

from llm_sandbox.mcp_server.cli import main

raise SystemExit(main())

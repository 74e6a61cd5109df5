"""LlamaIndex tools: ``SandboxToolSpec`` (see :mod:`llm_sandbox.tools.llamaindex`)."""

from llm_sandbox.tools.llamaindex import CONTEXT_KEY, SandboxFunctionTool, SandboxOutput, SandboxToolSpec, ToolRecord

__all__ = ["CONTEXT_KEY", "SandboxFunctionTool", "SandboxOutput", "SandboxToolSpec", "ToolRecord"]

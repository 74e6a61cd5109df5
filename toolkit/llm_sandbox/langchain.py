"""LangChain tools: ``SandboxTool``, ``SandboxToolkit`` (see :mod:`llm_sandbox.tools.langchain`)."""

from llm_sandbox.tools.langchain import (
    OUTPUT_EVENT,
    InstallPackagesInput,
    ListFilesInput,
    ReadFileInput,
    RunCodeInput,
    SandboxInstallTool,
    SandboxListFilesTool,
    SandboxReadFileTool,
    SandboxResetTool,
    SandboxTool,
    SandboxToolError,
    SandboxToolkit,
    SandboxUploadTool,
    UploadFileInput,
    load_artifact,
)

__all__ = [
    "OUTPUT_EVENT",
    "InstallPackagesInput",
    "ListFilesInput",
    "ReadFileInput",
    "RunCodeInput",
    "SandboxInstallTool",
    "SandboxListFilesTool",
    "SandboxReadFileTool",
    "SandboxResetTool",
    "SandboxTool",
    "SandboxToolError",
    "SandboxToolkit",
    "SandboxUploadTool",
    "UploadFileInput",
    "load_artifact",
]

"""LangChain tools: ``SandboxTool``, ``SandboxToolkit`` (see :mod:`llm_sandbox.tools.langchain`)."""

from llm_sandbox.tools.langchain import (
    InstallPackagesInput,
    ListFilesInput,
    ReadFileInput,
    RunCodeInput,
    SandboxInstallTool,
    SandboxListFilesTool,
    SandboxReadFileTool,
    SandboxResetTool,
    SandboxTool,
    SandboxToolkit,
    SandboxUploadTool,
    UploadFileInput,
)

__all__ = [
    "InstallPackagesInput",
    "ListFilesInput",
    "ReadFileInput",
    "RunCodeInput",
    "SandboxInstallTool",
    "SandboxListFilesTool",
    "SandboxReadFileTool",
    "SandboxResetTool",
    "SandboxTool",
    "SandboxToolkit",
    "SandboxUploadTool",
    "UploadFileInput",
]

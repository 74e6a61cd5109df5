"""The agent tool adapters: one shared layer, two frameworks.

``operations`` (the five sandbox operations, framework-free), ``text`` (what a
model reads), ``schemas`` (argument schemas), ``descriptions`` (what each tool
says of itself), and the adapters on top: ``langchain`` (``SandboxTool``,
``SandboxToolkit``) and ``llamaindex`` (``SandboxToolSpec``), imported as
``llm_sandbox.langchain`` and ``llm_sandbox.llamaindex``. A new framework's
adapter goes beside them and calls :class:`~.operations.SandboxOperations`.
"""

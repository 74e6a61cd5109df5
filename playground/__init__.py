"""The LLM Sandbox playground: a Gradio app to chat with a model that runs code in a sandbox.

Start it with ``llm-sandbox playground`` or ``python -m playground`` (both take ``--host``,
``--port``, ``--model`` ...). :func:`playground.app.build_app` builds the Gradio ``Blocks``
for embedding. Importing this package does not import Gradio.
"""

from __future__ import annotations

from playground.cli import main
from playground.options import PlaygroundConfig

__all__ = ["PlaygroundConfig", "main"]

"""Gradio, imported the playground's way; every module of the playground takes ``gr`` from here.

Analytics are switched off before the import (no version check, analytics or telemetry:
nothing leaves loopback), and a missing ``[playground]`` extra says how to install it.
"""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

try:
    import gradio as gr
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    from llm_sandbox.exceptions import MissingDependencyError

    raise MissingDependencyError(
        f"the playground needs Gradio ({exc}); install it with: pip install 'llm-sandbox-toolkit[playground]'"
    ) from exc

__all__ = ["gr"]

"""Loaded by Python at start-up when a run captures plots (``/opt/llm-sandbox`` is on PYTHONPATH).

Matplotlib needs nothing here (it is captured by the ``llm_sandbox_mpl``
backend). Plotly's ``Figure.show()`` is wrapped once plotly is imported, so
runs that never import plotly pay nothing but this finder's registration.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys


def _capture_plotly_show(module) -> None:  # type: ignore[no-untyped-def]
    def show(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from llm_sandbox_capture import save

        layout = self.layout
        width, height = layout.width or 0, layout.height or 0
        save(self.to_html(include_plotlyjs="cdn", full_html=True).encode(), "html", width, height)

    module.BaseFigure.show = show


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a patch right after a given module finished importing."""

    patches = {"plotly.basedatatypes": _capture_plotly_show}

    def find_spec(self, name, path=None, target=None):  # type: ignore[no-untyped-def]
        patch = self.patches.get(name)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module):  # type: ignore[no-untyped-def]
            original_exec(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _AfterImport())

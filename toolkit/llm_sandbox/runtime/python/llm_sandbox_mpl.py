"""Matplotlib backend that captures figures, selected with ``MPLBACKEND=module://llm_sandbox_mpl``.

Rendering is Agg's. A figure is captured once: at its first ``savefig`` (the
saved bytes, in the saved format), else when ``plt.show()`` displays it, else
at the end of the run if it is still open (what a notebook user expects).
``show()`` closes the figures it displayed, like a notebook's inline backend,
so each run starts with none.
"""

from __future__ import annotations

import atexit
import io
import os

from llm_sandbox_capture import enabled, save
from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

_CAPTURED = "_llm_sandbox_captured"


def _render_png(figure) -> None:  # type: ignore[no-untyped-def]
    """Draw once and encode the pixels with light compression: the cheapest PNG matplotlib can give."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    pixels = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    pixels.save(buffer, "png", compress_level=1)
    save(buffer.getvalue(), "png", width, height, figure.dpi)
    setattr(figure, _CAPTURED, True)


class FigureCanvasCapture(FigureCanvasAgg):
    def print_figure(self, filename, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().print_figure(filename, *args, **kwargs)
        figure = self.figure
        if getattr(figure, _CAPTURED, False) or not enabled():
            return result
        setattr(figure, _CAPTURED, True)
        dpi = kwargs.get("dpi") or figure.dpi
        if dpi == "figure":
            dpi = figure.dpi
        width, height = figure.get_size_inches() * float(dpi)
        if isinstance(filename, (str, os.PathLike)) and os.path.isfile(filename):
            ext = (kwargs.get("format") or os.path.splitext(os.fspath(filename))[1][1:] or "png").lower()
            with open(filename, "rb") as saved:
                save(saved.read(), "jpeg" if ext == "jpg" else ext, width, height, float(dpi))
        else:
            _render_png(figure)
        return result


class FigureManagerCapture(FigureManagerBase):
    @classmethod
    def pyplot_show(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        show()


def show(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    flush()


def flush() -> None:
    """Capture every open figure not captured yet, then close them all (a kernel calls it after each cell)."""
    _capture_unshown()
    Gcf.destroy_all()


@atexit.register
def _capture_unshown() -> None:
    if not enabled():
        return
    for manager in Gcf.get_all_fig_managers():
        figure = manager.canvas.figure
        if not getattr(figure, _CAPTURED, False):
            _render_png(figure)


FigureCanvas = FigureCanvasCapture
FigureManager = FigureManagerCapture

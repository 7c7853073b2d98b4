"""Shared conventions of the reports' plots, so every PNG reads at a glance.

Every figure has a title, units on both axes and a legend that covers no data: legends go
outside the axes (`legend_outside`) and figures use matplotlib's
constrained layout, which makes room for them. `save` writes a figure and closes it;
callers registered with `inspecting` (the plot tests) see each figure just before that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DPI = 110
LEGEND_FONT = 8

_INSPECTORS: list[Callable[[Any, Path], None]] = []


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (reports run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
    """`plt.subplots` with constrained layout (room for titles and outside legends)."""
    return pyplot().subplots(nrows, ncols, layout="constrained", **kw)


def legend_outside(ax: Any, **kw: Any) -> Any:
    """The axes' legend to the right of it, top-aligned: it can cover no data."""
    opts = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0,
            "fontsize": LEGEND_FONT, **kw}
    return ax.legend(**opts)


def save(fig: Any, path: Path | str) -> Path:
    """Write the figure as PNG and close it (after any registered inspector saw it)."""
    path = Path(path)
    for inspect in list(_INSPECTORS):
        inspect(fig, path)
    fig.savefig(path, dpi=DPI)
    pyplot().close(fig)
    return path


@contextmanager
def inspecting(callback: Callable[[Any, Path], None]) -> Iterator[None]:
    """Call `callback(figure, path)` for every figure `save` writes inside the block."""
    _INSPECTORS.append(callback)
    try:
        yield
    finally:
        _INSPECTORS.remove(callback)

"""One look for every figure: an rc dict applied in a context manager, Agg canvases, and saving
as PNG, SVG or PDF by the file's extension.

Nothing here changes matplotlib's global state: :func:`styled` wraps drawing and saving in
``matplotlib.rc_context(RC)``, figures are ``Figure`` + ``FigureCanvasAgg`` (never pyplot), and
matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FORMATS", "RC", "check_path", "new_figure", "save", "styled"]

#: File extensions a figure may be saved as.
FORMATS = ("png", "svg", "pdf")

#: The style of every figure (sizes in points; a panel is about 2-4 inches wide).
RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8.5,
    "figure.titlesize": 9.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "legend.title_fontsize": 7.5,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.7,
    "lines.linewidth": 1.3,
    "lines.markersize": 3.5,
    "errorbar.capsize": 0,
    "figure.dpi": 130,
    "savefig.dpi": 130,
    "figure.constrained_layout.h_pad": 0.04,
    "figure.constrained_layout.w_pad": 0.04,
    "figure.constrained_layout.hspace": 0.03,
    "figure.constrained_layout.wspace": 0.03,
    "svg.fonttype": "none",  # text stays text (searchable, editable)
    "svg.hashsalt": "rlnc-testbed",  # the same figure gives the same file
    "pdf.fonttype": 42,  # TrueType, as journals ask
}


@contextmanager
def styled() -> Iterator[None]:
    """Apply :data:`RC` for the body (draw and save inside it), then restore everything."""
    import matplotlib

    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure (inches) on its own Agg canvas; call inside :func:`styled`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def check_path(path: Path) -> str:
    """The format of ``path`` (its extension, one of :data:`FORMATS`), or ValueError."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ValueError(
            f"plot path must end in {', '.join('.' + f for f in FORMATS)}; got {str(path)!r}"
        )
    return suffix


def save(fig: Figure, target: Path) -> Path:
    """Write ``fig`` to ``target`` in the format its extension names (no dates in the file)."""
    form = check_path(target)
    metadata = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
    fig.savefig(target, format=form, metadata=metadata[form])
    return target

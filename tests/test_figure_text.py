"""Figure text stays inside the figure (issue 22, section 4): the title of a 3-panel pick figure, the
footnote of a one-panel ``info --tic`` figure, the slide call of ``tumor3d predict`` without a mask."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.plotting import ion_image_grid


def _inside(fig, artist) -> bool:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box, frame = artist.get_window_extent(renderer), fig.bbox
    return box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1 and box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1


@pytest.mark.parametrize("n", [1, 3])
def test_grid_title_and_footnote_fit(n):
    images = np.random.default_rng(0).random((n, 49, 106)).astype(np.float32)
    title = "picked candidates by informative score (ionmorphnet-convnextv2-tiny (convnextv2_tiny, weights 0.4.1))"
    fig = ion_image_grid(images, titles=[f"m/z {i}" for i in range(n)], suptitle=title)
    assert _inside(fig, fig._suptitle) and _inside(fig, fig._supxlabel)


def test_slide_call_without_mask_fits():
    from tumor3d.slide import probability_figure

    fig = probability_figure(np.full((30, 40), 0.7, np.float32), title="slide.imzML", call=(True, 0.123))
    assert _inside(fig, fig._suptitle)

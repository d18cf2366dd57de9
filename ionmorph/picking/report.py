"""What a :class:`ionmorph.picking.pick.PickResult` shows to people and to scverse tools.

- :func:`write_pick_report`: the HTML report of every candidate (:mod:`ionmorph.io.html_report`):
  a header with the section (shape, m/z range, pixel size, instrument), its TIC image, the model
  and weights, score, ppm, normalisation and selection rule; one card per candidate.
- :func:`write_pick_spatialdata`: the picked (or all) ion images, the pixels x ions table and the
  peak table as its variable annotations, as a SpatialData store (:mod:`ionmorph.io.scverse`).

Ion images are re-extracted from the source in blocks of at most ``BLOCK_BYTES`` for the report,
so 1,000 candidates on a large raster never sit in memory at once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..io.html_report import HeaderImage, write_html_report
from ..io.normalisation import NORM_WORDS
from .pick import BLOCK_BYTES, DEFAULT_THRESHOLD, PickResult, score_source


def selection_rule(result: PickResult) -> str:
    """The selection rule of a result in words (``k=100, one pick per ion group``)."""
    parts = []
    if result.k is not None:
        parts.append(f"the {result.k} best scores")
    if result.threshold is not None or result.k is None:
        parts.append(f"score >= {DEFAULT_THRESHOLD if result.threshold is None else result.threshold:g}")
    rule = " with ".join(parts)
    return rule + ("; one pick per isotope/adduct group" if result.group_isotopes else "")


def _section(result: PickResult) -> tuple[dict[str, Any], list[HeaderImage]]:
    """Facts about the source and its TIC image (a file source), else the stack's shape."""
    data = result._source
    if result.source is None:
        shape = None if data is None else tuple(np.asarray(data).shape[1:])
        return {"source": "ion-image stack", "raster": None if shape is None else f"{shape[0]} x {shape[1]} pixels"}, []
    from ..io.metadata import read_acquisition_info

    info = read_acquisition_info(data.path)
    lo, hi = data.mz_range
    facts = {"file": Path(result.source).name,
             "raster": f"{data.shape[0]} x {data.shape[1]} pixels ({data.n_pixels} with a spectrum), "
                       f"{data.mode} {getattr(data, 'spectrum_type', '') or ''}".strip(),
             "m/z range": f"{lo:.4f} - {hi:.4f}",
             "pixel size": None if info.pixel_size_um is None else
             f"{info.pixel_size_um[0]:g} x {info.pixel_size_um[1]:g} um",
             "instrument": info.instrument, "polarity": info.polarity}
    return facts, [HeaderImage("TIC", data.tic_image(), data.mask, unit="total ion count")]


def _blocks(result: PickResult, order: np.ndarray) -> Iterator[np.ndarray]:
    """The ion images of candidates ``order``, one at a time, extracted in bounded blocks."""
    h, w = result.mask.shape if result.mask is not None else np.asarray(result._source).shape[1:]
    step = max(1, BLOCK_BYTES // (4 * h * w))
    for start in range(0, len(order), step):
        yield from result.images(order[start:start + step])


def write_pick_report(result: PickResult, path: str | os.PathLike, *, cmap: str = "viridis",
                      overwrite: bool = False) -> Path:
    """Write the HTML report of every candidate of ``result`` (module docstring); returns the path."""
    facts, heads = _section(result)
    n_picked = int(result.picked.sum())
    facts.update({
        "candidates": f"{len(result)} ({result.candidate_kind}), {n_picked} picked",
        "model": result.model,
        "score": f"{result.scoring}: {score_source(result.scoring, result.informative)}",
        "ppm": "n/a" if result.ppm is None else f"+/- {result.ppm:g} ppm ({result.ppm_source})",
        "normalisation": NORM_WORDS[result.norm],
        "selection rule": selection_rule(result),
    })
    cols = result._columns()
    cols["group"] = np.asarray(cols["group"])
    cols["rank"] = cols.pop("score_rank")   # a card's rank among all candidates (the header states the score)
    del cols["score_from"], cols["norm"]                 # the same for every card: in the header
    order = np.arange(len(result))
    title = f"ionmorph: {Path(result.source).name if result.source else 'ion-image stack'}"
    return write_html_report(path, title=title, facts=facts, columns=cols, images=_blocks(result, order),
                             mask=result.mask, classes=result.classes, header_images=heads, cmap=cmap,
                             inputs=[result.source], overwrite=overwrite)


def write_pick_spatialdata(result: PickResult, path: str | os.PathLike, *, picked_only: bool = True,
                           labels: dict[str, np.ndarray] | None = None, overwrite: bool = False) -> Path:
    """Write the picked (or all) candidates of ``result`` as a SpatialData store; returns the path.

    Channels best score first (as :meth:`PickResult.save_images`); the table's ``var`` holds the
    peak table (m/z, class probabilities, score, label, picked, rank, group, your columns).
    """
    from ..io.metadata import read_acquisition_info
    from ..io.scverse import write_spatialdata

    order = result._export_order(picked_only)
    images = result.images(order)
    mask = result.mask if result.mask is not None else np.ones(images.shape[1:], dtype=bool)
    origin = pixel_size = None
    if result.source is not None:
        origin = tuple(int(v) for v in result._source.xy.min(axis=0))
        pixel_size = read_acquisition_info(result.source).pixel_size_um
    cols = result._columns()
    var = {k: np.asarray(v)[order] for k, v in cols.items() if k != "mz"}
    var["isotope_of"] = np.asarray(var["isotope_of"], dtype=np.float64)
    meta = {"source": result.source, "model": result.model, "score": result.scoring, "ppm": result.ppm,
            "norm": result.norm,
            "selection_rule": selection_rule(result)}
    return write_spatialdata(path, images, mask, result.mz[order], origin=origin, pixel_size_um=pixel_size,
                             var=var, uns=meta, labels=labels, inputs=[result.source], overwrite=overwrite)

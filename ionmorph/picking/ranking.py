"""Native-resolution statistics of ion images: spatial coherence and the ranking head's inputs.

The network sees each ion image at 64 x 64 px after a hotspot clip; what it loses there (fine
texture, how much of the raster carries signal, whether a few pixels hold all the counts, how an
image's brightness compares with the section's other ions) is measured here on the image as
recorded. :func:`coherence` is the statistic of the ``clarity`` scores; :func:`image_statistics`
and :func:`section_features` give the inputs of IonMorphNet's ranking head
(:class:`ionmorph.models.ranking_head.RankingHead`), the ``learned`` score.

Every statistic is scale-free (a ratio, a fraction, a correlation or a rank within the section), so
it means the same for counts of a ToF-SIMS detector and the normalised intensities of an Orbitrap.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .baselines import morans_i

#: Images per chunk of the statistics (bounds the float32 work arrays).
STATISTICS_CHUNK = 256
#: Share of the measured pixels whose intensity makes up ``top1_share``.
TOP_SHARE = 0.01
#: Block sizes (px) of the coarse-scale coherences ``coherence_2`` and ``coherence_4``.
COARSE_BLOCKS = (2, 4)
#: Per-image statistics (:func:`image_statistics`), in column order.
IMAGE_STATISTICS: tuple[str, ...] = ("moran_raw", "coherence", "coherence_2", "coherence_4", "nonzero",
                                     "top1_share", "coverage", "fill", "log_mean")
#: Native features of the ranking head (:func:`section_features`): ``log_mean`` becomes two
#: section-relative columns.
NATIVE_FEATURES: tuple[str, ...] = IMAGE_STATISTICS[:-1] + ("rel_log_mean", "mean_pct")


def normalised(images: np.ndarray, mask: np.ndarray, config: Any = None) -> np.ndarray:
    """Images after the hotspot clip and scaling of the model's preprocessing, at native resolution.

    Steps 1-4 of :func:`ionmorph.models.preprocessing.preprocess` (``config``: its settings) over
    the measured pixels; unmeasured pixels are 0. float32 (n, H, W) in [0, 1].
    """
    from ..models.preprocessing import PreprocessConfig, normalise_measured

    out = np.zeros(images.shape, dtype=np.float32)
    out[:, mask] = normalise_measured(np.asarray(images)[:, mask], config or PreprocessConfig())
    return out


def coherence(images: np.ndarray, mask: np.ndarray | None, config: Any = None) -> np.ndarray:
    """Spatial coherence of each ion image at native resolution, in [0, 1).

    Moran's I (4 neighbours, :func:`ionmorph.picking.baselines.morans_i`) of the image after the
    hotspot clip of :func:`normalised` (``config``: the model's preprocessing settings), floored at
    0. Signal that varies smoothly over neighbouring pixels scores near 1, shot noise and speckle
    near 0, whatever the pattern; a hotspot no longer decides it.
    """
    images = np.asarray(images)
    m = np.ones(images.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.zeros(len(images), dtype=np.float32)
    for start in range(0, len(images), STATISTICS_CHUNK):
        chunk = normalised(images[start:start + STATISTICS_CHUNK], m, config)
        out[start:start + len(chunk)] = np.maximum(np.nan_to_num(morans_i(chunk, m)), 0.0)
    return out


def block_sums(images: np.ndarray, counts: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``images`` (n, H, W) and of ``counts`` (H, W) over ``block`` x ``block`` tiles.

    The raster is padded at the bottom and right with zeros to whole tiles. Divide the sums of an
    image that is 0 where unmeasured by the sums of the measured indicator for the tile means.
    """
    n, h, w = images.shape
    hh, ww = -(-h // block) * block, -(-w // block) * block
    if (hh, ww) != (h, w):
        images = np.pad(images, ((0, 0), (0, hh - h), (0, ww - w)))
        counts = np.pad(counts, ((0, hh - h), (0, ww - w)))
    rows = sum(images[:, :, i::block] for i in range(block))       # strided adds: faster than a
    sums = sum(rows[:, i::block, :] for i in range(block))           # reduction over a tiny axis
    count = counts.reshape(hh // block, block, ww // block, block).sum(axis=(1, 3))
    return sums, count


def _coarse_coherences(x: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
    """``coherence_<b>`` for every block size of :data:`COARSE_BLOCKS` (each a multiple of the one
    before: the tile sums of one scale are summed again for the next)."""
    out = {}
    sums, count, size = (x if m.all() else np.where(m, x, 0.0)), m.astype(np.float32), 1
    for block in COARSE_BLOCKS:
        sums, count = block_sums(sums, count, block // size)
        size = block
        tiles = count > 0
        means = np.where(tiles, sums / np.maximum(count, 1.0), 0.0).astype(np.float32)
        out[f"coherence_{block}"] = (np.maximum(_moran(means, tiles), 0.0) if tiles.sum() > 4
                                     else np.zeros(len(x), dtype=np.float32))
    return out


def _moran(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Moran's I in float32 (four digits are all a statistic needs), non-finite as 0."""
    return np.nan_to_num(morans_i(images, mask, dtype=np.float32))


def _statistics(raw: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """:data:`IMAGE_STATISTICS` of one chunk: non-negative images (n, H, W) and the same normalised."""
    cols = {"moran_raw": _moran(raw, m), "coherence": np.maximum(_moran(x, m), 0.0), **_coarse_coherences(x, m)}
    values = raw[:, m]
    n_top = max(1, int(np.ceil(TOP_SHARE * values.shape[1])))
    total = values.sum(axis=1, dtype=np.float64)
    top = np.partition(values, values.shape[1] - n_top, axis=1)[:, -n_top:].sum(axis=1, dtype=np.float64)
    measured = x[:, m]
    cols.update(nonzero=(values > 0).mean(axis=1), top1_share=np.where(total > 0, top / np.maximum(total, 1e-300), 1.0),
                coverage=(measured > 0.5).mean(axis=1), fill=measured.mean(axis=1),
                log_mean=np.log10(np.maximum(total / values.shape[1], 1e-30)))
    return np.stack([cols[name] for name in IMAGE_STATISTICS], axis=1).astype(np.float32)


def image_statistics(images: np.ndarray, mask: np.ndarray | None, config: Any = None,
                     normalised_images: np.ndarray | None = None) -> np.ndarray:
    """Per-image statistics at native resolution, float32 (n, len(:data:`IMAGE_STATISTICS`)).

    Over the measured pixels (``mask``; default all), with negative and non-finite values as 0:

    - ``moran_raw``: Moran's I of the image as recorded (hotspots included);
    - ``coherence``: :func:`coherence`; ``coherence_2`` and ``coherence_4``: the same of the image
      averaged in 2 x 2 and 4 x 4 px tiles (structure at coarser scales);
    - ``nonzero``: share of pixels with signal;
    - ``top1_share``: share of the image's total intensity in its brightest 1 % of pixels;
    - ``coverage`` and ``fill``: share of pixels above half the clipped range, and the mean, of
      the hotspot-clipped image scaled to [0, 1] (:func:`normalised`);
    - ``log_mean``: log10 of the mean intensity (made section-relative by :func:`section_features`).

    ``normalised_images``, when given, are the images after :func:`normalised` with the same
    ``config`` (what :func:`ionmorph.models.preprocessing.preprocess` hands to its
    ``each_normalised``), so that work is not done twice.
    """
    images = np.asarray(images)
    m = np.ones(images.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    out = np.zeros((len(images), len(IMAGE_STATISTICS)), dtype=np.float32)
    if not m.any():
        return out
    for start in range(0, len(images), STATISTICS_CHUNK):
        chunk = np.asarray(images[start:start + STATISTICS_CHUNK], dtype=np.float32)
        if not np.isfinite(chunk).all():
            chunk = np.nan_to_num(chunk, nan=0.0, posinf=0.0, neginf=0.0)
        raw = np.maximum(chunk, 0.0)
        x = (normalised(raw, m, config) if normalised_images is None
             else normalised_images[start:start + STATISTICS_CHUNK])
        out[start:start + len(chunk)] = _statistics(raw, x, m)
    return out


def section_features(statistics: np.ndarray) -> dict[str, np.ndarray]:
    """The ranking head's native features of a whole section, by name (:data:`NATIVE_FEATURES`).

    ``log_mean`` of :func:`image_statistics` (all candidates of the section) becomes
    ``rel_log_mean`` (minus the section's median) and ``mean_pct`` (the rank within the section,
    scaled to (0, 1)); the other statistics pass through.
    """
    stats = np.asarray(statistics, dtype=np.float32).reshape(-1, len(IMAGE_STATISTICS))
    out = {name: stats[:, i] for i, name in enumerate(IMAGE_STATISTICS[:-1])}
    log_mean = stats[:, -1]
    n = len(log_mean)
    out["rel_log_mean"] = (log_mean - np.median(log_mean)) if n else log_mean
    out["mean_pct"] = ((np.argsort(np.argsort(log_mean, kind="stable"), kind="stable") + 0.5) / max(n, 1)
                       ).astype(np.float32)
    return out


def head_inputs(features: Sequence[str], proba: np.ndarray, classes: Sequence[str],
                statistics: np.ndarray) -> np.ndarray:
    """The feature matrix (n, F) in the order of ``features`` (a head's :attr:`features`) from class
    probabilities (columns in ``classes`` order) and :func:`image_statistics` of a whole section.

    Raises :class:`ionmorph.errors.WeightsError` for a feature this ionmorph does not compute.
    """
    from ..errors import WeightsError
    from ..models.ranking_head import class_feature_names

    named = dict(zip(class_feature_names(classes), np.asarray(proba, dtype=np.float32).T))
    named.update(section_features(statistics))
    missing = [f for f in features if f not in named]
    if missing:
        raise WeightsError(f"ranking head needs features this ionmorph does not compute: {', '.join(missing)}")
    return np.stack([named[f] for f in features], axis=1) if len(features) else np.zeros((len(proba), 0))

"""Train IonMorphNet's ranking head (:mod:`ionmorph.models.ranking_head`) on simulated sections.

For every section of a simulated corpus (``ionmorph corpus``), every candidate of the user's path
(:func:`ionmorph.picking.pick.pick_peaks`, one full-frame inference per candidate) gives one row:

- inputs: the network's class probabilities and the native statistics of
  :func:`ionmorph.picking.ranking.image_statistics` (made section-relative by
  :func:`ionmorph.picking.ranking.section_features`);
- target: the largest Pearson correlation of the ion image with one of the section's segments,
  floored at 0; the segments are found in the section's own candidate images by
  :func:`ionmorph.evaluation.realdata.segments_from_spectra` (TIC normalisation, PCA, smoothing,
  k-means), the recipe that segments real sections for mSCF1 (SPEC 6).

So the head learns, from simulated data alone, which images follow a section's main tissue
compartments. Sections are split into a fitting and a validation part (whole sections); the
validation part reports the mSCF1 of the head's ranking beside that of the statistics alone.
Each section's rows are cached as ``<cache>/<section>.npz``, so an interrupted run resumes.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..labels import DEFAULT_INFORMATIVE
from ..models.ranking_head import RankingHead, class_feature_names
from ..picking.ranking import IMAGE_STATISTICS, NATIVE_FEATURES, head_inputs, image_statistics, section_features

#: Hidden layer widths of the head.
HIDDEN = (32, 16)
#: L2 penalty of the perceptron (scikit-learn's ``alpha``).
ALPHA = 1e-3
#: Budgets at which validation sections are scored (SPEC 6 picks).
VALIDATION_K = (10, 20, 30, 40)
#: What the head predicts (recorded in the weights).
TARGET = ("max over the section's k-means segments (segments_from_spectra, k=5) of the Pearson r of the "
          "ion image with the segment indicator, floored at 0")


@dataclass
class SectionRows:
    """One section's rows: class probabilities (n, 6), image statistics (n, S), targets and correlations."""

    name: str
    mz: np.ndarray
    proba: np.ndarray
    statistics: np.ndarray
    r: np.ndarray

    @property
    def target(self) -> np.ndarray:
        """Best segment correlation of each candidate, floored at 0."""
        return np.maximum(self.r.max(axis=0), 0.0) if self.r.size else np.zeros(len(self.mz))


def corpus_sections(corpus: str | os.PathLike) -> list[Path]:
    """The imzML files of a simulated corpus (``<corpus>/<section>/<section>.imzML``), sorted."""
    root = Path(corpus)
    files = sorted(root.glob("*/*.imzML"))
    if not files:
        raise InputError(f"{root}: no <section>/<section>.imzML files (make a corpus with 'ionmorph corpus')")
    return files


def corpus_description(corpus: str | os.PathLike) -> str:
    """The corpus as the weights record it: its folder name and, from corpus.json, generator and seed
    (never a local path)."""
    root = Path(corpus)
    try:
        meta = json.loads((root / "corpus.json").read_text())
    except (OSError, ValueError):
        return root.name
    if not isinstance(meta, dict):
        return root.name
    return f"{root.name} ({meta.get('generator', 'corpus')} seed {meta.get('seed')})"


def section_rows(path: Path, model: Any) -> SectionRows:
    """Rows of one simulated section (module docstring), through ``pick_peaks`` as users run it.

    ``model`` is what ``pick_peaks`` takes: a weights name, folder or a loaded network.
    """
    from ..models.inference import get_classifier
    from ..evaluation.metrics import pearson_with_classes
    from ..evaluation.realdata import segments_from_spectra
    from ..picking.pick import pick_peaks

    res = pick_peaks(path, k=1, score="classes", model=model, group_isotopes=False, progress=False)
    images = res.images(np.arange(len(res.mz))).astype(np.float32)
    measured = res.mask if res.mask is not None else np.ones(images.shape[1:], dtype=bool)
    config = get_classifier(model).model.preprocess_config
    stats = image_statistics(images, measured, config)
    segments = segments_from_spectra(np.moveaxis(images, 0, -1), measured=measured)
    r, _ = pearson_with_classes(images, np.where(segments > 0, segments, -1).astype(np.int64))
    return SectionRows(path.stem, res.mz, res.proba, stats, r.astype(np.float32))


def cached_rows(path: Path, model: Any, cache: Path | None) -> SectionRows:
    """:func:`section_rows`, read from or written to ``cache`` (one npz per section)."""
    from ..fileio import atomic_path

    file = None if cache is None else cache / f"{path.stem}.npz"
    if file is not None and file.is_file():
        with np.load(file) as d:
            return SectionRows(path.stem, d["mz"], d["proba"], d["statistics"], d["r"])
    rows = section_rows(path, model)
    if file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(file) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, mz=rows.mz, proba=rows.proba, statistics=rows.statistics, r=rows.r)
    return rows


def feature_names(classes: Sequence[str]) -> tuple[str, ...]:
    """The head's inputs: class probabilities, then :data:`ionmorph.picking.ranking.NATIVE_FEATURES`."""
    return class_feature_names(classes) + NATIVE_FEATURES


def _matrix(rows: Sequence[SectionRows], features: tuple[str, ...], classes: Sequence[str]) -> np.ndarray:
    return np.concatenate([head_inputs(features, s.proba, classes, s.statistics) for s in rows])


def ranking_mscf1(rows: SectionRows, score: np.ndarray, ks: Sequence[int] = VALIDATION_K) -> list[float]:
    """mSCF1 (SPEC 6) of a section's top-k by ``score``, against its own segment correlations."""
    from ..evaluation.metrics import mscf1_from_r

    order = np.argsort(-np.asarray(score), kind="stable")
    return [mscf1_from_r(rows.mz[order[:min(k, len(order))]], rows.r, rows.mz).mscf1 for k in ks]


def fit_head(rows: Sequence[SectionRows], classes: Sequence[str], *, seed: int = 0,
             hidden: Sequence[int] = HIDDEN, alpha: float = ALPHA) -> RankingHead:
    """Fit the perceptron on the rows of ``rows`` (scikit-learn ``MLPRegressor``, Adam, early stopping)."""
    from sklearn.neural_network import MLPRegressor

    features = feature_names(classes)
    x = _matrix(rows, features, classes).astype(np.float64)
    y = np.concatenate([s.target for s in rows])
    if len(y) < 50:
        raise InputError(f"the ranking head needs at least 50 candidate rows to fit, got {len(y)}")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    mlp = MLPRegressor(hidden_layer_sizes=tuple(hidden), alpha=alpha, early_stopping=True, max_iter=500,
                       random_state=seed).fit((x - mean) / scale, y)
    return RankingHead(features=features, mean=mean, scale=scale, weights=tuple(mlp.coefs_),
                       biases=tuple(mlp.intercepts_), target=TARGET)


def split_rows(rows: Sequence[SectionRows], val_fraction: float, seed: int) -> tuple[list, list]:
    """Whole sections, shuffled with ``seed``: (fit, validation)."""
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"validation fraction must be in (0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_val = max(1, int(round(val_fraction * len(rows))))
    if len(rows) - n_val < 1:
        raise InputError(f"need at least 2 sections to fit and validate the ranking head, got {len(rows)}")
    return [rows[i] for i in order[n_val:]], [rows[i] for i in order[:n_val]]


def validation_table(head: RankingHead, rows: Sequence[SectionRows], classes: Sequence[str]) -> dict[str, list[float]]:
    """Mean validation mSCF1 at :data:`VALIDATION_K` of the head and of single statistics."""
    stat = {name: i for i, name in enumerate(IMAGE_STATISTICS)}
    informative = [i for i, c in enumerate(classes) if c in DEFAULT_INFORMATIVE]
    rankers = {
        "ranking head": lambda s: head.predict(head_inputs(head.features, s.proba, classes, s.statistics)),
        "coherence": lambda s: s.statistics[:, stat["coherence"]],
        "Moran's I": lambda s: s.statistics[:, stat["moran_raw"]],
        "classes x coherence (clarity)": lambda s: s.proba[:, informative].sum(axis=1) * s.statistics[:, stat["coherence"]],
        "mean intensity": lambda s: section_features(s.statistics)["rel_log_mean"],
    }
    return {name: np.mean([ranking_mscf1(s, fn(s)) for s in rows], axis=0).round(4).tolist()
            for name, fn in rankers.items()}


def train_ranking_head(corpus: str | os.PathLike, model: Any, cache: str | os.PathLike | None = None, *,
                       max_sections: int | None = None, val_fraction: float = 0.2, seed: int = 0,
                       progress: bool = True) -> tuple[RankingHead, dict[str, Any]]:
    """Rows of every corpus section, a fitted head and its validation report.

    Parameters
    ----------
    corpus : path-like
        A simulated corpus (``ionmorph corpus``).
    model : str, path-like or IonMorphNet
        The network whose probabilities the head reads (a weights name or folder runs on
        onnxruntime, as ``pick_peaks`` does); its weights stay unchanged.
    cache : path-like, optional
        Folder of per-section rows (resumable).
    max_sections : int, optional
        Use the first N sections (sorted by name).
    val_fraction, seed : float, int
        Share of whole sections held out for validation, and the split's and fit's seed.

    Returns
    -------
    head : RankingHead
        Fitted on the fitting sections; ``head.training`` records the recipe and validation.
    report : dict
        ``sections``, ``rows``, ``validation`` (:func:`validation_table`).
    """
    from ..models.inference import get_classifier
    from ..progress import progress_bar

    net = get_classifier(model).model
    files = corpus_sections(corpus)[:max_sections]
    cache_dir = None if cache is None else Path(cache)
    rows = []
    with progress_bar(total=len(files), disable=not progress, desc="sections", unit="section") as bar:
        for path in files:
            rows.append(cached_rows(path, model, cache_dir))
            bar.update(1)
    rows = [s for s in rows if len(s.mz) > 0]
    fit, val = split_rows(rows, val_fraction, seed)
    classes = tuple(net.classes)
    head = fit_head(fit, classes, seed=seed)
    report = {"corpus": corpus_description(corpus), "sections": {"fit": len(fit), "validation": len(val)},
              "rows": {"fit": int(sum(len(s.mz) for s in fit)), "validation": int(sum(len(s.mz) for s in val))},
              "validation_sections": sorted(s.name for s in val), "seed": seed,
              "hidden": list(HIDDEN), "alpha": ALPHA, "validation_k": list(VALIDATION_K),
              "validation": validation_table(head, val, classes), "network_version": net.version}
    return RankingHead(head.features, head.mean, head.scale, head.weights, head.biases, head.target,
                       training={k: v for k, v in report.items() if k != "validation_sections"}), report


def write_head(head: RankingHead, out: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Write ``ranking_head.json`` (the config entry) and ``report.json`` into folder ``out`` atomically."""
    from ..fileio import atomic_write_text

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "report.json", json.dumps(report, indent=1) + "\n")
    path = folder / "ranking_head.json"
    atomic_write_text(path, json.dumps(head.to_config(), indent=1) + "\n")
    return path

"""Benchmark: mSCF1 of IonMorphNet and the classic peak pickers on the same sections (issue 4, SPEC 6-7).

Data
    (a) default: a synthetic suite generated with fixed seeds (:func:`ionmorph.synth.simulate_section`),
        three groups of 8 sections written in the public layout as pre-binned continuous imzML
        (``mode="binned"``: one channel per peak plus noise-only channels between peaks, as the
        published evaluation sets were pre-binned; a profile axis would give every ion several
        channels, so a budget counted in ions could never cover the true set)
        (``<group>/<name>.imzML`` + ``<group>/masks/<name>_mask.npy``; masks 0 background,
        1 and 2 the family's two anatomical groups): ``brain_tof`` (brain, MALDI-TOF),
        ``kidney_desi`` (kidney, DESI) and ``seed_orbitrap`` (seed, MALDI-Orbitrap; the seed family
        is the one held out from IonMorphNet training). Cached under ``--work`` and regenerated
        only when missing.
    (b) ``--data DIR``: any folder in the public GBM/CAC/RCC layout (group folders, or one group);
        the published budgets of SPEC 6 are built in (:data:`PUBLISHED_BUDGETS`), ``--k`` covers
        other sections.

Budget rule (synthetic sections, the same k for every method and both candidate modes)
    k = the number of simulated peaks (mono-isotopic, isotope and adduct) whose ion image is
    informative: its apparent class in the simulator's ground truth (``SimulatedSection.looks``,
    what the image looks like after counting noise and detection) is ``structured``, ``localized``
    or ``negative`` (:data:`ionmorph.labels.DEFAULT_INFORMATIVE`); peaks overlapped by another peak
    carry no label and are not counted. The metric's true set is not used (k never depends on the
    correlations). In ``peaks`` mode the budget is capped at the number of candidates.

Diagnostic row (synthetic sections only; not a method and not part of the target)
    ``simulator labels``: the channels that hold a peak whose ground-truth apparent class is
    informative, ties broken by mean intensity; what a perfect classifier of SPEC 5's informative
    classes would pick. It separates the model's errors from the gap between "informative" ion
    images and the mask-correlated true set. Beside it, per apparent class, the share of its
    peaks' channels that lie in the true set (:func:`true_set_share`): which ions the metric rewards.

Candidates
    ``axis``: every channel of the section's own continuous m/z axis (the published protocol;
    images from ``MSIData.channel_images``). ``peaks``: peaks of the mean spectrum
    (:func:`ionmorph.picking.candidates.candidate_mz` at the section's ppm) with ppm-window ion images
    (``MSIData.ion_images``); candidates that snap to the same axis channel are merged (the
    lowest m/z kept), so every method picks k distinct channels.

Methods (each scores every candidate; the k best are picked)
    ionmorphnet (``pick_peaks`` scores on the same ion images), random, mean intensity,
    mean-spectrum SNR (per channel in ``axis`` mode, +/- ppm in ``peaks`` mode), spatial chaos,
    Moran's I, S3PL. The Pearson correlations are computed once per section (streamed from the
    file) and every method is scored with :func:`ionmorph.evaluation.metrics.mscf1_from_r`. Baseline scores
    are cached per file, mode and settings under ``--work`` (they do not depend on the model), so
    a re-run with new weights only re-classifies.

Metric speed
    :func:`ionmorph.evaluation.metrics.pearson_with_classes` on a 100,000-channel x 30,000-pixel random matrix
    (raster 150 x 200, 3 classes) generated and correlated in blocks of 2,000 channels (only the
    correlation is timed), plus the scoring of 1,000 picks on the full (3, 100000) correlations;
    ``--speed-fraction`` times that share of the channels and extrapolates linearly.

Usage: ``python benchmarks/mscf1.py [--quick] [--data DIR] [--model NAME_OR_PATH] [--score NAME] [--out DIR]``
(``--score``: IonMorphNet's informative score, ``pick_peaks(score=...)``; default that of ``pick_peaks``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ionmorph.errors import InputError
from ionmorph.picking.pick import DEFAULT_SCORE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

GROUPS: dict[str, tuple[str, str]] = {
    "brain_tof": ("brain", "maldi_tof"),
    "kidney_desi": ("kidney", "desi"),
    "seed_orbitrap": ("seed", "maldi_orbitrap"),
}
#: The group whose family is held out from IonMorphNet training.
HELD_OUT_GROUP = "seed_orbitrap"
#: Seeds of the synthetic sections: SUITE_SEED + 1000 * group index + section index.
SUITE_SEED = 4_000_000
METHODS: tuple[str, ...] = ("ionmorphnet", "random", "mean_intensity", "spectrum_snr", "spatial_chaos",
                            "morans_i", "s3pl")
MODES: tuple[str, ...] = ("axis", "peaks")
#: Target margin of IonMorphNet over the best baseline on the held-out group.
TARGET_MARGIN = 0.05
#: Memory budget of one block of candidate ion images (float32); S3PL needs all in one block.
BLOCK_BYTES = 1 << 30

PUBLISHED_BUDGETS: dict[str, int] = {
    "GBM12_1": 691, "GBM12_2": 981, "GBM22_1": 845, "GBM22_2": 1014, "GBM39_1": 696, "GBM39_2": 917,
    "GBM108_positive": 581, "GBM108_negative": 937,
    "40TopL": 342, "160TopL": 199, "200TopL": 214, "240TopL": 257, "280TopL": 238, "360TopL": 246,
    "400TopL": 137, "520TopL": 257,
    "MH0204_33": 2200, "UH0505_12": 1448, "UH0710_33": 1212, "UH9610_15": 466, "UH9812_03": 1676,
    "UH9905_18": 1699, "UH9911_05": 2175, "UH9912_01": 2013,
}
#: Published mean mSCF1 over 8 sections (SPEC 6), measured on the public GBM / RCC / CAC sets.
PUBLISHED_MSCF1: dict[str, dict[str, float]] = {
    "S3PL (attention autoencoder)": {"GBM": 0.496, "RCC": 0.470, "CAC": 0.601},
    "msiPL (VAE)": {"GBM": 0.403, "RCC": 0.159, "CAC": 0.435},
    "SPUTNIK (spatial filters)": {"GBM": 0.381, "RCC": 0.373, "CAC": 0.234},
    "MALDIquant (mean-spectrum SNR peaks)": {"GBM": 0.246, "RCC": 0.371, "CAC": 0.303},
    "Lieb et al. (sparse frames)": {"GBM": 0.001, "RCC": 0.199, "CAC": 0.571},
}
#: Our method that re-implements (or matches the idea of) each published row.
PUBLISHED_COUNTERPART = {"S3PL (attention autoencoder)": "s3pl",
                         "MALDIquant (mean-spectrum SNR peaks)": "spectrum_snr"}


@dataclass(frozen=True)
class Section:
    """One evaluation section: files, budget and ion-image tolerance."""

    group: str
    name: str
    path: str
    mask_path: str
    k: int
    ppm: float
    meta: dict[str, Any]
    peak_looks: tuple[tuple[float, str], ...] | None = None

    @property
    def informative_mz(self) -> list[float] | None:
        """m/z of the simulated peaks counted by :func:`budget_k` (None for real data)."""
        from ionmorph.labels import DEFAULT_INFORMATIVE

        if self.peak_looks is None:
            return None
        return [mz for mz, look in self.peak_looks if look in DEFAULT_INFORMATIVE]


@dataclass(frozen=True)
class SuiteConfig:
    """Size of the synthetic suite (``shape`` None: drawn per section, 60-140 px high)."""

    n_sections: int = 8
    shape: tuple[int, int] | None = None
    n_ions: int = 300

    @property
    def tag(self) -> str:
        shape = "drawn" if self.shape is None else f"{self.shape[0]}x{self.shape[1]}"
        return f"suite-{self.n_sections}-{shape}-{self.n_ions}ions-binned"


@dataclass(frozen=True)
class Settings:
    """Baseline settings that the cached scores depend on."""

    s3pl_epochs: int = 10
    s3pl_train_pixels: int = 512


def budget_k(sim: Any) -> int:
    """The budget rule (module docstring): simulated peaks whose ion image looks informative."""
    from ionmorph.labels import DEFAULT_INFORMATIVE

    return int(sum(look in DEFAULT_INFORMATIVE for look in sim.looks))


def peak_looks(sim: Any) -> list[tuple[float, str]]:
    """(m/z, apparent class) of every labelled simulated peak (overlapped peaks carry no label)."""
    return [(float(ion.mz), look) for ion, look in zip(sim.ions, sim.looks) if look]


def label_scores(cand: np.ndarray, mz: Sequence[float], ppm: float, tiebreak: np.ndarray) -> np.ndarray:
    """1 (+ a tie-break below 1) for candidates within 3 x ``ppm`` of an ``mz``, else the tie-break alone."""
    tie = np.argsort(np.argsort(tiebreak)) / max(len(cand), 1)          # ranks in [0, 1)
    if len(mz) == 0 or len(cand) == 0:
        return tie
    mz = np.sort(np.asarray(mz, dtype=np.float64))
    i = np.clip(np.searchsorted(mz, cand), 1, max(len(mz) - 1, 1))
    dist = np.minimum(np.abs(cand - mz[i - 1]), np.abs(cand - mz[np.minimum(i, len(mz) - 1)]))
    return (dist <= 3 * ppm * 1e-6 * cand) + tie


def true_set_share(looks: Sequence[tuple[float, str]], r: np.ndarray, axis: np.ndarray) -> dict[str, Any]:
    """Per apparent class: how many channels hold such peaks, and the share of them in T(t) per threshold."""
    from ionmorph.labels import CLASSES
    from ionmorph.evaluation.metrics import snap_to_axis, true_sets

    in_true = true_sets(r).any(axis=1)                                   # (thresholds, channels)
    out = {}
    for c in CLASSES:
        mz = [m for m, look in looks if look == c]
        idx = snap_to_axis(mz, axis) if mz else np.zeros(0, np.int64)
        out[c] = {"n": int(len(idx)), "share": in_true[:, idx].mean(axis=1).tolist() if len(idx) else None}
    return out


def build_suite(work: Path, cfg: SuiteConfig, progress: bool = False) -> list[Section]:
    """Generate (or reuse) the synthetic suite under ``work/<cfg.tag>``; returns its sections."""
    from tqdm.auto import tqdm

    from ionmorph.fileio import atomic_write_text
    from ionmorph.synth import simulate_section, simulator_version

    root = work / cfg.tag
    index_path = root / "suite.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    same = index.get("budget_rule") == budget_k.__doc__ and index.get("simulator") == simulator_version()
    known = {(s["group"], s["name"]): s for s in index["sections"]} if same else {}  # a changed rule or simulator regenerates
    sections = []
    jobs = [(gi, group, i) for gi, group in enumerate(GROUPS) for i in range(cfg.n_sections)]
    for gi, group, i in tqdm(jobs, disable=not progress, desc="synthetic suite", unit="section"):
        family, instrument = GROUPS[group]
        name = f"{group}_{i + 1:02d}"
        path, mask_path = root / group / f"{name}.imzML", root / group / "masks" / f"{name}_mask.npy"
        rec = known.get((group, name))
        seed = SUITE_SEED + 1000 * gi + i
        if rec is None or not (path.exists() and path.with_suffix(".ibd").exists() and mask_path.exists()):
            sim = simulate_section(seed, family=family, instrument=instrument, shape=cfg.shape, n_ions=cfg.n_ions)
            sim.write_public(root / group, name, mode="binned")
            rec = {"group": group, "name": name, "k": budget_k(sim), "ppm": sim.ppm, "peak_looks": peak_looks(sim),
                   "meta": {"family": family, "instrument": instrument, "seed": seed, "shape": list(sim.shape),
                            "n_ions": len(sim.ions), "measured_pixels": int(sim.mask.sum())}}
        sections.append(Section(group=group, name=name, path=str(path), mask_path=str(mask_path), k=rec["k"],
                                ppm=rec["ppm"], meta=rec["meta"],
                                peak_looks=tuple((float(m), str(c)) for m, c in rec["peak_looks"])))
        known[(group, name)] = rec
    atomic_write_text(index_path, json.dumps({"config": asdict(cfg), "simulator": simulator_version(),
                                              "budget_rule": budget_k.__doc__,
                                              "sections": list(known.values())}, indent=1) + "\n")
    return sections


def find_sections(data_dir: Path, ppm: float, k: int | None = None) -> list[Section]:
    """Sections of a folder in the public layout: group folders, or ``data_dir`` itself as one group."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: not a folder")
    groups = [data_dir] if any(data_dir.glob("*.imzML")) else sorted(p for p in data_dir.iterdir()
                                                                      if p.is_dir() and any(p.glob("*.imzML")))
    if not groups:
        raise InputError(f"{data_dir}: no <group>/<section>.imzML files (public GBM/CAC/RCC layout)")
    sections = []
    for g in groups:
        for path in sorted(g.glob("*.imzML")):
            budget = PUBLISHED_BUDGETS.get(path.stem, k)
            if budget is None:
                raise InputError(f"{path}: section {path.stem!r} has no published budget; give --k")
            sections.append(Section(group=g.name, name=path.stem, path=str(path),
                                    mask_path=str(g / "masks" / f"{path.stem}_mask.npy"), k=int(budget), ppm=ppm,
                                    meta={"budget": "published" if path.stem in PUBLISHED_BUDGETS else "--k"}))
    return sections


def load_mask(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """The integer segmentation mask of a section, checked against the raster ``shape``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: segmentation mask missing (public layout: <group>/masks/<section>_mask.npy)")
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if mask.shape != tuple(shape):
        raise InputError(f"{path}: mask shape {mask.shape} does not match the section's raster {tuple(shape)}")
    return mask


def peak_candidates(data: Any, ppm: float) -> np.ndarray:
    """Mean-spectrum peaks, one per axis channel (the lowest m/z of those snapping to the same channel)."""
    from ionmorph.picking.candidates import candidate_mz
    from ionmorph.evaluation.metrics import snap_to_axis

    cand = candidate_mz(data, ppm=ppm)
    channel = np.asarray([snap_to_axis([m], data.mz_axis)[0] for m in cand], dtype=np.int64)
    _, first = np.unique(channel, return_index=True)
    return cand[np.sort(first)]


def image_blocks(data: Any, mode: str, cand: np.ndarray, ppm: float) -> Iterator[tuple[int, np.ndarray]]:
    """(start, images) blocks of the candidates' ion images within :data:`BLOCK_BYTES`."""
    h, w = data.shape
    step = max(1, BLOCK_BYTES // (4 * h * w))
    for a in range(0, len(cand), step):
        b = min(len(cand), a + step)
        yield a, data.channel_images(np.arange(a, b)) if mode == "axis" else data.ion_images(cand[a:b], ppm=ppm)


class ScoreCache:
    """Baseline scores on disk, keyed by file identity, mode, method and settings."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def _file(self, section: Section, mode: str, method: str, settings: Settings) -> Path | None:
        if self.root is None:
            return None
        st = Path(section.path).stat(), Path(section.path).with_suffix(".ibd").stat()
        key = json.dumps([str(Path(section.path).resolve()), [s.st_size for s in st], [s.st_mtime_ns for s in st],
                          section.ppm, mode, method, asdict(settings)])
        return self.root / f"{method}-{hashlib.sha1(key.encode()).hexdigest()[:20]}.npy"

    def get(self, section: Section, mode: str, method: str, settings: Settings, n: int) -> np.ndarray | None:
        path = self._file(section, mode, method, settings)
        if path is None or not path.exists():
            return None
        scores = np.load(path, allow_pickle=False)
        return scores if scores.shape == (n,) else None

    def put(self, section: Section, mode: str, method: str, settings: Settings, scores: np.ndarray) -> None:
        from ionmorph.fileio import atomic_path

        path = self._file(section, mode, method, settings)
        if path is not None:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.asarray(scores, dtype=np.float64))


def method_scores(section: Section, data: Any, mode: str, cand: np.ndarray, net: Any, settings: Settings,
                  cache: ScoreCache, progress: bool = False, score: str = DEFAULT_SCORE
                  ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every method's score per candidate (higher = pick first) and the seconds each took.

    ``score`` is IonMorphNet's informative score (``pick_peaks(score=...)``).
    """
    from ionmorph.picking import baselines as bl
    from ionmorph.picking.pick import pick_peaks

    image_fns = {"mean_intensity": bl.mean_intensity, "spatial_chaos": bl.spatial_chaos, "morans_i": bl.morans_i}
    n = len(cand)
    scores = {m: cache.get(section, mode, m, settings, n) for m in METHODS if m != "ionmorphnet"}
    seconds = {m: 0.0 for m in METHODS}
    t = time.perf_counter()
    seed = zlib.crc32(f"{section.group}/{section.name}/{mode}".encode())
    if scores["random"] is None:
        scores["random"] = bl.random_scores(np.zeros((n, 1, 1), np.float32), seed=seed)
    seconds["random"] = time.perf_counter() - t
    t = time.perf_counter()
    if scores["spectrum_snr"] is None:
        spec_mz, spec_int = data.mean_spectrum()
        scores["spectrum_snr"] = bl.spectrum_snr(cand, spec_mz, spec_int, ppm=0.0 if mode == "axis" else section.ppm)
    seconds["spectrum_snr"] = time.perf_counter() - t
    h, w = data.shape
    if scores["s3pl"] is None and 4 * n * h * w > BLOCK_BYTES:
        raise InputError(f"{section.path}: the {mode} candidate cube ({n} images of {h} x {w}) exceeds "
                         f"{BLOCK_BYTES / 2**30:.0f} GiB; S3PL needs it in memory")
    todo = [m for m in image_fns if scores[m] is None]
    for m in todo:
        scores[m] = np.zeros(n)
    scores["ionmorphnet"] = np.zeros(n)
    if n == 0:
        scores["s3pl"] = np.zeros(0)
    for start, images in image_blocks(data, mode, cand, section.ppm):
        stop = start + len(images)
        t = time.perf_counter()
        res = pick_peaks(images, mz=cand[start:stop], mask=data.mask, model=net, progress=False, score=score)
        scores["ionmorphnet"][start:stop] = res.score
        seconds["ionmorphnet"] += time.perf_counter() - t
        for m in todo:
            t = time.perf_counter()
            scores[m][start:stop] = image_fns[m](images, data.mask)
            seconds[m] += time.perf_counter() - t
        if scores["s3pl"] is None:                                   # one block: checked above
            t = time.perf_counter()
            scores["s3pl"] = bl.s3pl(images, data.mask, epochs=settings.s3pl_epochs,
                                     max_train_pixels=settings.s3pl_train_pixels, seed=seed, progress=progress)
            seconds["s3pl"] = time.perf_counter() - t
    for m in scores:
        if m != "ionmorphnet":
            cache.put(section, mode, m, settings, scores[m])
    return scores, seconds


def evaluate_section(section: Section, net: Any, modes: Sequence[str], settings: Settings, cache: ScoreCache,
                     progress: bool = False, score: str = DEFAULT_SCORE) -> dict[str, Any]:
    """mSCF1 of every method and candidate mode on one section (correlations computed once)."""
    from ionmorph.picking.baselines import rank
    from ionmorph.evaluation.metrics import mscf1_from_r, pearson_with_classes
    from ionmorph.io.msi import open_msi

    data = open_msi(section.path)
    if data.mode != "continuous" or data.mz_axis is None:
        raise InputError(f"{section.path}: mSCF1 needs a continuous (fixed m/z axis) imzML file")
    mask = load_mask(section.mask_path, data.shape)
    axis = np.asarray(data.mz_axis)
    t = time.perf_counter()
    r, classes = pearson_with_classes(data, mask, progress=progress)
    out: dict[str, Any] = {"group": section.group, "name": section.name, "k": section.k, "ppm": section.ppm,
                           "n_channels": int(len(axis)), "n_pixels": int(data.mask.sum()),
                           "classes": classes.tolist(), "correlation_s": round(time.perf_counter() - t, 3),
                           "meta": section.meta, "modes": {}}
    if section.peak_looks is not None:
        out["true_set_share"] = true_set_share(section.peak_looks, r, axis)
    for mode in modes:
        cand = axis if mode == "axis" else peak_candidates(data, section.ppm)
        k = min(section.k, len(cand))
        scores, seconds = method_scores(section, data, mode, cand, net, settings, cache, progress, score)
        ceiling = mscf1_from_r(axis[:k], r, axis, classes=classes)   # any k distinct channels: the bound
        methods = {}
        for m in METHODS:
            res = mscf1_from_r(cand[rank(scores[m])[:k]], r, axis, classes=classes)
            methods[m] = {**res.to_dict(), "seconds": round(seconds[m], 3)}
        oracle = None
        if section.peak_looks is not None:
            picks = cand[rank(label_scores(cand, section.informative_mz, section.ppm, scores["mean_intensity"]))[:k]]
            oracle = mscf1_from_r(picks, r, axis, classes=classes).to_dict()
        out["modes"][mode] = {"n_candidates": int(len(cand)), "k": k, "best": ceiling.best,
                              "best_f1": ceiling.best_f1.tolist(), "true_size": ceiling.true_size.tolist(),
                              "methods": methods, "simulator_labels": oracle}
    return out


def summarise(sections: list[dict[str, Any]], modes: Sequence[str]) -> dict[str, Any]:
    """Per group and mode: each method's mean mSCF1, mean F1 per threshold, and the mean best reachable."""
    out: dict[str, Any] = {}
    for group in dict.fromkeys(s["group"] for s in sections):
        rows = [s for s in sections if s["group"] == group]
        out[group] = {}
        for mode in modes:
            ms = [s["modes"][mode] for s in rows]
            oracle = [m["simulator_labels"]["mscf1"] for m in ms if m.get("simulator_labels")]
            out[group][mode] = {
                "n_sections": len(rows), "best": float(np.mean([m["best"] for m in ms])),
                "simulator_labels": float(np.mean(oracle)) if len(oracle) == len(ms) else None,
                "methods": {name: {"mscf1": float(np.mean([m["methods"][name]["mscf1"] for m in ms])),
                                   "f1": np.mean([m["methods"][name]["f1"] for m in ms], axis=0).tolist(),
                                   "seconds": float(np.sum([m["methods"][name]["seconds"] for m in ms]))}
                            for name in METHODS}}
    return out


def summarise_shares(sections: list[dict[str, Any]]) -> dict[str, dict[str, float | None]] | None:
    """Per group and apparent class: the mean share (over sections and thresholds) of its channels in T."""
    if not all("true_set_share" in s for s in sections):
        return None
    out: dict[str, dict[str, float | None]] = {}
    for group in dict.fromkeys(s["group"] for s in sections):
        rows = [s["true_set_share"] for s in sections if s["group"] == group]
        out[group] = {}
        for c in rows[0]:
            shares = [np.mean(r[c]["share"]) for r in rows if r[c]["share"] is not None]
            out[group][c] = float(np.mean(shares)) if shares else None
    return out


def check_target(groups: dict[str, Any], modes: Sequence[str], held_out: str | None) -> dict[str, Any]:
    """IonMorphNet highest on every group, and >= TARGET_MARGIN over the best baseline on ``held_out``."""
    out: dict[str, Any] = {}
    for mode in modes:
        per_group = {}
        for group, g in groups.items():
            ms = g[mode]["methods"]
            best_name = max((m for m in METHODS if m != "ionmorphnet"), key=lambda m: ms[m]["mscf1"])
            per_group[group] = {"ionmorphnet": ms["ionmorphnet"]["mscf1"], "best_baseline": best_name,
                                "best_baseline_mscf1": ms[best_name]["mscf1"],
                                "margin": ms["ionmorphnet"]["mscf1"] - ms[best_name]["mscf1"]}
        highest = all(v["margin"] > 0 for v in per_group.values())
        margin_ok = held_out in per_group and per_group[held_out]["margin"] >= TARGET_MARGIN
        out[mode] = {"per_group": per_group, "highest_on_every_group": highest,
                     "held_out_group": held_out, "held_out_margin_ok": margin_ok if held_out else None,
                     "met": highest and (margin_ok if held_out else True)}
    return out


def metric_speed(n_channels: int = 100_000, shape: tuple[int, int] = (150, 200), fraction: float = 1.0,
                 block: int = 2000, k: int = 1000, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Time ``pearson_with_classes`` streamed over random channel blocks (see the module docstring)."""
    from tqdm.auto import tqdm

    from ionmorph.evaluation.metrics import mscf1_from_r, pearson_with_classes

    if not 0 < fraction <= 1:
        raise InputError(f"speed fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    mask = (xx > w // 3).astype(np.int64) + (yy > h // 2)            # 3 classes, blocky
    n = max(1, int(round(n_channels * fraction)))
    r = np.zeros((3, n))
    corr_s = 0.0
    for a in tqdm(range(0, n, block), disable=not progress, desc="metric speed", unit="block"):
        chunk = rng.random((min(block, n - a), h, w), dtype=np.float32)
        t = time.perf_counter()
        r[:, a:a + len(chunk)] = pearson_with_classes(chunk, mask)[0]
        corr_s += time.perf_counter() - t
    full_r = np.resize(r, (3, n_channels))                               # scoring cost at full size
    axis = np.linspace(100.0, 1000.0, n_channels)
    t = time.perf_counter()
    mscf1_from_r(axis[rng.choice(n_channels, k, replace=False)], full_r, axis)
    score_s = time.perf_counter() - t
    total = corr_s / fraction + score_s
    return {"n_channels": n_channels, "n_pixels": h * w, "fraction_timed": fraction, "channels_timed": n,
            "block_channels": block, "correlation_s_timed": round(corr_s, 3),
            "correlation_s_extrapolated": round(corr_s / fraction, 2), "scoring_s": round(score_s, 3),
            "total_s": round(total, 2), "under_one_minute": total < 60.0}


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def to_markdown(res: dict[str, Any]) -> str:
    """The results as Markdown (see the module docstring for what each number is)."""
    modes, groups = res["modes"], res["groups"]
    lines = [f"# mSCF1 benchmark ({res['label']})", "",
             f"Model: {res['model']}, score `{res['score']}`. Data: {res['data']}. Thresholds 0.3/0.4/0.5/0.6; "
             "a group's score is the mean over its sections.", "", f"Budget: {res['budget_rule']}", "",
             "Candidate modes: `axis` = every channel of the section's continuous m/z axis (the published "
             "protocol); `peaks` = mean-spectrum peaks with ppm-window ion images (picks snapped to the axis).", ""]
    target = res["target"]
    lines += ["## Target", "", f"IonMorphNet's mean mSCF1 highest on each group, and >= +{TARGET_MARGIN} over the "
              f"best baseline on the held-out family ({target['held_out_group'] or 'none in these data'}).", ""]
    for mode in modes:
        t = target["modes"][mode]
        lines += [f"**{mode}** mode: {'MET' if t['met'] else 'NOT MET'} (highest on every group: "
                  f"{'yes' if t['highest_on_every_group'] else 'no'}; held-out margin >= {TARGET_MARGIN}: "
                  f"{'n/a' if t['held_out_margin_ok'] is None else 'yes' if t['held_out_margin_ok'] else 'no'}).", "",
                  "| group | IonMorphNet | best baseline | its mSCF1 | margin |", "|---|---|---|---|---|"]
        for g, v in t["per_group"].items():
            lines.append(f"| {g} | {_fmt(v['ionmorphnet'])} | {v['best_baseline']} | "
                         f"{_fmt(v['best_baseline_mscf1'])} | {v['margin']:+.3f} |")
        lines.append("")
    lines += ["## Mean mSCF1 per group", ""]
    for mode in modes:
        lines += [f"### {mode} candidates", "", "| method | " + " | ".join(groups) + " |",
                  "|---|" + "---|" * len(groups)]
        for m in METHODS:
            lines.append(f"| {m} | " + " | ".join(_fmt(groups[g][mode]["methods"][m]["mscf1"]) for g in groups) + " |")
        lines += ["| *best reachable with k picks* | " + " | ".join(_fmt(groups[g][mode]["best"]) for g in groups)
                  + " |"]
        if all(groups[g][mode].get("simulator_labels") is not None for g in groups):
            lines.append("| *simulator labels (diagnostic: perfect informative-class picks)* | "
                         + " | ".join(_fmt(groups[g][mode]["simulator_labels"]) for g in groups) + " |")
        lines.append("")
        lines += ["Per-threshold F1 (t = 0.3 / 0.4 / 0.5 / 0.6), group means:", "",
                  "| method | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        for m in METHODS:
            lines.append(f"| {m} | " + " | ".join(" / ".join(f"{v:.2f}" for v in groups[g][mode]["methods"][m]["f1"])
                                                   for g in groups) + " |")
        lines.append("")
    shares = res.get("true_set_share")
    if shares:
        from ionmorph.labels import CLASSES, DEFAULT_INFORMATIVE

        lines += ["## Which simulated ions the metric rewards", "",
                  "Share of the channels holding simulated peaks of each apparent class (simulator ground truth) "
                  "that lie in the true set T(t), averaged over t = 0.3-0.6 and the group's sections. Informative "
                  "classes (picked by IonMorphNet's default score) are marked *.", "",
                  "| apparent class | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        for c in CLASSES:
            mark = " *" if c in DEFAULT_INFORMATIVE else ""
            lines.append(f"| {c}{mark} | " + " | ".join("-" if shares[g][c] is None else f"{shares[g][c]:.2f}"
                                                       for g in groups) + " |")
        lines.append("")
    lines += ["## Published numbers (SPEC 6) - measured on OTHER data", "",
              "Published mean mSCF1 on the real public GBM (MALDI FT-ICR), RCC and CAC (DESI) sets with the "
              "published budgets; ours are the group means above (axis mode, the same protocol) on the data of "
              "this run. Not comparable number for number: different data.", "",
              "| method | published GBM | published RCC | published CAC | ours: " + " | ours: ".join(groups) + " |",
              "|---|---|---|---|" + "---|" * len(groups)]
    for name, pub in PUBLISHED_MSCF1.items():
        ours = PUBLISHED_COUNTERPART.get(name)
        cells = [_fmt(groups[g][modes[0]]["methods"][ours]["mscf1"]) if ours else "-" for g in groups]
        label = f"{name} (ours: {ours})" if ours else f"{name} (not re-implemented)"
        lines.append(f"| {label} | {pub['GBM']} | {pub['RCC']} | {pub['CAC']} | " + " | ".join(cells) + " |")
    lines += ["| IonMorphNet (published: about +7 % over the best) | - | - | - | "
              + " | ".join(_fmt(groups[g][modes[0]]["methods"]["ionmorphnet"]["mscf1"]) for g in groups) + " |", ""]
    lines += ["## Per section (mSCF1)", ""]
    for mode in modes:
        lines += [f"### {mode} candidates", "",
                  "| section | k | candidates | true set t=0.3..0.6 | " + " | ".join(METHODS) + " | best |",
                  "|---|---|---|---|" + "---|" * (len(METHODS) + 1)]
        for s in res["sections"]:
            v = s["modes"][mode]
            lines.append(f"| {s['group']}/{s['name']} | {v['k']} | {v['n_candidates']} | "
                         f"{'/'.join(str(x) for x in v['true_size'])} | "
                         + " | ".join(_fmt(v["methods"][m]["mscf1"]) for m in METHODS) + f" | {_fmt(v['best'])} |")
        lines.append("")
    sp = res["metric_speed"]
    lines += ["## Metric speed", "",
              f"`pearson_with_classes` on a {sp['n_channels']:,}-channel x {sp['n_pixels']:,}-pixel random matrix, "
              f"streamed in blocks of {sp['block_channels']:,} channels: {sp['channels_timed']:,} channels timed "
              f"({sp['correlation_s_timed']} s), extrapolated to {sp['correlation_s_extrapolated']} s; scoring "
              f"1,000 picks on the full correlations {sp['scoring_s']} s; total {sp['total_s']} s "
              f"({'under' if sp['under_one_minute'] else 'OVER'} the one-minute target).", "",
              "## Time per method (s, summed over sections)", "",
              "Baseline scores read from the score cache (an earlier run on the same files and settings) count "
              "0 s here; IonMorphNet is always re-run.", "", "| method | " + " | ".join(modes) + " |",
              "|---|" + "---|" * len(modes)]
    for m in METHODS:
        lines.append(f"| {m} | " + " | ".join(f"{sum(groups[g][mode]['methods'][m]['seconds'] for g in groups):.1f}"
                                              for mode in modes) + " |")
    lines += ["", f"Total wall time {res['wall_s']:.0f} s. Machine: Python {res['machine']['python']}, torch "
              f"{res['machine']['torch']}, {res['machine']['cpu']}, {res['machine']['threads']} threads. "
              "Reproduce with `python benchmarks/mscf1.py" + (" --quick" if res["label"] == "quick" else "") + "`.", ""]
    return "\n".join(lines)


def plot(res: dict[str, Any], path: Path) -> Path:
    """Grouped bars (methods x groups), one panel per candidate mode; ticks mark the best reachable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ionmorph.plotting import save_figure

    modes, groups = res["modes"], list(res["groups"])
    fig, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes), 4), squeeze=False, sharey=True)
    width = 0.8 / len(METHODS)
    x = np.arange(len(groups))
    for ax, mode in zip(axes[0], modes):
        for i, m in enumerate(METHODS):
            vals = [res["groups"][g][mode]["methods"][m]["mscf1"] for g in groups]
            ax.bar(x - 0.4 + width * (i + 0.5), vals, width, label=m)
        best = [res["groups"][g][mode]["best"] for g in groups]
        ax.hlines(best, x - 0.42, x + 0.42, colors="k", linestyles="dashed", label="best reachable")
        oracle = [res["groups"][g][mode].get("simulator_labels") for g in groups]
        if None not in oracle:
            ax.hlines(oracle, x - 0.42, x + 0.42, colors="tab:red", linestyles="dotted", label="simulator labels")
        ax.set_xticks(x, groups)
        ax.set_title(f"{mode} candidates")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("mean mSCF1")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle(f"mSCF1 per group ({res['label']})")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    out = save_figure(fig, path, overwrite=True)   # the benchmark's own results
    plt.close(fig)
    return out


def load_model(name_or_path: str) -> tuple[Any, str]:
    """(IonMorphNet, description) of a weights name, folder or Hub id."""
    from ionmorph.models.model import IonMorphNet

    net = IonMorphNet.from_pretrained(name_or_path)
    return net, f"{name_or_path} ({net.architecture}, {net.input_size} px, weights {net.version})"


def run(sections: list[Section], model: str, modes: Sequence[str], settings: Settings, work: Path, out_dir: Path,
        label: str, data_desc: str, budget_rule: str, speed_fraction: float, progress: bool,
        score: str = DEFAULT_SCORE) -> dict[str, Any]:
    """Evaluate every section, write ``mscf1[_label].{json,md,png}`` to ``out_dir``; returns the results."""
    import torch
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    net, model_desc = load_model(model)
    cache = ScoreCache(work / "scores")
    rows = [evaluate_section(s, net, modes, settings, cache, progress, score)
            for s in tqdm(sections, disable=not progress, desc="sections", unit="section")]
    groups = summarise(rows, modes)
    held = HELD_OUT_GROUP if HELD_OUT_GROUP in groups else None
    res = {"benchmark": "mscf1", "label": label, "model": model_desc, "score": score, "data": data_desc,
           "budget_rule": budget_rule,
           "modes": list(modes), "methods": list(METHODS), "settings": asdict(settings), "groups": groups,
           "true_set_share": summarise_shares(rows),
           "target": {"held_out_group": held, "margin": TARGET_MARGIN, "modes": check_target(groups, modes, held)},
           "published": {"mscf1": PUBLISHED_MSCF1, "budgets": PUBLISHED_BUDGETS,
                         "note": "measured on the public GBM/RCC/CAC sets, not on these data"},
           "metric_speed": metric_speed(fraction=speed_fraction, progress=progress), "sections": rows,
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.machine(),
                       "threads": torch.get_num_threads()}}
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    stem = "mscf1" if label == "full" else f"mscf1_{label}"
    write_report(out_dir, stem, res, to_markdown(res))
    plot(res, out_dir / f"{stem}.png")
    return res


def main(argv: list[str] | None = None) -> int:
    from ionmorph.fileio import user_cache_dir
    from ionmorph.io.msi import DEFAULT_PPM
    from ionmorph.picking.pick import DEFAULT_MODEL, SCORES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2 sections per group, 48 x 56 px, 120 ions, S3PL 1 epoch, "
                                                        "metric speed on 5 %% of the channels")
    p.add_argument("--data", type=Path, help="folder in the public GBM/CAC/RCC layout instead of the synthetic suite")
    p.add_argument("--k", type=int, help="budget for --data sections without a published one")
    p.add_argument("--ppm", type=float, default=DEFAULT_PPM, help="ion-image / peak-merge ppm for --data")
    p.add_argument("--model", default=DEFAULT_MODEL, help="IonMorphNet weights name, folder or Hub id")
    p.add_argument("--score", default=DEFAULT_SCORE,
                   help=f"IonMorphNet's informative score, pick_peaks(score=...) (default {DEFAULT_SCORE})")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--work", type=Path, default=None, help="suite and score cache (default: user cache)")
    p.add_argument("--modes", default=",".join(MODES), help="candidate modes, comma-separated (axis, peaks)")
    p.add_argument("--sections", type=int, help="synthetic sections per group")
    p.add_argument("--shape", type=int, nargs=2, metavar=("H", "W"), help="synthetic raster (default drawn)")
    p.add_argument("--n-ions", type=int, help="ions per synthetic section")
    p.add_argument("--s3pl-epochs", type=int, help="S3PL epochs (default 10; quick 1)")
    p.add_argument("--s3pl-train-pixels", type=int, help="S3PL training pixels (default 512; quick 128)")
    p.add_argument("--speed-fraction", type=float, help="share of the 100,000 channels timed (default 1; quick 0.05)")
    p.add_argument("--label", help="results name suffix (default: full, quick, data or custom)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    if not modes or any(m not in MODES for m in modes):
        raise InputError(f"--modes must list some of {', '.join(MODES)}, got {a.modes!r}")
    if a.score not in SCORES:
        raise InputError(f"--score must be one of {', '.join(SCORES)}, got {a.score!r}")
    quick = a.quick
    settings = Settings(s3pl_epochs=a.s3pl_epochs or (1 if quick else 10),
                        s3pl_train_pixels=a.s3pl_train_pixels or (128 if quick else 512))
    work = a.work or user_cache_dir("benchmarks", "mscf1")
    custom = any(v is not None for v in (a.sections, a.shape, a.n_ions))
    progress = not a.no_progress
    if a.data is not None:
        sections = find_sections(a.data, a.ppm, a.k)
        label, data_desc = a.label or "data", f"{a.data} ({len(sections)} sections, public layout)"
        rule = "published per-section budgets (SPEC 6)" + (f"; --k {a.k} for the others" if a.k else "")
    else:
        cfg = SuiteConfig(n_sections=a.sections or (2 if quick else 8),
                          shape=tuple(a.shape) if a.shape else ((48, 56) if quick else None),
                          n_ions=a.n_ions or (120 if quick else 300))
        sections = build_suite(work, cfg, progress)
        label = a.label or ("custom" if custom else "quick" if quick else "full")
        groups = ", ".join(f"{g} = {f}/{i}" for g, (f, i) in GROUPS.items())
        data_desc = f"synthetic suite {cfg.tag} (groups {groups}; {HELD_OUT_GROUP} is the family held out from training)"
        rule = ("k = number of simulated peaks (mono-isotopic, isotope, adduct) whose ion image looks informative "
                "in the simulator's ground truth (apparent class structured, localized or negative), the same for "
                "every method; capped at the number of candidates in peaks mode. Sections are pre-binned "
                "(one channel per peak), so k and the true set count the same units")
    res = run(sections, a.model, modes, settings, work, a.out, label, data_desc, rule,
              a.speed_fraction or (0.05 if quick else 1.0), progress, a.score)
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())

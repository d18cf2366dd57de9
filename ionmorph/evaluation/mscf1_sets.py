"""mSCF1 evaluation sets and the protocol run on them (SPEC 6-7): sections, every method's scores, mSCF1.

The pieces of ``benchmarks/mscf1.py`` (which adds the target, the metric speed, the report and the
published numbers); a test or a notebook can evaluate one section with them.

Data
    (a) the synthetic suite (:func:`build_suite`): fixed seeds (:data:`SUITE_SEED` + 1000 * group
        index + section index) of :func:`ionmorph.synth.simulate_section`, the :data:`GROUPS`
        (``brain_tof``, ``kidney_desi``, ``seed_orbitrap``; the seed family is the one held out from
        IonMorphNet training, :data:`HELD_OUT_GROUP`) written in the public layout as pre-binned
        continuous imzML (``mode="binned"``: one channel per peak plus noise-only channels between
        peaks, as the published evaluation sets were pre-binned; a profile axis would give every ion
        several channels, so a budget counted in ions could never cover the true set)
        (``<group>/<name>.imzML`` + ``<group>/masks/<name>_mask.npy``; masks 0 background, 1 and 2
        the family's two anatomical groups). Cached under a work folder and regenerated only when
        missing, or when the budget rule or the simulator changed.
    (b) :func:`find_sections`: any folder in the public GBM/CAC/RCC layout (group folders, or one
        group); the published budgets of SPEC 6 are built in (:data:`PUBLISHED_BUDGETS`).

Budget rule (synthetic sections, the same k for every method and both candidate modes)
    k = the number of simulated peaks (mono-isotopic, isotope and adduct) whose ion image is
    informative (:func:`budget_k`): its apparent class in the simulator's ground truth
    (``SimulatedSection.looks``, what the image looks like after counting noise and detection) is
    ``structured``, ``localized`` or ``negative`` (:data:`ionmorph.labels.DEFAULT_INFORMATIVE`);
    peaks overlapped by another peak carry no label and are not counted. The metric's true set is
    not used (k never depends on the correlations). In ``peaks`` mode the budget is capped at the
    number of candidates.

Diagnostic row (synthetic sections only; not a method)
    ``simulator labels`` (:func:`label_scores`): the channels that hold a peak whose ground-truth
    apparent class is informative, ties broken by mean intensity; what a perfect classifier of
    SPEC 5's informative classes would pick. Beside it, per apparent class, the share of its peaks'
    channels that lie in the true set (:func:`true_set_share`): which ions the metric rewards.

Candidates (:data:`MODES`)
    ``axis``: every channel of the section's own continuous m/z axis (the published protocol;
    images from ``MSIData.channel_images``). ``peaks``: peaks of the mean spectrum
    (:func:`peak_candidates`: :func:`ionmorph.picking.candidates.candidate_mz` at the section's ppm)
    with ppm-window ion images (``MSIData.ion_images``); candidates that snap to the same axis
    channel are merged (the lowest m/z kept), so every method picks k distinct channels.

Methods (:data:`METHODS`; :func:`method_scores`: each scores every candidate, the k best are picked)
    ionmorphnet (``pick_peaks`` scores on the same ion images), random, mean intensity,
    mean-spectrum SNR (per channel in ``axis`` mode, +/- ppm in ``peaks`` mode), spatial chaos,
    Moran's I, S3PL. :func:`evaluate_section` computes the Pearson correlations once per section
    (streamed from the file) and scores every method with
    :func:`ionmorph.evaluation.metrics.mscf1_from_r`. Baseline scores are cached per file, mode and
    settings (:class:`ScoreCache`; they do not depend on the model), so a re-run with new weights
    only re-classifies. :func:`summarise` averages per group and mode.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InputError
from ..picking.pick import DEFAULT_SCORE

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
#: Memory budget of one block of candidate ion images (float32); S3PL needs all in one block.
BLOCK_BYTES = 1 << 30
#: Budgets k of the published evaluation sections (SPEC 6), by section name.
PUBLISHED_BUDGETS: dict[str, int] = {
    "GBM12_1": 691, "GBM12_2": 981, "GBM22_1": 845, "GBM22_2": 1014, "GBM39_1": 696, "GBM39_2": 917,
    "GBM108_positive": 581, "GBM108_negative": 937,
    "40TopL": 342, "160TopL": 199, "200TopL": 214, "240TopL": 257, "280TopL": 238, "360TopL": 246,
    "400TopL": 137, "520TopL": 257,
    "MH0204_33": 2200, "UH0505_12": 1448, "UH0710_33": 1212, "UH9610_15": 466, "UH9812_03": 1676,
    "UH9905_18": 1699, "UH9911_05": 2175, "UH9912_01": 2013,
}


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
        from ..labels import DEFAULT_INFORMATIVE

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
    from ..labels import DEFAULT_INFORMATIVE

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
    from ..labels import CLASSES
    from .metrics import snap_to_axis, true_sets

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

    from ..fileio import atomic_write_text
    from ..synth import simulate_section, simulator_version

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
    from ..picking.candidates import candidate_mz
    from .metrics import snap_to_axis

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
        from ..fileio import atomic_path

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
    from ..picking import baselines as bl
    from ..picking.pick import pick_peaks

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
    from ..picking.baselines import rank
    from .metrics import mscf1_from_r, pearson_with_classes
    from ..io.msi import open_msi

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

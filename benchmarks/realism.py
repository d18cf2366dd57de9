"""Benchmark: how far the simulator's ion images are from real ones (realism of ionmorph.synth).

Real pool
    Every real recording of at least :data:`MIN_SIDE` x :data:`MIN_SIDE` pixels under ``--root``
    (default ``../shared/realdata``), found by file name, one per folder and raster: a continuous
    imzML (every channel of its m/z axis is an ion image; a processed imzML gets mean-spectrum
    candidates, :func:`ionmorph.candidate_mz`, and ppm-window images), else a ``*_cube.npz``
    (``intensities`` (H, W, C)), else a ``*_ion_images.npz`` (``images`` (C, H, W)); ``measured``
    (bool (H, W)) is the mask where present, an imzML's mask is its measured pixels, otherwise every
    pixel is measured. A cube beside an imzML of the same raster is the same recording and is
    skipped. Smaller recordings (format examples) are skipped by the size rule and listed. At most
    ``--max-real`` images per dataset (a seeded random subset).

Simulated pool
    For every family (:data:`ionmorph.synth.FAMILIES`) x instrument
    (:data:`ionmorph.synth.INSTRUMENT_PRESETS`, iterated at run time so new presets are included)
    ``--sections`` sections ``simulate_section(seed, family=..., instrument=...)`` at their default
    (drawn) raster, written to a temporary imzML (storage mode cycling through ``--modes``:
    ``default`` = the instrument's default mode, ``binned`` = pre-binned continuous), opened with
    :func:`ionmorph.open_msi`, candidates from ``ionmorph.candidate_mz(data)`` and images from
    ``data.ion_images(mz, ppm=instrument.ppm)``: the path a user's file takes. At most
    ``--per-section`` candidates per section (a seeded random subset). Each image carries the
    simulator's apparent class of the nearest simulated ion within 3 x ppm ("none" when no ion is
    that close, i.e. a noise or matrix peak).

(a) Image statistics
    :func:`ionmorph.picking.image_stats.image_statistics` per ion image over its measured pixels (definitions
    in that module). Per statistic the two-sample KS distance real vs simulated (pooled, and for each
    real dataset against the whole simulated pool), and a random forest (scikit-learn, 300 trees,
    ``min_samples_leaf=2``) real vs simulated on all statistics: out-of-fold ROC AUC of a 5-fold
    stratified CV (seeded), plus the leave-one-real-dataset-out AUC on the folds of (b).
    Raster-level properties (size, aspect, measured share) are reported, not used by the forest: with
    only a few real recordings they would identify each recording rather than judge its images.

(b) Learned discriminator
    A small CNN (4 conv blocks, 16-64 channels, global average pooling, ~60k parameters) on the model
    input :func:`ionmorph.models.preprocessing.preprocess` (``PreprocessConfig(size=64)``), real vs
    simulated, trained with random flips and 90-degree rotations, Adam, a fixed number of epochs on
    CPU. Leave-one-real-dataset-out: fold k trains on the other real datasets and on the simulated
    sections outside sim fold k (sections dealt round-robin into as many folds as there are real
    datasets, so no section is split), and tests on the held-out real dataset against the held-out
    simulated sections. Reported: the AUC of each fold and their mean; every image gets one
    out-of-fold p(real), used for the figure of the most confidently simulated images.

Balancing
    Sample weights in every fit and in the pooled AUCs: the real and the simulated class weigh the
    same in total; within the real class each dataset weighs the same, except that an image never
    weighs more than :data:`MAX_WEIGHT_RATIO` times an image of the largest dataset (a dataset of 3
    images counts as one of ``n_max / MAX_WEIGHT_RATIO``); within the simulated class each
    family x instrument group weighs the same. Unweighted AUCs are given too.

Targets (project): statistics AUC (5-fold, weighted) <= 0.75; CNN AUC (mean over held-out real
datasets) <= 0.85.

Outputs ``<out>/<prefix>.json``, ``<prefix>.md``, ``<prefix>.png`` (random real and simulated model
inputs side by side), ``<prefix>_discriminator.png`` (the CNN's most confident calls) and
``<prefix>_stats.png`` (per-statistic distributions).

Usage: ``python benchmarks/realism.py [--quick] [--root DIR] [--out DIR] [--out-prefix NAME]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ionmorph.errors import InputError
from ionmorph.evaluation.realdata import load_npz

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

#: Smallest raster side of a real recording used here.
MIN_SIDE = 40
#: Cap on the weight of one real image relative to one image of the largest real dataset.
MAX_WEIGHT_RATIO = 10.0
#: Seeds of the simulated sections: SIM_SEED + 10000 * family index + 100 * instrument index + section.
SIM_SEED = 7_100_000
#: Project targets.
TARGET_STATS_AUC = 0.75
TARGET_CNN_AUC = 0.85
#: Side of the model input.
SIZE = 64
DEFAULT_ROOT = Path(os.environ.get("IONMORPH_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))


@dataclass
class Stack:
    """Ion images of one recording (real dataset or simulated section) on one raster."""

    pool: str                    # "real" or "sim"
    dataset: str                 # real dataset name, or "sim"
    group: str                   # real dataset name, or "<family>/<instrument>"
    section: str                 # unique id of the recording
    images: np.ndarray           # float32 (n, H, W)
    mask: np.ndarray             # bool (H, W)
    mz: np.ndarray               # float64 (n,)
    looks: list[str] = field(default_factory=list)   # simulator apparent class per image (sim only)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(v) for v in self.mask.shape)


# ----------------------------------------------------------------------------------------------- pools
def _subset(n: int, cap: int | None, seed: int) -> np.ndarray:
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def find_real(root: Path, max_per_dataset: int | None, seed: int = 0) -> tuple[list[Stack], list[dict[str, str]]]:
    """The real pool (module docstring) and the skipped files with the reason."""
    from ionmorph import candidate_mz, open_msi
    from ionmorph.io.msi import DEFAULT_PPM

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: real-data folder not found (give --root or set IONMORPH_REALDATA)")
    files = sorted(p for p in root.rglob("*") if p.is_file() and (
        p.suffix.lower() == ".imzml" or p.name.endswith("_cube.npz") or p.name.endswith("_ion_images.npz")))
    priority = {".imzml": 0, "cube": 1, "ion": 2}
    files.sort(key=lambda p: (str(p.parent), priority[".imzml" if p.suffix.lower() == ".imzml"
                                                       else "cube" if p.name.endswith("_cube.npz") else "ion"]))
    stacks: list[Stack] = []
    skipped: list[dict[str, str]] = []
    taken: dict[tuple[str, tuple[int, int]], str] = {}
    for k, p in enumerate(files):
        rel = str(p.relative_to(root))
        try:
            if p.suffix.lower() == ".imzml":
                data = open_msi(p)
                shape, mask = tuple(data.shape), np.asarray(data.mask, bool)
                if min(shape) < MIN_SIDE:
                    skipped.append({"file": rel, "reason": f"raster {shape[0]} x {shape[1]} < {MIN_SIDE} x {MIN_SIDE}"})
                    continue
                if data.mz_axis is not None:
                    mz = np.asarray(data.mz_axis, np.float64)
                    idx = _subset(len(mz), max_per_dataset, seed + k)
                    images, mz, kind = data.channel_images(idx), mz[idx], "imzML (continuous: every channel)"
                else:
                    mz = candidate_mz(data)
                    mz = mz[_subset(len(mz), max_per_dataset, seed + k)]
                    images, kind = data.ion_images(mz, ppm=DEFAULT_PPM), f"imzML (processed: candidates, {DEFAULT_PPM} ppm)"
            else:
                cube = p.name.endswith("_cube.npz")
                arr, mz, mask, _ = load_npz(p, "cube" if cube else "ion_images", require_mz=False)
                shape = arr.shape[1:]
                if min(shape) < MIN_SIDE:
                    skipped.append({"file": rel, "reason": f"raster {shape[0]} x {shape[1]} < {MIN_SIDE} x {MIN_SIDE}"})
                    continue
                if (str(p.parent), tuple(shape)) in taken:
                    skipped.append({"file": rel, "reason": f"same recording as {taken[(str(p.parent), tuple(shape))]}"})
                    continue
                idx = _subset(len(arr), max_per_dataset, seed + k)
                images, mz = arr[idx], mz[idx]
                kind = "cube npz" if cube else "ion-image npz"
        except (OSError, ValueError, InputError) as exc:
            skipped.append({"file": rel, "reason": f"unreadable: {exc}"})
            continue
        shape = tuple(int(v) for v in shape)
        if (str(p.parent), shape) in taken:
            skipped.append({"file": rel, "reason": f"same recording as {taken[(str(p.parent), shape)]}"})
            continue
        taken[(str(p.parent), shape)] = rel
        name = p.parent.name if p.parent != root else p.stem
        if any(s.dataset == name for s in stacks):
            name = f"{name}/{p.stem}"
        stacks.append(Stack(pool="real", dataset=name, group=name, section=name,
                            images=np.asarray(images, np.float32), mask=mask, mz=np.asarray(mz, np.float64),
                            meta={"file": rel, "kind": kind}))
    if not stacks:
        raise InputError(f"{root}: no real recording of at least {MIN_SIDE} x {MIN_SIDE} pixels")
    return stacks, skipped


def _looks_of(sec: Any, mz: np.ndarray, ppm: float) -> list[str]:
    """The simulator's apparent class of the nearest simulated ion within 3 x ppm of each m/z ("none" if none)."""
    ion_mz = np.asarray([float(i.mz) for i in sec.ions])
    looks = np.asarray([lk or "overlapped" for lk in sec.looks], dtype=object)
    if len(ion_mz) == 0:
        return ["none"] * len(mz)
    order = np.argsort(ion_mz)
    ion_mz, looks = ion_mz[order], looks[order]
    i = np.clip(np.searchsorted(ion_mz, mz), 1, max(len(ion_mz) - 1, 1))
    left = np.clip(i - 1, 0, len(ion_mz) - 1)
    right = np.clip(i, 0, len(ion_mz) - 1)
    j = np.where(np.abs(ion_mz[left] - mz) <= np.abs(ion_mz[right] - mz), left, right)
    ok = np.abs(ion_mz[j] - mz) <= 3 * ppm * 1e-6 * mz
    return [str(looks[jj]) if o else "none" for jj, o in zip(j, ok)]


def simulate_pool(n_sections: int, per_section: int, modes: Sequence[str], seed: int, work: Path,
                  progress: bool = False) -> tuple[list[Stack], list[dict[str, Any]]]:
    """The simulated pool (module docstring) and a record of every section (skipped ones included)."""
    from tqdm.auto import tqdm

    from ionmorph import candidate_mz, open_msi
    from ionmorph.synth import FAMILIES, INSTRUMENT_PRESETS, simulate_section

    jobs = [(fi, fam, ii, inst, s) for fi, fam in enumerate(FAMILIES) for ii, inst in enumerate(INSTRUMENT_PRESETS)
            for s in range(n_sections)]
    stacks, records = [], []
    for fi, family, ii, instrument, s in tqdm(jobs, disable=not progress, desc="simulated sections", unit="section"):
        sd = seed + 10000 * fi + 100 * ii + s
        mode = modes[s % len(modes)]
        t = time.perf_counter()
        sec = simulate_section(sd, family=family, instrument=instrument)
        ppm = float(INSTRUMENT_PRESETS[instrument].ppm)
        path = work / f"{family}_{instrument}_{s}.imzML"
        sec.write_imzml(path, mode=None if mode == "default" else mode)
        data = open_msi(path)
        mz_all = candidate_mz(data)
        idx = _subset(len(mz_all), per_section, sd)
        mz = mz_all[idx]
        rec = {"section": f"{family}/{instrument}/{s}", "seed": sd, "family": family, "instrument": instrument,
               "mode": data.mode if mode == "default" else mode, "shape": list(data.shape),
               "measured_share": round(float(np.mean(data.mask)), 4), "n_candidates": int(len(mz_all)),
               "n_images": int(len(mz))}
        if len(mz):
            images = data.ion_images(mz, ppm=ppm)
            stacks.append(Stack(pool="sim", dataset="sim", group=f"{family}/{instrument}", section=rec["section"],
                                images=images, mask=np.asarray(data.mask, bool), mz=mz, looks=_looks_of(sec, mz, ppm),
                                meta=rec))
        rec["seconds"] = round(time.perf_counter() - t, 2)
        records.append(rec)
        for f in (path, path.with_suffix(".ibd")):
            f.unlink(missing_ok=True)
    if not stacks:
        raise InputError("the simulator produced no candidate ion images")
    return stacks, records


# ------------------------------------------------------------------------------------------- analysis
@dataclass
class Table:
    """One row per ion image: statistics, model input and labels."""

    stats: dict[str, np.ndarray]
    x: np.ndarray                # float32 (n, 1, SIZE, SIZE) model input
    real: np.ndarray             # bool (n,)
    dataset: np.ndarray          # str (n,)
    group: np.ndarray            # str (n,)
    section: np.ndarray          # str (n,)
    look: np.ndarray             # str (n,) ("" for real images)
    mz: np.ndarray               # float64 (n,)

    def __len__(self) -> int:
        return len(self.real)

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.column_stack([self.stats[k] for k in names])


def build_table(stacks: Sequence[Stack], progress: bool = False) -> Table:
    """Statistics and model inputs of every image of every stack."""
    from tqdm.auto import tqdm

    from ionmorph.picking.image_stats import STATISTICS, image_statistics
    from ionmorph.models.preprocessing import PreprocessConfig, preprocess

    stats = {k: [] for k in STATISTICS}
    xs, real, dataset, group, section, look, mz = [], [], [], [], [], [], []
    cfg = PreprocessConfig(size=SIZE)
    for s in tqdm(stacks, disable=not progress, desc="statistics", unit="stack"):
        st = image_statistics(s.images, s.mask)
        for k in STATISTICS:
            stats[k].append(st[k])
        xs.append(preprocess(s.images, s.mask, cfg))
        n = len(s.images)
        real += [s.pool == "real"] * n
        dataset += [s.dataset] * n
        group += [s.group] * n
        section += [s.section] * n
        look += list(s.looks) if s.looks else [""] * n
        mz.append(s.mz)
    return Table(stats={k: np.concatenate(v) for k, v in stats.items()}, x=np.concatenate(xs),
                 real=np.asarray(real), dataset=np.asarray(dataset), group=np.asarray(group),
                 section=np.asarray(section), look=np.asarray(look), mz=np.concatenate(mz))


def balance_weights(real: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Sample weights of the balancing rule (module docstring), mean 1."""
    w = np.zeros(len(real))
    if real.any():
        names, counts = np.unique(group[real], return_counts=True)
        floor = counts.max() / MAX_WEIGHT_RATIO
        for g, c in zip(names, counts):
            w[real & (group == g)] = 1.0 / max(c, floor)
        w[real] /= w[real].sum()
    if (~real).any():
        names, counts = np.unique(group[~real], return_counts=True)
        for g, c in zip(names, counts):
            w[~real & (group == g)] = 1.0 / (len(names) * c)
    return w * len(w) / w.sum()


def _auc(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return round(float(roc_auc_score(y, p, sample_weight=w)), 4)


def _quantiles(v: np.ndarray) -> dict[str, float]:
    if len(v) == 0:
        return {"n": 0}
    q = np.quantile(v, [0.1, 0.5, 0.9])
    return {"n": int(len(v)), "mean": round(float(v.mean()), 4), "p10": round(float(q[0]), 4),
            "median": round(float(q[1]), 4), "p90": round(float(q[2]), 4)}


def describe_stats(t: Table) -> dict[str, Any]:
    """Per statistic: KS real vs sim (pooled and per real dataset), and quantiles per pool/dataset/instrument/family."""
    from scipy.stats import ks_2samp

    from ionmorph.picking.image_stats import STATISTICS

    datasets = list(dict.fromkeys(t.dataset[t.real]))
    fam = np.asarray([g.split("/")[0] if not r else "" for g, r in zip(t.group, t.real)])
    inst = np.asarray([g.split("/")[1] if not r else "" for g, r in zip(t.group, t.real)])
    out = {}
    for k in STATISTICS:
        v = t.stats[k]
        r, s = v[t.real], v[~t.real]
        ks = ks_2samp(r, s)
        rec = {"ks": round(float(ks.statistic), 4), "p": float(ks.pvalue),
               "ks_per_dataset": {d: round(float(ks_2samp(v[t.dataset == d], s).statistic), 4) for d in datasets},
               "real": _quantiles(r), "sim": _quantiles(s),
               "real_per_dataset": {d: _quantiles(v[t.dataset == d]) for d in datasets},
               "sim_per_instrument": {i: _quantiles(v[inst == i]) for i in dict.fromkeys(inst[~t.real])},
               "sim_per_family": {f: _quantiles(v[fam == f]) for f in dict.fromkeys(fam[~t.real])}}
        out[k] = rec
    return out


def sim_folds(t: Table, k: int) -> np.ndarray:
    """Fold (0..k-1) of every simulated image: its section's position in (group, section) order, mod k; -1 for real."""
    fold = np.full(len(t), -1)
    sections = sorted(dict.fromkeys(t.section[~t.real]), key=lambda s: (s.split("/")[2], s))
    # sort by section index first, so consecutive sections differ in group and every fold mixes groups
    for i, s in enumerate(sections):
        fold[t.section == s] = i % k
    return fold


def random_forest(t: Table, seed: int, n_trees: int, n_ablate: int = 3, n_jobs: int = 1) -> dict[str, Any]:
    """5-fold stratified CV and leave-one-real-dataset-out AUCs of a random forest on all statistics.

    Also the CV AUC without each of the ``n_ablate`` most important statistics, and without all of them.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    from ionmorph.picking.image_stats import STATISTICS

    X, y = t.matrix(STATISTICS), t.real.astype(int)
    w = balance_weights(t.real, t.group)

    def forest() -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=n_trees, min_samples_leaf=2, random_state=seed, n_jobs=n_jobs)

    oof = np.zeros(len(t))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
        m = forest().fit(X[tr], y[tr], sample_weight=w[tr])
        oof[te] = m.predict_proba(X[te])[:, 1]
    datasets = list(dict.fromkeys(t.dataset[t.real]))
    per_dataset = {d: _auc(y[(t.dataset == d) | ~t.real], oof[(t.dataset == d) | ~t.real],
                           w[(t.dataset == d) | ~t.real]) for d in datasets}
    fam_inst = {g: round(float(np.average(oof[t.group == g])), 4) for g in dict.fromkeys(t.group[~t.real])}
    full = forest().fit(X, y, sample_weight=w)
    imp = dict(sorted(((k, round(float(v), 4)) for k, v in zip(STATISTICS, full.feature_importances_)),
                      key=lambda kv: -kv[1]))

    def cv_auc(cols: Sequence[int]) -> float | None:
        p = np.zeros(len(t))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            p[te] = forest().fit(X[tr][:, cols], y[tr], sample_weight=w[tr]).predict_proba(X[te][:, cols])[:, 1]
        return _auc(y, p, w)

    top = list(imp)[:n_ablate]
    ablation = {f"without {k}": cv_auc([i for i, s in enumerate(STATISTICS) if s != k]) for k in top}
    if len(top) > 1:
        ablation[f"without {', '.join(top)}"] = cv_auc([i for i, s in enumerate(STATISTICS) if s not in top])
    res = {"cv5_auc_weighted": _auc(y, oof, w), "cv5_auc_unweighted": _auc(y, oof), "ablation": ablation,
           "cv5_auc_per_real_dataset": per_dataset, "mean_p_real_per_sim_group": fam_inst,
           "importance": imp, "n_trees": n_trees}
    # leave one real dataset out, on the same simulated folds as the CNN
    if len(datasets) >= 2:
        fold = sim_folds(t, len(datasets))
        lodo = {}
        for k, d in enumerate(datasets):
            train = (t.real & (t.dataset != d)) | (~t.real & (fold != k))
            test = (t.real & (t.dataset == d)) | (~t.real & (fold == k))
            m = forest().fit(X[train], y[train], sample_weight=balance_weights(t.real[train], t.group[train]))
            lodo[d] = _auc(y[test], m.predict_proba(X[test])[:, 1])
        vals = [v for v in lodo.values() if v is not None]
        res["lodo_auc"] = lodo
        res["lodo_auc_mean"] = round(float(np.mean(vals)), 4) if vals else None
    res["oof_p_real"] = oof
    return res


def _cnn():
    import torch.nn as nn

    def block(i: int, o: int, pool: bool = True) -> list:
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)] + \
               ([nn.MaxPool2d(2)] if pool else [])

    return nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), *block(64, 64, pool=False),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 1))


def _augment(x):
    import torch

    k = int(torch.randint(0, 4, ()).item())
    x = torch.rot90(x, k, dims=(2, 3))
    flip = torch.rand(len(x)) < 0.5
    x[flip] = torch.flip(x[flip], dims=(3,))
    return x


def train_cnn(x: np.ndarray, y: np.ndarray, w: np.ndarray, epochs: int, seed: int, batch: int = 64):
    """A fitted discriminator (eval mode) on inputs ``x`` (n, 1, S, S), labels ``y`` (1 = real), weights ``w``."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    net = _cnn()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * max(1, int(np.ceil(len(x) / batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    X, Y, W = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(w.astype(np.float32))
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), batch):
            idx = order[i:i + batch]
            logit = net(_augment(X[idx].clone())).squeeze(1)
            loss = (F.binary_cross_entropy_with_logits(logit, Y[idx], reduction="none") * W[idx]).sum() / W[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net


def predict_cnn(net, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """p(real) of each input, averaged over the 8 flips/rotations."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            b = torch.from_numpy(x[i:i + batch])
            ps = []
            for k in range(4):
                r = torch.rot90(b, k, dims=(2, 3))
                ps += [torch.sigmoid(net(r)), torch.sigmoid(net(torch.flip(r, dims=(3,))))]
            out.append(torch.stack(ps).mean(0).squeeze(1).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def discriminator(t: Table, epochs: int, seed: int, progress: bool = False) -> dict[str, Any]:
    """Leave-one-real-dataset-out CNN discriminator (module docstring)."""
    import torch

    datasets = list(dict.fromkeys(t.dataset[t.real]))
    if len(datasets) < 2:
        return {"skipped": "leave-one-real-dataset-out needs at least 2 real datasets"}
    fold = sim_folds(t, len(datasets))
    oof = np.full(len(t), np.nan)
    fold_of = np.full(len(t), -1)
    folds = {}
    for k, d in enumerate(datasets):
        t0 = time.perf_counter()
        train = (t.real & (t.dataset != d)) | (~t.real & (fold != k))
        test = (t.real & (t.dataset == d)) | (~t.real & (fold == k))
        net = train_cnn(t.x[train], t.real[train], balance_weights(t.real[train], t.group[train]), epochs, seed + k)
        p = predict_cnn(net, t.x[test])
        oof[test] = p
        fold_of[test] = k
        folds[d] = {"auc": _auc(t.real[test], p), "n_real_test": int((t.real & test).sum()),
                    "n_sim_test": int((~t.real & test).sum()), "n_train": int(train.sum()),
                    "median_p_real_heldout_real": round(float(np.median(p[t.real[test]])), 4),
                    "median_p_real_heldout_sim": round(float(np.median(p[~t.real[test]])), 4),
                    "seconds": round(time.perf_counter() - t0, 1)}
        if progress:
            print(f"  CNN fold held-out {d}: AUC {folds[d]['auc']} ({folds[d]['seconds']} s)", file=sys.stderr)
    vals = [f["auc"] for f in folds.values() if f["auc"] is not None]
    w = balance_weights(t.real, t.group)
    pct = fold_percentile(t, oof, fold_of)
    looks = {lk: {"n": int((~t.real & (t.look == lk)).sum()),
                  "rank": round(float(np.mean(pct[~t.real & (t.look == lk)])), 4)}
             for lk in sorted(set(t.look[~t.real]))}
    groups = {g: round(float(np.mean(pct[t.group == g])), 4) for g in dict.fromkeys(t.group[~t.real])}
    return {"folds": folds, "auc_mean": round(float(np.mean(vals)), 4) if vals else None,
            "pooled_oof_auc_weighted": _auc(t.real, oof, w), "pooled_oof_auc_unweighted": _auc(t.real, oof),
            "realness_rank_per_sim_look": looks, "realness_rank_per_sim_group": groups, "epochs": epochs,
            "architecture": "4 x (conv3x3-BN-ReLU), 16/32/64/64 channels, max-pool after the first 3, "
                            "global average pool, dropout 0.2, linear",
            "n_parameters": int(sum(p.numel() for p in _cnn().parameters())), "oof_p_real": oof,
            "fold_percentile": pct}


def raster_summary(stacks: Sequence[Stack]) -> dict[str, Any]:
    """Raster size, aspect and measured share of the real datasets and of the simulated sections."""
    def one(s: Stack) -> dict[str, Any]:
        m = s.mask
        edges = [m[0].any(), m[-1].any(), m[:, 0].any(), m[:, -1].any()]
        return {"shape": list(s.shape), "aspect_w_over_h": round(s.shape[1] / s.shape[0], 3),
                "measured_share": round(float(m.mean()), 4), "measured_touches_edges": int(sum(edges)),
                "n_images": int(len(s.images))}

    real = {s.dataset: {**one(s), **s.meta} for s in stacks if s.pool == "real"}
    sims = [one(s) for s in stacks if s.pool == "sim"]

    def q(values: Sequence[float]) -> dict[str, float]:
        return _quantiles(np.asarray(values, dtype=np.float64))

    return {"real": real, "sim": {"n_sections": len(sims), "height": q([r["shape"][0] for r in sims]),
                                  "width": q([r["shape"][1] for r in sims]),
                                  "aspect_w_over_h": q([r["aspect_w_over_h"] for r in sims]),
                                  "measured_share": q([r["measured_share"] for r in sims]),
                                  "share_with_unmeasured_pixels": round(float(np.mean(
                                      [r["measured_share"] < 0.999 for r in sims])), 4)}}


# ------------------------------------------------------------------------------------------ differences
_PERCENT = {"touches_border", "zero_fraction", "tissue_share", "border_share", "top1_energy"}


def _fmt_stat(name: str, q: dict[str, float], key: str = "median") -> str:
    if not q.get("n"):
        return "-"
    if name == "touches_border":
        return f"{100 * q['mean']:.0f} %"
    return f"{q[key]:.3g}"


def differences(stats: dict[str, Any], top: int | None = None) -> list[str]:
    """Plain-language lines, one per statistic in order of the pooled KS distance."""
    order = sorted(stats, key=lambda k: -stats[k]["ks"])[:top]
    lines = []
    for k in order:
        s = stats[k]
        what = "share touching the border" if k == "touches_border" else "median"
        per = ", ".join(f"{d} {_fmt_stat(k, q)}" for d, q in s["real_per_dataset"].items())
        inst = ", ".join(f"{i} {_fmt_stat(k, q)}" for i, q in s["sim_per_instrument"].items())
        lines.append(f"`{k}` (KS {s['ks']:.2f}): {what} real {per} vs simulated {_fmt_stat(k, s['sim'])} "
                     f"(p10-p90 sim {s['sim']['p10']:.3g}-{s['sim']['p90']:.3g}; per instrument: {inst})")
    return lines


# ----------------------------------------------------------------------------------------------- figures
def _pick_spread(t: Table, mask: np.ndarray, n: int, rng: np.random.Generator, key: np.ndarray) -> np.ndarray:
    """``n`` random indices of ``mask``, round-robin over the values of ``key`` (datasets / groups)."""
    pools = [rng.permutation(np.flatnonzero(mask & (key == v))).tolist() for v in dict.fromkeys(key[mask])]
    out = []
    while len(out) < n and any(pools):
        for p in pools:
            if p and len(out) < n:
                out.append(p.pop())
    return np.asarray(out, dtype=np.int64)


def _grid(fig, spec, t: Table, idx: np.ndarray, titles: Sequence[str], ncols: int, title: str,
          title_gap: float = 0.04):
    import matplotlib as mpl

    sub = spec.subgridspec(int(np.ceil(max(len(idx), 1) / ncols)), ncols, wspace=0.05, hspace=0.45)
    cmap = mpl.colormaps["viridis"]
    im = None
    axes = []
    for j in range(sub.nrows * sub.ncols):
        ax = fig.add_subplot(sub[j // ncols, j % ncols])
        ax.set_axis_off()
        axes.append(ax)
        if j < len(idx):
            im = ax.imshow(t.x[idx[j], 0], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(titles[j], fontsize=6)
    if axes:
        boxes = [ax.get_position() for ax in axes]
        fig.text(min(b.x0 for b in boxes), max(b.y1 for b in boxes) + title_gap, title, fontsize=9,
                 fontweight="bold", va="bottom")
    return im, axes


def _title(t: Table, i: int, p: np.ndarray | None = None) -> str:
    head = t.dataset[i] if t.real[i] else f"{t.group[i]}\n{t.look[i]}"
    tail = f" p={p[i]:.2f}" if p is not None else ""
    return f"{head}\nm/z {t.mz[i]:.1f}{tail}"


def side_by_side(t: Table, path: Path, seed: int, n: int = 16) -> Path:
    """Random real and random simulated model inputs, same preprocessing and colour scale."""
    from matplotlib.figure import Figure

    from ionmorph.plotting import save_figure

    rng = np.random.default_rng(seed)
    ri = _pick_spread(t, t.real, n, rng, t.dataset)
    si = _pick_spread(t, ~t.real, n, rng, t.group)
    fig = Figure(figsize=(15, 9))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 0.04], wspace=0.08, left=0.02, right=0.93, top=0.86, bottom=0.02)
    im, axes_r = _grid(fig, gs[0], t, ri, [_title(t, i) for i in ri], 4, "real (random, spread over datasets)")
    _, axes_s = _grid(fig, gs[1], t, si, [_title(t, i) for i in si], 4,
                      "simulated (random, spread over family/instrument; title: simulator's apparent class)")
    if im is not None:
        fig.colorbar(im, cax=fig.add_subplot(gs[2]), label="model input: preprocess(size=64), p99 of measured = 1")
    fig.suptitle("Real vs simulated ion images as the model sees them (64 x 64, aspect kept, zero padding; "
                 "unmeasured pixels are 0)")
    out = save_figure(fig, path, overwrite=True)   # the benchmark's own results
    return out


def fold_percentile(t: Table, p: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Per image: the share of its fold's held-out simulated images with a lower p(real) (ties count half).

    Comparable across folds (each fold's model has its own calibration); the mean over a held-out real
    dataset's images is that fold's AUC.
    """
    out = np.full(len(t), np.nan)
    for k in np.unique(fold_of[fold_of >= 0]):
        sel = fold_of == k
        ref = np.sort(p[sel & ~t.real])
        if not len(ref):
            continue
        lo = np.searchsorted(ref, p[sel], side="left")
        hi = np.searchsorted(ref, p[sel], side="right")
        out[sel] = (lo + 0.5 * (hi - lo)) / len(ref)
    return out


def discriminator_figure(t: Table, p: np.ndarray, pct: np.ndarray, path: Path, n: int = 8) -> Path:
    """The CNN's most confidently simulated simulated images, most simulated-looking real ones, most real-looking simulated.

    Ranked by :func:`fold_percentile` (ties by p(real)), so images scored by different folds compare.
    """
    from matplotlib.figure import Figure

    from ionmorph.plotting import save_figure

    ok = np.isfinite(p) & np.isfinite(pct)
    sim = np.flatnonzero(~t.real & ok)
    real = np.flatnonzero(t.real & ok)
    low = lambda idx: idx[np.lexsort((p[idx], pct[idx]))]          # noqa: E731
    rows = [("simulated images it finds most fake (lowest p(real))", low(sim)[:n]),
            ("real images it finds most simulated (lowest p(real))", low(real)[:n]),
            ("simulated images it finds most real (highest p(real))", low(sim)[::-1][:n])]
    fig = Figure(figsize=(15, 11.5))
    gs = fig.add_gridspec(len(rows) + 1, 2, width_ratios=[1, 0.02], height_ratios=[1] * len(rows) + [0.7],
                          hspace=0.6, left=0.04, right=0.93, top=0.88, bottom=0.05)
    im = None
    for r, (title, idx) in enumerate(rows):
        im_r, _ = _grid(fig, gs[r, 0], t, idx, [_title(t, i, p) for i in idx], n, title, title_gap=0.045)
        im = im or im_r
    if im is not None:
        fig.colorbar(im, cax=fig.add_subplot(gs[:len(rows), 1]), label="model input (p99 of measured = 1)")
    ax = fig.add_subplot(gs[len(rows), 0])
    bins = np.linspace(0, 1, 21)
    for d in dict.fromkeys(t.dataset[t.real]):
        sel = t.real & (t.dataset == d) & ok
        ax.hist(pct[sel], bins=bins, histtype="step", density=True, lw=1.5,
                label=f"real: {d} (n={sel.sum()}, mean = fold AUC {np.mean(pct[sel]):.2f})")
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="a perfectly realistic dataset (uniform)")
    ax.set_xlabel("held-out real image: share of its fold's held-out simulated images with lower p(real)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("CNN discriminator (leave one real dataset out): its most confident calls\n"
                 "(ranked by p(real) relative to the fold's held-out simulated images; title p = p(real))")
    return save_figure(fig, path, overwrite=True)


def stats_figure(t: Table, stats: dict[str, Any], path: Path) -> Path:
    """Empirical CDF of each statistic: every real dataset and the simulated pool."""
    from matplotlib.figure import Figure

    from ionmorph.plotting import save_figure

    names = sorted(stats, key=lambda k: -stats[k]["ks"])
    ncols = 5
    nrows = int(np.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(names):]:
        ax.set_axis_off()
    for ax, k in zip(axes, names):
        v = t.stats[k]
        for d in dict.fromkeys(t.dataset[t.real]):
            x = np.sort(v[t.real & (t.dataset == d)])
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", lw=1.4, label=d)
        x = np.sort(v[~t.real])
        ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", lw=2.2, color="k", ls="--", label="simulated")
        med = float(np.median(np.abs(v))) if len(v) else 0.0
        if len(v) and v.max() > 20 * max(med, 1.0):                         # heavy tail: symmetric log axis
            ax.set_xscale("symlog", linthresh=max(med, 1e-3))
        ax.set_title(f"{k} (KS {stats[k]['ks']:.2f})", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("Per-image statistics: empirical CDFs, real datasets vs the simulated pool (sorted by KS)")
    return save_figure(fig, path, overwrite=True)


# ----------------------------------------------------------------------------------------------- report
def to_markdown(res: dict[str, Any]) -> str:
    from ionmorph.picking.image_stats import STATISTICS

    rf, cnn, stats = res["random_forest"], res["cnn"], res["statistics"]
    datasets = list(res["real"]["datasets"])
    tgt = res["targets"]
    yes = lambda ok: "MET" if ok else "NOT MET"   # noqa: E731
    lines = [f"# Realism of the simulator ({res['label']})", "",
             f"Real pool: {res['real']['n_images']} ion images from {len(datasets)} recordings under `{res['real']['root']}` "
             f"({', '.join(d + ' ' + str(v['n_images']) for d, v in res['real']['datasets'].items())}). Simulated pool: "
             f"{res['sim']['n_images']} ion images from {res['sim']['n_sections']} sections "
             f"({res['sim']['sections_per_combination']} per family x instrument; families {', '.join(res['sim']['families'])}; "
             f"instruments {', '.join(res['sim']['instruments'])}; at most {res['sim']['per_section']} candidates per "
             f"section; storage modes cycling {', '.join(res['sim']['modes'])}), through `open_msi` -> `candidate_mz` "
             f"-> `ion_images(ppm=instrument ppm)`.", "",
             "## Headline", "",
             "| measure | AUC real vs simulated | target | |", "|---|---|---|---|",
             f"| random forest on the {len(STATISTICS)} image statistics, 5-fold stratified CV (weighted) | "
             f"{rf['cv5_auc_weighted']} | <= {TARGET_STATS_AUC} | {yes(tgt['stats_met'])} |",
             f"| same, unweighted | {rf['cv5_auc_unweighted']} | | |"]
    lines += [f"| same (weighted), {k} | {v} | | |" for k, v in rf.get("ablation", {}).items()]
    if "lodo_auc_mean" in rf:
        lines.append(f"| random forest, leave one real dataset out (mean) | {rf['lodo_auc_mean']} | | |")
    if cnn.get("auc_mean") is not None:
        lines += [f"| CNN discriminator on the model input, leave one real dataset out (mean) | {cnn['auc_mean']} | "
                  f"<= {TARGET_CNN_AUC} | {yes(tgt['cnn_met'])} |",
                  f"| CNN, pooled out-of-fold (weighted / unweighted) | {cnn['pooled_oof_auc_weighted']} / "
                  f"{cnn['pooled_oof_auc_unweighted']} | | |"]
    else:
        lines.append(f"| CNN discriminator | {cnn.get('skipped')} | | |")
    lines += ["", "AUC 0.5 = indistinguishable, 1.0 = perfectly separable. The 5-fold CV mixes images of the same "
              "recording in training and test, so it also rewards recognising each real recording; the leave-one-out "
              "AUCs ask whether what separates the other real recordings from the simulator transfers to a new one. "
              "With few real recordings a held-out AUC near 0.5 can mean that the held-out recording is as unlike the "
              "other real ones as it is unlike the simulator, not that the simulator matches it: read it beside its "
              "statistics below.", "",
              "Weighted: the real and simulated classes "
              "weigh the same; each real dataset about the same (an image weighs at most "
              f"{MAX_WEIGHT_RATIO:g}x an image of the largest dataset); each family x instrument group the same.", "",
              "Per real dataset (that dataset vs all simulated images):", "",
              "| real dataset | n | RF 5-fold AUC (out-of-fold) | RF held-out AUC | CNN held-out AUC | CNN median p(real) held-out real / sim |",
              "|---|---|---|---|---|---|"]
    for d in datasets:
        f = cnn.get("folds", {}).get(d, {})
        lines.append(f"| {d} | {res['real']['datasets'][d]['n_images']} | {rf['cv5_auc_per_real_dataset'][d]} | "
                     f"{rf.get('lodo_auc', {}).get(d, '-')} | {f.get('auc', '-')} | "
                     f"{f.get('median_p_real_heldout_real', '-')} / {f.get('median_p_real_heldout_sim', '-')} |")
    lines += ["", "## What differs (statistics sorted by KS distance, real pooled vs simulated pooled)", ""]
    lines += [f"- {s}" for s in res["differences"]]
    lines += ["", "## KS distance per statistic", "",
              "| statistic | KS pooled | " + " | ".join(f"KS {d}" for d in datasets) + " | real median: "
              + " / ".join(datasets) + " | sim median (p10-p90) | RF importance |",
              "|---|---|" + "---|" * len(datasets) + "---|---|---|"]
    for k in sorted(stats, key=lambda k: -stats[k]["ks"]):
        s = stats[k]
        lines.append(f"| {k} | {s['ks']:.3f} | " + " | ".join(f"{s['ks_per_dataset'][d]:.3f}" for d in datasets)
                     + " | " + " / ".join(_fmt_stat(k, s["real_per_dataset"][d]) for d in datasets)
                     + f" | {_fmt_stat(k, s['sim'])} ({s['sim']['p10']:.3g}-{s['sim']['p90']:.3g}) | "
                     f"{rf['importance'].get(k, 0):.3f} |")
    insts = list(next(iter(stats.values()))["sim_per_instrument"])
    fams = list(next(iter(stats.values()))["sim_per_family"])
    lines += ["", "`touches_border` is given as the share of images whose bright area touches the raster border.", "",
              "## Simulated medians per instrument and family", "",
              "| statistic | " + " | ".join(insts) + " | " + " | ".join(fams) + " |",
              "|---|" + "---|" * (len(insts) + len(fams))]
    for k in STATISTICS:
        s = stats[k]
        lines.append(f"| {k} | " + " | ".join(_fmt_stat(k, s["sim_per_instrument"][i]) for i in insts) + " | "
                     + " | ".join(_fmt_stat(k, s["sim_per_family"][f]) for f in fams) + " |")
    if cnn.get("folds"):
        lines += ["", "## CNN discriminator", "",
                  f"{cnn['architecture']} ({cnn['n_parameters']:,} parameters), {cnn['epochs']} epochs, AdamW + one-cycle, "
                  "flips/rot90 augmentation, test-time average over the 8 flips/rotations.", "",
                  "| held-out real dataset | AUC | real test | sim test | train | s |", "|---|---|---|---|---|---|"]
        for d, f in cnn["folds"].items():
            lines.append(f"| {d} | {f['auc']} | {f['n_real_test']} | {f['n_sim_test']} | {f['n_train']} | {f['seconds']} |")
        looks = cnn["realness_rank_per_sim_look"]
        lines += ["", "Realness rank of the simulated images (the share of the same fold's held-out simulated images "
                  "the CNN finds less real; 0.5 = an average simulated image, higher = more real-looking) by the "
                  "simulator's apparent class (`none`: no simulated ion within 3 x ppm, a noise or matrix peak; "
                  "`overlapped`: peaks overlap, no label):", "",
                  "| apparent class | " + " | ".join(looks) + " |", "|---|" + "---|" * len(looks),
                  "| images | " + " | ".join(str(v["n"]) for v in looks.values()) + " |",
                  "| realness rank | " + " | ".join(f"{v['rank']:.2f}" for v in looks.values()) + " |",
                  "", "Per family/instrument: the CNN's mean realness rank, and the random forest's mean "
                  "out-of-fold p(real) (5-fold CV):", "", "| group | CNN realness rank | RF p(real) |", "|---|---|---|"]
        for g, v in cnn["realness_rank_per_sim_group"].items():
            lines.append(f"| {g} | {v:.2f} | {rf['mean_p_real_per_sim_group'].get(g, float('nan')):.3f} |")
    rs = res["raster"]
    lines += ["", "## Rasters (not used by the classifiers)", "",
              "| recording | raster H x W | aspect W/H | measured share | measured pixels touch edges (of 4) | images |",
              "|---|---|---|---|---|---|"]
    for d, v in rs["real"].items():
        lines.append(f"| real: {d} | {v['shape'][0]} x {v['shape'][1]} | {v['aspect_w_over_h']} | {v['measured_share']} | "
                     f"{v['measured_touches_edges']} | {v['n_images']} |")
    s = rs["sim"]
    lines += [f"| simulated (median, p10-p90 over {s['n_sections']} sections) | {s['height']['median']:.0f} "
              f"({s['height']['p10']:.0f}-{s['height']['p90']:.0f}) x {s['width']['median']:.0f} "
              f"({s['width']['p10']:.0f}-{s['width']['p90']:.0f}) | {s['aspect_w_over_h']['median']} "
              f"({s['aspect_w_over_h']['p10']}-{s['aspect_w_over_h']['p90']}) | {s['measured_share']['median']} "
              f"({s['measured_share']['p10']}-{s['measured_share']['p90']}); {100 * s['share_with_unmeasured_pixels']:.0f} % "
              "of sections have unmeasured pixels | | |", ""]
    if res["real"]["skipped"]:
        lines += ["Skipped real files: " + "; ".join(f"`{s['file']}` ({s['reason']})" for s in res["real"]["skipped"]), ""]
    lines += ["## Definitions", "",
              "Statistics over the measured pixels of each raw ion image (`ionmorph/picking/image_stats.py`): `morans_i` "
              "(4-neighbour, `ionmorph.picking.baselines.morans_i`), `spatial_chaos` (`ionmorph.picking.baselines.spatial_chaos`, "
              "its score 1 - chaos: high = coherent), `zero_fraction` (share of measured pixels = 0), `cv` (sd / mean), "
              "`dynamic_range` (log10 p99 / p50 of the non-zero values), `top1_energy` (intensity share of the "
              "brightest 1 % of pixels), `roughness` (mean |4-neighbour difference| / mean), `anisotropy` (ln of "
              "vertical / horizontal mean |difference|), `log_skew` (skewness of log1p(x / median non-zero)), "
              "`distinct_share` (distinct non-zero values / non-zero pixels), and on the bright area (Gaussian "
              "sigma 1 px over the measured pixels, above 10 % of the smoothed p99): `tissue_share` (bright / raster "
              "pixels), `border_share` (bright share of the 1-px raster ring), `touches_border` (bright area covers "
              ">= 1 % of that ring), `blob_count` (8-connected bright components of >= 3 px).", "",
              f"Figures: `{res['prefix']}.png` (random real vs simulated model inputs, same scale), "
              f"`{res['prefix']}_discriminator.png` (the CNN's most confident calls and its p(real) histograms), "
              f"`{res['prefix']}_stats.png` (per-statistic CDFs).", "",
              f"Simulator: {res['simulator']}. Total wall time {res['wall_s']:.0f} s (simulation {res['timing']['simulate_s']} s, "
              f"statistics {res['timing']['stats_s']} s, forest {res['timing']['forest_s']} s, CNN {res['timing']['cnn_s']} s). "
              f"Machine: Python {res['machine']['python']}, torch {res['machine']['torch']}, scikit-learn "
              f"{res['machine']['sklearn']}, {res['machine']['cpu']}, {res['machine']['threads']} threads. Reproduce with "
              f"`python benchmarks/realism.py{' --quick' if res['label'] == 'quick' else ''} --out-prefix {res['prefix']}`.", ""]
    return "\n".join(lines)


def _simulator_version() -> str:
    """Git revision and whether ionmorph/synth has uncommitted changes (best effort)."""
    import subprocess

    import ionmorph.synth as synth

    where = Path(synth.__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "."], cwd=where, capture_output=True, text=True,
                               timeout=10)
        if rev.returncode == 0:
            return f"ionmorph.synth at {where} (git {rev.stdout.strip()}" + \
                   (", uncommitted changes)" if dirty.stdout.strip() else ", clean)")
    except (OSError, subprocess.SubprocessError):
        pass
    return f"ionmorph.synth at {where} (not a git checkout)"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import sklearn
    import torch

    from ionmorph.synth import FAMILIES, INSTRUMENT_PRESETS

    quick = args.quick
    n_sections = args.sections or (1 if quick else 2)
    per_section = args.per_section or (12 if quick else 40)
    max_real = args.max_real or (60 if quick else 200)
    epochs = args.epochs or (3 if quick else 12)
    n_trees = 100 if quick else 300
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("default", "binned", "continuous", "processed") for m in modes):
        raise InputError(f"--modes must list some of default, binned, continuous, processed; got {args.modes!r}")
    progress = not args.no_progress
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    real, skipped = find_real(args.root, max_real, args.seed)
    with tempfile.TemporaryDirectory(prefix="ionmorph-realism-") as tmp:
        sim, records = simulate_pool(n_sections, per_section, modes, SIM_SEED + args.seed, Path(tmp), progress)
    t_sim = time.perf_counter()
    stacks = real + sim
    table = build_table(stacks, progress)
    stats = describe_stats(table)
    t_stats = time.perf_counter()
    rf = random_forest(table, args.seed, n_trees, n_jobs=args.threads)
    t_rf = time.perf_counter()
    cnn = discriminator(table, epochs, args.seed, progress)
    t_cnn = time.perf_counter()
    label = "quick" if quick else "full"
    res: dict[str, Any] = {
        "benchmark": "realism", "label": label, "prefix": args.out_prefix, "simulator": _simulator_version() + (f"; {args.note}" if args.note else ""),
        "real": {"root": str(args.root), "min_side": MIN_SIDE, "max_per_dataset": max_real,
                 "n_images": int(table.real.sum()), "skipped": skipped,
                 "datasets": {s.dataset: {"n_images": int(len(s.images)), "shape": list(s.shape), **s.meta}
                              for s in real}},
        "sim": {"n_images": int((~table.real).sum()), "n_sections": len(sim), "sections_per_combination": n_sections,
                "per_section": per_section, "modes": modes, "families": list(FAMILIES),
                "instruments": list(INSTRUMENT_PRESETS), "seed": SIM_SEED + args.seed, "sections": records},
        "statistics": stats, "differences": differences(stats),
        "random_forest": {k: v for k, v in rf.items() if k != "oof_p_real"},
        "cnn": {k: v for k, v in cnn.items() if k not in ("oof_p_real", "fold_percentile")},
        "raster": raster_summary(stacks),
        "weighting": {"rule": "real and simulated classes equal in total; real datasets equal, an image weighing at "
                              f"most {MAX_WEIGHT_RATIO:g}x an image of the largest real dataset; simulated "
                              "family x instrument groups equal", "max_weight_ratio": MAX_WEIGHT_RATIO},
        "targets": {"stats_auc": TARGET_STATS_AUC, "cnn_auc": TARGET_CNN_AUC,
                    "stats_met": bool(rf["cv5_auc_weighted"] is not None and rf["cv5_auc_weighted"] <= TARGET_STATS_AUC),
                    "cnn_met": bool(cnn.get("auc_mean") is not None and cnn["auc_mean"] <= TARGET_CNN_AUC)},
        "timing": {"simulate_s": round(t_sim - t0, 1), "stats_s": round(t_stats - t_sim, 1),
                   "forest_s": round(t_rf - t_stats, 1), "cnn_s": round(t_cnn - t_rf, 1)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn.__version__,
                    "cpu": platform.machine(), "threads": torch.get_num_threads()},
    }
    out = Path(args.out)
    side_by_side(table, out / f"{args.out_prefix}.png", args.seed)
    if "oof_p_real" in cnn:
        discriminator_figure(table, cnn["oof_p_real"], cnn["fold_percentile"],
                             out / f"{args.out_prefix}_discriminator.png")
    stats_figure(table, stats, out / f"{args.out_prefix}_stats.png")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    write_report(out, args.out_prefix, res, to_markdown(res))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 section per family x instrument, 12 images per section, "
                                                        "60 per real dataset, 3 CNN epochs, 100 trees")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="real recordings (default ../shared/realdata)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--out-prefix", default="realism", help="results file name stem (default realism)")
    p.add_argument("--sections", type=int, help="simulated sections per family x instrument (default 2; quick 1)")
    p.add_argument("--per-section", type=int, help="at most this many ion images per simulated section (40; quick 12)")
    p.add_argument("--max-real", type=int, help="at most this many ion images per real dataset (200; quick 60)")
    p.add_argument("--modes", default="default,binned",
                   help="storage modes of the simulated imzML, cycled over a combination's sections")
    p.add_argument("--epochs", type=int, help="CNN epochs per fold (default 12; quick 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads and forest jobs (default 1: fastest on a shared machine)")
    p.add_argument("--note", default="", help="free text added to the report's simulator line (e.g. which revision)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    for name in ("sections", "per_section", "max_real", "epochs", "threads"):
        v = getattr(a, name)
        if v is not None and v < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    res = run(a)
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())

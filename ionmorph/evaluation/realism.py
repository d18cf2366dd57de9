"""Realism of the simulator: real and simulated pools of ion images, their statistics and two judges.

The pieces of ``benchmarks/realism.py`` (which adds the targets, figures and report); each works
on any pool of :class:`Stack` objects, so a test or a notebook can judge a few sections.

Real pool (:func:`find_real`)
    Every real recording of at least :data:`MIN_SIDE` x :data:`MIN_SIDE` pixels under a folder,
    found by file name, one per folder and raster: a continuous imzML (every channel of its m/z
    axis is an ion image; a processed imzML gets mean-spectrum candidates,
    :func:`ionmorph.candidate_mz`, and ppm-window images), else a ``*_cube.npz`` (``intensities``
    (H, W, C)), else a ``*_ion_images.npz`` (``images`` (C, H, W)); ``measured`` (bool (H, W)) is
    the mask where present, an imzML's mask is its measured pixels, otherwise every pixel is
    measured. A cube beside an imzML of the same raster is the same recording and is skipped.
    Smaller recordings (format examples) are skipped by the size rule and listed. At most
    ``max_per_dataset`` images per dataset (a seeded random subset).

Simulated pool (:func:`simulate_pool`)
    For every family (:data:`ionmorph.synth.FAMILIES`) x instrument
    (:data:`ionmorph.synth.INSTRUMENT_PRESETS`, iterated at run time so new presets are included)
    ``n_sections`` sections ``simulate_section(seed, family=..., instrument=...)`` at their default
    (drawn) raster, written to a temporary imzML (storage mode cycling through ``modes``:
    ``default`` = the instrument's default mode, ``binned`` = pre-binned continuous), opened with
    :func:`ionmorph.open_msi`, candidates from ``ionmorph.candidate_mz(data)`` and images from
    ``data.ion_images(mz, ppm=instrument.ppm)``: the path a user's file takes. At most
    ``per_section`` candidates per section (a seeded random subset). Each image carries the
    simulator's apparent class of the nearest simulated ion within 3 x ppm ("none" when no ion is
    that close, i.e. a noise or matrix peak).

Image statistics (:func:`build_table`, :func:`describe_stats`, :func:`random_forest`)
    :func:`ionmorph.picking.image_stats.image_statistics` per ion image over its measured pixels.
    Per statistic the two-sample KS distance real vs simulated (pooled, and for each real dataset
    against the whole simulated pool), and a random forest (scikit-learn, ``min_samples_leaf=2``)
    real vs simulated on all statistics: out-of-fold ROC AUC of a 5-fold stratified CV (seeded),
    plus the leave-one-real-dataset-out AUC on the folds of the discriminator. Raster-level
    properties (:func:`raster_summary`) are reported, not used by the forest: with only a few real
    recordings they would identify each recording rather than judge its images.

Learned discriminator (:func:`discriminator`)
    A small CNN (4 conv blocks, 16-64 channels, global average pooling, ~60k parameters) on the model
    input :func:`ionmorph.models.preprocessing.preprocess` (``PreprocessConfig(size=SIZE)``), real vs
    simulated, trained with random flips and 90-degree rotations, a fixed number of epochs on CPU.
    Leave-one-real-dataset-out: fold k trains on the other real datasets and on the simulated
    sections outside sim fold k (:func:`sim_folds`: sections dealt round-robin into as many folds as
    there are real datasets, so no section is split), and tests on the held-out real dataset against
    the held-out simulated sections. Every image gets one out-of-fold p(real);
    :func:`fold_percentile` turns it into a rank whose mean over the real images is the AUC.

Balancing (:func:`balance_weights`)
    Sample weights in every fit and in the pooled AUCs: the real and the simulated class weigh the
    same in total; within the real class each dataset weighs the same, except that an image never
    weighs more than :data:`MAX_WEIGHT_RATIO` times an image of the largest dataset (a dataset of 3
    images counts as one of ``n_max / MAX_WEIGHT_RATIO``); within the simulated class each
    family x instrument group weighs the same. Unweighted AUCs are given too.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from .realdata import load_npz

#: Smallest raster side of a real recording used here.
MIN_SIDE = 40
#: Cap on the weight of one real image relative to one image of the largest real dataset.
MAX_WEIGHT_RATIO = 10.0
#: Side of the model input.
SIZE = 64


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


def _subset(n: int, cap: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of ``cap`` of ``n`` items (all of them when ``cap`` is None or >= n)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))


def find_real(root: Path, max_per_dataset: int | None, seed: int = 0) -> tuple[list[Stack], list[dict[str, str]]]:
    """The real pool (module docstring) and the skipped files with the reason."""
    from ..io.msi import DEFAULT_PPM, open_msi
    from ..picking.candidates import candidate_mz

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

    from ..io.msi import open_msi
    from ..picking.candidates import candidate_mz
    from ..synth import FAMILIES, INSTRUMENT_PRESETS, simulate_section

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

    from ..models.preprocessing import PreprocessConfig, preprocess
    from ..picking.image_stats import STATISTICS, image_statistics

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


def weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float | None:
    """ROC AUC of scores ``p`` for labels ``y`` with sample weights ``w`` (4 decimals); None with one class only."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return round(float(roc_auc_score(y, p, sample_weight=w)), 4)


def quantiles(v: np.ndarray) -> dict[str, float]:
    """n, mean, 10th percentile, median and 90th percentile of ``v`` (4 decimals); ``{"n": 0}`` when empty."""
    if len(v) == 0:
        return {"n": 0}
    q = np.quantile(v, [0.1, 0.5, 0.9])
    return {"n": int(len(v)), "mean": round(float(v.mean()), 4), "p10": round(float(q[0]), 4),
            "median": round(float(q[1]), 4), "p90": round(float(q[2]), 4)}


def describe_stats(t: Table) -> dict[str, Any]:
    """Per statistic: KS real vs sim (pooled and per real dataset), and quantiles per pool/dataset/instrument/family."""
    from scipy.stats import ks_2samp

    from ..picking.image_stats import STATISTICS

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
               "real": quantiles(r), "sim": quantiles(s),
               "real_per_dataset": {d: quantiles(v[t.dataset == d]) for d in datasets},
               "sim_per_instrument": {i: quantiles(v[inst == i]) for i in dict.fromkeys(inst[~t.real])},
               "sim_per_family": {f: quantiles(v[fam == f]) for f in dict.fromkeys(fam[~t.real])}}
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

    from ..picking.image_stats import STATISTICS

    X, y = t.matrix(STATISTICS), t.real.astype(int)
    w = balance_weights(t.real, t.group)

    def forest() -> RandomForestClassifier:
        return RandomForestClassifier(n_estimators=n_trees, min_samples_leaf=2, random_state=seed, n_jobs=n_jobs)

    oof = np.zeros(len(t))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
        m = forest().fit(X[tr], y[tr], sample_weight=w[tr])
        oof[te] = m.predict_proba(X[te])[:, 1]
    datasets = list(dict.fromkeys(t.dataset[t.real]))
    per_dataset = {d: weighted_auc(y[(t.dataset == d) | ~t.real], oof[(t.dataset == d) | ~t.real],
                           w[(t.dataset == d) | ~t.real]) for d in datasets}
    fam_inst = {g: round(float(np.average(oof[t.group == g])), 4) for g in dict.fromkeys(t.group[~t.real])}
    full = forest().fit(X, y, sample_weight=w)
    imp = dict(sorted(((k, round(float(v), 4)) for k, v in zip(STATISTICS, full.feature_importances_)),
                      key=lambda kv: -kv[1]))

    def cv_auc(cols: Sequence[int]) -> float | None:
        p = np.zeros(len(t))
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            p[te] = forest().fit(X[tr][:, cols], y[tr], sample_weight=w[tr]).predict_proba(X[te][:, cols])[:, 1]
        return weighted_auc(y, p, w)

    top = list(imp)[:n_ablate]
    ablation = {f"without {k}": cv_auc([i for i, s in enumerate(STATISTICS) if s != k]) for k in top}
    if len(top) > 1:
        ablation[f"without {', '.join(top)}"] = cv_auc([i for i, s in enumerate(STATISTICS) if s not in top])
    res = {"cv5_auc_weighted": weighted_auc(y, oof, w), "cv5_auc_unweighted": weighted_auc(y, oof),
           "ablation": ablation,
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
            lodo[d] = weighted_auc(y[test], m.predict_proba(X[test])[:, 1])
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
        folds[d] = {"auc": weighted_auc(t.real[test], p), "n_real_test": int((t.real & test).sum()),
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
            "pooled_oof_auc_weighted": weighted_auc(t.real, oof, w),
            "pooled_oof_auc_unweighted": weighted_auc(t.real, oof),
            "realness_rank_per_sim_look": looks, "realness_rank_per_sim_group": groups, "epochs": epochs,
            "architecture": "4 x (conv3x3-BN-ReLU), 16/32/64/64 channels, max-pool after the first 3, "
                            "global average pool, dropout 0.2, linear",
            "n_parameters": int(sum(p.numel() for p in _cnn().parameters())), "oof_p_real": oof,
            "fold_percentile": pct}


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
        return quantiles(np.asarray(values, dtype=np.float64))

    return {"real": real, "sim": {"n_sections": len(sims), "height": q([r["shape"][0] for r in sims]),
                                  "width": q([r["shape"][1] for r in sims]),
                                  "aspect_w_over_h": q([r["aspect_w_over_h"] for r in sims]),
                                  "measured_share": q([r["measured_share"] for r in sims]),
                                  "share_with_unmeasured_pixels": round(float(np.mean(
                                      [r["measured_share"] < 0.999 for r in sims])), 4)}}

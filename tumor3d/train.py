"""One harness that prepares a cohort, trains every method and scores it by patient-grouped CV.

Steps: :func:`prepare_task` extracts every slide's candidate ion images and TIC once (on-disk
cache) and scores the candidates for each label-free channel-selection method (scores averaged
over slides; IonMorphNet through :func:`ionmorph.pick_peaks` with the default weights);
:func:`run_fold` trains one method (:data:`METHODS`) on the training patients' patches and
predicts every annotated pixel of the test slides (patch level) and the slide calls (slide level,
:func:`tumor3d.slide.slide_call`); :func:`cross_validate` loops over folds; :func:`train_final`
trains the shipped 3D CNN on every slide.

Fair training (the same for every method): one per-pixel normalisation
(:func:`tumor3d.patches.normalise_cube`, TIC); the same folds; the same class-balanced training
patches. Networks draw class-balanced batches, are augmented with flips, rot90 and intensity
jitter, and stop early on inner validation patients taken from the training patients (never the
test fold): the rule follows an exponential moving average of the inner-validation balanced
accuracy (:attr:`TrainConfig.smoothing`; one epoch's BA on two or three patients is noisy), stops
``patience`` epochs after its best and keeps that epoch's weights; the curves (training loss,
validation loss, raw and smoothed validation BA) are recorded. The scikit-learn
baselines need no stopping rule and train on all training patients.

Selections: label-free ``ionmorphnet`` (the method under test: the score ``pick_peaks`` ranks by),
``random``, ``intensity``; ablations ``ionmorphnet-probabilities`` (the class sum of SPEC 5, the rule
before the ranking head), ``ionmorphnet-tissue`` (without the off-sample class), ``ionmorphnet-diverse``
(IonMorphNet scores with a diversity rule, :func:`diverse_channels`) and ``supervised`` (candidates
ranked by the training folds' labels inside the CV, :func:`supervised_scores`).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ionmorph.models.card_metadata import EvalSet, front_matter
from ionmorph.errors import InputError
from ionmorph.labels import DEFAULT_INFORMATIVE
from ionmorph.picking.pick import DEFAULT_MODEL
from ionmorph.picking.reduction import TISSUE_INFORMATIVE, channel_scores, image_similarity, select_channels

from .baselines import PixelClassifier
from .slide import MIN_FRACTION
from .cohort import TASKS, Cohort, crop_to_raster, raster_origin
from .patches import extract_patches, grouped_folds, normalise_cube, sample_centres

#: Channel selections: name -> (ionmorph.picking.reduction method, classes summed into an IonMorphNet score;
#: empty: the score ``pick_peaks`` ranks by by default). ``ionmorphnet`` ranks as ``pick_peaks`` does:
#: by the ``learned`` score of the weights' ranking head (how closely an image is expected to follow
#: one of the section's own spectral segments), or, for weights without a head, by the class sum of
#: SPEC 5; ``ionmorphnet-probabilities`` always by that class sum (the rule before v0.5.0's head, an
#: ablation); ``ionmorphnet-tissue`` leaves out the off-sample ``negative`` class (an ablation: it
#: measured worse).
SELECTION_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ionmorphnet": ("ionmorphnet", ()),
    "ionmorphnet-probabilities": ("ionmorphnet", DEFAULT_INFORMATIVE),
    "ionmorphnet-tissue": ("ionmorphnet", TISSUE_INFORMATIVE),
    "random": ("random", ()),
    "intensity": ("intensity", ()),
}
SELECTIONS = tuple(SELECTION_RULES)
#: Selections computed from others or from the training labels (not scored in :func:`prepare_task`).
DIVERSE, SUPERVISED = "ionmorphnet-diverse", "supervised"
#: Label-free selections built on IonMorphNet's scores: one image per spatial pattern
#: (:func:`cluster_channels`) and a budget spread over IonMorphNet's classes (:func:`class_budget_channels`).
CLUSTERS, CLASS_BUDGET = "ionmorphnet-clusters", "ionmorphnet-classes"
#: Every label-free selection ``tumor3d train --selection`` accepts.
TRAIN_SELECTIONS = (*SELECTIONS, DIVERSE, CLUSTERS, CLASS_BUDGET)
#: Candidates considered by the clustering rule: the top ``POOL_FACTOR * n_channels`` by IonMorphNet score.
POOL_FACTOR = 3
#: Weight of the redundancy penalty of the diversity rule (:func:`diverse_channels`).
DIVERSITY_WEIGHT = 0.5


@dataclass
class SlideData:
    """A prepared slide: normalised candidate cube (L, H, W), annotation and mask."""

    name: str
    patient: str
    cube: np.ndarray
    annotation: np.ndarray
    mask: np.ndarray
    stats: dict = field(default_factory=dict)
    pixel_size_um: float | None = None
    instrument_model: str | None = None


@dataclass
class TaskData:
    """A prepared cohort: slides, candidate m/z, per-method channel scores, ion-image similarity
    (mean over slides) and known markers."""

    task: str
    slides: list[SlideData]
    mz: np.ndarray
    scores: dict[str, np.ndarray]
    ppm: float
    markers: np.ndarray
    similarity: np.ndarray | None = None
    proba: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    instrument: str | None = None

    def channels(self, selection: str, n_channels: int, train_idx: np.ndarray | None = None) -> np.ndarray:
        """Candidate indices chosen by ``selection`` ("all", one of :data:`SELECTIONS`, :data:`DIVERSE`
        or :data:`SUPERVISED`, which ranks by the labels of the slides ``train_idx`` only);
        near-duplicate images (isotopes, adducts) are passed over
        (:func:`ionmorph.picking.reduction.select_channels`)."""
        if selection == "all":
            return np.arange(len(self.mz))
        if selection == DIVERSE:
            return diverse_channels(self.scores["ionmorphnet"], self.mz, n_channels, self.similarity)
        if selection == CLUSTERS:
            return cluster_channels(self.scores["ionmorphnet"], self.mz, n_channels, self.similarity)
        if selection == CLASS_BUDGET:
            if self.proba is None:
                raise InputError("the class-budget selection needs IonMorphNet's class probabilities")
            return class_budget_channels(self.scores["ionmorphnet"], self.proba, self.classes, self.mz, n_channels,
                                         self.similarity)
        if selection == SUPERVISED:
            if train_idx is None:
                raise InputError("the supervised selection needs the training slides")
            scores = supervised_scores([self.slides[i] for i in train_idx])
            return select_channels(scores, self.mz, n_channels, self.similarity)
        return select_channels(self.scores[selection], self.mz, n_channels, self.similarity)


def supervised_scores(slides: list[SlideData]) -> np.ndarray:
    """|standardised mean difference| of every candidate between tumour and healthy pixels of ``slides``."""
    tum = np.concatenate([s.cube[:, s.annotation == 2] for s in slides], axis=1)
    hea = np.concatenate([s.cube[:, s.annotation == 1] for s in slides], axis=1)
    if not tum.size or not hea.size:
        raise InputError("the supervised selection needs tumour and healthy pixels in the training slides")
    pooled = np.sqrt(0.5 * (tum.var(axis=1) + hea.var(axis=1))) + 1e-6
    return np.abs(tum.mean(axis=1) - hea.mean(axis=1)) / pooled


def diverse_channels(scores: np.ndarray, mz: np.ndarray, n_channels: int,
                     similarity: np.ndarray | None, weight: float = DIVERSITY_WEIGHT) -> np.ndarray:
    """IonMorphNet scores with a diversity rule: greedy maximal marginal relevance.

    Each step keeps the candidate maximising ``score - weight * max |corr|`` with the channels kept
    so far, so that many images of one spatial pattern (e.g. every off-sample matrix ion) do not
    fill the selection. Ascending m/z order, as :func:`ionmorph.picking.reduction.select_channels`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = min(int(n_channels), len(scores))
    if similarity is None:
        return select_channels(scores, mz, n)
    sim = np.abs(np.asarray(similarity))
    kept = [int(np.argmax(scores))]
    redundancy = sim[kept[0]].copy()
    while len(kept) < n:
        gain = scores - weight * redundancy
        gain[kept] = -np.inf
        j = int(np.argmax(gain))
        kept.append(j)
        redundancy = np.maximum(redundancy, sim[j])
    keep = np.asarray(kept, dtype=np.int64)
    return keep[np.argsort(np.asarray(mz)[keep], kind="stable")]


def cluster_channels(scores: np.ndarray, mz: np.ndarray, n_channels: int, similarity: np.ndarray | None,
                     pool_factor: int = POOL_FACTOR) -> np.ndarray:
    """One image per distinct spatial pattern: the ``pool_factor * n_channels`` best-scored
    candidates are clustered into ``n_channels`` groups by their ion-image similarity (average
    linkage on 1 - |corr|) and each group contributes its best-scored image. Ascending m/z."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    scores = np.asarray(scores, dtype=np.float64)
    n = min(int(n_channels), len(scores))
    if similarity is None or n < 2:
        return select_channels(scores, mz, n)
    pool = np.argsort(-scores, kind="stable")[:max(n, pool_factor * n)]
    dist = 1.0 - np.abs(np.asarray(similarity)[np.ix_(pool, pool)])
    np.fill_diagonal(dist, 0.0)
    labels = fcluster(linkage(squareform(np.clip((dist + dist.T) / 2, 0, None), checks=False), "average"),
                      n, criterion="maxclust")
    keep = [pool[labels == c][np.argmax(scores[pool[labels == c]])] for c in np.unique(labels)]
    if len(keep) < n:                       # fewer clusters than asked: fill with the best remaining
        rest = [i for i in pool if i not in set(keep)]
        keep += rest[:n - len(keep)]
    keep = np.asarray(keep, dtype=np.int64)
    return keep[np.argsort(np.asarray(mz)[keep], kind="stable")]


def class_budget_channels(scores: np.ndarray, proba: np.ndarray, classes: tuple[str, ...], mz: np.ndarray,
                          n_channels: int, similarity: np.ndarray | None,
                          informative: tuple[str, ...] = DEFAULT_INFORMATIVE) -> np.ndarray:
    """A budget spread over IonMorphNet's informative classes: each candidate goes to its most
    probable class; the classes take turns (round robin, best-scored first) until ``n_channels`` are
    chosen, so that one class (e.g. off-sample ``negative`` images) cannot fill the selection;
    near-duplicates are passed over as in :func:`ionmorph.picking.reduction.select_channels`."""
    scores, proba = np.asarray(scores, dtype=np.float64), np.asarray(proba)
    n = min(int(n_channels), len(scores))
    top = np.asarray(classes)[proba.argmax(axis=1)]
    queues = [list(np.flatnonzero(top == c)[np.argsort(-scores[top == c], kind="stable")]) for c in informative]
    queues.append(list(np.flatnonzero(~np.isin(top, informative))[np.argsort(-scores[~np.isin(top, informative)],
                                                                                kind="stable")]))
    order: list[int] = []
    while any(queues):
        for q in queues:
            if q:
                order.append(int(q.pop(0)))
    rank = np.empty(len(scores))
    rank[order] = np.arange(len(order), 0, -1)      # round-robin order as a score
    return select_channels(rank, mz, n, similarity)


@dataclass(frozen=True)
class TrainConfig:
    """Training and sampling settings shared by every method.

    ``widths`` are the feature maps per block of every network and ``pool_mz`` whether its blocks
    pool along m/z (:class:`tumor3d.model.Tumor3DConfig`); ``score_stride`` the step of the grid of
    test pixels that are predicted and scored (:func:`tumor3d.slide.score_grid`; 1 = every
    annotated pixel), the same for every method. ``smoothing`` is the weight of the newest epoch in
    the moving average of the inner-validation balanced accuracy that early stopping follows
    (1 = the raw, noisy value); ``patience`` counts epochs after the best smoothed value.
    """

    n_channels: int = 24
    patch: int = 9
    stride: int = 2
    max_per_class: int = 150
    epochs: int = 60
    patience: int = 10
    smoothing: float = 0.3
    val_share: float = 0.25
    jitter: float = 0.1
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 2
    widths: tuple[int, ...] = (16, 32, 64)
    pool_mz: bool = True
    score_stride: int = 1


@dataclass(frozen=True)
class MethodSpec:
    """A method of the comparison: channel selection, patch side and classifier."""

    name: str
    selection: str
    classifier: str        # "3d", "2d" (Tumor3DNet kinds), "logreg" or "forest"
    spectral_only: bool = False
    average: bool = False  # pixel classifiers: the spectrum averaged over the p x p neighbourhood


METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("3d-cnn/ionmorphnet", "ionmorphnet", "3d"),
    MethodSpec("3d-cnn/ionmorphnet-probabilities", "ionmorphnet-probabilities", "3d"),
    MethodSpec("3d-cnn/ionmorphnet-diverse", DIVERSE, "3d"),
    MethodSpec("3d-cnn/ionmorphnet-clusters", CLUSTERS, "3d"),
    MethodSpec("3d-cnn/ionmorphnet-classes", CLASS_BUDGET, "3d"),
    MethodSpec("3d-cnn/supervised", SUPERVISED, "3d"),
    MethodSpec("3d-cnn/random", "random", "3d"),
    MethodSpec("3d-cnn/intensity", "intensity", "3d"),
    MethodSpec("spectral-only (p=1)/ionmorphnet", "ionmorphnet", "3d", spectral_only=True),
    MethodSpec("spatial-only 2d-cnn/ionmorphnet", "ionmorphnet", "2d"),
    MethodSpec("pixel logreg/all", "all", "logreg", spectral_only=True),
    MethodSpec("pixel forest/all", "all", "forest", spectral_only=True),
    MethodSpec("pixel 1d-cnn/all", "all", "3d", spectral_only=True),
    MethodSpec("pixel logreg/all, p x p mean", "all", "logreg", average=True),
    MethodSpec("pixel forest/all, p x p mean", "all", "forest", average=True),
    MethodSpec("pixel forest/ionmorphnet", "ionmorphnet", "forest", spectral_only=True),
)
#: The pixel-wise classifiers (the baselines the 3D CNN has to beat); ``pixel forest/ionmorphnet`` reads
#: only the 3D CNN's channels (how much of a gap to the full spectra is the channel choice).
PIXEL_METHODS = tuple(m.name for m in METHODS if m.name.startswith("pixel "))


def ionmorphnet_provenance(model: Any = DEFAULT_MODEL) -> dict[str, Any]:
    """Which IonMorphNet weights ``model`` (name, folder or loaded network) is: name, folder, version
    and sha256 of the safetensors, and the score the ``ionmorphnet`` selection ranks by
    (:func:`default_net_score`): what results and cards record."""
    import json

    from ionmorph.models.hub import resolve_weights, sha256_file

    if not isinstance(model, (str, os.PathLike)):
        return {"name": type(model).__name__, "version": getattr(model, "version", None),
                "score": default_net_score(model)}
    found = resolve_weights(model)
    config = json.loads((found.folder / "config.json").read_text(encoding="utf-8"))
    return {"name": str(model), "folder": str(found.folder), "source": found.source,
            "version": config.get("ionmorph", {}).get("version"),
            "sha256": sha256_file(found.folder / "model.safetensors"), "score": default_net_score(model)}


def prepare_task(cohort: Cohort, *, cache_dir: str | os.PathLike, model: Any = DEFAULT_MODEL,
                 candidates: np.ndarray | None = None, selections: tuple[str, ...] = SELECTIONS,
                 seed: int = 0, progress: bool = False) -> TaskData:
    """Extract, cache and score the candidates of every slide of ``cohort``.

    Candidates default to the union over slides of :func:`ionmorph.picking.candidates.candidate_mz`,
    merged within the cohort's ppm. Channel scores are label-free and averaged over slides.
    """
    from tqdm.auto import tqdm

    from .slide import acquisition_info, channel_stats

    if candidates is None:
        candidates = cohort_candidates(cohort, progress=progress)
    mz = np.asarray(candidates, dtype=np.float64)
    slides, sums = [], {s: np.zeros(len(mz)) for s in selections}
    similarity = np.zeros((len(mz), len(mz)))
    net = [s for s in selections if SELECTION_RULES[s][0] == "ionmorphnet"]
    proba, classes, score = None, (), default_net_score(model) if net else None
    for slide in tqdm(cohort.slides, desc=f"prepare {cohort.task}", disable=not progress):
        raw, tic, mask, origin = _cached_images(slide.imzml, mz, cohort.ppm, Path(cache_dir))
        ann = crop_to_raster(slide.annotation(), mask.shape, origin, slide.mask)
        if net:      # one IonMorphNet pass per slide serves every IonMorphNet-based rule
            from ionmorph.picking.pick import pick_peaks

            res = pick_peaks(raw, mz=mz, mask=mask, model=model, informative=DEFAULT_INFORMATIVE, progress=False,
                             score=score)
            classes = tuple(res.classes)
            proba = res.proba.astype(np.float64) if proba is None else proba + res.proba
            for s in net:
                rule = SELECTION_RULES[s][1]
                sums[s] += res.proba[:, [classes.index(c) for c in rule]].sum(axis=1) if rule else res.score
        for s in selections:
            if s not in net:
                sums[s] += channel_scores(raw, mz, mask, SELECTION_RULES[s][0], model=model, seed=seed)
        similarity += image_similarity(raw, mask)
        info = acquisition_info(slide.imzml)
        size = None if info is None or info.pixel_size_um is None else float(max(info.pixel_size_um))
        slides.append(SlideData(slide.name, slide.patient, normalise_cube(raw, tic, mask), ann * mask, mask,
                                channel_stats(raw, mask), size, None if info is None else info.instrument))
    n = max(len(slides), 1)
    instrument = TASKS[cohort.task].instrument if cohort.task in TASKS else cohort.meta.get("instrument")
    return TaskData(cohort.task, slides, mz, {s: v / n for s, v in sums.items()}, cohort.ppm, cohort.markers,
                    similarity / n, None if proba is None else proba / n, classes, instrument)


def default_net_score(model: Any = DEFAULT_MODEL) -> str:
    """The ``pick_peaks`` score the ``ionmorphnet`` selection ranks by: ``learned`` when the weights
    carry a ranking head, else ``classes`` (the class sum of SPEC 5, one inference; not the slower
    five-view fallback ``pick_peaks`` would take)."""
    from ionmorph.models.inference import get_classifier
    from ionmorph.picking.pick import HEAD_SCORE

    return HEAD_SCORE if getattr(get_classifier(model).model, "ranking_head", None) is not None else "classes"


def cohort_candidates(cohort: Cohort, min_share: float = 0.5, progress: bool = False) -> np.ndarray:
    """Candidate m/z shared by the cohort's slides (float64, ascending).

    Every slide's :func:`ionmorph.picking.candidates.candidate_mz` are pooled and merged within the
    cohort's ppm; a merged m/z is kept when at least ``min_share`` of the slides have a candidate
    within ppm of it (real ions recur in every slide, noise peaks do not).
    """
    from tqdm.auto import tqdm

    from ionmorph.picking.candidates import candidate_mz, merge_within_ppm
    from ionmorph.io.msi import open_msi

    lists = [candidate_mz(open_msi(s.imzml)) for s in tqdm(cohort.slides, desc="candidates", disable=not progress)]
    pooled = np.sort(np.concatenate(lists))
    merged, _ = merge_within_ppm(pooled, np.ones_like(pooled), cohort.ppm)
    tol = merged * cohort.ppm * 1e-6
    support = sum((np.searchsorted(found, merged + tol, "right") - np.searchsorted(found, merged - tol, "left")) > 0
                  for found in lists)
    return merged[support >= min_share * len(lists)]


def _cached_images(imzml: Path, mz: np.ndarray, ppm: float, cache_dir: Path) -> tuple[np.ndarray, ...]:
    """(ion images (L, H, W), TIC (H, W), mask (H, W), raster origin) of a slide, from or into the cache."""
    from ionmorph.fileio import atomic_path
    from ionmorph.io.msi import open_msi

    stat = imzml.stat()
    key = hashlib.sha256(f"{imzml.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{ppm}".encode()
                         + mz.tobytes()).hexdigest()[:16]
    path = cache_dir / f"{imzml.stem}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return z["images"], z["tic"], z["mask"], tuple(z["origin"])
    msi = open_msi(imzml)
    images, tic, origin = msi.ion_images(mz, ppm=ppm), msi.tic_image(), raster_origin(msi)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, images=images, tic=tic, mask=msi.mask, origin=np.asarray(origin))
    return images, tic, msi.mask, origin


# ------------------------------------------------------------------ classifiers
class NetClassifier:
    """Trains a :class:`tumor3d.model.Tumor3DNet` on patches (module docstring: balanced batches,
    augmentation, early stopping on validation patches; ``history`` holds the curves)."""

    def __init__(self, config: Any, train: TrainConfig, progress: bool = False) -> None:
        from .model import Tumor3DNet

        self.train_config, self.progress = train, progress
        self.model = Tumor3DNet(config)
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_ba": [], "val_ba_smooth": []}
        self.best_epoch = 0

    def fit(self, patches: np.ndarray, labels: np.ndarray,
            val: tuple[np.ndarray, np.ndarray] | None = None) -> "NetClassifier":
        """Train up to ``epochs`` epochs; with ``val`` keep the epoch of the best smoothed validation
        balanced accuracy and stop ``patience`` epochs after it (module docstring; else train every epoch)."""
        import copy

        import torch
        from sklearn.metrics import balanced_accuracy_score
        from tqdm.auto import trange

        cfg = self.train_config
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        x = torch.from_numpy(patches).unsqueeze(1)
        y = torch.from_numpy(labels.astype(np.int64))
        self.model.set_input_stats(x)
        counts = np.bincount(labels, minlength=len(self.model.config.classes)).astype(np.float64)
        weights = torch.tensor(1.0 / np.maximum(counts, 1)[labels], dtype=torch.float64)
        opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        per_epoch = max(1, len(x) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * per_epoch)
        gen = torch.Generator().manual_seed(cfg.seed)
        best, best_state, smooth = -1.0, None, None
        for epoch in trange(cfg.epochs, desc="train", disable=not self.progress):
            self.model.train()
            idx = torch.multinomial(weights, per_epoch * cfg.batch_size, replacement=True, generator=gen)
            losses = []
            for batch in idx.split(cfg.batch_size):
                xb = augment(x[batch], gen, cfg.jitter)
                loss = torch.nn.functional.cross_entropy(self.model(xb), y[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
            self.history["train_loss"].append(float(np.mean(losses)))
            if val is None:
                continue
            prob = self.predict_proba(val[0])
            score = float(balanced_accuracy_score(val[1], prob.argmax(axis=1)))
            smooth = score if smooth is None else cfg.smoothing * score + (1 - cfg.smoothing) * smooth
            self.history["val_ba"].append(score)
            self.history["val_ba_smooth"].append(smooth)
            self.history["val_loss"].append(balanced_log_loss(val[1], prob))
            if smooth > best:
                best, best_state, self.best_epoch = smooth, copy.deepcopy(self.model.state_dict()), epoch
            elif epoch - self.best_epoch >= cfg.patience:
                break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()
        return self

    def predict_proba(self, patches: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_classes)."""
        import torch

        return self.model.predict_proba(torch.from_numpy(patches).unsqueeze(1)).numpy()


def balanced_log_loss(labels: np.ndarray, prob: np.ndarray) -> float:
    """Cross-entropy averaged per class, then over the classes present (a class-balanced loss)."""
    nll = -np.log(np.clip(prob[np.arange(len(labels)), labels], 1e-7, None))
    return float(np.mean([nll[labels == c].mean() for c in np.unique(labels)]))


def augment(x: Any, gen: Any, jitter: float = 0.0) -> Any:
    """Class-preserving augmentation of a batch (N, 1, C, p, p): a random flip / rot90 (one of the 8
    symmetries of the square) and, with ``jitter``, per-sample per-channel intensity jitter
    (added to the log1p-normalised intensities: a multiplicative change of about ``jitter``)."""
    import torch

    flips = torch.rand(3, generator=gen) < 0.5
    if flips[0]:
        x = x.flip(-1)
    if flips[1]:
        x = x.flip(-2)
    if flips[2]:
        x = torch.rot90(x, 1, dims=(-2, -1))
    if jitter > 0:
        x = x + jitter * torch.randn(*x.shape[:3], 1, 1, generator=gen) * (x > 0)
    return x


def make_classifier(spec: MethodSpec, channels: np.ndarray, mz: np.ndarray, ppm: float,
                    train: TrainConfig, classes: tuple[str, ...], progress: bool = False) -> Any:
    """The untrained classifier of ``spec`` for the given channels."""
    from .model import Tumor3DConfig

    if spec.classifier in ("logreg", "forest"):
        return PixelClassifier(spec.classifier, seed=train.seed, n_jobs=train.threads, average=spec.average)
    config = Tumor3DConfig(n_channels=len(channels), patch=1 if spec.spectral_only else train.patch,
                           classes=classes, kind=spec.classifier, mz=tuple(float(m) for m in mz[channels]),
                           ppm=ppm, widths=tuple(train.widths), pool_mz=train.pool_mz)
    return NetClassifier(config, train, progress)


# ------------------------------------------------------------------ evaluation
@dataclass
class FoldResult:
    """Predictions of one method on one fold's test slides."""

    method: str
    fold: int
    y_true: np.ndarray
    y_prob: np.ndarray
    slide_true: np.ndarray
    slide_call: np.ndarray
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    classifier: Any = None
    channels: np.ndarray | None = None
    seconds: float = 0.0
    slide_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    slide_small: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def patch_balanced_accuracy(self) -> float:
        """Balanced accuracy over the scored test pixels (a patch centred on each; TrainConfig.score_stride)."""
        from sklearn.metrics import balanced_accuracy_score

        return float(balanced_accuracy_score(self.y_true, self.y_prob.argmax(axis=1)))

    def slide_balanced_accuracy(self) -> float:
        """Balanced accuracy of the slide calls (tumour-bearing vs tumour-free)."""
        from sklearn.metrics import balanced_accuracy_score

        if len(np.unique(self.slide_true)) < 2:
            return float(np.mean(self.slide_true == self.slide_call))
        return float(balanced_accuracy_score(self.slide_true, self.slide_call))


def training_patches(slides: list[SlideData], channels: np.ndarray, patch: int, train: TrainConfig,
                     classes: tuple[int, ...] = (1, 2)) -> tuple[np.ndarray, np.ndarray]:
    """Balanced training patches (N, C, p, p) and labels of ``slides`` (stride grid, seeded)."""
    xs, ys = [], []
    for i, s in enumerate(slides):
        centres, labels = sample_centres(s.annotation, train.stride, classes=classes, balance=True,
                                         max_per_class=train.max_per_class, seed=train.seed + i)
        xs.append(extract_patches(s.cube, centres, patch, channels))
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def inner_split(data: TaskData, train_idx: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inner training, inner validation) slides of ``train_idx``: ``share`` of its patients (at least
    one) held out for early stopping; the test fold is never seen."""
    patients = np.unique([data.slides[i].patient for i in train_idx])
    if len(patients) < 2:
        return np.asarray(train_idx), np.zeros(0, dtype=np.int64)
    n_val = min(len(patients) - 1, max(1, int(round(share * len(patients)))))
    val = set(np.random.default_rng(seed).permutation(patients)[:n_val].tolist())
    is_val = np.array([data.slides[i].patient in val for i in train_idx])
    return np.asarray(train_idx)[~is_val], np.asarray(train_idx)[is_val]


def fit_network(clf: NetClassifier, data: TaskData, train_idx: np.ndarray, channels: np.ndarray, patch: int,
                train: TrainConfig, seed: int) -> NetClassifier:
    """Fit a network on the slides ``train_idx``, stopping early on inner validation patients among
    them (:func:`inner_split` with ``seed``); the one training rule of every network."""
    inner, val = inner_split(data, train_idx, train.val_share, seed)
    x, y = training_patches([data.slides[i] for i in inner], channels, patch, train)
    xv = training_patches([data.slides[i] for i in val], channels, patch, train) if len(val) else None
    return clf.fit(x, y, xv)


def run_fold(data: TaskData, spec: MethodSpec, train_idx: np.ndarray, test_idx: np.ndarray,
             train: TrainConfig, fold: int = 0, progress: bool = False) -> FoldResult:
    """Train ``spec`` on the slides ``train_idx`` and score it on the slides ``test_idx``.

    Networks stop early on inner validation patients of ``train_idx``; the supervised selection
    ranks candidates by the labels of ``train_idx`` only.
    """
    import time

    from .slide import SMALL_LESION, predict_map, score_grid, slide_score, slide_truth, tumour_share

    t0 = time.perf_counter()
    channels = data.channels(spec.selection, train.n_channels, train_idx)
    patch = 1 if spec.spectral_only else train.patch
    classes = ("healthy", "tumour")
    clf = make_classifier(spec, channels, data.mz, data.ppm, train, classes, progress)
    if isinstance(clf, NetClassifier):
        fit_network(clf, data, train_idx, channels, patch, train, train.seed + fold)
    else:
        clf.fit(*training_patches([data.slides[i] for i in train_idx], channels, patch, train))
    y_true, y_prob, s_true, s_score, s_small, maps = [], [], [], [], [], {}
    for i in test_idx:
        s = data.slides[i]
        region = s.annotation > 0
        prob = predict_map(clf.predict_proba, s.cube, region, patch, channels, stride=train.score_stride)
        keep = score_grid(region, train.score_stride)
        y_true.append(s.annotation[keep] - 1)
        y_prob.append(np.stack([1 - prob[keep], prob[keep]], axis=1))
        s_true.append(slide_truth(s.annotation))
        s_score.append(slide_score(prob, region))
        s_small.append(tumour_share(s.annotation) < SMALL_LESION)
        maps[s.name] = prob
    return FoldResult(spec.name, fold, np.concatenate(y_true), np.concatenate(y_prob),
                      np.array(s_true), np.array(s_score) >= MIN_FRACTION, maps, clf, channels,
                      time.perf_counter() - t0, np.array(s_score), np.array(s_small) & np.array(s_true))


def cross_validate(data: TaskData, methods: tuple[MethodSpec, ...] = METHODS, *, k: int = 4,
                   train: TrainConfig = TrainConfig(), progress: bool = False,
                   on_result: Callable[[FoldResult], None] | None = None,
                   run: int | None = None) -> list[FoldResult]:
    """Patient-grouped k-fold CV of every method; ``on_result`` sees each fold result; ``run``: only
    the first ``run`` of the k folds (timing runs)."""
    results = []
    folds = grouped_folds([s.patient for s in data.slides], k, seed=train.seed)
    for f, (tr, te) in enumerate(folds[:run]):
        for spec in methods:
            res = run_fold(data, spec, tr, te, train, fold=f, progress=progress)
            if on_result is not None:
                on_result(res)
            results.append(res)
    return results


def summarise(results: list[FoldResult]) -> dict[str, Any]:
    """Mean and sd over folds of the patch- and slide-level balanced accuracy (one method; slide level
    under the default rule), the slide-level ROC of the pooled held-out scores and the calibrated
    operating point (:func:`slide_level`)."""
    patch = [r.patch_balanced_accuracy() for r in results]
    slide = [r.slide_balanced_accuracy() for r in results]
    return {"patch_ba_mean": float(np.mean(patch)), "patch_ba_sd": float(np.std(patch)),
            "slide_ba_mean": float(np.mean(slide)), "slide_ba_sd": float(np.std(slide)),
            "patch_ba_folds": patch, "slide_ba_folds": slide,
            "seconds_per_fold": float(np.mean([r.seconds for r in results])), **slide_level(results)}


def slide_level(results: list[FoldResult], target_fpr: float | None = None) -> dict[str, Any]:
    """Slide-level numbers of one method's CV (held-out patients only).

    ``roc``: the ROC of every held-out slide score (pooled over folds). ``rule``: the slide rule
    calibrated on all of them (what a model trained on the whole cohort ships with,
    :func:`tumor3d.slide.calibrate_rule`). ``operating_point``: an honest estimate of that rule's
    error rates: each fold's slides are called with the threshold calibrated on the other folds'
    held-out slides only (false-positive rate on tumour-free slides, sensitivity to all and to
    small-lesion slides, share too close to call, balanced accuracy).
    """
    from .slide import TARGET_FPR, calibrate_rule, operating_point, roc

    target = TARGET_FPR if target_fpr is None else target_fpr
    scores = np.concatenate([r.slide_score for r in results])
    truth = np.concatenate([r.slide_true for r in results])
    small = np.concatenate([r.slide_small for r in results])
    out: dict[str, Any] = {"roc": roc(scores, truth)}
    if truth.all() or not truth.any():
        return out
    out["rule"] = calibrate_rule(scores, truth, small, target).as_dict()
    calls = []
    for r in results:
        other = [o for o in results if o.fold != r.fold]
        o_truth = np.concatenate([o.slide_true for o in other]) if other else np.zeros(0, dtype=bool)
        if not other or o_truth.all() or not o_truth.any():
            return out
        rule = calibrate_rule(np.concatenate([o.slide_score for o in other]), o_truth,
                              np.concatenate([o.slide_small for o in other]), target)
        calls += [rule.call(v) for v in r.slide_score]
    out["operating_point"] = operating_point(np.array(calls), truth, small)
    return out


def train_final(data: TaskData, train: TrainConfig = TrainConfig(), selection: str = "ionmorphnet",
                progress: bool = False) -> Any:
    """Train the 3D CNN on ``selection`` channels of every slide, stopping early on inner validation
    patients as in the CV (:func:`fit_network`); returns the Tumor3DNet."""
    from .slide import domain_record

    spec = MethodSpec(f"3d-cnn/{selection}", selection, "3d")
    channels = data.channels(selection, train.n_channels)
    clf = make_classifier(spec, channels, data.mz, data.ppm, train, ("healthy", "tumour"), progress)
    model = fit_network(clf, data, np.arange(len(data.slides)), channels, train.patch, train, train.seed).model
    if all(s.stats for s in data.slides):
        model.config.domain = domain_record([s.stats for s in data.slides], channels, instrument=data.instrument,
                                            pixel_sizes=[s.pixel_size_um for s in data.slides],
                                            instrument_models=[s.instrument_model for s in data.slides],
                                            ppm=data.ppm, normalisation=model.config.normalisation)
    return model


def model_card(model: Any, task: str, data: TaskData, cv: dict[str, Any] | None = None,
               train: TrainConfig | None = None, selection: str = "ionmorphnet", ionmorphnet: str | None = None,
               net_score: str | None = None) -> str:
    """A README.md model card for a trained Tumor3DNet: training data, architecture and training rule
    (with ``train``, the config it was trained with), channels (``selection``, with the IonMorphNet
    weights ``ionmorphnet`` and the ``pick_peaks`` score ``net_score`` that ranked them), held-out
    numbers, slide rule and training domain."""
    from .slide import SlideRule
    cfg = model.config
    n_pat = len({s.patient for s in data.slides})
    simulated = task in TASKS
    dataset_id = f"ionmorph-synth-{task}" if simulated else task
    cohort = f"{'simulated ' if simulated else ''}{task} cohort ({len(data.slides)} slides, {n_pat} patients)"
    results = [EvalSet(f"{cohort}, {level} level, patient-grouped cross-validation",
                       {"balanced_accuracy": cv[f"{level}_ba_mean"]}, dataset_id, split="cross-validation")
               for level in ("patch", "slide")] if cv else []
    lines = [front_matter(model_name=f"tumor3d-{task}",
                          task_name=f"MSI patch classification ({' / '.join(cfg.classes)})",
                          tags=["mass-spectrometry-imaging", "tumour-classification", "3d-cnn", "tumor3d"],
                          datasets=[dataset_id], results=results, repo_id=f"ionmorph/tumor3d-{task}"), "",
             f"# Tumor3DNet ({task})", "",
             f"A compact 3D CNN ({model.n_parameters():,} parameters) classifying {cfg.patch} x {cfg.patch} x "
             f"{cfg.n_channels} patches of an MSI slide as {' / '.join(cfg.classes)}.", "",
             "## Training data",
             f"{len(data.slides)} slides of {n_pat} patients (task `{task}`), every annotated slide; "
             f"{cfg.n_channels} ion images chosen by the label-free selection `{selection}` on IonMorphNet"
             f"{f' `{net_score}`' if net_score else ''} scores"
             f"{f' (weights `{ionmorphnet}`)' if ionmorphnet else ''} among {len(data.mz)} candidates, "
             f"windows of +/- {cfg.ppm:g} ppm; intensities `{cfg.normalisation}`.", "",
             "## Architecture and training",
             f"{len(cfg.widths)} blocks of {'-'.join(map(str, cfg.widths))} feature maps (Conv3d, batch norm, ReLU, "
             f"max-pooling {'along m/z and space' if cfg.pool_mz else 'along space only'}), head of {cfg.hidden} "
             f"units, dropout {cfg.dropout:g}."]
    if train is not None:
        lines += [f"At most {train.max_per_class} class-balanced patches per class and slide (grid step "
                  f"{train.stride}), class-balanced batches of {train.batch_size}, flips / rot90 / intensity jitter "
                  f"{train.jitter:g}, AdamW lr {train.lr:g} (cosine), at most {train.epochs} epochs; "
                  f"{train.val_share:.0%} of the patients held out for early stopping on the moving average "
                  f"(weight {train.smoothing:g}) of their balanced accuracy (patience {train.patience}), the best "
                  "epoch kept."]
    lines += ["", "## Evaluation (patient-grouped cross-validation, held-out patients)"]
    if cv:
        lines += ["| level | balanced accuracy (mean +/- sd over folds) |", "|---|---|",
                  f"| patch | {cv['patch_ba_mean']:.3f} +/- {cv['patch_ba_sd']:.3f} |",
                  f"| slide | {cv['slide_ba_mean']:.3f} +/- {cv['slide_ba_sd']:.3f} |",
                  "", f"{len(cv['patch_ba_folds'])} folds, grouped by patient; the slide row uses the default "
                  "rule (1 % of the region); the calibrated rule below replaces it."]
        op, roc = cv.get("operating_point"), cv.get("roc", {})
        if op:
            lines += ["", f"Slide-level ROC of the held-out slides: AUC {roc['auc']:.3f}. Calibrated operating point, "
                      "each fold called with the threshold calibrated on the other folds' held-out slides:", "",
                      "| false tumour calls on tumour-free slides | sensitivity (all tumour-bearing) | "
                      "sensitivity (small lesions, 2-5 %) | too close to call | slide balanced accuracy |",
                      "|---|---|---|---|---|",
                      f"| {op['fpr']:.3f} | {op['sensitivity']:.3f} | {op['sensitivity_small']:.3f} | "
                      f"{op['too_close']:.3f} | {op['balanced_accuracy']:.3f} |"]
    else:
        lines.append("Not evaluated.")
    rule = SlideRule.from_config(cfg)
    lines += ["", "## Slide rule", rule.text() + "."]
    if rule.calibration:
        c = rule.calibration
        lines += [f"On the {c['n_free'] + c['n_tumour']} held-out slides it was calibrated on: false tumour calls "
                  f"{c['fpr']:.3f}, sensitivity {c['sensitivity']:.3f} (small lesions {c['sensitivity_small']:.3f}), "
                  f"too close to call {c['too_close']:.3f} (in-sample: the operating point above is the honest "
                  "estimate)."]
    dom = cfg.domain
    if dom:
        size = dom.get("pixel_size_um")
        lines += ["", "## Training domain (checked by `tumor3d predict`)",
                  f"Instrument `{dom.get('instrument')}`; pixel size "
                  f"{f'{size[0]:g}-{size[1]:g} um' if size else 'not recorded in the files'}; windows +/- "
                  f"{dom['ppm']:g} ppm; normalisation `{dom['normalisation']}`; spectral profile and detection floor "
                  f"of the channels from {dom['n_slides']} slides. A slide clearly outside is refused, a borderline "
                  "one warned about (tumor3d.slide.check_domain)."]
    lines += ["", "## Intended use and limitations",
              "Research use. Trained on the stated cohort only; expects the same instrument, ion "
              "windows and normalisation. Not a diagnostic device.", "",
              "Channels (m/z): " + ", ".join(f"{m:.4f}" for m in cfg.mz), ""]
    return "\n".join(lines)

"""Training IonMorphNet: ``ionmorph train`` and ``python -m ionmorph train`` (same arguments).

Data: a root in the corpus layout (:mod:`ionmorph.training.dataset`), split by section, ion images taken
from the on-disk cache. Recipe: class-weighted cross-entropy (inverse class frequency on the
training split) against graded targets where the labels carry a clarity
(:func:`ionmorph.labels.graded_targets`), AdamW, linear warm-up then cosine decay (per step), early stopping on the
validation loss, ``last.pt`` (model, optimizer, scheduler, epoch, RNG states) and ``best.pt``
every epoch, ``--resume``, optional bf16 autocast, ``--max-hours`` (the epoch in progress ends
early, is validated and saved, then training stops).

Outputs in the run folder: ``metrics.jsonl`` (one line per epoch), ``metrics.json`` (best epoch,
validation, test and held-out metrics, held-out also per family/instrument), ``confusion.png``,
``splits.json`` and the best model in Hub layout under ``model/``.

Multi-process: ``torchrun --nproc_per_node=N -m ionmorph train ...`` runs DistributedDataParallel
(gloo on CPU, nccl on GPU) with a DistributedSampler; only rank 0 builds the cache and writes files.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IonMorphError
from ..fileio import atomic_path, atomic_write_text
from ..labels import CLASSES, graded_targets
from ..io.msi import DEFAULT_PPM
from ..models.preprocessing import PreprocessConfig

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


@dataclass
class TrainConfig:
    """All settings of a training run (the CLI options, one to one)."""

    root: Path
    out: Path
    cache: Path | None = None
    split: str = "random"
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    holdout_family: tuple[str, ...] = ()
    holdout_instrument: tuple[str, ...] = ()
    ppm: float = DEFAULT_PPM
    arch: str = "convnextv2_tiny"
    init: str | None = None
    input_size: int = 64
    drop_path: float = 0.1
    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 3.0
    min_lr_ratio: float = 0.01
    patience: int = 10
    augment: float = 1.0
    bf16: bool = False
    threads: int | None = None
    max_hours: float | None = None
    steps_per_epoch: int | None = None
    workers: int = 1
    loader_workers: int = 0
    device: str | None = None
    resume: bool = False
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}


# ----------------------------------------------------------------------------- helpers
class _Dist:
    """Rank, world size and device of this process; a no-op wrapper when not distributed."""

    def __init__(self, device: str | None) -> None:
        import torch
        import torch.distributed as dist

        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device is None:
            device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on some rank."""
        if self.world == 1:
            return flag
        import torch
        import torch.distributed as dist

        t = torch.tensor([int(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def class_weights(labels: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Inverse-frequency weights ``n / (k * n_c)`` over the k classes present; absent classes get 0."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def graded_loss(logits, labels, clarity, weights):
    """Class-weighted cross-entropy against :func:`ionmorph.labels.graded_targets` (one-hot without clarity)."""
    import torch

    target = torch.from_numpy(graded_targets(labels.cpu().numpy(), clarity.cpu().numpy(),
                                             logits.shape[1])).to(logits.device)
    w = weights[labels]
    per_sample = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1)
    return (w * per_sample).sum() / w.sum().clamp_min(1e-12)


def lr_factor(step: int, warmup: int, total: int, floor: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from 1 to ``floor`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _rng_state() -> dict[str, Any]:
    import torch

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _save(obj: dict[str, Any], path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _default_cache(root: Path) -> Path:
    base = Path(os.environ.get("IONMORPH_CACHE", Path.home() / ".cache" / "ionmorph"))
    import hashlib

    return base / "train" / f"{root.name}-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]}"


def _build_model(cfg: TrainConfig):
    """A fresh model, or the ``cfg.init`` weights (fine-tuning; the architecture must match, the input
    size may differ: the backbone is size-agnostic and the run's ``input_size`` applies).

    With ``init``, the model's ``init_record`` says which weights it started from (name, revision,
    version, sha256), for ``init.json`` in the run folder.
    """
    from ..models.hub import WEIGHTS_FILE, sha256_file
    from ..models.model import IonMorphNet

    fresh = IonMorphNet(architecture=cfg.arch, preprocess=PreprocessConfig(size=cfg.input_size),
                        drop_path_rate=cfg.drop_path)
    if cfg.init is None:
        return fresh
    start = IonMorphNet.from_pretrained(cfg.init)
    if start.architecture != cfg.arch:
        raise IonMorphError(f"--init {cfg.init}: weights are {start.architecture}, the run asks for {cfg.arch} "
                            "(set --arch)")
    fresh.load_state_dict(start.state_dict())
    src = start.weights_source
    # the registry's hash where it lists the weights, else the hash of the local file that was loaded
    sha256 = src.sha256 or sha256_file(src.folder / WEIGHTS_FILE)
    fresh.init_record = {"init": cfg.init, "name": src.name, "revision": src.revision, "version": start.version,
                         "sha256": sha256, "source": src.source}
    return fresh


# ----------------------------------------------------------------------------- evaluation
def evaluate(model, cache, rows: np.ndarray, weights, cfg: TrainConfig, dist: _Dist) -> dict[str, Any]:
    """Weighted loss and predictions over cache ``rows``, sharded over the ranks and gathered.

    Returns a dict with ``loss`` (weighted mean cross-entropy), ``rows``, ``pred``, ``true``.
    """
    import torch
    import torch.nn.functional as F

    mine = rows[dist.rank::dist.world]
    loss_sum, weight_sum, preds = 0.0, 0.0, []
    model.eval()
    with torch.inference_mode(), torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
        for start in range(0, len(mine), cfg.batch_size):
            b = mine[start:start + cfg.batch_size]
            x = torch.from_numpy(np.asarray(cache.images[b], dtype=np.float32)).to(dist.device)
            y = torch.from_numpy(cache.label[b]).to(dist.device)
            logits = model(x).float()
            loss_sum += float(F.cross_entropy(logits, y, weight=weights, reduction="sum"))
            weight_sum += float(weights[y].sum())
            preds.append(logits.argmax(1).cpu().numpy())
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    parts = dist.gather((mine, pred, loss_sum, weight_sum))
    all_rows = np.concatenate([p[0] for p in parts])
    all_pred = np.concatenate([p[1] for p in parts])
    order = np.argsort(all_rows, kind="stable")
    total_w = sum(p[3] for p in parts)
    return {"loss": sum(p[2] for p in parts) / total_w if total_w else float("nan"),
            "rows": all_rows[order], "pred": all_pred[order], "true": cache.label[all_rows[order]]}


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    from ..evaluation.classification import classification_metrics

    return {"loss": result["loss"], **classification_metrics(result["true"], result["pred"])}


# ----------------------------------------------------------------------------- training
def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) a training run; returns the final metrics (also in ``metrics.json``).

    Raises :class:`IonMorphError` when the split leaves no training or validation images.
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler
    from tqdm.auto import tqdm

    from .augment import Augmenter
    from .dataset import IonImageDataset, build_cache, find_sections, split_sections

    started = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dist = _Dist(cfg.device)
    try:
        root, out = Path(cfg.root), Path(cfg.out)
        sections = find_sections(root)
        splits = split_sections(sections, cfg.split, seed=cfg.seed, val_fraction=cfg.val_fraction,
                                test_fraction=cfg.test_fraction, holdout_family=cfg.holdout_family,
                                holdout_instrument=cfg.holdout_instrument)
        pre = PreprocessConfig(size=cfg.input_size)
        cache_dir = Path(cfg.cache) if cfg.cache else _default_cache(root)
        if dist.main:
            build_cache(sections, cache_dir, pre, cfg.ppm, workers=cfg.workers, progress=cfg.progress)
        dist.barrier()
        cache = build_cache(sections, cache_dir, pre, cfg.ppm, progress=False)
        rows = {k: cache.indices(v) for k, v in splits.items()}
        for k in ("train", "val"):
            if len(rows[k]) == 0:
                raise IonMorphError(f"{root}: the {k} split has no labelled ion images "
                                    f"(sections per split: { {s: len(v) for s, v in splits.items()} })")
        if dist.main:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "splits.json", json.dumps(splits, indent=1))
            atomic_write_text(out / "config.json", json.dumps(cfg.to_json(), indent=1))

        torch.manual_seed(cfg.seed)
        model = _build_model(cfg).to(dist.device)
        if dist.main and cfg.init is not None:
            atomic_write_text(out / "init.json", json.dumps(model.init_record, indent=1))
        w_np = class_weights(cache.label[rows["train"]])
        weights = torch.tensor(w_np, dtype=torch.float32, device=dist.device)
        train_ds = IonImageDataset(cache, rows["train"], Augmenter(cfg.input_size, cfg.seed, pre, cfg.augment))
        sampler = DistributedSampler(train_ds, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.seed)
        steps = math.ceil(len(sampler) / cfg.batch_size)
        if cfg.steps_per_epoch:
            steps = min(steps, cfg.steps_per_epoch)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, round(cfg.warmup_epochs * steps), cfg.epochs * steps, cfg.min_lr_ratio))
        state = {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": -1, "bad_epochs": 0}
        last = out / "last.pt"
        if cfg.resume:
            if not last.is_file():
                raise IonMorphError(f"{last}: no checkpoint to resume from")
            ck = torch.load(last, map_location=dist.device, weights_only=False)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            state = ck["state"]
            _set_rng_state(ck["rng"])
        net = DistributedDataParallel(model) if dist.world > 1 else model
        deadline = started + cfg.max_hours * 3600 if cfg.max_hours else None
        stop_reason = "epochs"
        for epoch in range(state["epoch"], cfg.epochs):
            if state["bad_epochs"] >= cfg.patience:
                stop_reason = "early_stopping"
                break
            sampler.set_epoch(epoch)
            train_ds.set_epoch(epoch)
            loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler,
                                num_workers=cfg.loader_workers, drop_last=False)
            net.train()
            t0, seen, loss_sum, timed_out = time.time(), 0, 0.0, False
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not (cfg.progress and dist.main))
            for step, (x, y, clear) in enumerate(loader):
                if step >= steps:
                    break
                x, y = x.to(dist.device, non_blocking=True), y.to(dist.device, non_blocking=True)
                with torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    logits = net(x)
                loss = graded_loss(logits.float(), y, clear, weights)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                seen += len(y)
                loss_sum += float(loss.detach()) * len(y)
                bar.update()
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
                if deadline is not None and dist.any(time.time() > deadline):
                    timed_out = True
                    break
            bar.close()
            train_time = time.time() - t0
            val = evaluate(model, cache, rows["val"], weights, cfg, dist)
            vm = _summary(val)
            improved = vm["loss"] < state["best_val_loss"]
            state.update(epoch=epoch + 1, bad_epochs=0 if improved else state["bad_epochs"] + 1)
            if improved:
                state.update(best_val_loss=vm["loss"], best_epoch=epoch + 1)
            if dist.main:
                record = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1),
                          "lr": sched.get_last_lr()[0], "train_images_per_s": seen * dist.world / max(train_time, 1e-9),
                          "epoch_seconds": time.time() - t0, "val_loss": vm["loss"],
                          "val_accuracy": vm["accuracy"], "val_balanced_accuracy": vm["balanced_accuracy"],
                          "val_macro_f1": vm["macro_f1"],
                          "val_f1": {c: v["f1"] for c, v in vm["per_class"].items()}}
                with (out / "metrics.jsonl").open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
                ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                      "state": state, "rng": _rng_state(), "config": cfg.to_json()}
                _save(ck, last)
                if improved:
                    _save({"model": model.state_dict(), "epoch": epoch + 1, "val": vm, "config": cfg.to_json()},
                          out / "best.pt")
            dist.barrier()
            if timed_out:
                stop_reason = "max_hours"
                break
        else:
            if state["bad_epochs"] >= cfg.patience:
                stop_reason = "early_stopping"
        return _finish(cfg, model, cache, rows, splits, weights, state, stop_reason, dist)
    finally:
        dist.close()


def _finish(cfg: TrainConfig, model, cache, rows, splits, weights, state, stop_reason, dist: _Dist) -> dict[str, Any]:
    """Evaluate the best weights on val/test/held-out, write metrics.json, confusion.png, model/."""
    import torch

    from ..evaluation.classification import confusion_figure
    from ..plotting import save_figure

    out = Path(cfg.out)
    model.load_state_dict(torch.load(out / "best.pt", map_location=dist.device, weights_only=False)["model"])
    results = {k: evaluate(model, cache, rows[k], weights, cfg, dist) for k in ("val", "test", "holdout")
               if len(rows[k])}
    metrics: dict[str, Any] = {
        "best_epoch": state["best_epoch"], "epochs_run": state["epoch"], "stopped": stop_reason,
        "best_val_loss": state["best_val_loss"], "class_weights": class_weights(cache.label[rows["train"]]).tolist(),
        "n_images": {k: int(len(v)) for k, v in rows.items()},
        "n_sections": {k: len(v) for k, v in splits.items()},
        **{k: _summary(r) for k, r in results.items()},
    }
    if "holdout" in results:
        r = results["holdout"]
        groups = {}
        for kind, col in (("family", cache.family), ("instrument", cache.instrument)):
            held = set(cfg.holdout_family if kind == "family" else cfg.holdout_instrument)
            for g in sorted(held):
                keep = col[r["rows"]] == g
                groups[f"{kind}:{g}"] = _summary({"loss": float("nan"), "true": r["true"][keep],
                                                  "pred": r["pred"][keep]})
        metrics["holdout_groups"] = groups
    if dist.main:
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1))
        panels = {k: np.asarray(metrics[k]["confusion"]) for k in ("test", "holdout") if k in metrics}
        fig = confusion_figure(panels or {"val": np.asarray(metrics["val"]["confusion"])})
        save_figure(fig, out / "confusion.png")
        import matplotlib.pyplot as plt

        plt.close(fig)
        model.save_pretrained(out / "model")
    dist.barrier()
    return metrics


# ----------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (shared by ``ionmorph train`` and ``python -m ionmorph train``)."""
    d = TrainConfig(root=Path("."), out=Path("."))
    p.add_argument("root", type=Path, help="corpus folder: <root>/<id>/<id>.imzML and <root>/labels/<id>.csv "
                                           "(e.g. made by 'ionmorph corpus')")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="run folder: checkpoints, metrics, a confusion matrix and the best model in model/")
    p.add_argument("--cache", type=Path, default=None,
                   help="ion-image cache folder (default $IONMORPH_CACHE or ~/.cache/ionmorph/train/<root>)")
    p.add_argument("--split", choices=("random", "published"), default=d.split,
                   help="how sections are split into training, validation and test: random (seeded, whole "
                        "sections) or the split of the published IonMorphNet label set (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="random seed of the split, the initial weights and the batches (default %(default)s)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share of the sections used for validation (default %(default)s)")
    p.add_argument("--test-fraction", type=float, default=d.test_fraction,
                   help="share of the sections kept for the final test (default %(default)s)")
    p.add_argument("--holdout-family", nargs="*", default=[], metavar="F",
                   help="families kept out of training and validation (generalisation test)")
    p.add_argument("--holdout-instrument", nargs="*", default=[], metavar="I",
                   help="instruments kept out of training and validation (generalisation test)")
    p.add_argument("--ppm", type=float, default=d.ppm,
                   help="ion-image half-width in ppm for sections that do not record their own (default %(default)s)")
    p.add_argument("--arch", default=d.arch, help="backbone: a timm model name (default %(default)s)")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="start from these IonMorphNet weights (name, folder or Hub id): fine-tuning")
    p.add_argument("--input-size", type=int, default=d.input_size,
                   help="side in pixels that every ion image is resized to (default %(default)s)")
    p.add_argument("--drop-path", type=float, default=d.drop_path,
                   help="stochastic depth rate, a regularisation of the backbone (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training images "
                                                                 "(default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="images per optimizer step "
                                                                         "(default %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate of AdamW (default %(default)s)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="AdamW weight decay (default %(default)s)")
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs,
                   help="epochs of linear learning-rate warm-up before the cosine decay; may be a fraction "
                        "(default %(default)s)")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="stop after this many epochs without a lower validation loss (default %(default)s)")
    p.add_argument("--augment", type=float, default=d.augment,
                   help="augmentation strength from 0 (flips and 90-degree rotations only) to 2 (default %(default)s)")
    p.add_argument("--bf16", action="store_true",
                   help="compute in bfloat16 (faster on GPUs and CPUs that support it, slower elsewhere)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per training process (default: torch's choice, about one per core)")
    p.add_argument("--max-hours", type=float, default=None,
                   help="stop after this many hours: the current epoch ends early, is validated and saved")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="at most this many optimizer steps per epoch (default: one pass over the training images)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="processes extracting the ion images into the cache (default %(default)s)")
    p.add_argument("--loader-workers", type=int, default=d.loader_workers,
                   help="extra processes preparing training batches (default %(default)s: in the training process)")
    p.add_argument("--device", default=None,
                   help="torch device, e.g. cpu or cuda (default: a GPU when present, one per process with torchrun, "
                        "else cpu)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from <out>/last.pt")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Build a :class:`TrainConfig` from parsed arguments."""
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"extra"}
    kw = {k: getattr(args, k) for k in names if hasattr(args, k)}
    kw["holdout_family"] = tuple(kw.get("holdout_family") or ())
    kw["holdout_instrument"] = tuple(kw.get("holdout_instrument") or ())
    return TrainConfig(**kw)


def _run(args: argparse.Namespace) -> int:
    m = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) == 0:
        parts = [f"best epoch {m['best_epoch']}"] + [
            f"{k} acc {m[k]['accuracy']:.3f} bal.acc {m[k]['balanced_accuracy']:.3f}"
            for k in ("val", "test", "holdout") if k in m]
        print(f"{args.out}: " + "; ".join(parts))
    return 0


def add_cli(subparsers) -> None:
    """Add ``ionmorph train``."""
    p = subparsers.add_parser("train", help="train IonMorphNet on a labelled corpus",
                              description="Train (or fine-tune) IonMorphNet on a labelled corpus and keep the "
                                          "best model by validation loss. 'python -m ionmorph train' and "
                                          "torchrun take the same options.")
    add_arguments(p)
    p.set_defaults(func=_run)

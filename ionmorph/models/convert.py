"""Import a published IonMorphNet checkpoint (SPEC 4) as an ionmorph weights folder.

The published format is a ``torch.save`` dict with keys ``epoch, model, optimizer, labels,
input_hw, best_val_loss, best_val_acc, hyperparams`` plus a ``run_meta.json`` beside it. Its
``model`` is a timm state dict in which every Linear and Conv2d was wrapped for weight dropout, so
their parameters carry an extra ``.module`` level (``stem.0.module.weight`` is timm's
``stem.0.weight``). The conversion strips that level (and a DataParallel ``module.`` prefix),
orders the output classes as :data:`ionmorph.labels.CLASSES` when the checkpoint has the same six
classes, and saves with :meth:`IonMorphNet.save_pretrained`.

The published model was trained on a different preprocessing (99th percentile over all pixels,
aspect-stretching resize; SPEC 3) than :func:`ionmorph.models.preprocessing.preprocess`, which the model
card of the converted folder states.
"""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import WeightsError
from ..fileio import check_output
from ..labels import CLASSES

#: Keys of the published checkpoint dict.
CHECKPOINT_KEYS = ("epoch", "model", "optimizer", "labels", "input_hw", "best_val_loss", "best_val_acc", "hyperparams")
#: Hyper-parameter / run-meta keys that may name the timm architecture.
_ARCH_KEYS = ("model_name", "model", "arch", "architecture", "backbone", "timm_model")
_WRAPPED = re.compile(r"\.module\.(weight|bias)$")


def unwrap_key(key: str) -> str:
    """Published parameter name -> timm name (drops the weight-dropout ``.module`` level)."""
    key = key[len("module."):] if key.startswith("module.") else key
    return _WRAPPED.sub(r".\1", key)


def _class_names(labels: Any, path: Path) -> list[str]:
    """Class names in output order from a list/tuple or a name->index / index->name mapping."""
    if isinstance(labels, Mapping):
        items = list(labels.items())
        if all(isinstance(v, int) for _, v in items):
            pairs = sorted((int(v), str(k)) for k, v in items)
        else:
            pairs = sorted((int(k), str(v)) for k, v in items)
        if [i for i, _ in pairs] != list(range(len(pairs))):
            raise WeightsError(f"{path}: 'labels' indices are not 0..{len(pairs) - 1}: {labels!r}")
        return [name for _, name in pairs]
    if isinstance(labels, (list, tuple)) and labels:
        return [str(x) for x in labels]
    raise WeightsError(f"{path}: 'labels' must be a list of class names or a mapping, got {labels!r}")


def _architecture(hyperparams: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    for source in (hyperparams, meta):
        for key in _ARCH_KEYS:
            if isinstance(source.get(key), str):
                return source[key]
    return "convnextv2_tiny"


def _scalars(d: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-scalar entries of a mapping (for the training summary)."""
    return {str(k): v for k, v in d.items() if isinstance(v, (str, int, float, bool)) or v is None}


def read_checkpoint(ckpt_path: str | os.PathLike, trusted: bool = False) -> dict[str, Any]:
    """Load and check a published checkpoint dict (``weights_only`` unless ``trusted``)."""
    import torch

    path = Path(ckpt_path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as exc:
        raise WeightsError(f"{path}: holds objects that a weights-only load refuses ({str(exc).splitlines()[0]}); "
                           "if you trust the file, convert with trusted=True (--trust)") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise WeightsError(f"{path}: not a torch checkpoint ({exc})") from None
    if not isinstance(ckpt, dict):
        raise WeightsError(f"{path}: expected a checkpoint dict, got {type(ckpt).__name__}")
    missing = [k for k in ("model", "labels") if k not in ckpt]
    if missing:
        raise WeightsError(f"{path}: not the published IonMorphNet format: missing key(s) {', '.join(missing)} "
                           f"(expected {', '.join(CHECKPOINT_KEYS)})")
    return ckpt


def convert_checkpoint(ckpt_path: str | os.PathLike, run_meta_path: str | os.PathLike | None,
                       out_dir: str | os.PathLike, *, trusted: bool = False, dtype: str | None = "float16",
                       version: str = "published", overwrite: bool = False) -> Path:
    """Convert a published checkpoint into a weights folder loadable by :meth:`IonMorphNet.from_pretrained`.

    Parameters
    ----------
    ckpt_path : path-like
        ``best_model.pt`` (SPEC 4 format).
    run_meta_path : path-like or None
        ``run_meta.json`` beside it (its scalar entries go into the training summary).
    out_dir : path-like
        Destination weights folder.
    trusted : bool
        Allow a full (non weights-only) unpickling of the checkpoint.
    dtype : {"float16", "float32", None}
        Storage type of the weights.
    version : str
        Version recorded in config.json.
    overwrite : bool
        Replace an existing, non-empty ``out_dir`` (never one that holds the checkpoint).

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    import torch

    from .hub import load_strict
    from .model import IonMorphNet
    from .preprocessing import PreprocessConfig

    path = Path(ckpt_path)
    check_output(out_dir, [path, run_meta_path], force=overwrite, folder=True)
    ckpt = read_checkpoint(path, trusted)
    meta: dict[str, Any] = {}
    if run_meta_path is not None:
        try:
            meta = json.loads(Path(run_meta_path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WeightsError(f"{run_meta_path}: run_meta.json not found") from None
        except json.JSONDecodeError as exc:
            raise WeightsError(f"{run_meta_path}: not valid JSON ({exc})") from None
    hyper = ckpt.get("hyperparams") or {}
    names = _class_names(ckpt["labels"], path)
    input_hw = ckpt.get("input_hw") or (224, 224)
    try:
        size = int(max(input_hw))
    except (TypeError, ValueError):
        raise WeightsError(f"{path}: 'input_hw' must be (height, width), got {input_hw!r}") from None
    state = {unwrap_key(k): v for k, v in ckpt["model"].items()}
    reorder = sorted(names) == sorted(CLASSES) and names != list(CLASSES)
    classes = list(CLASSES) if reorder else names
    summary = {"source": f"converted from the published IonMorphNet checkpoint {path.name}",
               "preprocessing_note": "trained with the published preprocessing (percentile over all pixels, "
                                     "aspect-stretching resize), not ionmorph.models.preprocessing",
               "checkpoint_classes": names, **_scalars({k: ckpt.get(k) for k in ("epoch", "best_val_loss", "best_val_acc")}),
               "hyperparams": _scalars(hyper), "run_meta": _scalars(meta)}
    model = IonMorphNet(_architecture(hyper, meta), PreprocessConfig(size=size), classes=classes,
                        drop_path_rate=float(hyper.get("drop_path", hyper.get("drop_path_rate", 0.05))),
                        version=version, training=summary)
    if reorder:
        fc = model.backbone.pretrained_cfg.get("classifier", "head.fc")
        perm = torch.tensor([names.index(c) for c in CLASSES])
        for suffix in (".weight", ".bias"):
            if fc + suffix in state:
                state[fc + suffix] = state[fc + suffix][perm]
    load_strict(model.backbone, state, path)
    return model.save_pretrained(out_dir, dtype=dtype, overwrite=overwrite)

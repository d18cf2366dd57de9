"""Classification metrics of the six-class model: accuracy, balanced accuracy, per-class F1, confusion.

Shared by training, benchmarks and the model card. Everything is derived from one confusion
matrix (rows = true class, columns = predicted class), so the numbers always agree with each
other and with the figure.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..labels import CLASSES


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     n_classes: int = len(CLASSES)) -> np.ndarray:
    """int64 (n_classes, n_classes) counts; row = true class, column = predicted class."""
    t = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise InputError(f"{len(t)} true labels but {len(p)} predictions")
    for name, v in (("true label", t), ("prediction", p)):
        if len(v) and (v.min() < 0 or v.max() >= n_classes):
            raise InputError(f"{name} outside 0..{n_classes - 1}: {int(v.min())}..{int(v.max())}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def metrics_from_confusion(cm: np.ndarray, classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1 and support from a confusion matrix.

    Balanced accuracy is the mean recall over the classes present in the true labels; F1 of a
    class with neither true nor predicted samples is reported as None (undefined), and 0 when
    only one of the two is empty.
    """
    cm = np.asarray(cm, dtype=np.int64)
    n = int(cm.sum())
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]) if denom[i] > 0 else None,
            "support": int(support[i]),
        }
        for i, name in enumerate(classes)
    }
    defined = [v["f1"] for v in per_class.values() if v["f1"] is not None]
    return {
        "n": n,
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(np.mean(defined)) if defined else float("nan"),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                           classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """All metrics of :func:`metrics_from_confusion` for integer labels and predictions."""
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, len(classes)), classes)


def confusion_figure(matrices: Mapping[str, np.ndarray], classes: Sequence[str] = CLASSES,
                     normalise: bool = True):
    """One confusion-matrix panel per entry of ``matrices`` (title -> counts); returns a Figure.

    With ``normalise`` the colours show row-normalised recall and each cell prints the count.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not matrices:
        raise InputError("confusion_figure needs at least one confusion matrix")
    k = len(classes)
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.6 * len(matrices), 4.4), squeeze=False)
    for ax, (title, cm) in zip(axes[0], matrices.items()):
        cm = np.asarray(cm, dtype=np.int64)
        rows = cm.sum(axis=1, keepdims=True)
        shown = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0) if normalise else cm
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else max(1, cm.max()))
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.6 * (1 if normalise else cm.max()) else "black")
        ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(k), classes, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        m = metrics_from_confusion(cm, classes)
        ax.set_title(f"{title}\nacc {m['accuracy']:.3f}  bal. acc {m['balanced_accuracy']:.3f}  n={m['n']}",
                     fontsize=9)
    fig.tight_layout()
    return fig

"""The six morphology classes and the published label CSV format (SPEC 2 and 4)."""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import LabelFormatError
from .fileio import atomic_write_text

#: The six ion-image classes, in model output index order.
CLASSES: tuple[str, ...] = (
    "structured",
    "weak_structured",
    "localized",
    "fragmented",
    "unstructured",
    "negative",
)
#: Classes whose probabilities add up to the informative score by default (SPEC 5).
DEFAULT_INFORMATIVE: tuple[str, ...] = ("structured", "localized", "negative")
#: Label shares of the published training data (SPEC 2), used as the simulator's default mix.
PUBLISHED_CLASS_SHARES: dict[str, float] = {
    "structured": 0.371,
    "weak_structured": 0.108,
    "localized": 0.138,
    "fragmented": 0.111,
    "unstructured": 0.148,
    "negative": 0.124,
}
#: The published dataset split (SPEC 4); datasets not listed are training data.
PUBLISHED_SPLIT: dict[str, tuple[str, ...]] = {
    "val": (
        "2017-09-25_19h48m56s",
        "2023-07-04_10h26m22s",
        "2025-05-20_08h21m56s",
        "2025-06-18_03h24m09s",
        "2025-09-24_18h51m29s",
    ),
    "test": (
        "2016-10-01_12h21m40s",
        "2016-10-01_12h27m29s",
        "2016-10-25_14h30m16s",
        "2017-03-10_19h59m17s",
        "2017-03-17_17h20m49s",
    ),
}
LABEL_COLUMNS: tuple[str, ...] = ("filename", "mz", "min_fdr", "databases", "label")


def class_index(name: str) -> int:
    """Index of a class name; raises ValueError naming the valid classes."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise ValueError(f"unknown class {name!r}; expected one of {', '.join(CLASSES)}") from None


#: Where an unclear image of an informative class sends the rest of its target (graded targets):
#: a structured image drowned in noise is a weak image of the structure; a localized or negative
#: one is noise.
UNCLEAR_AS: dict[str, str] = {"structured": "weak_structured", "localized": "unstructured",
                              "negative": "unstructured"}


def graded_targets(labels: np.ndarray, clarity: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Soft training targets (n, n_classes) that grade informative images by how clearly they show it.

    An image of class c in :data:`UNCLEAR_AS` with clarity r (Pearson r of the noisy image with its
    noise-free pattern at the model's view, :func:`ionmorph.synth.looks.clarity`) gets ``r**2``
    (the share of the image's variance that is pattern, not noise) on c and the rest on
    ``UNCLEAR_AS[c]``; other classes, and images of unknown (NaN) clarity, get one-hot targets.
    The informative score (sum of the informative classes' probabilities) of a model trained on
    them then ranks by clarity within a class, which plain labels cannot teach.
    """
    labels = np.asarray(labels, dtype=np.int64)
    q = np.clip(np.nan_to_num(np.asarray(clarity, dtype=np.float64), nan=1.0), 0.0, 1.0) ** 2
    out = np.zeros((len(labels), n_classes), dtype=np.float32)
    rows = np.arange(len(labels))
    fallback = np.array([CLASSES.index(UNCLEAR_AS[c]) if c in UNCLEAR_AS else i for i, c in enumerate(CLASSES)])
    graded = np.isin(labels, [CLASSES.index(c) for c in UNCLEAR_AS])
    q = np.where(graded, q, 1.0)
    out[rows, labels] = q
    out[rows, fallback[labels]] += 1.0 - q
    return out


@dataclass(frozen=True)
class LabelRow:
    """One labelled ion image of a dataset."""

    filename: str
    mz: float
    label: str
    min_fdr: float = float("nan")
    databases: tuple[str, ...] = field(default_factory=tuple)
    clarity: float = float("nan")


def read_label_csv(path: str | os.PathLike) -> list[LabelRow]:
    """Read a label CSV in the published format (``filename,mz,min_fdr,databases,label``)."""
    path = Path(path)
    if not path.is_file():
        raise LabelFormatError(path, "label file not found")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("filename", "mz", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise LabelFormatError(path, f"missing column(s) {', '.join(missing)}; header is {reader.fieldnames}")
        rows = []
        for line_no, rec in enumerate(reader, start=2):
            try:
                mz = float(rec["mz"])
            except (TypeError, ValueError):
                raise LabelFormatError(path, f"line {line_no}: m/z {rec['mz']!r} is not a number") from None
            label = (rec["label"] or "").strip()
            if label not in CLASSES:
                raise LabelFormatError(path, f"line {line_no}: label {label!r} is not one of {', '.join(CLASSES)}")
            fdr = rec.get("min_fdr") or ""
            dbs = rec.get("databases") or ""
            clear = (rec.get("clarity") or "").strip()
            try:
                clear_value = float(clear) if clear else float("nan")
            except ValueError:
                raise LabelFormatError(path, f"line {line_no}: clarity {clear!r} is not a number") from None
            rows.append(
                LabelRow(
                    filename=rec["filename"],
                    mz=mz,
                    label=label,
                    min_fdr=float(fdr) if fdr.strip() else float("nan"),
                    databases=tuple(d.strip() for d in dbs.split(",") if d.strip()),
                    clarity=clear_value,
                )
            )
    return rows


def write_label_csv(path: str | os.PathLike, rows: Iterable[LabelRow]) -> Path:
    """Write label rows in the published format, atomically.

    A ``clarity`` column (simulated labels: how clearly the image shows its pattern) follows the
    published columns when any row has one; readers of the published format ignore it.
    """
    rows = list(rows)
    graded = any(r.clarity == r.clarity for r in rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LABEL_COLUMNS + (("clarity",) if graded else ()))
    for r in rows:
        line = [r.filename, repr(float(r.mz)), "" if r.min_fdr != r.min_fdr else r.min_fdr,
                ",".join(r.databases), r.label]
        writer.writerow(line + ([f"{r.clarity:.4f}" if r.clarity == r.clarity else ""] if graded else []))
    return atomic_write_text(path, buf.getvalue())

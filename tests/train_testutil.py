"""A tiny labelled corpus in the training layout, written with pyimzML, for the training tests.

Each section is a small continuous-mode raster (ellipse of tissue, some pixels unmeasured) with
one ion per label row at an m/z of its own; the ion's image follows its class (tissue-filling,
faint, one blob, several blobs, noise, off-sample), so a model can learn something in a few steps.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ionmorph.labels import CLASSES, LabelRow, write_label_csv


def _pattern(cls: str, tissue: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = tissue.shape
    yy, xx = np.mgrid[:h, :w]
    if cls == "structured":
        return tissue * rng.uniform(50, 100)
    if cls == "weak_structured":
        return tissue * (rng.random((h, w)) < 0.5) * rng.uniform(5, 10)
    if cls == "localized":
        cy, cx = rng.integers(3, h - 3), rng.integers(3, w - 3)
        return ((yy - cy) ** 2 + (xx - cx) ** 2 < 5) * tissue * 80.0
    if cls == "fragmented":
        out = np.zeros((h, w))
        for _ in range(4):
            cy, cx = rng.integers(1, h - 1), rng.integers(1, w - 1)
            out += ((yy - cy) ** 2 + (xx - cx) ** 2 < 2) * 60.0
        return out * tissue
    if cls == "unstructured":
        return (rng.random((h, w)) < 0.15) * rng.uniform(10, 50, (h, w))
    return (~tissue) * rng.uniform(50, 100)


def write_tiny_corpus(root: Path, n_sections: int = 4, n_ions: int = 12, shape=(14, 16), seed: int = 0,
                      families=("brain", "kidney"), instruments=("maldi_tof", "desi")) -> Path:
    """Write ``n_sections`` sections with ``n_ions`` labelled ions each; returns ``root``."""
    from pyimzml.ImzMLWriter import ImzMLWriter

    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    tissue = ((yy - h / 2) / (h / 2.6)) ** 2 + ((xx - w / 2) / (w / 2.6)) ** 2 < 1
    records = []
    for s in range(n_sections):
        sid = f"2020-01-0{s + 1}_00h00m00s"
        mz = 200.0 + 10.0 * np.arange(n_ions)
        classes = [CLASSES[(i + s) % len(CLASSES)] for i in range(n_ions)]
        cube = np.stack([_pattern(c, tissue, rng) for c in classes], axis=-1) + rng.random((h, w, n_ions))
        axis = np.sort(np.concatenate([mz, mz + 3.0]))
        (root / sid).mkdir(exist_ok=True)
        with ImzMLWriter(str(root / sid / f"{sid}.imzML"), mode="continuous") as wr:
            for r in range(h):
                for c in range(w):
                    if (r + c) % 11 == 0:
                        continue
                    spec = np.zeros(len(axis))
                    spec[0::2] = cube[r, c]
                    wr.addSpectrum(axis, spec.astype(np.float32), (c + 1, r + 1))
        write_label_csv(root / "labels" / f"{sid}.csv",
                        [LabelRow(f"{sid}.imzML", float(m), c) for m, c in zip(mz, classes)])
        records.append({"id": sid, "family": families[s % len(families)],
                        "instrument": instruments[(s // len(families)) % len(instruments)], "ppm": 20.0})
    (root / "corpus.json").write_text(json.dumps(records))
    return root

"""A toy tumour cohort written with pyimzML's writer: tiny, fast, with known tumour markers.

Each patient has a tumour-bearing slide (S0: a disc of tissue with a tumour blob) and a
tumour-free one (S1). Ions: ``MARKERS`` rise in tumour, ``HEALTHY`` mark healthy tissue, the rest
are tissue-wide or background; each pixel adds a few sporadic noise peaks. Every patient has its
own global intensity scale.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tumor3d.cohort import Cohort, Slide

MZ = np.array([150.05, 220.1, 300.2, 355.3, 410.4, 480.5, 530.6, 610.7, 700.8, 790.9, 850.1, 920.2])
MARKERS = MZ[[1, 6, 9]]
HEALTHY = MZ[[3, 7]]


def _slide(rng: np.random.Generator, shape: tuple[int, int], tumour: bool, scale: float):
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    tissue = (yy - h / 2 + 0.5) ** 2 + (xx - w / 2 + 0.5) ** 2 <= (0.42 * min(h, w)) ** 2
    ann = tissue.astype(np.int64)
    if tumour:
        cy, cx = rng.uniform(0.35, 0.65, 2) * (h, w)
        ann[tissue & ((yy - cy) ** 2 + (xx - cx) ** 2 <= (0.22 * min(h, w)) ** 2)] = 2
    level = np.full((len(MZ), h, w), 2.0)
    level[:, tissue] = 20.0
    for m in MARKERS:
        level[np.flatnonzero(MZ == m)[0]][ann == 2] = 60.0
    for m in HEALTHY:
        level[np.flatnonzero(MZ == m)[0]][ann == 2] = 5.0
    counts = rng.poisson(level * scale).astype(np.float32)
    return ann, counts


def write_toy_cohort(root: Path, n_patients: int = 4, shape: tuple[int, int] = (16, 16), seed: int = 0) -> Cohort:
    """Write the toy cohort (public layout + cohort.json) under ``root`` and return it."""
    from pyimzml.ImzMLWriter import ImzMLWriter

    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    slides = []
    for p in range(n_patients):
        scale = float(np.exp(rng.normal(0, 0.3)))
        for s in range(2):
            name = f"P{p}_S{s}"
            ann, counts = _slide(rng, shape, s == 0, scale)
            with ImzMLWriter(str(root / f"{name}.imzML"), mode="processed", spec_type="centroid") as w:
                for r in range(shape[0]):
                    for c in range(shape[1]):       # plus a few sporadic noise peaks per pixel
                        noise = rng.uniform(100.0, 1000.0, 8)
                        mz = np.concatenate([MZ, noise])
                        order = np.argsort(mz)
                        a = np.concatenate([counts[:, r, c] + 1.0, rng.uniform(0.5, 3.0, 8)])
                        w.addSpectrum(mz[order], a[order], (c + 1, r + 1))
            np.save(root / "masks" / f"{name}_mask.npy", ann)
            slides.append(Slide(name, f"P{p}", root / f"{name}.imzML", root / "masks" / f"{name}_mask.npy"))
    cohort = Cohort(root=root, task="toy", slides=slides, ppm=10.0, markers=MARKERS.copy())
    cohort.save()
    return cohort

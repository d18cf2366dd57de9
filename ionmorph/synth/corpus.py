"""A labelled training corpus of simulated sections: :func:`build_corpus`.

Layout (docs/design.md)::

    <out>/<id>/<id>.imzML (+ .ibd)
    <out>/labels/<id>.csv        published label format, one row per labelled ion image
    <out>/corpus.json            {"sections": [{id, family, instrument, mode, shape, seed, ppm, n_ions}, ...]}

Each section draws its own family, instrument, storage mode, raster size, ion count and chemistry
(panel) from ``(seed, index)``, so the corpus is deterministic and can be extended or resumed:
a section whose label CSV exists is finished (the CSV is written last) and is skipped.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..fileio import atomic_write_text
from ..labels import write_label_csv
from .anatomy import FAMILIES, check_family
from .instruments import INSTRUMENTS, get_instrument
from .spectra import MODES

#: Continuous (profile) sections are kept at most this many pixels high or wide (file size).
MAX_PROFILE_SIDE = 100
#: Ion count range of corpus sections.
N_IONS_RANGE = (120, 360)


def section_specs(n_sections: int, families: Sequence[str] = FAMILIES, instruments: Sequence[str] = INSTRUMENTS,
                  seed: int = 0, modes: Sequence[str] = MODES,
                  shape_range: tuple[int, int] = (40, 300)) -> list[dict]:
    """The corpus records (family, instrument, mode, shape, seed, ppm, n_ions) of every section."""
    if n_sections < 1:
        raise InputError(f"n_sections must be at least 1, got {n_sections}")
    for f in families:
        check_family(f)
    insts = [get_instrument(name) for name in instruments]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes or not families or not insts:
        raise InputError(f"need at least one family, instrument and mode (modes from {MODES}), got "
                         f"{list(families)}, {list(instruments)}, {list(modes)}")
    lo, hi = shape_range
    if not 16 <= lo <= hi:
        raise InputError(f"shape_range must be (low, high) with 16 <= low <= high, got {shape_range}")
    specs = []
    for i in range(n_sections):
        rng = np.random.default_rng([int(seed), i, 0xC0])
        family = families[i % len(families)] if i < len(families) else str(rng.choice(list(families)))
        inst = insts[int(rng.integers(len(insts)))]
        mode = inst.default_mode if inst.default_mode in modes and rng.random() < 0.7 else str(rng.choice(list(modes)))
        u = rng.random()  # many small and medium sections, some large ones
        side = rng.uniform(lo, min(hi, 100)) if u < 0.6 else rng.uniform(min(hi, 100), min(hi, 180)) if u < 0.9 \
            else rng.uniform(min(hi, 180), hi)
        aspect = rng.uniform(0.5, 0.75) if family == "seed" else rng.uniform(0.75, 1.3)
        h, w = int(round(side)), int(round(side / aspect))
        cap = hi if mode == "processed" else min(hi, MAX_PROFILE_SIDE)
        f = min(1.0, cap / max(h, w))
        h, w = max(lo, int(h * f)), max(lo, int(w * f))
        specs.append({"id": f"synth-{seed}-{i:05d}", "family": family, "instrument": inst.name, "mode": mode,
                      "shape": [h, w], "seed": int(rng.integers(2**31)), "ppm": inst.ppm,
                      "n_ions": int(rng.integers(*N_IONS_RANGE))})
    return specs


def _build_one(out_dir: str, spec: dict) -> str:
    """Simulate and write one corpus section (skipped when its label CSV exists)."""
    from .section import simulate_section

    out = Path(out_dir)
    sid = spec["id"]
    labels = out / "labels" / f"{sid}.csv"
    if labels.is_file() and (out / sid / f"{sid}.imzML").is_file():
        return sid
    sec = simulate_section(spec["seed"], family=spec["family"], instrument=spec["instrument"],
                           shape=tuple(spec["shape"]), n_ions=spec["n_ions"])
    sec.write_imzml(out / sid / f"{sid}.imzML", mode=spec["mode"])
    write_label_csv(labels, sec.label_rows(f"{sid}.imzML"))
    return sid


def build_corpus(out_dir: str | os.PathLike, n_sections: int, families: Sequence[str] = FAMILIES,
                 instruments: Sequence[str] = INSTRUMENTS, seed: int = 0, workers: int = 1,
                 progress: bool = True, modes: Sequence[str] = MODES,
                 shape_range: tuple[int, int] = (40, 300)) -> Path:
    """Write a simulated, labelled corpus (module docstring) and return ``out_dir``.

    Parameters
    ----------
    out_dir : path
    n_sections : int
    families, instruments : sequence of str
        Drawn per section (the first sections cycle through the families).
    seed : int
        Corpus seed: same seed, same corpus.
    workers : int
        Processes (1 = in this process).
    progress : bool
        Show a progress bar.
    modes : sequence of str
        Storage modes to use; each instrument keeps its default mode 70 % of the time.
    shape_range : (int, int)
        Smallest and largest raster side; profile-mode sections are capped at
        :data:`MAX_PROFILE_SIDE` pixels.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    specs = section_specs(n_sections, families, instruments, seed, modes, shape_range)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(specs), desc="corpus", disable=not progress)
    if workers <= 1:
        for spec in specs:
            _build_one(str(out), spec)
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for _ in pool.map(_build_one, [str(out)] * len(specs), specs):
                bar.update()
    bar.close()
    atomic_write_text(out / "corpus.json", json.dumps({"generator": "ionmorph.synth", "seed": seed,
                                                       "sections": specs}, indent=1))
    return out

"""Knob ablation: how the best pixel-wise classifier's balanced accuracy moves with each realism knob off.

Re-simulating a cohort through imzML for every knob setting would cost minutes per setting, so the
ablation renders the slides in memory (:func:`render_images`): the same sections, tumours and batch
effects as :func:`tumor3d.cohort.build_cohort`, with Poisson counting noise, the detector's gain
noise and detection threshold, summed into the cohort's candidate windows after the slide's median
calibration offset. What it leaves out (chemical-noise peaks, per-pixel calibration scatter, peak
shapes) is the same for every row, and the all-knobs-on row is rendered the same way, so the rows
compare with each other; the benchmark also reports the all-on row through imzML beside it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .cohort import TASKS, TaskSpec, simulate_cohort
from .patches import normalise_cube
from .realism import KNOBS, Knobs


def render_images(section: Any, mz: np.ndarray, ppm: float) -> tuple[np.ndarray, np.ndarray]:
    """(ion images (L, H, W) of the candidate ``mz``, TIC (H, W)) of a simulated section, in memory."""
    inst, mask = section.instrument, section.mask
    rng = np.random.default_rng([int(section.seed), 0xAB1])
    counts = rng.poisson(section.abundance[:, mask]).astype(np.float32)
    value = counts * inst.gain
    if inst.gain_cv > 0:
        value *= rng.lognormal(0.0, inst.gain_cv, counts.shape).astype(np.float32)
    value[counts < inst.threshold] = 0.0
    shift = float(np.median(section.drift_ppm[mask])) if mask.any() else 0.0
    ion_mz = section.panel.mz * (1.0 + shift * 1e-6)
    mz = np.asarray(mz, dtype=np.float64)
    window = (np.abs(ion_mz[None, :] - mz[:, None]) <= mz[:, None] * ppm * 1e-6).astype(np.float32)
    images = np.zeros((len(mz), *mask.shape), dtype=np.float32)
    images[:, mask] = window @ value
    tic = np.zeros(mask.shape, dtype=np.float64)
    tic[mask] = value.sum(axis=0) + inst.noise_peaks * inst.threshold * inst.gain
    return images, tic


def rendered_task(spec: TaskSpec, mz: np.ndarray, n_patients: int, shape: Sequence[int], seed: int,
                  knobs: Knobs, first_patient: int = 0) -> Any:
    """A :class:`tumor3d.train.TaskData` of a cohort simulated and rendered in memory with ``knobs``
    (patients numbered from ``first_patient``: :func:`tumor3d.cohort.cohort_design`)."""
    from .train import SlideData, TaskData

    slides = []
    for name, patient, _, sim in simulate_cohort(spec, n_patients, tuple(shape), seed, knobs, first_patient):
        images, tic = render_images(sim.section, mz, spec.ppm)
        mask = sim.section.mask
        slides.append(SlideData(name, patient, normalise_cube(images, tic, mask), sim.annotation * mask, mask))
    return TaskData(spec.name, slides, np.asarray(mz, dtype=np.float64), {}, spec.ppm, np.zeros(0))


def knob_ablation(task: str, mz: np.ndarray, method: Any, *, n_patients: int, shape: Sequence[int], seed: int,
                  folds: int, train: Any, knobs: Sequence[str] = KNOBS,
                  progress: bool = False) -> dict[str, dict[str, float]]:
    """Patch and slide balanced accuracy (mean over folds) of ``method`` with all knobs on and each knob off."""
    from .train import cross_validate, summarise

    out = {}
    for name, setting in [("all on", Knobs())] + [(f"{k} off", Knobs().without(k)) for k in knobs]:
        data = rendered_task(TASKS[task], mz, n_patients, shape, seed, setting)
        summary = summarise(cross_validate(data, (method,), k=folds, train=train))
        out[name] = {"patch_ba": summary["patch_ba_mean"], "slide_ba": summary["slide_ba_mean"]}
        if progress:
            print(f"  ablation {task} {name:26s} patch BA {summary['patch_ba_mean']:.3f} "
                  f"slide BA {summary['slide_ba_mean']:.3f}", flush=True)
    return out

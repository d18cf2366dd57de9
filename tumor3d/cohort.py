"""Tumour cohorts: simulated ones built on :mod:`ionmorph.synth`, and a loader for real ones.

On disk a cohort is the public layout (SPEC 6) plus a ``cohort.json``::

    <root>/<slide>.imzML (+ .ibd)
    <root>/masks/<slide>_mask.npy      int annotation: 0 background, 1 healthy, 2 tumour
    <root>/cohort.json                 task, classes, ppm, markers, one record per slide (patient)

A real cohort in the public layout needs a patient id per slide: a ``cohort.json`` or a
``patients.csv`` with the columns ``slide,patient``.

Simulated tasks (:data:`TASKS`) differ in tissue family and instrument. A task's patients share
one ion panel and one set of tumour markers (:func:`tumor3d.realism.draw_markers`); everything that
makes real cohorts hard is drawn per patient and per slide with the knobs of
:class:`tumor3d.realism.Knobs` (marker fold changes, patient-specific expression, subclones,
morphology, batch effects, healthy-tissue variation, coarse annotations). Each patient has three
slides (:data:`tumor3d.realism.SLIDE_KINDS`): tumour-bearing, a small lesion, and tumour-free, so
the slide-level call is a real test.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ionmorph.errors import InputError, MSIFormatError
from ionmorph.fileio import atomic_write_text

from .realism import SLIDE_KINDS, Knobs, draw_markers, draw_patient, simulate_slide

CLASSES = ("background", "healthy", "tumour")
TUMOUR_TYPES = ("tumour", "necrosis")


@dataclass(frozen=True)
class TaskSpec:
    """A simulated tumour task: tissue family, instrument, cohort size and slide geometry."""

    name: str
    family: str
    instrument: str
    ppm: float
    n_patients: int = 12
    shape: tuple[int, int] = (96, 96)
    n_ions: int = 150
    mode: str | None = None            # None: the instrument's default storage mode
    mz_shift_sd_ppm: float = 2.0


TASKS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("tumour-desi", "tumour", "desi", ppm=10.0),
    TaskSpec("kidney-maldi-tof", "kidney", "maldi_tof", ppm=50.0, mz_shift_sd_ppm=10.0),
    TaskSpec("brain-maldi-orbitrap", "brain", "maldi_orbitrap", ppm=5.0, mz_shift_sd_ppm=1.0),
)}


@dataclass(frozen=True)
class Slide:
    """One slide: its name, patient and files."""

    name: str
    patient: str
    imzml: Path
    mask: Path

    def annotation(self) -> np.ndarray:
        """The int (H, W) annotation mask."""
        if not self.mask.is_file():
            raise MSIFormatError(self.mask, f"annotation mask of slide {self.name!r} not found")
        ann = np.load(self.mask)
        if ann.ndim != 2 or ann.dtype.kind not in "iub":
            raise MSIFormatError(self.mask, f"annotation must be a 2D integer array, got {ann.dtype} {ann.shape}")
        return ann.astype(np.int64)


@dataclass
class Cohort:
    """Slides with patients, the annotation classes, the ion-image ppm and known marker m/z."""

    root: Path
    task: str
    slides: list[Slide]
    ppm: float
    classes: tuple[str, ...] = CLASSES
    markers: np.ndarray = field(default_factory=lambda: np.zeros(0))
    meta: dict = field(default_factory=dict)
    slide_meta: dict = field(default_factory=dict)

    @property
    def patients(self) -> list[str]:
        """Patient id of every slide, in slide order."""
        return [s.patient for s in self.slides]

    def save(self) -> Path:
        """Write ``cohort.json`` (atomic) and return its path."""
        doc = {"task": self.task, "ppm": self.ppm, "classes": list(self.classes),
               "markers": [float(m) for m in self.markers], **self.meta,
               "slides": [{"name": s.name, "patient": s.patient, **self.slide_meta.get(s.name, {})}
                          for s in self.slides]}
        return atomic_write_text(self.root / "cohort.json", json.dumps(doc, indent=1))


def load_cohort(root: str | os.PathLike, *, ppm: float | None = None, task: str | None = None) -> Cohort:
    """Load a cohort in the public layout with a patient id per slide (module docstring).

    Parameters
    ----------
    root : path
        The cohort folder.
    ppm : float, optional
        Ion-image window half-width (overrides ``cohort.json``; default 10 for real data).
    task : str, optional
        A name for the task (default: from ``cohort.json`` or the folder name).
    """
    root = Path(root)
    meta_path, csv_path = root / "cohort.json", root / "patients.csv"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        patients = {r["name"]: str(r["patient"]) for r in meta["slides"]}
    elif csv_path.is_file():
        meta = {}
        with csv_path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or not {"slide", "patient"} <= set(rows[0]):
            raise InputError(f"{csv_path}: needs the columns slide,patient")
        patients = {r["slide"]: r["patient"] for r in rows}
    else:
        raise InputError(f"{root}: no cohort.json or patients.csv giving a patient id per slide")
    slides = []
    for name, patient in patients.items():
        slide = Slide(name, patient, root / f"{name}.imzML", root / "masks" / f"{name}_mask.npy")
        if not slide.imzml.is_file():
            raise MSIFormatError(slide.imzml, f"slide {name!r} listed for patient {patient!r} not found")
        slides.append(slide)
    if len(slides) < 2:
        raise InputError(f"{root}: a cohort needs at least two slides, found {len(slides)}")
    return Cohort(root=root, task=task or meta.get("task", root.name), slides=slides,
                  ppm=float(ppm if ppm is not None else meta.get("ppm", 10.0)),
                  classes=tuple(meta.get("classes", CLASSES)),
                  markers=np.asarray(meta.get("markers", []), dtype=np.float64))


def cohort_design(spec: TaskSpec, n_patients: int, seed: int, knobs: Knobs, first_patient: int = 0):
    """(panel, markers, patients) of a simulated cohort; deterministic from ``seed`` and the knobs.

    Patients are numbered from ``first_patient``: a later number is a new patient of the same
    disease (same panel and markers), e.g. for a development cohort disjoint from the benchmark's.
    """
    from ionmorph.synth import FAMILY_REGIONS, INSTRUMENT_PRESETS, make_panel

    panel = make_panel(seed, spec.family, n_ions=spec.n_ions, mz_range=INSTRUMENT_PRESETS[spec.instrument].mz_range)
    markers = draw_markers(seed, panel, knobs)
    regions = tuple(r for r in FAMILY_REGIONS[spec.family] if r not in TUMOUR_TYPES)
    patients = [draw_patient(seed, p, panel, markers, knobs, regions, spec.mz_shift_sd_ppm)
                for p in range(first_patient, first_patient + n_patients)]
    return panel, markers, patients


def simulate_cohort(spec: TaskSpec, n_patients: int, shape: tuple[int, int], seed: int, knobs: Knobs,
                    first_patient: int = 0):
    """Yield (slide name, patient name, kind, :class:`tumor3d.realism.SimSlide`) for every slide, in memory
    (patients numbered from ``first_patient``, :func:`cohort_design`)."""
    _, markers, patients = cohort_design(spec, n_patients, seed, knobs, first_patient)
    for p, patient in enumerate(patients, start=first_patient):
        for s, kind in enumerate(SLIDE_KINDS):
            yield (f"{patient.name}_S{s}", patient.name, kind,
                   simulate_slide(spec.family, spec.instrument, shape, markers, patient, kind, seed, p, s, knobs))


def task_spec(task: str | TaskSpec) -> TaskSpec:
    """The spec of a task name from :data:`TASKS` (a spec is returned as it is).

    Raises
    ------
    InputError
        An unknown task name (the message lists the known ones).
    """
    if isinstance(task, str) and task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose from {', '.join(sorted(TASKS))}")
    return TASKS[task] if isinstance(task, str) else task


def build_cohort(task: str | TaskSpec, out_dir: str | os.PathLike, *, n_patients: int | None = None,
                 shape: Sequence[int] | None = None, seed: int = 0, knobs: Knobs = Knobs(),
                 first_patient: int = 0, progress: bool = False) -> Cohort:
    """Simulate a tumour cohort (module docstring) into ``out_dir``; finished slides are kept.

    Parameters
    ----------
    task : str or TaskSpec
        A name from :data:`TASKS` or a spec.
    out_dir : path
        Output folder (the cohort layout); one folder per knob setting (finished slides are reused).
    n_patients, shape : optional
        Override the task's cohort size and slide shape (e.g. tiny cohorts for tests).
    seed : int
        Cohort seed: panel, markers, patient draws and slides are deterministic from it.
    knobs : Knobs
        The realism knobs (:mod:`tumor3d.realism`).
    first_patient : int
        Number of the first patient: later numbers are new patients of the same simulated disease
        (same ion panel and markers), e.g. slides for a model trained on patients 0..n-1.
    """
    from tqdm.auto import tqdm

    from ionmorph.fileio import atomic_path

    spec = task_spec(task)
    n = spec.n_patients if n_patients is None else n_patients
    shape = tuple(spec.shape if shape is None else shape)
    root = Path(out_dir)
    panel, markers, patients = cohort_design(spec, n, seed, knobs, first_patient)
    slides, slide_meta = [], {}
    for name, patient, kind, sim in tqdm(simulate_cohort(spec, n, shape, seed, knobs, first_patient),
                                         total=n * len(SLIDE_KINDS),
                                         desc=f"cohort {spec.name}", disable=not progress):
        slide = Slide(name, patient, root / f"{name}.imzML", root / "masks" / f"{name}_mask.npy")
        if not (slide.imzml.is_file() and slide.mask.is_file()):
            sim.section.write_imzml(slide.imzml, mode=spec.mode)
            with atomic_path(slide.mask) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, sim.annotation.astype(np.int32))
        slides.append(slide)
        slide_meta[name] = {"kind": kind, "truth_tumour_pixels": int(sim.truth.sum()),
                            "annotated_tumour_pixels": int((sim.annotation == 2).sum())}
    peaks = markers.peaks(panel)
    meta = {"seed": seed, "instrument": spec.instrument, "knobs": knobs.as_dict(),
            "marker_log2_fc": {f"{panel[int(i)].mz:.5f}": float(fc / np.log(2))
                               for i, fc in zip(markers.parents, markers.log_fc)},
            "patients": {pt.name: {"morphology": pt.morphology, "intensity_scale": pt.intensity_scale,
                                   "mz_shift_ppm": pt.mz_shift_ppm,
                                   "markers_absent": int(np.sum(pt.log_fc == 0))} for pt in patients}}
    cohort = Cohort(root=root, task=spec.name, slides=slides, ppm=spec.ppm,
                    markers=np.sort(panel.mz[peaks]), meta=meta, slide_meta=slide_meta)
    cohort.save()
    return cohort


def raster_origin(msi) -> tuple[int, int]:
    """(row, col) of an opened imzML raster's top-left pixel in 0-based file coordinates."""
    x0, y0 = (int(v) - 1 for v in msi.xy.min(axis=0))
    return y0, x0


def crop_to_raster(annotation: np.ndarray, shape: Sequence[int], origin: Sequence[int],
                   source: str | os.PathLike = "annotation") -> np.ndarray:
    """The part of a full-raster ``annotation`` under an imzML raster of ``shape`` at ``origin``.

    An imzML reader crops its raster to the measured pixels' bounding box, while a mask file covers
    the whole scan from coordinate (1, 1); a mask already of ``shape`` is returned as it is.
    """
    ann = np.asarray(annotation)
    h, w = shape
    if ann.shape == (h, w):
        return ann
    r0, c0 = origin
    if r0 < 0 or c0 < 0 or ann.shape[0] < r0 + h or ann.shape[1] < c0 + w:
        raise InputError(f"{source}: mask of shape {ann.shape} does not cover the imzML raster "
                         f"{(h, w)} at offset {(r0, c0)}")
    return ann[r0:r0 + h, c0:c0 + w]


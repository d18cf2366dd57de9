"""What makes real tumour cohorts hard, one documented knob each (:class:`Knobs`).

A simulated slide starts as a tumour-free :func:`ionmorph.synth.simulate_section` (its healthy
anatomy, counting statistics, instrument geometry); tumour is then drawn into its expected counts
(:func:`apply_tumour`). A pixel's spectrum is a linear mixture of the cells its sampled area holds
(the premise of linear unmixing in MSI): a tumour pixel holds tumour cells, whose profile is the
tissue of origin's (:data:`ORIGIN`: carcinomas keep most of their epithelium's lipids and
metabolites) with the markers changed, plus the local stroma in proportion to (1 - cellularity).
Tumour cells do not inherit the fat or stroma they grow into.

Every knob below has its reason (the property of real cohorts it reproduces), its default, and its
"off" state, so the knob-ablation table can show what makes the task hard. Defaults follow the
typical values reported for DESI/MALDI tumour-versus-normal studies; none was set to reach an
accuracy:

``fold_change``
    Real tumour markers change modestly: in volcano plots of tumour against adjacent normal tissue
    (breast, colorectal, kidney, gastric, brain; DESI and MALDI lipid/metabolite profiles) most
    significant features differ 1.2-2 fold and a few several-fold (e.g. cardiolipins, PI 38:4,
    2-hydroxyglutarate in IDH-mutant glioma); roughly a third are lower in tumour. Markers are
    about a third of the molecular ions (:func:`draw_markers`, ``share``), as a fifth to a half of
    the detected lipid features typically differ significantly between tumour and normal.
    On: |fold change| log-uniform in 1.2-2 (75 %) or 2-4 (25 %), 30 % of the markers down.
    Off: 2.5-6 fold.
``patient_expression``
    Tumours of different patients do not express the same markers: markers reported across cohorts
    are changed in most, not all, patients, and their strength varies between patients by tens of
    per cent. On: each marker is absent in a patient with probability 0.2, otherwise its log fold
    change is scaled by a log-normal factor (sd 0.35). Off: the cohort's fold changes everywhere.
``subclones``
    Tumours are heterogeneous: MSI finds spatial subpopulations with distinct profiles inside one
    tumour, and the share of tumour cells in a pixel (cellularity) varies. On: 1-3 spatial
    subclones, each expressing about 75 % of the patient's markers (a clone lacking a marker has
    the origin tissue's level of it), and a smooth cellularity field in 0.6-1 inside the nests and
    glands (the stroma between them is its own pixels). Off: one clone, cellularity 1.
``morphology``
    Carcinomas grow as nests, glands and infiltrating strands of a few hundred micrometres, a few
    pixels at MSI resolution, so many tumour pixels border stroma and the point spread mixes them.
    On: each patient's tumour is drawn as nests, glands or strands inside a lesion envelope.
    Off: compact blobs (the envelope itself).
``batch``
    Slides of different patients are acquired on different days: total signal differs several-fold
    between sessions, ion-specific response by 10-20 % (inter-day repeatability of DESI/MALDI),
    mass calibration by the instrument's typical offset, and matrix coverage is uneven by 20-30 %.
    On: per patient a log-normal global scale (sd 0.5), per-ion response factors (sd 0.15), a
    calibration offset (the task's sd in ppm); per slide a smooth coverage field (sd 0.25).
    Off: none of these.
``healthy_variation``
    Healthy tissue differs between patients: the share of epithelium, stroma and fat, and the level
    of every ion in each tissue type (age, diet, hormonal state). On: log-normal composition
    weights (sd 0.5) and per-patient region levels of every ion (sd 0.15). Off: the panel's levels
    and the default composition for everyone.
``coarse_annotation``
    Pathologists annotate on the H&E of the section, registered to the MSI raster to about one
    pixel: the tumour outline bridges stroma gaps of one pixel, fills small holes (up to 6 pixels,
    lumina and stroma islands) and is smooth at sub-pixel scale, so it holds some stroma (about
    7 % of its pixels in the simulated tasks) and misses thin strands (about 4 % of the tumour
    pixels end up annotated healthy); a margin of 2 pixels around it is left unannotated, as
    ambiguous tissue is in annotated MSI cohorts. On: that outline (:func:`annotate`).
    Off: the pixel truth (every tissue pixel labelled, tumour boundaries included).

The benchmark trains and scores every method against the annotation, as real cohorts do; the
``coarse_annotation off`` row is therefore scored against the exact pixel truth, boundary pixels
included.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import ndimage

from ionmorph.errors import InputError

#: Clinical slide kinds of a patient: tumour-bearing, a small lesion, tumour-free.
SLIDE_KINDS = ("tumour", "small", "free")
#: Tumour share of the tissue per slide kind (uniform range).
KIND_FRACTION = {"tumour": (0.15, 0.35), "small": (0.02, 0.05), "free": (0.0, 0.0)}
MORPHOLOGIES = ("nests", "glands", "strands")


@dataclass(frozen=True)
class Knobs:
    """The realism knobs of a simulated tumour cohort (module docstring); every one on by default."""

    fold_change: bool = True
    patient_expression: bool = True
    subclones: bool = True
    morphology: bool = True
    batch: bool = True
    healthy_variation: bool = True
    coarse_annotation: bool = True

    def without(self, knob: str) -> "Knobs":
        """These knobs with ``knob`` switched off."""
        if knob not in KNOBS:
            raise InputError(f"unknown knob {knob!r}; choose from {', '.join(KNOBS)}")
        return replace(self, **{knob: False})

    def as_dict(self) -> dict[str, bool]:
        """Knob name -> state."""
        return {k: bool(getattr(self, k)) for k in KNOBS}


KNOBS: tuple[str, ...] = tuple(f.name for f in fields(Knobs))


@dataclass(frozen=True)
class Markers:
    """The cohort's tumour markers: panel indices of their molecular ions and log fold changes."""

    parents: np.ndarray
    log_fc: np.ndarray

    def peaks(self, panel) -> np.ndarray:
        """Panel indices of every peak (molecular ion, isotopes, adducts) of a marker."""
        return np.asarray([i for i, ion in enumerate(panel) if ion.parent in set(self.parents.tolist())],
                          dtype=np.int64)


def streams(*key: int):
    """Independent generators ``g(k)`` for the parts of one draw: each part's randomness does not
    depend on which knobs are on, so a knob ablation changes only what the knob controls."""
    return lambda k: np.random.default_rng([*(int(x) for x in key), int(k)])


def draw_markers(seed: int, panel, knobs: Knobs, share: float = 0.35) -> Markers:
    """Choose ``share`` of the molecular ions (at most all tissue-wide, regional ones) as markers; draw their fold change."""
    g = streams(seed, 0x3A7)
    eligible = [i for i, ion in enumerate(panel) if ion.kind == "mono" and ion.cls in ("structured", "weak_structured")
                and ion.style in ("regional", "faint", "washed")]
    n_mono = sum(ion.kind == "mono" for ion in panel)
    n = min(len(eligible), max(4, int(round(share * n_mono))))
    if n == 0:
        raise InputError("the panel has no tissue-wide ions to turn into tumour markers")
    parents = np.sort(g(0).choice(eligible, n, replace=False))
    u = g(1).random(n)
    if knobs.fold_change:
        strong = g(2).random(n) < 0.25
        mag = np.log(np.where(strong, 2.0 * 2.0 ** u, 1.2 * (2.0 / 1.2) ** u))
    else:
        mag = np.log(2.5 * (6.0 / 2.5) ** u)
    sign = np.where(g(3).random(n) < 0.3, -1.0, 1.0)
    return Markers(parents.astype(np.int64), sign * mag)


@dataclass(frozen=True)
class Patient:
    """One patient's draws: marker expression, morphology, batch effects and healthy-tissue panel."""

    name: str
    log_fc: np.ndarray                 # per marker, after patient-specific expression
    morphology: str
    intensity_scale: float
    response: np.ndarray               # per panel ion
    mz_shift_ppm: float
    composition: dict[str, float] | None
    panel: object


def draw_patient(seed: int, index: int, panel, markers: Markers, knobs: Knobs,
                 regions: tuple[str, ...], mz_shift_sd_ppm: float) -> Patient:
    """Patient ``index`` of the cohort of ``seed`` (module docstring for what each knob draws)."""
    g = streams(seed, index, 0x9A7)
    log_fc = markers.log_fc.copy()
    if knobs.patient_expression:
        present = g(0).random(len(log_fc)) >= 0.2
        log_fc = np.where(present, log_fc * g(1).lognormal(0.0, 0.35, len(log_fc)), 0.0)
    morph = str(g(2).choice(MORPHOLOGIES)) if knobs.morphology else "compact"
    if knobs.batch:
        scale, shift = float(g(3).lognormal(0.0, 0.5)), float(g(4).normal(0.0, mz_shift_sd_ppm))
        response = g(5).lognormal(0.0, 0.15, len(panel))
    else:
        scale, shift, response = 1.0, 0.0, np.ones(len(panel))
    composition, own = None, panel
    if knobs.healthy_variation:
        composition = {r: float(v) for r, v in zip(regions, g(6).lognormal(0.0, 0.5, len(regions)))}
        own = patient_panel(g(7), panel, regions, sd=0.15)
    return Patient(f"P{index:02d}", log_fc, morph, scale, response.astype(np.float32), shift, composition, own)


def patient_panel(rng: np.random.Generator, panel, regions: tuple[str, ...], sd: float):
    """A copy of ``panel`` whose molecular ions' levels in ``regions`` are scaled log-normally (sd)."""
    from ionmorph.synth import IonPanel

    levels = {}
    for i, ion in enumerate(panel):
        if ion.kind == "mono":
            levels[i] = tuple((k, float(v * rng.lognormal(0.0, sd)) if k in regions else v) for k, v in ion.levels)
    ions = tuple(replace(ion, levels=levels[ion.parent]) if ion.parent in levels else ion for ion in panel)
    return IonPanel(panel.family, ions)


# ----------------------------------------------------------------------------- tumour geometry
def _field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    from ionmorph.synth.fields import smooth_field

    return smooth_field(rng, shape, sigma)


def tumour_mask(rng: np.random.Generator, tissue: np.ndarray, fraction: float, morphology: str) -> np.ndarray:
    """Pixel truth of the tumour: about ``fraction`` of ``tissue`` in the given morphology.

    A lesion envelope (the top of a smooth field over the tissue) holds the tumour; inside it
    ``nests`` are blobs of 2-5 pixels, ``glands`` rings around lumina, ``strands`` 1-2 pixel lines
    (which also reach into the stroma around the envelope); ``compact`` fills the envelope.
    """
    tissue = np.asarray(tissue, dtype=bool)
    if fraction <= 0 or not tissue.any():
        return np.zeros_like(tissue)
    shape, s = tissue.shape, min(tissue.shape)
    if morphology == "compact":
        pattern = np.ones(shape, dtype=bool)
    elif morphology == "nests":
        pattern = _field(rng, shape, 1.3) > -0.1
    elif morphology == "glands":
        f = _field(rng, shape, 2.2)
        pattern = np.abs(f - 0.3) < 0.6
    elif morphology == "strands":
        pattern = np.abs(_field(rng, shape, 2.5)) < 0.3
    else:
        raise InputError(f"unknown morphology {morphology!r}; choose from compact, {', '.join(MORPHOLOGIES)}")
    envelope = _field(rng, shape, 0.1 * s + 1.0)
    if morphology == "strands":        # infiltration: the envelope edge is ragged at pixel scale
        envelope = envelope + 0.35 * _field(rng, shape, 1.0)
    candidates = tissue & pattern
    if not candidates.any():
        return np.zeros_like(tissue)
    want = fraction * tissue.sum()
    values = np.sort(envelope[candidates])[::-1]
    thr = values[min(len(values) - 1, max(0, int(round(want)) - 1))]
    return candidates & (envelope >= thr)


def cellularity(rng: np.random.Generator, shape: tuple[int, int], knobs: Knobs) -> np.ndarray:
    """Share of tumour cells per tumour pixel: a smooth field in 0.6-1 (1 with subclones off)."""
    if not knobs.subclones:
        return np.ones(shape)
    return 0.6 + 0.4 / (1.0 + np.exp(-1.5 * _field(rng, shape, 3.0)))


def clone_expression(rng: np.random.Generator, tumour: np.ndarray, n_markers: int, knobs: Knobs) -> np.ndarray:
    """(n_markers, H, W) 0/1: which markers the clone at each pixel expresses (1 with subclones off)."""
    shape = tumour.shape
    if not knobs.subclones or not tumour.any():
        return np.ones((n_markers, *shape), dtype=np.float32)
    n_clones = int(rng.integers(1, 4))
    expressed = rng.random((n_clones, n_markers)) < 0.75
    expressed[np.arange(n_clones), rng.integers(0, n_markers, n_clones)] = True
    if n_clones == 1:
        clone = np.zeros(shape, dtype=np.int64)
    else:
        clone = np.argmax(np.stack([_field(rng, shape, 0.12 * min(shape) + 1) for _ in range(n_clones)]), axis=0)
    return expressed[clone].transpose(2, 0, 1).astype(np.float32)


#: Tissue of origin of the tumour cells per family: carcinomas arise from the epithelium
#: (``healthy``), renal cell carcinoma from the tubules of the cortex, gliomas from glia (most dense
#: in white matter). Their expression profile is the origin tissue's, with the markers changed.
ORIGIN = {"tumour": "healthy", "kidney": "cortex", "brain": "white_matter"}


def tumour_cell_profile(abundance: np.ndarray, regions: np.ndarray, region_names: list[str],
                        family: str) -> tuple[np.ndarray, np.ndarray]:
    """(profile (n_ions,), texture (H, W)) of the tumour cells of a tumour-free section.

    The profile is the mean expected counts of every ion over the tissue of origin
    (:data:`ORIGIN`; the whole tissue when the slide has none of it), so it carries the patient's
    scale and healthy-tissue levels. The texture is each pixel's total expected counts over that of
    a typical pixel of its region type: what the section's substrate, thickness and scan-row factors
    do to every ion there, applied to the tumour cells too.
    """
    tissue = regions > 0
    name = ORIGIN.get(family, region_names[1])
    origin = regions == region_names.index(name) if name in region_names else np.zeros_like(tissue)
    if not origin.any():
        origin = tissue
    profile = abundance[:, origin].mean(axis=1)
    expected = np.zeros(regions.shape)
    for r in np.unique(regions[tissue]):
        expected[regions == r] = abundance[:, regions == r].sum(axis=0).mean()
    total = abundance.sum(axis=0)
    texture = np.where(tissue & (expected > 0), total / np.maximum(expected, 1e-12), 1.0)
    return profile.astype(np.float32), texture.astype(np.float32)


def apply_tumour(abundance: np.ndarray, section, markers: Markers, patient: Patient, tumour: np.ndarray,
                 g, knobs: Knobs) -> None:
    """Draw the tumour into the expected counts ``abundance`` (n_ions, H, W; in place) of a tumour-free
    ``section``.

    A pixel's spectrum is a linear mixture of the cells its sampled area holds (the premise of
    linear unmixing in MSI): with the tumour-cell share ``s`` (cellularity times the tumour mask,
    blurred by the instrument's point spread, 0 off the tissue), the pixel holds ``(1 - s)`` of its
    own tissue and ``s`` of tumour cells, whose profile is the tissue of origin
    (:func:`tumour_cell_profile`) with every expressed marker multiplied by the patient's fold
    change; a clone that does not express a marker has the origin tissue's level of it. Isotopes
    and adducts follow their molecular ion. ``g`` gives the generators (:func:`streams`).
    """
    if not tumour.any():
        return
    tissue = section.regions > 0
    blur = max(section.instrument.blur_px, 0.3)
    expr = clone_expression(g(0), tumour, len(markers.parents), knobs)
    cell = cellularity(g(1), tumour.shape, knobs) * tumour
    share = (ndimage.gaussian_filter(cell, blur) * tissue).astype(np.float32)
    profile, texture = tumour_cell_profile(abundance, section.regions, section.region_names, section.family)
    cells = texture * share
    abundance *= 1.0 - share[None]
    abundance += profile[:, None, None] * cells[None]
    parent = np.asarray([ion.parent for ion in section.panel])
    for j, p in enumerate(markers.parents):
        if patient.log_fc[j] == 0:
            continue
        expressing = (ndimage.gaussian_filter(cell * expr[j], blur) * tissue * texture).astype(np.float32)
        for i in np.flatnonzero(parent == p):
            abundance[i] += (np.exp(patient.log_fc[j]) - 1.0) * profile[i] * expressing


def apply_batch(abundance: np.ndarray, patient: Patient, rng: np.random.Generator, knobs: Knobs) -> None:
    """Per-ion response factors and a smooth matrix-coverage field on ``abundance`` (in place)."""
    if not knobs.batch:
        return
    coverage = np.exp(0.25 * _field(rng, abundance.shape[1:], 0.15 * min(abundance.shape[1:]) + 1))
    abundance *= patient.response[:, None, None]
    abundance *= coverage.astype(np.float32)[None]


#: Coarse annotation (:func:`annotate`): stroma gaps up to this many pixels wide are bridged, holes up
#: to this many pixels filled, the outline smoothed at this scale (pixels), and a margin this wide
#: around it left unannotated.
BRIDGE_PX, SMALL_HOLE_PX, OUTLINE_SIGMA_PX, MARGIN_PX = 1, 6, 0.7, 2


def annotate(tumour: np.ndarray, tissue: np.ndarray, knobs: Knobs) -> np.ndarray:
    """int annotation: 0 unannotated/background, 1 healthy, 2 tumour (module docstring, ``coarse_annotation``)."""
    tissue = np.asarray(tissue, dtype=bool)
    ann = tissue.astype(np.int64)
    if not knobs.coarse_annotation:
        ann[tumour & tissue] = 2
        return ann
    if not tumour.any():
        return ann
    disk = ndimage.generate_binary_structure(2, 1)
    closed = ndimage.binary_closing(tumour, disk, iterations=BRIDGE_PX) | tumour
    holes, n = ndimage.label(ndimage.binary_fill_holes(closed) & ~closed)
    if n:
        sizes = ndimage.sum_labels(holes > 0, holes, np.arange(1, n + 1))
        closed |= np.isin(holes, 1 + np.flatnonzero(sizes <= SMALL_HOLE_PX))
    outline = (ndimage.gaussian_filter(closed.astype(np.float64), OUTLINE_SIGMA_PX) > 0.5) & tissue
    margin = ndimage.binary_dilation(outline, disk, iterations=MARGIN_PX) & ~outline
    ann[margin] = 0
    ann[outline] = 2
    return ann


@dataclass
class SimSlide:
    """A simulated slide: the section (tumour drawn into its expected counts), pixel truth, annotation."""

    section: object
    truth: np.ndarray
    annotation: np.ndarray
    fraction: float


def simulate_slide(family: str, instrument: str, shape: tuple[int, int], markers: Markers, patient: Patient,
                   kind: str, seed: int, patient_index: int, slide_index: int, knobs: Knobs) -> SimSlide:
    """One slide of ``patient``: a tumour-free section of the patient's tissue, then its tumour and batch effects."""
    from ionmorph.synth import simulate_section

    if kind not in SLIDE_KINDS:
        raise InputError(f"unknown slide kind {kind!r}; choose from {', '.join(SLIDE_KINDS)}")
    g = streams(seed, patient_index, slide_index, 0x511)
    fraction = float(g(0).uniform(*KIND_FRACTION[kind]))
    sec = simulate_section(int(g(1).integers(2**31)), family=family, instrument=instrument, shape=shape,
                           panel=patient.panel, tumour_fraction=0.0, composition=patient.composition,
                           intensity_scale=patient.intensity_scale, mz_shift_ppm=patient.mz_shift_ppm)
    tissue = sec.tissue & sec.mask
    tumour = tumour_mask(g(2), tissue, fraction, patient.morphology)
    apply_tumour(sec.abundance, sec, markers, patient, tumour, streams(seed, patient_index, slide_index, 0x7C), knobs)
    apply_batch(sec.abundance, patient, g(3), knobs)
    return SimSlide(sec, tumour, annotate(tumour, tissue, knobs), fraction)

"""The chemistry of a simulated sample: an ion panel.

A panel is a list of :class:`Ion` rows. Each *molecular* ion (kind ``mono``) has an exact m/z with
a realistic mass defect, a carbon count (from which its isotope envelope follows: M+1/M is about
1.07 % per carbon, M+2/M about half its square), a morphology class (SPEC 2) with a spatial style,
relative levels per region *type* (so one panel gives the same biology on every section of a
family) and a base intensity. Isotope peaks (M+1, M+2 above 5 % of M) and optional sodium or
potassium adducts follow their parent's spatial pattern at a fixed ratio.

Styles per class: ``structured``: ``regional`` (every region type, with contrast);
``weak_structured``: ``faint`` (low counts, gappy after Poisson noise and detection) or
``washed`` (low contrast to the off-sample area); ``localized``: ``regional`` (one or two region
types) or ``spots`` (one or two blobs); ``fragmented``: ``clusters`` (several separate dense
clusters, optionally inside one region type) or ``plaques`` (many small dense spots scattered over
the tissue, such as amyloid plaques or granules); ``unstructured``: ``sparse``, ``noise`` or
``speckle``; ``negative``: ``matrix`` (bright off-sample matrix/background, suppressed on tissue).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Mapping

import numpy as np

from ..errors import InputError
from ..labels import CLASSES, PUBLISHED_CLASS_SHARES
from .anatomy import FAMILY_REGIONS, OFF_SAMPLE, check_family

ISOTOPE_SPACING = 1.0033548  # 13C - 12C (Da)
ADDUCTS = {"+Na": 21.981944, "+K": 37.955882}  # [M+Na]+ and [M+K]+ relative to [M+H]+

#: Region types a localized ion may be confined to (the large bulk types would look structured).
LOCALIZABLE: dict[str, tuple[str, ...]] = {
    "brain": ("cortex", "white_matter", "hippocampus", "ventricle", "tumour"),
    "kidney": ("cortex", "outer_medulla", "inner_medulla", "pelvis", "glomeruli", "tumour"),
    "tumour": ("healthy", "stroma", "fat", "tumour", "necrosis"),
    "seed": ("seed_coat", "aleurone", "embryo", "scutellum", "tumour"),
}
#: Highest level (relative to the region) of a localized ion elsewhere on the tissue.
LOCALIZED_FLOOR_MAX = 0.35
_STYLES: dict[str, tuple[tuple[str, float], ...]] = {
    "structured": (("regional", 1.0),),
    "weak_structured": (("faint", 0.65), ("washed", 0.35)),
    "localized": (("regional", 0.7), ("spots", 0.3)),
    "fragmented": (("clusters", 0.65), ("plaques", 0.35)),
    "unstructured": (("sparse", 0.4), ("noise", 0.35), ("speckle", 0.25)),
    "negative": (("matrix", 1.0),),
}
#: Base intensity (expected counts per pixel at level 1) ranges, log-uniform, per style.
_BASE: dict[str, tuple[float, float]] = {
    "regional": (12.0, 300.0), "faint": (1.0, 6.0), "washed": (4.0, 30.0), "spots": (15.0, 250.0),
    "clusters": (12.0, 200.0), "plaques": (12.0, 200.0), "sparse": (0.02, 0.3), "noise": (0.8, 6.0), "speckle": (3.0, 40.0),
    "matrix": (15.0, 300.0),
}


@dataclass(frozen=True)
class Ion:
    """One ion (a peak) of a panel.

    Attributes
    ----------
    mz : float
        Exact m/z of this peak (monoisotopic for ``mono`` and ``adduct``).
    cls : str
        Morphology class the ion was generated as (SPEC 2).
    regions : tuple of str
        Region types the ion lives in (where its level is at least half its maximum).
    levels : tuple of (str, float)
        Relative level per region type, ``off_sample`` included.
    marks_tumour : bool
        True when the ion is at least twice as abundant in tumour as in the other tissue.
    kind : str
        ``mono``, ``isotope`` or ``adduct``.
    parent : int
        Index (in the panel) of the ion whose spatial pattern this one shares (itself for mono).
    rel : float
        Intensity relative to the parent's pattern (1 for mono).
    n_carbon : int
        Carbon count of the molecule.
    base : float
        Expected counts per pixel at level 1 (before instrument and section scaling).
    style : str
        Spatial style (module docstring).
    seed : int
        Seed of the section-specific parts of the pattern (spot and cluster positions).
    """

    mz: float
    cls: str
    regions: tuple[str, ...]
    levels: tuple[tuple[str, float], ...]
    marks_tumour: bool
    kind: str
    parent: int
    rel: float
    n_carbon: int
    base: float
    style: str
    seed: int

    def level(self, region: str) -> float:
        """Relative level of ``region`` (0 when not listed)."""
        return dict(self.levels).get(region, 0.0)


@dataclass(frozen=True)
class IonPanel:
    """The ions of a simulated sample type (see the module docstring)."""

    family: str
    ions: tuple[Ion, ...]

    def __len__(self) -> int:
        return len(self.ions)

    def __iter__(self) -> Iterator[Ion]:
        return iter(self.ions)

    def __getitem__(self, i: int) -> Ion:
        return self.ions[i]

    @property
    def mz(self) -> np.ndarray:
        """m/z of every ion, float64 (n,)."""
        return np.asarray([ion.mz for ion in self.ions], dtype=np.float64)


#: Default generation mix: the published label shares, corrected for the ions that end up looking
#: like another class (faint isotopes look unstructured, merged clusters look localized, ...), so
#: that the *labels* of a simulated corpus follow the published shares.
_LOOKS_CORRECTION = {"structured": 1.2, "weak_structured": 0.85, "localized": 0.85, "fragmented": 1.2,
                     "unstructured": 0.75, "negative": 1.15}


def _class_shares(class_shares: Mapping[str, float] | None) -> np.ndarray:
    if class_shares is None:
        class_shares = {c: PUBLISHED_CLASS_SHARES[c] * _LOOKS_CORRECTION[c] for c in CLASSES}
    shares = dict(class_shares)
    bad = [k for k in shares if k not in CLASSES]
    if bad or any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
        raise InputError(f"class_shares must map class names ({', '.join(CLASSES)}) to non-negative shares "
                         f"with a positive sum, got {shares}")
    p = np.asarray([shares.get(c, 0.0) for c in CLASSES], dtype=np.float64)
    return p / p.sum()


def _draw_mz(rng: np.random.Generator, cls: str, lo: float, hi: float) -> float:
    """A plausible exact m/z: lipid-rich 600-900 band, metabolites below, matrix clusters low."""
    for _ in range(100):
        if cls == "negative":
            nominal = rng.uniform(lo, lo + 0.6 * (hi - lo))
        elif rng.random() < 0.45:
            nominal = rng.normal(770.0, 70.0)
        else:
            nominal = rng.uniform(lo, hi)
        if lo <= nominal <= hi:
            break
    else:
        nominal = rng.uniform(lo, hi)
    defect = float(np.clip(0.00065 * nominal + rng.normal(0.0, 0.04), 0.0, 0.95))
    return float(np.floor(nominal) + defect)


def _levels(rng: np.random.Generator, family: str, cls: str, style: str) -> tuple[dict[str, float], tuple[str, ...]]:
    """Relative level per region type (and off-sample) for one molecular ion."""
    names = FAMILY_REGIONS[family]
    tumour_family = family == "tumour"
    if style in ("regional", "faint", "washed") and cls != "localized":
        lv = np.clip(rng.lognormal(0.0, 0.7, len(names)), 0.08, None)
        lv = dict(zip(names, lv / lv.max()))
        u = rng.random()
        if u < 0.15:    # tumour marker: up in tumour (and necrosis), lower elsewhere
            lv["tumour"] = 1.0
            lv.update({k: v * rng.uniform(0.15, 0.45) for k, v in lv.items() if k != "tumour"})
        elif u < 0.25:  # down in tumour
            lv["tumour"] = rng.uniform(0.1, 0.3) * max(v for k, v in lv.items() if k != "tumour")
        if "necrosis" in lv:
            lv["necrosis"] = lv["necrosis"] * (0.4 if tumour_family else 1.0)
        lv[OFF_SAMPLE] = rng.uniform(0.0, 0.04)
        if style == "washed":
            lv = {k: 0.65 + 0.35 * v for k, v in lv.items()}
            lv[OFF_SAMPLE] = rng.uniform(0.3, 0.6)
        return lv, tuple(k for k, v in lv.items() if v >= 0.5 and k != OFF_SAMPLE)
    if cls == "localized":
        pool = [r for r in LOCALIZABLE[family] if r != "tumour" or tumour_family or rng.random() < 0.3]
        chosen = tuple(rng.choice(pool, size=1 + int(rng.random() < 0.3), replace=False))
        # many real localized ions are bright in their region over a faint image of the rest
        floor = float(np.exp(rng.uniform(np.log(0.03), np.log(LOCALIZED_FLOOR_MAX)))) if rng.random() < 0.6 else 0.03
        lv = {k: (1.0 if k in chosen else rng.uniform(0.0, floor)) for k in names}
        lv[OFF_SAMPLE] = 0.0
        return lv, chosen
    if cls == "fragmented":
        within = (str(rng.choice(names[:3])),) if rng.random() < 0.4 else ()
        lv = {k: (1.0 if not within or k in within else 0.02) for k in names}
        lv[OFF_SAMPLE] = 0.0
        return lv, within or names
    if cls == "negative":
        lv = {k: v for k, v in zip(names, rng.uniform(0.02, 0.25) * rng.uniform(0.7, 1.3, len(names)))}
        lv[OFF_SAMPLE] = 1.0
        return lv, (OFF_SAMPLE,)
    lv = {k: 1.0 for k in (*names, OFF_SAMPLE)}  # unstructured: same everywhere
    return lv, ()


def make_panel(seed: int, family: str, n_ions: int = 300, class_shares: Mapping[str, float] | None = None,
               mz_range: tuple[float, float] | None = None) -> IonPanel:
    """Draw the ion panel of a sample type.

    Parameters
    ----------
    seed : int
        The panel is a deterministic function of (seed, family, n_ions, class_shares, mz_range).
    family : str
        Tissue family (``ionmorph.synth.FAMILIES``); region levels refer to its region types.
    n_ions : int
        Total number of peaks (molecular ions plus their isotopes and adducts).
    class_shares : mapping, optional
        Share of each class among the molecular ions (default: the published label shares).
    mz_range : (float, float), optional
        m/z range of the molecular ions (default 150-1000).
    """
    check_family(family)
    if n_ions < 1:
        raise InputError(f"n_ions must be at least 1, got {n_ions}")
    lo, hi = mz_range or (150.0, 1000.0)
    if not 0 < lo < hi:
        raise InputError(f"mz_range must be (low, high) with 0 < low < high, got {mz_range}")
    p = _class_shares(class_shares)
    rng = np.random.default_rng([int(seed), 0x5EED])
    ions: list[Ion] = []
    while len(ions) < n_ions:
        cls = CLASSES[int(rng.choice(len(CLASSES), p=p))]
        styles, probs = zip(*_STYLES[cls])
        style = str(rng.choice(styles, p=np.asarray(probs) / sum(probs)))
        mz = _draw_mz(rng, cls, lo, hi)
        levels, regions = _levels(rng, family, cls, style)
        others = [v for k, v in levels.items() if k not in ("tumour", "necrosis", OFF_SAMPLE)]
        marks = cls not in ("unstructured", "negative") and levels.get("tumour", 0) >= 2 * float(np.mean(others))
        n_c = max(2, int(round(mz / 16.5 + rng.normal(0, 2))))
        base = float(np.exp(rng.uniform(*np.log(_BASE[style]))))
        idx = len(ions)
        mono = Ion(mz=mz, cls=cls, regions=regions, levels=tuple(levels.items()), marks_tumour=bool(marks),
                   kind="mono", parent=idx, rel=1.0, n_carbon=n_c, base=base, style=style,
                   seed=int(rng.integers(2**31)))
        ions.append(mono)
        lam = 0.0107 * n_c
        for k, ratio in ((1, lam), (2, lam * lam / 2)):
            if ratio >= 0.05:
                ions.append(replace(mono, mz=mz + k * ISOTOPE_SPACING, kind="isotope", rel=float(ratio)))
        if cls not in ("unstructured", "negative") and rng.random() < 0.3:
            name = str(rng.choice(list(ADDUCTS)))
            ions.append(replace(mono, mz=mz + ADDUCTS[name], kind="adduct", rel=float(rng.uniform(0.15, 0.8))))
    return IonPanel(family, tuple(ions[:n_ions]))

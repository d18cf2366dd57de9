"""Slide level: dense tumour-probability maps, the slide score, the calibrated slide rule, the
domain guard, and the map figure.

Slide score: the tumour-probability map is smoothed with a 5 x 5 mean over the slide's region of
interest; the score is the share of the region whose smoothed probability is >= 0.5 (an area
share; isolated false-positive pixels are smoothed away, a real tumour is a connected area).

Slide rule (:class:`SlideRule`, stored in the model's config): tumour-bearing when the score is
>= the rule's threshold, tumour-free below ``threshold / band``, and **too close to call** in
between. The threshold is calibrated on held-out patients (:func:`calibrate_rule`: the out-of-fold
slide scores of a patient-grouped cross-validation on the training cohort) so that at most
:data:`TARGET_FPR` (5 %) of the tumour-free held-out slides are called tumour; weights without a
calibrated rule fall back to :data:`MIN_FRACTION` (1 %). A slide's truth is tumour-bearing when at
least :data:`MIN_FRACTION` of its annotated tissue is tumour (the small-lesion slides of the
simulated cohorts hold 2-5 %, so they count; :data:`SMALL_LESION` separates them from the
tumour-bearing slides with 15-35 %).

Domain guard (:func:`check_domain`): the model records what it was trained on
(:func:`domain_record`: instrument, pixel-size range, m/z windows, normalisation, the spectral
profile of its channels, their detection floor and their normalised intensities); each input is
compared with that record and refused when clearly outside, warned about when borderline.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ionmorph.errors import InputError

from .cohort import crop_to_raster, raster_origin
from .patches import extract_patches, normalise_cube

MIN_FRACTION = 0.01
SMOOTH = 5
TUMOUR = 2


def score_grid(region: np.ndarray, stride: int = 1) -> np.ndarray:
    """The ``region`` pixels on a grid of step ``stride`` (every region pixel for stride 1)."""
    if stride < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    region = np.asarray(region, dtype=bool)
    grid = np.zeros_like(region)
    grid[::stride, ::stride] = region[::stride, ::stride]
    return grid


def predict_map(predict_proba: Callable[[np.ndarray], np.ndarray], cube: np.ndarray, region: np.ndarray,
                patch: int, channels: np.ndarray | None = None, batch: int = 2048, stride: int = 1) -> np.ndarray:
    """Tumour probability (last class) of a patch centred on every ``region`` pixel; NaN elsewhere.

    With ``stride`` > 1 only the pixels of :func:`score_grid` are predicted and every other region
    pixel takes the value of its nearest predicted pixel (neighbouring patches overlap anyway).
    """
    region = np.asarray(region, dtype=bool)
    grid = score_grid(region, stride)
    centres = np.argwhere(grid)
    out = np.full(region.shape, np.nan, dtype=np.float32)
    for i in range(0, len(centres), batch):
        c = centres[i:i + batch]
        out[c[:, 0], c[:, 1]] = predict_proba(extract_patches(cube, c, patch, channels))[:, -1]
    if stride > 1 and grid.any():
        from scipy.ndimage import distance_transform_edt

        _, (rows, cols) = distance_transform_edt(~grid, return_indices=True)
        out = np.where(region, out[rows, cols], np.nan).astype(np.float32)
    return out


def slide_score(prob: np.ndarray, region: np.ndarray) -> float:
    """Fraction of ``region`` whose 5 x 5-smoothed tumour probability is >= 0.5."""
    from scipy.ndimage import uniform_filter

    region = np.asarray(region, dtype=bool)
    if not region.any():
        raise InputError("the slide's region of interest is empty")
    p = np.where(region, np.nan_to_num(prob), 0.0)
    w = uniform_filter(region.astype(np.float64), SMOOTH, mode="constant")
    smooth = uniform_filter(p, SMOOTH, mode="constant") / np.maximum(w, 1e-12)
    return float(np.mean(smooth[region] >= 0.5))


def slide_call(prob: np.ndarray, region: np.ndarray, threshold: float = MIN_FRACTION) -> bool:
    """True when the slide's :func:`slide_score` reaches ``threshold`` (tumour-bearing)."""
    return slide_score(prob, region) >= threshold


def slide_truth(annotation: np.ndarray) -> bool:
    """True when at least :data:`MIN_FRACTION` of the annotated tissue is tumour."""
    return tumour_share(annotation) >= MIN_FRACTION


def tumour_share(annotation: np.ndarray) -> float:
    """Share of the annotated tissue annotated tumour (0 without tissue)."""
    tissue = annotation > 0
    return float(np.mean(annotation[tissue] == TUMOUR)) if tissue.any() else 0.0


#: Operating point of the calibrated rule: at most this share of tumour-free held-out slides called tumour.
TARGET_FPR = 0.05
#: Too close to call: a score in [threshold / BAND, threshold).
BAND = 2.0
#: Lowest threshold a calibration may set (a few pixels of a 96 x 96 slide).
MIN_THRESHOLD = 0.002
#: Tumour-bearing slides whose annotated tumour share is below this are small lesions.
SMALL_LESION = 0.1
#: The three slide calls.
CALLS = ("tumour-bearing", "tumour-free", "too close to call")


@dataclass(frozen=True)
class SlideRule:
    """The slide rule of a model: threshold on :func:`slide_score`, the too-close band and how the
    threshold was set (``calibration``: held-out numbers, empty for the uncalibrated default)."""

    threshold: float = MIN_FRACTION
    band: float = BAND
    calibration: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any) -> "SlideRule":
        """The rule stored in a :class:`tumor3d.model.Tumor3DConfig` (the default when it has none)."""
        doc = dict(getattr(config, "slide_rule", None) or {})
        return cls(float(doc.get("threshold", MIN_FRACTION)), float(doc.get("band", BAND)),
                   dict(doc.get("calibration", {})))

    def as_dict(self) -> dict:
        """JSON-ready form (what config.json stores)."""
        return {"threshold": self.threshold, "band": self.band, "calibration": dict(self.calibration)}

    def call(self, score: float) -> str:
        """One of :data:`CALLS` for a slide score."""
        if score >= self.threshold:
            return CALLS[0]
        return CALLS[2] if score >= self.threshold / self.band else CALLS[1]

    def text(self) -> str:
        """The rule in one line."""
        how = (f"calibrated on {self.calibration['n_free']} tumour-free and {self.calibration['n_tumour']} "
               f"tumour-bearing held-out slides for <= {self.calibration['target_fpr']:.0%} false tumour calls"
               if self.calibration else "default, not calibrated")
        return (f"tumour-bearing when >= {self.threshold:.2%} of the region has a {SMOOTH}x{SMOOTH}-smoothed "
                f"P(tumour) >= 0.5; too close to call from {self.threshold / self.band:.2%} ({how})")


RULE = SlideRule().text()


def calibrate_rule(scores: np.ndarray, truth: np.ndarray, small: np.ndarray | None = None,
                   target_fpr: float = TARGET_FPR, band: float = BAND, source: str = "") -> SlideRule:
    """The rule whose threshold calls at most ``target_fpr`` of the tumour-free slides tumour.

    ``scores`` are held-out slide scores (:func:`slide_score`), ``truth`` their tumour-bearing truth
    and ``small`` marks the small-lesion slides among them. The threshold sits halfway between the
    highest tumour-free score that must not be called (the ``floor(target_fpr * n_free) + 1``-th
    highest) and the next higher score of any slide, at least :data:`MIN_THRESHOLD`. The
    calibration records the held-out false-positive rate and the sensitivity (all tumour-bearing
    slides and small lesions) of the decided calls at that threshold, and the ROC AUC.
    """
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    small = np.zeros_like(truth) if small is None else np.asarray(small, dtype=bool)
    free = np.sort(scores[~truth])[::-1]
    if not len(free) or truth.sum() == 0:
        raise InputError("calibrating the slide rule needs held-out tumour-free and tumour-bearing slides")
    allowed = int(np.floor(target_fpr * len(free) + 1e-9))
    if allowed >= len(free):
        threshold = MIN_THRESHOLD
    else:
        above = scores[scores > free[allowed]]
        threshold = 0.5 * (free[allowed] + above.min()) if above.size else free[allowed] + 1e-3
    rule = SlideRule(max(float(threshold), MIN_THRESHOLD), band)
    calls = np.array([rule.call(s) for s in scores])
    summary = operating_point(calls, truth, small)
    return SlideRule(rule.threshold, band, {"target_fpr": target_fpr, "n_free": int(len(free)),
                                            "n_tumour": int(truth.sum()), "n_small": int((truth & small).sum()),
                                            "roc_auc": roc(scores, truth)["auc"], **summary,
                                            **({"source": source} if source else {})})


def operating_point(calls: np.ndarray, truth: np.ndarray, small: np.ndarray) -> dict[str, float]:
    """False-positive rate, sensitivities, too-close shares and balanced accuracy of three-way calls
    (too close to call counts as not called tumour)."""
    calls, truth, small = np.asarray(calls), np.asarray(truth, dtype=bool), np.asarray(small, dtype=bool)
    pos = calls == CALLS[0]

    def share(x: np.ndarray, sel: np.ndarray) -> float:
        return float(np.mean(x[sel])) if sel.any() else float("nan")

    fpr, tpr = share(pos, ~truth), share(pos, truth)
    return {"fpr": fpr, "sensitivity": tpr, "sensitivity_small": share(pos, truth & small),
            "sensitivity_large": share(pos, truth & ~small), "too_close": float(np.mean(calls == CALLS[2])),
            "balanced_accuracy": 0.5 * (tpr + 1 - fpr)}


def roc(scores: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Slide-level ROC of held-out scores: false-positive and true-positive rates per threshold, AUC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.asarray(truth, dtype=bool)
    if truth.all() or not truth.any():
        return {"fpr": [], "tpr": [], "thresholds": [], "auc": float("nan")}
    fpr, tpr, thr = roc_curve(truth, scores)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": [float(min(t, 1.0)) for t in thr],
            "auc": float(roc_auc_score(truth, scores))}


def call_text(call: str, score: float, rule: SlideRule | None = None) -> str:
    """The slide call with its score and the rule, two lines (what the map figure shows)."""
    rule = rule or SlideRule()
    return (f"called {call} (score {score:.2%} of the region at smoothed P(tumour) >= 0.5; threshold "
            f"{rule.threshold:.2%})\nrule: {rule.text()}")


def probability_figure(prob: np.ndarray, annotation: np.ndarray | None = None, title: str = "",
                       call: tuple[str, float, SlideRule] | None = None) -> Any:
    """Figure: tumour probability over the region, beside the annotation when given.

    ``call`` = (call, :func:`slide_score`, :class:`SlideRule`) puts the slide call, its score and the
    rule under ``title`` (:func:`call_text`).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from ionmorph.plotting import wrap_to_width

    n = 1 if annotation is None else 2
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), squeeze=False)
    im = axes[0, 0].imshow(np.ma.masked_invalid(prob), cmap="magma", vmin=0, vmax=1)
    axes[0, 0].set_title("P(tumour)")
    fig.colorbar(im, ax=axes[0, 0], fraction=0.046)
    if annotation is not None:
        axes[0, 1].imshow(annotation, cmap=ListedColormap(["#f0f0f0", "#74a9cf", "#d7301f"]), vmin=0, vmax=2,
                          interpolation="nearest")
        axes[0, 1].set_title("annotation (healthy blue, tumour red)")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    text = "\n".join(t for t in (title, call_text(*call) if call is not None else "") if t)
    size = 8 if call is not None else 12
    fig.suptitle(wrap_to_width(text, fig.get_figwidth(), size), fontsize=size)
    fig.tight_layout()
    return fig


def map_path(figure: str | os.PathLike) -> Path:
    """Where :func:`save_probability_map` puts the map of a figure: beside it, suffix ``.npy``."""
    return Path(figure).with_suffix(".npy")


def is_probability_map(path: Path) -> bool:
    """True for a map that ``tumor3d predict`` wrote: a 2-D float32 ``.npy`` beside an ionmorph figure
    of the same stem (so a rerun may replace both)."""
    from ionmorph.plotting import is_ionmorph_figure

    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)      # reads the header only
    except (OSError, ValueError, EOFError):
        return False
    if not isinstance(arr, np.ndarray):                             # an .npz archive
        return False
    figures = [f for f in Path(path).parent.glob(f"{Path(path).stem}.*") if f.suffix.lower() != ".npy"]
    return arr.ndim == 2 and arr.dtype == np.float32 and any(is_ionmorph_figure(f) for f in figures)


def save_probability_map(prob: np.ndarray, path: str | os.PathLike) -> Path:
    """Write the tumour-probability map (H, W) float32, NaN outside the predicted region, atomically
    (check the path with :func:`ionmorph.fileio.check_output` first)."""
    from ionmorph.fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(prob, dtype=np.float32))
    return path


#: Domain check (:func:`check_domain`): a channel is found when its ion image has signal in at least
#: this share of the region's pixels.
MIN_SIGNAL_SHARE = 0.05
#: Refuse below this share of the model's channels found; warn below :data:`WARN_FOUND`.
MIN_FOUND, WARN_FOUND = 0.5, 0.9
#: Refuse / warn when the median |z| of the channels' mean normalised intensity against the training
#: statistics exceeds these.
MAX_Z, WARN_Z = 4.0, 2.0
#: Spectral profile (each channel's share of the channels' summed mean intensity, log): refuse / warn
#: when the median |z| against the training slides exceeds these (sd floored at :data:`PROFILE_SD_FLOOR`).
MAX_PROFILE_Z, WARN_PROFILE_Z = 6.0, 3.0
PROFILE_SD_FLOOR = 0.25
#: Detection floor (median over channels of the 1st percentile of their non-zero raw intensities):
#: refuse / warn when it lies outside the training slides' range by more than these factors.
MAX_FLOOR_FACTOR, WARN_FLOOR_FACTOR = 4.0, 1.5
#: Pixel size (file metadata): refuse / warn when outside the training range by more than these factors.
MAX_PIXEL_FACTOR, WARN_PIXEL_FACTOR = 2.0, 1.0 + 1e-6


def channel_stats(raw: np.ndarray, region: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel statistics of raw ion images (C, H, W) over ``region``: mean intensity, share of
    pixels with signal, and detection floor (1st percentile of the non-zero values; NaN if none)."""
    values = np.asarray(raw, dtype=np.float64)[:, np.asarray(region, dtype=bool)]
    floor = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        nz = v[v > 0]
        if nz.size:
            floor[i] = np.percentile(nz, 1)
    return {"mean": values.mean(axis=1), "signal": (values > 0).mean(axis=1), "floor": floor}


def spectral_profile(mean: np.ndarray) -> np.ndarray:
    """Log share of each channel in the channels' summed mean intensity (absent channels at 1e-6 of the largest)."""
    mean = np.asarray(mean, dtype=np.float64)
    total = max(float(mean.sum()), 1e-12)
    return np.log(np.maximum(mean, 1e-6 * max(float(mean.max()), 1e-12)) / total)


def detection_floor(floor: np.ndarray) -> float:
    """log10 of the median per-channel detection floor (NaN when no channel has signal)."""
    floor = np.asarray(floor, dtype=np.float64)
    return float(np.log10(np.nanmedian(floor))) if np.isfinite(floor).any() else float("nan")


def domain_record(stats: list[dict[str, np.ndarray]], channels: np.ndarray, *, instrument: str | None,
                  pixel_sizes: list[float | None], instrument_models: list[str | None], ppm: float,
                  normalisation: str) -> dict[str, Any]:
    """What a model was trained on, for :func:`check_domain`: instrument, pixel-size range, m/z
    windows, normalisation, and the channels' spectral profile (mean and sd over the training
    slides) and detection-floor range, from every training slide's :func:`channel_stats`."""
    channels = np.asarray(channels)
    profiles = np.stack([spectral_profile(s["mean"][channels]) for s in stats])
    floors = np.array([detection_floor(s["floor"][channels]) for s in stats])
    floors = floors[np.isfinite(floors)]
    sizes = [p for p in pixel_sizes if p is not None]
    return {"instrument": instrument, "instrument_models": sorted({m for m in instrument_models if m}),
            "pixel_size_um": [min(sizes), max(sizes)] if sizes else None, "ppm": float(ppm),
            "normalisation": normalisation, "n_slides": len(stats),
            "profile_mean": profiles.mean(axis=0).round(4).tolist(),
            "profile_sd": profiles.std(axis=0).round(4).tolist(),
            "floor_log10": [round(float(floors.min()), 4), round(float(floors.max()), 4)] if floors.size else None}


@dataclass
class DomainReport:
    """How well an input matches a model's training domain (:func:`check_domain`): channels found,
    median |z| of the normalised intensities, and (with a domain record) of the spectral profile,
    the detection floor's distance (log10) from the training range, the file's pixel size."""

    found: int
    total: int
    median_z: float
    warnings: tuple[str, ...]
    profile_z: float | None = None
    floor_log10_distance: float | None = None
    pixel_size_um: float | None = None

    @property
    def share_found(self) -> float:
        """Share of the model's channels with signal in the input."""
        return self.found / max(self.total, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``tumor3d predict`` prints)."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 3)

        return {"channels_found": f"{self.found}/{self.total}", "intensity_z": r(self.median_z),
                "profile_z": r(self.profile_z), "floor_log10_distance": r(self.floor_log10_distance),
                "pixel_size_um": self.pixel_size_um, "warnings": list(self.warnings)}


def _outside(value: float, lo: float, hi: float) -> float:
    """How far ``value`` lies outside [lo, hi] (0 inside)."""
    return max(lo - value, value - hi, 0.0)


def check_domain(model: Any, raw: np.ndarray, cube: np.ndarray, region: np.ndarray, source: str,
                 acquisition: Any = None, measured: np.ndarray | None = None) -> DomainReport:
    """Compare an input with the model's training domain; raise :class:`InputError` when it is clearly
    outside, else return the report with a warning for each borderline measure.

    Measures: the model's channels carry signal in ``raw`` (C, H, W); their normalised intensities
    (``cube``) sit near the training statistics; and, when the config holds a domain record
    (:func:`domain_record`), the channels' spectral profile, their detection floor and the file's
    pixel size and instrument (``acquisition``, :func:`ionmorph.io.metadata.read_acquisition_info`)
    match the training slides. The channel measures (signal, profile, floor) are taken over
    ``measured`` (default ``region``): every measured pixel of the file, as in the record (a
    region of tissue only has a higher floor than the whole raster); the intensities over ``region``.
    """
    cfg = model.config
    region = np.asarray(region, dtype=bool)
    if not region.any():
        raise InputError(f"{source}: no measured pixels in the region of interest")
    stats = channel_stats(raw, region if measured is None else np.asarray(measured, dtype=bool))
    signal = stats["signal"] >= MIN_SIGNAL_SHARE
    mean = np.asarray(cube)[:, region].mean(axis=1)
    train_mean = model.input_mean.detach().cpu().numpy()
    train_sd = model.input_std.detach().cpu().numpy()
    z = float(np.median(np.abs(mean - train_mean) / np.maximum(train_sd, 1e-3)))
    found = int(signal.sum())
    window = f"+/- {cfg.ppm:g} ppm"
    refuse = "this file is not from the model's domain (other instrument, tissue or m/z range), so no tumour call is made"
    if found / len(signal) < MIN_FOUND:
        raise InputError(f"{source}: only {found} of the model's {len(signal)} channels carry signal ({window}); "
                         + refuse)
    if z > MAX_Z:
        raise InputError(f"{source}: the model's channels have intensities far from its training data "
                         f"(median |z| {z:.1f} > {MAX_Z:g}); no tumour call is made")
    warnings = []
    if found / len(signal) < WARN_FOUND:
        warnings.append(f"only {found} of {len(signal)} model channels carry signal ({window})")
    if z > WARN_Z:
        warnings.append(f"channel intensities differ from the training data (median |z| {z:.1f})")
    record = dict(getattr(cfg, "domain", None) or {})
    report = DomainReport(found, len(signal), z, ())
    if record.get("profile_mean"):
        mu, sd = np.asarray(record["profile_mean"]), np.asarray(record["profile_sd"])
        pz = float(np.median(np.abs(spectral_profile(stats["mean"]) - mu) / np.maximum(sd, PROFILE_SD_FLOOR)))
        report.profile_z = pz
        trained = f"the training slides ({record.get('instrument') or 'their instrument'})"
        if pz > MAX_PROFILE_Z:
            raise InputError(f"{source}: the spectral profile of the model's channels is far from {trained} "
                             f"(median |z| {pz:.1f} > {MAX_PROFILE_Z:g}); " + refuse)
        if pz > WARN_PROFILE_Z:
            warnings.append(f"spectral profile of the channels differs from {trained} (median |z| {pz:.1f})")
    if record.get("floor_log10"):
        lo, hi = record["floor_log10"]
        floor = detection_floor(stats["floor"])
        dist = _outside(floor, lo, hi) if np.isfinite(floor) else float("inf")
        report.floor_log10_distance = dist
        what = (f"detection floor of the channels {10 ** floor:.3g} vs {10 ** lo:.3g}-{10 ** hi:.3g} in training"
                if np.isfinite(floor) else "no channel has signal")
        if dist > np.log10(MAX_FLOOR_FACTOR):
            raise InputError(f"{source}: {what} (another instrument or detector setting); no tumour call is made")
        if dist > np.log10(WARN_FLOOR_FACTOR):
            warnings.append(f"{what}: another instrument or detector setting?")
    if acquisition is not None and acquisition.pixel_size_um is not None:
        size = float(max(acquisition.pixel_size_um))
        report.pixel_size_um = size
        if record.get("pixel_size_um"):
            lo, hi = record["pixel_size_um"]
            factor = max(lo / size, size / hi, 1.0)
            text = f"pixel size {size:g} um outside the training range {lo:g}-{hi:g} um"
            if factor > MAX_PIXEL_FACTOR:
                raise InputError(f"{source}: {text}; no tumour call is made")
            if factor > WARN_PIXEL_FACTOR:
                warnings.append(text)
    if acquisition is not None and acquisition.instrument and record.get("instrument_models") \
            and acquisition.instrument not in record["instrument_models"]:
        warnings.append(f"instrument {acquisition.instrument!r} not among the training instruments "
                        f"({', '.join(record['instrument_models'])})")
    report.warnings = tuple(warnings)
    return report


@dataclass
class SlidePrediction:
    """A slide's tumour-probability map (on the imzML raster), score, three-way call under ``rule``,
    raster origin and domain check."""

    prob: np.ndarray
    score: float
    call: str
    rule: SlideRule
    origin: tuple[int, int]
    domain: DomainReport | None = None
    channels: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def tumour(self) -> bool:
        """True when called tumour-bearing."""
        return self.call == CALLS[0]


def read_channels(imzml: str | os.PathLike, mz: np.ndarray, ppm: float, progress: bool = False,
                  raw: bool = False) -> tuple[np.ndarray, ...]:
    """Normalised ion images (C, H, W) of ``mz`` in an imzML file (as in training), mask, raster origin
    (and, with ``raw``, the ion images before normalisation, last)."""
    from ionmorph.io.msi import open_msi

    msi = open_msi(Path(imzml))
    cube = msi.ion_images(np.asarray(mz, dtype=np.float64), ppm=ppm, progress=progress)
    out = (normalise_cube(cube, msi.tic_image(), msi.mask), msi.mask, raster_origin(msi))
    return (*out, cube) if raw else out


def acquisition_info(imzml: str | os.PathLike) -> Any:
    """The file's header metadata (:func:`ionmorph.io.metadata.read_acquisition_info`); None if unreadable."""
    from ionmorph.errors import MSIFormatError
    from ionmorph.io.metadata import read_acquisition_info

    try:
        return read_acquisition_info(imzml)
    except (MSIFormatError, OSError, ValueError):
        return None


def predict_slide(model: Any, imzml: str | os.PathLike, region: np.ndarray | None = None,
                  progress: bool = False) -> SlidePrediction:
    """Run a :class:`tumor3d.model.Tumor3DNet` over an imzML file.

    The model's channels (``config.mz`` at ``config.ppm``) are extracted and normalised as in
    training; every pixel of ``region`` (default: every measured pixel; a full-scan mask is
    cropped to the file's raster) gets a probability. :func:`check_domain` refuses input outside
    the model's training domain and warns when it is borderline (``domain.warnings``); the slide
    is called with the model's :class:`SlideRule`.
    """
    import torch

    cfg = model.config
    if not cfg.mz:
        raise InputError("the model's config lists no channel m/z; it cannot read an imzML file")
    cube, mask, origin, raw = read_channels(imzml, np.asarray(cfg.mz), cfg.ppm, progress, raw=True)
    region = mask if region is None else crop_to_raster(np.asarray(region, dtype=bool), mask.shape, origin, imzml)
    region = region & mask
    domain = check_domain(model, raw, cube, region, str(imzml), acquisition_info(imzml), measured=mask)

    def proba(x: np.ndarray) -> np.ndarray:
        return model.predict_proba(torch.from_numpy(x).unsqueeze(1)).numpy()

    prob = predict_map(proba, cube, region, cfg.patch)
    score = slide_score(prob, region)
    rule = SlideRule.from_config(cfg)
    return SlidePrediction(prob, score, rule.call(score), rule, origin, domain, channels=raw, mask=mask)


def write_slide_report(pred: SlidePrediction, model: Any, imzml: str | os.PathLike, path: str | os.PathLike, *,
                       model_name: str = "", inputs: Any = (), overwrite: bool = False) -> Path:
    """The HTML report of a slide prediction (:mod:`ionmorph.io.html_report`): the call, its score and
    rule, the probability map (0-1, magma) and one card per channel the model reads (its raw ion
    image, m/z and whether it carries signal in the region). Returns the path."""
    from ionmorph.io.html_report import HeaderImage, write_html_report

    cfg = model.config
    mz = np.asarray(cfg.mz, dtype=np.float64)
    region = np.isfinite(pred.prob)
    signal = (pred.channels[:, region] > 0).mean(axis=1) >= MIN_SIGNAL_SHARE if region.any() else np.zeros(len(mz), bool)
    facts = {"file": Path(imzml).name, "raster": f"{pred.prob.shape[0]} x {pred.prob.shape[1]} pixels",
             "call": call_text(pred.call, pred.score, pred.rule).splitlines()[0], "rule": pred.rule.text(),
             "model": model_name or None, "channels": f"{len(mz)} at +/- {cfg.ppm:g} ppm, "
             f"{pred.domain.found if pred.domain else int(signal.sum())} carry signal",
             "warnings": "; ".join(pred.domain.warnings) if pred.domain and pred.domain.warnings else None}
    head = HeaderImage("P(tumour)", pred.prob, region, unit="tumour probability", vmin=0.0, vmax=1.0, cmap="magma")
    cols = {"mz": mz, "channel": np.arange(len(mz)), "signal": np.where(signal, "signal", "no signal")}
    return write_html_report(path, title=f"tumor3d: {Path(imzml).name}", facts=facts, columns=cols,
                             images=pred.channels, mask=pred.mask, header_images=[head], card_name="channel",
                             inputs=[imzml, *inputs], overwrite=overwrite)

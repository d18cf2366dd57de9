"""Slide level: dense tumour-probability maps, the slide call, and the map figure.

The slide rule (stated once, used everywhere): the tumour-probability map is smoothed with a
5 x 5 mean over the slide's region of interest, and the slide is called **tumour-bearing** when at
least :data:`MIN_FRACTION` (1 %) of the region's pixels have a smoothed probability >= 0.5. The
smoothing removes isolated false-positive pixels; a real tumour is a connected area. A slide's
truth is tumour-bearing when at least :data:`MIN_FRACTION` of its annotated tissue is tumour (the
small-lesion slides of the simulated cohorts hold 2-5 %, so they count).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
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


def slide_call(prob: np.ndarray, region: np.ndarray) -> bool:
    """True when the slide is called tumour-bearing (module docstring)."""
    return slide_score(prob, region) >= MIN_FRACTION


def slide_truth(annotation: np.ndarray) -> bool:
    """True when at least :data:`MIN_FRACTION` of the annotated tissue is tumour."""
    tissue = annotation > 0
    return bool(tissue.any() and np.mean(annotation[tissue] == TUMOUR) >= MIN_FRACTION)


RULE = (f"tumour-bearing when >= {MIN_FRACTION:.0%} of the region has a {SMOOTH}x{SMOOTH}-smoothed "
        "P(tumour) >= 0.5")


def call_text(tumour: bool, score: float) -> str:
    """The slide call with its score and the rule, two lines (what the map figure shows)."""
    return (f"called {'tumour-bearing' if tumour else 'tumour-free'} ({score:.1%} of the region at smoothed "
            f"P(tumour) >= 0.5)\nrule: {RULE}")


def probability_figure(prob: np.ndarray, annotation: np.ndarray | None = None, title: str = "",
                       call: tuple[bool, float] | None = None) -> Any:
    """Figure: tumour probability over the region, beside the annotation when given.

    ``call`` = (tumour-bearing, :func:`slide_score`) puts the slide call and :data:`RULE` under
    ``title`` (:func:`call_text`).
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


@dataclass
class DomainReport:
    """How well an input matches a model's training domain (:func:`check_domain`)."""

    found: int
    total: int
    median_z: float
    warnings: tuple[str, ...]

    @property
    def share_found(self) -> float:
        """Share of the model's channels with signal in the input."""
        return self.found / max(self.total, 1)


def check_domain(model: Any, raw: np.ndarray, cube: np.ndarray, region: np.ndarray, source: str) -> DomainReport:
    """Check that the model's channels exist and carry signal in ``raw`` (C, H, W) and that their
    normalised intensities (``cube``) sit near the training statistics; raise :class:`InputError`
    when the input is clearly out of domain, else return the report with any warnings."""
    cfg = model.config
    region = np.asarray(region, dtype=bool)
    if not region.any():
        raise InputError(f"{source}: no measured pixels in the region of interest")
    signal = (np.asarray(raw)[:, region] > 0).mean(axis=1) >= MIN_SIGNAL_SHARE
    mean = np.asarray(cube)[:, region].mean(axis=1)
    train_mean = model.input_mean.detach().cpu().numpy()
    train_sd = model.input_std.detach().cpu().numpy()
    z = float(np.median(np.abs(mean - train_mean) / np.maximum(train_sd, 1e-3)))
    found = int(signal.sum())
    window = f"+/- {cfg.ppm:g} ppm"
    if found / len(signal) < MIN_FOUND:
        raise InputError(f"{source}: only {found} of the model's {len(signal)} channels carry signal ({window}); "
                         "this file is not from the model's domain (other instrument, tissue or m/z range), "
                         "so no tumour call is made")
    if z > MAX_Z:
        raise InputError(f"{source}: the model's channels have intensities far from its training data "
                         f"(median |z| {z:.1f} > {MAX_Z:g}); no tumour call is made")
    warnings = []
    if found / len(signal) < WARN_FOUND:
        warnings.append(f"only {found} of {len(signal)} model channels carry signal ({window})")
    if z > WARN_Z:
        warnings.append(f"channel intensities differ from the training data (median |z| {z:.1f})")
    return DomainReport(found, len(signal), z, tuple(warnings))


@dataclass
class SlidePrediction:
    """A slide's tumour-probability map (on the imzML raster), score, call, raster origin and domain check."""

    prob: np.ndarray
    score: float
    tumour: bool
    origin: tuple[int, int]
    domain: DomainReport | None = None
    channels: np.ndarray | None = None
    mask: np.ndarray | None = None


def read_channels(imzml: str | os.PathLike, mz: np.ndarray, ppm: float, progress: bool = False,
                  raw: bool = False) -> tuple[np.ndarray, ...]:
    """Normalised ion images (C, H, W) of ``mz`` in an imzML file (as in training), mask, raster origin
    (and, with ``raw``, the ion images before normalisation, last)."""
    from ionmorph.io.msi import open_msi

    msi = open_msi(Path(imzml))
    cube = msi.ion_images(np.asarray(mz, dtype=np.float64), ppm=ppm, progress=progress)
    out = (normalise_cube(cube, msi.tic_image(), msi.mask), msi.mask, raster_origin(msi))
    return (*out, cube) if raw else out


def predict_slide(model: Any, imzml: str | os.PathLike, region: np.ndarray | None = None,
                  progress: bool = False) -> SlidePrediction:
    """Run a :class:`tumor3d.model.Tumor3DNet` over an imzML file.

    The model's channels (``config.mz`` at ``config.ppm``) are extracted and normalised as in
    training; every pixel of ``region`` (default: every measured pixel; a full-scan mask is
    cropped to the file's raster) gets a probability. :func:`check_domain` refuses input that holds
    too few of the model's channels or sits far from the training intensities, and warns when it
    is borderline (``domain.warnings``).
    """
    import torch

    cfg = model.config
    if not cfg.mz:
        raise InputError("the model's config lists no channel m/z; it cannot read an imzML file")
    cube, mask, origin, raw = read_channels(imzml, np.asarray(cfg.mz), cfg.ppm, progress, raw=True)
    region = mask if region is None else crop_to_raster(np.asarray(region, dtype=bool), mask.shape, origin, imzml)
    region = region & mask
    domain = check_domain(model, raw, cube, region, str(imzml))

    def proba(x: np.ndarray) -> np.ndarray:
        return model.predict_proba(torch.from_numpy(x).unsqueeze(1)).numpy()

    prob = predict_map(proba, cube, region, cfg.patch)
    score = slide_score(prob, region)
    return SlidePrediction(prob, score, score >= MIN_FRACTION, origin, domain, channels=raw, mask=mask)


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
             "call": call_text(pred.tumour, pred.score).splitlines()[0], "rule": RULE,
             "model": model_name or None, "channels": f"{len(mz)} at +/- {cfg.ppm:g} ppm, "
             f"{pred.domain.found if pred.domain else int(signal.sum())} carry signal",
             "warnings": "; ".join(pred.domain.warnings) if pred.domain and pred.domain.warnings else None}
    head = HeaderImage("P(tumour)", pred.prob, region, unit="tumour probability", vmin=0.0, vmax=1.0, cmap="magma")
    cols = {"mz": mz, "channel": np.arange(len(mz)), "signal": np.where(signal, "signal", "no signal")}
    return write_html_report(path, title=f"tumor3d: {Path(imzml).name}", facts=facts, columns=cols,
                             images=pred.channels, mask=pred.mask, header_images=[head], card_name="channel",
                             inputs=[imzml, *inputs], overwrite=overwrite)

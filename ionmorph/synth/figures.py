"""Figures of simulated sections for judging realism by eye (``docs/synth/<family>.png``).

Each figure shows the region map, the TIC image and, for every class, a few ion images read back
from the written imzML with :meth:`ionmorph.io.msi.MSIData.ion_images` (so noise, detection and
the instrument's window are those a user would see). Regenerate with
``python -m ionmorph.synth.figures docs/synth``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..labels import CLASSES
from .anatomy import FAMILIES
from .section import SimulatedSection, simulate_section

#: The section drawn per family in the docs figures: (seed, instrument, shape).
DOC_SECTIONS: dict[str, tuple[int, str, tuple[int, int]]] = {
    "brain": (11, "maldi_orbitrap", (110, 120)),
    "kidney": (12, "maldi_tof", (100, 120)),
    "tumour": (13, "desi", (90, 110)),
    "seed": (14, "maldi_orbitrap", (70, 130)),
}


def section_figure(sec: SimulatedSection, per_class: int = 3, mode: str | None = None, seed: int = 0):
    """A matplotlib Figure: region map, TIC and ``per_class`` ion images of each class."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from ..io.msi import open_msi
    from ..plotting import UNMEASURED_COLOUR, display_scale

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        data = open_msi(sec.write_imzml(Path(tmp) / "section.imzML", mode=mode))
        picks, titles = [], []
        for cls in CLASSES:
            idx = [i for i, lab in enumerate(sec.looks) if lab == cls]
            for i in rng.choice(idx, size=min(per_class, len(idx)), replace=False) if idx else []:
                ion = sec.ions[int(i)]
                picks.append(ion.mz)
                titles.append(f"{cls}\n{ion.mz:.4f} ({ion.style}{'' if ion.kind == 'mono' else ', ' + ion.kind})")
        images = data.ion_images(np.asarray(picks), ppm=sec.ppm)
        tic = data.tic_image()
    h, w = sec.shape
    ncols = per_class * 2
    nrows = 1 + int(np.ceil(len(picks) / ncols))
    fig = Figure(figsize=(ncols * 2.0 * max(w / h, 0.5), nrows * 2.3), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    cmap = mpl.colormaps["viridis"].with_extremes(bad=UNMEASURED_COLOUR)
    tab = mpl.colormaps["tab10"].resampled(len(sec.region_names))
    axes[0, 0].imshow(sec.regions, cmap=tab, vmin=-0.5, vmax=len(sec.region_names) - 0.5, interpolation="nearest")
    axes[0, 0].set_title("regions", fontsize=8)
    handles = [Patch(color=tab(k), label=n) for k, n in enumerate(sec.region_names)]
    axes[0, 1].legend(handles=handles, loc="center", fontsize=6, frameon=False)
    unmeasured = ~sec.mask
    axes[0, 2].imshow(np.ma.masked_array(display_scale(tic[None], sec.mask)[0], unmeasured), cmap=cmap,
                      interpolation="nearest")
    axes[0, 2].set_title("TIC", fontsize=8)
    axes[0, 3].imshow(sec.annotation(), cmap="gray", interpolation="nearest")
    axes[0, 3].set_title("annotation mask", fontsize=8)
    scaled = display_scale(images, sec.mask)
    for k, (img, title) in enumerate(zip(scaled, titles)):
        ax = axes[1 + k // ncols, k % ncols]
        ax.imshow(np.ma.masked_array(img, unmeasured), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=7)
    fig.suptitle(f"simulated {sec.family} section, {sec.instrument.name}, seed {sec.seed}, "
                 f"{h}x{w} px, ion images at +/-{sec.ppm:g} ppm", fontsize=9)
    return fig


#: Zero-fraction bins (share of measured pixels without signal) of :func:`sparsity_figure`.
SPARSITY_BINS: tuple[tuple[float, float], ...] = ((0.0, 0.2), (0.2, 0.6), (0.6, 0.9), (0.9, 1.0))


def sparsity_figure(n_sections: int = 16, per_bin: int = 2, seed: int = 0):
    """Per class (rows), simulated ion images at each sparsity level (columns of :data:`SPARSITY_BINS`).

    Sections of every family and instrument are simulated (default sensitivity draw), written in
    the instrument's default mode and read back, so the images are those a user would see.
    """
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from ..io.msi import open_msi
    from ..plotting import UNMEASURED_COLOUR, display_scale
    from .instruments import INSTRUMENTS

    rng = np.random.default_rng(seed)
    found: dict[tuple[str, int], list[tuple[np.ndarray, np.ndarray, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n_sections):
            family, instrument = FAMILIES[k % len(FAMILIES)], INSTRUMENTS[(k // len(FAMILIES)) % len(INSTRUMENTS)]
            sec = simulate_section(1000 + k, family=family, instrument=instrument, n_ions=120)
            data = open_msi(sec.write_imzml(Path(tmp) / f"s{k}.imzML"))
            idx = sec.labelled()
            images = data.ion_images(sec.panel.mz[idx], ppm=sec.ppm)
            zero = (images[:, data.mask] <= 0).mean(axis=1)
            for i, img, z in zip(idx, images, zero):
                b = next(j for j, (lo, hi) in enumerate(SPARSITY_BINS) if lo <= z <= hi)
                found.setdefault((sec.looks[i], b), []).append(
                    (img, data.mask, f"{family[:4]} {instrument}\nzero {z:.2f} r {sec.clarity[i]:.2f}"))
    ncols = per_bin * len(SPARSITY_BINS)
    fig = Figure(figsize=(ncols * 1.6, len(CLASSES) * 1.8), layout="constrained")
    axes = fig.subplots(len(CLASSES), ncols, squeeze=False)
    cmap = mpl.colormaps["viridis"].with_extremes(bad=UNMEASURED_COLOUR)
    for r, cls in enumerate(CLASSES):
        for b, (lo, hi) in enumerate(SPARSITY_BINS):
            pool = found.get((cls, b), [])
            pick = rng.choice(len(pool), size=min(per_bin, len(pool)), replace=False) if pool else []
            for c in range(per_bin):
                ax = axes[r, b * per_bin + c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c < len(pick):
                    img, mask, title = pool[int(pick[c])]
                    im = ax.imshow(np.ma.masked_array(display_scale(img[None], mask)[0], ~mask), cmap=cmap,
                                   vmin=0, vmax=1, interpolation="nearest")
                    ax.set_title(title, fontsize=6)
                if c == 0 and r == 0:
                    ax.set_title(f"zero fraction {lo:g}-{hi:g}\n" + ax.get_title(), fontsize=6)
                if b == 0 and c == 0:
                    ax.set_ylabel(cls, fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.3, label="intensity / 99th percentile")
    fig.suptitle("simulated ion images per class (rows) and sparsity (columns); r = clarity", fontsize=9)
    return fig


def write_doc_figures(out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/<family>.png`` for every family in :data:`DOC_SECTIONS` and ``classes_by_sparsity.png``."""
    from ..plotting import save_figure

    paths = []
    for family in FAMILIES:
        seed, instrument, shape = DOC_SECTIONS[family]
        sec = simulate_section(seed, family=family, instrument=instrument, shape=shape, n_ions=300)
        paths.append(save_figure(section_figure(sec), Path(out_dir) / f"{family}.png", dpi=90))
    paths.append(save_figure(sparsity_figure(), Path(out_dir) / "classes_by_sparsity.png", dpi=90))
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m ionmorph.synth.figures OUT_DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="docs/synth")
    for path in write_doc_figures(parser.parse_args(argv).out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

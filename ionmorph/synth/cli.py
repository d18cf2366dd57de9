"""``ionmorph simulate`` (one section) and ``ionmorph corpus`` (a labelled training corpus)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .anatomy import FAMILIES
from .instruments import INSTRUMENT_PRESETS, INSTRUMENTS
from .spectra import MODES


def _simulate(args: argparse.Namespace) -> int:
    """Simulate one section; write its imzML (or the public layout) and a label CSV beside it."""
    from ..fileio import check_output
    from ..labels import write_label_csv
    from .section import simulate_section

    target = Path(args.public) / f"{Path(args.out).stem}.imzML" if args.public else Path(args.out)
    outputs = [target, target.with_suffix(".ibd"), target.with_suffix(".labels.csv")]
    if args.public:
        outputs.append(Path(args.public) / "masks" / f"{target.stem}_mask.npy")
    for path in outputs:
        check_output(path, force=args.force)
    sec = simulate_section(args.seed, family=args.family, instrument=args.instrument,
                           shape=tuple(args.shape) if args.shape else None, n_ions=args.n_ions)
    out = Path(args.out)
    if args.public:
        path = sec.write_public(args.public, out.stem, mode=args.mode)
    else:
        path = sec.write_imzml(out, mode=args.mode, progress=True)
    labels = write_label_csv(path.with_suffix(".labels.csv"), sec.label_rows(path.name))
    h, w = sec.shape
    print(f"{path}: {sec.family} on {sec.instrument.name}, {h}x{w} pixels, {len(sec.ions)} ions "
          f"({len(sec.labelled())} labelled -> {labels})")
    return 0


def _corpus(args: argparse.Namespace) -> int:
    """Build a labelled corpus."""
    from ..fileio import check_output
    from .corpus import build_corpus

    check_output(args.out_dir, force=args.force, folder=True,     # an earlier corpus is resumed
                 owned=lambda p: (p / "corpus.json").is_file() or (p / "labels").is_dir())
    out = build_corpus(args.out_dir, args.n_sections, families=args.families, instruments=args.instruments,
                       seed=args.seed, workers=args.workers, modes=args.modes,
                       shape_range=tuple(args.shape_range))
    print(f"corpus of {args.n_sections} sections in {out}")
    return 0


def add_cli(subparsers) -> None:
    """Add the ``simulate`` and ``corpus`` sub-commands."""
    sim = subparsers.add_parser("simulate", help="simulate one MSI section as imzML (+ label CSV)",
                                description=_simulate.__doc__)
    sim.add_argument("out", metavar="OUT.imzML",
                     help="imzML file to write (its .ibd and a .labels.csv of the true ion classes go beside it)")
    sim.add_argument("--family", choices=FAMILIES, default="brain", help="tissue type (default %(default)s)")
    sim.add_argument("--instrument", choices=sorted(INSTRUMENT_PRESETS), default="maldi_tof",
                     help="instrument to imitate: mass resolution, noise, pixel size (default %(default)s)")
    sim.add_argument("--shape", type=int, nargs=2, metavar=("H", "W"),
                     help="raster height and width in pixels (default: drawn, 60-140 pixels high)")
    sim.add_argument("--n-ions", type=int, default=300, help="number of ions (peaks) in the section "
                                                             "(default %(default)s)")
    sim.add_argument("--seed", type=int, default=0,
                     help="random seed: the same seed gives the same section (default %(default)s)")
    sim.add_argument("--mode", choices=MODES, help="storage mode (default: the instrument's)")
    sim.add_argument("--public", metavar="GROUP_DIR",
                     help="write <GROUP_DIR>/<name>.imzML and <GROUP_DIR>/masks/<name>_mask.npy instead")
    sim.add_argument("--force", action="store_true", help="replace existing output files")
    sim.set_defaults(func=_simulate)

    cor = subparsers.add_parser("corpus", help="simulate a labelled training corpus",
                                description="Simulate a labelled corpus of MSI sections for training IonMorphNet.")
    cor.add_argument("out_dir", metavar="OUT_DIR",
                     help="corpus folder: one imzML per section and labels/<section>.csv (rerun to resume)")
    cor.add_argument("--n-sections", type=int, required=True, help="number of sections to simulate")
    cor.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                     help="tissue types to draw from (default: all)")
    cor.add_argument("--instruments", nargs="+", choices=sorted(INSTRUMENT_PRESETS), default=list(INSTRUMENTS),
                     help=f"instruments to draw from (default: {' '.join(INSTRUMENTS)})")
    cor.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                     help="imzML storage modes to use; each instrument keeps its usual mode 70%% of the time "
                          "(default: all)")
    cor.add_argument("--shape-range", type=int, nargs=2, default=(40, 300), metavar=("MIN", "MAX"),
                     help="smallest and largest raster side in pixels (default 40 300; profile-mode sections "
                          "stay at most 100 pixels)")
    cor.add_argument("--seed", type=int, default=0,
                     help="corpus seed: the same seed gives the same corpus (default %(default)s)")
    cor.add_argument("--workers", type=int, default=1, help="processes simulating sections (default %(default)s)")
    cor.add_argument("--force", action="store_true",
                     help="write into an existing folder that is not a corpus (an earlier corpus is resumed)")
    cor.set_defaults(func=_corpus)

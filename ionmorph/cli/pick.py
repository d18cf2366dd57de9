"""``ionmorph pick`` (picked peaks) and ``ionmorph classify`` (every candidate with its probabilities)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..io.normalisation import NORMS
from ..labels import CLASSES, DEFAULT_INFORMATIVE
from ..models.inference import BACKENDS
from ..picking.baselines import BASELINE_SCORES
from ..picking.pick import CSV_SORTS, DEFAULT_MODEL, DEFAULT_SCORE, DEFAULT_THRESHOLD, SCORES, WORKING_SIDE


def informative_classes(args: argparse.Namespace) -> tuple[str, ...]:
    """The classes summed into the score: ``--informative`` (default structured, localized, negative),
    without ``negative`` when ``--exclude-off-sample`` is given."""
    chosen = tuple(args.informative or DEFAULT_INFORMATIVE)
    return tuple(c for c in chosen if c != "negative") if args.exclude_off_sample else chosen


def add_norm_option(p: argparse.ArgumentParser, when: str) -> None:
    """The ``--norm {none,tic,rms}`` option (:mod:`ionmorph.io.normalisation`), shared by images, pick,
    classify and report."""
    p.add_argument("--norm", default="none", choices=NORMS,
                   help=f"divide every ion image pixel by pixel by the pixel's total ion current (tic) or the "
                        f"root mean square of its spectrum (rms), scaled to median 1, {when}; an .npz cube: "
                        "over its own channels (default none: raw intensities)")


def pick_options(args: argparse.Namespace) -> dict:
    """The :func:`ionmorph.picking.pick.pick_peaks` keyword arguments (all but ``progress``) of the command line."""
    from ..picking.candidates import read_candidate_table

    candidates = read_candidate_table(args.candidates) if args.candidates else None
    return dict(k=getattr(args, "k", None), threshold=getattr(args, "threshold", None),
                informative=informative_classes(args), candidates=candidates, ppm=args.ppm,
                model=args.model, revision=args.revision, batch_size=args.batch_size, device=args.device,
                backend=args.backend, score=args.score, group_isotopes=not args.keep_isotopes,
                redundancy=getattr(args, "redundancy", None), norm=args.norm,
                working_side=args.working_side or None)


def _run(args: argparse.Namespace, picked_only: bool) -> int:
    from .batch import is_batch, run_cli
    from ..models.inference import check_device, resolve_backend

    if getattr(args, "k", None) is not None and args.k < 1:
        raise InputError(f"-k must be a positive number of peaks, got {args.k}")
    resolve_backend(args.backend, check_device(args.device))  # one-line errors before any reading

    if is_batch(args.file):
        if args.report or args.spatialdata:
            raise InputError("--report and --spatialdata take one slide; run pick on each file for its report")
        return run_cli(args, picked_only, pick_options(args))
    args.file = args.file[0]
    from ..fileio import all_or_none, check_output
    from ..io.cube import is_cube_file, read_cube, read_region
    from ..io.msi import open_msi
    from ..picking.pick import is_pick_table, pick_peaks
    from ..plotting import is_ionmorph_figure, save_figure

    source, array_options = args.file, {}
    if is_cube_file(args.file):
        for flag, given in (("--candidates", args.candidates), ("--imzml", args.imzml)):
            if given:
                raise InputError(f"{args.file}: {flag} needs an imzML file; an ion-image cube has its channels "
                                 "and no imzML pixel coordinates")
    inputs = [args.file, args.candidates, args.mask]
    check_output(args.output, inputs, force=args.force, owned=is_pick_table)
    if args.figure:
        check_output(args.figure, inputs + [args.output], force=args.force, owned=is_ionmorph_figure)
    for extra in (args.images, args.imzml, args.imzml and args.imzml.with_suffix(".ibd")):
        if extra:
            check_output(extra, inputs + [args.output], force=args.force)
    _check_report_outputs(args, inputs + [args.output])
    if is_cube_file(args.file):                      # read after the outputs are checked
        cube = read_cube(args.file, mz_key=args.mz_key, images_key=args.images_key, mask_key=args.mask_key)
        source, array_options = cube.images, {"mz": cube.mz, "mask": cube.mask}
    if args.mask:
        if is_cube_file(args.file):
            region = read_region(args.mask, cube.images.shape[1:])
            array_options["mask"] = region if cube.mask is None else region & cube.mask
        else:
            source = open_msi(args.file)
            array_options["mask"] = read_region(args.mask, source.shape)
    res = pick_peaks(source, progress=not args.quiet, **pick_options(args), **array_options)
    which = "picked" if picked_only else "all"
    figure = (res.plot(n=args.n_figure, which=which, shared_scale=args.shared_scale, cmap=args.cmap)
              if args.figure else None)              # drawn before any file is written
    outputs = [args.output, args.figure, args.images, args.imzml, args.imzml and args.imzml.with_suffix(".ibd"),
               args.report]
    with all_or_none(outputs):
        res.to_csv(args.output, picked_only=picked_only, sort=args.sort, overwrite=args.force)
        if figure is not None:
            save_figure(figure, args.figure, inputs=inputs, overwrite=args.force)
        if args.images:
            res.save_images(args.images, picked_only=picked_only, overwrite=args.force)
        if args.imzml:
            res.to_imzml(args.imzml, picked_only=picked_only, overwrite=args.force)
        _write_report_outputs(args, res, picked_only)
    if not args.quiet:
        counts = ", ".join(f"{c} {int((res.label == c).sum())}" for c in res.classes)
        windows = ("the cube's own channels" if res.source is None
                   else f"ion windows of +/- {res.ppm:g} ppm ({res.ppm_source})")
        print(f"{len(res)} candidates ({res.candidate_kind}) classified ({counts}); {int(res.picked.sum())} picked "
              f"with {windows} in {res.timings['total']:.1f} s -> {args.output}")
    return 0


def _check_report_outputs(args: argparse.Namespace, inputs: list) -> None:
    """Refuse the ``--report`` / ``--spatialdata`` paths before any work (one-line errors)."""
    from ..fileio import check_output
    from ..io.html_report import is_html_report
    from ..errors import InputError
    from ..io.scverse import is_spatialdata_store

    report, store = getattr(args, "report", None), getattr(args, "spatialdata", None)
    if report and report.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{report}: the report is written as .html")
    if store and store.suffix != ".zarr":
        raise InputError(f"{store}: a SpatialData store is a folder ending in .zarr")
    if getattr(args, "report", None):
        check_output(args.report, inputs, force=args.force, owned=is_html_report)
    if getattr(args, "spatialdata", None):
        check_output(args.spatialdata, inputs, force=args.force, owned=is_spatialdata_store, folder=True)


def _write_report_outputs(args: argparse.Namespace, res, picked_only: bool) -> None:
    if getattr(args, "report", None):
        res.to_html(args.report, cmap=args.cmap, overwrite=args.force)
    if getattr(args, "spatialdata", None):
        res.to_spatialdata(args.spatialdata, picked_only=picked_only, overwrite=args.force)


def _report(args: argparse.Namespace) -> int:
    """``ionmorph report``: classify every candidate and write the HTML report."""
    from ..models.inference import check_device, resolve_backend
    from ..picking.pick import pick_peaks

    resolve_backend(args.backend, check_device(args.device))
    inputs = [args.file, args.candidates]
    args.report, args.spatialdata = args.output, None
    _check_report_outputs(args, inputs)
    res = pick_peaks(args.file, progress=not args.quiet, **pick_options(args))
    res.to_html(args.output, cmap=args.cmap, overwrite=args.force)
    if not args.quiet:
        print(f"{len(res)} candidates, {int(res.picked.sum())} picked -> {args.output}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, nargs="+",
                   help="the .imzML file (with its .ibd beside it), or an ion-image cube .npz (see --mz-key); or "
                        "several imzML files, folders or glob patterns, then -o is a folder that gets one CSV per "
                        "slide and summary.csv")
    p.add_argument("--mz-key", default="mz", metavar="NAME",
                   help="an .npz cube: name of its m/z array (default mz)")
    p.add_argument("--images-key", metavar="NAME",
                   help="an .npz cube: name of its intensities, (n, H, W) or (H, W, n) (default: its only 3-D array)")
    p.add_argument("--mask-key", metavar="NAME",
                   help="an .npz cube: name of a 2-D array of measured pixels (default: every pixel measured)")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="CSV to write (pick: the picked rows; classify: every candidate; the same columns as "
                        "PickResult.to_csv): m/z (6 decimals), class probabilities, score, score_from, norm, label, "
                        "picked, rank (within the picks), score_rank, group, isotope_of and your --candidates "
                        "columns")
    p.add_argument("--mask", type=Path, metavar="REGION",
                   help="classify only this region of interest: a .npy array or .png image of the raster's size "
                        "(H x W as 'ionmorph info' shows it), non-zero = inside")
    p.add_argument("--sort", default="mz", choices=CSV_SORTS,
                   help="row order of the CSV: ascending m/z (default) or rank (best score first)")
    p.add_argument("--figure", type=Path, help="also write an ion-image grid (.png, .pdf, .svg)")
    p.add_argument("--n-figure", type=int, default=24, help="panels in the figure (default 24)")
    p.add_argument("--shared-scale", action="store_true",
                   help="one intensity scale for all panels of the figure (default: each panel its own)")
    p.add_argument("--cmap", default="viridis", help="matplotlib colour map of the figure (default viridis)")
    p.add_argument("--images", type=Path, metavar="FILE",
                   help="also write the ion images, best score first, as a .npy stack or a multi-page .tif")
    p.add_argument("--imzml", type=Path, metavar="FILE",
                   help="also write a reduced .imzML (+ .ibd) holding only these peaks, for METASPACE, Cardinal, "
                        "SCiLS or pyimzML")
    p.add_argument("--report", type=Path, metavar="FILE.html",
                   help="also write a self-contained HTML report of every candidate (ion images, scores, classes; "
                        "sort and filter in any browser, no server)")
    p.add_argument("--spatialdata", type=Path, metavar="STORE.zarr",
                   help="also write these peaks' ion images and the pixels x ions table as a SpatialData Zarr store "
                        "(needs ionmorph[spatialdata])")
    _model_options(p)
    p.add_argument("--workers", type=int,
                   help="several slides: local processes running them (default: one per core, at most one per slide)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="several slides: run them on this Dask scheduler (e.g. tcp://host:8786; needs "
                        "ionmorph[dask], and the slides and weights at the same paths on the workers)")


def _model_options(p: argparse.ArgumentParser) -> None:
    """Options of the picking itself (model, ppm, candidates, score, backend), shared by pick, classify, report."""
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"weights name, folder or Hub id (default {DEFAULT_MODEL})")
    p.add_argument("--revision", help="weights revision tag (default: the registry's default)")
    p.add_argument("--ppm", type=float,
                   help="ion-image half-width in ppm (default: estimated from the peak widths of the mean "
                        "spectrum for profile data, else 10; typical 3-10 for Orbitrap/FT-ICR, 20-100 for TOF)")
    p.add_argument("--candidates", type=Path,
                   help="your m/z list instead of the detected peaks: one m/z per line, or a table (, ; or tab "
                        "separated) with an 'mz' or 'm/z' column; other columns (formula, adduct, name) are "
                        "copied to the output")
    p.add_argument("--informative", nargs="+", choices=CLASSES, metavar="CLASS",
                   help="classes whose probabilities add up to the score (default: structured localized "
                        "negative; negative = ions brighter off the sample, such as matrix; choices: "
                        + ", ".join(CLASSES) + ")")
    p.add_argument("--exclude-off-sample", action="store_true",
                   help="leave the off-sample class (negative) out of the score, so matrix and background "
                        "ions rank low")
    p.add_argument("--keep-isotopes", action="store_true",
                   help="let isotopes and adducts of one ion be picked separately (default: one pick per ion)")
    p.add_argument("--score", default=DEFAULT_SCORE, choices=SCORES + tuple(BASELINE_SCORES),
                   help="informative score: the weights' ranking head over class probabilities and native-resolution "
                        "image statistics (learned; one inference), the class sum averaged over the whole image and "
                        "four corner crops (views; five inferences) or of the whole image alone (classes), or either "
                        f"weighted by the image's native-resolution spatial coherence (views_clarity, clarity); default {DEFAULT_SCORE}; "
                        "or a classic baseline to compare with (" + ", ".join(BASELINE_SCORES) + "; needs -k)")
    p.add_argument("--redundancy", type=float, metavar="R",
                   help="skip a candidate whose ion image correlates at least R (0-1] with one already picked "
                        "(default: keep near-identical images)")
    add_norm_option(p, "before they are classified and scored")
    p.add_argument("--working-side", type=int, default=WORKING_SIDE, metavar="PX",
                   help=f"score on a raster of at most PX pixels per side, binning larger sections (cell means; "
                        f"default {WORKING_SIDE}, the largest side of the training sections; 0: full resolution)")
    p.add_argument("--batch-size", type=int, default=64, help="images per model call (default 64)")
    p.add_argument("--device", help="torch device (default: a GPU when present, else cpu)")
    p.add_argument("--backend", default="auto", choices=("auto",) + BACKENDS,
                   help="inference backend (default auto: the fastest accurate one; onnx-int8: the int8 graph, "
                        "1.1-1.7x faster on a CPU, probabilities within about 0.02 of fp32, opt-in)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file that ionmorph did not write (never an input file)")


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pick`` and ``classify``."""
    p = subparsers.add_parser("pick", help="pick the informative peaks of an imzML file with IonMorphNet",
                              description="Rank candidate m/z by IonMorphNet's informative score and write the "
                                          f"picked ones. Without -k or --threshold: score >= {DEFAULT_THRESHOLD}.")
    _common(p)
    p.add_argument("-k", type=int, help="number of peaks to pick")
    p.add_argument("--threshold", type=float, help="minimum informative score (0-1) of a picked peak")
    p.set_defaults(func=lambda a: _run(a, picked_only=True))
    c = subparsers.add_parser("classify", help="classify every candidate ion image of an imzML file",
                              description="Write every candidate m/z with its six class probabilities, score, "
                                          f"label and rank (picked = score >= {DEFAULT_THRESHOLD}).")
    _common(c)
    c.set_defaults(func=lambda a: _run(a, picked_only=False))
    r = subparsers.add_parser("report", help="write a self-contained HTML report of every candidate ion image",
                              description="Classify every candidate of an imzML file and write one HTML file (no "
                                          "server, no network): the section, its TIC, and a card per candidate with "
                                          "its ion image, score and class probabilities; sort, filter, click to "
                                          "enlarge. Picked as by pick (-k, --threshold).")
    r.add_argument("file", type=Path, help="the .imzML file (with its .ibd beside it)")
    r.add_argument("-o", "--output", type=Path, required=True, help="the .html report to write")
    r.add_argument("-k", type=int, help="number of peaks marked picked")
    r.add_argument("--threshold", type=float, help="minimum informative score (0-1) of a picked peak")
    r.add_argument("--cmap", default="viridis", help="matplotlib colour map of every ion image (default viridis)")
    _model_options(r)
    r.set_defaults(func=_report)

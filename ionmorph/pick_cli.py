"""``ionmorph pick`` (picked peaks) and ``ionmorph classify`` (every candidate with its probabilities)."""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from .errors import InputError
from .pick import DEFAULT_MODEL, DEFAULT_THRESHOLD, SCORES


def read_mz_list(path: Path) -> np.ndarray:
    """m/z values from a text file: one per line, or a CSV with an ``mz`` column (e.g. a label file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: candidate list not found") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    try:
        if lines and "mz" in [c.strip() for c in lines[0].split(",")]:
            return np.array([float(r["mz"]) for r in csv.DictReader(lines)], dtype=np.float64)
        return np.array([float(ln.split(",")[0]) for ln in lines], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a list of m/z values ({exc})") from None


def _run(args: argparse.Namespace, picked_only: bool) -> int:
    from .pick import pick_peaks
    from .plotting import save_figure

    candidates = read_mz_list(args.candidates) if args.candidates else None
    res = pick_peaks(args.file, k=getattr(args, "k", None), threshold=getattr(args, "threshold", None),
                     candidates=candidates, ppm=args.ppm, model=args.model, revision=args.revision,
                     batch_size=args.batch_size, device=args.device, backend=args.backend,
                     progress=not args.quiet, score=args.score)
    res.to_csv(args.output, picked_only=picked_only)
    if args.figure:
        save_figure(res.plot(n=args.n_figure, which="picked" if picked_only else "all"), args.figure)
    if not args.quiet:
        counts = ", ".join(f"{c} {int((res.label == c).sum())}" for c in res.classes)
        print(f"{len(res)} candidates classified ({counts}); {int(res.picked.sum())} picked "
              f"in {res.timings['total']:.1f} s -> {args.output}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="the .imzML file (with its .ibd beside it)")
    p.add_argument("-o", "--output", type=Path, required=True, help="CSV to write")
    p.add_argument("--figure", type=Path, help="also write an ion-image grid (.png, .pdf, .svg)")
    p.add_argument("--n-figure", type=int, default=24, help="panels in the figure (default 24)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"weights name, folder or Hub id (default {DEFAULT_MODEL})")
    p.add_argument("--revision", help="weights revision tag (default: the registry's default)")
    p.add_argument("--ppm", type=float, help="ion-image half-width in ppm (default 10)")
    p.add_argument("--candidates", type=Path,
                   help="m/z list (one per line, or a CSV with an 'mz' column) instead of mean-spectrum peaks")
    p.add_argument("--score", default="classes", choices=SCORES,
                   help="informative score: the class sum of the full frame (default, SPEC 5) or its mean over "
                        "the full frame and four corner crops (views; five times the inference)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", help="torch device (default: a GPU when present, else cpu)")
    p.add_argument("--backend", default="auto", choices=("auto", "eager", "compile", "bf16", "onnx"),
                   help="inference backend (default auto: the fastest accurate one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")


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

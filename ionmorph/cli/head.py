"""``ionmorph train-head``: fit IonMorphNet's ranking head on a simulated corpus (:mod:`ionmorph.training.ranking_head`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..picking.pick import DEFAULT_MODEL


def _run(args: argparse.Namespace) -> int:
    from ..fileio import check_output
    from ..training.ranking_head import train_ranking_head, write_head

    check_output(args.output / "ranking_head.json", force=args.force)
    head, report = train_ranking_head(args.corpus, args.model, args.cache, max_sections=args.max_sections,
                                      val_fraction=args.val_fraction, seed=args.seed, progress=not args.quiet)
    path = write_head(head, args.output, report)
    if not args.quiet:
        print(f"ranking head fitted on {report['sections']['fit']} sections ({report['rows']['fit']} candidates) "
              f"-> {path}")
        print(f"validation mSCF1 at k = {', '.join(map(str, report['validation_k']))} "
              f"({report['sections']['validation']} held-out simulated sections):")
        for name, values in report["validation"].items():
            print(f"  {name:32s} " + " ".join(f"{v:.3f}" for v in values))
    return 0


def add_cli(subparsers) -> None:
    """Add ``ionmorph train-head``."""
    p = subparsers.add_parser(
        "train-head", help="fit the ranking head of the 'learned' score on a simulated corpus",
        description="Fit IonMorphNet's ranking head (class probabilities + native image statistics -> predicted "
                    "correlation with the section's segments) on a simulated corpus ('ionmorph corpus'). Writes "
                    "OUT/ranking_head.json and OUT/report.json; weights/publish_ionmorphnet.py --head attaches it "
                    "to a weights folder.")
    p.add_argument("corpus", type=Path, help="simulated corpus folder (ionmorph corpus)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"the network the head reads (default {DEFAULT_MODEL})")
    p.add_argument("--cache", type=Path, help="folder of per-section rows (resumable)")
    p.add_argument("--max-sections", type=int, help="use the first N sections")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of sections held out (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="split and fit seed (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--force", action="store_true", help="replace an existing OUT/ranking_head.json")
    p.set_defaults(func=_run)

"""``ionmorph convert-checkpoint``: a published checkpoint as a weights folder (:mod:`ionmorph.models.convert`)."""
from __future__ import annotations

import argparse
from pathlib import Path


def _cmd(args: argparse.Namespace) -> int:
    from ..models.convert import convert_checkpoint

    out = convert_checkpoint(args.checkpoint, args.run_meta, args.out_dir, trusted=args.trust,
                             dtype=None if args.dtype == "keep" else args.dtype, version=args.version,
                             overwrite=args.force)
    print(f"wrote {out}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """``ionmorph convert-checkpoint best_model.pt run_meta.json OUT_DIR``."""
    p = subparsers.add_parser("convert-checkpoint", help="import a published IonMorphNet checkpoint",
                              description="Import a checkpoint released with the IonMorphNet paper "
                                          "(best_model.pt and its run_meta.json) as an ionmorph weights folder "
                                          "that 'ionmorph pick --model OUT_DIR' can use.")
    p.add_argument("checkpoint", type=Path, help="the released best_model.pt")
    p.add_argument("run_meta", type=Path, help="run_meta.json beside the checkpoint")
    p.add_argument("out_dir", type=Path, help="weights folder to write")
    p.add_argument("--dtype", choices=("float16", "float32", "keep"), default="float16",
                   help="storage type of the weights (default float16)")
    p.add_argument("--version", default="published", help="version recorded in the folder's config.json and model card "
                                                                 "(default %(default)s)")
    p.add_argument("--trust", action="store_true",
                   help="allow full unpickling when a weights-only load refuses the file (only for trusted files)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing, non-empty OUT_DIR (never the folder holding the checkpoint)")
    p.set_defaults(func=_cmd)

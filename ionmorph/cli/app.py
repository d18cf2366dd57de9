"""The ``ionmorph`` command line: one sub-command per job, each defined beside the code it drives.

Every module listed in :data:`COMMAND_MODULES` exposes ``add_cli(subparsers)``, which adds its
sub-command(s) and sets ``func`` (called with the parsed arguments, returning an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import IonMorphError

#: What ``ionmorph --help`` says first.
DESCRIPTION = ("Mass spectrometry imaging with IonMorphNet: inspect imzML files, pick the informative ion "
               "images, simulate labelled sections and train or manage models.")

COMMAND_MODULES: tuple[str, ...] = (
    "ionmorph.cli.msi",        # info, images
    "ionmorph.synth.cli",      # simulate, corpus
    "ionmorph.cli.pick",       # pick, classify
    "ionmorph.training.train", # train
    "ionmorph.cli.convert",    # convert-checkpoint
    "ionmorph.cli.weights",    # weights list | download | verify
)


def build_parser(modules: tuple[str, ...] = COMMAND_MODULES, prog: str = "ionmorph",
                 description: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser from the command modules."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog=prog, description=description or DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"{prog} (ionmorph) {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).add_cli(sub)
    return parser


def run(argv: list[str] | None, modules: tuple[str, ...], prog: str, description: str | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; ionmorph errors print one clear line."""
    args = build_parser(modules, prog, description).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (IonMorphError, FileNotFoundError, FileExistsError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ionmorph`` command."""
    return run(argv, COMMAND_MODULES, "ionmorph")


if __name__ == "__main__":
    sys.exit(main())

"""The ``ionmorph`` command line: one sub-command per job, each defined beside the code it drives.

Every module listed in :data:`COMMAND_MODULES` exposes ``add_cli(subparsers)``, which adds its
sub-command(s) and sets ``func`` (called with the parsed arguments, returning an exit code).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from typing import Iterator

from ..errors import IonMorphError

#: What ``ionmorph --help`` says first.
DESCRIPTION = ("Mass spectrometry imaging with IonMorphNet: inspect imzML files, pick the informative ion "
               "images, simulate labelled sections and train or manage models.")

COMMAND_MODULES: tuple[str, ...] = (
    "ionmorph.cli.msi",        # info, images
    "ionmorph.synth.cli",      # simulate, corpus
    "ionmorph.cli.pick",       # pick, classify
    "ionmorph.training.train", # train
    "ionmorph.cli.head",       # train-head
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


@contextlib.contextmanager
def one_line_warnings(prog: str) -> Iterator[None]:
    """Print each warning of the block as one line, ``PROG: warning: MESSAGE`` (no Python source line)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        print(f"{prog}: warning: {text}", file=file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def error_line(exc: BaseException) -> str:
    """The one line that reports ``exc``: its message; for an operating-system error without one of
    ionmorph's messages, the file and the reason (``PATH: Permission denied``)."""
    if isinstance(exc, OSError) and not isinstance(exc, IonMorphError) and exc.strerror:
        name = exc.filename if exc.filename is not None else ""
        return f"{name}: {exc.strerror}" if name != "" else exc.strerror
    return str(exc)


def run(argv: list[str] | None, modules: tuple[str, ...], prog: str, description: str | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; errors print one clear line, warnings one line each."""
    args = build_parser(modules, prog, description).parse_args(argv)
    with one_line_warnings(prog):
        try:
            return int(args.func(args) or 0)
        except (IonMorphError, OSError) as exc:
            print(f"{prog}: error: {error_line(exc)}", file=sys.stderr)
            return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ionmorph`` command."""
    return run(argv, COMMAND_MODULES, "ionmorph")


if __name__ == "__main__":
    sys.exit(main())

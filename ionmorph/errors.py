"""Exception types of ionmorph: every user-facing failure names the file and the problem."""
from __future__ import annotations

import os


class IonMorphError(Exception):
    """Base class of all ionmorph errors."""


class MSIFormatError(IonMorphError, ValueError):
    """An MSI file (imzML/ibd) is missing, malformed or inconsistent.

    Parameters
    ----------
    path : str or os.PathLike
        The offending file.
    problem : str
        What is wrong, in words a user can act on.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class WeightsError(IonMorphError):
    """A weights folder or file cannot be found, is the wrong file (sha256) or does not match the model."""


class LabelFormatError(IonMorphError, ValueError):
    """A label CSV does not follow the published format (SPEC 4)."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class InputError(IonMorphError, ValueError):
    """An array or argument passed to an ionmorph function is invalid (wrong shape, type or value)."""


class OutputError(IonMorphError, FileExistsError):
    """An output path is an input file, or an existing file that a writer may not replace without ``force``."""

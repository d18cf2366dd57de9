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


#: Folder of the ionmorph package: frames from files under it are skipped by :func:`warn_external`.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_external(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the first stack frame outside ionmorph (and outside the import machinery).

    A user sees the line of their own code that led to the warning, however deep inside the
    package it was raised: no hard-coded ``stacklevel`` to keep in step with the call chain
    (the idea of scikit-image's ``warn_external``; ``skip_file_prefixes`` needs Python 3.12).
    """
    import sys
    import warnings

    frame, level = sys._getframe(1), 2
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE_DIR)
                                 or frame.f_code.co_filename.startswith("<frozen importlib")):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)

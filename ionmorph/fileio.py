"""Output files: a result appears whole or not at all, never onto an input, never over a user's file.

Every ionmorph writer calls :func:`check_output` before it writes: an output path that is one of
the inputs (an imzML, the .ibd beside it, a checkpoint; symlinks and hard links resolved) is
always refused, and an existing path is replaced only when it is one of that writer's own
outputs (its ``owned`` test) or with ``force`` (``--force`` on the command line, ``overwrite=True``
in Python). Files appear through :func:`atomic_path`, folders through :func:`atomic_dir`; both
keep the user's umask.
"""
from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import OutputError

PathLike = str | os.PathLike


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def input_files(paths: Iterable[PathLike | None]) -> list[Path]:
    """The files behind ``paths`` (None entries skipped): each path and, for an .imzML, the .ibd beside it.

    The .ibd is looked for beside the path as given and beside its symlink target, in both cases.
    """
    out: list[Path] = []
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        out.append(p)
        if p.suffix.lower() == ".imzml":
            for base in {p, p.resolve()}:
                out.extend(c for c in (base.with_suffix(".ibd"), base.with_suffix(".IBD")) if c.exists())
    return out


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)            # hard links
    except OSError:
        return False


def check_output(path: PathLike, inputs: Iterable[PathLike | None] = (), *, force: bool = False,
                 owned: Callable[[Path], bool] | None = None, folder: bool = False) -> Path:
    """Check that ``path`` may be written, before any work is done.

    Parameters
    ----------
    path : path-like
        The output file (or folder, with ``folder=True``).
    inputs : iterable of path-like
        The files the writer read (see :func:`input_files`); ``path`` may never be one of them, and
        an output folder may never hold one of them, even with ``force``.
    force : bool
        Replace an existing ``path`` that is not one of the writer's own outputs.
    owned : callable, optional
        ``owned(path)`` is True when the existing ``path`` is an earlier output of the same writer
        (then it is replaced without ``force``).
    folder : bool
        ``path`` is a folder (replaced whole); otherwise a folder at ``path`` is refused.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        One line naming the file: an input, a folder holding an input, a folder where a file is
        expected, a folder that cannot be written (:func:`check_writable`), or an existing file
        that is not the writer's own output (and ``force`` is False).
    """
    path = Path(path)
    check_writable(path)
    for f in input_files(inputs):
        if f.exists() and _same_file(path, f):
            raise OutputError(f"{path}: is the input file {f}; choose another output path")
        if folder and path.is_dir() and f.resolve().is_relative_to(path.resolve()):
            raise OutputError(f"{path}: holds the input file {f}; choose another output folder")
    if not path.exists() and not path.is_symlink():
        return path
    if not folder and path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name for the output")
    if folder and path.is_dir() and not any(path.iterdir()):
        return path                              # an empty folder: nothing to lose
    if not force and not (owned is not None and owned(path)):
        raise OutputError(f"{path}: already exists and is not an ionmorph output of this kind; "
                          "pass --force (overwrite=True in Python) to replace it")
    return path


def check_writable(path: PathLike) -> Path:
    """Check that ``path`` can be created or replaced: the folder that will hold it (or the nearest
    existing folder above it, which the writer will create the rest under) is a folder this user may
    write into.

    Raises
    ------
    OutputError
        One line naming ``path`` and the folder: not a folder, or no write permission there.
    """
    path = Path(path)
    parent = Path(os.path.abspath(path)).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: cannot be created, {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: no permission to write in the folder {parent}")
    return path


def csv_columns(path: PathLike) -> list[str]:
    """The header of a CSV file (empty when it is not text); used by ``owned`` tests."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            line = fh.readline(1 << 16)
    except (OSError, UnicodeDecodeError):
        return []
    return [] if "\0" in line else next(csv.reader([line]), [])


@contextlib.contextmanager
def atomic_path(path: PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Parameters
    ----------
    path : path-like
        Final destination.
    overwrite : bool
        If False, refuse an existing ``path`` (:func:`check_output` with no own outputs).
    """
    path = Path(path)
    if not overwrite:
        check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; if the block succeeds it replaces ``path`` whole.

    The folder and everything written into it get the user's umask (``mkdtemp`` alone leaves
    ``drwx------``, and writers that go through their own temp files, such as safetensors, leave
    ``-rw-------``). Check the destination with :func:`check_output` (``folder=True``) first: an
    existing ``path`` is replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    mask = _umask()
    try:
        yield tmp
        for p in (tmp, *tmp.rglob("*")):
            if not p.is_symlink():
                p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            old.rmdir()
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def all_or_none(paths: Iterable[PathLike | None]) -> Iterator[None]:
    """Write several outputs as one: if the block fails, the outputs it created are removed again.

    Each output still appears atomically (:func:`atomic_path`); an output that existed before the
    block and was replaced stays replaced (its old content is gone). Check every path with
    :func:`check_output` before the work, so that a failure here is rare (disk full, a race).
    """
    paths = [Path(p) for p in paths if p is not None]
    existed = {p for p in paths if p.exists() or p.is_symlink()}
    try:
        yield
    except BaseException:
        for p in paths:
            if p not in existed and p.is_file():
                p.unlink()
        raise


def user_cache_dir(*parts: str) -> Path:
    """The per-user cache folder ``$IONMORPH_CACHE`` (default ``~/.cache/ionmorph``), joined with ``parts``."""
    base = Path(os.environ.get("IONMORPH_CACHE") or Path.home() / ".cache" / "ionmorph")
    return base.joinpath(*parts)

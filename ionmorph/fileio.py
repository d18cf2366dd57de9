"""Atomic output files: a result appears whole or not at all, and user data is never clobbered."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    Parameters
    ----------
    path : path-like
        Final destination.
    overwrite : bool
        If False, refuse (FileExistsError) when ``path`` already exists.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path}: already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def user_cache_dir(*parts: str) -> Path:
    """The per-user cache folder ``$IONMORPH_CACHE`` (default ``~/.cache/ionmorph``), joined with ``parts``."""
    base = Path(os.environ.get("IONMORPH_CACHE") or Path.home() / ".cache" / "ionmorph")
    return base.joinpath(*parts)

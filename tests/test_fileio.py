"""Atomic output files."""
import os
import stat

import pytest

from ionmorph.fileio import atomic_path, atomic_write_text


def test_atomic_write_replaces_whole_and_keeps_usual_permissions(tmp_path):
    target = tmp_path / "out" / "table.csv"
    atomic_write_text(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]


def test_failed_write_leaves_no_file_and_no_temp(tmp_path):
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_when_asked(tmp_path):
    target = tmp_path / "user.imzML"
    target.write_text("user data")
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        atomic_write_text(target, "new", overwrite=False)
    assert target.read_text() == "user data"

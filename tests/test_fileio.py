"""Output files: atomic, with the user's umask, never onto an input, never over a user's file."""
import os
import stat

import pytest

from ionmorph.errors import IonMorphError, OutputError
from ionmorph.fileio import atomic_dir, atomic_path, atomic_write_text, check_output, csv_columns, input_files


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_atomic_write_replaces_whole_and_keeps_usual_permissions(tmp_path):
    target = tmp_path / "out" / "table.csv"
    atomic_write_text(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
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
    with pytest.raises(FileExistsError, match="user.imzML: already exists .*--force"):
        atomic_write_text(target, "new", overwrite=False)
    assert target.read_text() == "user data"


@pytest.fixture
def inputs(tmp_path):
    imzml, ibd = tmp_path / "sec.imzML", tmp_path / "sec.ibd"
    imzml.write_text("<mzML/>")
    ibd.write_bytes(b"\0" * 16)
    return imzml, ibd


def test_an_input_is_never_an_output_even_with_force(tmp_path, inputs):
    imzml, ibd = inputs
    link = tmp_path / "link.csv"
    link.symlink_to(imzml)
    hard = tmp_path / "hard.csv"
    os.link(ibd, hard)
    for out in (imzml, ibd, link, hard, tmp_path / "." / "sec.imzML"):
        with pytest.raises(OutputError, match="is the input file") as info:
            check_output(out, [imzml], force=True)
        assert str(out) in str(info.value) and "\n" not in str(info.value)
        assert isinstance(info.value, IonMorphError)
    # an .imzML reached through a symlink still protects the .ibd beside its target
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "alias.imzML").symlink_to(imzml)
    assert ibd in input_files([other / "alias.imzML"])
    with pytest.raises(OutputError, match="is the input file"):
        check_output(ibd, [other / "alias.imzML"], force=True)


def test_existing_files_need_force_unless_they_are_own_outputs(tmp_path, inputs):
    user = tmp_path / "notes.csv"
    user.write_text("my,data\n1,2\n")
    with pytest.raises(OutputError, match="notes.csv: already exists"):
        check_output(user, inputs)
    assert check_output(user, inputs, force=True) == user
    assert check_output(user, inputs, owned=lambda p: csv_columns(p) == ["my", "data"]) == user
    assert csv_columns(inputs[1]) == []                   # binary: never taken for a table
    assert check_output(tmp_path / "new.csv", inputs) == tmp_path / "new.csv"
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path, inputs, force=True)
    assert user.read_text() == "my,data\n1,2\n"


def test_output_folders(tmp_path, inputs):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output(empty, folder=True) == empty
    full = tmp_path / "full"
    full.mkdir()
    (full / "f.txt").write_text("x")
    with pytest.raises(OutputError, match="full: already exists"):
        check_output(full, folder=True)
    assert check_output(full, folder=True, force=True) == full
    with pytest.raises(OutputError, match="holds the input file"):
        check_output(tmp_path, inputs, force=True, folder=True)


def test_atomic_dir_replaces_whole_with_the_users_umask(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask()
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == 0o666 & ~_umask()
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "b.txt").write_text("2")
            raise RuntimeError("boom")
    assert [p.name for p in out.iterdir()] == ["a.txt"]
    with atomic_dir(out) as tmp:
        (tmp / "b.txt").write_text("2")
    assert [p.name for p in out.iterdir()] == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]     # no temp or old folders left

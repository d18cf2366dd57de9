"""No Python traceback from the command line (issue 22, section 2): unwritable outputs are refused
before any work, all outputs or none, ``-k 0`` refused, an unreachable Dask scheduler named in one
line, warnings one line each, the finished progress line drawn once."""
from __future__ import annotations

import io
import os
import socket
import warnings

import numpy as np
import pytest

from ionmorph import fileio
from ionmorph.cli import run
from ionmorph.errors import OutputError
from ionmorph.progress import progress_bar
from tiny_testutil import isolated_cache, tiny_model_and_section  # noqa: F401  (autouse fixture)


def main(argv: list[str]) -> int:
    return run(argv, ("ionmorph.cli.pick",), "ionmorph")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("robust")
    weights, path, _ = tiny_model_and_section(d, 11, 11, n_peaks=8)
    return d, weights, path


def _deny_writes_in(monkeypatch, folder):
    """Make ``folder`` unwritable for the check (the tests may run as root, where chmod does not bite)."""
    real = os.access

    def access(path, mode, *a, **kw):
        if os.path.abspath(path) == os.path.abspath(folder) and mode & os.W_OK:
            return False
        return real(path, mode, *a, **kw)

    monkeypatch.setattr(fileio.os, "access", access)


def _no_classification(monkeypatch):
    import ionmorph.picking.pick as pick

    def fail(*a, **kw):
        raise AssertionError("the classification ran before the output check")

    monkeypatch.setattr(pick, "pick_peaks", fail)


def test_check_writable_names_the_path(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        fileio.check_output(tmp_path / "file" / "sub" / "out.csv")
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny_writes_in(monkeypatch, ro)
    with pytest.raises(OutputError, match=f"{ro / 'new' / 'out.csv'}: no permission to write in the folder {ro}"):
        fileio.check_output(ro / "new" / "out.csv")      # the nearest existing folder is checked
    fileio.check_output(tmp_path / "ok.csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_writable_real_permissions(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="no permission"):
            fileio.check_output(ro / "out.csv")
    finally:
        ro.chmod(0o755)


def test_unwritable_output_refused_before_work(setup, tmp_path, monkeypatch, capsys):
    d, weights, path = setup
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny_writes_in(monkeypatch, ro)
    _no_classification(monkeypatch)
    rc = main(["pick", str(path), "-k", "3", "-o", str(ro / "p.csv"), "--model", str(weights), "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"{ro / 'p.csv'}: no permission to write" in err
    # the figure's folder is checked too, before the CSV is written
    rc = main(["pick", str(path), "-k", "3", "-o", str(tmp_path / "p.csv"), "--figure", str(ro / "f.png"),
               "--model", str(weights), "-q"])
    assert rc == 2 and "f.png: no permission" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_batch_unwritable_folder_refused_before_work(setup, tmp_path, monkeypatch, capsys):
    d, weights, path = setup
    ro = tmp_path / "ro"
    ro.mkdir()
    _deny_writes_in(monkeypatch, ro)
    _no_classification(monkeypatch)
    rc = main(["pick", str(path), str(path.with_name("sec.imzML")), "-o", str(ro / "out"), "--model", str(weights),
               "-q", "--workers", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "no permission to write" in err and "Traceback" not in err
    assert not (ro / "out").exists()


def test_all_outputs_or_none(setup, tmp_path, monkeypatch, capsys):
    d, weights, path = setup
    import ionmorph.plotting as plotting

    def broken(*a, **kw):
        raise OSError(28, "No space left on device", str(tmp_path / "f.png"))

    monkeypatch.setattr(plotting, "save_figure", broken)
    rc = main(["pick", str(path), "-k", "3", "-o", str(tmp_path / "p.csv"), "--figure", str(tmp_path / "f.png"),
               "--model", str(weights), "--backend", "eager", "--score", "classes", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == f"ionmorph: error: {tmp_path / 'f.png'}: No space left on device"
    assert not (tmp_path / "p.csv").exists()             # the CSV written first was removed again


def test_all_or_none_keeps_files_that_existed(tmp_path):
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("mine")
    with pytest.raises(RuntimeError), fileio.all_or_none([old, new, None]):
        new.write_text("x")
        raise RuntimeError
    assert old.read_text() == "mine" and not new.exists()


def test_k_zero_refused_up_front(setup, tmp_path, monkeypatch, capsys):
    d, weights, path = setup
    _no_classification(monkeypatch)
    assert main(["pick", str(path), "-k", "0", "-o", str(tmp_path / "p.csv"), "--model", str(weights)]) == 2
    assert "-k must be a positive number of peaks, got 0" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_unreachable_dask_scheduler_one_line(setup, tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    import dask

    d, weights, path = setup
    with socket.socket() as s:                         # a local port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        rc = main(["pick", str(path), str(d), "-o", str(tmp_path / "out"), "--model", str(weights), "-q",
                   "--scheduler", address])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"{address}: no Dask scheduler answers at this address" in err
    assert not (tmp_path / "out").exists()


def _run_command(command) -> int:
    """Run ``command(args)`` as the sub-command ``go`` of the ionmorph command line."""
    import sys
    import types

    module = types.ModuleType("fake_cli")
    module.add_cli = lambda sub: sub.add_parser("go").set_defaults(func=command)
    sys.modules["fake_cli"] = module
    try:
        return run(["go"], ("fake_cli",), "ionmorph")
    finally:
        del sys.modules["fake_cli"]


def test_warnings_print_one_line_each(capsys):
    def command(args):
        warnings.warn("first\nproblem", UserWarning)
        warnings.warn("second problem", RuntimeWarning)
        return 0

    assert _run_command(command) == 0
    assert capsys.readouterr().err == "ionmorph: warning: first problem\nionmorph: warning: second problem\n"


def test_permission_error_one_line(capsys):
    def command(args):
        raise PermissionError(13, "Permission denied", "/some/where.csv")

    assert _run_command(command) == 2
    assert capsys.readouterr().err == "ionmorph: error: /some/where.csv: Permission denied\n"


def test_finished_progress_line_drawn_once():
    out = io.StringIO()
    with progress_bar(total=10, file=out, desc="classifying", mininterval=0) as bar:
        for _ in range(5):
            bar.update(2)
    lines = [x for x in out.getvalue().replace("\r", "\n").split("\n") if "100%" in x]
    assert len(lines) == 1, out.getvalue()
    assert bar.n == 10


def test_pick_an_npz_cube(setup, tmp_path, capsys):
    """``ionmorph pick CUBE.npz --mz-key --images-key``: every channel is a candidate, classified as an
    image stack; imzML-only options are refused up front."""
    import csv

    d, weights, _ = setup
    rng = np.random.default_rng(1)
    cube = rng.poisson(2.0, (12, 14, 6)).astype(np.uint8)
    np.savez(tmp_path / "cube.npz", counts=cube, masses=np.arange(10.0, 16.0))
    rc = main(["pick", str(tmp_path / "cube.npz"), "--mz-key", "masses", "--images-key", "counts", "-k", "2",
               "-o", str(tmp_path / "p.csv"), "--model", str(weights), "--backend", "eager", "--score", "classes"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "6 candidates (image stack) classified" in out.out and "the cube's own channels" in out.out
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 2 and {float(r["mz"]) for r in rows} <= set(np.arange(10.0, 16.0))
    rc = main(["pick", str(tmp_path / "cube.npz"), "-o", str(tmp_path / "q.csv"), "--model", str(weights),
               "--imzml", str(tmp_path / "q.imzML")])
    assert rc == 2 and "--imzml needs an imzML file" in capsys.readouterr().err
    rc = main(["pick", str(tmp_path / "cube.npz"), "--mz-key", "mz", "-o", str(tmp_path / "q.csv"),
               "--model", str(weights)])
    assert rc == 2 and "no array 'mz' (the m/z values); it has counts, masses" in capsys.readouterr().err


def test_pick_mask_restricts_to_the_region(setup, tmp_path, capsys, monkeypatch):
    """``--mask REGION.npy`` reaches pick_peaks as the region; a wrong shape is one line naming the file."""
    import ionmorph.picking.pick as pick
    from ionmorph.io.msi import open_msi

    d, weights, path = setup
    shape = open_msi(path).shape
    region = np.zeros(shape, bool)
    region[2:8, 3:9] = True
    np.save(tmp_path / "roi.npy", region)
    seen = {}
    real = pick.pick_peaks

    def spy(source, **kw):
        seen["mask"] = kw.get("mask")
        return real(source, **kw)

    monkeypatch.setattr(pick, "pick_peaks", spy)
    rc = main(["pick", str(path), "-k", "2", "-o", str(tmp_path / "p.csv"), "--mask", str(tmp_path / "roi.npy"),
               "--model", str(weights), "--backend", "eager", "--score", "classes", "-q"])
    assert rc == 0, capsys.readouterr().err
    np.testing.assert_array_equal(seen["mask"], region)
    np.save(tmp_path / "bad.npy", np.ones((3, 3)))
    rc = main(["pick", str(path), "-k", "2", "-o", str(tmp_path / "q.csv"), "--mask", str(tmp_path / "bad.npy"),
               "--model", str(weights)])
    assert rc == 2 and "bad.npy: the region is 3 x 3" in capsys.readouterr().err


def test_baseline_score_from_the_command_line(setup, tmp_path, capsys):
    import csv

    d, weights, path = setup
    rc = main(["pick", str(path), "-k", "3", "-o", str(tmp_path / "m.csv"), "--score", "morans_i",
               "--model", str(weights), "--backend", "eager", "-q"])
    assert rc == 0, capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert len(rows) <= 3 and rows[0]["score_from"].startswith("morans_i of the raw ion image")

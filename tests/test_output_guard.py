"""Every writer refuses its input files as outputs and keeps a user's existing files (without --force).

One place decides (``ionmorph.fileio.check_output``); these tests drive each command and writing
function through it: pick, classify, images, info --tic, convert-checkpoint, save_pretrained,
tumor3d train/predict/explain, ReducedCube.to_anndata, simulate and corpus.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ionmorph.cli import main as ionmorph_main
from ionmorph.errors import OutputError
from ionmorph.models.model import IonMorphNet
from ionmorph.picking.pick import pick_peaks
from tiny_testutil import isolated_cache, tiny_model_and_section  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("guard")
    weights, path, _ = tiny_model_and_section(d, 10, 10, n_peaks=12)
    path.chmod(0o444)                                    # the reported case: a read-only input
    return d, weights, path


def _snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


def _refused(argv, capsys, *needles) -> None:
    assert ionmorph_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(n in err for n in needles), err


@pytest.mark.parametrize("command", ["pick", "classify"])
def test_pick_and_classify_never_write_onto_their_input(setup, tmp_path, capsys, command):
    d, weights, path = setup
    ibd = path.with_suffix(".ibd")
    before = _snapshot(path, ibd)
    link = tmp_path / "alias.csv"
    link.symlink_to(path)
    common = ["--model", str(weights), "--backend", "eager", "-q", "--force"]
    for out in (path, ibd, link):
        _refused([command, str(path), "-o", str(out)] + common, capsys, str(out), "is the input file")
    _refused([command, str(path), "-o", str(tmp_path / "t.csv"), "--figure", str(ibd)] + common, capsys,
             "is the input file")
    assert _snapshot(path, ibd) == before


def test_pick_keeps_a_users_file_replaces_its_own_table(setup, tmp_path, capsys):
    d, weights, path = setup
    mine = tmp_path / "results.csv"
    mine.write_text("sample,value\na,1\n")
    args = ["pick", str(path), "-k", "3", "--model", str(weights), "--backend", "eager", "-q"]
    _refused(args + ["-o", str(mine)], capsys, "results.csv: already exists", "--force")
    assert mine.read_text() == "sample,value\na,1\n"
    own = tmp_path / "peaks.csv"
    figure = tmp_path / "peaks.png"
    assert ionmorph_main(args + ["-o", str(own), "--figure", str(figure)]) == 0
    assert ionmorph_main(args + ["-o", str(own), "--figure", str(figure)]) == 0      # a rerun replaces its own files
    assert ionmorph_main(args + ["-o", str(mine), "--force"]) == 0
    assert mine.read_text().startswith("mz,")


def test_pick_result_to_csv_refuses_its_source(setup, tmp_path):
    d, weights, path = setup
    res = pick_peaks(path, k=3, model=weights, backend="eager", progress=False)
    with pytest.raises(OutputError, match="is the input file"):
        res.to_csv(path.with_suffix(".ibd"), overwrite=True)
    other = tmp_path / "notes.txt"
    other.write_text("keep")
    with pytest.raises(OutputError, match="notes.txt: already exists"):
        res.to_csv(other)
    assert res.to_csv(other, overwrite=True) == other and other.read_text().startswith("mz,")


def test_images_and_info_tic(setup, tmp_path, capsys):
    d, weights, path = setup
    before = _snapshot(path, path.with_suffix(".ibd"))
    _refused(["images", str(path), "--mz", "300", "-o", str(path), "--force"], capsys, "is the input file")
    _refused(["info", str(path), "--tic", str(path.with_suffix(".ibd")), "--force"], capsys, "is the input file")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n not made by ionmorph")
    _refused(["images", str(path), "--mz", "300", "-o", str(photo)], capsys, "photo.png: already exists")
    assert photo.read_bytes().endswith(b"not made by ionmorph")
    fig = tmp_path / "ions.png"
    for _ in range(2):                                    # its own picture is replaced on a rerun
        assert ionmorph_main(["images", str(path), "--mz", "300", "-o", str(fig)]) == 0
    assert ionmorph_main(["info", str(path), "--tic", str(photo), "--force"]) == 0
    assert _snapshot(path, path.with_suffix(".ibd")) == before


def test_convert_checkpoint_into_an_existing_folder(tmp_path, capsys):
    torch.manual_seed(0)
    import timm

    net = timm.create_model("convnextv2_atto", pretrained=False, in_chans=1, num_classes=6)
    ckpt = tmp_path / "run" / "best_model.pt"
    ckpt.parent.mkdir()
    torch.save({"model": net.state_dict(), "labels": ["structured", "weak_structured", "localized", "fragmented",
                                                      "unstructured", "negative"], "input_hw": (32, 32),
                "hyperparams": {"model_name": "convnextv2_atto"}}, ckpt)
    meta = tmp_path / "run" / "run_meta.json"
    meta.write_text("{}")
    _refused(["convert-checkpoint", str(ckpt), str(meta), str(ckpt.parent), "--force"], capsys,
             "holds the input file")
    assert ckpt.is_file() and meta.is_file()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.md").write_text("mine")
    from ionmorph.models.convert import convert_checkpoint

    with pytest.raises(OutputError, match="existing: already exists"):
        convert_checkpoint(ckpt, None, existing)
    first = convert_checkpoint(ckpt, None, tmp_path / "w")
    with pytest.raises(OutputError, match="already exists"):       # an earlier weights folder counts too
        convert_checkpoint(ckpt, None, first)
    assert convert_checkpoint(ckpt, None, existing, overwrite=True) == existing
    assert not (existing / "notes.md").exists() and IonMorphNet.from_pretrained(existing)


def test_tumor3d_commands_refuse_before_working(setup, tmp_path, capsys):
    from tumor3d.cli import main as tumor3d_main

    d, weights, path = setup
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "data.txt").write_text("mine")
    assert tumor3d_main(["train", "--task", "tumour-desi", "--out", str(busy), "--work", str(tmp_path / "w")]) == 2
    assert "busy: already exists" in capsys.readouterr().err and not (tmp_path / "w").exists()
    assert tumor3d_main(["predict", str(path), "-o", str(path), "--force"]) == 2
    assert "is the input file" in capsys.readouterr().err
    (tmp_path / "table.csv").write_text("a,b\n")
    assert tumor3d_main(["explain", "--cohort", str(tmp_path), "-o", str(tmp_path / "table.csv")]) == 2
    assert "table.csv: already exists" in capsys.readouterr().err
    from tumor3d.explain import Attribution

    table = Attribution(np.array([100.0, 200.0]), np.array([0.5, 0.1]))
    own = tmp_path / "attr.csv"
    table.to_csv(own)
    table.to_csv(own)                                     # its own table: replaced
    with pytest.raises(OutputError):
        table.to_csv(tmp_path / "table.csv")


def test_reduced_cube_anndata_needs_overwrite(tmp_path):
    pytest.importorskip("anndata")
    from ionmorph.picking.reduction import ReducedCube

    cube = ReducedCube(cube=np.ones((2, 3, 3), np.float32), mz=np.array([100.0, 200.0]), mask=np.ones((3, 3), bool),
                       scores=np.array([1.0, 0.5]), method="intensity")
    target = tmp_path / "x.h5ad"
    target.write_text("someone else's")
    with pytest.raises(OutputError, match="x.h5ad: already exists"):
        cube.to_anndata(target)
    assert target.read_text() == "someone else's"
    cube.to_anndata(target, overwrite=True)
    assert target.stat().st_size > 100


def test_simulate_and_corpus(tmp_path, capsys):
    out = tmp_path / "sim.imzML"
    out.write_text("user data")
    _refused(["simulate", str(out), "--shape", "16", "16", "--n-ions", "5"], capsys, "sim.imzML: already exists")
    assert out.read_text() == "user data"
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine")
    _refused(["corpus", str(busy), "--n-sections", "1"], capsys, "busy: already exists")
    assert [p.name for p in busy.iterdir()] == ["thesis.tex"]

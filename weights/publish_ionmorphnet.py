"""Publish a finished IonMorphNet training run as bundled weights (the recipe of every published tag).

Reads ``<run>/model`` and ``<run>/metrics.json`` (written by ``ionmorph train``), classifies the 101
channels of the real barley section (``../shared/realdata/barley``) for the model card's look at
real data, writes the weights folder (fp16 safetensors, config.json, README.md model card, figures),
exports the safetensors as an ONNX graph (fp32, dynamic batch; checked against eager fp32 on generic
inputs and the barley channels, :func:`ionmorph.models.onnx_model.add_onnx`), records the graph's
sha256 in config.json's ``onnx`` block, and registers the revision tag with the sha256 of the
safetensors and of the graph in the packaged registry ``ionmorph/models/registry.json``.

The folder gets no ``model.onnx`` (since issue 22): commit its config.json, model.safetensors,
README.md and figures only. The graph stays in this machine's cache; every other machine exports
it on first use and checks it against the recorded hash (the TorchScript exporter is
byte-deterministic for the same torch and onnx versions; see :mod:`ionmorph.models.onnx_model` for
what is checked where they differ).

Usage::

    python weights/publish_ionmorphnet.py RUN_DIR --notes card_notes.md --tag vX.Y.Z
    python weights/publish_ionmorphnet.py --base FOLDER --head HEAD_DIR --notes card_notes.md --tag vX.Y.Z

``--base FOLDER --head HEAD_DIR`` publishes the network of a published weights folder unchanged
(the same safetensors bytes) with the ranking head that ``ionmorph train-head -o HEAD_DIR`` fitted
(:mod:`ionmorph.models.ranking_head`) under a new tag; the card's metrics are the head's
validation on held-out simulated sections.
    python weights/publish_ionmorphnet.py --onnx-only [--out weights/ionmorphnet-convnextv2-tiny]

``--onnx-only`` re-exports and re-checks the graph of an already published folder, records its hash
in config.json and re-registers its recorded tag (``ionmorph.version`` of config.json).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NAME = "ionmorphnet-convnextv2-tiny"


def metric_rows(metrics: dict) -> dict[str, dict[str, float]]:
    """``{evaluation set: {metric: value}}`` for the card: accuracy, balanced accuracy, per-class F1."""
    sets = {"validation (simulated, seen families)": metrics.get("val"),
            "test (simulated, seen families)": metrics.get("test")}
    for group, m in metrics.get("holdout_groups", {}).items():
        sets[f"held-out {group.replace(':', ' ')} (never trained on)"] = m
    rows = {}
    for name, m in sets.items():
        if not m:
            continue
        row = {"n": m["n"], "accuracy": m["accuracy"], "balanced_accuracy": m["balanced_accuracy"]}
        row.update({f"F1 {c}": (v["f1"] if v["f1"] is not None else float("nan"))
                    for c, v in m["per_class"].items()})
        rows[name] = row
    return rows


def classify_barley(model_dir: Path, barley: Path, out: Path) -> Path:
    """Classify the 101 barley channels; write a CSV and a grid figure (ordered by m/z) into ``out``."""
    from ionmorph.picking.pick import pick_peaks
    from ionmorph.plotting import ion_image_grid, save_figure

    mz = np.load(barley / "barley101_cube.npz")["mz"]
    result = pick_peaks(barley / "barley101_peaks.imzML", candidates=mz, model=str(model_dir), progress=False)
    result.to_csv(out / "barley_classes.csv")
    order = np.argsort(result.mz)
    titles = [f"{result.mz[i]:.2f}\n{result.label[i]} {result.score[i]:.2f}" for i in order]
    fig = ion_image_grid(result.images(order), titles=titles, mask=result.mask, ncols=11, panel_size=1.6,
                         suptitle="Real barley seed section (101 channels): predicted class and informative score")
    save_figure(fig, out / "barley_grid.png", dpi=80)
    counts = {c: int((result.label == c).sum()) for c in result.classes}
    print("barley predicted classes:", counts)
    return out / "barley_grid.png"


def onnx_check_images(model, barley: Path) -> np.ndarray:
    """Inputs for the ONNX check: :func:`ionmorph.models.onnx_model.check_images` and the 101 barley channels."""
    from ionmorph.io.msi import open_msi
    from ionmorph.models.onnx_model import check_images

    data = open_msi(barley / "barley101_peaks.imzML")
    real = model.prepare(data.ion_images(np.load(barley / "barley101_cube.npz")["mz"]), data.mask)
    return np.concatenate([check_images(model.input_size), real])


def publish_onnx(folder: Path, barley: Path) -> dict:
    """Export and check ``folder``'s ONNX graph from its safetensors (as users load them); returns the config block.

    The graph goes to the user cache, not into ``folder``; its sha256 goes into config.json.
    """
    from ionmorph.models.model import IonMorphNet
    from ionmorph.models.onnx_model import add_onnx

    block = add_onnx(folder, onnx_check_images(IonMorphNet.from_pretrained(folder), barley))
    print(f"ONNX graph sha256 {block['sha256'][:16]}...: max |p_onnx - p_eager| = {block['max_abs_prob_diff']:.1e} "
          f"on {block['check_images']} images")
    return block


def init_description(run: Path) -> str:
    """Which weights the run started from (``init.json`` of ``ionmorph train --init``), or scratch."""
    path = run / "init.json"
    if not path.is_file():
        return "random (trained from scratch)"
    rec = json.loads(path.read_text())
    return f"{rec['name']} {rec.get('revision') or rec.get('version')} (sha256 {rec.get('sha256') or 'not recorded'})"


def install(staging: Path, out: Path, tag: str) -> None:
    """Move ``staging/weights`` plus the figures and tables beside it to ``out`` and register ``tag``."""
    from ionmorph.models.hub import register_weights

    for f in staging.iterdir():
        if f.is_file():
            shutil.copy(f, staging / "weights" / f.name)
    shutil.rmtree(out, ignore_errors=True)  # our own published folder, rebuilt whole
    shutil.move(staging / "weights", out)
    register_weights(NAME, tag, out, repo_id=f"ionmorph/{NAME}")


def head_metric_rows(report: dict) -> dict[str, dict[str, float]]:
    """``{ranking: {"mSCF1 k=K": value}}`` of the head's validation on held-out simulated sections."""
    n = report["sections"]["validation"]
    return {f"{name} (held-out simulated sections, n={n})": {f"mSCF1 k={k}": float(v)
                                                             for k, v in zip(report["validation_k"], values)}
            for name, values in report["validation"].items()}


def publish_with_head(args) -> int:
    """``--base FOLDER --head HEAD_DIR``: the base's network with a fitted ranking head, as a new tag."""
    from ionmorph.models.model import IonMorphNet, model_card
    from ionmorph.models.ranking_head import RankingHead

    report = json.loads((args.head / "report.json").read_text())
    model = IonMorphNet.from_pretrained(args.base)
    base_version = model.version
    model.ranking_head = RankingHead.from_config(json.loads((args.head / "ranking_head.json").read_text()))
    model.version = args.tag.lstrip("v")
    model.training_summary = dict(model.training_summary, ranking_head="see ionmorph.ranking_head.training")
    model.training_summary.setdefault("network_from", f"{NAME} {base_version} (unchanged)")
    staging = args.head / "publish"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for figure in ("confusion.png",):
        if (args.base / figure).is_file():
            shutil.copy(args.base / figure, staging / figure)
    notes = args.notes.read_text(encoding="utf-8")
    card = model_card(model, metrics=head_metric_rows(report), datasets=["ionmorph-synth"], name=NAME,
                      repo_id=f"ionmorph/{NAME}", evaluation_notes=notes)
    model.save_pretrained(staging / "weights", card=card, dtype="float16")
    publish_onnx(staging / "weights", args.realdata / "barley")
    classify_barley(staging / "weights", args.realdata / "barley", staging)
    for extra in args.figures:
        shutil.copy(extra, staging / extra.name)
    install(staging, args.out, args.tag)
    print(f"published {NAME} {args.tag} (network {base_version} + ranking head) -> {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Publish the run; see the module docstring."""
    from ionmorph.models.hub import register_weights
    from ionmorph.models.model import IonMorphNet, model_card

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, nargs="?")
    p.add_argument("--notes", type=Path, help="markdown: training data, input size, barley look (required with RUN)")
    p.add_argument("--tag", help="revision tag of the new version, e.g. v0.3.1 (required with RUN)")
    p.add_argument("--realdata", type=Path, default=REPO.parent / "shared" / "realdata")
    p.add_argument("--out", type=Path, default=REPO / "weights" / NAME)
    p.add_argument("--onnx-only", action="store_true", help="only re-export, check and record the ONNX graph of --out")
    p.add_argument("--base", type=Path, help="published weights folder whose network is kept (with --head)")
    p.add_argument("--head", type=Path, help="output folder of 'ionmorph train-head' (with --base)")
    p.add_argument("--figures", type=Path, nargs="*", default=[], help="extra figures for the card (with --head)")
    args = p.parse_args(argv)
    if args.head is not None or args.base is not None:
        if args.head is None or args.base is None or args.notes is None or args.tag is None:
            p.error("--base, --head, --notes and --tag go together")
        return publish_with_head(args)
    if args.onnx_only:
        publish_onnx(args.out, args.realdata / "barley")
        tag = "v" + json.loads((args.out / "config.json").read_text())["ionmorph"]["version"]
        register_weights(NAME, tag, args.out, repo_id=f"ionmorph/{NAME}")
        print(f"re-registered {NAME} {tag} with its ONNX graph hash")
        return 0
    if args.run is None or args.notes is None or args.tag is None:
        p.error("RUN, --notes and --tag are required unless --onnx-only is given")

    metrics = json.loads((args.run / "metrics.json").read_text())
    run_cfg = json.loads((args.run / "config.json").read_text())
    splits = json.loads((args.run / "splits.json").read_text())
    model = IonMorphNet.from_pretrained(args.run / "model")
    model.version = args.tag.lstrip("v")
    model.training_summary = {
        "data": "ionmorph.synth simulated corpus (see datasets/synthetic.md)",
        "sections": {k: len(v) for k, v in splits.items()},
        "images": metrics["n_images"],
        "held_out_family": list(run_cfg.get("holdout_family", [])),
        "architecture": run_cfg["arch"], "input_size": run_cfg["input_size"],
        "initialised_from": init_description(args.run),
        "epochs_run": metrics["epochs_run"], "best_epoch": metrics["best_epoch"],
        "optimizer": f"AdamW lr {run_cfg['lr']} wd {run_cfg['weight_decay']}, cosine, bf16 autocast={run_cfg['bf16']}",
    }
    staging = args.run / "publish"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy(args.run / "confusion.png", staging / "confusion.png")
    classify_barley(args.run / "model", args.realdata / "barley", staging)
    notes = args.notes.read_text(encoding="utf-8")
    card = model_card(model, metrics=metric_rows(metrics), datasets=["ionmorph-synth"], name=NAME,
                      repo_id=f"ionmorph/{NAME}", evaluation_notes="![confusion](confusion.png)\n\n" + notes)
    model.save_pretrained(staging / "weights", card=card, dtype="float16")
    publish_onnx(staging / "weights", args.realdata / "barley")
    install(staging, args.out, args.tag)
    print(f"published {NAME} {args.tag} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

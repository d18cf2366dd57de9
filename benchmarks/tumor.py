"""Tumour benchmark: patient-grouped CV of the 3D CNN on IonMorphNet channels vs every baseline.

For each simulated task (:data:`tumor3d.cohort.TASKS`): build the cohort, prepare it once (ion
images cached), run k-fold cross-validation grouped by patient over :data:`tumor3d.train.METHODS`,
and report patch-level and slide-level balanced accuracy (mean and sd over folds) plus the
biomarker read-out of the IonMorphNet 3D CNN (integrated gradients, precision at k against the
true tumour-marking ions). Writes ``benchmarks/results/tumor.{json,md}`` and figures
(``tumor_accuracy.png``, ``tumor_map_<task>.png``). ``--quick`` (< 5 min): small cohorts, 2 folds,
results under the stem ``tumor_quick``. ``--ship TASK`` then trains the 3D CNN on every slide of
that task and saves it as ``weights/tumor3d-<task>/`` with a model card holding the CV numbers.

    python benchmarks/tumor.py [--quick] [--model IONMORPHNET] [--ship TASK]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

from ionmorph.fileio import atomic_write_text
from ionmorph.plotting import save_figure
from ionmorph.pick import DEFAULT_MODEL
from tumor3d.cohort import TASKS, build_cohort
from tumor3d.explain import explain, precision_at_k
from tumor3d.patches import extract_patches, grouped_folds, sample_centres
from tumor3d.slide import MIN_FRACTION, SMOOTH, probability_figure
from tumor3d.train import (METHODS, SELECTIONS, FoldResult, TaskData, TrainConfig, cross_validate, model_card,
                           prepare_task, summarise, train_final)

RESULTS = Path(__file__).resolve().parent / "results"
HEADLINE = METHODS[0].name


def biomarkers(data: TaskData, res: FoldResult, test_idx: np.ndarray, k: int) -> dict[str, float]:
    """Integrated-gradients ranking of a fold's 3D CNN on its test tumour patches, scored at k."""
    patches = []
    for i in test_idx:
        s = data.slides[i]
        centres, _ = sample_centres(s.annotation, 2, classes=(2,), balance=False, max_per_class=200, seed=int(i))
        patches.append(extract_patches(s.cube, centres, res.classifier.model.config.patch, res.channels))
    x = np.concatenate(patches)
    if not len(x) or not data.markers.size:
        return {}
    table = explain(res.classifier.model, x)
    share = precision_at_k(data.mz[res.channels], data.markers, len(res.channels), data.ppm)
    return {f"precision_at_{k}": precision_at_k(table.mz, data.markers, k, data.ppm),
            "marker_share_of_channels": share}


def run_task(task: str, args: argparse.Namespace, train: TrainConfig) -> tuple[dict, TaskData]:
    """Cross-validate every method on one task; returns its result block and prepared data."""
    t0 = time.perf_counter()
    cohort = build_cohort(task, args.work / task / "cohort", n_patients=args.patients,
                          shape=args.shape, seed=args.seed, progress=args.progress)
    data = prepare_task(cohort, cache_dir=args.work / task / "cache", model=args.model,
                        seed=args.seed, progress=args.progress)
    t_prep = time.perf_counter() - t0
    folds = grouped_folds([s.patient for s in data.slides], args.folds, seed=train.seed)
    per: dict[str, list[FoldResult]] = {}
    bio: list[dict[str, float]] = []

    def collect(res: FoldResult) -> None:
        per.setdefault(res.method, []).append(res)
        if res.method == HEADLINE:
            bio.append(biomarkers(data, res, folds[res.fold][1], args.k))
            if res.fold == 0:
                name = next(n for n, s in zip(res.maps, res.slide_true) if s)
                ann = next(s.annotation for s in data.slides if s.name == name)
                fig = probability_figure(res.maps[name], ann, f"{task}: {name} (held-out patient)")
                save_figure(fig, args.out / f"{args.stem}_map_{task}.png")
        res.classifier = res.maps = None  # keep memory flat over many folds
        print(f"  {task} fold {res.fold} {res.method:34s} patch BA {res.patch_balanced_accuracy():.3f} "
              f"slide BA {res.slide_balanced_accuracy():.3f} ({res.seconds:.0f} s)", flush=True)

    cross_validate(data, METHODS, k=args.folds, train=train, on_result=collect)
    methods = {m: summarise(v) for m, v in per.items()}
    spec = TASKS[task]
    shares = {sel: precision_at_k(data.mz[data.channels(sel, train.n_channels)], data.markers, train.n_channels,
                                  data.ppm) for sel in SELECTIONS}
    return {"family": spec.family, "instrument": spec.instrument, "ppm": spec.ppm,
            "patients": len({s.patient for s in data.slides}), "slides": len(data.slides),
            "shape": list(data.slides[0].annotation.shape), "candidates": len(data.mz),
            "markers": len(data.markers), "prepare_seconds": t_prep, "methods": methods,
            "marker_share_by_selection": shares,
            "biomarkers": {key: float(np.nanmean([b[key] for b in bio if key in b]))
                           for key in (f"precision_at_{args.k}", "marker_share_of_channels")}}, data


def accuracy_figure(results: dict) -> object:
    """Grouped bars: patch-level balanced accuracy per method and task (error bars: sd over folds)."""
    import matplotlib.pyplot as plt

    tasks = list(results)
    names = [m.name for m in METHODS]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(tasks)
    for i, t in enumerate(tasks):
        mean = [results[t]["methods"][n]["patch_ba_mean"] for n in names]
        sd = [results[t]["methods"][n]["patch_ba_sd"] for n in names]
        ax.bar(np.arange(len(names)) + i * width, mean, width, yerr=sd, label=t, capsize=2)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("patch balanced accuracy")
    ax.set_ylim(0.4, 1.0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def markdown(doc: dict) -> str:
    """The results table in Markdown."""
    k = doc["settings"]["k"]
    lines = ["# Tumour patch classification benchmark", "",
             f"Patient-grouped {doc['settings']['folds']}-fold CV; mean +/- sd over folds; "
             f"balanced accuracy. Settings: `{json.dumps(doc['settings'])}`. IonMorphNet: `{doc['ionmorphnet']}`.",
             "", f"Slide rule: {doc['slide_rule']}", ""]
    for task, r in doc["tasks"].items():
        lines += [f"## {task} ({r['family']}, {r['instrument']}; {r['patients']} patients, {r['slides']} slides, "
                  f"{r['candidates']} candidates)", "",
                  "| method | patch BA | slide BA | s / fold |", "|---|---|---|---|"]
        for m, v in r["methods"].items():
            lines.append(f"| {m} | {v['patch_ba_mean']:.3f} +/- {v['patch_ba_sd']:.3f} | "
                         f"{v['slide_ba_mean']:.3f} +/- {v['slide_ba_sd']:.3f} | {v['seconds_per_fold']:.0f} |")
        b = r["biomarkers"]
        lines += ["", f"Biomarkers (3D CNN / IonMorphNet, integrated gradients): precision@{k} "
                      f"{b.get(f'precision_at_{k}', float('nan')):.3f}; share of true markers among the selected "
                      f"channels {b.get('marker_share_of_channels', float('nan')):.3f}.", "",
                  f"Share of true tumour markers among the {doc['settings']['n_channels']} selected channels, per "
                  "selection (label-free; chance = markers / candidates = "
                  f"{r['markers'] / max(r['candidates'], 1):.3f}): "
                  + ", ".join(f"{sel} {v:.3f}" for sel, v in r["marker_share_by_selection"].items()) + ".", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cohorts, 2 folds, few epochs (< 5 min)")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--model", default=DEFAULT_MODEL, help="IonMorphNet weights (name or folder)")
    ap.add_argument("--work", type=Path, default=Path("tumor3d-bench"), help="cohorts and caches")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=5, help="precision at k of the biomarker read-out")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--ship", choices=list(TASKS), help="then train on all of this task and ship the weights")
    ap.add_argument("--folds", type=int, help="patient-grouped folds (default 4; --quick 2)")
    ap.add_argument("--patients", type=int, help="patients per simulated cohort (default 8; --quick 4)")
    args = ap.parse_args(argv)
    if args.ship and args.ship not in args.tasks:
        ap.error(f"--ship {args.ship} needs that task in --tasks")
    folds, patients, args.shape = (2, 4, (32, 32)) if args.quick else (4, 8, None)
    args.folds, args.patients = args.folds or folds, args.patients or patients
    train = TrainConfig(epochs=5 if args.quick else TrainConfig.epochs, seed=args.seed)
    args.stem = "tumor_quick" if args.quick else "tumor"
    t0 = time.perf_counter()
    results, prepared = {}, {}
    for task in args.tasks:
        results[task], prepared[task] = run_task(task, args, train)
    doc = {"benchmark": "tumor", "quick": args.quick, "ionmorphnet": str(args.model),
           "settings": {"folds": args.folds, "k": args.k, "n_channels": train.n_channels, "patch": train.patch,
                        "stride": train.stride, "epochs": train.epochs, "seed": args.seed},
           "slide_rule": f"tumour-bearing when >= {MIN_FRACTION:.0%} of the annotated tissue has a "
                         f"{SMOOTH}x{SMOOTH}-smoothed tumour probability >= 0.5",
           "machine": {"python": platform.python_version(), "cpu_threads": train.threads},
           "total_seconds": time.perf_counter() - t0, "tasks": results}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / f"{args.stem}.json", json.dumps(doc, indent=1))
    atomic_write_text(args.out / f"{args.stem}.md", markdown(doc))
    save_figure(accuracy_figure(results), args.out / f"{args.stem}_accuracy.png")
    print(markdown(doc))
    if args.ship:
        ship(args.ship, prepared[args.ship], results[args.ship], train)
    return 0


def ship(task: str, data: TaskData, result: dict, train: TrainConfig) -> Path:
    """Train on every slide of ``task``, save ``weights/tumor3d-<task>/`` and register it (v0.1.0)."""
    from ionmorph.hub import register_weights

    model = train_final(data, train)
    cv = result["methods"][HEADLINE]
    name = f"tumor3d-{task}"
    folder = model.save_pretrained(Path(__file__).resolve().parents[1] / "weights" / name,
                                   card=model_card(model, task, data, cv), dtype="float32")
    register_weights(name, "v0.1.0", folder)
    print(f"shipped {folder}")
    return Path(folder)


if __name__ == "__main__":
    sys.exit(main())

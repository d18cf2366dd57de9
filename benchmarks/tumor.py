"""Tumour benchmark: patient-grouped CV of the 3D CNN on IonMorphNet channels vs every baseline.

For each simulated task (:data:`tumor3d.cohort.TASKS`: 12 patients x 3 slides of 96 x 96 pixels,
every realism knob of :mod:`tumor3d.realism` on): build the cohort, prepare it once (ion images
cached), run k-fold cross-validation grouped by patient over :data:`tumor3d.train.METHODS`, and
report patch-level and slide-level balanced accuracy (mean and sd over folds), the share of true
markers among each selection's channels against chance, why the label-free selections missed
markers (:func:`tumor3d.markers.why_missed`), the biomarker read-out of the IonMorphNet 3D CNN
(integrated gradients, precision at k), the networks' learning curves, and the knob ablation
(:func:`tumor3d.ablation.knob_ablation`: the best pixel-wise classifier with each knob off).
Before the CV, a small architecture search (:mod:`tumor3d.search`: depth and widths, pooling
along m/z, p = 5 / 9 / 13) runs on a development cohort of ``--search-task``: new patients of the
same simulated disease (in memory, :func:`tumor3d.ablation.rendered_task`; they never enter the CV)
on the label-free IonMorphNet channels of that task, and the chosen architecture is the one of
every network in the CV. Writes ``benchmarks/results/tumor.{json,md}`` and figures (``tumor_accuracy.png``,
``tumor_curves.png``, ``tumor_map_<task>.png``). ``--quick``: tiny cohorts, 2 folds, few epochs,
results under the stem ``tumor_quick`` (a smoke test, seconds to a few minutes).

Budget (about 30 minutes on 2 cores at the issue's minimum sizes: 12 patients x 3 slides of
96 x 96 per task, 3 folds, 13 methods): networks train at most :data:`BENCH_EPOCHS` epochs (early
stopping on the smoothed balanced accuracy of inner validation patients decides, patience
:data:`BENCH_PATIENCE`) on :data:`BENCH_PER_CLASS` patches per class and slide, and test slides
are predicted and scored on a grid of step :data:`BENCH_SCORE_STRIDE` (``--score-stride``; the same
pixels for every method). The knob ablation runs on ``--ablation-tasks`` (default: every task)
with :data:`ABLATION_PER_CLASS` patches per class and slide. ``--run-folds 1`` is a timing run.

    python benchmarks/tumor.py [--quick] [--model IONMORPHNET] [--no-ablation] [--no-search] [--run-folds N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

from ionmorph.picking.pick import DEFAULT_MODEL
from ionmorph.plotting import save_figure
from tumor3d.ablation import knob_ablation, rendered_task
from tumor3d.cohort import TASKS, build_cohort
from tumor3d.explain import explain, precision_at_k
from tumor3d.markers import marker_share, why_missed
from tumor3d.patches import NORMALISATION, extract_patches, grouped_folds, sample_centres
from tumor3d.realism import Knobs
from tumor3d.search import CANDIDATES, TOLERANCE, architecture_search, choose
from tumor3d.slide import BAND, RULE, TARGET_FPR, SlideRule, probability_figure
from tumor3d.train import (CLASS_BUDGET, CLUSTERS, DIVERSE, METHODS, PIXEL_METHODS, SELECTIONS, FoldResult,
                           NetClassifier, TaskData, TrainConfig, cross_validate, ionmorphnet_provenance, prepare_task,
                           summarise)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: The benchmark's training budget (fits about 30 minutes on 2 cores for 3 tasks x 3 folds x 13 methods,
#: the search and the ablations): maximum epochs, patience, training patches per class and slide, and
#: the grid step of the scored test pixels.
BENCH_EPOCHS, BENCH_PATIENCE, BENCH_PER_CLASS, BENCH_SCORE_STRIDE = 40, 6, 60, 3
#: Patches per class and slide of the knob ablation (one pixel classifier on 8 cohorts per task: its
#: rows compare with each other, so it keeps the earlier, cheaper budget).
ABLATION_PER_CLASS = 40
#: Patients of the development cohort of the architecture search (the CV's inner splits see 8
#: training patients per fold: 6 inner training and 2 validation patients, as here).
SEARCH_PATIENTS = 8
HEADLINE = METHODS[0].name
LABEL_FREE = (*SELECTIONS, DIVERSE, CLUSTERS, CLASS_BUDGET)
#: Methods the targets need (always run, whatever ``--methods`` says).
REQUIRED = (HEADLINE, "3d-cnn/random", *PIXEL_METHODS)


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
    return {f"precision_at_{k}": precision_at_k(table.mz, data.markers, k, data.ppm)}


def prepare(task: str, args: argparse.Namespace) -> tuple[object, TaskData, float]:
    """Build and prepare one task's cohort (ion images cached); returns (cohort, data, seconds)."""
    t0 = time.perf_counter()
    cohort = build_cohort(task, args.work / task / "cohort", n_patients=args.patients,
                          shape=args.shape, seed=args.seed, progress=args.progress)
    data = prepare_task(cohort, cache_dir=args.work / task / "cache", model=args.model,
                        seed=args.seed, progress=args.progress)
    return cohort, data, time.perf_counter() - t0


def run_search(task: str, data: TaskData, args: argparse.Namespace, train: TrainConfig) -> dict:
    """The architecture search on a development cohort of ``task``: new patients of the same simulated
    disease (numbered after the benchmark's, rendered in memory), with the label-free IonMorphNet
    channels of ``data``; the search block."""
    t0 = time.perf_counter()
    n_patients = SEARCH_PATIENTS if not args.quick else args.patients
    dev = rendered_task(TASKS[task], data.mz, n_patients, args.shape or TASKS[task].shape, args.seed, Knobs(),
                        first_patient=args.patients)
    channels = data.channels("ionmorphnet", train.n_channels)
    candidates = CANDIDATES if not args.quick else (CANDIDATES[0], CANDIDATES[6])
    rows = architecture_search(dev, channels, train, candidates, seed=train.seed, progress=True)
    chosen = choose(rows)
    return {"task": task, "patients": sorted({s.patient for s in dev.slides}), "rows": rows,
            "chosen": chosen, "seconds": time.perf_counter() - t0}


def run_task(task: str, args: argparse.Namespace, train: TrainConfig, cohort: object, data: TaskData,
             t_prep: float) -> dict:
    """Cross-validate every method on one prepared task, then the knob ablation; returns its result block."""
    folds = grouped_folds([s.patient for s in data.slides], args.folds, seed=train.seed)
    per: dict[str, list[FoldResult]] = {}
    bio: list[dict[str, float]] = []
    curves: dict[str, list[dict]] = {}
    shares: dict[str, list[float]] = {}

    def collect(res: FoldResult) -> None:
        per.setdefault(res.method, []).append(res)
        if len(res.channels) < len(data.mz):
            shares.setdefault(res.method, []).append(marker_share(data, res.channels))
        if isinstance(res.classifier, NetClassifier):
            curves.setdefault(res.method, []).append({**res.classifier.history,
                                                      "best_epoch": res.classifier.best_epoch})
        if res.method == HEADLINE:
            bio.append(biomarkers(data, res, folds[res.fold][1], args.k))
            if res.fold == 0:
                name = next(n for n, s in zip(res.maps, res.slide_true) if s)
                ann = next(s.annotation for s in data.slides if s.name == name)
                score = float(res.slide_score[list(res.maps).index(name)])
                call = (SlideRule().call(score), score, SlideRule())
                fig = probability_figure(res.maps[name], ann, f"{task}: {name} (held-out patient)", call=call)
                save_figure(fig, args.out / f"{args.stem}_map_{task}.png", overwrite=True)
        res.classifier = res.maps = None  # keep memory flat over many folds
        print(f"  {task} fold {res.fold} {res.method:34s} patch BA {res.patch_balanced_accuracy():.3f} "
              f"slide BA {res.slide_balanced_accuracy():.3f} ({res.seconds:.0f} s)", flush=True)

    t1 = time.perf_counter()
    cross_validate(data, args.methods, k=args.folds, train=train, on_result=collect, run=args.run_folds)
    t_cv = time.perf_counter() - t1
    methods = {m: summarise(v) for m, v in per.items()}
    best_pixel = max(PIXEL_METHODS, key=lambda m: methods[m]["patch_ba_mean"])
    selection = {sel: marker_share(data, data.channels(sel, train.n_channels)) for sel in LABEL_FREE}
    if "3d-cnn/supervised" in shares:
        selection["supervised (mean over folds)"] = float(np.mean(shares["3d-cnn/supervised"]))
    spec = TASKS[task]
    block = {"family": spec.family, "instrument": spec.instrument, "ppm": spec.ppm,
             "patients": len({s.patient for s in data.slides}), "slides": len(data.slides),
             "shape": list(data.slides[0].annotation.shape), "candidates": len(data.mz),
             "prepare_seconds": t_prep, "cv_seconds": t_cv, "methods": methods,
             "patient_draws": cohort.meta.get("patients", {}), "marker_log2_fc": cohort.meta.get("marker_log2_fc", {}),
             "best_pixel_method": best_pixel, "marker_share_by_selection": selection,
             "why_missed": {sel: why_missed(data, sel, train.n_channels) for sel in ("ionmorphnet", DIVERSE)},
             "curves": curves,
             "biomarkers": {key: float(np.nanmean([b[key] for b in bio if key in b]))
                            for key in (f"precision_at_{args.k}",)}}
    block["markers"] = block["why_missed"]["ionmorphnet"]["markers"]
    if not args.no_ablation and task in args.ablation_tasks:
        t2 = time.perf_counter()
        spec_best = next(m for m in METHODS if m.name == best_pixel)
        block["ablation"] = knob_ablation(task, data.mz, spec_best, n_patients=args.patients,
                                          shape=args.shape or spec.shape, seed=args.seed, folds=args.folds,
                                          train=replace(train, max_per_class=args.ablation_per_class),
                                          progress=True)
        block["ablation_seconds"] = time.perf_counter() - t2
    return block


def accuracy_figure(results: dict) -> object:
    """Grouped bars: patch-level balanced accuracy per method and task (error bars: sd over folds)."""
    import matplotlib.pyplot as plt

    tasks = list(results)
    names = [m.name for m in METHODS if all(m.name in results[t]["methods"] for t in tasks)]   # a --methods run: its own
    fig, ax = plt.subplots(figsize=(11, 4))
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


def roc_figure(results: dict) -> object:
    """Slide-level ROC of the held-out slides per task: the 3D CNNs and the best pixel-wise classifier,
    with the calibrated operating point of the headline method."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4), squeeze=False)
    for ax, (task, r) in zip(axes[0], results.items()):
        shown = [m for m in r["methods"] if m.startswith("3d-cnn/") and m != "3d-cnn/supervised"]
        for m in shown + [r["best_pixel_method"]]:
            roc = r["methods"][m].get("roc", {})
            if roc.get("fpr"):
                ax.plot(roc["fpr"], roc["tpr"], drawstyle="steps-post", lw=2 if m == HEADLINE else 1,
                        label=f"{m} ({roc['auc']:.2f})")
        op = r["methods"][HEADLINE].get("operating_point")
        if op:
            ax.plot([op["fpr"]], [op["sensitivity"]], "ko", label="calibrated operating point")
        ax.axvline(TARGET_FPR, color="grey", ls=":", lw=1)
        ax.set(title=f"{task}: slide ROC (held-out)", xlabel="false tumour calls (tumour-free slides)",
               ylabel="sensitivity", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def curves_figure(results: dict) -> object:
    """Learning curves of every network (train loss, inner-validation BA) per task and fold."""
    import matplotlib.pyplot as plt

    tasks = list(results)
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.2 * len(tasks), 6), squeeze=False)
    for j, t in enumerate(tasks):
        for m, folds in results[t]["curves"].items():
            colour = None
            for f, h in enumerate(folds):
                line, = axes[0, j].plot(h["train_loss"], color=colour, lw=1, label=m if f == 0 else None)
                colour = line.get_color()
                axes[1, j].plot(h["val_ba"], color=colour, lw=0.5, alpha=0.35)
                axes[1, j].plot(h["val_ba_smooth"], color=colour, lw=1)
                if h["val_ba_smooth"]:
                    axes[1, j].plot(h["best_epoch"], h["val_ba_smooth"][h["best_epoch"]], "o", color=colour, ms=3)
        axes[0, j].set_title(t)
        axes[0, j].set_ylabel("training loss")
        axes[1, j].set_ylabel("inner-validation BA (faint: raw; dot: kept epoch)")
        axes[1, j].set_xlabel("epoch")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _fmt(v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def markdown(doc: dict) -> str:
    """The results in Markdown: per task the method table, marker shares, why markers were missed,
    the knob ablation; then the closing table of balanced accuracies."""
    st, k = doc["settings"], doc["settings"]["k"]
    lines = ["# Tumour patch classification benchmark", "",
             f"Patient-grouped {st['folds']}-fold CV; mean +/- sd over folds; balanced accuracy (BA) against "
             "the slides' annotations. Settings: "
             f"`{json.dumps(st)}`. IonMorphNet: `{doc['ionmorphnet']}`, weights version "
             f"**{doc.get('ionmorphnet_weights', {}).get('version')}** (sha256 "
             f"`{str(doc.get('ionmorphnet_weights', {}).get('sha256'))[:12]}`), through "
             "`ionmorph.pick_peaks`. Normalisation (every method): "
             f"`{doc['normalisation']}`. Total {doc['total_seconds'] / 60:.1f} min on {doc['machine']['cpu_threads']} "
             "threads." + (" **Quick smoke configuration: not the benchmark.**" if doc["quick"] else "")
             + (f" **Timing run: only {st['run_folds']} fold(s); not the benchmark.**" if st.get("run_folds") else ""),
             "", f"Patch level: a patch centred on every annotated test pixel of a grid of step "
                 f"{st['score_stride']} (the same pixels for every method); slide level: the dense map (grid "
                 "predictions carried to their nearest pixels).",
             "", f"Slide rule (the `slide BA (1 % rule)` column): {doc['slide_rule']}. Calibrated columns: the slide "
                 f"score's threshold set on held-out patients for at most {TARGET_FPR:.0%} false tumour calls on "
                 "tumour-free slides (`tumor3d.slide.calibrate_rule`); each fold's slides are called with the "
                 "threshold calibrated on the other folds' held-out slides, so the rates are out of sample. "
                 f"`too close`: scores in [threshold / {BAND:g}, threshold), not called tumour. Small lesions: "
                 "slides with 2-5 % tumour. ROC curves: `" + doc["stem"] + "_roc.png`.", "",
             "Training rule (every network): class-balanced patches (at most "
             f"{st['max_per_class']} per class and slide), class-balanced batches, flips / rot90 / intensity "
             f"jitter, at most {st['epochs']} epochs; early stopping on inner validation patients "
             f"({st['val_share']:.0%} of each fold's training patients, never the test fold) follows the moving "
             f"average (weight {st['smoothing']}) of their balanced accuracy, stops {st['patience']} epochs after its "
             "best and keeps that epoch (curves: `" + doc["stem"] + "_curves.png`).", "",
             "Cohorts (`tumor3d.realism`): every knob on: " + ", ".join(doc["knobs"]) + ". Three slides per "
             "patient: tumour-bearing (15-35 % of the tissue), small lesion (2-5 %), tumour-free.", ""]
    if doc.get("search"):
        sr = doc["search"]
        ch = sr["chosen"]
        lines += ["## Architecture search", "",
                  f"On a development cohort of {sr['task']}: {len(sr['patients'])} new patients of the same "
                  f"simulated disease ({sr['patients'][0]}-{sr['patients'][-1]}, rendered in memory; none of them "
                  "is in the CV), inner split as in every fold, with that task's label-free "
                  f"IonMorphNet channels; trained by the rule above and scored by the best smoothed balanced "
                  "accuracy of its inner validation patients. Chosen: the cheapest candidate within "
                  f"{doc['search_tolerance']} of the best: **{ch['architecture']}** ({ch['parameters']:,} "
                  f"parameters); every network of the CV uses its widths and m/z pooling, every spatial method "
                  f"its patch side. Search time {sr['seconds'] / 60:.1f} min.", "",
                  "| architecture | parameters | multiply-adds / patch | smoothed val BA | raw val BA | epochs (kept) | s |",
                  "|---|---|---|---|---|---|---|"]
        for r in sr["rows"]:
            lines.append(f"| {r['architecture']} | {r['parameters']:,} | {r['multiply_adds']:,} | "
                         f"{r['val_ba_smooth']:.3f} | {r['val_ba']:.3f} | {r['epochs']} ({r['best_epoch']}) | "
                         f"{r['seconds']:.0f} |")
        lines.append("")
    for task, r in doc["tasks"].items():
        lines += [f"## {task} ({r['family']}, {r['instrument']}; {r['patients']} patients, {r['slides']} slides of "
                  f"{r['shape'][0]} x {r['shape'][1]}, {r['candidates']} candidates, {r['markers']} true markers)", "",
                  f"Time: prepare (cohort, ion images, IonMorphNet) {r['prepare_seconds'] / 60:.1f} min, CV "
                  f"{r['cv_seconds'] / 60:.1f} min" + (f", knob ablation {r['ablation_seconds'] / 60:.1f} min"
                                                     if "ablation_seconds" in r else "") + ".", "",
                  "| method | patch BA | slide BA (1 % rule) | slide ROC AUC | calibrated: false tumour calls | "
                  "sensitivity | small lesions | too close | slide BA | s / fold |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for m, v in r["methods"].items():
            op = v.get("operating_point") or {}
            cal = " | ".join(_fmt(op.get(key, float("nan"))) for key in
                             ("fpr", "sensitivity", "sensitivity_small", "too_close", "balanced_accuracy"))
            lines.append(f"| {m} | {v['patch_ba_mean']:.3f} +/- {v['patch_ba_sd']:.3f} | "
                         f"{v['slide_ba_mean']:.3f} +/- {v['slide_ba_sd']:.3f} | "
                         f"{_fmt(v.get('roc', {}).get('auc', float('nan')))} | {cal} | {v['seconds_per_fold']:.0f} |")
        chance = r["markers"] / max(r["candidates"], 1)
        lines += ["", f"Share of true markers among the {st['n_channels']} selected channels (chance = markers / "
                      f"candidates = {chance:.3f}):", "", "| selection | marker share | x chance |", "|---|---|---|"]
        for sel, v in r["marker_share_by_selection"].items():
            lines.append(f"| {sel} | {_fmt(v)} | {_fmt(v / chance) if chance else 'n/a'} |")
        lines += ["", "Why the label-free selections missed markers:", "",
                  "| selection | markers selected | scored low | removed as duplicate | mean `negative` ranked above "
                  "a missed marker | `negative` share of selected | mean score markers / others |",
                  "|---|---|---|---|---|---|---|"]
        for sel, w in r["why_missed"].items():
            lines.append(f"| {sel} | {w['selected_markers']} / {w['markers']} | {w['scored_low']} | "
                         f"{w['removed_as_duplicate']} | {w['negative_ranked_above_missed_marker']:.1f} | "
                         f"{_fmt(w['negative_share_of_selected'])} | {_fmt(w['mean_score_markers'])} / "
                         f"{_fmt(w['mean_score_others'])} |")
        if "marker_labels" in r["why_missed"]["ionmorphnet"]:
            lines += ["", "IonMorphNet labels of the true markers: " + ", ".join(
                f"{n} {c}" for n, c in r["why_missed"]["ionmorphnet"]["marker_labels"].items()) + "."]
        b = r["biomarkers"]
        lines += ["", f"Biomarkers (3D CNN / IonMorphNet, integrated gradients): precision@{k} "
                      f"{_fmt(b.get(f'precision_at_{k}', float('nan')))}.", ""]
        if "ablation" in r:
            on = r["ablation"]["all on"]
            lines += [f"Knob ablation ({r['best_pixel_method']}, the best pixel-wise classifier here; cohorts "
                      "rendered in memory, `tumor3d.ablation`; through imzML the all-on cohort scored "
                      f"{r['methods'][r['best_pixel_method']]['patch_ba_mean']:.3f} above). The "
                      "`coarse_annotation off` row trains and scores against the exact pixel truth, tumour "
                      "boundaries included, so it is not the cost of annotation noise alone; "
                      f"{st.get('ablation_per_class', st['max_per_class'])} training patches per class and slide:", "",
                      "| setting | patch BA | change | slide BA |", "|---|---|---|---|"]
            for name, v in r["ablation"].items():
                lines.append(f"| {name} | {v['patch_ba']:.3f} | {v['patch_ba'] - on['patch_ba']:+.3f} | "
                             f"{v['slide_ba']:.3f} |")
            lines.append("")
    names = [m for m in next(iter(doc["tasks"].values()))["methods"]]
    lines += ["## Closing table: patch BA (slide BA) per task and method", "",
              "| method | " + " | ".join(doc["tasks"]) + " |", "|---|" + "---|" * len(doc["tasks"])]
    for m in names:
        lines.append(f"| {m} | " + " | ".join(f"{r['methods'][m]['patch_ba_mean']:.3f} "
                                              f"({r['methods'][m]['slide_ba_mean']:.3f})"
                                              for r in doc["tasks"].values()) + " |")
    lines += ["", "## Targets", ""] + [f"- {t}" for t in doc["targets"]]
    return "\n".join(lines) + "\n"


def targets(doc: dict) -> list[str]:
    """The issue's targets, met or missed, with the numbers."""
    out, above_random, at_pixel = [], 0, 0
    for task, r in doc["tasks"].items():
        m = r["methods"]
        best_pixel = max(m[p]["patch_ba_mean"] for p in PIXEL_METHODS)
        cnn, rnd = m[HEADLINE]["patch_ba_mean"], m["3d-cnn/random"]["patch_ba_mean"]
        above_random += cnn > rnd
        at_pixel += cnn >= best_pixel
        op = m[HEADLINE].get("operating_point") or {}
        label_free = {k: v["patch_ba_mean"] for k, v in m.items()
                      if k.startswith("3d-cnn/") and k not in ("3d-cnn/supervised", "3d-cnn/random")}
        best_lf = max(label_free, key=label_free.get)
        out.append(f"{task}: 3D CNN/IonMorphNet {cnn:.3f} vs best pixel-wise {best_pixel:.3f} "
                   f"({'at or above' if cnn >= best_pixel else 'below'}) and vs random-channel 3D CNN {rnd:.3f} "
                   f"({'above' if cnn > rnd else 'not above'}); best label-free 3D CNN {best_lf} {label_free[best_lf]:.3f}; "
                   f"calibrated slide rule (out of sample): false tumour calls {_fmt(op.get('fpr', float('nan')))} "
                   f"(target <= {TARGET_FPR:.2f}), sensitivity {_fmt(op.get('sensitivity', float('nan')))}, small "
                   f"lesions {_fmt(op.get('sensitivity_small', float('nan')))}, slide BA "
                   f"{_fmt(op.get('balanced_accuracy', float('nan')))}; biomarker precision@k "
                   f"{_fmt(r['biomarkers'].get('precision_at_' + str(doc['settings']['k']), float('nan')))}.")
    n = len(doc["tasks"])
    out.append(f"3D CNN/IonMorphNet above the random-channel network on {above_random} of {n} tasks (target: all) "
               f"and at or above the best pixel-wise classifier on {at_pixel} of {n} (target: two of three).")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny cohorts, 2 folds, few epochs (a smoke test)")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--model", default=DEFAULT_MODEL, help="IonMorphNet weights (name or folder)")
    ap.add_argument("--work", type=Path, default=Path("tumor3d-bench"), help="cohorts and caches")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-k", type=int, default=5, help="precision at k of the biomarker read-out")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--folds", type=int, help="patient-grouped folds (default 3; --quick 2)")
    ap.add_argument("--patients", type=int, help="patients per simulated cohort (default 12; --quick 4)")
    ap.add_argument("--epochs", type=int,
                    help=f"maximum epochs (early stopping decides; default {BENCH_EPOCHS}; --quick 4)")
    ap.add_argument("--patience", type=int, default=BENCH_PATIENCE,
                    help="epochs after the best smoothed inner-validation BA before stopping (default %(default)s)")
    ap.add_argument("--max-per-class", type=int,
                    help=f"training patches per class and slide (default {BENCH_PER_CLASS}; --quick 40)")
    ap.add_argument("--ablation-per-class", type=int, default=ABLATION_PER_CLASS,
                    help="training patches per class and slide of the knob ablation (default %(default)s)")
    ap.add_argument("--no-search", action="store_true",
                    help="skip the architecture search: every network uses --widths and --patch")
    ap.add_argument("--search-task", choices=list(TASKS),
                    help="task whose development cohort the search runs on (default: the first of --tasks)")
    ap.add_argument("--widths", type=lambda v: tuple(int(x) for x in v.split(",")), default=TrainConfig.widths,
                    help="with --no-search: feature maps per block of every network, comma-separated (default 16,32,64)")
    ap.add_argument("--patch", type=int, default=TrainConfig.patch,
                    help="with --no-search: patch side of the spatial methods (default %(default)s)")
    ap.add_argument("--score-stride", type=int, default=BENCH_SCORE_STRIDE,
                    help="grid step of the predicted and scored test pixels (default %(default)s)")
    ap.add_argument("--run-folds", type=int, help="run only the first N folds (a timing run; not the benchmark)")
    ap.add_argument("--no-ablation", action="store_true", help="skip the knob ablation")
    ap.add_argument("--methods", nargs="+", choices=[m.name for m in METHODS],
                    help="run only these methods of tumor3d.train.METHODS, plus those the targets need "
                         "(default: every method)")
    ap.add_argument("--ablation-tasks", nargs="+", default=list(TASKS), choices=list(TASKS),
                    help="tasks that get the knob ablation (default: every task)")
    args = ap.parse_args(argv)
    keep = set(args.methods or [m.name for m in METHODS]) | set(REQUIRED)
    args.methods = tuple(m for m in METHODS if m.name in keep)
    folds, patients, args.shape = (2, 4, (48, 48)) if args.quick else (3, 12, None)
    args.folds, args.patients = args.folds or folds, args.patients or patients
    epochs = args.epochs or (4 if args.quick else BENCH_EPOCHS)
    train = TrainConfig(epochs=epochs, patience=args.patience, seed=args.seed, widths=args.widths, patch=args.patch,
                        max_per_class=args.max_per_class or (40 if args.quick else BENCH_PER_CLASS),
                        score_stride=args.score_stride)
    args.stem = "tumor_quick" if args.quick else "tumor"
    args.out.mkdir(parents=True, exist_ok=True)
    search_task = None if args.no_search else (args.search_task or args.tasks[0])
    if search_task is not None and search_task not in args.tasks:
        ap.error(f"--search-task {search_task} is not among --tasks")
    order = sorted(args.tasks, key=lambda t: t != search_task)       # the search task first
    t0 = time.perf_counter()
    results, search = {}, None
    for task in order:
        cohort, data, t_prep = prepare(task, args)
        if task == search_task:
            search = run_search(task, data, args, train)
            best = search["chosen"]
            train = replace(train, widths=tuple(best["widths"]), pool_mz=best["pool_mz"], patch=best["patch"])
        results[task] = run_task(task, args, train, cohort, data, t_prep)
        del cohort, data
    results = {t: results[t] for t in args.tasks}
    doc = {"benchmark": "tumor", "stem": args.stem, "quick": args.quick, "ionmorphnet": str(args.model),
           "search": search, "search_tolerance": TOLERANCE,
           "settings": {"methods": [m.name for m in args.methods], "folds": args.folds, "run_folds": args.run_folds, "k": args.k, "patients": args.patients,
                        "ablation_tasks": [] if args.no_ablation else args.ablation_tasks,
                        "ablation_per_class": args.ablation_per_class, **{
               key: v for key, v in asdict(train).items() if key != "threads"}},
           "knobs": list(Knobs().as_dict()), "normalisation": NORMALISATION,
           "ionmorphnet_weights": ionmorphnet_provenance(args.model),
           "slide_rule": RULE + "; truth: >= 1% of the annotated tissue annotated tumour",
           "machine": {"python": platform.python_version(), "cpu_threads": train.threads},
           "total_seconds": time.perf_counter() - t0, "tasks": results}
    doc["targets"] = targets(doc)
    write_report(args.out, args.stem, doc, markdown(doc))
    save_figure(accuracy_figure(results), args.out / f"{args.stem}_accuracy.png", overwrite=True)
    save_figure(curves_figure(results), args.out / f"{args.stem}_curves.png", overwrite=True)
    save_figure(roc_figure(results), args.out / f"{args.stem}_roc.png", overwrite=True)
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())

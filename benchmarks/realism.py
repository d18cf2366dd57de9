"""Benchmark: how far the simulator's ion images are from real ones (realism of ionmorph.synth).

The pools, statistics, forest and discriminator are :mod:`ionmorph.evaluation.realism` (its
docstring defines each); this script runs them at a fixed size, checks the targets and writes the
report. Sizes: ``--sections`` sections per family x instrument (seeds :data:`SIM_SEED` +
10000 * family index + 100 * instrument index + section), ``--per-section`` images per section,
``--max-real`` images per real dataset under ``--root`` (default ``../shared/realdata``), a
random forest of 300 trees (100 with ``--quick``), ``--epochs`` CNN epochs.

Targets (project): statistics AUC (5-fold, weighted) <= 0.75; CNN AUC (mean over held-out real
datasets) <= 0.85.

Outputs ``<out>/<prefix>.json``, ``<prefix>.md``, ``<prefix>.png`` (random real and simulated model
inputs side by side), ``<prefix>_discriminator.png`` (the CNN's most confident calls) and
``<prefix>_stats.png`` (per-statistic distributions).

Usage: ``python benchmarks/realism.py [--quick] [--root DIR] [--out DIR] [--out-prefix NAME]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ionmorph.errors import InputError
from ionmorph.evaluation.realism import (MAX_WEIGHT_RATIO, MIN_SIDE, Table, build_table, describe_stats, discriminator,
                                         find_real, random_forest, raster_summary, simulate_pool)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

#: Seeds of the simulated sections: SIM_SEED + 10000 * family index + 100 * instrument index + section.
SIM_SEED = 7_100_000
#: Project targets.
TARGET_STATS_AUC = 0.75
TARGET_CNN_AUC = 0.85
DEFAULT_ROOT = Path(os.environ.get("IONMORPH_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))


# ------------------------------------------------------------------------------------------ differences
_PERCENT = {"touches_border", "zero_fraction", "tissue_share", "border_share", "top1_energy"}


def _fmt_stat(name: str, q: dict[str, float], key: str = "median") -> str:
    if not q.get("n"):
        return "-"
    if name == "touches_border":
        return f"{100 * q['mean']:.0f} %"
    return f"{q[key]:.3g}"


def differences(stats: dict[str, Any], top: int | None = None) -> list[str]:
    """Plain-language lines, one per statistic in order of the pooled KS distance."""
    order = sorted(stats, key=lambda k: -stats[k]["ks"])[:top]
    lines = []
    for k in order:
        s = stats[k]
        what = "share touching the border" if k == "touches_border" else "median"
        per = ", ".join(f"{d} {_fmt_stat(k, q)}" for d, q in s["real_per_dataset"].items())
        inst = ", ".join(f"{i} {_fmt_stat(k, q)}" for i, q in s["sim_per_instrument"].items())
        lines.append(f"`{k}` (KS {s['ks']:.2f}): {what} real {per} vs simulated {_fmt_stat(k, s['sim'])} "
                     f"(p10-p90 sim {s['sim']['p10']:.3g}-{s['sim']['p90']:.3g}; per instrument: {inst})")
    return lines


# ----------------------------------------------------------------------------------------------- figures
def _pick_spread(t: Table, mask: np.ndarray, n: int, rng: np.random.Generator, key: np.ndarray) -> np.ndarray:
    """``n`` random indices of ``mask``, round-robin over the values of ``key`` (datasets / groups)."""
    pools = [rng.permutation(np.flatnonzero(mask & (key == v))).tolist() for v in dict.fromkeys(key[mask])]
    out = []
    while len(out) < n and any(pools):
        for p in pools:
            if p and len(out) < n:
                out.append(p.pop())
    return np.asarray(out, dtype=np.int64)


def _grid(fig, spec, t: Table, idx: np.ndarray, titles: Sequence[str], ncols: int, title: str,
          title_gap: float = 0.04):
    import matplotlib as mpl

    sub = spec.subgridspec(int(np.ceil(max(len(idx), 1) / ncols)), ncols, wspace=0.05, hspace=0.45)
    cmap = mpl.colormaps["viridis"]
    im = None
    axes = []
    for j in range(sub.nrows * sub.ncols):
        ax = fig.add_subplot(sub[j // ncols, j % ncols])
        ax.set_axis_off()
        axes.append(ax)
        if j < len(idx):
            im = ax.imshow(t.x[idx[j], 0], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(titles[j], fontsize=6)
    if axes:
        boxes = [ax.get_position() for ax in axes]
        fig.text(min(b.x0 for b in boxes), max(b.y1 for b in boxes) + title_gap, title, fontsize=9,
                 fontweight="bold", va="bottom")
    return im, axes


def _title(t: Table, i: int, p: np.ndarray | None = None) -> str:
    head = t.dataset[i] if t.real[i] else f"{t.group[i]}\n{t.look[i]}"
    tail = f" p={p[i]:.2f}" if p is not None else ""
    return f"{head}\nm/z {t.mz[i]:.1f}{tail}"


def side_by_side(t: Table, path: Path, seed: int, n: int = 16) -> Path:
    """Random real and random simulated model inputs, same preprocessing and colour scale."""
    from matplotlib.figure import Figure

    from ionmorph.plotting import save_figure

    rng = np.random.default_rng(seed)
    ri = _pick_spread(t, t.real, n, rng, t.dataset)
    si = _pick_spread(t, ~t.real, n, rng, t.group)
    fig = Figure(figsize=(15, 9))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 0.04], wspace=0.08, left=0.02, right=0.93, top=0.86, bottom=0.02)
    im, axes_r = _grid(fig, gs[0], t, ri, [_title(t, i) for i in ri], 4, "real (random, spread over datasets)")
    _, axes_s = _grid(fig, gs[1], t, si, [_title(t, i) for i in si], 4,
                      "simulated (random, spread over family/instrument; title: simulator's apparent class)")
    if im is not None:
        fig.colorbar(im, cax=fig.add_subplot(gs[2]), label="model input: preprocess(size=64), p99 of measured = 1")
    fig.suptitle("Real vs simulated ion images as the model sees them (64 x 64, aspect kept, zero padding; "
                 "unmeasured pixels are 0)")
    out = save_figure(fig, path, overwrite=True)   # the benchmark's own results
    return out


def discriminator_figure(t: Table, p: np.ndarray, pct: np.ndarray, path: Path, n: int = 8) -> Path:
    """The CNN's most confidently simulated simulated images, most simulated-looking real ones, most real-looking simulated.

    Ranked by :func:`fold_percentile` (ties by p(real)), so images scored by different folds compare.
    """
    from matplotlib.figure import Figure

    from ionmorph.plotting import save_figure

    ok = np.isfinite(p) & np.isfinite(pct)
    sim = np.flatnonzero(~t.real & ok)
    real = np.flatnonzero(t.real & ok)
    low = lambda idx: idx[np.lexsort((p[idx], pct[idx]))]          # noqa: E731
    rows = [("simulated images it finds most fake (lowest p(real))", low(sim)[:n]),
            ("real images it finds most simulated (lowest p(real))", low(real)[:n]),
            ("simulated images it finds most real (highest p(real))", low(sim)[::-1][:n])]
    fig = Figure(figsize=(15, 11.5))
    gs = fig.add_gridspec(len(rows) + 1, 2, width_ratios=[1, 0.02], height_ratios=[1] * len(rows) + [0.7],
                          hspace=0.6, left=0.04, right=0.93, top=0.88, bottom=0.05)
    im = None
    for r, (title, idx) in enumerate(rows):
        im_r, _ = _grid(fig, gs[r, 0], t, idx, [_title(t, i, p) for i in idx], n, title, title_gap=0.045)
        im = im or im_r
    if im is not None:
        fig.colorbar(im, cax=fig.add_subplot(gs[:len(rows), 1]), label="model input (p99 of measured = 1)")
    ax = fig.add_subplot(gs[len(rows), 0])
    bins = np.linspace(0, 1, 21)
    for d in dict.fromkeys(t.dataset[t.real]):
        sel = t.real & (t.dataset == d) & ok
        ax.hist(pct[sel], bins=bins, histtype="step", density=True, lw=1.5,
                label=f"real: {d} (n={sel.sum()}, mean = fold AUC {np.mean(pct[sel]):.2f})")
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="a perfectly realistic dataset (uniform)")
    ax.set_xlabel("held-out real image: share of its fold's held-out simulated images with lower p(real)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("CNN discriminator (leave one real dataset out): its most confident calls\n"
                 "(ranked by p(real) relative to the fold's held-out simulated images; title p = p(real))")
    return save_figure(fig, path, overwrite=True)


def stats_figure(t: Table, stats: dict[str, Any], path: Path) -> Path:
    """Empirical CDF of each statistic: every real dataset and the simulated pool."""
    from matplotlib.figure import Figure

    from ionmorph.plotting import save_figure

    names = sorted(stats, key=lambda k: -stats[k]["ks"])
    ncols = 5
    nrows = int(np.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.2 * ncols, 2.6 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(names):]:
        ax.set_axis_off()
    for ax, k in zip(axes, names):
        v = t.stats[k]
        for d in dict.fromkeys(t.dataset[t.real]):
            x = np.sort(v[t.real & (t.dataset == d)])
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", lw=1.4, label=d)
        x = np.sort(v[~t.real])
        ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", lw=2.2, color="k", ls="--", label="simulated")
        med = float(np.median(np.abs(v))) if len(v) else 0.0
        if len(v) and v.max() > 20 * max(med, 1.0):                         # heavy tail: symmetric log axis
            ax.set_xscale("symlog", linthresh=max(med, 1e-3))
        ax.set_title(f"{k} (KS {stats[k]['ks']:.2f})", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("Per-image statistics: empirical CDFs, real datasets vs the simulated pool (sorted by KS)")
    return save_figure(fig, path, overwrite=True)


# ----------------------------------------------------------------------------------------------- report
def to_markdown(res: dict[str, Any]) -> str:
    from ionmorph.picking.image_stats import STATISTICS

    rf, cnn, stats = res["random_forest"], res["cnn"], res["statistics"]
    datasets = list(res["real"]["datasets"])
    tgt = res["targets"]
    yes = lambda ok: "MET" if ok else "NOT MET"   # noqa: E731
    lines = [f"# Realism of the simulator ({res['label']})", "",
             f"Real pool: {res['real']['n_images']} ion images from {len(datasets)} recordings under `{res['real']['root']}` "
             f"({', '.join(d + ' ' + str(v['n_images']) for d, v in res['real']['datasets'].items())}). Simulated pool: "
             f"{res['sim']['n_images']} ion images from {res['sim']['n_sections']} sections "
             f"({res['sim']['sections_per_combination']} per family x instrument; families {', '.join(res['sim']['families'])}; "
             f"instruments {', '.join(res['sim']['instruments'])}; at most {res['sim']['per_section']} candidates per "
             f"section; storage modes cycling {', '.join(res['sim']['modes'])}), through `open_msi` -> `candidate_mz` "
             f"-> `ion_images(ppm=instrument ppm)`.", "",
             "## Headline", "",
             "| measure | AUC real vs simulated | target | |", "|---|---|---|---|",
             f"| random forest on the {len(STATISTICS)} image statistics, 5-fold stratified CV (weighted) | "
             f"{rf['cv5_auc_weighted']} | <= {TARGET_STATS_AUC} | {yes(tgt['stats_met'])} |",
             f"| same, unweighted | {rf['cv5_auc_unweighted']} | | |"]
    lines += [f"| same (weighted), {k} | {v} | | |" for k, v in rf.get("ablation", {}).items()]
    if "lodo_auc_mean" in rf:
        lines.append(f"| random forest, leave one real dataset out (mean) | {rf['lodo_auc_mean']} | | |")
    if cnn.get("auc_mean") is not None:
        lines += [f"| CNN discriminator on the model input, leave one real dataset out (mean) | {cnn['auc_mean']} | "
                  f"<= {TARGET_CNN_AUC} | {yes(tgt['cnn_met'])} |",
                  f"| CNN, pooled out-of-fold (weighted / unweighted) | {cnn['pooled_oof_auc_weighted']} / "
                  f"{cnn['pooled_oof_auc_unweighted']} | | |"]
    else:
        lines.append(f"| CNN discriminator | {cnn.get('skipped')} | | |")
    lines += ["", "AUC 0.5 = indistinguishable, 1.0 = perfectly separable. The 5-fold CV mixes images of the same "
              "recording in training and test, so it also rewards recognising each real recording; the leave-one-out "
              "AUCs ask whether what separates the other real recordings from the simulator transfers to a new one. "
              "With few real recordings a held-out AUC near 0.5 can mean that the held-out recording is as unlike the "
              "other real ones as it is unlike the simulator, not that the simulator matches it: read it beside its "
              "statistics below.", "",
              "Weighted: the real and simulated classes "
              "weigh the same; each real dataset about the same (an image weighs at most "
              f"{MAX_WEIGHT_RATIO:g}x an image of the largest dataset); each family x instrument group the same.", "",
              "Per real dataset (that dataset vs all simulated images):", "",
              "| real dataset | n | RF 5-fold AUC (out-of-fold) | RF held-out AUC | CNN held-out AUC | CNN median p(real) held-out real / sim |",
              "|---|---|---|---|---|---|"]
    for d in datasets:
        f = cnn.get("folds", {}).get(d, {})
        lines.append(f"| {d} | {res['real']['datasets'][d]['n_images']} | {rf['cv5_auc_per_real_dataset'][d]} | "
                     f"{rf.get('lodo_auc', {}).get(d, '-')} | {f.get('auc', '-')} | "
                     f"{f.get('median_p_real_heldout_real', '-')} / {f.get('median_p_real_heldout_sim', '-')} |")
    lines += ["", "## What differs (statistics sorted by KS distance, real pooled vs simulated pooled)", ""]
    lines += [f"- {s}" for s in res["differences"]]
    lines += ["", "## KS distance per statistic", "",
              "| statistic | KS pooled | " + " | ".join(f"KS {d}" for d in datasets) + " | real median: "
              + " / ".join(datasets) + " | sim median (p10-p90) | RF importance |",
              "|---|---|" + "---|" * len(datasets) + "---|---|---|"]
    for k in sorted(stats, key=lambda k: -stats[k]["ks"]):
        s = stats[k]
        lines.append(f"| {k} | {s['ks']:.3f} | " + " | ".join(f"{s['ks_per_dataset'][d]:.3f}" for d in datasets)
                     + " | " + " / ".join(_fmt_stat(k, s["real_per_dataset"][d]) for d in datasets)
                     + f" | {_fmt_stat(k, s['sim'])} ({s['sim']['p10']:.3g}-{s['sim']['p90']:.3g}) | "
                     f"{rf['importance'].get(k, 0):.3f} |")
    insts = list(next(iter(stats.values()))["sim_per_instrument"])
    fams = list(next(iter(stats.values()))["sim_per_family"])
    lines += ["", "`touches_border` is given as the share of images whose bright area touches the raster border.", "",
              "## Simulated medians per instrument and family", "",
              "| statistic | " + " | ".join(insts) + " | " + " | ".join(fams) + " |",
              "|---|" + "---|" * (len(insts) + len(fams))]
    for k in STATISTICS:
        s = stats[k]
        lines.append(f"| {k} | " + " | ".join(_fmt_stat(k, s["sim_per_instrument"][i]) for i in insts) + " | "
                     + " | ".join(_fmt_stat(k, s["sim_per_family"][f]) for f in fams) + " |")
    if cnn.get("folds"):
        lines += ["", "## CNN discriminator", "",
                  f"{cnn['architecture']} ({cnn['n_parameters']:,} parameters), {cnn['epochs']} epochs, AdamW + one-cycle, "
                  "flips/rot90 augmentation, test-time average over the 8 flips/rotations.", "",
                  "| held-out real dataset | AUC | real test | sim test | train | s |", "|---|---|---|---|---|---|"]
        for d, f in cnn["folds"].items():
            lines.append(f"| {d} | {f['auc']} | {f['n_real_test']} | {f['n_sim_test']} | {f['n_train']} | {f['seconds']} |")
        looks = cnn["realness_rank_per_sim_look"]
        lines += ["", "Realness rank of the simulated images (the share of the same fold's held-out simulated images "
                  "the CNN finds less real; 0.5 = an average simulated image, higher = more real-looking) by the "
                  "simulator's apparent class (`none`: no simulated ion within 3 x ppm, a noise or matrix peak; "
                  "`overlapped`: peaks overlap, no label):", "",
                  "| apparent class | " + " | ".join(looks) + " |", "|---|" + "---|" * len(looks),
                  "| images | " + " | ".join(str(v["n"]) for v in looks.values()) + " |",
                  "| realness rank | " + " | ".join(f"{v['rank']:.2f}" for v in looks.values()) + " |",
                  "", "Per family/instrument: the CNN's mean realness rank, and the random forest's mean "
                  "out-of-fold p(real) (5-fold CV):", "", "| group | CNN realness rank | RF p(real) |", "|---|---|---|"]
        for g, v in cnn["realness_rank_per_sim_group"].items():
            lines.append(f"| {g} | {v:.2f} | {rf['mean_p_real_per_sim_group'].get(g, float('nan')):.3f} |")
    rs = res["raster"]
    lines += ["", "## Rasters (not used by the classifiers)", "",
              "| recording | raster H x W | aspect W/H | measured share | measured pixels touch edges (of 4) | images |",
              "|---|---|---|---|---|---|"]
    for d, v in rs["real"].items():
        lines.append(f"| real: {d} | {v['shape'][0]} x {v['shape'][1]} | {v['aspect_w_over_h']} | {v['measured_share']} | "
                     f"{v['measured_touches_edges']} | {v['n_images']} |")
    s = rs["sim"]
    lines += [f"| simulated (median, p10-p90 over {s['n_sections']} sections) | {s['height']['median']:.0f} "
              f"({s['height']['p10']:.0f}-{s['height']['p90']:.0f}) x {s['width']['median']:.0f} "
              f"({s['width']['p10']:.0f}-{s['width']['p90']:.0f}) | {s['aspect_w_over_h']['median']} "
              f"({s['aspect_w_over_h']['p10']}-{s['aspect_w_over_h']['p90']}) | {s['measured_share']['median']} "
              f"({s['measured_share']['p10']}-{s['measured_share']['p90']}); {100 * s['share_with_unmeasured_pixels']:.0f} % "
              "of sections have unmeasured pixels | | |", ""]
    if res["real"]["skipped"]:
        lines += ["Skipped real files: " + "; ".join(f"`{s['file']}` ({s['reason']})" for s in res["real"]["skipped"]), ""]
    lines += ["## Definitions", "",
              "Statistics over the measured pixels of each raw ion image (`ionmorph/picking/image_stats.py`): `morans_i` "
              "(4-neighbour, `ionmorph.picking.baselines.morans_i`), `spatial_chaos` (`ionmorph.picking.baselines.spatial_chaos`, "
              "its score 1 - chaos: high = coherent), `zero_fraction` (share of measured pixels = 0), `cv` (sd / mean), "
              "`dynamic_range` (log10 p99 / p50 of the non-zero values), `top1_energy` (intensity share of the "
              "brightest 1 % of pixels), `roughness` (mean |4-neighbour difference| / mean), `anisotropy` (ln of "
              "vertical / horizontal mean |difference|), `log_skew` (skewness of log1p(x / median non-zero)), "
              "`distinct_share` (distinct non-zero values / non-zero pixels), and on the bright area (Gaussian "
              "sigma 1 px over the measured pixels, above 10 % of the smoothed p99): `tissue_share` (bright / raster "
              "pixels), `border_share` (bright share of the 1-px raster ring), `touches_border` (bright area covers "
              ">= 1 % of that ring), `blob_count` (8-connected bright components of >= 3 px).", "",
              f"Figures: `{res['prefix']}.png` (random real vs simulated model inputs, same scale), "
              f"`{res['prefix']}_discriminator.png` (the CNN's most confident calls and its p(real) histograms), "
              f"`{res['prefix']}_stats.png` (per-statistic CDFs).", "",
              f"Simulator: {res['simulator']}. Total wall time {res['wall_s']:.0f} s (simulation {res['timing']['simulate_s']} s, "
              f"statistics {res['timing']['stats_s']} s, forest {res['timing']['forest_s']} s, CNN {res['timing']['cnn_s']} s). "
              f"Machine: Python {res['machine']['python']}, torch {res['machine']['torch']}, scikit-learn "
              f"{res['machine']['sklearn']}, {res['machine']['cpu']}, {res['machine']['threads']} threads. Reproduce with "
              f"`python benchmarks/realism.py{' --quick' if res['label'] == 'quick' else ''} --out-prefix {res['prefix']}`.", ""]
    return "\n".join(lines)


def _simulator_version() -> str:
    """Git revision and whether ionmorph/synth has uncommitted changes (best effort)."""
    import subprocess

    import ionmorph.synth as synth

    where = Path(synth.__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "."], cwd=where, capture_output=True, text=True,
                               timeout=10)
        if rev.returncode == 0:
            return f"ionmorph.synth at {where} (git {rev.stdout.strip()}" + \
                   (", uncommitted changes)" if dirty.stdout.strip() else ", clean)")
    except (OSError, subprocess.SubprocessError):
        pass
    return f"ionmorph.synth at {where} (not a git checkout)"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import sklearn
    import torch

    from ionmorph.synth import FAMILIES, INSTRUMENT_PRESETS

    quick = args.quick
    n_sections = args.sections or (1 if quick else 2)
    per_section = args.per_section or (12 if quick else 40)
    max_real = args.max_real or (60 if quick else 200)
    epochs = args.epochs or (3 if quick else 12)
    n_trees = 100 if quick else 300
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("default", "binned", "continuous", "processed") for m in modes):
        raise InputError(f"--modes must list some of default, binned, continuous, processed; got {args.modes!r}")
    progress = not args.no_progress
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    real, skipped = find_real(args.root, max_real, args.seed)
    with tempfile.TemporaryDirectory(prefix="ionmorph-realism-") as tmp:
        sim, records = simulate_pool(n_sections, per_section, modes, SIM_SEED + args.seed, Path(tmp), progress)
    t_sim = time.perf_counter()
    stacks = real + sim
    table = build_table(stacks, progress)
    stats = describe_stats(table)
    t_stats = time.perf_counter()
    rf = random_forest(table, args.seed, n_trees, n_jobs=args.threads)
    t_rf = time.perf_counter()
    cnn = discriminator(table, epochs, args.seed, progress)
    t_cnn = time.perf_counter()
    label = "quick" if quick else "full"
    res: dict[str, Any] = {
        "benchmark": "realism", "label": label, "prefix": args.out_prefix, "simulator": _simulator_version() + (f"; {args.note}" if args.note else ""),
        "real": {"root": str(args.root), "min_side": MIN_SIDE, "max_per_dataset": max_real,
                 "n_images": int(table.real.sum()), "skipped": skipped,
                 "datasets": {s.dataset: {"n_images": int(len(s.images)), "shape": list(s.shape), **s.meta}
                              for s in real}},
        "sim": {"n_images": int((~table.real).sum()), "n_sections": len(sim), "sections_per_combination": n_sections,
                "per_section": per_section, "modes": modes, "families": list(FAMILIES),
                "instruments": list(INSTRUMENT_PRESETS), "seed": SIM_SEED + args.seed, "sections": records},
        "statistics": stats, "differences": differences(stats),
        "random_forest": {k: v for k, v in rf.items() if k != "oof_p_real"},
        "cnn": {k: v for k, v in cnn.items() if k not in ("oof_p_real", "fold_percentile")},
        "raster": raster_summary(stacks),
        "weighting": {"rule": "real and simulated classes equal in total; real datasets equal, an image weighing at "
                              f"most {MAX_WEIGHT_RATIO:g}x an image of the largest real dataset; simulated "
                              "family x instrument groups equal", "max_weight_ratio": MAX_WEIGHT_RATIO},
        "targets": {"stats_auc": TARGET_STATS_AUC, "cnn_auc": TARGET_CNN_AUC,
                    "stats_met": bool(rf["cv5_auc_weighted"] is not None and rf["cv5_auc_weighted"] <= TARGET_STATS_AUC),
                    "cnn_met": bool(cnn.get("auc_mean") is not None and cnn["auc_mean"] <= TARGET_CNN_AUC)},
        "timing": {"simulate_s": round(t_sim - t0, 1), "stats_s": round(t_stats - t_sim, 1),
                   "forest_s": round(t_rf - t_stats, 1), "cnn_s": round(t_cnn - t_rf, 1)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn.__version__,
                    "cpu": platform.machine(), "threads": torch.get_num_threads()},
    }
    out = Path(args.out)
    side_by_side(table, out / f"{args.out_prefix}.png", args.seed)
    if "oof_p_real" in cnn:
        discriminator_figure(table, cnn["oof_p_real"], cnn["fold_percentile"],
                             out / f"{args.out_prefix}_discriminator.png")
    stats_figure(table, stats, out / f"{args.out_prefix}_stats.png")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    write_report(out, args.out_prefix, res, to_markdown(res))
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 section per family x instrument, 12 images per section, "
                                                        "60 per real dataset, 3 CNN epochs, 100 trees")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="real recordings (default ../shared/realdata)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--out-prefix", default="realism", help="results file name stem (default realism)")
    p.add_argument("--sections", type=int, help="simulated sections per family x instrument (default 2; quick 1)")
    p.add_argument("--per-section", type=int, help="at most this many ion images per simulated section (40; quick 12)")
    p.add_argument("--max-real", type=int, help="at most this many ion images per real dataset (200; quick 60)")
    p.add_argument("--modes", default="default,binned",
                   help="storage modes of the simulated imzML, cycled over a combination's sections")
    p.add_argument("--epochs", type=int, help="CNN epochs per fold (default 12; quick 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads and forest jobs (default 1: fastest on a shared machine)")
    p.add_argument("--note", default="", help="free text added to the report's simulator line (e.g. which revision)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    for name in ("sections", "per_section", "max_real", "epochs", "threads"):
        v = getattr(a, name)
        if v is not None and v < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    res = run(a)
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())

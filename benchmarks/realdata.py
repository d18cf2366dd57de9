"""Benchmark: IonMorphNet judged on real recordings (labels by eye, segments; SPEC 2, 5, 6, 7).

Data
    Every real-data folder under ``--root`` (default ``../shared/realdata`` beside the repository;
    a folder that is itself laid out this way is taken alone). One section per folder, found by
    file name (:mod:`ionmorph.evaluation.realdata`)::

        <root>/<dataset>/
            <name>.imzML + <name>.ibd      continuous imzML, a pre-binned peak list (every channel a candidate)
          or *_cube.npz                     intensities (H, W, C), mz (C,), optional measured bool (H, W)
          or *_ion_images.npz               images (C, H, W), mz (C,), optional measured (H, W), species (C,)
            *_labels_by_eye.csv (optional)  index,mz,label[,confidence]: index = channel position on the
                                            m/z axis, label one of the six classes (SPEC 2),
                                            confidence clear | borderline
            *_segments.npy (optional)       int (H, W): 0 = not measured / left out, 1..C = segments;
                                            a cube or imzML folder without one gets segments computed
                                            from its spectra with the barley recipe of the shared
                                            README (ionmorph.evaluation.realdata.segments_from_spectra; poplar)

    A folder with labels or segments is *labelled*; one without is used only when it holds a cube
    or an ion-image file (unlabelled recordings: predicted class shares and a figure). Folders
    holding only an imzML (format examples) are skipped. Your own labelled sections, laid out the
    same way under a folder of your own, are judged with ``--root YOUR_FOLDER``.

What is measured, per folder
    ``ionmorph.pick_peaks`` on every channel of the axis (``candidates=`` the axis for an imzML;
    ``source=`` the (C, H, W) stack, ``mz=``, ``mask=`` for an npz), with ``--model`` (weights
    name, folder or Hub id) / ``--revision`` and ``--score`` (any name of ``ionmorph.picking.pick.SCORES``;
    default ``pick_peaks``' own): the code path users get. The header records the weights version
    and the score name.

    - predicted class shares (every folder);
    - labels by eye: accuracy, balanced accuracy and macro F1 on all labelled images and on the
      ``clear`` ones, the confusion matrix (rows = label by eye, columns = predicted);
    - the top of IonMorphNet's ranking (with channel names, e.g. the plaque-brain species);
    - segments: mSCF1 (SPEC 6; the segments as the mask, only measured pixels with a segment > 0,
      so the classes are 1..C; every channel a candidate) at each budget ``--k`` for IonMorphNet
      (``PickResult.score``) and every baseline of :mod:`ionmorph.picking.baselines` (random: mean over
      ``--random-seeds`` seeds; mean intensity; mean-spectrum SNR read at each channel; spatial
      chaos; Moran's I; S3PL with its defaults, seed 0; SPUTNIK's reference similarity (TIC) and
      complete-spatial-randomness filters; the minimum-connected-area filter), beside the best
      reachable value with k picks and the exact expectation of random picks
      (:func:`ionmorph.evaluation.realdata.random_expected`), in two selections: the protocol ranking (top-k
      of every channel) and the ``pick_peaks(k=...)`` selection users get, where only the
      best-scoring member of each isotope/adduct group may be picked (baselines through the same
      groups). Baselines see the ion images IonMorphNet saw.

Reference check (barley)
    ``../shared/realdata/README.md`` measured Moran's I 0.469 / 0.474 / 0.481 / 0.506 and best
    reachable 0.537 / 0.555 / 0.574 / 0.595 at k = 10 / 20 / 30 / 40; this run must reproduce them
    (within 0.01 and 0.001). Its "random 0.16 / 0.29 / 0.35 / 0.36" is one draw, the first 10 / 20 /
    30 / 40 channels of ``numpy.random.default_rng(0).permutation(101)`` (reproduced here as
    ``random draw (README)``), not the mean over draws: the expectation is lower (row
    ``random (expected)``).

Outputs (``--out``, default ``benchmarks/results``; ``--out-prefix`` default ``realdata``, so the
results of different weights can sit side by side)
    ``<prefix>.json``, ``<prefix>.md``, ``<prefix>_<dataset>_grid.png`` (ion images, viridis,
    99th-percentile scaling over measured pixels after the hotspot clip, unmeasured pixels grey;
    titles m/z, predicted class and score, label by eye, red where they disagree; a colour bar;
    every channel of folders with labels by eye, ``--grid-max`` evenly spread channels of the
    others), ``<prefix>_<dataset>_confusion.png`` (labelled folders) and
    ``<prefix>_<dataset>_segments.png`` (segments computed from the spectra).

Usage: ``python benchmarks/realdata.py [--quick] [--root DIR] [--model NAME_OR_PATH] [--revision TAG]
[--score NAME] [--norm none|tic|rms] [--out-prefix NAME]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "realdata"
#: Numbers measured in ../shared/realdata/README.md (k = 10, 20, 30, 40).
REFERENCE: dict[str, dict[str, Any]] = {
    "barley": {"k": [10, 20, 30, 40], "morans_i": [0.469, 0.474, 0.481, 0.506],
               "best": [0.537, 0.555, 0.574, 0.595], "random_readme_draw": [0.16, 0.29, 0.35, 0.36]},
}
REFERENCE_TOL = {"morans_i": 0.01, "best": 0.001, "random_readme_draw": 0.01}
#: The single draw behind the README's random row.
README_RANDOM_SEED = 0


def _fmt(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def readme_draw_scores(n: int, seed: int = README_RANDOM_SEED) -> np.ndarray:
    """Scores ranking channels in the order of ``numpy.random.default_rng(seed).permutation(n)``."""
    perm = np.random.default_rng(seed).permutation(n)
    scores = np.empty(n)
    scores[perm] = np.arange(n, 0, -1, dtype=np.float64)
    return scores


def reference_check(name: str, scored: Any) -> dict[str, Any] | None:
    """Compare a folder's mSCF1 table with :data:`REFERENCE` (None when there is no reference)."""
    ref = REFERENCE.get(name)
    table = scored.summary.get("mscf1")
    if ref is None or table is None:
        return None
    ks = table["k"]
    out: dict[str, Any] = {"source": "../shared/realdata/README.md", "rows": {}}
    for key, values in ref.items():
        if key == "k":
            continue
        ours = []
        for k, want in zip(ref["k"], values):
            if k not in ks:
                ours.append(None)
                continue
            j = ks.index(k)
            got = table["best"][j] if key == "best" else \
                table["methods"]["morans_i"]["mscf1"][j] if key == "morans_i" else \
                table["methods"]["random_readme_draw"]["mscf1"][j]
            ours.append(got)
        ok = [None if g is None else abs(g - w) <= REFERENCE_TOL[key] + 1e-9 for g, w in zip(ours, values)]
        out["rows"][key] = {"reference": values, "ours": ours, "tolerance": REFERENCE_TOL[key],
                            "ok": all(v for v in ok if v is not None) and any(v is not None for v in ok)}
    out["ok"] = all(v["ok"] for v in out["rows"].values())
    return out


def run(root: Path, model: str, revision: str | None, score: str | None, ks: Sequence[int], n_random: int,
        s3pl_epochs: int, s3pl_train_pixels: int, grid_max: int, out_dir: Path, prefix: str,
        datasets: Sequence[str] | None, backend: str, label: str, progress: bool, norm: str = "none") -> dict[str, Any]:
    """Score every real-data folder under ``root``; write ``<prefix>.{json,md}`` and figures; return the results."""
    import torch

    from ionmorph.evaluation import realdata as rd
    from ionmorph.errors import InputError
    from ionmorph.plotting import save_figure

    t0 = time.perf_counter()
    folders = rd.find_folders(root)
    if datasets:
        unknown = sorted(set(datasets) - {f.name for f in folders})
        if unknown:
            raise InputError(f"--datasets {', '.join(unknown)} not among the folders of {root}: "
                             f"{', '.join(f.name for f in folders) or 'none'}")
        folders = [f for f in folders if f.name in datasets]
    if not folders:
        raise InputError(f"{root}: no real-data folders (see the layout in benchmarks/realdata.py)")
    res: dict[str, Any] = {"benchmark": "realdata", "label": label, "prefix": prefix, "root": str(root),
                           "model": model, "model_arg": model, "revision": revision, "score": score, "norm": norm,
                           "k": list(ks),
                           "settings": {"random_seeds": n_random, "s3pl_epochs": s3pl_epochs,
                                        "s3pl_train_pixels": s3pl_train_pixels, "grid_max": grid_max,
                                        "backend": backend},
                           "datasets": {}, "reference": {}}
    for path in folders:
        folder = rd.load_folder(path)
        if progress:
            print(f"[realdata] {folder.name}: {folder.kind}, {folder.n_channels} channels, "
                  f"{folder.n_measured} measured px", file=sys.stderr)
        scored = rd.score_folder(folder, model=model, revision=revision, score=score, ks=ks, n_random=n_random,
                                 s3pl_epochs=s3pl_epochs, s3pl_train_pixels=s3pl_train_pixels, backend=backend,
                                 progress=progress, norm=norm)
        summary = scored.summary
        if scored.r is not None and folder.name in REFERENCE:
            extra = rd.mscf1_by_k({"random_readme_draw": readme_draw_scores(folder.n_channels)}, scored.r,
                                  scored.pick.mz, scored.classes, ks)
            summary["mscf1"]["methods"].update(extra["methods"])
        check = reference_check(folder.name, scored)
        if check is not None:
            res["reference"][folder.name] = check
        figures = {}
        index = None if folder.labels is not None else rd.sample_channels(folder.n_channels, grid_max)
        fig = rd.grid_figure(scored, index=index)
        figures["grid"] = save_figure(fig, out_dir / f"{prefix}_{folder.name}_grid.png", dpi=90,
                                       overwrite=True).name
        misses = rd.ranking_misses(scored)
        if len(misses):
            title = (f"{folder.name}: where the score disagrees with the segments. First the best-scored channels "
                     f"that follow no segment (best r < {rd.NO_SEGMENT_R}), then the worst-scored that clearly "
                     f"follow one (r >= {rd.SEGMENT_R}), by score")
            figures["misses"] = save_figure(rd.grid_figure(scored, index=misses, ncols=6, title=title),
                                            out_dir / f"{prefix}_{folder.name}_misses.png", dpi=90, overwrite=True).name
        if str(folder.segments_source).startswith("computed"):
            figures["segments"] = save_figure(rd.segments_figure(folder), out_dir / f"{prefix}_{folder.name}_segments.png",
                                              dpi=90, overwrite=True).name
        if summary.get("agreement"):
            figures["confusion"] = save_figure(rd.confusion_figures(scored),
                                               out_dir / f"{prefix}_{folder.name}_confusion.png",
                                               overwrite=True).name
        summary["figures"] = figures
        summary["grid_channels"] = "all" if index is None else [int(i) for i in index]
        res["datasets"][folder.name] = summary
        res["model"], res["scoring"] = summary["model"], summary["score"]
        res["weights_version"] = summary.get("weights_version")
    res["machine"] = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.machine(),
                      "threads": torch.get_num_threads()}
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    write_report(out_dir, prefix, res, to_markdown(res))
    return res


#: Short names of the two selections (:data:`ionmorph.evaluation.realdata.SELECTIONS`) in the report.
SELECTION_TITLES = {"mscf1": "protocol ranking", "mscf1_grouped": "pick_peaks(k) selection (ion groups)"}


def _mscf1_table(title: str, t: dict[str, Any], n_channels: int) -> list[str]:
    """Markdown lines of one mSCF1-by-k table (:func:`ionmorph.evaluation.realdata.mscf1_by_k`)."""
    from ionmorph.evaluation.realdata import METHODS

    ks = t["k"]
    grouped = "n_groups" in t
    lines = [f"### {title}", ""]
    if grouped:
        lines += [f"{n_channels} channels in {t['n_groups']} ion groups; channels picked per k: "
                  + " / ".join(str(v) for v in t["n_picked"]) + ".", ""]
    lines += ["| method | " + " | ".join(f"k={k}" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for m in list(METHODS) + [m for m in t["methods"] if m not in METHODS]:
        if m not in t["methods"]:
            continue
        v = t["methods"][m]
        label = {"random": f"random (mean of {v.get('n_seeds', 1)} seeds, +/- sd)",
                 "random_readme_draw": "random draw (README: default_rng(0).permutation)"}.get(m, m)
        cells = [f"{a:.3f} +/- {b:.3f}" for a, b in zip(v["mscf1"], v["std"])] if "std" in v else \
            [_fmt(a) for a in v["mscf1"]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if not grouped:
        lines.append("| *random (expected)* | " + " | ".join(_fmt(v) for v in t["random_expected"]) + " |")
    lines += [f"| *best reachable with k picks{' (ungrouped)' if grouped else ''}* | "
              + " | ".join(_fmt(v) for v in t["best"]) + " |", "",
              "True set size |T(t)| at t = 0.3 / 0.4 / 0.5 / 0.6: "
              + " / ".join(str(v) for v in t["true_size"][0]) + f" of {n_channels} channels.", ""]
    return lines


def _confusion_table(cm: list[list[int]]) -> list[str]:
    from ionmorph.labels import CLASSES

    lines = ["| label by eye \\ predicted | " + " | ".join(CLASSES) + " | n |", "|---|" + "---|" * (len(CLASSES) + 1)]
    for c, row in zip(CLASSES, cm):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} |")
    return lines


def to_markdown(res: dict[str, Any]) -> str:
    """The Markdown report of :func:`run`'s results."""
    from ionmorph.labels import CLASSES
    from ionmorph.picking.pick import DEFAULT_MODEL
    from ionmorph.evaluation.realdata import METHODS, SELECTIONS

    ds = res["datasets"]
    lines = [f"# Real-data benchmark ({res['prefix']})", "",
             f"Model: {res['model']}" + (f", revision {res['revision']}" if res["revision"] else "")
             + f"; weights version {res.get('weights_version') or '?'}; score `{res.get('scoring') or '?'}`; "
             f"normalisation `{res.get('norm') or 'none'}`. "
             f"Root: `{res['root']}`. Every channel of each section is a candidate (`pick_peaks`, the code path "
             "users get).", "",
             "## Datasets", "", "| dataset | data | raster (H x W) | channels | measured px | labels by eye "
             "(clear) | segments (px) | segments from |", "|---|---|---|---|---|---|---|---|"]
    for name, s in ds.items():
        lab = f"{s['labels']['n']} ({s['labels']['n_clear']})" if "labels" in s else "-"
        seg = ", ".join(f"{k}: {v}" for k, v in s["segments"].items()) if "segments" in s else "-"
        src = s.get("segments_source") or "-"
        src = "computed (recipe below)" if src.startswith("computed") else src
        lines.append(f"| {name} | {s['kind']}: `{s['data']}` | {s['shape'][0]} x {s['shape'][1]} | "
                     f"{s['n_channels']} | {s['n_measured']:,} | {lab} | {seg} | {src} |")
    computed = sorted({s["segments_source"] for s in ds.values() if str(s.get("segments_source")).startswith("comp")})
    lines += [""] + [f"Segments {c}." for c in computed] + ([""] if computed else [])
    agreed = {n: s for n, s in ds.items() if s.get("agreement")}
    if agreed:
        lines += ["## Classifier vs labels by eye", "", "Balanced accuracy: mean recall over the classes present "
                  "among the labels by eye.", "",
                  "| dataset | images | n | accuracy | balanced accuracy | macro F1 |", "|---|---|---|---|---|---|"]
        for name, s in agreed.items():
            for subset in ("all", "clear"):
                m = s["agreement"].get(subset)
                if m:
                    lines.append(f"| {name} | {subset} | {m['n']} | {_fmt(m['accuracy'])} | "
                                 f"{_fmt(m['balanced_accuracy'])} | {_fmt(m['macro_f1'])} |")
        lines.append("")
        for name, s in agreed.items():
            for subset in ("all", "clear"):
                m = s["agreement"].get(subset)
                if m:
                    lines += [f"### Confusion, {name}, {subset} images (counts)", ""] + _confusion_table(m["confusion"])
                    lines += ["", "Recall per label by eye: " + ", ".join(
                        f"{c} {m['per_class'][c]['recall']:.2f}" for c in CLASSES if m["per_class"][c]["support"])
                        + ".", ""]
    scored = {n: s for n, s in ds.items() if s.get("mscf1")}
    if scored:
        lines += ["## mSCF1 by budget k", "",
                  "Segments as the mask (measured pixels with a segment > 0; classes 1..C), every channel a "
                  "candidate, thresholds 0.3/0.4/0.5/0.6. Two selections per section:", ""]
        lines += [f"- {text}." for text in SELECTIONS.values()] + [""]
        for name, s in scored.items():
            for key in SELECTIONS:
                if s.get(key):
                    lines += _mscf1_table(f"{name}, {SELECTION_TITLES[key]}", s[key], s["n_channels"])
    if res["reference"]:
        lines += ["## Reference check (../shared/realdata/README.md)", "",
                  "| dataset | row | reference | this run | tolerance | ok |", "|---|---|---|---|---|---|"]
        for name, chk in res["reference"].items():
            for row, v in chk["rows"].items():
                lines.append(f"| {name} | {row} | " + " / ".join(f"{x:.3f}" for x in v["reference"]) + " | "
                             + " / ".join(_fmt(x) for x in v["ours"]) + f" | {v['tolerance']} | "
                             + ("yes" if v["ok"] else "**NO**") + " |")
        lines += ["", "The README's random row is a single draw; the mean over draws is the `random` row above "
                  "and its exact expectation `random (expected)`.", ""]
    lines += ["## Top of IonMorphNet's ranking", "", "Channels by score (`pick_peaks` order before grouping); "
              "name and label by eye where the folder has them.", "",
              "| dataset | rank | m/z | name | score | predicted | label by eye |", "|---|---|---|---|---|---|---|"]
    for name, s in ds.items():
        for row in s.get("ranking", [])[:5]:
            eye = row.get("eye", "-") + (f" ({row['confidence']})" if row.get("confidence") else "")
            lines.append(f"| {name} | {row['rank']} | {row['mz']:.4f} | {row.get('name', '-')} | {row['score']:.3f} | "
                         f"{row['predicted']} | {eye} |")
    lines += ["", "## Predicted class shares", "", "Counts (and share) of the predicted class over every channel; "
              "`eye` rows: the labels by eye.", "", "| dataset | n | " + " | ".join(CLASSES) + " |",
              "|---|---|" + "---|" * len(CLASSES)]
    for name, s in ds.items():
        p = s["predicted"]
        n = sum(p["counts"].values())
        lines.append(f"| {name} | {n} | " + " | ".join(f"{p['counts'][c]} ({100 * p['fractions'][c]:.0f} %)"
                                                       for c in CLASSES) + " |")
        if "labels" in s:
            e = s["labels"]["shares"]
            ne = sum(e.values())
            lines.append(f"| {name} (eye) | {ne} | " + " | ".join(f"{e[c]} ({100 * e[c] / max(ne, 1):.0f} %)"
                                                               for c in CLASSES) + " |")
    lines += ["", "## Figures", ""]
    for name, s in ds.items():
        lines.append(f"- {name}: " + ", ".join(f"`{f}`" for f in s["figures"].values()))
    lines += ["", "## Time (s)", "", "| dataset | " + " | ".join(["ionmorphnet (incl. model load)", "correlation"]
                                                               + list(METHODS[1:])) + " |",
              "|---|" + "---|" * (len(METHODS) + 1)]
    for name, s in ds.items():
        sec = s["seconds"]
        lines.append(f"| {name} | " + " | ".join(_fmt(sec.get(m), 1) for m in ["ionmorphnet", "correlation"]
                                                 + list(METHODS[1:])) + " |")
    st = res["settings"]
    cmd = "python benchmarks/realdata.py" + (" --quick" if res["label"] == "quick" else "") + \
        (f" --model {res['model_arg']}" if res.get("model_arg") not in (None, DEFAULT_MODEL) else "") + \
        (f" --revision {res['revision']}" if res["revision"] else "") + \
        (f" --score {res['score']}" if res["score"] else "") + \
        (f" --norm {res['norm']}" if res.get("norm", "none") != "none" else "") + \
        (f" --out-prefix {res['prefix']}" if res["prefix"] not in ("realdata", "realdata_quick") else "")
    lines += ["", f"Settings: random {st['random_seeds']} seeds, S3PL {st['s3pl_epochs']} epochs / "
              f"{st['s3pl_train_pixels']} training pixels, backend {st['backend']}. Total wall time "
              f"{res['wall_s']:.0f} s. Machine: Python {res['machine']['python']}, torch {res['machine']['torch']}, "
              f"{res['machine']['cpu']}, {res['machine']['threads']} threads. Reproduce with `{cmd}`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ionmorph.errors import InputError
    from ionmorph.io.normalisation import NORMS
    from ionmorph.picking.pick import DEFAULT_MODEL, DEFAULT_SCORE, SCORES
    from ionmorph.evaluation.realdata import DEFAULT_KS, DEFAULT_RANDOM_SEEDS, pick_supports_score

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 random seeds, S3PL 1 epoch, 24 channels in unlabelled "
                                                        "grids; default prefix realdata_quick")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder of real-data folders (or one of them)")
    p.add_argument("--datasets", help="only these folders (comma-separated names)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="PATH_OR_NAME",
                   help="IonMorphNet weights: a registered name, a weights folder or a Hub id (default %(default)s)")
    p.add_argument("--revision", help="weights revision tag (default: the registry's default)")
    p.add_argument("--score", metavar="NAME", help="pick_peaks(score=NAME), any of ionmorph.picking.pick.SCORES "
                                                   f"({', '.join(SCORES)}); default pick_peaks' own ({DEFAULT_SCORE})")
    p.add_argument("--norm", default="none", choices=NORMS,
                   help="pick_peaks(norm=NAME): per-pixel TIC or RMS normalisation of the ion images the model and "
                        "the baselines see (ionmorph.io.normalisation); the segments' correlations stay those of "
                        "the raw channels; default none")
    p.add_argument("--backend", default="auto", help="inference backend (ionmorph.models.inference)")
    p.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS), help="mSCF1 budgets")
    p.add_argument("--random-seeds", type=int, help=f"seeds of the random baseline (default {DEFAULT_RANDOM_SEEDS}; "
                                                    "quick 5)")
    p.add_argument("--s3pl-epochs", type=int, help="S3PL epochs (default 10, its own default; quick 1)")
    p.add_argument("--s3pl-train-pixels", type=int, default=512, help="S3PL training pixels (its default 512)")
    p.add_argument("--grid-max", type=int, help="channels shown for unlabelled folders (default 48; quick 24)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--out-prefix", help="results name (default realdata; quick realdata_quick)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.score is not None and not pick_supports_score():
        raise InputError("--score: this ionmorph's pick_peaks has no score argument")
    if a.score is not None and a.score not in SCORES:
        raise InputError(f"--score {a.score!r} is not one of ionmorph.picking.pick.SCORES: {', '.join(SCORES)}")
    quick = a.quick
    prefix = a.out_prefix or ("realdata_quick" if quick else "realdata")
    if not prefix or "/" in prefix or os.sep in prefix:
        raise InputError(f"--out-prefix must be a plain file name prefix, got {prefix!r}")
    datasets = [d.strip() for d in a.datasets.split(",") if d.strip()] if a.datasets else None
    res = run(a.root, a.model, a.revision, a.score, a.k, a.random_seeds or (5 if quick else DEFAULT_RANDOM_SEEDS),
              a.s3pl_epochs or (1 if quick else 10), a.s3pl_train_pixels, a.grid_max or (24 if quick else 48),
              a.out, prefix, datasets, a.backend, "quick" if quick else "full", not a.no_progress, norm=a.norm)
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.exit(main())

"""Benchmark: the int8 variant of IonMorphNet's ONNX graph against its fp32 graph, judged by the picks (issues 10, 25).

The fp32 graph is the checked graph of the default weights in the graph cache
(:func:`ionmorph.models.onnx_model.load_onnx`); it stores its weights as fp16 plus a Cast to fp32
(onnxruntime folds the Casts at load, so it computes in fp32). In a temporary folder this script

1. writes the plain fp32 graph (:func:`ionmorph.models.onnx_int8.plain_fp32`: the same values, so
   the same graph as run) and
   - ``dynamic``: :func:`ionmorph.models.onnx_int8.quantise_dynamic`, the graph backend
     ``"onnx-int8"`` runs (``quantize_dynamic`` of MatMul / Gemm, ConvNeXt's pointwise MLP layers
     and the head, int8 per-channel weights, activations quantised per batch); the script checks
     that it is byte-identical to the one the backend caches;
   - ``static`` (benchmark only): ``quantize_static``, QDQ format, Conv / MatMul / Gemm, int8
     per-channel weights, activation ranges calibrated (MinMax) on preprocessed ion images of
     simulated sections whose seeds are not among the evaluation sections;
2. measures in one process on ``--threads`` threads the throughput (images/s, batch ``--batch``,
   interleaved repeats, median per batch) of the fp32 graph and each int8 graph, and on the
   preprocessed ion images of further simulated sections the largest and mean
   |p_int8 - p_fp32|, the argmax agreement and the Spearman correlation of the informative score;
   the same on the real barley channels (``--barley``);
3. judges what users get (``--root``, the real-data folders of ``benchmarks/realdata.py``, judging
   only): :func:`ionmorph.evaluation.realdata.score_folder` (the judge's code path: ``pick_peaks``
   on every channel, default score and weights, no baselines) once with the CPU default backend
   (fp32) and once with ``"onnx-int8"``; per section, selection (the protocol ranking and the
   ``pick_peaks(k)`` selection through the ion groups) and budget ``--k``: the mSCF1 of both (sections
   with segments) and the top-k overlap ``|picks_int8 & picks_fp32| / k``.

Verdict (:func:`verdict`, issue 25's rule for the default score): the int8 graph may become the CPU
default only if it is faster and, on every real section, selection and k, the mSCF1 stays within
:data:`MSCF1_TOL` of fp32 and the top-k picks overlap at least :data:`MIN_OVERLAP`. Only the
dynamic graph is a backend, so only it is judged. The script changes no default; it reports.

Simulated images: ``simulate_section`` over the tissue families x instrument presets (fixed seeds),
written as imzML, read back with ``open_msi``, candidates from ``candidate_mz``, ``ion_images`` at
the instrument's ppm, and the weights' ``preprocess`` (the path a user's file takes).

Usage: ``python benchmarks/int8_onnx.py [--quick] [--threads 2] [--root DIR] [--out benchmarks/results]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402  (shared benchmark helpers)

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "realdata"
DEFAULT_BARLEY = DEFAULT_ROOT / "barley" / "barley101_peaks.imzML"
#: The backend judged, and issue 25's rule for the default score: on every real section, selection
#: and k the mSCF1 within MSCF1_TOL of fp32 and at least MIN_OVERLAP of the top-k picks shared.
INT8_BACKEND = "onnx-int8"
MSCF1_TOL, MIN_OVERLAP = 0.01, 0.95
#: Short names of the two selections of ionmorph.evaluation.realdata.SELECTIONS.
SELECTION_NAMES = {"mscf1": "protocol ranking", "mscf1_grouped": "pick_peaks(k) selection"}
#: Seeds of the calibration sections and of the evaluation sections (disjoint).
CALIB_SEED, EVAL_SEED = 81000, 82000


# ----------------------------------------------------------------------------- graphs
class _Reader:
    """onnxruntime calibration reader over preprocessed images, ``batch`` at a time."""

    def __init__(self, images: np.ndarray, batch: int, input_name: str) -> None:
        self._chunks = iter([{input_name: np.ascontiguousarray(images[i:i + batch], dtype=np.float32)}
                             for i in range(0, len(images), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._chunks, None)


def build_variants(shipped: Path, work: Path, calib: np.ndarray) -> dict[str, dict[str, Any]]:
    """The fp32 graph and the int8 graphs in ``work``: name -> {path, seconds to build, MiB, notes}.

    ``int8_dynamic`` is made by the package's quantiser (:func:`ionmorph.models.onnx_int8.quantise_dynamic`,
    what backend "onnx-int8" runs); ``int8_static`` (benchmark only) quantises the same prepared graph.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from ionmorph.models.onnx_int8 import QUANTISATION, plain_fp32, prepare_fp32, quantise_dynamic
    from ionmorph.models.onnx_model import INPUT_NAME

    out: dict[str, dict[str, Any]] = {}
    t = time.perf_counter()
    fp32 = work / "fp32.onnx"
    n_conv = plain_fp32(shipped, fp32)
    out["fp32"] = {"path": fp32, "build_s": time.perf_counter() - t,
                   "note": f"the cached graph, {n_conv} fp16 initializers back to fp32 (same values)"}
    t = time.perf_counter()
    dyn = work / "int8_dynamic.onnx"
    quantise_dynamic(shipped, dyn)
    out["int8_dynamic"] = {"path": dyn, "build_s": time.perf_counter() - t,
                           "note": f"backend onnx-int8 (ionmorph.models.onnx_int8): {QUANTISATION}"}
    t = time.perf_counter()
    pre = work / "fp32_pre.onnx"
    prepare_fp32(shipped, pre)
    sta = work / "int8_static.onnx"
    quantize_static(str(pre), str(sta), _Reader(calib, 32, INPUT_NAME), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"], per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    out["int8_static"] = {"path": sta, "build_s": time.perf_counter() - t,
                          "note": f"quantize_static QDQ, Conv/MatMul/Gemm, int8 per-channel weights, uint8 "
                                  f"activations, MinMax calibrated on {len(calib)} simulated images (benchmark only, "
                                  "no backend)"}
    for v in out.values():
        v["mib"] = Path(v["path"]).stat().st_size / 2 ** 20
    return out


# ----------------------------------------------------------------------------- images
def simulated_images(n_sections: int, per_section: int, seed: int, config, work: Path,
                     progress: bool = False) -> tuple[np.ndarray, list[str]]:
    """Preprocessed ion images (n, 1, S, S) of simulated sections (module docstring) and their sections."""
    from ionmorph import candidate_mz, open_msi
    from ionmorph.models.preprocessing import preprocess
    from ionmorph.synth import FAMILIES, INSTRUMENT_PRESETS, simulate_section

    combos = [(f, i) for f in FAMILIES for i in INSTRUMENT_PRESETS]
    xs, names = [], []
    for s in range(n_sections):
        family, instrument = combos[s % len(combos)]
        sd = seed + s
        sec = simulate_section(sd, family=family, instrument=instrument)
        path = work / f"sim_{sd}.imzML"
        sec.write_imzml(path)
        data = open_msi(path)
        mz = candidate_mz(data)
        if len(mz) > per_section:
            mz = np.sort(np.random.default_rng(sd).choice(mz, per_section, replace=False))
        if len(mz):
            xs.append(preprocess(data.ion_images(mz, ppm=float(INSTRUMENT_PRESETS[instrument].ppm)), data.mask, config))
            names.append(f"{family}/{instrument}/seed {sd}: {len(mz)} images")
        for f in (path, path.with_suffix(".ibd")):
            f.unlink(missing_ok=True)
        if progress:
            print(names[-1] if len(mz) else f"{family}/{instrument}/seed {sd}: no candidates", flush=True)
    return np.concatenate(xs).astype(np.float32), names


def barley_images(path: Path, config) -> np.ndarray:
    """Every channel of the continuous barley imzML, preprocessed (n, 1, S, S)."""
    from ionmorph import open_msi
    from ionmorph.models.preprocessing import preprocess

    data = open_msi(path)
    return preprocess(data.channel_images(), data.mask, config).astype(np.float32)


# ----------------------------------------------------------------------------- measuring
def agreement(p_ref: np.ndarray, p: np.ndarray, informative_idx: Sequence[int]) -> dict[str, float]:
    """Largest / mean |p - p_ref|, argmax agreement and Spearman rho of the informative score."""
    from scipy.stats import spearmanr

    d = np.abs(p - p_ref)
    s_ref, s = p_ref[:, informative_idx].sum(1), p[:, informative_idx].sum(1)
    return {"n": int(len(p)), "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
            "argmax_agreement": float(np.mean(p.argmax(1) == p_ref.argmax(1))),
            "informative_spearman": float(spearmanr(s_ref, s).statistic),
            "informative_max_abs_diff": float(np.abs(s - s_ref).max())}


def throughput(sessions: dict[str, Any], images: np.ndarray, batch: int, repeats: int) -> dict[str, float]:
    """Images/s per session: interleaved repeats of one batch, median time (one warm-up run each)."""
    from ionmorph.models.onnx_model import INPUT_NAME

    x = np.ascontiguousarray(images[:batch], dtype=np.float32)
    if len(x) < batch:
        x = np.resize(x, (batch, *x.shape[1:]))
    for s in sessions.values():
        s.run(None, {INPUT_NAME: x})
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(repeats):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, {INPUT_NAME: x})
            times[k].append(time.perf_counter() - t)
    return {k: batch / float(np.median(v)) for k, v in times.items()}


def compare_picks(fp32: Any, int8: Any, ks: Sequence[int]) -> dict[str, Any]:
    """What users get from the two graphs on one section: top-k overlap and mSCF1 per selection and k.

    ``fp32`` and ``int8`` are :class:`ionmorph.evaluation.realdata.FolderScore` of the same folder (default
    score and weights). Per selection of :data:`ionmorph.evaluation.realdata.SELECTIONS` (the protocol
    ranking, top-k of every channel; the ``pick_peaks(k)`` selection through the ion groups) and budget k:
    the overlap ``|picks_int8 & picks_fp32| / |picks_fp32|`` (= / k unless there are fewer ion groups than
    k) and, on sections with segments, both mSCF1 values.
    """
    from scipy.stats import spearmanr

    from ionmorph.evaluation.realdata import top_k

    a, b = fp32.pick, int8.pick
    s32, s8 = np.asarray(a.score, np.float64), np.asarray(b.score, np.float64)
    if not np.array_equal(a.mz, b.mz):
        raise SystemExit(f"{fp32.folder.name}: the two backends scored different candidates")
    out: dict[str, Any] = {"n_channels": int(len(s32)), "max_abs_prob_diff": float(np.abs(b.proba - a.proba).max()),
                           "max_abs_score_diff": float(np.abs(s8 - s32).max()),
                           "score_spearman": float(spearmanr(s32, s8).statistic),
                           "pick_peaks_s": {"fp32": fp32.summary["seconds"]["ionmorphnet"],
                                            "int8": int8.summary["seconds"]["ionmorphnet"]},
                           "has_segments": fp32.summary.get("mscf1") is not None, "selections": {}}
    for key, grouped in (("mscf1", False), ("mscf1_grouped", True)):
        overlap = []
        for k in ks:
            p32 = set(top_k(s32, k, a.group if grouped else None).tolist())
            p8 = set(top_k(s8, k, b.group if grouped else None).tolist())
            overlap.append(len(p32 & p8) / max(len(p32), 1))
        sel: dict[str, Any] = {"k": [int(k) for k in ks], "overlap": overlap}
        if fp32.summary.get(key):
            sel["mscf1_fp32"] = fp32.summary[key]["methods"]["ionmorphnet"]["mscf1"]
            sel["mscf1_int8"] = int8.summary[key]["methods"]["ionmorphnet"]["mscf1"]
            sel["mscf1_diff"] = [q - r for q, r in zip(sel["mscf1_int8"], sel["mscf1_fp32"])]
        out["selections"][key] = sel
    return out


def picks_arm(root: Path, ks: Sequence[int], fp32_backend: str, progress: bool) -> dict[str, Any]:
    """:func:`compare_picks` on every real-data folder under ``root`` (the judge's folders and code path:
    :func:`ionmorph.evaluation.realdata.score_folder`, default score and weights, no baselines)."""
    from ionmorph.evaluation import realdata as rd

    out: dict[str, Any] = {"root": str(root), "backends": {"fp32": fp32_backend, "int8": INT8_BACKEND},
                           "k": [int(k) for k in ks], "sections": {}}
    for path in rd.find_folders(root):
        folder = rd.load_folder(path)
        scored = {name: rd.score_folder(folder, backend=backend, ks=ks, baselines=False, progress=progress)
                  for name, backend in (("fp32", fp32_backend), ("int8", INT8_BACKEND))}
        out["score"], out["model"] = scored["fp32"].summary["score"], scored["fp32"].summary["model"]
        out["sections"][folder.name] = compare_picks(scored["fp32"], scored["int8"], ks)
        if progress:
            print(f"[picks] {folder.name}: done", file=sys.stderr, flush=True)
    return out


def picks_failures(picks: dict[str, Any], mscf1_tol: float = MSCF1_TOL, min_overlap: float = MIN_OVERLAP) -> list[str]:
    """Where the int8 picks break the rule: every section, selection and k must keep the top-k overlap
    at least ``min_overlap`` and (sections with segments) the mSCF1 within ``mscf1_tol`` of fp32."""
    bad = []
    for name, sec in picks["sections"].items():
        for key, sel in sec["selections"].items():
            for j, k in enumerate(sel["k"]):
                where = f"{name} {SELECTION_NAMES[key]} k={k}"
                if sel["overlap"][j] < min_overlap:
                    bad.append(f"{where}: overlap {sel['overlap'][j]:.2f}")
                if "mscf1_diff" in sel and not abs(sel["mscf1_diff"][j]) <= mscf1_tol:
                    bad.append(f"{where}: mSCF1 {sel['mscf1_fp32'][j]:.3f} -> {sel['mscf1_int8'][j]:.3f}")
    return bad


def verdict(speed_ratio: float, picks: dict[str, Any] | None) -> tuple[bool, str]:
    """(adopt, reason) for one int8 variant by issue 25's rule for the default score.

    Adopt only if the variant is faster (``speed_ratio`` = int8 / fp32 images/s above 1) and its picks
    on the real sections (``picks``, :func:`picks_arm`; None = not judged) pass :func:`picks_failures`:
    on every section and every k the mSCF1 within :data:`MSCF1_TOL` of fp32 and a top-k overlap of at
    least :data:`MIN_OVERLAP`, in both selections.
    """
    if not speed_ratio > 1.0:
        return False, f"not faster than fp32 ({speed_ratio:.2f}x)"
    if picks is None or not picks.get("sections"):
        return False, f"{speed_ratio:.2f}x faster, but its picks were not judged on real sections"
    bad = picks_failures(picks)
    n = sum(len(sel["k"]) for sec in picks["sections"].values() for sel in sec["selections"].values())
    if bad:
        return False, (f"{speed_ratio:.2f}x faster, but {len(bad)} of {n} section/selection/k cells break the rule: "
                       + "; ".join(bad[:4]) + ("; ..." if len(bad) > 4 else ""))
    return True, (f"{speed_ratio:.2f}x faster; on all {n} section/selection/k cells the top-k overlap >= "
                  f"{MIN_OVERLAP:.0%} and the mSCF1 within {MSCF1_TOL:g} of fp32")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; the results dict."""
    from ionmorph.models.hub import sha256_file
    from ionmorph.models.inference import CPU_AUTO_BACKEND, PROB_TOLERANCE
    from ionmorph.models.onnx_int8 import int8_graph
    from ionmorph.models.onnx_model import load_onnx, open_session, session_proba
    from ionmorph.picking.pick import DEFAULT_MODEL

    net = load_onnx(DEFAULT_MODEL, threads=args.threads)
    if net is None:
        raise SystemExit(f"{DEFAULT_MODEL}: no ONNX graph to quantise")
    shipped = net.graph                      # the checked graph of the weights (exported once into the cache)
    backend_int8 = int8_graph(shipped)       # what backend onnx-int8 runs (made once into the cache)
    info_idx = [net.classes.index(c) for c in net.informative]
    res: dict[str, Any] = {"weights": f"{DEFAULT_MODEL} {net.version} ({net.architecture}, {net.input_size} px)",
                           "shipped_graph": str(shipped), "tolerance": PROB_TOLERANCE,
                           "cpu_default_backend": CPU_AUTO_BACKEND, "threads": args.threads, "batch": args.batch,
                           "rule": {"mscf1_tol": MSCF1_TOL, "min_overlap": MIN_OVERLAP},
                           "cpu_free": Path("/work/runs/CPU_FREE").exists(),
                           "machine": {"platform": platform.platform(), "processor": platform.processor(),
                                       "cpus": os.cpu_count(), "python": platform.python_version()}}
    import onnxruntime

    res["machine"]["onnxruntime"] = onnxruntime.__version__
    with tempfile.TemporaryDirectory(prefix="ionmorph_int8_") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        calib, calib_names = simulated_images(args.calib_sections, args.per_section, CALIB_SEED,
                                              net.preprocess_config, work, args.progress)
        evals, eval_names = simulated_images(args.eval_sections, args.per_section, EVAL_SEED,
                                             net.preprocess_config, work, args.progress)
        res["simulated"] = {"calibration": calib_names, "evaluation": eval_names, "n_calibration": len(calib),
                            "n_evaluation": len(evals), "seconds": time.perf_counter() - t}
        variants = build_variants(shipped, work, calib)
        sessions = {k: open_session(v["path"], args.threads) for k, v in variants.items()}
        ref_shipped = session_proba(open_session(shipped, args.threads), evals, args.batch)
        p_sim = {k: session_proba(s, evals, args.batch) for k, s in sessions.items()}
        res["fp32_vs_shipped_max_abs_diff"] = float(np.abs(p_sim["fp32"] - ref_shipped).max())
        res["int8_dynamic_is_backend_graph"] = sha256_file(variants["int8_dynamic"]["path"]) == sha256_file(backend_int8)
        p_b1 = session_proba(sessions["int8_dynamic"], evals, 1)
        res["int8_dynamic_batch1_vs_batch_max_abs_diff"] = float(np.abs(p_b1 - p_sim["int8_dynamic"]).max())
        speed = throughput(sessions, evals, args.batch, args.repeats)
        barley = None
        if args.barley and Path(args.barley).exists():
            xb = barley_images(Path(args.barley), net.preprocess_config)
            barley = {k: session_proba(s, xb, args.batch) for k, s in sessions.items()}
            res["barley"] = {"file": Path(args.barley).name, "n_channels": len(xb)}
        picks = None
        if args.root and Path(args.root).is_dir():
            picks = picks_arm(Path(args.root), args.k, CPU_AUTO_BACKEND, args.progress)
            res["picks"] = picks
        res["variants"] = {}
        for k, v in variants.items():
            rec = {"note": v["note"], "file_mib": v["mib"], "build_s": v["build_s"], "images_per_s": speed[k],
                   "speed_ratio": speed[k] / speed["fp32"]}
            if k != "fp32":
                rec["simulated"] = agreement(p_sim["fp32"], p_sim[k], info_idx)
                if barley is not None:
                    rec["barley"] = agreement(barley["fp32"], barley[k], info_idx)
                rec["within_prob_tolerance"] = max(rec["simulated"]["max_abs_diff"],
                                                   rec.get("barley", {}).get("max_abs_diff", 0.0)) <= PROB_TOLERANCE
                judged = picks if k == "int8_dynamic" else None      # only the dynamic graph is a backend
                rec["adopt"], rec["reason"] = verdict(rec["speed_ratio"], judged)
            res["variants"][k] = rec
    adopted = [k for k, v in res["variants"].items() if v.get("adopt")]
    res["verdict"] = {"adopt": bool(adopted), "variant": adopted[0] if adopted else None,
                      "summary": (f"{adopted[0]} (backend {INT8_BACKEND}) passes the rule and may become the CPU "
                                  "default (the lead decides; no default changed)"
                                  if adopted else "do not adopt: the fp32 ONNX graph stays the CPU default")}
    return res


# ----------------------------------------------------------------------------- report
def _picks_markdown(picks: dict[str, Any]) -> list[str]:
    """Markdown lines of the picks arm: per section, selection and k the mSCF1 of both graphs and the overlap."""
    lines = ["## What users get: picks on the real sections", "",
             f"`ionmorph.evaluation.realdata.score_folder` (the judge's code path, `pick_peaks` on every channel) with "
             f"backend `{picks['backends']['fp32']}` (fp32, the CPU default) and `{picks['backends']['int8']}`; score "
             f"`{picks.get('score')}`, model {picks.get('model')}. Overlap = |picks_int8 & picks_fp32| / k. Rule: "
             f"overlap >= {MIN_OVERLAP:.0%} and |mSCF1 int8 - fp32| <= {MSCF1_TOL:g} in every cell.", "",
             "| section | selection | k | mSCF1 fp32 | mSCF1 int8 | difference | overlap | rule |",
             "|---|---|---|---|---|---|---|---|"]
    for name, sec in picks["sections"].items():
        for key, sel in sec["selections"].items():
            for j, k in enumerate(sel["k"]):
                has = "mscf1_diff" in sel
                ok = sel["overlap"][j] >= MIN_OVERLAP and (not has or abs(sel["mscf1_diff"][j]) <= MSCF1_TOL)
                cells = [f"{sel['mscf1_fp32'][j]:.3f}", f"{sel['mscf1_int8'][j]:.3f}", f"{sel['mscf1_diff'][j]:+.3f}"] \
                    if has else ["-", "-", "- (no segments)"]
                lines.append(f"| {name} | {SELECTION_NAMES[key]} | {k} | " + " | ".join(cells)
                             + f" | {sel['overlap'][j]:.2f} | {'ok' if ok else '**fails**'} |")
    lines += ["", "| section | channels | max abs prob diff | max abs score diff | score Spearman | "
              "pick_peaks s fp32 | pick_peaks s int8 |", "|---|---|---|---|---|---|---|"]
    for name, sec in picks["sections"].items():
        lines.append(f"| {name} | {sec['n_channels']} | {sec['max_abs_prob_diff']:.1e} | {sec['max_abs_score_diff']:.1e} "
                     f"| {sec['score_spearman']:.4f} | {sec['pick_peaks_s']['fp32']:.1f} | {sec['pick_peaks_s']['int8']:.1f} |")
    return lines + ["", "pick_peaks seconds: one call each, reading and ion images included (small sections: "
                        "inference is a minor part).", ""]


def to_markdown(res: dict[str, Any]) -> str:
    """The results as a markdown page."""
    v = res["variants"]
    lines = ["# int8 ONNX variant of IonMorphNet, judged by the picks (issue 10 §1, issue 25)", "",
             f"Weights: {res['weights']}; fp32 graph: the checked graph of the weights in the graph cache (fp16-stored "
             f"weights, fp32 compute). onnxruntime {res['machine']['onnxruntime']}, {res['threads']} threads, batch "
             f"{res['batch']}, {res['machine']['processor'] or res['machine']['platform']}.", ""]
    if not res["cpu_free"]:
        lines += ["**Speed numbers were taken on a shared machine** (other jobs were using the cores; "
                  "all graphs were timed interleaved in one process, so the ratios are fairer than the "
                  "absolute images/s).", ""]
    lines += [f"**Verdict: {res['verdict']['summary']}.**", "",
              f"Rule (issue 25, for the default score): a faster graph may become the CPU default only if, on every "
              f"real section and every k, the mSCF1 stays within {MSCF1_TOL:g} of fp32 and the top-k picks overlap at "
              f"least {MIN_OVERLAP:.0%} (both selections the real-data judge reports). Only `int8_dynamic` is a "
              f"backend (`{INT8_BACKEND}`), so only it is judged by its picks. The probability tolerance "
              f"{res['tolerance']:g} of the fp32 export check is shown for reference (issue 10's rule).", "",
              "| graph | MiB | images/s | vs fp32 | probabilities within " + f"{res['tolerance']:g} | verdict |",
              "|---|---|---|---|---|---|"]
    for k, r in v.items():
        within = "-" if k == "fp32" else ("yes" if r["within_prob_tolerance"] else "no")
        lines.append(f"| {k} | {r['file_mib']:.1f} | {r['images_per_s']:.0f} | {r['speed_ratio']:.2f}x | {within} | "
                     f"{'reference' if k == 'fp32' else ('adopt' if r['adopt'] else 'do not adopt') + ': ' + r['reason']} |")
    lines += [""]
    if res.get("picks"):
        lines += _picks_markdown(res["picks"])
    lines += ["## Probabilities", "", "Agreement with fp32 (probabilities of all classes; informative score = sum "
              "of structured, localized, negative):", "",
              "| graph | images | max abs diff | mean abs diff | argmax agreement | informative Spearman | "
              "informative max abs diff |", "|---|---|---|---|---|---|---|"]
    for k, r in v.items():
        for where in ("simulated", "barley"):
            if where in r:
                a = r[where]
                lines.append(f"| {k} | {where} ({a['n']}) | {a['max_abs_diff']:.2e} | {a['mean_abs_diff']:.2e} | "
                             f"{a['argmax_agreement']:.3f} | {a['informative_spearman']:.4f} | "
                             f"{a['informative_max_abs_diff']:.2e} |")
    lines += ["", f"int8_dynamic activations are quantised per batch: the same simulated images run one at a time "
              f"differ from batch {res['batch']} by up to {res['int8_dynamic_batch1_vs_batch_max_abs_diff']:.1e} "
              "(fp32 gives the same probabilities at any batch size)."]
    sim = res["simulated"]
    lines += ["", "## Method", "",
              f"- fp32: the cached graph with its fp16 initializers turned back into fp32 (same values; "
              f"max |p - p_cached| {res['fp32_vs_shipped_max_abs_diff']:.1e} on the simulated images)."]
    lines += [f"- {k}: {r['note']}." for k, r in v.items() if k != "fp32"]
    lines += [f"- int8_dynamic is byte-identical to the graph backend `{INT8_BACKEND}` caches: "
              f"{'yes' if res['int8_dynamic_is_backend_graph'] else 'no'}.",
              f"- Simulated images: {sim['n_calibration']} for calibration from {len(sim['calibration'])} sections "
              f"(seeds from {CALIB_SEED}), {sim['n_evaluation']} for evaluation from {len(sim['evaluation'])} other "
              f"sections (seeds from {EVAL_SEED}): `simulate_section` over families x instruments -> imzML -> "
              "`open_msi` -> `candidate_mz` -> `ion_images` -> `preprocess`.",
              f"- Real data (judging only, never calibration): {res.get('barley', {}).get('file', 'not available')}, "
              f"{res.get('barley', {}).get('n_channels', 0)} channels, `open_msi` -> `channel_images` -> `preprocess`; "
              f"the picks arm on every real-data folder under `{res.get('picks', {}).get('root', '-')}`.",
              "- Throughput: one batch of simulated inputs, every graph in one process, interleaved repeats, median.",
              "", "Reproduce: `python benchmarks/int8_onnx.py --threads 2`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ionmorph.evaluation.realdata import DEFAULT_KS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--calib-sections", type=int, default=8)
    p.add_argument("--eval-sections", type=int, default=12)
    p.add_argument("--per-section", type=int, default=64, help="candidate images per simulated section")
    p.add_argument("--barley", default=str(DEFAULT_BARLEY), help="real continuous imzML to judge on ('' to skip)")
    p.add_argument("--root", default=str(DEFAULT_ROOT),
                   help="real-data folders whose picks are judged (benchmarks/realdata.py layout; '' to skip)")
    p.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS), help="pick budgets judged")
    p.add_argument("--quick", action="store_true", help="tiny run for development (no results written)")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    if args.quick:
        args.calib_sections, args.eval_sections, args.per_section, args.repeats = 1, 1, 16, 2
    res = run(args)
    print(json.dumps({k: {kk: vv for kk, vv in r.items() if kk != "note"} for k, r in res["variants"].items()},
                     indent=1))
    print(res["verdict"]["summary"])
    if not args.quick:
        write_report(Path(args.out), "int8_onnx", res, to_markdown(res), default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

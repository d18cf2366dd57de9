"""Benchmark: an int8 variant of the shipped IonMorphNet ONNX graph against its fp32 graph (issue 10 §1).

The shipped ``model.onnx`` stores its weights as fp16 plus a Cast to fp32 (onnxruntime folds the
Casts at load, so it computes in fp32). In a temporary folder this script

1. writes the plain fp32 graph (each fp16 initializer turned back into fp32 under the name its Cast
   produced, the Casts dropped; the same values, so the same graph as run) and from it
   - ``dynamic``: :func:`onnxruntime.quantization.quantize_dynamic` of MatMul / Gemm (ConvNeXt's
     pointwise MLP layers and the head), int8 per-channel weights, activations quantised per batch;
   - ``static``: :func:`onnxruntime.quantization.quantize_static`, QDQ format, Conv / MatMul / Gemm,
     int8 per-channel weights, activation ranges calibrated (MinMax) on preprocessed ion images of
     simulated sections whose seeds are not among the evaluation sections;
2. measures in one process on ``--threads`` threads the throughput (images/s, batch ``--batch``,
   interleaved repeats, median per batch) of the fp32 graph and each int8 graph, and on the
   preprocessed ion images of further simulated sections the largest and mean
   |p_int8 - p_fp32|, the argmax agreement and the Spearman correlation of the informative score
   (sum of the probabilities of the weights' informative classes);
3. reports the same agreement numbers on the real barley channels (``--barley``, judging only: every
   channel of the continuous imzML via ``open_msi`` -> ``channel_images`` -> ``preprocess``). Real
   data never enter the calibration.

Verdict (:func:`verdict`): a variant may become the CPU default only if its probabilities stay within
:data:`ionmorph.models.inference.PROB_TOLERANCE` of fp32 (the tolerance of the ONNX export check) on every
simulated and real image, or if the real-data and synthetic mSCF1 are unchanged within noise (not
measured here: that needs ``benchmarks/mscf1.py`` and ``benchmarks/realdata.py`` runs with the
variant), and only if it is faster. The script changes no default; it reports.

Simulated images: ``simulate_section`` over the tissue families x instrument presets (fixed seeds),
written as imzML, read back with ``open_msi``, candidates from ``candidate_mz``, ``ion_images`` at
the instrument's ppm, and the weights' ``preprocess`` (the path a user's file takes).

Usage: ``python benchmarks/int8_onnx.py [--quick] [--threads 2] [--out benchmarks/results]``.
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

DEFAULT_BARLEY = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "barley" / "barley101_peaks.imzML"
#: Seeds of the calibration sections and of the evaluation sections (disjoint).
CALIB_SEED, EVAL_SEED = 81000, 82000


# ----------------------------------------------------------------------------- graphs
def plain_fp32(src: str | os.PathLike, dst: str | os.PathLike) -> int:
    """Write the graph at ``src`` with its fp16-stored initializers (+ Cast) as plain fp32 initializers.

    Returns the number of initializers converted. The values are the same (fp16 -> fp32 is exact).
    """
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    keep, converted = [], 0
    for node in graph.node:
        if node.op_type == "Cast" and len(node.input) == 1 and node.input[0] in inits \
                and inits[node.input[0]].data_type == TensorProto.FLOAT16:
            half = inits.pop(node.input[0])
            inits[node.output[0]] = numpy_helper.from_array(numpy_helper.to_array(half).astype(np.float32),
                                                            name=node.output[0])
            converted += 1
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(inits.values())
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return converted


class _Reader:
    """onnxruntime calibration reader over preprocessed images, ``batch`` at a time."""

    def __init__(self, images: np.ndarray, batch: int, input_name: str) -> None:
        self._chunks = iter([{input_name: np.ascontiguousarray(images[i:i + batch], dtype=np.float32)}
                             for i in range(0, len(images), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._chunks, None)


def build_variants(shipped: Path, work: Path, calib: np.ndarray) -> dict[str, dict[str, Any]]:
    """The fp32 graph and the int8 graphs in ``work``: name -> {path, seconds to build, MiB, notes}."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ionmorph.models.onnx_model import INPUT_NAME

    out: dict[str, dict[str, Any]] = {}
    t = time.perf_counter()
    fp32 = work / "fp32.onnx"
    n_conv = plain_fp32(shipped, fp32)
    out["fp32"] = {"path": fp32, "build_s": time.perf_counter() - t,
                   "note": f"shipped graph, {n_conv} fp16 initializers back to fp32 (same values)"}
    t = time.perf_counter()
    pre = work / "fp32_pre.onnx"
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    pre_s = time.perf_counter() - t
    t = time.perf_counter()
    dyn = work / "int8_dynamic.onnx"
    quantize_dynamic(str(pre), str(dyn), op_types_to_quantize=["MatMul", "Gemm"], per_channel=True,
                     weight_type=QuantType.QInt8)
    out["int8_dynamic"] = {"path": dyn, "build_s": pre_s + time.perf_counter() - t,
                           "note": "quantize_dynamic, MatMul/Gemm, int8 per-channel weights, uint8 activations "
                                   "quantised per batch"}
    t = time.perf_counter()
    sta = work / "int8_static.onnx"
    quantize_static(str(pre), str(sta), _Reader(calib, 32, INPUT_NAME), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"], per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    out["int8_static"] = {"path": sta, "build_s": pre_s + time.perf_counter() - t,
                          "note": f"quantize_static QDQ, Conv/MatMul/Gemm, int8 per-channel weights, uint8 "
                                  f"activations, MinMax calibrated on {len(calib)} simulated images"}
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


def verdict(max_abs_diff: float, tolerance: float, speed_ratio: float,
            mscf1_unchanged: bool | None = None) -> tuple[bool, str]:
    """(adopt, reason) for one int8 variant by issue 10's rule.

    Adopt only if the variant is faster (``speed_ratio`` = int8 / fp32 images/s above 1) and either
    its largest probability difference from fp32 is within ``tolerance`` or the real-data and
    synthetic mSCF1 are unchanged within noise (``mscf1_unchanged``; None = not measured).
    """
    if not speed_ratio > 1.0:
        return False, f"not faster than fp32 ({speed_ratio:.2f}x)"
    if max_abs_diff <= tolerance:
        return True, f"{speed_ratio:.2f}x faster, probabilities within {tolerance:g} of fp32 ({max_abs_diff:.1e})"
    if mscf1_unchanged:
        return True, f"{speed_ratio:.2f}x faster, mSCF1 unchanged within noise (probabilities differ by " \
                     f"{max_abs_diff:.1e} > {tolerance:g})"
    why = "not measured" if mscf1_unchanged is None else "changed"
    return False, f"probabilities differ from fp32 by up to {max_abs_diff:.1e} (tolerance {tolerance:g}) and the " \
                  f"mSCF1 arm is {why}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; the results dict."""
    from ionmorph.models.inference import CPU_AUTO_BACKEND, PROB_TOLERANCE
    from ionmorph.models.onnx_model import load_onnx, open_session, session_proba
    from ionmorph.picking.pick import DEFAULT_MODEL

    net = load_onnx(DEFAULT_MODEL, threads=args.threads)
    if net is None:
        raise SystemExit(f"{DEFAULT_MODEL}: no ONNX graph to quantise")
    shipped = net.graph                      # the checked graph of the weights (exported once into the cache)
    info_idx = [net.classes.index(c) for c in net.informative]
    res: dict[str, Any] = {"weights": f"{DEFAULT_MODEL} {net.version} ({net.architecture}, {net.input_size} px)",
                           "shipped_graph": str(shipped), "tolerance": PROB_TOLERANCE,
                           "cpu_default_backend": CPU_AUTO_BACKEND, "threads": args.threads, "batch": args.batch,
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
        speed = throughput(sessions, evals, args.batch, args.repeats)
        barley = None
        if args.barley and Path(args.barley).exists():
            xb = barley_images(Path(args.barley), net.preprocess_config)
            barley = {k: session_proba(s, xb, args.batch) for k, s in sessions.items()}
            res["barley"] = {"file": Path(args.barley).name, "n_channels": len(xb)}
        res["variants"] = {}
        for k, v in variants.items():
            rec = {"note": v["note"], "file_mib": v["mib"], "build_s": v["build_s"], "images_per_s": speed[k],
                   "speed_ratio": speed[k] / speed["fp32"]}
            if k != "fp32":
                rec["simulated"] = agreement(p_sim["fp32"], p_sim[k], info_idx)
                if barley is not None:
                    rec["barley"] = agreement(barley["fp32"], barley[k], info_idx)
                worst = max(rec["simulated"]["max_abs_diff"], rec.get("barley", {}).get("max_abs_diff", 0.0))
                rec["adopt"], rec["reason"] = verdict(worst, PROB_TOLERANCE, rec["speed_ratio"])
            res["variants"][k] = rec
    adopted = [k for k, v in res["variants"].items() if v.get("adopt")]
    res["verdict"] = {"adopt": bool(adopted), "variant": adopted[0] if adopted else None,
                      "summary": (f"adopt {adopted[0]} as the CPU default (the lead decides; no default changed)"
                                  if adopted else "do not adopt: the fp32 ONNX graph stays the CPU default")}
    return res


# ----------------------------------------------------------------------------- report
def to_markdown(res: dict[str, Any]) -> str:
    """The results as a markdown page."""
    v = res["variants"]
    lines = ["# int8 ONNX variant of IonMorphNet (issue 10 §1)", "",
             f"Weights: {res['weights']}; shipped graph `model.onnx` (fp16-stored weights, fp32 compute). "
             f"onnxruntime {res['machine']['onnxruntime']}, {res['threads']} threads, batch {res['batch']}, "
             f"{res['machine']['processor'] or res['machine']['platform']}.", ""]
    if not res["cpu_free"]:
        lines += ["**Speed numbers were taken on a shared machine** (a training run was using the cores; "
                  "all graphs were timed interleaved in one process, so the ratios are fairer than the "
                  "absolute images/s).", ""]
    lines += [f"**Verdict: {res['verdict']['summary']}.**", "",
              f"Rule (issue 10): adopt only if the probabilities stay within {res['tolerance']:g} of fp32 "
              "(`ionmorph.models.inference.PROB_TOLERANCE`, the ONNX export check's tolerance) on every image, "
              "or if the real-data and synthetic mSCF1 are unchanged within noise (that arm was not run "
              "here), and only if faster.", "",
              "| graph | MiB | images/s | vs fp32 | verdict |", "|---|---|---|---|---|"]
    for k, r in v.items():
        lines.append(f"| {k} | {r['file_mib']:.1f} | {r['images_per_s']:.0f} | {r['speed_ratio']:.2f}x | "
                     f"{'reference' if k == 'fp32' else ('adopt' if r['adopt'] else 'do not adopt') + ': ' + r['reason']} |")
    lines += ["", "Agreement with fp32 (probabilities of all classes; informative score = sum of "
              "structured, localized, negative):", "",
              "| graph | images | max abs diff | mean abs diff | argmax agreement | informative Spearman | "
              "informative max abs diff |", "|---|---|---|---|---|---|---|"]
    for k, r in v.items():
        for where in ("simulated", "barley"):
            if where in r:
                a = r[where]
                lines.append(f"| {k} | {where} ({a['n']}) | {a['max_abs_diff']:.2e} | {a['mean_abs_diff']:.2e} | "
                             f"{a['argmax_agreement']:.3f} | {a['informative_spearman']:.4f} | "
                             f"{a['informative_max_abs_diff']:.2e} |")
    sim = res["simulated"]
    lines += ["", "## Method", "",
              f"- fp32: the shipped graph with its fp16 initializers turned back into fp32 (same values; "
              f"max |p - p_shipped| {res['fp32_vs_shipped_max_abs_diff']:.1e} on the simulated images)."]
    lines += [f"- {k}: {r['note']}." for k, r in v.items() if k != "fp32"]
    lines += [f"- Simulated images: {sim['n_calibration']} for calibration from {len(sim['calibration'])} sections "
              f"(seeds from {CALIB_SEED}), {sim['n_evaluation']} for evaluation from {len(sim['evaluation'])} other "
              f"sections (seeds from {EVAL_SEED}): `simulate_section` over families x instruments -> imzML -> "
              "`open_msi` -> `candidate_mz` -> `ion_images` -> `preprocess`.",
              f"- Real data (judging only, never calibration): {res.get('barley', {}).get('file', 'not available')}, "
              f"{res.get('barley', {}).get('n_channels', 0)} channels, `open_msi` -> `channel_images` -> `preprocess`.",
              "- Throughput: one batch of simulated inputs, every graph in one process, interleaved repeats, median.",
              "", "Reproduce: `python benchmarks/int8_onnx.py --threads 2`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--calib-sections", type=int, default=8)
    p.add_argument("--eval-sections", type=int, default=12)
    p.add_argument("--per-section", type=int, default=64, help="candidate images per simulated section")
    p.add_argument("--barley", default=str(DEFAULT_BARLEY), help="real continuous imzML to judge on ('' to skip)")
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

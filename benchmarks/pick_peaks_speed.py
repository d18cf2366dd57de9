"""Benchmark: end-to-end ``pick_peaks`` on a simulated section, and classifier throughput per backend.

1. End to end: a simulated 150 x 150 processed-mode section (written by ``write_section`` of
   ``benchmarks/ion_images.py``: :func:`ionmorph.synth.simulate_section` when available, else random
   centroid spectra) with 1,000 candidate m/z (its ion pool); ``pick_peaks(k=100)`` with the
   default backend, time split into reading (open + candidate check), ion images, preprocessing,
   model loading and inference. Mean-spectrum peak detection (the default candidate source) is
   timed separately.
2. Throughput: the IonMorphNet at the shipped input size (the published weights when the registry
   resolves them, else a randomly initialised ``convnextv2_tiny`` at 64 px), batch 32, ``--threads``
   CPU threads, every backend in one process (interleaved repeats, median per batch), as images/s,
   ratio to eager fp32 and the largest class-probability difference from eager fp32 on the
   section's own preprocessed ion images. The fastest backend within
   :data:`ionmorph.inference.PROB_TOLERANCE` is the one ``backend="auto"`` should use on CPU.

Usage: ``python benchmarks/pick_peaks_speed.py [--quick] [--threads 2] [--out benchmarks/results]``.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ion_images import write_section  # noqa: E402  (the shared benchmark section writer)


def load_model():
    """(model, description): the shipped weights when available, else a random convnextv2_tiny at 64 px."""
    from ionmorph.errors import WeightsError
    from ionmorph.model import IonMorphNet
    from ionmorph.pick import DEFAULT_MODEL

    try:
        m = IonMorphNet.from_pretrained(DEFAULT_MODEL)
        return m, f"{DEFAULT_MODEL} {m.weights_source.revision} ({m.architecture}, {m.input_size} px)"
    except WeightsError as exc:
        import torch

        torch.manual_seed(0)
        return IonMorphNet("convnextv2_tiny"), f"randomly initialised convnextv2_tiny, 64 px ({exc.__class__.__name__}: " \
                                              "shipped weights not available)"


def throughput(model, images: np.ndarray, backends: list[str], batch: int, n_batches: int, repeats: int) -> dict:
    """Per backend: setup + first batch time, median s/batch, images/s, ratio to eager, max prob diff."""
    from ionmorph.inference import Classifier

    x = images[:batch * n_batches]
    classifiers, setup = {}, {}
    for b in backends:
        t = time.perf_counter()
        classifiers[b] = Classifier(model, b, "cpu", batch_size=batch)
        classifiers[b].predict_proba(x[:batch])           # warm-up (compilation, export, session)
        setup[b] = time.perf_counter() - t
    ref = classifiers["eager"].predict_proba(x)
    times = {b: [] for b in backends}
    for _ in range(repeats):
        for b, c in classifiers.items():
            t = time.perf_counter()
            c.predict_proba(x)
            times[b].append((time.perf_counter() - t) / n_batches)
    eager = float(np.median(times["eager"]))
    out = {}
    for b, c in classifiers.items():
        per_batch = float(np.median(times[b]))
        out[b] = {"setup_s": round(setup[b], 2), "s_per_batch": round(per_batch, 4),
                  "images_per_s": round(batch / per_batch, 1), "speedup_vs_eager": round(eager / per_batch, 2),
                  "max_abs_prob_diff": float(np.abs(c.predict_proba(x) - ref).max())}
    return out


def run(side: int, n_candidates: int, backends: list[str], n_batches: int, repeats: int, threads: int,
        out_dir: Path, label: str) -> dict:
    import torch

    from ionmorph.candidates import candidate_mz
    from ionmorph.fileio import atomic_write_text
    from ionmorph.inference import CPU_AUTO_BACKEND, PROB_TOLERANCE, clear_cache, get_classifier
    from ionmorph.msi import open_msi
    from ionmorph.pick import pick_peaks

    torch.set_num_threads(threads)
    model, model_desc = load_model()
    with tempfile.TemporaryDirectory(prefix="ionmorph-bench-") as tmp:
        t0 = time.perf_counter()
        path, pool, source = write_section(Path(tmp) / "section.imzML", side, n_candidates)
        t_write = time.perf_counter() - t0
        cands = np.sort(pool)[:n_candidates]
        t0 = time.perf_counter()
        data = open_msi(path)
        detected = candidate_mz(data)
        t_detect = time.perf_counter() - t0
        clear_cache()
        res = pick_peaks(path, k=100, candidates=cands, model=model, batch_size=64, progress=False)
        e2e_backend = get_classifier(model, batch_size=64).backend
        images = model.prepare(data.ion_images(cands[:32 * n_batches]), data.mask)
    tp = throughput(model, images, backends, 32, n_batches, repeats)
    ok = [b for b in backends if tp[b]["max_abs_prob_diff"] <= PROB_TOLERANCE]
    fastest = max(ok, key=lambda b: tp[b]["images_per_s"])
    t = res.timings
    result = {
        "benchmark": "pick_peaks_speed", "label": label, "model": model_desc, "threads": threads,
        "section": {"raster": list(data.shape), "n_pixels": data.n_pixels, "source": source,
                    "write_s": round(t_write, 2),
                    "mean_peaks_per_spectrum": round(float(data.spectrum_lengths.mean()), 1)},
        "end_to_end": {"n_candidates": len(res), "k": 100, "backend": e2e_backend, "batch_size": 64,
                       **{f"{k}_s": round(v, 3) for k, v in t.items()},
                       "candidates_per_s": round(len(res) / t["total"], 1)},
        "candidate_detection": {"open_and_detect_s": round(t_detect, 3), "n_detected": int(len(detected))},
        "throughput": {"input_size": model.input_size, "batch": 32, "batches": n_batches, "repeats": repeats,
                       "backends": tp},
        "prob_tolerance": PROB_TOLERANCE, "fastest_within_tolerance": fastest,
        "auto_backend_cpu": CPU_AUTO_BACKEND, "auto_matches_measurement": fastest == CPU_AUTO_BACKEND,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.machine(),
                    "cuda": torch.cuda.is_available()},
    }
    suffix = "" if label == "full" else f"_{label}"
    atomic_write_text(out_dir / f"pick_peaks_speed{suffix}.json", json.dumps(result, indent=1) + "\n")
    atomic_write_text(out_dir / f"pick_peaks_speed{suffix}.md", to_markdown(result))
    return result


def to_markdown(r: dict) -> str:
    e, s, tp = r["end_to_end"], r["section"], r["throughput"]
    lines = [f"# pick_peaks speed ({r['label']})", "",
             f"Model: {r['model']}. CPU threads: {r['threads']}. Section: {s['raster'][0]} x {s['raster'][1]} px "
             f"processed centroid ({s['source']}; {s['mean_peaks_per_spectrum']} peaks per spectrum).", "",
             f"## End to end: `pick_peaks(k=100)` on {e['n_candidates']} candidates (backend {e['backend']}, "
             f"batch {e['batch_size']})", "",
             "| step | s |", "|---|---|"]
    for k in ("reading", "model", "ion_images", "preprocess", "inference", "total"):
        lines.append(f"| {k.replace('_', ' ')} | {e[f'{k}_s']:.2f} |")
    lines += ["", f"{e['candidates_per_s']} candidates/s overall. Mean-spectrum peak detection (the default "
              f"candidate source, not part of the run above): {r['candidate_detection']['open_and_detect_s']:.2f} s "
              f"including open_msi, {r['candidate_detection']['n_detected']} peaks.", "",
              f"## Classifier throughput at {tp['input_size']} px, batch {tp['batch']}", "",
              f"Median of {tp['repeats']} interleaved repeats of {tp['batches']} batches, one process; probability "
              "difference = max |p - p_eager_fp32| over the section's preprocessed ion images.", "",
              "| backend | images/s | vs eager | max prob diff | setup + first batch (s) |", "|---|---|---|---|---|"]
    for b, v in tp["backends"].items():
        lines.append(f"| {b} | {v['images_per_s']} | {v['speedup_vs_eager']}x | {v['max_abs_prob_diff']:.1e} | "
                     f"{v['setup_s']} |")
    verdict = "matches" if r["auto_matches_measurement"] else "does NOT match"
    lines += ["", f"Fastest within the tolerance {r['prob_tolerance']:g}: **{r['fastest_within_tolerance']}**; "
              f"the CPU default of `backend=\"auto\"` is `{r['auto_backend_cpu']}` ({verdict}).", "",
              f"Machine: Python {r['machine']['python']}, torch {r['machine']['torch']}, {r['machine']['cpu']}; "
              "run `python benchmarks/pick_peaks_speed.py` to reproduce.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small section, 200 candidates, no torch.compile")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    a = p.parse_args(argv)
    if a.quick:
        r = run(60, 200, ["eager", "bf16", "onnx"], 2, 2, a.threads, a.out, "quick")
    else:
        r = run(150, 1000, ["eager", "compile", "bf16", "onnx"], 4, 3, a.threads, a.out, "full")
    print(to_markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``tumor3d`` command: ``train``, ``predict`` and ``explain`` (built on ``ionmorph.cli.run``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ionmorph.cli import run
from ionmorph.errors import InputError
from ionmorph.picking.pick import DEFAULT_MODEL

from .cohort import TASKS, task_spec
from .train import SELECTIONS, TRAIN_SELECTIONS, TrainConfig

if TYPE_CHECKING:
    from .slide import DomainReport

DEFAULT_TUMOR_MODEL = "tumor3d-tumour-desi"
#: What ``tumor3d --help`` says first.
DESCRIPTION = ("Healthy / tumour classification of MSI slides with a small 3D CNN on ion images chosen by "
               "IonMorphNet: train a model on a cohort, predict a slide, explain which m/z drive the calls.")


def _cohort(args: argparse.Namespace):
    """The cohort of ``--cohort DIR`` or a simulated ``--task`` (built under ``--out``/cohort)."""
    from .cohort import build_cohort, load_cohort

    if args.cohort:
        return load_cohort(args.cohort)
    return build_cohort(args.task, Path(args.work) / "cohort", n_patients=args.n_patients,
                        seed=args.seed, progress=True)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a Tumor3DNet on every slide of a cohort; optionally report grouped-CV numbers first."""
    if args.task is not None:
        task_spec(args.task)                  # an unknown task is a one-line error before the heavy imports
    from ionmorph.fileio import check_output
    from ionmorph.models.hub import is_weights_folder

    from .model import Tumor3DNet
    from .slide import SlideRule
    from .train import (MethodSpec, cross_validate, ionmorphnet_provenance, model_card, prepare_task, summarise,
                        train_final)

    check_output(args.out, [args.cohort], force=args.force, folder=True,
                 owned=lambda p: is_weights_folder(p, Tumor3DNet.family))
    cohort = _cohort(args)
    base = args.selection if args.selection in SELECTIONS else "ionmorphnet"   # derived rules need its scores
    data = prepare_task(cohort, cache_dir=Path(args.work) / "cache", model=args.ionmorphnet,
                        selections=(base,), progress=True)
    cfg = TrainConfig(n_channels=args.channels, patch=args.patch, epochs=args.epochs, batch_size=args.batch_size,
                      seed=args.seed, widths=args.widths, pool_mz=args.pool_mz, patience=args.patience,
                      max_per_class=args.max_per_class)
    cv = None
    if args.folds:
        spec = MethodSpec(f"3d-cnn/{args.selection}", args.selection, "3d")
        cv = summarise(cross_validate(data, (spec,), k=args.folds, train=cfg, progress=True))
        print(json.dumps({k: v for k, v in cv.items() if not k.endswith("folds") and k != "roc"}))
    model = train_final(data, cfg, selection=args.selection, progress=True)
    if cv and "rule" in cv:                   # calibrated on the held-out patients of the CV
        model.config.slide_rule = cv["rule"]
        print(f"slide rule: {SlideRule.from_config(model.config).text()}")
    else:
        print("slide rule: default (1 % of the region), not calibrated: pass --folds K (K >= 2) to calibrate it "
              "on held-out patients", file=sys.stderr)
    scorer = ionmorphnet_provenance(args.ionmorphnet)
    name = f"{args.ionmorphnet} v{scorer['version']}" if scorer.get("version") else str(args.ionmorphnet)
    card = model_card(model, cohort.task, data, cv, cfg, selection=args.selection, ionmorphnet=name,
                      net_score=scorer["score"])
    out = model.save_pretrained(args.out, card=card, dtype="float32", overwrite=args.force)
    print(f"saved {out}")
    return 0


#: ``tumor3d simulate --seed S`` draws patients numbered from ``NEW_PATIENTS + S * n``: never those of
#: a training cohort (patients 0..n-1 of ``tumor3d train --task``).
NEW_PATIENTS = 1000


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate new patients of a task's disease (the one ``tumor3d train --task`` trains on)."""
    from ionmorph.fileio import check_output

    from .cohort import build_cohort

    task_spec(args.task)
    if args.patients < 1 or args.seed < 0:
        raise InputError(f"need --patients >= 1 and --seed >= 0, got {args.patients} and {args.seed}")
    check_output(args.out, force=args.force, folder=True, owned=lambda p: (Path(p) / "cohort.json").is_file())
    first = NEW_PATIENTS + args.seed * args.patients
    cohort = build_cohort(args.task, args.out, n_patients=args.patients, seed=args.disease_seed,
                          first_patient=first, progress=True)
    for slide in cohort.slides:
        meta = cohort.slide_meta[slide.name]
        print(f"{slide.imzml}\t{slide.patient}\t{meta['kind']}\t{meta['annotated_tumour_pixels']} tumour pixels")
    return 0


def warn_domain(path: object, report: DomainReport, what: str) -> None:
    """Print each warning of a domain check (:func:`tumor3d.slide.check_domain`) to stderr, one line each."""
    for warning in report.warnings:
        print(f"tumor3d: WARNING: {path}: {warning}; {what} may not be trustworthy", file=sys.stderr)


def cmd_predict(args: argparse.Namespace) -> int:
    """Tumour-probability map and slide call of one imzML file."""
    from ionmorph.fileio import check_output
    from ionmorph.plotting import is_ionmorph_figure, save_figure

    from .cohort import crop_to_raster
    from .model import Tumor3DNet
    from .slide import (is_probability_map, map_path, predict_slide, probability_figure, save_probability_map,
                        write_slide_report)

    if args.output:
        if Path(args.output).suffix.lower() == ".npy":
            raise InputError(f"{args.output}: give the figure's path (.png, .pdf, .svg); the probability map "
                             "is written beside it as .npy")
        check_output(args.output, [args.imzml, args.mask], force=args.force, owned=is_ionmorph_figure)
        check_output(map_path(args.output), [args.imzml, args.mask], force=args.force, owned=is_probability_map)
    if args.report:
        from ionmorph.io.html_report import is_html_report

        if Path(args.report).suffix.lower() not in (".html", ".htm"):
            raise InputError(f"{args.report}: the report is written as .html")
        check_output(args.report, [args.imzml, args.mask, args.output], force=args.force, owned=is_html_report)
    model = Tumor3DNet.from_pretrained(args.model)
    region = np.load(args.mask) > 0 if args.mask else None
    pred = predict_slide(model, args.imzml, region)
    warn_domain(args.imzml, pred.domain, "the call")
    rule = pred.rule
    if pred.call == "too close to call":
        print(f"tumor3d: {args.imzml}: too close to call: score {pred.score:.2%} lies between "
              f"{rule.threshold / rule.band:.2%} and the threshold {rule.threshold:.2%}; have the slide read",
              file=sys.stderr)
    report = {"file": str(args.imzml), "call": pred.call, "tumour": pred.tumour, "score": round(pred.score, 4),
              "threshold": round(rule.threshold, 4), "too_close_below": round(rule.threshold / rule.band, 4),
              "rule": rule.text(), "calibration": rule.calibration, **pred.domain.as_dict()}
    if args.output:
        annotation = crop_to_raster(np.load(args.mask), pred.prob.shape, pred.origin, args.mask) if args.mask else None
        fig = probability_figure(pred.prob, annotation, Path(args.imzml).stem, call=(pred.call, pred.score, rule))
        report["figure"] = str(save_figure(fig, args.output, inputs=[args.imzml, args.mask],
                                           overwrite=args.force))
        report["map"] = str(save_probability_map(pred.prob, map_path(args.output)))
    if args.report:
        report["report"] = str(write_slide_report(pred, model, args.imzml, args.report, model_name=str(args.model),
                                                  inputs=[args.mask], overwrite=args.force))
    print(json.dumps(report))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Rank a model's channels by tumour attribution on a cohort's tumour patches."""
    from ionmorph.fileio import check_output

    from .cohort import crop_to_raster, load_cohort
    from .explain import explain, is_attribution_table, precision_at_k
    from .model import Tumor3DNet
    from .patches import extract_patches, sample_centres
    from .slide import acquisition_info, check_domain, read_channels

    check_output(args.output, force=args.force, owned=is_attribution_table)
    cohort = load_cohort(args.cohort)
    model = Tumor3DNet.from_pretrained(args.model)
    cfg, patches = model.config, []
    for i, slide in enumerate(cohort.slides):
        cube, mask, origin, raw = read_channels(slide.imzml, np.asarray(cfg.mz), cfg.ppm, raw=True)
        warn_domain(slide.imzml, check_domain(model, raw, cube, mask, str(slide.imzml), acquisition_info(slide.imzml)),
                    "its attributions")
        ann = crop_to_raster(slide.annotation(), mask.shape, origin, slide.mask)
        centres, _ = sample_centres(ann * mask, args.stride, classes=(2,), balance=False,
                                    max_per_class=args.max_patches, seed=i)
        patches.append(extract_patches(cube, centres, cfg.patch))
    table = explain(model, np.concatenate(patches))
    table.to_csv(args.output, overwrite=args.force)
    for m, a in zip(table.mz[:args.k], table.attribution[:args.k]):
        print(f"{m:.4f}\t{a:+.4g}")
    if cohort.markers.size:
        print(f"precision@{args.k} vs true tumour-marking ions: "
              f"{precision_at_k(table.mz, cohort.markers, args.k, cohort.ppm):.3f}")
    return 0


def _widths(value: str) -> tuple[int, ...]:
    """``16,32,64`` -> (16, 32, 64)."""
    try:
        widths = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {value!r}")
    return widths


def _force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace an existing output that tumor3d did not write (never an input file)")


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Add ``simulate``, ``train``, ``predict`` and ``explain``."""
    p = sub.add_parser("simulate", help="simulate new patients of a task's disease (in-domain slides for a model "
                                        "trained with tumor3d train --task)")
    p.add_argument("out", help="cohort folder to write: <slide>.imzML, masks/<slide>_mask.npy, cohort.json")
    p.add_argument("--task", default="tumour-desi", help=f"the simulated disease: {', '.join(sorted(TASKS))} "
                                                         "(default %(default)s)")
    p.add_argument("--patients", type=int, default=1,
                   help="patients to simulate, three slides each: tumour-bearing, small lesion, tumour-free "
                        "(default %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="which new patients: any seed gives patients of the same disease, none of them in the "
                        f"training cohort (patients numbered from {NEW_PATIENTS} + seed x patients; default "
                        "%(default)s)")
    p.add_argument("--disease-seed", type=int, default=0,
                   help="seed of the disease (ion panel and tumour markers): the --seed that tumor3d train "
                        "--task was given; the shipped model's is 0 (default %(default)s)")
    _force(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("train", help="train a Tumor3DNet on a cohort (real or simulated)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--cohort", help="cohort folder: <slide>.imzML files, masks/<slide>_mask.npy annotations "
                                      "(0 background, 1 healthy, 2 tumour) and a patient id per slide in "
                                      "cohort.json or patients.csv (columns slide,patient)")
    src.add_argument("--task", help=f"simulate a cohort of this kind instead: {', '.join(sorted(TASKS))}")
    p.add_argument("--out", required=True, help="model folder to write (weights, config.json, model card)")
    p.add_argument("--work", default="tumor3d-work",
                   help="folder for the simulated cohort and the ion-image cache (default %(default)s)")
    p.add_argument("--n-patients", type=int, default=None,
                   help="patients of a simulated cohort (default: the task's, 12)")
    p.add_argument("--ionmorphnet", default=DEFAULT_MODEL,
                   help="IonMorphNet weights that choose the ion images (default %(default)s)")
    p.add_argument("--selection", default="ionmorphnet", choices=TRAIN_SELECTIONS,
                   help="how the ion images are chosen, without tumour labels: by IonMorphNet's informative "
                        "score (default), the same without the off-sample class (ionmorphnet-tissue), with a "
                        "diversity rule (ionmorphnet-diverse), one image per spatial pattern "
                        "(ionmorphnet-clusters), a budget spread over IonMorphNet's classes (ionmorphnet-classes), "
                        "or at random or by mean intensity for comparison")
    p.add_argument("--channels", type=int, default=TrainConfig.n_channels,
                   help="number of ion images (m/z channels) the model reads (default %(default)s)")
    p.add_argument("--patch", type=int, default=TrainConfig.patch,
                   help="side in pixels of the square patch classified around each pixel (default %(default)s)")
    p.add_argument("--widths", type=_widths, default=TrainConfig.widths,
                   help="feature maps of each convolution block, comma-separated; their number is the depth "
                        f"(default {','.join(map(str, TrainConfig.widths))})")
    p.add_argument("--pool-mz", action=argparse.BooleanOptionalAction, default=TrainConfig.pool_mz,
                   help="halve the m/z axis in every block (default: on)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs,
                   help="at most this many training epochs (default %(default)s); a quarter of the patients is "
                        "held out and training stops when their smoothed balanced accuracy stops improving")
    p.add_argument("--patience", type=int, default=TrainConfig.patience,
                   help="epochs without a better smoothed validation score before stopping (default %(default)s)")
    p.add_argument("--max-per-class", type=int, default=TrainConfig.max_per_class,
                   help="at most this many training patches per class and slide (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size,
                   help="patches per optimizer step (default %(default)s)")
    p.add_argument("--folds", type=int, default=0,
                   help="first run k-fold cross-validation grouped by patient: reports it, and calibrates the "
                        "slide rule on the held-out patients' slides (at most 5 %% of tumour-free slides called "
                        "tumour); 0: skip, the default rule is kept (default)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the simulated cohort and the training (default %(default)s)")
    _force(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="tumour-probability map and slide call of an imzML file")
    p.add_argument("imzml", help="the slide's .imzML file (its .ibd beside it)")
    p.add_argument("--mask", help="annotation or region mask (.npy); nonzero pixels are predicted")
    p.add_argument("--model", default=DEFAULT_TUMOR_MODEL,
                   help="Tumor3DNet weights: name, folder or Hub id (default %(default)s)")
    p.add_argument("-o", "--output", help="probability-map figure (.png, .pdf or .svg) with the slide call and its "
                                           "rule; the map itself is saved beside it as .npy (H x W float32 "
                                           "tumour probability on the file's pixel raster, NaN where not predicted)")
    p.add_argument("--report", help="also write a self-contained HTML report (.html): the slide call, the probability "
                                     "map and the ion image of every channel the model reads")
    _force(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("explain", help="rank a model's m/z channels by tumour attribution")
    p.add_argument("--cohort", required=True,
                   help="cohort folder whose annotated tumour pixels are explained (same layout as for train)")
    p.add_argument("--model", default=DEFAULT_TUMOR_MODEL,
                   help="Tumor3DNet weights: name, folder or Hub id (default %(default)s)")
    p.add_argument("-o", "--output", required=True, help="ranked table (.csv)")
    p.add_argument("-k", type=int, default=10, help="top m/z values to print (default %(default)s)")
    p.add_argument("--stride", type=int, default=2,
                   help="take a tumour patch at every n-th pixel in each direction (default %(default)s)")
    p.add_argument("--max-patches", type=int, default=300,
                   help="at most this many tumour patches per slide (default %(default)s)")
    _force(p)
    p.set_defaults(func=cmd_explain)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tumor3d`` command."""
    return run(argv, ("tumor3d.cli",), "tumor3d", DESCRIPTION)


if __name__ == "__main__":
    sys.exit(main())

"""Many slides: :func:`ionmorph.picking.pick.pick_peaks` over several imzML files, in parallel.

:func:`pick_slides` runs one ``pick_peaks`` per slide and writes, into one output folder, one CSV
per slide (``<slide stem>.csv``, :meth:`ionmorph.picking.pick.PickResult.to_csv`) and a summary table
(:data:`SUMMARY_FILE`, one row per slide). Slides run

- one after another with ``workers=1``;
- on a local process pool by default (``workers`` processes, default one per core up to the
  number of slides; each loads the model once and gets ``cores // workers`` inference threads);
- on a Dask distributed cluster with ``scheduler="tcp://host:8786"`` (or a ``dask.distributed``
  Client or LocalCluster). The workers need ionmorph, the weights and the slides at the same paths
  as the client (a shared file system); the results travel back and the client writes every
  output, so the output folder need only be reachable from the client. Install the extra with
  ``pip install 'ionmorph[dask]'``.

A slide that cannot be read is reported in the summary (``status``) and the others go on. The
results do not depend on how the slides were scheduled.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import io
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import InputError, IonMorphError, OutputError
from ..fileio import all_or_none, atomic_write_text, check_output, csv_columns

#: Name of the per-slide summary table in the output folder.
SUMMARY_FILE = "summary.csv"
#: Columns of the summary table.
SUMMARY_COLUMNS: tuple[str, ...] = ("slide", "output", "status", "n_candidates", "n_picked", "ppm", "ppm_source",
                                    "top_mz", "seconds")
#: How many of the best picked m/z the summary lists per slide.
TOP_MZ = 5
_GLOB_CHARS = frozenset("*?[")


def is_summary_table(path: str | os.PathLike) -> bool:
    """True for a summary table written by :func:`pick_slides` (a rerun may replace it)."""
    return set(SUMMARY_COLUMNS) <= set(csv_columns(path))


def _is_imzml(path: Path) -> bool:
    return path.suffix.lower() == ".imzml" and path.is_file()


def is_batch(inputs: Sequence[str | os.PathLike]) -> bool:
    """Whether ``inputs`` name several slides: more than one entry, a folder or a glob pattern."""
    return len(inputs) != 1 or Path(inputs[0]).is_dir() or bool(_GLOB_CHARS & set(str(inputs[0])))


def expand_slides(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """The imzML files named by ``inputs``: files, folders (their ``*.imzML``, any letter case, not
    recursive) and glob patterns (``**`` recurses), in the given order, each file once.

    Raises
    ------
    InputError
        An entry matches no imzML file, or two slides share a file stem (their CSVs would collide).
    """
    slides: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_imzml(p))
        elif _GLOB_CHARS & set(str(item)):
            found = sorted(p for p in map(Path, glob.glob(str(item), recursive=True)) if _is_imzml(p))
        elif path.is_file() or path.is_symlink():
            if path.suffix.lower() != ".imzml":
                raise InputError(f"{path}: not an .imzML file")
            found = [path]
        else:
            raise FileNotFoundError(f"{path}: file not found")
        if not found:
            raise InputError(f"{item}: no .imzML files there")
        for p in found:
            if p.resolve() not in seen:
                seen.add(p.resolve())
                slides.append(p)
    stems: dict[str, Path] = {}
    for p in slides:
        other = stems.setdefault(p.stem.lower(), p)
        if other is not p:
            raise InputError(f"{p} and {other} share the name {p.stem!r}; their result tables would collide")
        if p.stem.lower() + ".csv" == SUMMARY_FILE:
            raise InputError(f"{p}: a slide may not be called {Path(SUMMARY_FILE).stem!r} (the summary table's name)")
    return slides


def pick_slide(path: str | os.PathLike, pick_kwargs: dict[str, Any]):
    """``pick_peaks(path, **pick_kwargs)`` on a worker: the PickResult without its data source, or an
    error line for a slide that cannot be read (:class:`ionmorph.errors.IonMorphError`, missing file)."""
    from ..picking.pick import pick_peaks

    t = time.perf_counter()
    try:
        res = pick_peaks(path, **pick_kwargs)
    except (IonMorphError, FileNotFoundError) as exc:
        return f"error: {exc}", time.perf_counter() - t
    return dataclasses.replace(res, _source=None), time.perf_counter() - t


def _init_worker(threads: int) -> None:
    """Pool worker set-up: ``threads`` inference threads unless OMP_NUM_THREADS is set."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def default_workers(n_slides: int) -> int:
    """One process per core (``os.cpu_count()``), at most one per slide."""
    return max(1, min(n_slides, os.cpu_count() or 1))


def map_slides(func: Callable, slides: Sequence[Path], pick_kwargs: dict[str, Any], workers: int | None = None,
               scheduler: Any = None, on_done: Callable[[], None] | None = None) -> list:
    """``[func(slide, pick_kwargs) for slide in slides]``, serial, on a process pool or on Dask.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled to the workers).
    slides : sequence of Path
        The slides.
    pick_kwargs : dict
        Passed to every call.
    workers : int, optional
        Local processes (default :func:`default_workers`); 1 runs in this process. Ignored with
        ``scheduler``.
    scheduler : str, dask.distributed.Client or cluster, optional
        A Dask scheduler address (or client or cluster) to run on instead.
    on_done : callable, optional
        Called after each slide (progress).
    """
    done = on_done or (lambda: None)
    if scheduler is not None:
        return _map_dask(func, slides, pick_kwargs, scheduler, done)
    workers = default_workers(len(slides)) if workers is None else workers
    if not (isinstance(workers, int) and workers >= 1):
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    if workers == 1 or len(slides) <= 1:
        out = []
        for s in slides:
            out.append(func(s, pick_kwargs))
            done()
        return out
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = [pool.submit(func, s, pick_kwargs) for s in slides]
        for f in futures:
            f.add_done_callback(lambda _: done())
        return [f.result() for f in futures]


def _map_dask(func: Callable, slides: Sequence[Path], pick_kwargs: dict[str, Any], scheduler: Any,
              done: Callable[[], None]) -> list:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ImportError("a Dask scheduler needs dask.distributed: pip install 'ionmorph[dask]'") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler) if own else scheduler
    except (OSError, TimeoutError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{scheduler}: no Dask scheduler answers at this address ({reason})") from None
    try:
        futures = client.map(func, [str(s) for s in slides], pick_kwargs=pick_kwargs, pure=False)
        for _ in as_completed(futures):
            done()
        return client.gather(futures)
    finally:
        if own:
            client.close()


def _summary_row(slide: Path, output: Path, result: Any, seconds: float) -> dict[str, Any]:
    if isinstance(result, str):
        return {"slide": str(slide), "output": "", "status": result, "n_candidates": "", "n_picked": "",
                "ppm": "", "ppm_source": "", "top_mz": "", "seconds": f"{seconds:.2f}"}
    top = " ".join(f"{m:.4f}" for m in result.picked_mz[:TOP_MZ])
    return {"slide": str(slide), "output": output.name, "status": "ok", "n_candidates": len(result),
            "n_picked": int(result.picked.sum()), "ppm": "" if result.ppm is None else f"{result.ppm:g}",
            "ppm_source": result.ppm_source, "top_mz": top, "seconds": f"{seconds:.2f}"}


def pick_slides(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *, picked_only: bool = True,
                sort: str = "mz", overwrite: bool = False, workers: int | None = None, scheduler: Any = None,
                progress: bool = True, **pick_kwargs: Any) -> list[dict[str, Any]]:
    """Pick the peaks of many slides; one CSV per slide and a summary table in ``out_dir``.

    Parameters
    ----------
    inputs : iterable of path-like or str
        imzML files, folders and glob patterns (:func:`expand_slides`).
    out_dir : path-like
        Output folder (created when missing): ``<slide stem>.csv`` per slide and :data:`SUMMARY_FILE`.
    picked_only : bool
        Write only the picked candidates (``ionmorph pick``) or all of them (``ionmorph classify``).
    sort : {"mz", "rank"}
        Row order of the per-slide tables.
    overwrite : bool
        Replace existing files in ``out_dir`` that ionmorph did not write (never an input file).
    workers, scheduler
        Where the slides run (:func:`map_slides`).
    progress : bool
        A progress bar over the slides (per-slide bars are off).
    **pick_kwargs
        Passed to :func:`ionmorph.picking.pick.pick_peaks` (``k``, ``threshold``, ``ppm``, ``model``,
        ``candidates``, ...). With several workers, give the model by name or folder.

    Returns
    -------
    list of dict
        The summary rows (:data:`SUMMARY_COLUMNS`), in slide order.
    """
    from ..picking.pick import is_pick_table
    from ..progress import progress_bar

    slides = expand_slides(inputs)
    out_dir = Path(out_dir)
    if (out_dir.exists() or out_dir.suffix.lower() == ".csv") and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: with several slides the output is a folder (one CSV per slide and "
                          f"{SUMMARY_FILE}), not a file")
    outputs = [out_dir / f"{s.stem}.csv" for s in slides]
    for o in outputs:
        check_output(o, slides, force=overwrite, owned=is_pick_table)
    summary_path = check_output(out_dir / SUMMARY_FILE, slides, force=overwrite, owned=is_summary_table)
    kwargs = {**pick_kwargs, "progress": False}
    with progress_bar(total=len(slides), disable=not progress, desc="slides", unit="slide") as bar:
        results = map_slides(pick_slide, slides, kwargs, workers, scheduler, on_done=lambda: bar.update(1))
    rows = [_summary_row(slide, output, result, seconds)
            for slide, output, (result, seconds) in zip(slides, outputs, results)]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with all_or_none([*outputs, summary_path]):
        out_dir.mkdir(parents=True, exist_ok=True)     # after the work: a failed run leaves no empty folder
        for output, (result, _) in zip(outputs, results):
            if not isinstance(result, str):
                result.to_csv(output, picked_only=picked_only, sort=sort, overwrite=overwrite)
        atomic_write_text(summary_path, buf.getvalue())
    return rows


#: Single-slide options of ``pick``/``classify`` (outputs, a region) that have no several-slide form.
_SINGLE_SLIDE_OPTIONS = ("figure", "images", "imzml", "mask")


def run_cli(args: Any, picked_only: bool, pick_kwargs: dict[str, Any]) -> int:
    """``ionmorph pick``/``classify`` on several slides (:func:`ionmorph.cli.pick.pick_options` gives
    ``pick_kwargs``); 0 when every slide was done, 2 when one failed (its line is printed)."""
    import sys

    given = [f"--{name}" for name in _SINGLE_SLIDE_OPTIONS if getattr(args, name, None)]
    if given:
        raise InputError(f"{', '.join(given)}: one slide's option only; leave it out with several slides")
    rows = pick_slides(args.file, args.output, picked_only=picked_only, sort=args.sort, overwrite=args.force,
                       workers=args.workers, scheduler=args.scheduler, progress=not args.quiet, **pick_kwargs)
    failed = [r for r in rows if r["status"] != "ok"]
    for r in failed:
        print(f"{r['slide']}: {r['status']}", file=sys.stderr)
    if not args.quiet:
        print(f"{len(rows) - len(failed)} of {len(rows)} slides done -> {Path(args.output) / SUMMARY_FILE}")
    return 2 if failed else 0

"""How a benchmark writes its results: ``<stem>.json`` and ``<stem>.md`` in one folder, each atomically.

Each script puts its own folder on ``sys.path`` before ``from report import write_report``, so
this module is found whether the script runs as ``python benchmarks/<name>.py`` or is loaded by
path in the tests.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def write_report(out_dir: Path, stem: str, data: dict, markdown: str, *, indent: int = 1,
                 default: Callable[[Any], Any] | None = None) -> None:
    """Write ``data`` to ``<out_dir>/<stem>.json`` and ``markdown`` to ``<out_dir>/<stem>.md``.

    Parameters
    ----------
    out_dir : Path
        The results folder; created when missing.
    stem : str
        File name without the suffix, e.g. ``"scale"`` or ``"mscf1_quick"``.
    data : dict
        The results, written as JSON (``indent`` spaces, one newline at the end).
    markdown : str
        The same results as a Markdown report.
    indent : int
        JSON indentation.
    default : callable, optional
        Passed to :func:`json.dumps` for values JSON cannot hold (e.g. ``str``).
    """
    from ionmorph.fileio import atomic_write_text  # here, not at import: some benchmarks time their imports

    out_dir = Path(out_dir)
    atomic_write_text(out_dir / f"{stem}.json", json.dumps(data, indent=indent, default=default) + "\n")
    atomic_write_text(out_dir / f"{stem}.md", markdown)

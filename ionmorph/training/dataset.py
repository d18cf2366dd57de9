"""Training data: labelled sections, splits by section, and the on-disk ion-image cache.

Layout of a data root (docs/design.md): ``<root>/<id>/<id>.imzML`` (+ .ibd) and
``<root>/labels/<id>.csv`` in the published label format; a simulated corpus adds
``<root>/corpus.json`` with per-section family, instrument and ppm.

The cache holds every labelled ion image of every section, extracted with
:meth:`ionmorph.io.msi.MSIData.ion_images` in one pass per section and preprocessed with the shared
:func:`ionmorph.models.preprocessing.preprocess`. Files, keyed by input size and a hash of the
preprocessing settings and default ppm:

- ``images_<size>_<key>.npy``: float16 (n, 1, size, size), read as a memory map;
- ``index_<size>_<key>.csv``: one row per image (section, mz, label, family, instrument) plus a
  per-section signature of the input files (size and mtime of the imzML, .ibd and label CSV);
- ``parts_<size>_<key>/``: per-section results while building (resumable), merged at the end.

Sections whose input files changed are re-extracted; the cache never reads imzML otherwise.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import IonMorphError, LabelFormatError
from ..fileio import atomic_path
from ..labels import CLASSES, PUBLISHED_SPLIT, class_index, read_label_csv
from ..models.preprocessing import PreprocessConfig

SPLITS: tuple[str, ...] = ("train", "val", "test", "holdout")
_INDEX_COLUMNS = ("section", "mz", "label", "family", "instrument", "signature", "clarity")


@dataclass(frozen=True)
class Section:
    """One labelled section of a data root."""

    id: str
    imzml: Path
    labels: Path
    family: str = ""
    instrument: str = ""
    ppm: float | None = None

    def signature(self) -> str:
        """Size and mtime of the input files: changes when the section is regenerated."""
        parts = []
        for p in (self.imzml, self.imzml.with_suffix(".ibd"), self.labels):
            st = p.stat() if p.exists() else None
            parts.append(f"{st.st_size}:{st.st_mtime_ns}" if st else "-")
        return "|".join(parts)


def _corpus_records(root: Path) -> dict[str, dict]:
    """Per-section records of ``corpus.json`` (a list, or a dict with a ``sections`` list)."""
    path = root / "corpus.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LabelFormatError(path, f"not valid JSON: {exc}") from None
    records = data.get("sections", []) if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) and "id" in r for r in records):
        raise LabelFormatError(path, "expected a list of section records, each with an 'id'")
    return {str(r["id"]): r for r in records}


def find_sections(root: str | os.PathLike) -> list[Section]:
    """All labelled sections of a data root, sorted by id.

    Raises :class:`LabelFormatError` when the label folder is missing or empty, or a label file
    has no imzML beside it.
    """
    root = Path(root)
    label_dir = root / "labels"
    csvs = sorted(label_dir.glob("*.csv")) if label_dir.is_dir() else []
    if not csvs:
        raise LabelFormatError(label_dir, "no label CSVs found (expected <root>/labels/<id>.csv)")
    meta = _corpus_records(root)
    out = []
    for lab in csvs:
        sid = lab.stem
        imzml = root / sid / f"{sid}.imzML"
        if not imzml.is_file():
            raise LabelFormatError(lab, f"labels given but {imzml} does not exist")
        rec = meta.get(sid, {})
        ppm = rec.get("ppm")
        out.append(Section(sid, imzml, lab, str(rec.get("family", "")), str(rec.get("instrument", "")),
                           float(ppm) if ppm is not None else None))
    return out


def split_sections(sections: Sequence[Section], split: str = "random", *, seed: int = 0,
                   val_fraction: float = 0.15, test_fraction: float = 0.15,
                   holdout_family: Iterable[str] = (), holdout_instrument: Iterable[str] = ()
                   ) -> dict[str, list[str]]:
    """Assign whole sections to train / val / test / holdout (never single ion images).

    Parameters
    ----------
    sections : sequence of Section
    split : {"random", "published"}
        "published": :data:`ionmorph.labels.PUBLISHED_SPLIT` (others train). "random": a seeded
        split in which families are interleaved, so val and test cover as many families as possible.
    seed : int
    val_fraction, test_fraction : float
        Shares of the non-held-out sections (at least one section each when there are three or
        more; with two sections, one trains and one validates).
    holdout_family, holdout_instrument : iterable of str
        Sections of these families/instruments form the ``holdout`` set (generalisation test) and
        are neither trained nor validated on.

    Returns
    -------
    dict
        Split name -> sorted section ids, for every name in :data:`SPLITS`.
    """
    fam, ins = set(holdout_family), set(holdout_instrument)
    known_f = {s.family for s in sections}
    known_i = {s.instrument for s in sections}
    for what, want, known in (("family", fam, known_f), ("instrument", ins, known_i)):
        if want - known:
            raise IonMorphError(f"held-out {what} {sorted(want - known)} not among the sections' "
                                f"{what} values {sorted(known)}")
    held = [s.id for s in sections if s.family in fam or s.instrument in ins]
    rest = [s for s in sections if s.id not in set(held)]
    out: dict[str, list[str]] = {k: [] for k in SPLITS}
    out["holdout"] = held
    if split == "published":
        role = {sid: name for name, ids in PUBLISHED_SPLIT.items() for sid in ids}
        for s in rest:
            out[role.get(s.id, "train")].append(s.id)
    elif split == "random":
        rng = np.random.default_rng(seed)
        groups: dict[str, list[str]] = {}
        for s in rest:
            groups.setdefault(s.family, []).append(s.id)
        for ids in groups.values():
            rng.shuffle(ids)
        order = [groups[f] for f in rng.permutation(sorted(groups))]
        mixed = [ids[i] for i in range(max(map(len, order), default=0)) for ids in order if i < len(ids)]
        n = len(mixed)
        n_test = max(1 if n >= 3 else 0, round(test_fraction * n))
        n_val = max(1 if n >= 2 else 0, round(val_fraction * n))
        out["test"], out["val"], out["train"] = (mixed[:n_test], mixed[n_test:n_test + n_val],
                                                 mixed[n_test + n_val:])
    else:
        raise IonMorphError(f"unknown split {split!r}; expected 'random' or 'published'")
    return {k: sorted(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- cache
def cache_key(config: PreprocessConfig, default_ppm: float) -> str:
    """Name stem of the cache files for a preprocessing config and default ppm."""
    blob = json.dumps({"pre": config.to_dict(), "ppm": float(default_ppm)}, sort_keys=True)
    return f"{config.size}_{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def _extract(section: Section, config: PreprocessConfig, default_ppm: float, parts: Path) -> str:
    """Extract, preprocess and store one section's labelled ion images under ``parts``."""
    import torch

    from ..io.msi import open_msi
    from ..models.preprocessing import preprocess

    torch.set_num_threads(1)
    rows = read_label_csv(section.labels)
    mz = np.array([r.mz for r in rows], dtype=np.float64)
    labels = np.array([class_index(r.label) for r in rows], dtype=np.int64)
    clear = np.array([r.clarity for r in rows], dtype=np.float64)
    data = open_msi(section.imzml)
    images = data.ion_images(mz, ppm=section.ppm or default_ppm) if len(mz) else np.zeros((0, *data.shape))
    x = preprocess(images, data.mask, config).astype(np.float16)
    with atomic_path(parts / f"{section.id}.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, images=x, mz=mz, labels=labels, clarity=clear, signature=np.array(section.signature()))
    return section.id


@dataclass
class IonImageCache:
    """The merged cache: memory-mapped images and their index table.

    Attributes
    ----------
    images : numpy.memmap float16 (n, 1, size, size)
    section, family, instrument : numpy str arrays (n,)
    mz : float64 (n,)
    label : int64 (n,)
    clarity : float64 (n,)
        How clearly each image shows its pattern (simulated labels; NaN when not known).
    """

    images: np.ndarray
    section: np.ndarray
    mz: np.ndarray
    label: np.ndarray
    family: np.ndarray
    instrument: np.ndarray
    clarity: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.clarity is None:
            self.clarity = np.full(len(self.label), np.nan)

    def __len__(self) -> int:
        return len(self.label)

    def indices(self, section_ids: Iterable[str]) -> np.ndarray:
        """Row numbers of the images of the given sections."""
        return np.flatnonzero(np.isin(self.section, list(section_ids)))


def _read_index(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _load(images_path: Path, index_path: Path) -> IonImageCache:
    rows = _read_index(index_path)
    images = np.load(images_path, mmap_mode="r")
    if len(images) != len(rows):
        raise IonMorphError(f"{images_path}: {len(images)} images but {len(rows)} index rows; delete the cache")
    col = {c: np.array([r[c] for r in rows], dtype=str) for c in ("section", "family", "instrument")}
    return IonImageCache(images, col["section"], np.array([float(r["mz"]) for r in rows]),
                         np.array([class_index(r["label"]) for r in rows], dtype=np.int64),
                         col["family"], col["instrument"],
                         np.array([float(r.get("clarity") or "nan") for r in rows], dtype=np.float64))


def build_cache(sections: Sequence[Section], cache_dir: str | os.PathLike, config: PreprocessConfig,
                default_ppm: float, workers: int = 1, progress: bool = True) -> IonImageCache:
    """Build (or reuse, or update) the ion-image cache of ``sections`` and load it.

    Parameters
    ----------
    sections : sequence of Section
    cache_dir : path-like
    config : PreprocessConfig
        Preprocessing settings (input size included).
    default_ppm : float
        Ion-image half-width for sections without their own ppm.
    workers : int
        Processes extracting sections in parallel.
    progress : bool
        Show a progress bar.
    """
    from tqdm.auto import tqdm

    cache_dir = Path(cache_dir)
    key = cache_key(config, default_ppm)
    images_path, index_path = cache_dir / f"images_{key}.npy", cache_dir / f"index_{key}.csv"
    parts = cache_dir / f"parts_{key}"
    parts.mkdir(parents=True, exist_ok=True)
    old_rows = _read_index(index_path) if index_path.is_file() and images_path.is_file() else []
    old_sig = {r["section"]: r["signature"] for r in old_rows}
    todo = [s for s in sections
            if old_sig.get(s.id) != s.signature() and not _part_current(parts / f"{s.id}.npz", s)]
    if todo:
        bar = tqdm(total=len(todo), desc="ion-image cache", unit="section", disable=not progress)
        if workers > 1:
            job = functools.partial(_extract, config=config, default_ppm=default_ppm, parts=parts)
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(job, todo):
                    bar.update()
        else:
            for s in todo:
                _extract(s, config, default_ppm, parts)
                bar.update()
        bar.close()
    wanted = {s.id for s in sections}
    if any(parts.glob("*.npz")) or set(old_sig) != wanted:
        _merge(sections, old_rows, images_path, index_path, parts, config.size)
    return _load(images_path, index_path)


def _part_current(path: Path, section: Section) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as z:
        return str(z["signature"]) == section.signature()


def _merge(sections: Sequence[Section], old_rows: list[dict[str, str]], images_path: Path,
           index_path: Path, parts: Path, size: int) -> None:
    """Write the merged images/index from the previous cache and the fresh per-section parts."""
    old = np.load(images_path, mmap_mode="r") if old_rows else None
    old_pos: dict[str, list[int]] = {}
    for i, r in enumerate(old_rows):
        old_pos.setdefault(r["section"], []).append(i)
    blocks = []
    for s in sorted(sections, key=lambda s: s.id):
        part = parts / f"{s.id}.npz"
        if part.is_file():
            with np.load(part) as z:
                n = len(z["labels"])
            blocks.append((s, part, n))
        else:
            blocks.append((s, None, len(old_pos[s.id])))
    total = sum(n for _, _, n in blocks)
    rows = []
    with atomic_path(images_path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(total, 1, size, size))
        at = 0
        for s, part, n in blocks:
            if part is not None:
                with np.load(part) as z:
                    out[at:at + n] = z["images"]
                    mz, lab, sig = z["mz"], z["labels"], str(z["signature"])
                    clear = z["clarity"] if "clarity" in z.files else np.full(n, np.nan)
            else:
                idx = old_pos[s.id]
                out[at:at + n] = old[idx]
                mz = [float(old_rows[i]["mz"]) for i in idx]
                lab = [class_index(old_rows[i]["label"]) for i in idx]
                clear = [float(old_rows[i].get("clarity") or "nan") for i in idx]
                sig = old_rows[idx[0]]["signature"]
            rows += [[s.id, repr(float(m)), CLASSES[int(c)], s.family, s.instrument, sig, repr(float(q))]
                     for m, c, q in zip(mz, lab, clear)]
            at += n
        out.flush()
        del out
        with atomic_path(index_path) as tmp_index:
            with tmp_index.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(_INDEX_COLUMNS)
                w.writerows(rows)
    for part in parts.glob("*.npz"):
        part.unlink()


class IonImageDataset:
    """A torch-style dataset over rows of an :class:`IonImageCache`.

    Parameters
    ----------
    cache : IonImageCache
    indices : int array
        Rows of the cache in this dataset.
    augment : callable (image (H, W), index, epoch) -> image, optional
        E.g. :class:`ionmorph.training.augment.Augmenter`; None for evaluation.
    """

    def __init__(self, cache: IonImageCache, indices: np.ndarray,
                 augment: Callable[[np.ndarray, int, int], np.ndarray] | None = None) -> None:
        self.cache, self.indices, self.augment = cache, np.asarray(indices, dtype=np.int64), augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (the augmentation of every sample depends on it)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every sample."""
        return self.cache.label[self.indices]

    def __getitem__(self, i: int):
        """(image (1, S, S) tensor, class index, clarity (NaN when not known))."""
        import torch

        row = int(self.indices[i])
        x = np.asarray(self.cache.images[row, 0], dtype=np.float32)
        if self.augment is not None:
            x = self.augment(x, row, self.epoch)
        return (torch.from_numpy(np.ascontiguousarray(x)[None]), int(self.cache.label[row]),
                float(self.cache.clarity[row]))

"""Weights between machines without the Hub: export a registered version as a zip, import one into the HF cache.

The Hub repos named by the registry may be unreachable (no network, or not uploaded yet). A
machine that has the weights (a git checkout, or an earlier import) writes them as a zip with
:func:`export_weights` (``ionmorph weights export NAME OUT.zip``); the other machine places the
zip, or any weights folder, into its Hugging Face cache with :func:`import_weights`
(``ionmorph weights import PATH``). Every file's sha256 is checked against the registry before
anything is placed, and the files land in the layout ``huggingface_hub`` writes when it downloads
(:func:`write_snapshot`), so every later resolution (:func:`ionmorph.models.hub.resolve_weights`)
finds them offline, with no environment variable to set.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from ..fileio import atomic_path, check_output
from .hub import (CARD_FILE, CONFIG_FILE, FOLDER_FILES, ONNX_FILE, WEIGHTS_FILE, _from_hub, _read_config,
                  hf_cache_root, load_registry, recorded_onnx_sha256, registry_path, resolve_weights,
                  sha256_file, verify_sha256)

#: Files the Hub stores with git LFS: their cache blob is named by sha256, other files by git's blob sha1.
LFS_SUFFIXES = (".safetensors", ".onnx", ".bin", ".png")
#: Largest total size of the weights files taken from a zip (a guard against zip bombs).
MAX_ZIP_BYTES = 4 << 30


def blob_name(path: str | os.PathLike) -> str:
    """The name of a file's blob in the HF cache: its etag (sha256 for LFS files, git blob sha1 otherwise)."""
    path = Path(path)
    if path.suffix in LFS_SUFFIXES:
        return sha256_file(path)
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_snapshot(cache: str | os.PathLike, repo_id: str, revision: str, files: dict[str, Path],
                   commit: str) -> Path:
    """Lay out ``files`` as ``models--org--name/{blobs,snapshots/<commit>,refs/<revision>}``, atomically.

    Blobs are named by :func:`blob_name`, the snapshot holds relative symlinks to them (copies
    where the file system has no symlinks), and ``refs/<revision>`` the commit id, as after
    ``snapshot_download(repo_id, revision=revision)``. A revision that is itself a 40-hex commit
    id gets no ref. An existing snapshot of the same commit is replaced.

    Returns
    -------
    pathlib.Path
        The snapshot folder.
    """
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "snapshots").mkdir(exist_ok=True)
    snap = repo / "snapshots" / commit
    staging = Path(tempfile.mkdtemp(prefix=f".{commit}.", dir=repo / "snapshots"))
    try:
        for name, src in sorted(files.items()):
            blob = repo / "blobs" / blob_name(src)
            with atomic_path(blob) as tmp:
                shutil.copyfile(src, tmp)
            try:
                os.symlink(os.path.relpath(blob, snap), staging / name)
            except OSError:
                shutil.copyfile(blob, staging / name)
        staging.chmod(0o755)
        if snap.exists():
            shutil.rmtree(snap)
        os.replace(staging, snap)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        (repo / "refs").mkdir(exist_ok=True)
        with atomic_path(repo / "refs" / revision) as tmp:
            tmp.write_text(commit)
    return snap


@dataclass
class ImportedWeights:
    """What :func:`import_weights` placed: one registered version, where, and what was checked."""

    name: str
    tag: str
    repo_id: str
    snapshot: Path
    files: dict[str, str]
    checked: list[str] = field(default_factory=list)
    resolves_to: Path | None = None


def _registered_versions(sha: str) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """Every (name, tag, entry, revision record) of the registry whose safetensors have sha256 ``sha``."""
    return [(name, tag, entry, rec) for name, entry in sorted(load_registry()["models"].items())
            for tag, rec in sorted((entry.get("revisions") or {}).items()) if rec.get("sha256") == sha]


def _from_zip(path: Path, into: Path) -> Path:
    """Extract the weights files of a zip (at its top or in one folder) into ``into``; returns ``into``.

    Only the files of a weights folder are taken (by name, so no member can write outside ``into``).

    Raises
    ------
    WeightsError
        Not a zip, no config.json, several weights folders, or implausibly large members.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"{path}: not a readable zip file ({exc})") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and Path(m.filename).name in FOLDER_FILES]
        folders = {str(Path(m.filename).parent) for m in members if Path(m.filename).name == CONFIG_FILE}
        if not folders:
            raise WeightsError(f"{path}: holds no {CONFIG_FILE}; not a zip of a weights folder "
                               "(make one with 'ionmorph weights export NAME OUT.zip')")
        if len(folders) > 1:
            raise WeightsError(f"{path}: holds {len(folders)} weights folders ({', '.join(sorted(folders))}); "
                               "import one zip per weights version")
        members = [m for m in members if str(Path(m.filename).parent) in folders]
        if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise WeightsError(f"{path}: its weights files unpack to more than {MAX_ZIP_BYTES >> 30} GiB; refused")
        for m in members:
            try:
                with archive.open(m) as src, open(into / Path(m.filename).name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise WeightsError(f"{path}: cannot read {m.filename} ({exc})") from None
    return into


def _check_files(folder: Path, name: str, tag: str, entry: dict[str, Any], rec: dict[str, Any],
                 label: str) -> tuple[dict[str, Path], list[str]]:
    """The files of ``folder`` to place for ``name`` ``tag``, each checked; and what was checked.

    Raises
    ------
    WeightsError
        A wrong family, a sha256 that differs from the registry or config.json, or a missing card.
    """
    family = _read_config(folder).get("family")
    if entry.get("family") and family != entry["family"]:
        raise WeightsError(f"{label}: its {CONFIG_FILE} holds {family!r} weights, but {name} is "
                           f"{entry['family']!r} in {registry_path()}")
    sha = verify_sha256(folder, rec["sha256"])
    checked = [f"{WEIGHTS_FILE} sha256 {sha[:16]}... matches {name} {tag} in the registry"]
    files = {CONFIG_FILE: folder / CONFIG_FILE, WEIGHTS_FILE: folder / WEIGHTS_FILE}
    if (folder / CARD_FILE).is_file():
        files[CARD_FILE] = folder / CARD_FILE
    if (folder / ONNX_FILE).is_file():
        published = rec.get("onnx_sha256") or recorded_onnx_sha256(folder, sha)
        if published is None:
            checked.append(f"{ONNX_FILE} left out: no recorded hash says it is the graph of these weights")
        else:
            onnx_sha = verify_sha256(folder, published, ONNX_FILE)
            files[ONNX_FILE] = folder / ONNX_FILE
            checked.append(f"{ONNX_FILE} sha256 {onnx_sha[:16]}... matches the registry")
    return files, checked


def _snapshot_commit(repo_id: str, tag: str, files: dict[str, Path]) -> str:
    """A commit id for an imported snapshot: sha1 over the repo, the tag and every file's sha256."""
    h = hashlib.sha1(f"ionmorph weights import\n{repo_id}\n{tag}\n".encode())
    for name, path in sorted(files.items()):
        h.update(f"{name} {sha256_file(path)}\n".encode())
    return h.hexdigest()


def import_weights(path: str | os.PathLike) -> list[ImportedWeights]:
    """Check a weights folder or a zip of one against the registry and place it in the HF cache.

    Parameters
    ----------
    path : path-like
        A weights folder (config.json, model.safetensors, README.md) or a zip of one, such as
        :func:`export_weights` writes.

    Returns
    -------
    list of ImportedWeights
        One per registered version whose safetensors these are (normally one).

    Raises
    ------
    WeightsError
        Not a weights folder or zip, safetensors that are no registered version, or a sha256 that
        differs from the registry or config.json; nothing is placed then.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise WeightsError(f"{path}: no such weights folder or zip")
    with tempfile.TemporaryDirectory(prefix="ionmorph-import-") as tmp:
        folder = _from_zip(path, Path(tmp)) if path.is_file() else path
        for required in (CONFIG_FILE, WEIGHTS_FILE):
            if not (folder / required).is_file():
                raise WeightsError(f"{path}: has no {required}; not a weights folder")
        sha = sha256_file(folder / WEIGHTS_FILE)
        versions = _registered_versions(sha)
        if not versions:
            known = [f"{n} {t}" for n, e in sorted(load_registry()["models"].items()) for t in sorted(e.get("revisions") or {})]
            raise WeightsError(f"{path}: its {WEIGHTS_FILE} (sha256 {sha[:16]}...) is no registered weights version "
                               f"in {registry_path()} (registered: {', '.join(known) or 'none'}); use it with "
                               "--model FOLDER instead")
        plans = []
        for name, tag, entry, rec in versions:
            if not entry.get("repo_id"):
                raise WeightsError(f"{name} has no repo_id in {registry_path()}, so it cannot be placed in the "
                                   "Hugging Face cache; use the folder with --model FOLDER")
            files, checked = _check_files(folder, name, tag, entry, rec, str(path))
            plans.append((name, tag, entry["repo_id"], rec.get("revision") or tag, files, checked))
        done = []
        cache = hf_cache_root()
        for name, tag, repo_id, revision, files, checked in plans:
            commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else _snapshot_commit(repo_id, tag, files)
            snap = write_snapshot(cache, repo_id, revision, files, commit)
            done.append(ImportedWeights(name, tag, repo_id, snap, {n: sha256_file(p) for n, p in files.items()},
                                        checked, _from_hub(repo_id, revision, local_only=True)))
    return done


def export_weights(name: str, out: str | os.PathLike, revision: str | None = None, force: bool = False) -> Path:
    """Write a registered weights version (or any weights folder) as a zip that :func:`import_weights` takes.

    The zip holds one folder ``<name>-<tag>/`` with config.json, model.safetensors and README.md,
    each checked against the registry and config.json first. The ONNX graph is left out: the
    importing machine exports and checks its own (:func:`ionmorph.models.onnx_model.cached_graph`).

    Parameters
    ----------
    name : str
        Registered name, weights folder or Hub repo id, as for ``from_pretrained``.
    out : path-like
        The zip to write (``.zip``); an existing file only with ``force``.
    revision : str, optional
        Revision tag (default: the registry's default).
    force : bool
        Replace an existing ``out``.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    WeightsError
        The weights are not found or fail their sha256.
    OutputError
        ``out`` exists (without ``force``) or is a folder.
    """
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise WeightsError(f"{out}: the export is a zip; give a file name ending in .zip")
    check_output(out, force=force)
    found = resolve_weights(name, revision)
    verify_sha256(found.folder, found.sha256)
    stem = f"{Path(name).name}-{found.revision}" if found.revision else Path(found.folder).name
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for member in (CONFIG_FILE, CARD_FILE, WEIGHTS_FILE):
            if (found.folder / member).is_file():
                kind = zipfile.ZIP_STORED if member == WEIGHTS_FILE else zipfile.ZIP_DEFLATED
                archive.write(found.folder / member, f"{stem}/{member}", compress_type=kind)
    return out


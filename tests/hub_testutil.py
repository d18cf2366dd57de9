"""A Hugging Face Hub cache filled by hand, in the layout ``huggingface_hub`` writes when it downloads."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

#: Files that the Hub stores with git LFS (their blob is named by sha256; other files by git's sha1).
LFS_SUFFIXES = (".safetensors", ".onnx", ".bin", ".png")


def _blob_name(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix in LFS_SUFFIXES:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fill_hf_cache(cache: Path, repo_id: str, revision: str, folder: Path, files: tuple[str, ...] | None = None) -> str:
    """Lay out ``folder`` as ``models--org--name/{blobs,snapshots/<commit>,refs/<revision>}``; returns the commit.

    Blobs are named by their etag (sha256 for LFS files, git blob sha1 otherwise), the snapshot
    holds relative symlinks to them, and ``refs/<revision>`` the commit id, as after
    ``snapshot_download(repo_id, revision=revision)``.
    """
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    snap = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.iterdir()):
        if not f.is_file() or (files is not None and f.name not in files):
            continue
        blob = repo / "blobs" / _blob_name(f)
        if not blob.exists():
            shutil.copyfile(f, blob)
        os.symlink(os.path.relpath(blob, snap), snap / f.name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit

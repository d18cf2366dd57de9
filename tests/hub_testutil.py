"""A Hugging Face Hub cache filled by hand, in the layout ``huggingface_hub`` writes when it downloads."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ionmorph.models.transfer import write_snapshot


def fill_hf_cache(cache: Path, repo_id: str, revision: str, folder: Path, files: tuple[str, ...] | None = None) -> str:
    """Lay out ``folder`` as ``models--org--name/{blobs,snapshots/<commit>,refs/<revision>}``; returns the commit.

    The commit id stands in for the Hub's (sha1 of ``repo_id@revision``); the layout is
    :func:`ionmorph.models.transfer.write_snapshot`'s, as after ``snapshot_download(repo_id, revision=revision)``.
    """
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    chosen = {f.name: f for f in sorted(folder.iterdir()) if f.is_file() and (files is None or f.name in files)}
    write_snapshot(cache, repo_id, revision, chosen, commit)
    return commit

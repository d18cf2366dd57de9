"""``ionmorph weights list | download NAME | verify PATH``: the registered weights and their files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import WeightsError
from ..models.hub import (CONFIG_FILE, ONNX_FILE, WEIGHTS_FILE, load_registry, local_copy, recorded_sha256,
                          registry_path, resolve_weights, verify_sha256, weights_dir)


def _list(args: argparse.Namespace) -> int:
    reg = load_registry()
    rows = []
    for name, entry in sorted(reg["models"].items()):
        for tag in sorted(entry.get("revisions") or {}):
            where, folder = local_copy(name, tag) or (None, None)
            rows.append({"name": name, "tag": tag, "default": tag == entry.get("default"),
                         "family": entry.get("family"), "repo_id": entry.get("repo_id"),
                         "available": where, "folder": str(folder) if folder else None})
    if args.json:
        print(json.dumps({"registry": str(registry_path()), "weights": rows}, indent=2))
        return 0
    print(f"registry {registry_path()}")
    for r in rows:
        where = {"checkout": "checkout weights/", "hf-cache": "Hugging Face cache"}.get(r["available"])
        print(f"  {r['name']} {r['tag']}{' (default)' if r['default'] else ''}  {r['family']}  "
              f"hub {r['repo_id'] or '-'}  "
              + (f"local: {where} {r['folder']}" if where else "not downloaded ('ionmorph weights download')"))
    return 0


def verify_folder(folder: Path, registry_sha256: str | None = None, registry_onnx_sha256: str | None = None) -> list[str]:
    """Check a weights folder's files against the registry and config.json; returns what was checked.

    Raises
    ------
    WeightsError
        A file is missing or its sha256 differs.
    """
    checked = []
    for filename, expected in ((WEIGHTS_FILE, registry_sha256), (ONNX_FILE, registry_onnx_sha256)):
        if not (folder / filename).is_file():
            if filename == WEIGHTS_FILE:
                raise WeightsError(f"{folder / filename}: missing; {folder} is not a weights folder")
            continue
        sha = verify_sha256(folder, expected, filename)
        against = [s for s, h in (("registry", expected), (CONFIG_FILE, recorded_sha256(folder, filename))) if h]
        checked.append(f"{filename} sha256 {sha[:16]}... " + (f"matches the {' and '.join(against)}" if against
                                                             else "(no recorded hash to compare)"))
    return checked


def _download(args: argparse.Namespace) -> int:
    found = resolve_weights(args.name, args.revision)
    for line in verify_folder(found.folder, found.sha256, found.onnx_sha256):
        print(f"  {line}")
    print(f"{args.name} {found.revision or ''} ({found.source}) -> {found.folder}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    found = resolve_weights(args.path, args.revision)
    print(f"{found.folder} ({found.source})")
    for line in verify_folder(found.folder, found.sha256, found.onnx_sha256):
        print(f"  {line}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``weights`` with its ``list``, ``download`` and ``verify`` actions."""
    p = subparsers.add_parser("weights", help="list, download or verify model weights",
                              description="List the registered model weights, download them or check their "
                                          f"files. Checkout weights folder: {weights_dir()}.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the registered weights (name, tag, Hub repo) and where each is on this "
                                    "machine: the checkout's weights/, the Hugging Face cache, or not downloaded")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    ls.set_defaults(func=_list)
    dl = sub.add_parser("download", help="fetch weights into the Hugging Face cache (unless present) and check them",
                        description="Find NAME as the model loaders do (a local folder, the checkout's "
                                    "weights/, the Hugging Face cache, then the Hub: downloaded once into "
                                    "the cache) and check the sha256 of its files.")
    dl.add_argument("name", help="registered name (see 'ionmorph weights list') or Hub repo id org/name")
    dl.add_argument("--revision", help="revision tag (default: the registry's default)")
    dl.set_defaults(func=_download)
    vf = sub.add_parser("verify", help="check the sha256 of a weights folder's files",
                        description="Check model.safetensors (and model.onnx) against the registry and the hash "
                                    "recorded in config.json at save time; exit status 2 on a mismatch.")
    vf.add_argument("path", help="weights folder, registered name or Hub repo id")
    vf.add_argument("--revision", help="revision tag of a registered name")
    vf.set_defaults(func=_verify)

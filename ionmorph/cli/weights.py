"""``ionmorph weights list | download NAME | verify PATH | import PATH | export NAME OUT.zip``: weights and their files."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import WeightsError
from ..models.hub import (CONFIG_FILE, ONNX_FILE, WEIGHTS_FILE, _read_config, load_registry, local_copy,
                           recorded_onnx_sha256, recorded_sha256, registry_path, resolve_weights, sha256_file,
                           verify_sha256, weights_dir)
from ..models.model_config import FAMILY
from ..models.onnx_model import cached_graph, graph_cache_path, graph_record
from ..models.transfer import export_weights, import_weights


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
              + (f"local: {where} {r['folder']}" if where else "not on this machine ('ionmorph weights download' or 'ionmorph weights import')"))
    return 0


def verify_folder(folder: Path, registry_sha256: str | None = None, registry_onnx_sha256: str | None = None) -> list[str]:
    """Check a weights folder's files against the registry and config.json; returns what was checked.

    model.onnx, when the folder has one, is checked against the registry and the hash config.json's
    ``onnx`` block records; an IonMorphNet folder without one reports the graph exported from it
    into the cache (checked against the hash recorded when it was exported), or that it is exported
    on first use.

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
            checked.extend(_cached_graph_lines(folder, registry_onnx_sha256))
            continue
        sha = verify_sha256(folder, expected, filename)
        against = [s for s, h in (("registry", expected), (CONFIG_FILE, recorded_sha256(folder, filename))) if h]
        checked.append(f"{filename} sha256 {sha[:16]}... " + (f"matches the {' and '.join(against)}" if against
                                                             else "(no recorded hash to compare)"))
    return checked


def _cached_graph_lines(folder: Path, published: str | None) -> list[str]:
    """What the graph cache holds for an IonMorphNet folder without model.onnx (nothing for other families)."""
    if _read_config(folder).get("family") != FAMILY:
        return []
    path = graph_cache_path(folder)
    record = graph_record(path)
    if not path.is_file() or record is None:
        return [f"{ONNX_FILE} not exported on this machine yet (exported into {path.parent} and checked on first CPU use)"]
    sha = sha256_file(path)
    if sha != record["sha256"]:
        raise WeightsError(f"{path}: sha256 mismatch: exported as {record['sha256']}, the file has {sha}; "
                           "the cached ONNX graph was changed or corrupted (delete it to export it again)")
    published = published or recorded_onnx_sha256(folder, sha256_file(folder / WEIGHTS_FILE))
    how = ("equals the published graph's" if published == sha else
           f"checked against eager fp32 when exported (max diff {record.get('max_abs_prob_diff', float('nan')):.1e})")
    return [f"{ONNX_FILE} exported into the cache {path}: sha256 {sha[:16]}... {how}"]


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


def _import(args: argparse.Namespace) -> int:
    for imported in import_weights(args.path):
        print(f"{imported.name} {imported.tag} -> {imported.snapshot}")
        for line in imported.checked:
            print(f"  {line}")
        config = _read_config(imported.snapshot)
        if config.get("family") == FAMILY and not args.no_onnx and ONNX_FILE not in imported.files:
            published = (load_registry()["models"][imported.name]["revisions"][imported.tag].get("onnx_sha256")
                         or recorded_onnx_sha256(imported.snapshot, imported.files[WEIGHTS_FILE]))
            cached_graph(imported.snapshot, published)
            print(f"  {_cached_graph_lines(imported.snapshot, published)[0]}")
        print(f"  found offline in the Hugging Face cache: {imported.resolves_to}")
    return 0


def _export(args: argparse.Namespace) -> int:
    out = export_weights(args.name, args.out, args.revision, force=args.force)
    print(f"{args.name} -> {out} ({out.stat().st_size / 2**20:.1f} MiB); on the other machine: "
          f"ionmorph weights import {out.name}")
    return 0


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add ``weights`` with its ``list``, ``download``, ``verify``, ``import`` and ``export`` actions."""
    p = subparsers.add_parser("weights", help="list, download, verify, import or export model weights",
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
    im = sub.add_parser("import", help="place a weights folder or zip into the Hugging Face cache (no network)",
                        description="Check a weights folder, or a zip of one ('ionmorph weights export'), against "
                                    "the registry (the sha256 of model.safetensors names the version) and place "
                                    "it in the Hugging Face cache layout, so every later call finds it offline. "
                                    "For IonMorphNet the ONNX graph is then exported and checked once.")
    im.add_argument("path", help="weights folder or .zip")
    im.add_argument("--no-onnx", action="store_true",
                    help="do not export the ONNX graph now (it is exported on first CPU use)")
    im.set_defaults(func=_import)
    ex = sub.add_parser("export", help="write registered weights as a zip for 'ionmorph weights import'",
                        description="Write a weights version (config.json, model.safetensors, README.md), checked "
                                    "first, as a zip that 'ionmorph weights import' takes on a machine without it.")
    ex.add_argument("name", help="registered name, weights folder or Hub repo id")
    ex.add_argument("out", help="the zip to write (OUT.zip)")
    ex.add_argument("--revision", help="revision tag (default: the registry's default)")
    ex.add_argument("--force", action="store_true", help="replace an existing OUT.zip")
    ex.set_defaults(func=_export)

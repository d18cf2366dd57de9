"""Versioned weights for every ionmorph model family, in Hugging Face Hub layout.

A weights folder holds ``config.json`` (the model's :meth:`PretrainedMixin.hub_config` plus a
top-level ``family`` and, since saving records it, ``sha256``: ``{"model.safetensors": <hex>}``),
``model.safetensors`` and ``README.md`` (the model card). An IonMorphNet config.json also records,
in its ``onnx`` block, the sha256 of the ONNX graph exported from the safetensors; the graph
itself is exported into the user cache on first use (:mod:`ionmorph.models.onnx_model`), and only
folders published before v0.5 hold it as ``model.onnx``.

The registry ``ionmorph/models/registry.json`` ships inside the package (a ``registry.json`` in
``$IONMORPH_WEIGHTS_DIR`` replaces it, for a private model zoo; without one, that folder is
searched for the packaged registry's folders, e.g. a checkout's ``weights/``). It maps each
published name and revision tag to the Hub ``repo_id``, the Hub ``revision`` (the tag, or a commit
id), the folder under the checkout's ``weights/`` and the sha256 of ``model.safetensors`` (and
``onnx_sha256`` of the graph). Adding a version is one entry under ``revisions`` (plus ``default``
when it becomes the default): :func:`register_weights` writes it. Without the Hub, weights move
between machines with :mod:`ionmorph.models.transfer` (``ionmorph weights export`` / ``import``).

A name given to :meth:`PretrainedMixin.from_pretrained` resolves, in order, to

1. an existing local folder;
2. for a registered name: its folder under :func:`weights_dir` (the checkout's ``weights/``,
   present in a git checkout, absent after ``pip install``; or ``$IONMORPH_WEIGHTS_DIR``);
3. the Hugging Face cache (``HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``);
4. ``snapshot_download`` from the Hub (never when ``HF_HUB_OFFLINE`` is set);

and a plain ``org/name`` goes to 3 and 4. A file's sha256 is checked before the file is used,
against the registry when it lists the file and against the hash recorded in config.json. When
nothing is found, the error is one line naming ``ionmorph weights export`` / ``import`` and
``--model FOLDER`` (:func:`transfer_hint`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import WeightsError
from ..fileio import atomic_dir, atomic_write_text, check_output

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ONNX_FILE = "model.onnx"
CARD_FILE = "README.md"
REGISTRY_FILE = "registry.json"
#: The registry shipped with the package.
PACKAGE_REGISTRY = Path(__file__).with_name(REGISTRY_FILE)
#: config.json key of the hashes recorded at save time: ``{filename: sha256}``.
HASH_KEY = "sha256"
#: Files of a weights folder; a non-empty folder holding anything else is never overwritten.
FOLDER_FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, ONNX_FILE})
_DTYPES = ("float16", "float32", None)


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a name resolved to: the folder, how it was found, and the registry's hashes if known.

    ``source`` is ``"local"``, ``"checkout"``, ``"hf-cache"`` or ``"hub"``.
    """

    folder: Path
    source: str
    name: str
    revision: str | None = None
    sha256: str | None = None
    onnx_sha256: str | None = None


# ----------------------------------------------------------------------------- registry
def weights_dir() -> Path:
    """Folders of registered weights: ``$IONMORPH_WEIGHTS_DIR``, else the checkout's ``weights/``.

    After ``pip install`` the checkout folder does not exist; names then resolve through the
    Hugging Face cache and Hub.
    """
    env = os.environ.get("IONMORPH_WEIGHTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "weights"


def registry_path() -> Path:
    """The registry in use: ``$IONMORPH_WEIGHTS_DIR/registry.json`` when that file exists, else the packaged one.

    So ``IONMORPH_WEIGHTS_DIR`` may point at a checkout's ``weights/`` (which holds the folders the
    packaged registry names, but no registry.json) as well as at a private model zoo.
    """
    env = os.environ.get("IONMORPH_WEIGHTS_DIR")
    if env and (Path(env) / REGISTRY_FILE).is_file():
        return Path(env) / REGISTRY_FILE
    return PACKAGE_REGISTRY


def _registry_to_write(directory: str | os.PathLike | None) -> Path:
    """Where :func:`register_weights` writes: ``directory``'s or ``$IONMORPH_WEIGHTS_DIR``'s registry.json, else the packaged one."""
    root = directory or os.environ.get("IONMORPH_WEIGHTS_DIR")
    return Path(root) / REGISTRY_FILE if root else PACKAGE_REGISTRY


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The registry at ``path`` (default :func:`registry_path`); empty when there is none."""
    path = Path(path or registry_path())
    if not path.is_file():
        return {"format": 1, "models": {}}
    try:
        reg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(reg, dict) or not isinstance(reg.get("models"), dict):
        raise WeightsError(f"{path}: expected an object with a 'models' mapping")
    return reg


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def recorded_sha256(folder: Path, filename: str = WEIGHTS_FILE) -> str | None:
    """The sha256 of ``filename`` that config.json recorded (None if none).

    model.safetensors: the ``sha256`` block written when the folder was saved; model.onnx: the
    ``onnx`` block written when its graph was exported and checked (:func:`ionmorph.models.onnx_model.add_onnx`).
    """
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        hashes = config.get(HASH_KEY)
        onnx = config.get("onnx")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(hashes, dict) and hashes.get(filename):
        return hashes[filename]
    if filename == ONNX_FILE and isinstance(onnx, dict):
        return onnx.get("sha256")
    return None


def recorded_onnx_sha256(folder: Path, weights_sha256: str) -> str | None:
    """The sha256 config.json's ``onnx`` block records for the graph of ``weights_sha256`` (None if it records another)."""
    try:
        onnx = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("onnx")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(onnx, dict) and onnx.get("weights_sha256") == weights_sha256:
        return onnx.get("sha256")
    return None


def verify_sha256(folder: Path, expected: str | None, filename: str = WEIGHTS_FILE) -> str:
    """The sha256 of ``folder / filename``, checked against ``expected`` (the registry's) and config.json's.

    Raises
    ------
    WeightsError
        A hash differs (the message names the file, where the expected hash comes from, and both hashes).
    """
    path = folder / filename
    actual = sha256_file(path)
    for source, want in (("the registry", expected), (f"its {CONFIG_FILE}", recorded_sha256(folder, filename))):
        if want is not None and actual != want:
            raise WeightsError(f"{path}: sha256 mismatch: {source} expects {want}, the file has {actual}; "
                               "the weights file was changed or corrupted")
    return actual


def register_weights(name: str, tag: str, folder: str | os.PathLike, *, repo_id: str | None = None,
                     default: bool = True, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Record ``folder`` (under the weights directory) as revision ``tag`` of ``name``, atomically.

    Parameters
    ----------
    name, tag : str
        Published name (e.g. ``"ionmorphnet-convnextv2-tiny"``) and revision tag (``"v0.3.1"``);
        the tag is also the Hub revision of the entry.
    folder : path-like
        A weights folder inside the weights directory; its ``model.safetensors`` is hashed, and the
        graph hash its config.json's ``onnx`` block records for these safetensors (or, in a folder
        that still ships one, its ``model.onnx``) becomes ``onnx_sha256``.
    repo_id : str, optional
        Hub repository of the name (kept from the existing entry when omitted).
    default : bool
        Make ``tag`` the default revision of ``name``.

    Other revisions of ``name`` recorded for the same folder are removed: the folder now holds
    these weights, so their hashes could only fail.
    directory : path-like, optional
        Weights directory with its own registry.json (default: :func:`weights_dir` and
        :func:`registry_path`).

    Returns
    -------
    dict
        The registry entry of ``name``.
    """
    root = Path(directory or weights_dir()).resolve()
    reg_path = _registry_to_write(directory)
    folder = Path(folder).resolve()
    _check_folder(folder)
    try:
        rel = folder.relative_to(root)
    except ValueError:
        raise WeightsError(f"{folder}: not inside the weights directory {root}; copy it there first") from None
    family = _read_config(folder).get("family")
    reg = load_registry(reg_path)
    entry = reg["models"].setdefault(name, {"family": family, "repo_id": repo_id, "default": None, "revisions": {}})
    if repo_id is not None:
        entry["repo_id"] = repo_id
    entry["family"] = family
    revisions = entry.setdefault("revisions", {})
    for old in [t for t, rec in revisions.items() if rec.get("folder") == rel.as_posix() and t != tag]:
        del revisions[old]                    # that folder now holds these weights; old tags live on the Hub / in git
    sha = sha256_file(folder / WEIGHTS_FILE)
    revisions[tag] = {"folder": rel.as_posix(), "revision": tag, "sha256": sha}
    onnx_sha = sha256_file(folder / ONNX_FILE) if (folder / ONNX_FILE).is_file() else recorded_onnx_sha256(folder, sha)
    if onnx_sha:
        revisions[tag]["onnx_sha256"] = onnx_sha
    if default or not entry.get("default"):
        entry["default"] = tag
    atomic_write_text(reg_path, json.dumps(reg, indent=2) + "\n")
    return entry


# ----------------------------------------------------------------------------- resolution
def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _hf_cache_dir() -> str | None:
    """The Hub cache from the environment at call time (``HF_HUB_CACHE``, else ``$HF_HOME/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def hf_cache_root() -> Path:
    """The Hugging Face Hub cache folder in use (:func:`_hf_cache_dir`, else huggingface_hub's default)."""
    env = _hf_cache_dir()
    if env:
        return Path(env)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def transfer_hint(name: str) -> str:
    """How to get weights onto a machine that cannot download them: the commands and ``--model FOLDER``."""
    return (f"on a machine that has them run 'ionmorph weights export {name} WEIGHTS.zip', then here "
            "'ionmorph weights import WEIGHTS.zip' (or give a weights folder with --model FOLDER)")


def _one_line(exc: BaseException, limit: int = 160) -> str:
    """``Type: first line of the message`` of an exception, at most ``limit`` characters."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _from_hub(repo_id: str, revision: str | None, local_only: bool) -> Path:
    """The weights files of ``repo_id`` at ``revision``: from the HF cache, or downloaded into it."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, cache_dir=_hf_cache_dir(),
                                  local_files_only=local_only, allow_patterns=sorted(FOLDER_FILES)))


def _cache_misses() -> tuple[type[BaseException], ...]:
    """What ``snapshot_download(local_files_only=True)`` raises when the HF cache lacks the files."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    return LocalEntryNotFoundError, OSError, ValueError


def _checkout_copy(rec: dict[str, Any]) -> Path | None:
    """The checkout's folder of a registry revision record, when it holds the weights file."""
    local = weights_dir() / rec["folder"]
    return local if (local / WEIGHTS_FILE).is_file() else None


def local_copy(name: str, tag: str) -> tuple[str, Path] | None:
    """Where revision ``tag`` of the registered ``name`` is on this machine, without downloading.

    Returns
    -------
    (str, pathlib.Path) or None
        ``("checkout", folder)`` or ``("hf-cache", snapshot folder)``; None when it is not downloaded.
    """
    entry = load_registry()["models"][name]
    rec = entry["revisions"][tag]
    folder = _checkout_copy(rec)
    if folder is not None:
        return "checkout", folder
    if entry.get("repo_id"):
        try:
            return "hf-cache", _from_hub(entry["repo_id"], rec.get("revision") or tag, local_only=True)
        except _cache_misses():
            pass
    return None


def fetch_from_hub(repo_id: str, revision: str | None = None, name: str | None = None) -> tuple[Path, str]:
    """The folder of ``repo_id`` at ``revision``: the HF cache first, then a download (unless offline).

    Parameters
    ----------
    repo_id, revision : str
        Hub repository and revision (None: main).
    name : str, optional
        The registered name asked for (named in the error; default ``repo_id``).

    Returns
    -------
    (pathlib.Path, str)
        The snapshot folder and ``"hf-cache"`` or ``"hub"``.

    Raises
    ------
    WeightsError
        Not in the cache and offline (``HF_HUB_OFFLINE``), or the Hub cannot provide it: one line
        naming the cache, why the Hub was not used, and :func:`transfer_hint`.
    """
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return _from_hub(repo_id, revision, local_only=True), "hf-cache"
    except _cache_misses():
        pass
    where = f"weights {repo_id!r} (revision {revision or 'main'}) not found in the local Hugging Face cache " \
            f"{hf_cache_root()}"
    if _env_flag("HF_HUB_OFFLINE"):
        raise WeightsError(f"{where} (HF_HUB_OFFLINE is set, so the Hub was not asked); "
                           f"{transfer_hint(name or repo_id)}") from None
    try:
        return _from_hub(repo_id, revision, local_only=False), "hub"
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise WeightsError(f"{where} nor on the Hugging Face Hub ({_one_line(exc)}); "
                           f"{transfer_hint(name or repo_id)}") from None


def resolve_weights(name_or_path: str | os.PathLike, revision: str | None = None) -> ResolvedWeights:
    """Find the weights folder of a local path, a registered name or a Hub repo id (module docs).

    Raises
    ------
    WeightsError
        Nothing found (the message lists what was tried) or an unknown revision.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return ResolvedWeights(path, "local", text, revision)
    reg = load_registry()
    entry = reg["models"].get(text)
    if entry is not None:
        revisions = entry.get("revisions") or {}
        tag = revision or entry.get("default")
        if tag not in revisions:
            if revisions:
                raise WeightsError(f"{text!r} has no revision {tag!r} in {registry_path()}; "
                                   f"known: {', '.join(sorted(revisions))}")
            raise WeightsError(f"{text!r} is registered in {registry_path()} but has no published revision yet")
        rec = revisions[tag]
        hashes = {"sha256": rec.get("sha256"), "onnx_sha256": rec.get("onnx_sha256")}
        local = _checkout_copy(rec)
        if local is not None:
            return ResolvedWeights(local, "checkout", text, tag, **hashes)
        if not entry.get("repo_id"):
            raise WeightsError(f"{weights_dir() / rec['folder']}: registered folder of {text!r} {tag} is missing "
                               f"and no repo_id is known; {transfer_hint(text)}")
        folder, source = fetch_from_hub(entry["repo_id"], rec.get("revision") or tag, name=text)
        return ResolvedWeights(folder, source, text, tag, **hashes)
    if text.count("/") == 1 and not text.startswith((".", "/", "~")) and not path.exists():
        folder, source = fetch_from_hub(text, revision)
        return ResolvedWeights(folder, source, text, revision)
    raise WeightsError(f"weights {text!r} not found: not a local folder, not a name in "
                       f"{registry_path()} (known: {', '.join(sorted(reg['models'])) or 'none'}), "
                       "and not a Hub repo id of the form 'org/name' (see 'ionmorph weights list')")


# ----------------------------------------------------------------------------- folders
def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WeightsError(f"{path}: missing; {folder} is not a weights folder") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise WeightsError(f"{path}: expected a JSON object")
    return cfg


def _check_folder(folder: Path) -> None:
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise WeightsError(f"{folder / name}: missing; {folder} is not a weights folder")


def is_weights_folder(path: Path, family: str | None = None) -> bool:
    """True for a folder holding only weights-folder files, with a config.json of ``family`` (any if None)."""
    if not path.is_dir() or any(p.name not in FOLDER_FILES for p in path.iterdir()):
        return False
    try:
        found = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8")).get("family")
    except (OSError, ValueError, AttributeError):
        return False
    return found is not None and (family is None or found == family)


def push_to_hub(folder: str | os.PathLike, repo_id: str, tag: str, token: str | None = None,
                private: bool = False) -> str:
    """Upload a weights folder to ``repo_id`` and tag the commit ``tag``; returns the commit id."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    _check_folder(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                             allow_patterns=sorted(f for f in FOLDER_FILES if (folder / f).is_file()),
                             commit_message=f"ionmorph weights {tag}")
    api.create_tag(repo_id, tag=tag, revision=info.oid, repo_type="model")
    return info.oid


# ----------------------------------------------------------------------------- mixin
def default_card(config: dict[str, Any]) -> str:
    """A minimal model card (YAML metadata and a pointer to the project) for a folder without one."""
    family = config.get("family", "model")
    return (f"---\nlibrary_name: ionmorph\nlicense: apache-2.0\ntags:\n- mass-spectrometry-imaging\n- {family}\n"
            f"---\n\n# {family} weights\n\nSaved by ionmorph. Load with "
            f"`from_pretrained(\"path/to/this/folder\")`. No evaluation is recorded for these weights.\n")


class PretrainedMixin:
    """Save and load a ``torch.nn.Module`` as a Hub-layout weights folder.

    Subclasses set ``family`` and implement :meth:`hub_config` and :meth:`_from_hub_config`;
    :meth:`_weights_module` chooses the module whose state dict is stored (default: the model) and
    :meth:`_default_card` the card written when none is given.
    """

    family: ClassVar[str]

    def hub_config(self) -> dict[str, Any]:
        """The full config.json content (a ``family`` key is added on saving)."""
        raise NotImplementedError

    @classmethod
    def _from_hub_config(cls, config: dict[str, Any]):
        """Build an untrained model from a config.json dict."""
        raise NotImplementedError

    def _weights_module(self):
        """The module whose state dict is stored in model.safetensors."""
        return self

    def _default_card(self, config: dict[str, Any]) -> str:
        """README.md written when :meth:`save_pretrained` gets no card."""
        return default_card(config)

    def save_pretrained(self, out_dir: str | os.PathLike, card: str | None = None,
                        dtype: str | None = "float16", overwrite: bool = False) -> Path:
        """Write config.json, model.safetensors and README.md to ``out_dir`` atomically.

        config.json records the sha256 of model.safetensors (key ``sha256``), which
        :meth:`from_pretrained` checks.

        Parameters
        ----------
        out_dir : path-like
            Destination folder. An earlier weights folder of the same family (this method's own
            output) is replaced; any other existing, non-empty path only with ``overwrite``.
        card : str, optional
            Model card text (README.md); default :func:`default_card`.
        dtype : {"float16", "float32", None}
            Storage type of floating-point tensors (None keeps them as they are).
        overwrite : bool
            Replace whatever is at ``out_dir``.

        Returns
        -------
        pathlib.Path
            ``out_dir``.
        """
        import torch
        from safetensors.torch import save_file

        if dtype not in _DTYPES:
            raise WeightsError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
        out = check_output(out_dir, force=overwrite, folder=True,
                           owned=lambda p: is_weights_folder(p, self.family))
        config = {**self.hub_config(), "family": self.family}
        tensors = {}
        for key, value in self._weights_module().state_dict().items():
            t = value.detach()
            if dtype is not None and t.is_floating_point():
                t = t.to(getattr(torch, dtype))
                if not bool(torch.isfinite(t).all()):
                    raise WeightsError(f"{key}: values overflow {dtype}; save with dtype='float32'")
            tensors[key] = t.cpu().contiguous().clone()
        with atomic_dir(out) as tmp:
            save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt", "family": self.family})
            config[HASH_KEY] = {WEIGHTS_FILE: sha256_file(tmp / WEIGHTS_FILE)}
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
            (tmp / CARD_FILE).write_text(card if card is not None else self._default_card(config), encoding="utf-8")
        return out

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, revision: str | None = None,
                        device: Any = None, verify: bool = True):
        """Load weights by local folder, registered name or Hub repo id (see the module docs).

        Parameters
        ----------
        name_or_path : str or path-like
            Folder, registered name (``"ionmorphnet-convnextv2-tiny"``) or Hub ``"org/name"``.
        revision : str, optional
            Revision tag (default: the registry's default tag, or the Hub's main branch).
        device : str or torch.device, optional
            Where to put the model (default CPU).
        verify : bool
            Check the sha256 of model.safetensors against the registry (when it lists the file)
            and against the hash config.json recorded at save time (when it has one).

        Returns
        -------
        The model in eval mode, with ``weights_source`` (a :class:`ResolvedWeights`) set.

        Raises
        ------
        WeightsError
            Not found, hash mismatch, wrong family, missing/unexpected keys or wrong shapes.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        found = resolve_weights(name_or_path, revision)
        _check_folder(found.folder)
        if verify:
            verify_sha256(found.folder, found.sha256)
        config = _read_config(found.folder)
        if config.get("family") != cls.family:
            raise WeightsError(f"{found.folder / CONFIG_FILE}: holds {config.get('family')!r} weights, "
                               f"not {cls.family!r}")
        try:
            model = cls._from_hub_config(config)
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{found.folder / CONFIG_FILE}: cannot build the model: {type(exc).__name__}: {exc}") from None
        try:
            state = load_file(str(found.folder / WEIGHTS_FILE))
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"{found.folder / WEIGHTS_FILE}: unreadable safetensors file ({exc})") from None
        load_strict(model._weights_module(), state, found.folder / WEIGHTS_FILE)
        model.weights_source = found
        model.eval()
        return model.to(device) if device is not None else model


def load_strict(module, state: dict[str, Any], path: Path) -> None:
    """Load ``state`` into ``module`` requiring the same keys and shapes (values are cast to the module's dtypes)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    for what, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes)):
        if items:
            problems.append(f"{len(items)} {what} ({', '.join(items[:5])}{', ...' if len(items) > 5 else ''})")
    if problems:
        raise WeightsError(f"{path}: does not match the model built from config.json: {'; '.join(problems)}")
    module.load_state_dict(state, strict=True)

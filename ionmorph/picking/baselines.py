"""Classic peak-picking baselines (SPEC 7): one informative score per candidate, higher = better.

Every scorer takes the candidates' ion-image stack ``images`` (n, H, W) and the raster ``mask``
(bool (H, W), True = measured; None = all) and returns float64 scores (n,); :func:`rank` turns
scores into a ranking. The spectral baseline scores candidate m/z against the mean spectrum.

- :func:`random_scores`: the floor (seeded);
- :func:`mean_intensity`: top mean intensity over the measured pixels;
- :func:`spectrum_snr`: signal-to-noise in the mean spectrum, no spatial information;
- :func:`spatial_chaos`: ``1 - chaos`` after Alexandrov & Bartels (2013);
- :func:`morans_i`: Moran's I on the measured-pixel grid graph;
- :func:`s3pl`: the S3PL attention autoencoder, re-implemented in torch on CPU.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .candidates import baseline_correct, noise_stats
from ..errors import InputError
from ..models.preprocessing import PreprocessConfig, normalise_measured

def _stack(images: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim != 3:
        raise InputError(f"ion images must be an (n, H, W) stack, got shape {arr.shape}")
    m = np.ones(arr.shape[1:], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if m.shape != arr.shape[1:]:
        raise InputError(f"mask shape {m.shape} does not match the ion images' raster {arr.shape[1:]}")
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0), m


def rank(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Candidate indices from the highest score to the lowest (stable; NaN last)."""
    s = np.asarray(scores, dtype=np.float64)
    return np.argsort(-np.where(np.isnan(s), -np.inf, s), kind="stable")


def random_scores(images: np.ndarray, mask: np.ndarray | None = None, *, seed: int = 0) -> np.ndarray:
    """Uniform random scores, reproducible from ``seed``."""
    arr, _ = _stack(images, mask)
    return np.random.default_rng(seed).random(arr.shape[0])


def mean_intensity(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean intensity over the measured pixels."""
    arr, m = _stack(images, mask)
    return arr[:, m].mean(axis=1, dtype=np.float64) if m.any() else np.zeros(arr.shape[0])


def spectrum_snr(candidate_mz: np.ndarray, spectrum_mz: np.ndarray, spectrum_intensity: np.ndarray,
                 *, ppm: float = 10.0, baseline_window: int = 101) -> np.ndarray:
    """Signal-to-noise of each candidate in the mean spectrum (MALDIquant-style, no spatial info).

    The spectrum is baseline-corrected and its noise estimated as in :mod:`ionmorph.picking.candidates`;
    a candidate's score is the highest corrected point within +/- ``ppm`` (the nearest point when
    the window holds none), minus the noise floor, over the noise level.
    """
    mz = np.asarray(spectrum_mz, dtype=np.float64)
    cand = np.asarray(candidate_mz, dtype=np.float64)
    if mz.ndim != 1 or mz.shape != np.shape(spectrum_intensity) or mz.size == 0:
        raise InputError("mean spectrum m/z and intensity must be non-empty 1D arrays of equal length")
    corrected = baseline_correct(np.nan_to_num(np.asarray(spectrum_intensity, np.float64)), baseline_window)
    floor, noise = noise_stats(corrected)
    lo = np.searchsorted(mz, cand * (1 - ppm * 1e-6), side="left")
    hi = np.searchsorted(mz, cand * (1 + ppm * 1e-6), side="right")
    nearest = np.clip(np.searchsorted(mz, cand), 0, mz.size - 1)
    left = np.clip(nearest - 1, 0, mz.size - 1)
    nearest = np.where(np.abs(mz[left] - cand) < np.abs(mz[nearest] - cand), left, nearest)
    empty = hi <= lo
    lo, hi = np.where(empty, nearest, lo), np.where(empty, nearest + 1, hi)
    if cand.size == 0:
        return np.zeros(0)
    # max over each [lo, hi): reduceat on interleaved bounds, a sentinel keeps hi in range
    padded = np.append(corrected, -np.inf)
    top = np.maximum.reduceat(padded, np.column_stack([lo, hi]).ravel())[::2]
    return (top - floor) / (noise if noise > 0 else 1.0)


def _count_components_per_slice(binary: np.ndarray, structure: np.ndarray) -> np.ndarray:
    """Connected components of every 2D slice of a (k, H, W) boolean array, in one labelling.

    Labels are assigned in raster order and ``structure`` never links slices, so each slice's
    labels form one contiguous range and its count is the rise of the running maximum label.
    """
    from scipy import ndimage

    labels, _ = ndimage.label(binary, structure=structure[None] * np.array([0, 1, 0])[:, None, None])
    top = np.maximum.accumulate(labels.reshape(len(labels), -1).max(axis=1))
    return np.diff(np.concatenate([[0], top]))


def spatial_chaos(images: np.ndarray, mask: np.ndarray | None = None, *, n_levels: int = 30,
                  block: int = 64) -> np.ndarray:
    """``1 - chaos`` (Alexandrov & Bartels 2013): high for spatially coherent images.

    Each image is hotspot-clipped and scaled to [0, 1] over its measured pixels (the
    :func:`ionmorph.models.preprocessing.preprocess` normalisation, without resizing), thresholded at
    ``n_levels`` evenly spaced levels in (0, 1); each level set gets a small clean-up (binary
    closing with a 3 x 3 cross, restricted to measured pixels, which bridges one-pixel gaps) and
    its 4-connected components are counted. ``chaos = mean count / number of non-zero measured
    pixels``; an image without signal scores 0.
    """
    from scipy import ndimage

    arr, m = _stack(images, mask)
    n = arr.shape[0]
    scores = np.zeros(n)
    if not m.any():
        return scores
    cross = ndimage.generate_binary_structure(2, 1)
    levels = (np.arange(1, n_levels + 1) / (n_levels + 1)).astype(np.float32)
    cfg = PreprocessConfig()
    for start in range(0, n, block):
        full = np.zeros((min(block, n - start),) + m.shape, dtype=np.float32)
        full[:, m] = normalise_measured(arr[start:start + block][:, m], cfg)
        sets = full[:, None] > levels[None, :, None, None]            # (b, L, H, W)
        flat = sets.reshape((-1,) + m.shape)
        closed = ndimage.binary_closing(flat, structure=cross[None] * np.array([0, 1, 0])[:, None, None])
        closed &= m
        counts = _count_components_per_slice(closed, cross).reshape(len(full), n_levels)
        nonzero = (full[:, m] > 0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            chaos = counts.mean(axis=1) / nonzero
        scores[start:start + len(full)] = np.where(nonzero > 0, 1.0 - chaos, 0.0)
    return scores


def morans_i(images: np.ndarray, mask: np.ndarray | None = None, *, neighbours: int = 4) -> np.ndarray:
    """Global Moran's I of each image on the measured-pixel grid graph (4 or 8 neighbours).

    ``I = N / W * sum_ij w_ij z_i z_j / sum_i z_i^2`` with ``z`` the deviations from the measured
    pixels' mean, ``w_ij = 1`` for neighbouring measured pixels and ``W`` the number of ordered
    neighbour pairs; constant images score 0.
    """
    if neighbours not in (4, 8):
        raise InputError(f"neighbours must be 4 or 8, got {neighbours}")
    arr, m = _stack(images, mask)
    z = np.where(m, arr - (arr[:, m].mean(axis=1)[:, None, None] if m.any() else 0), 0.0).astype(np.float64)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if neighbours == 8 else [])
    cross = np.zeros(len(z))
    n_pairs = 0
    h, w = m.shape
    for dy, dx in offsets:  # each undirected pair once; doubled below
        a = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
        b = (slice(dy, h), slice(max(0, dx), w - max(0, -dx)))
        cross += np.einsum("nij,nij->n", z[(slice(None),) + a], z[(slice(None),) + b])
        n_pairs += int((m[a] & m[b]).sum())
    denom = (z * z).sum(axis=(1, 2))
    n = int(m.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        moran = n / max(2 * n_pairs, 1) * (2 * cross) / denom
    return np.where((denom > 0) & (n_pairs > 0), moran, 0.0)


def s3pl(images: np.ndarray, mask: np.ndarray | None = None, *, patch: int = 3, depth: int = 51,
         top: int = 256, epochs: int = 10, batch_size: int = 16, lr: float = 1e-2,
         max_train_pixels: int | None = 512, seed: int = 0, progress: bool = False) -> np.ndarray:
    """S3PL attention autoencoder (SPEC 7), re-implemented in torch on CPU.

    The candidates' images, in m/z order, form the spectral cube. A Conv3d (1 -> 1 channel, kernel
    ``depth`` along m/z with same-padding, ``patch x patch`` spatially) plus sigmoid turns the
    patch around a pixel into an attention weight per m/z; it multiplies the centre spectrum; a
    ConvTranspose3d with the same kernel rebuilds the patch; MSE loss, Adam(lr), ``epochs``
    epochs, mini-batches of ``batch_size``. Every measured pixel then votes for its ``top``
    highest-attention channels; the score is the vote count plus the mean attention in [0, 1)
    as a tie-break, so the k most frequent channels rank first.

    Deviations for CPU speed and small candidate lists (documented choices, not in the paper):
    spectra are TIC-normalised to mean 1 per pixel; training uses at most ``max_train_pixels``
    measured pixels drawn with ``seed`` (all pixels vote); ``top`` is capped at a quarter of the
    candidates so that votes still discriminate when there are fewer than ~1,000 of them.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    arr, m = _stack(images, mask)
    n_ch = arr.shape[0]
    if n_ch == 0 or not m.any():
        return np.zeros(n_ch)
    if patch % 2 != 1 or depth % 2 != 1:
        raise InputError(f"patch ({patch}) and depth ({depth}) must be odd")
    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    tic = arr[:, m].mean(axis=0)
    scale = np.zeros(m.shape, dtype=np.float32)
    scale[m] = np.where(tic > 0, 1.0 / np.maximum(tic, 1e-30), 0.0)
    pad = F.pad(torch.from_numpy(arr * scale[None]), (patch // 2,) * 4)  # (L, H + p - 1, W + p - 1), once
    pixels = np.flatnonzero(m.ravel())

    def patches(idx: np.ndarray) -> torch.Tensor:
        """(b, 1, L, p, p) patches centred on the flat pixel indices ``idx`` (zero padding)."""
        ys, xs = np.divmod(idx, m.shape[1])
        off = np.arange(patch)
        rows = torch.from_numpy(ys[:, None] + off[None])                # (b, p)
        cols = torch.from_numpy(xs[:, None] + off[None])
        out = pad[:, rows[:, :, None], cols[:, None, :]]                # (L, b, p, p)
        return out.permute(1, 0, 2, 3).unsqueeze(1).contiguous()

    enc = torch.nn.Conv3d(1, 1, (depth, patch, patch), padding=(depth // 2, 0, 0))
    dec = torch.nn.ConvTranspose3d(1, 1, (depth, patch, patch), padding=(depth // 2, 0, 0))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=lr)

    def attention(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(enc(x))                                     # (b, 1, L, 1, 1)

    train = pixels if max_train_pixels is None or pixels.size <= max_train_pixels else \
        gen.choice(pixels, max_train_pixels, replace=False)
    centre = patch // 2
    for _ in tqdm(range(epochs), disable=not progress, desc="S3PL training", unit="epoch"):
        order = gen.permutation(train)
        for start in range(0, order.size, batch_size):
            x = patches(order[start:start + batch_size])
            weighted = attention(x) * x[:, :, :, centre:centre + 1, centre:centre + 1]
            loss = F.mse_loss(dec(weighted), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
    k = max(1, min(top, n_ch // 4))
    votes = torch.zeros(n_ch, dtype=torch.float64)
    total = torch.zeros(n_ch, dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, pixels.size, 512):
            att = attention(patches(pixels[start:start + 512]))[:, 0, :, 0, 0]   # (b, L)
            votes += torch.bincount(att.topk(k, dim=1).indices.ravel(), minlength=n_ch).double()
            total += att.double().sum(dim=0)
    return (votes + total / pixels.size * (1 - 1e-9)).numpy()


#: The classic scorers ``pick_peaks(score=NAME)`` and ``ionmorph pick --score NAME`` accept besides the
#: model's scores: name -> ``scorer(images, mask)`` on the raw ion images (spectrum_snr needs the mean
#: spectrum and s3pl a training run, so they stay Python-only).
BASELINE_SCORES = {
    "morans_i": morans_i,
    "spatial_chaos": spatial_chaos,
    "mean_intensity": mean_intensity,
    "random": random_scores,
}

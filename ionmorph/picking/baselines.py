"""Classic peak-picking baselines (SPEC 7): one informative score per candidate, higher = better.

Every scorer takes the candidates' ion-image stack ``images`` (n, H, W) and the raster ``mask``
(bool (H, W), True = measured; None = all) and returns float64 scores (n,); :func:`rank` turns
scores into a ranking. The spectral baseline scores candidate m/z against the mean spectrum.

- :func:`random_scores`: the floor (seeded);
- :func:`mean_intensity`: top mean intensity over the measured pixels;
- :func:`spectrum_snr`: signal-to-noise in the mean spectrum, no spatial information;
- :func:`spatial_chaos`: ``1 - chaos`` after Alexandrov & Bartels (2013);
- :func:`morans_i`: Moran's I on the measured-pixel grid graph;
- :func:`s3pl`: the S3PL attention autoencoder, re-implemented in torch on CPU;
- :func:`sputnik_reference`: SPUTNIK's reference-similarity filter (Pearson r with the TIC image);
- :func:`sputnik_csr`: SPUTNIK's complete-spatial-randomness filter, as a lattice join-count test;
- :func:`connected_area`: a minimum-connected-area filter in the spirit of OpenMS's proposed
  ``PeakPickerMSI``.

The last two binarise each image into *signal pixels* with :func:`signal_pixels` (Otsu's
threshold of the measured pixels after a 99th-percentile clip).
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
    return (arr if np.isfinite(arr).all() else np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)), m


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


def morans_i(images: np.ndarray, mask: np.ndarray | None = None, *, neighbours: int = 4,
             dtype: type = np.float64) -> np.ndarray:
    """Global Moran's I of each image on the measured-pixel grid graph (4 or 8 neighbours).

    ``I = N / W * sum_ij w_ij z_i z_j / sum_i z_i^2`` with ``z`` the deviations from the measured
    pixels' mean, ``w_ij = 1`` for neighbouring measured pixels and ``W`` the number of ordered
    neighbour pairs; constant images score 0. ``dtype`` is that of the deviations and their sums
    (float32 halves the memory traffic, for statistics that need no more than 4 digits).
    """
    if neighbours not in (4, 8):
        raise InputError(f"neighbours must be 4 or 8, got {neighbours}")
    arr, m = _stack(images, mask)
    if m.all():
        z = (arr - arr.mean(axis=(1, 2), dtype=np.float64)[:, None, None].astype(arr.dtype)).astype(dtype, copy=False)
    else:
        z = np.where(m, arr - (arr[:, m].mean(axis=1)[:, None, None] if m.any() else 0), 0.0).astype(dtype, copy=False)
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


def otsu_bins(binned: np.ndarray, n_bins: int) -> np.ndarray:
    """Otsu's threshold of each row of integer bin indices (n, m) in ``[0, n_bins)``.

    Returns the bin index ``t`` (n,) that maximises the between-class variance of the split
    ``bin <= t`` / ``bin > t`` (the first maximum; 0 for a constant row).
    """
    n = binned.shape[0]
    hist = np.bincount((binned + n_bins * np.arange(n)[:, None]).ravel(),
                       minlength=n * n_bins).reshape(n, n_bins).astype(np.float64)
    centres = np.arange(n_bins, dtype=np.float64)
    w0 = np.cumsum(hist, axis=1)
    s0 = np.cumsum(hist * centres, axis=1)
    total, total_s = w0[:, -1:], s0[:, -1:]
    w1 = total - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (s0 / w0 - (total_s - s0) / w1) ** 2
    between = np.where((w0 > 0) & (w1 > 0), between, -1.0)
    return between.argmax(axis=1)


def signal_pixels(images: np.ndarray, mask: np.ndarray | None = None, *, clip_quantile: float = 0.99,
                  n_bins: int = 256) -> np.ndarray:
    """Binarise each image into signal pixels: above Otsu's threshold of its measured pixels.

    Each image's measured intensities are clipped at their ``clip_quantile`` quantile (so that a
    few hotspot pixels do not set the threshold; no clip when that quantile is the minimum),
    histogrammed in ``n_bins`` equal bins between their minimum and the clip, and split at Otsu's
    threshold (:func:`otsu_bins`). Returns bool (n, H, W), False outside the mask and for
    constant images.
    """
    arr, m = _stack(images, mask)
    out = np.zeros(arr.shape, dtype=bool)
    if not m.any() or arr.shape[0] == 0:
        return out
    x = arr[:, m].astype(np.float64)
    lo = x.min(axis=1, keepdims=True)
    hi = np.quantile(x, clip_quantile, axis=1, keepdims=True)
    hi = np.where(hi > lo, hi, x.max(axis=1, keepdims=True))
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        binned = np.where(span > 0, (np.minimum(x, hi) - lo) / span * n_bins, 0.0)
    binned = np.clip(binned.astype(np.int64), 0, n_bins - 1)
    t = otsu_bins(binned, n_bins)
    out[:, m] = (binned > t[:, None]) & (span > 0)
    return out


def sputnik_reference(images: np.ndarray, mask: np.ndarray | None = None, *,
                      reference: str | np.ndarray = "tic") -> np.ndarray:
    """SPUTNIK's reference-similarity filter as a score: Pearson r of each image with a reference.

    After Inglese et al. (Bioinformatics 2018, SPUTNIK): an ion image whose spatial distribution
    resembles the sample's (the reference image) is kept. The score is the Pearson correlation,
    over the measured pixels, of the image with the reference (higher = more sample-like).

    Parameters
    ----------
    images : array (n, H, W)
    mask : bool array (H, W), optional
        Measured pixels (default all).
    reference : {"tic", "roi"} or array (H, W)
        ``"tic"``: the total-ion image, the sum of the stack; ``"roi"``: that image binarised at
        Otsu's threshold (:func:`signal_pixels`), SPUTNIK's sample region; or an image of your own.

    Returns
    -------
    float64 (n,)
        In [-1, 1]; 0 for a constant image or reference.
    """
    arr, m = _stack(images, mask)
    if isinstance(reference, str):
        if reference not in ("tic", "roi"):
            raise InputError(f"reference must be 'tic', 'roi' or an (H, W) image, got {reference!r}")
        ref = arr.sum(axis=0, dtype=np.float64)
        if reference == "roi":
            ref = signal_pixels(ref[None], m)[0].astype(np.float64)
    else:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.shape != m.shape:
            raise InputError(f"reference shape {ref.shape} does not match the ion images' raster {m.shape}")
    if not m.any():
        return np.zeros(arr.shape[0])
    x = arr[:, m].astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    y = ref[m] - ref[m].mean()
    denom = np.sqrt((x * x).sum(axis=1) * (y * y).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (x @ y) / denom
    return np.where(denom > 0, r, 0.0)


def _lattice_edges(m: np.ndarray) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """Slices of the two ends of the horizontal and vertical neighbour pairs of an (H, W) raster."""
    h, w = m.shape
    return [((slice(0, h), slice(0, w - 1)), (slice(0, h), slice(1, w))),
            ((slice(0, h - 1), slice(0, w)), (slice(1, h), slice(0, w)))]


def join_count_null(mask: np.ndarray, n_signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the signal-signal join count under complete spatial randomness.

    ``n_signal`` signal pixels are placed uniformly at random (without replacement) among the
    ``N`` measured pixels of ``mask``; a join is a pair of 4-neighbouring measured pixels. With
    ``A`` joins, ``K = sum_i d_i (d_i - 1)`` (ordered pairs of joins sharing a pixel, ``d_i`` the
    pixel's measured neighbours) and ``p_r = n (n-1) ... (n-r+1) / (N (N-1) ... (N-r+1))``:
    ``E = A p_2`` and ``Var = A p_2 + K p_3 + (A (A - 1) - K) p_4 - E^2`` (exact).
    """
    m = np.asarray(mask, dtype=bool)
    deg = np.zeros(m.shape, dtype=np.float64)
    a = 0.0
    for ea, eb in _lattice_edges(m):
        both = m[ea] & m[eb]
        a += both.sum()
        deg[ea] += both
        deg[eb] += both
    k = float((deg * (deg - 1)).sum())
    big_n = float(m.sum())
    n = np.asarray(n_signal, dtype=np.float64)

    def falling(x: np.ndarray | float, r: int) -> np.ndarray:
        return np.prod([np.asarray(x, dtype=np.float64) - i for i in range(r)], axis=0)

    with np.errstate(divide="ignore", invalid="ignore"):
        p2, p3, p4 = (np.where(falling(big_n, r) > 0, falling(n, r) / falling(big_n, r), 0.0) for r in (2, 3, 4))
    mean = a * p2
    var = a * p2 + k * p3 + (a * (a - 1) - k) * p4 - mean ** 2
    return mean, np.maximum(var, 0.0)


def sputnik_csr(images: np.ndarray, mask: np.ndarray | None = None, *, clip_quantile: float = 0.99) -> np.ndarray:
    """SPUTNIK's complete-spatial-randomness (CSR) filter as a score: higher = more structured.

    After Inglese et al. (Bioinformatics 2018): an ion image is informative when its signal
    pixels are not spread over the sample at random. Each image is binarised
    (:func:`signal_pixels`) and the number of joins between signal pixels (pairs of
    4-neighbouring measured pixels that are both signal) is compared with its exact mean and
    variance when the same number of signal pixels is placed at random among the measured
    pixels (:func:`join_count_null`). The score is the z statistic ``(BB - E) / sd`` of that
    one-sided test: a monotone transform of its p-value, which underflows for clear images.

    SPUTNIK tests the signal pixels' nearest-neighbour distances (Clark & Evans), which assumes
    points in continuous space; on a pixel lattice, where signal pixels are often dense and
    nearest neighbours are one pixel apart, the join count is the exact counterpart. Images with
    fewer than 2 signal pixels, or no non-signal pixel, score 0.
    """
    arr, m = _stack(images, mask)
    sig = signal_pixels(arr, m, clip_quantile=clip_quantile)
    bb = np.zeros(arr.shape[0])
    for ea, eb in _lattice_edges(m):
        bb += (sig[(slice(None),) + ea] & sig[(slice(None),) + eb]).sum(axis=(1, 2))
    n_sig = sig.sum(axis=(1, 2))
    mean, var = join_count_null(m, n_sig)
    ok = (n_sig >= 2) & (n_sig < m.sum()) & (var > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, (bb - mean) / np.sqrt(var), 0.0)


def connected_area(images: np.ndarray, mask: np.ndarray | None = None, *, connectivity: int = 4,
                   clip_quantile: float = 0.99, block: int = 64) -> np.ndarray:
    """Minimum-connected-area filter as a score: the largest signal component's share of the measured pixels.

    In the spirit of OpenMS's proposed ``PeakPickerMSI`` (RFC OpenMS/OpenMS#9433), which grows
    spatial features as connected components of signal pixels and keeps those that reach a
    minimum area: each image is binarised (:func:`signal_pixels`), its connected components are
    labelled, and the score is the area of the largest one over the number of measured pixels (an
    image passes a minimum-area filter when this share reaches the minimum; ranking by it keeps
    the images that pass any such filter first). Speckle and isolated hotspots score near 0; an
    image without signal scores 0.

    ``connectivity`` is 4 by default: noise binarised at Otsu's threshold has 35-50 % signal
    pixels, above the site-percolation threshold of the 8-neighbour lattice (about 0.41) but below
    that of the 4-neighbour one (about 0.59), so with 8 neighbours pure noise forms components
    spanning the raster.
    """
    from scipy import ndimage

    if connectivity not in (4, 8):
        raise InputError(f"connectivity must be 4 or 8, got {connectivity}")
    arr, m = _stack(images, mask)
    n = arr.shape[0]
    scores = np.zeros(n)
    n_measured = int(m.sum())
    if n_measured == 0:
        return scores
    structure = np.zeros((3, 3, 3), dtype=bool)             # connected within a slice, never across
    structure[1] = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    for start in range(0, n, block):
        sig = signal_pixels(arr[start:start + block], m, clip_quantile=clip_quantile)
        labels, n_lab = ndimage.label(sig, structure=structure)
        if n_lab == 0:
            continue
        sizes = np.bincount(labels.ravel(), minlength=n_lab + 1)[1:]
        # labels run in raster order, so each slice's labels are one contiguous range
        top = np.maximum.accumulate(labels.reshape(len(sig), -1).max(axis=1))
        slice_of = np.searchsorted(top, np.arange(1, n_lab + 1), side="left")
        largest = np.zeros(len(sig))
        np.maximum.at(largest, slice_of, sizes)
        scores[start:start + len(sig)] = largest / n_measured
    return scores


#: The classic scorers ``pick_peaks(score=NAME)`` and ``ionmorph pick --score NAME`` accept besides the
#: model's scores: name -> ``scorer(images, mask)`` on the raw ion images (spectrum_snr needs the mean
#: spectrum and s3pl a training run, so they stay Python-only).
BASELINE_SCORES = {
    "morans_i": morans_i,
    "spatial_chaos": spatial_chaos,
    "mean_intensity": mean_intensity,
    "random": random_scores,
    "sputnik_reference": sputnik_reference,
    "sputnik_csr": sputnik_csr,
    "connected_area": connected_area,
}

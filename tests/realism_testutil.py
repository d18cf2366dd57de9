"""Small fake pools for the realism tests: smooth 'real' blobs against 'simulated' noise."""
from __future__ import annotations

import functools

import numpy as np

from ionmorph.evaluation.realism import Stack, build_table, describe_stats, discriminator


def fake_stacks(seed: int = 0):
    """Two 'real' datasets of smooth blobs and four 'simulated' sections of noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :48]
    out = []
    for d, n in (("alpha", 12), ("beta", 4)):
        imgs = np.stack([np.exp(-((yy - rng.uniform(10, 30)) ** 2 + (xx - rng.uniform(10, 38)) ** 2) / 60.0)
                         * 10 + rng.poisson(0.5, yy.shape) for _ in range(n)]).astype(np.float32)
        out.append(Stack("real", d, d, d, imgs, np.ones(yy.shape, bool), np.arange(n, dtype=float)))
    for s in range(4):
        group = f"brain/{'tof' if s % 2 else 'desi'}"
        imgs = rng.poisson(2.0, (8, 40, 48)).astype(np.float32)
        out.append(Stack("sim", "sim", group, f"{group}/{s // 2}", imgs, np.ones(yy.shape, bool),
                         np.arange(8, dtype=float), looks=["structured"] * 4 + ["none"] * 4))
    return out


@functools.cache
def fake_judged():
    """(table, statistics, one-epoch discriminator result) of :func:`fake_stacks`, computed once per session
    (the package tests and the benchmark's report tests share it; treat it as read-only)."""
    t = build_table(fake_stacks())
    return t, describe_stats(t), discriminator(t, epochs=1, seed=0)

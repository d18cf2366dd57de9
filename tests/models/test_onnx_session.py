"""onnxruntime session settings of the torch-free CPU path (memory: benchmarks/results/pick_peaks_speed.md)."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.models.onnx_model import load_onnx, open_session, session_proba
from ionmorph.picking.pick import DEFAULT_MODEL


@pytest.fixture(scope="module")
def session():
    return open_session(load_onnx(DEFAULT_MODEL).graph, threads=1)   # exported once per test session


def test_sessions_skip_memory_pattern_planning_but_keep_the_arena(session):
    opts = session.get_session_options()
    assert opts.enable_mem_pattern is False and opts.enable_cpu_mem_arena is True
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1


def test_batches_of_any_size_give_the_same_probabilities(session):
    size = session.get_inputs()[0].shape[2]
    x = np.random.default_rng(0).random((7, 1, size, size), dtype=np.float32)
    whole = session_proba(session, x, batch_size=7)
    np.testing.assert_allclose(session_proba(session, x, batch_size=3), whole, atol=1e-6)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=1e-5)

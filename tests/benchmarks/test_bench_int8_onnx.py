"""benchmarks/int8_onnx.py: the adopt rule, the fp16 -> fp32 graph rewrite and the agreement numbers."""
from __future__ import annotations

import numpy as np
import pytest

from bench_testutil import load_benchmark

TOL = 1e-3


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("int8_onnx")


@pytest.mark.parametrize("diff, speed, mscf1, adopt", [
    (5e-4, 2.0, None, True),        # within tolerance and faster
    (1e-3, 1.5, None, True),        # the tolerance itself is allowed
    (2e-2, 2.5, None, False),       # outside, mSCF1 arm not measured
    (2e-2, 2.5, False, False),      # outside, mSCF1 changed
    (2e-2, 2.5, True, True),        # outside, but mSCF1 unchanged within noise
    (1e-5, 0.9, True, False),       # never adopt a slower graph
])
def test_verdict_applies_the_issue_rule(bench, diff, speed, mscf1, adopt):
    got, reason = bench.verdict(diff, TOL, speed, mscf1)
    assert got is adopt and reason


def test_plain_fp32_drops_the_casts_and_computes_the_same(bench, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float16)
    graph = helper.make_graph(
        [helper.make_node("Cast", ["w__fp16"], ["w"], to=TensorProto.FLOAT), helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], [numpy_helper.from_array(w, "w__fp16")])
    src, dst = tmp_path / "half.onnx", tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    assert bench.plain_fp32(src, dst) == 1
    plain = onnx.load(str(dst))
    assert [n.op_type for n in plain.graph.node] == ["MatMul"]
    assert [(i.name, i.data_type) for i in plain.graph.initializer] == [("w", TensorProto.FLOAT)]
    x = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    run = lambda p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # noqa: E731
    np.testing.assert_array_equal(run(src), run(dst))


def test_agreement_numbers(bench):
    p_ref = np.array([[0.7, 0.1, 0.2], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], np.float32)
    p = np.array([[0.6, 0.2, 0.2], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4]], np.float32)
    a = bench.agreement(p_ref, p, [0, 2])
    assert a["max_abs_diff"] == pytest.approx(0.4)
    assert a["argmax_agreement"] == pytest.approx(2 / 3)
    assert a["informative_max_abs_diff"] == pytest.approx(0.1)
    assert a["n"] == 3 and -1.0 <= a["informative_spearman"] <= 1.0

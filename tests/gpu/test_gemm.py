"""The host GEMM's refusals: wrong dtypes, shapes, algorithm or overlapping arrays are named
(its results against the oracle are the GPU suite's, tests/gpu/test_suite.py)."""

import numpy as np
import pytest

from oraclenet.gpu.gemm import gemm


def test_bad_arguments_are_named():
    a32, a64 = np.ones((3, 4), np.float32), np.ones((4, 5), np.float64)
    with pytest.raises(TypeError, match=r"one dtype for all: C float32, A float32, B float64"):
        gemm(np.ones((3, 5), np.float32), a32, a64)
    with pytest.raises(ValueError, match=r"shapes do not chain: C \(3, 5\) := op\(A\) \(3, 4\) "
                                         r"op\(B\) \(5, 4\)"):
        gemm(np.ones((3, 5)), np.ones((3, 4)), np.ones((4, 5)), trans_b=True)
    with pytest.raises(ValueError, match="algorithm must be one of naive, shared, regblock"):
        gemm(np.ones((3, 5)), np.ones((3, 4)), np.ones((4, 5)), algorithm="cublas")
    with pytest.raises(TypeError, match="B has dtype int64"):
        gemm(np.ones((3, 5)), np.ones((3, 4)), np.ones((4, 5), np.int64))
    x = np.ones((4, 4))
    with pytest.raises(ValueError, match="C overlaps A or B"):
        gemm(x, x, np.ones((4, 4)))

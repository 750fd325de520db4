"""A third party's own tests. They use oraclenet as a library (assert_gemm), their own `gpu`
package and their own `mpi` marker. Run with the plugin, the battery joins them:

    pytest --oraclenet-gemm student_gemm.py:gemm -v
    pytest --oraclenet-gemm student_gemm.py:gemm_edge_bug     (fails, with the verdict)
"""

import numpy as np
import pytest
from student_gemm import product

import gpu
import oraclenet


def test_my_product_against_the_oracle():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((33, 20)).astype(np.float32)
    B = rng.standard_normal((20, 17)).astype(np.float32)
    oraclenet.assert_gemm(product(A, B), A, B)


def test_my_own_gpu_package_is_mine():
    assert gpu.BACKEND == "the student's own gpu package"


@pytest.mark.mpi
def test_marked_with_my_own_mpi_marker():
    assert product(np.eye(3), np.ones((3, 2))).sum() == 6

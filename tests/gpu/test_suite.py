"""The GPU suite (oraclenet.corpus.gpu_suite), each of its checks a test: the GEMM family,
the planted kernel bugs, the other kernels and the device network against the oracle's
verdicts, in the simulator or on a GPU; and proof that a check fails on a broken kernel."""

import pytest

from oraclenet.corpus import gpu_suite
from oraclenet.corpus.suite import failures, message


@pytest.mark.parametrize("name", list(gpu_suite.checks()))
def test_the_gpu_suite(name):
    found = gpu_suite.run(name)
    assert not failures(found), message(found)


def test_a_check_fails_on_a_kernel_that_drops_a_k_term_and_on_one_that_raises(monkeypatch):
    """Its teeth: the host GEMM replaced by one that leaves out the last term of K (an honest
    check must fail), then by one that raises (a crash is a failed finding, never a pass)."""
    import oraclenet.gpu.gemm as G

    real = G.gemm

    def short_k(C, A, B, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, algorithm="naive"):
        real(C, A[:, :-1] if not trans_a else A[:-1], B[:-1] if not trans_b else B[:, :-1],
             alpha, beta, trans_a, trans_b, algorithm)

    monkeypatch.setattr(G, "gemm", short_k)
    found = gpu_suite.run("gemm/naive/float64/op(A) op(B)")
    assert failures(found) and all("FAIL" in f.text for f in failures(found)), message(found)
    monkeypatch.setattr(G, "gemm", lambda *a, **k: 1 / 0)
    (crash,) = gpu_suite.run("gemm/naive/float64/every alpha and beta")
    assert not crash.ok and "raised ZeroDivisionError" in crash.text

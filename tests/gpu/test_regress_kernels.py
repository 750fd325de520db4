"""The issue's precision regression in a GPU kernel: oraclenet.gpu's shared-memory GEMM with
its float32 inputs rounded to TF32 (a test-only copy, corpus/kernels.py) changes the kernel's
precision fingerprint, which `regress check` reports as a regression; the real kernels
behave like their dtypes."""

import math

import numpy as np
import pytest

from oraclenet.corpus.kernels import tf32_shared
from oraclenet.gpu import gemm_kernels
from oraclenet.regress import baseline, fingerprints


@pytest.fixture(scope="module")
def recorded():
    return fingerprints.kernels()


def test_the_kernels_fingerprints_are_their_dtypes(recorded):
    assert recorded["models"] == {f"kernel {a} {d}": d for a in ("naive", "shared", "regblock")
                                  for d in ("float32", "float64")}
    assert all(f.ok for f in baseline.judge_fingerprints(recorded, recorded))


def test_tf32_inputs_in_the_shared_kernel_are_a_precision_regression(recorded, monkeypatch):
    monkeypatch.setitem(gemm_kernels.KERNELS, "shared", tf32_shared)
    now = fingerprints.kernels()
    assert now["models"]["kernel shared float32"] == "tf32", now
    found = {f.path: f for f in baseline.judge_fingerprints(recorded, now)}
    shared = found["precision of kernel shared float32"]
    assert not shared.ok and shared.text.startswith("behaved like float32 (24.0 bits), "
                                                           "now like tf32"), shared
    assert found["precision of kernel naive float32"].ok


def test_the_gpu_gemm_speed_is_recorded_on_a_gpu_only():
    """In the simulator the speed would mean nothing: a baseline leaves it out. The sampling
    code itself runs here on a small shape (the figure means nothing; it has no probe)."""
    from pathlib import Path

    from oraclenet.gpu.bench import gpu_available
    from oraclenet.regress import session, speed

    recorded = session.speed_work(session.Settings(Path("unused")))
    assert (session.GPU_GEMM in recorded) == gpu_available()
    rate, probe = speed.measure(session._gpu_gemm_work((9, 7, 5)), probe=False)
    assert rate > 0 and probe is None, (rate, probe)


def calls_to_overflow(first: np.ndarray) -> int:
    """How many calls of C := 2 A B + 5 C in place, from the first call's C, it takes C to
    pass float32's largest value (it grows fivefold a call): one more than that."""
    largest = float(np.abs(first).max())
    return math.ceil(math.log(float(np.finfo(np.float32).max) / largest, 5)) + 1


def test_the_gpu_gemm_speed_work_times_calls_on_the_same_finite_c():
    """The speed work repeats C := 2 A B + 5 C as often as its time allows; every timed call
    must start from the same C, or C overflows after about 55 calls and the rate is of
    arithmetic on infinities. More calls than that (in the simulator, a small shape): each
    leaves the same finite C as the first."""
    from oraclenet.regress import session

    work = session._gpu_gemm_work((9, 7, 5))
    work()
    first = work.C.copy_to_host()
    assert np.all(np.isfinite(first))
    for call in range(calls_to_overflow(first)):
        work()
        C = work.C.copy_to_host()
        assert np.all(np.isfinite(C)), f"call {call + 2}: C is no longer finite"
        np.testing.assert_array_equal(C, first, err_msg=f"call {call + 2}")

"""The oracle bench's verdict: best epoch rate over best GEMM rate, against the target (the
timings themselves are benchmarks, never tests; this checks only the arithmetic of the call)."""

from oraclenet.common.shapes import flops_per_image
from oraclenet.reference.bench import verdict


def test_the_ratio_is_best_epoch_over_best_gemm_and_the_medians_are_reported():
    result = verdict(gemm=[70.0, 100.0, 90.0], epochs=[60.0, 80.0, 50.0], target=0.8)
    assert result["ratio"] == 80.0 / 100.0 and result["passed"]
    assert result["ratio_of_medians"] == 60.0 / 90.0
    assert (result["gemm_best"], result["epoch_median"]) == (100.0, 60.0)


def test_an_epoch_below_the_target_fails_even_when_the_gemm_is_slow_elsewhere():
    assert not verdict(gemm=[50.0, 100.0], epochs=[79.0, 79.9], target=0.8)["passed"]


def test_flops_per_image_counts_the_five_products():
    # z1 and dW1: 2 * 784 * H each; z2, dW2 and da1: 2 * 10 * H each
    assert flops_per_image(1000) == 2 * (2 * 784 * 1000) + 3 * (2 * 10 * 1000)

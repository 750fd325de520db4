"""The device-resident network against the oracle: every step of an epoch, from the oracle's
own parameters, within reference/bounds.py's first-order bounds, in float32 and float64."""

import numpy as np
import pytest
from teacher import in_dtype, judge, oracle_walk

from gpu.network import DeviceNetwork
from reference import network
from reference.data import synthetic
from reference.params import init_params

LAM, LR = 1e-2, 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm", ["regblock"])  # the others: test_gemm.py
def test_every_step_of_an_epoch_within_the_bounds(dtype, algorithm):
    data = in_dtype(synthetic(7, seed=5), dtype)  # a batch of 4 and a last partial one of 3
    p0 = init_params(6, 5)
    net = DeviceNetwork(p0, dtype, algorithm)
    X, y = net.to_device(data.images, data.labels)
    for t, start, stop, p in oracle_walk(p0, data, 4, LAM, LR, dtype):
        net.set_params(p)
        J = net.step(X[start:stop], y[start:stop], LAM, LR)
        failed = [f"step {t}: {v}" for v in judge(net.params(), J, p, data, start, stop, LAM,
                                                  LR, dtype).values() if not v.passed]
        assert not failed, "\n".join(failed)
    assert t == 1, "both batches judged"


def test_counts_correct_answers_like_the_oracle():
    data = synthetic(30, seed=6)
    p = init_params(5, 6)
    net = DeviceNetwork(p, np.float64, "shared")
    X_d, y_d = net.to_device(data.images, data.labels)
    assert net.correct(X_d, y_d) == round(network.accuracy(p, data.X, data.labels) * 30)

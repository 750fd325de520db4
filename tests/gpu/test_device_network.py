"""The device-resident network against the oracle: every step of an epoch, from the oracle's
own parameters, within reference/bounds.py's first-order bounds, in float32 and float64."""

import numpy as np
import pytest

from gpu.network import DeviceNetwork
from reference import bounds, network
from reference.data import one_hot, synthetic
from reference.params import Params, init_params

LAM, LR = 1e-2, 0.5


def as_dtype(p: Params, dtype) -> Params:
    """p rounded to dtype (and held in float64), as both implementations will see it."""
    return Params(*(a.astype(dtype).astype(np.float64) for a in p.blocks().values()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm", ["regblock"])  # the others: test_gemm.py
def test_every_step_of_an_epoch_within_the_bounds(dtype, algorithm):
    data = synthetic(7, seed=5)  # a batch of 4 and a last partial one of 3
    images = data.images.astype(dtype).astype(np.float64)
    p = as_dtype(init_params(6, 5), dtype)
    net = DeviceNetwork(p, dtype, algorithm)
    X_d, y_d = net.to_device(images, data.labels)
    for start in range(0, 7, 4):
        stop = min(start + 4, 7)
        X, Y = images[start:stop].T, one_hot(data.labels[start:stop])
        net.set_params(p)
        J = net.step(X_d[start:stop], y_d[start:stop], LAM, LR)
        verdicts = bounds.compare_step(_in_dtype(net.params(), dtype), p, X, Y, LAM, LR)
        verdicts["J"] = bounds.compare_loss(J, p, X, Y, LAM, dtype)
        failed = [str(v) for v in verdicts.values() if not v.passed]
        assert not failed, "\n".join(failed)
        grad = network.backward(p, X, Y, LAM)
        p = as_dtype(Params(*(a - LR * g for a, g in zip(p.blocks().values(),
                                                          grad.blocks().values(),
                                                          strict=True))), dtype)


def _in_dtype(p: Params, dtype) -> Params:
    return Params(*(a.astype(dtype) for a in p.blocks().values()))


def test_counts_correct_answers_like_the_oracle():
    data = synthetic(30, seed=6)
    p = init_params(5, 6)
    net = DeviceNetwork(p, np.float64, "shared")
    X_d, y_d = net.to_device(data.images, data.labels)
    assert net.correct(X_d, y_d) == round(network.accuracy(p, data.X, data.labels) * 30)

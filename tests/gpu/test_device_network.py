"""The device-resident network against the oracle: every step of an epoch, from the oracle's
own parameters, within judge/bounds.py's first-order bounds, in float32 and float64."""

import numpy as np
import pytest

from oraclenet.common.data import synthetic
from oraclenet.common.params import init_params
from oraclenet.gpu.network import DeviceNetwork
from oraclenet.judge import evaluation
from oraclenet.judge.steps import in_dtype, judge, oracle_step, representable
from tests.ratios import passes, record

REG, LR = 1e-2, 0.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm", ["regblock"])  # the others: test_gemm.py
def test_every_step_of_an_epoch_within_the_bounds(dtype, algorithm):
    """Teacher forcing: each step starts from the oracle's trajectory."""
    data = in_dtype(synthetic(7, seed=5), dtype)  # a batch of 4 and a last partial one of 3
    p = representable(init_params(6, 5), dtype)
    net = DeviceNetwork(p, dtype, algorithm)
    X, y = net.load(data.images, data.labels)
    for t, start in enumerate(range(0, 7, 4)):
        stop = min(start + 4, 7)
        net.set_params(p)
        J = net.step(X[start:stop], y[start:stop], REG, LR)
        verdicts = judge(net.params(), J, p, data, start, stop, REG, LR, dtype).values()
        record(verdicts, bug=False)
        failed = [f"step {t}: {v}" for v in verdicts if not v.passed]
        assert not failed, "\n".join(failed)
        p = oracle_step(p, data, start, stop, REG, LR, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_free_running_steps_within_the_bounds(dtype):
    """Free running: the network keeps its state on the device for 4 steps (batches of 4,
    4, 1 and 4 again: a full batch after the last partial one), and each step is judged
    from the parameters it had reached."""
    data = in_dtype(synthetic(9, seed=7), dtype)
    p = representable(init_params(5, 7), dtype)
    net = DeviceNetwork(p, dtype, "naive")
    X, y = net.load(data.images, data.labels)
    for t, start in enumerate([0, 4, 8, 0]):
        stop = min(start + 4, 9)
        J = net.step(X[start:stop], y[start:stop], REG, LR)
        reached = net.params()
        verdicts = judge(reached, J, p, data, start, stop, REG, LR, dtype).values()
        record(verdicts, bug=False)
        failed = [f"step {t}: {v}" for v in verdicts if not v.passed]
        assert not failed, "\n".join(failed)
        p = reached


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_evaluation_path_matches_the_oracles(dtype):
    """What the device trainer evaluates on, its logits and its count of correct answers,
    against the oracle's for the same parameters (judge/evaluation.py)."""
    data = in_dtype(synthetic(30, seed=6), dtype)
    p = representable(init_params(5, 6), dtype)
    net = DeviceNetwork(p, dtype, "shared")
    X_d, y_d = net.load(data.images, data.labels)
    passes(evaluation.compare_data(X_d.copy_to_host(), data.images))
    net.forward(X_d)
    passes(evaluation.compare_logits(net.z2(), p, data.X))
    accuracy = net.correct(X_d, y_d) / len(data)
    passes(evaluation.compare_accuracy(accuracy, p, data.X, data.labels, dtype))

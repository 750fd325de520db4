"""The alpha-beta cost model: its formulas, and the byte counts the trainers must match."""

import pytest

from oraclenet.parallel import costmodel

FREE = costmodel.Machine(alpha=0.0, beta=0.0, rate=1e9, cores=1 << 20)


def test_one_rank_does_not_communicate():
    m = costmodel.Machine(alpha=1e-3, beta=1e-6, rate=1e9, cores=2)
    assert costmodel.allreduce_seconds(m, 1, 10 ** 9) == 0.0
    assert costmodel.step_seconds(m, "data", 1, 100, 50) == 50 * (4 * 784 * 100 + 6000) / 1e9


def test_ring_allreduce_cost():
    m = costmodel.Machine(alpha=2.0, beta=3.0, rate=1.0, cores=1)
    assert costmodel.allreduce_seconds(m, 4, 100) == 2 * 3 * 2.0 + 2 * 3 / 4 * 100 * 3.0


@pytest.mark.parametrize("strategy", ["data", "model"])
def test_free_communication_gives_linear_speedup_up_to_the_work_available(strategy):
    H, B = 12, 8
    limit = costmodel.max_ranks(strategy, H, B)
    for P in (1, 2, 4, 8, 16, 64):
        assert costmodel.speedup(FREE, strategy, P, H, B) == pytest.approx(min(P, limit))


def test_analytic_bytes():
    assert costmodel.step_bytes("data", 1000, 800) == 8 * (795 * 1000 + 11)
    assert costmodel.step_bytes("model", 1000, 800) == 8 * (10 * 800 + 1)


def test_communication_caps_the_speedup():
    m = costmodel.Machine(alpha=2e-6, beta=1 / 12.5e9, rate=30e9, cores=1 << 20)
    data = [costmodel.speedup(m, "data", 2 ** k, 1000, 800) for k in range(11)]
    model = [costmodel.speedup(m, "model", 2 ** k, 1000, 800) for k in range(11)]
    assert max(data) < 64 < max(model) < 1024  # model parallelism moves 1% of the bytes
    assert data[-1] < max(data)  # past the optimum, more ranks only add messages

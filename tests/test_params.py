"""The Params container's walks over its blocks: map (JAX's tree_map) and zip."""

import numpy as np
import pytest

from oraclenet.common.params import Params, init_params


def test_map_applies_f_block_by_block_in_order_across_params():
    p, q = init_params(3, 0), init_params(3, 1)
    seen = []

    def f(a, b):
        seen.append(a.shape)
        return a - 0.5 * b

    r = p.map(f, q)
    assert seen == [(3, 784), (3, 1), (10, 3), (10, 1)]  # W1, b1, W2, b2: a seeded rng's order
    for name, block in r.blocks().items():
        np.testing.assert_array_equal(block, getattr(p, name) - 0.5 * getattr(q, name))


def test_zip_gives_the_blocks_side_by_side_for_an_in_place_update():
    p, g = init_params(2, 0), init_params(2, 1)
    before, kept = p.copy(), p.W1
    for param, dp in p.zip(g):
        param -= 0.25 * dp
    assert p.W1 is kept  # the same arrays, updated in place
    for name, block in p.blocks().items():
        np.testing.assert_array_equal(block, getattr(before, name) - 0.25 * getattr(g, name))
    assert [len(t) for t in p.zip(g, before)] == [3, 3, 3, 3]
    assert list(p.zip()) == [(a,) for a in p.blocks().values()]


def test_zip_and_map_refuse_what_is_not_four_blocks():
    p = init_params(2, 0)

    class Three:
        def blocks(self):
            return {"W1": p.W1, "b1": p.b1, "W2": p.W2}

    with pytest.raises(ValueError):
        list(p.zip(Three()))
    with pytest.raises(ValueError):
        p.map(lambda a, b: a, Three())
    assert isinstance(p.map(np.copy), Params)

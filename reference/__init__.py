"""The oracle: the network of SPEC section 1 in numpy float64, written as the equations
(network.py); the same step with its elementwise work on every core (threaded.py); the
oracle's training run (train.py) and its speed against numpy's own GEMM (bench.py)."""

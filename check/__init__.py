"""oraclenet.check: the front door. Judge anyone's GEMM, backprop, training step or whole
training run against the oracle, from Python (a callable), from files another program wrote
(.npy, .npz, .mat, Armadillo, raw binary), or from pytest (check/plugin.py).

    target.py    a callable named MODULE:FUNCTION or path/to/file.py:FUNCTION
    arrays.py    how the callable takes its arrays: numpy, Numba or CuPy, row or column order
    runner.py    the cases, one at a time in a child process with a timeout each
    gemm.py      the GEMM battery and one call from files
    network.py   a backprop or a training step, from a callable or from files
    run.py       a whole outside training run, step by step, from its dump directory
    report.py    the terminal table, report.md and .json, heat maps and per-step plots
    assertions.py  assert_gemm, assert_step, check_gemm: the library surface
    plugin.py    the pytest plugin
    mpi.py       a verdict agreed across MPI ranks
"""

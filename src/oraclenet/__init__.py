"""oraclenet: a float64 oracle for a two-layer MNIST network, and a judge that tells roundoff
from bugs in GPU kernels and MPI trainers.

The rooms, from the bottom up (docs/architecture.md); each imports only from those below it:

    oraclenet.common     data, parameters, configuration, the epoch loop, records, files
    oraclenet.reference  the oracle: the equations in numpy float64
    oraclenet.judge      roundoff verdicts, whole-step bounds, gradient checks, tolerances
    oraclenet.gpu        Numba CUDA kernels and the device trainer
    oraclenet.parallel   the MPI trainers (data and model parallelism)
    oraclenet.cli        the `oraclenet` command; oraclenet.verify, the main job's report

Importing any of them changes no environment variable, starts no thread and initialises no
MPI: the command does its own process tuning (common/process.py).
"""

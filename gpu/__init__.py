"""Numba CUDA kernels for the network: the GEMM family (naive, shared, regblock) first.

Runs on a real GPU, or in Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set before numba
is first imported) on machines without one."""

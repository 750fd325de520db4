"""MPI trainers for the two-layer network: data parallelism (gradients allreduced) and model
parallelism (hidden neurons split across ranks), each computing its share with numpy
(host.py) or with the kernels of oraclenet.gpu (--gpu). Judged against the oracle by the
tests under the real mpiexec. Importing this package initialises no MPI: comm.py does, when a
trainer first needs a communicator."""

"""The student's project registers its own `mpi` marker (as pytest-mpi does), and runs with
--strict-markers: oraclenet's plugin must not clash with it."""


def pytest_configure(config):
    config.addinivalue_line("markers", "mpi: the student's own MPI tests")

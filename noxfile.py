"""How oraclenet is run: `nox -s verify` (the main job), `nox -s tests`, `nox -s lint`,
`nox -s gradcheck`, `nox -s mpi`, `nox -s gpu`, and the benches (timings, kept apart from
the tests). Every session runs the `oraclenet` command or pytest in its own environment."""

import nox

nox.options.sessions = ["lint", "tests"]
BACKEND = "uv|venv"


@nox.session(venv_backend=BACKEND)
def tests(session: nox.Session) -> None:
    """The whole test suite: tests/test_wheel.py builds and installs the wheel as well, and
    tests/test_examples.py is `nox -s examples`. One pytest worker per core (pytest-xdist),
    each taking whole files, so that a module's costly fixture (the installed wheel, a
    recorded baseline) is built once; then the tests that time something, alone (marked
    serial)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "auto", "--dist", "loadfile", "-m", "not serial",
                *session.posargs)
    # exit code 5: the arguments selected no serial test
    session.run("pytest", "-m", "serial", *session.posargs, success_codes=[0, 5])


@nox.session(venv_backend=BACKEND)
def examples(session: nox.Session) -> None:
    """examples/: each planted bug caught, each correct twin passing (tests/test_examples.py,
    which `nox -s tests` runs too, and tests/test_wheel.py again from the installed wheel)."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/test_examples.py", *session.posargs)


@nox.session(venv_backend=BACKEND)
def regress(session: nox.Session) -> None:
    """Before you submit or merge: rerun everything against baselines/default and decide
    whether anything changed beyond roundoff or got slower (reports/regress/report.md).
    After an intended change: `oraclenet regress record --out baselines/default` (and
    `--quick --out baselines/quick`), and commit the baselines with the change."""
    session.install("-e", ".")
    session.run("oraclenet", "regress", "check", "--baseline", "baselines/default", "--report",
                "reports/regress", *session.posargs)


@nox.session(venv_backend=BACKEND)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(venv_backend=BACKEND)
def gradcheck(session: nox.Session) -> None:
    """The oracle's gradient-check report, then proof that each planted bug fails it."""
    session.install("-e", ".[test]")
    session.run("oraclenet", "gradcheck", "--report", "reports/gradcheck")
    session.run("pytest", "tests/test_gradcheck.py", "-k", "planted or bug", "-v")


@nox.session(venv_backend=BACKEND)
def verify(session: nox.Session) -> None:
    """Train the oracle, gradient-check it, check the MPI trainers and the GPU kernels
    against it: reports/verify/index.md."""
    session.install("-e", ".[test]")
    session.run("oraclenet", "verify", "--out", "reports/verify", *session.posargs)


@nox.session(venv_backend=BACKEND)
def bench(session: nox.Session) -> None:
    """Epoch rate of the oracle against numpy's GEMM rate on this machine."""
    session.install("-e", ".")
    session.run("oraclenet", "bench", "--json", "reports/bench.json", *session.posargs)


@nox.session(venv_backend=BACKEND)
def gpu(session: nox.Session) -> None:
    """The GPU kernels' tests: on the GPU when nvidia-smi finds one, else in Numba's CUDA
    simulator (the header of pytest's output says which), plus real PTX compilation."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/gpu", "tests/test_gpu_ptx.py", *session.posargs)


@nox.session(venv_backend=BACKEND)
def bench_mpi(session: nox.Session) -> None:
    """Images/s of both MPI strategies at P = 1..4, cost model: docs/mpi-bench.md."""
    session.install("-e", ".")
    session.run("oraclenet", "mpi", "bench", "--out", "docs", *session.posargs)


@nox.session(venv_backend=BACKEND)
def mpi(session: nox.Session) -> None:
    """The MPI equivalence suite under the real mpiexec at P = 1, 2, 3 and 4 ranks."""
    session.install("-e", ".[test]")
    for ranks in (1, 2, 3, 4):
        session.run("mpiexec", "-n", str(ranks), "python", "-m", "mpi4py", "-m", "pytest",
                    "--with-mpi", "-q", "tests/mpi")


@nox.session(venv_backend=BACKEND)
def fuzz(session: nox.Session) -> None:
    """The long runs of the fuzzes: tests/test_fuzz.py (20,000 corrupted inputs),
    tests/test_fuzz_front_door.py (4,000 generated implementations, run directories, flags,
    and 2,000 baselines), tests/test_judge_fuzz.py (20,000 examples per verdict function), and
    the check that rank 0's error is the last line on stderr (1,000 MPI runs):
    docs/reliability.md."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "tests/test_fuzz.py", "tests/test_fuzz_front_door.py",
                "tests/test_judge_fuzz.py",
                "tests/test_mpi.py::test_rank_0s_message_is_the_last_line_on_stderr_every_time",
                env={"ORACLENET_FUZZ_CASES": "20000", "ORACLENET_DOOR_FUZZ_CASES": "4000",
                     "ORACLENET_JUDGE_FUZZ_EXAMPLES": "20000",
                     "ORACLENET_MPI_ERROR_RUNS": "1000"})

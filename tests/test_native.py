"""A compiled GEMM judged through its C ABI (`check gemm --impl lib.so:SYMBOL --abi course|
cblas`): C GEMMs written as course code writes them, compiled here with the system compiler,
the classic bugs each failing with its cause named, a real CBLAS (the OpenBLAS that SciPy's
wheel carries) passing as an outside implementation, and a library that crashes, hangs or
writes out of bounds ending its own case only."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import scipy

from oraclenet.check.gemm import cases
from oraclenet.check.native import is_library

ORACLENET = Path(sys.executable).parent / "oraclenet"
CC = shutil.which("cc") or shutil.which("gcc")

# The course's signature, one function per variant, for T = double and float. Loops as a
# student writes them: i over rows, j over columns, column-major indexing.
COURSE = textwrap.dedent('''
    #include <stddef.h>
    #define AT(X, i, j, ld) X[(i) + (size_t)(j) * (ld)]

    #define GEMM(NAME, T, ACC, ROWS, KEND, BETA)                                         \\
    int NAME(T *A, T *B, T *C, T *alpha, T *beta, int M, int N, int K) {                \\
        for (int j = 0; j < N; j++)                                                     \\
            for (int i = 0; i < ROWS; i++) {                                            \\
                ACC acc = 0;                                                            \\
                for (int k = 0; k < KEND; k++) acc += AT(A, i, k, M) * AT(B, k, j, K);  \\
                AT(C, i, j, M) = *beta == 0 ? *alpha * acc                              \\
                                            : *alpha * acc + BETA * AT(C, i, j, M);     \\
            }                                                                           \\
        return 0;                                                                       \\
    }

    GEMM(correct_double, double, double, M, K, *beta)
    GEMM(correct_float, float, float, M, K, *beta)
    GEMM(edge_guard, double, double, M + 1, K, *beta)          /* i <= M: a row past C */
    GEMM(k_bounded_by_the_grid, double, double, M, K / 16 * 16, *beta)
    GEMM(beta_applied_twice, double, double, M, K, *beta * *beta)
    GEMM(float_accumulation, double, float, M, K, *beta)

    int reads_C_when_beta_is_0(double *A, double *B, double *C, double *alpha, double *beta,
                               int M, int N, int K) {
        for (int j = 0; j < N; j++)
            for (int i = 0; i < M; i++) {
                double acc = 0;
                for (int k = 0; k < K; k++) acc += AT(A, i, k, M) * AT(B, k, j, K);
                AT(C, i, j, M) = *alpha * acc + *beta * AT(C, i, j, M);
            }
        return 0;
    }

    int fails(double *A, double *B, double *C, double *alpha, double *beta, int M, int N,
              int K) {
        return correct_double(A, B, C, alpha, beta, M, N, K) + 3;  /* an error code */
    }

    int crashes(double *A, double *B, double *C, double *alpha, double *beta, int M, int N,
                int K) {
        volatile double *nowhere = NULL;
        *nowhere = 1.0;
        return 0;
    }

    int hangs(double *A, double *B, double *C, double *alpha, double *beta, int M, int N,
              int K) {
        for (volatile int spin = 1; spin;) {}
        return 0;
    }
''')

# A CBLAS-style dgemm from scratch: both layouts and every transpose through strides.
CBLAS = textwrap.dedent('''
    enum { ROW = 101, COL = 102, NOTRANS = 111 };

    void my_dgemm(int layout, int ta, int tb, int M, int N, int K, double alpha,
                  const double *A, int lda, const double *B, int ldb, double beta,
                  double *C, int ldc) {
        /* where element (r, c) of a stored matrix with leading dimension ld lies */
        #define IX(r, c, ld) (layout == COL ? (r) + (long)(c) * (ld) : (long)(r) * (ld) + (c))
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int k = 0; k < K; k++)
                    acc += A[ta == NOTRANS ? IX(i, k, lda) : IX(k, i, lda)]
                         * B[tb == NOTRANS ? IX(k, j, ldb) : IX(j, k, ldb)];
                C[IX(i, j, ldc)] = beta == 0 ? alpha * acc : alpha * acc + beta * C[IX(i, j, ldc)];
            }
    }

    void ignores_ldc(int layout, int ta, int tb, int M, int N, int K, double alpha,
                     const double *A, int lda, const double *B, int ldb, double beta,
                     double *C, int ldc) {  /* C taken as tightly packed */
        my_dgemm(layout, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                 layout == COL ? M : N);
    }

    void ignores_transb(int layout, int ta, int tb, int M, int N, int K, double alpha,
                        const double *A, int lda, const double *B, int ldb, double beta,
                        double *C, int ldc) {
        my_dgemm(layout, ta, NOTRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
''')


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict[str, Path]:
    assert CC, "the system C compiler (cc) is needed to build the C GEMMs"
    where = tmp_path_factory.mktemp("native")
    built = {}
    for name, source in (("course", COURSE), ("cblas", CBLAS)):
        (where / f"{name}.c").write_text(source)
        built[name] = where / f"lib{name}.so"
        subprocess.run([CC, "-O1", "-shared", "-fPIC", "-o", built[name], where / f"{name}.c"],
                       check=True, capture_output=True)
    return built


def openblas() -> Path:
    """The CBLAS in SciPy's wheel (LP64 ints, symbols prefixed scipy_): a well-kept library
    that must pass."""
    found = sorted((Path(scipy.__file__).parent.parent / "scipy.libs").glob(
        "libscipy_openblas*.so"))
    assert found, "SciPy's wheel carries its OpenBLAS in scipy.libs/"
    return found[0]


def check(*argv, timeout=300):
    return subprocess.run([str(ORACLENET), "check", "gemm", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)


def rows(stdout: str) -> list[tuple[str, str]]:
    """(case, its table row), in the table's order."""
    return [(line[:41].strip(), line) for line in stdout.splitlines()
            if line[41:52].strip() and line.split()[-1] != "at"
            and not line.startswith(("oraclenet", "PASS", "FAIL", " "))]


def row(stdout: str, case: str, shape: str = "") -> str:
    """The first row of the case named (of that shape, where given)."""
    return next(line for name, line in rows(stdout)
                if name == case and line[41:].startswith(shape))


@pytest.mark.parametrize("symbol, dtype", [("correct_double", "float64"),
                                           ("correct_float", "float32")])
def test_a_correct_course_gemm_passes_every_case(libs, symbol, dtype):
    result = check("--impl", f"{libs['course']}:{symbol}", "--abi", "course", "--dtype", dtype)
    assert result.returncode == 0, result.stdout + result.stderr
    n = len(cases("quick", "inplace"))
    assert f"PASS: {n} of {n} cases" in result.stdout


@pytest.mark.parametrize("bug, case, cause", [
    ("edge_guard", "ragged, alpha 1 beta 0", "writes outside C"),
    ("k_bounded_by_the_grid", "ragged, alpha 2 beta 5", "K terms missing"),
    ("beta_applied_twice", "ragged, alpha 2 beta 5", "alpha or beta misapplied"),
    ("float_accumulation", "ragged, alpha 2 beta 5", "precision downgrade"),
    ("reads_C_when_beta_is_0", "NaN in C, alpha 2 beta 0", "C read when beta is 0"),
])
def test_each_classic_bug_fails_with_its_cause(libs, bug, case, cause):
    result = check("--impl", f"{libs['course']}:{bug}", "--abi", "course")
    assert result.returncode == 1, result.stdout + result.stderr
    found = row(result.stdout, case)
    assert " FAIL " in found and cause in found, result.stdout


def test_a_double_gemm_judged_as_float_says_the_dtype_may_be_wrong(libs):
    """ctypes cannot see that myGEMM takes double: given float buffers, it writes C's bytes
    twice over, past its end as much again, and the cause says what that suggests; an edge
    bug that writes a row too many does not get the hint."""
    result = check("--impl", f"{libs['course']}:correct_double", "--abi", "course",
                   "--dtype", "float32")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "writes outside C" in result.stdout
    assert "elements written twice as wide as these, say double into float: is --dtype the " \
           "function's?" in result.stdout
    edge = check("--impl", f"{libs['course']}:edge_guard", "--abi", "course")
    assert "writes outside C" in edge.stdout and "twice as wide" not in edge.stdout


def test_a_library_that_crashes_every_case_is_told_why_that_may_be(libs):
    """As a course GEMM called through --abi cblas often does (its integer arguments read as
    pointers; whether every case crashes depends on where the loader puts the arrays, so
    the test crashes on purpose)."""
    result = check("--impl", f"{libs['course']}:crashes", "--abi", "course")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "every case failed alike before any verdict: the call itself may not match the " \
           "function (its signature and conventions: see --help; --abi and --dtype" \
           in result.stdout


@pytest.mark.parametrize("layout", ["row", "col"])
def test_a_cblas_gemm_passes_every_transpose_in_either_layout(libs, layout):
    for spec in (f"{libs['cblas']}:my_dgemm", f"{openblas()}:scipy_cblas_dgemm"):
        result = check("--impl", spec, "--abi", "cblas", "--layout", layout)
        assert result.returncode == 0, spec + result.stdout + result.stderr
        n = len(cases("quick", "inplace-trans"))
        assert f"PASS: {n} of {n} cases" in result.stdout


def test_openblas_sgemm_passes_in_float32(libs):
    result = check("--impl", f"{openblas()}:scipy_cblas_sgemm", "--abi", "cblas",
                   "--dtype", "float32")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_cblas_gemm_that_ignores_transb_fails_those_cases_only(libs):
    result = check("--impl", f"{libs['cblas']}:ignores_transb", "--abi", "cblas")
    assert result.returncode == 1
    failing = {name for name, line in rows(result.stdout) if " FAIL " in line}
    assert failing == {"transposes (NT), alpha 2 beta 5", "transposes (TT), alpha 2 beta 5"}, \
        result.stdout


def test_a_crash_a_hang_and_an_error_code_end_their_own_cases(libs):
    lib = libs["course"]
    crashed = check("--impl", f"{lib}:crashes", "--abi", "course", "--keep-going")
    assert crashed.returncode == 1
    assert sum("killed its process (signal 11, SIGSEGV)" in line for _, line in rows(
        crashed.stdout)) == len(cases("quick", "inplace")), crashed.stdout
    failed = check("--impl", f"{lib}:fails", "--abi", "course")
    assert failed.returncode == 1
    assert "fails returned 3 (0 is success)" in failed.stdout, failed.stdout
    assert " pass " not in failed.stdout
    hung = check("--impl", f"{lib}:hangs", "--abi", "course", "--timeout", "2")
    assert hung.returncode == 1
    assert " timeout " in row(hung.stdout, "ragged, alpha 1 beta 0")
    assert sum(" skipped " in line for _, line in rows(hung.stdout)) == len(
        cases("quick", "inplace")) - 1, hung.stdout


def test_the_python_api_takes_an_abi(libs):
    from oraclenet import check_gemm

    assert check_gemm(f"{libs['course']}:correct_double", abi="course").passed
    report = check_gemm(f"{libs['course']}:float_accumulation", abi="course")
    assert not report.passed


@pytest.mark.parametrize("argv, message", [
    (["--impl", "{course}:nope", "--abi", "course"], "exports no symbol 'nope'"),
    (["--impl", "{course}:correct_double"], "is a compiled library: say how its function "
                                            "is called with --abi"),
    (["--impl", "{text}:f", "--abi", "course"], "cannot load"),
    (["--impl", "{course}:correct_double", "--abi", "course", "--layout", "row"],
     "column-major"),
    (["--impl", "{course}:correct_double", "--abi", "cblas", "--convention", "product"],
     "--abi cblas calls the function as inplace-trans does"),
    (["--files", "a", "b", "c", "d", "--abi", "course"], "--abi"),
    (["--impl", "{openblas}:scipy_cblas_sgemm", "--abi", "cblas"],
     "scipy_cblas_sgemm is named for float32 (sgemm), but --dtype is float64"),
    (["--impl", "{openblas}:scipy_cblas_dgemm", "--abi", "cblas", "--dtype", "float32"],
     "is named for float64 (dgemm), but --dtype is float32"),
    (["--impl", "{missing}:f", "--abi", "course"], "no file"),
    (["--impl", "{python}:gemm", "--abi", "course"],
     "--abi course: for a compiled library (libmine.so:SYMBOL); "),
])
def test_bad_libraries_and_flags_are_one_line(libs, tmp_path, argv, message):
    text = tmp_path / "libnot.so"
    text.write_text("not a library\n")
    places = {"course": libs["course"], "text": text, "missing": tmp_path / "libmissing.so",
              "openblas": openblas(), "python": tmp_path / "mine.py"}
    result = check(*(a.format(**places) for a in argv))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, \
        result.stderr


@pytest.mark.parametrize("name, library", [("libmine.so", True), ("libmine.so.1", True),
                                           ("mine.dylib", True), ("mine.py", False),
                                           ("pkg.module", False)])
def test_what_names_a_library(name, library):
    assert is_library(name) is library


def test_the_pytest_plugin_takes_a_library_and_its_abi(libs, tmp_path):
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    right = subprocess.run([*base, f"--oraclenet-gemm={libs['course']}:correct_double",
                            "--oraclenet-abi", "course"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
    n = len(cases("quick", "inplace"))
    assert right.returncode == 0 and f"{n} passed" in right.stdout, right.stdout
    wrong = subprocess.run([*base, f"--oraclenet-gemm={libs['course']}:k_bounded_by_the_grid",
                            "--oraclenet-abi", "course"], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
    assert wrong.returncode == 1 and "K terms missing" in wrong.stdout, wrong.stdout


def test_a_library_with_the_simulators_device_arrays_is_refused(libs):
    """The simulator's device arrays are host memory in disguise: a C function given them
    would run and be judged as if on a GPU."""
    done = subprocess.run([str(ORACLENET), "check", "gemm", "--impl",
                           f"{libs['course']}:correct_double", "--abi", "course", "--arrays",
                           "numba"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"})
    assert done.returncode == 2 and "Numba's simulator does not have" in done.stderr, \
        done.stderr


@pytest.mark.parametrize("layout", ["row", "col"])
def test_a_cblas_gemm_that_ignores_its_leading_dimension_fails(libs, layout):
    """A cblas library's arrays lie 3 elements further apart than tight: a GEMM that takes
    C as tightly packed writes into the gaps (it passed every case when the battery gave
    tight arrays only)."""
    result = check("--impl", f"{libs['cblas']}:ignores_ldc", "--abi", "cblas", "--layout",
                   layout)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "in the gaps between its rows or columns (a leading dimension ignored)" in \
        result.stdout, result.stdout

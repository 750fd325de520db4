"""`oraclenet check gemm` and the matrix readers, through the installed command: a correct
outside GEMM passes the whole battery, each planted bug fails its own case, one call dumped in
every file format a C++ program can write is judged, and every bad input is one line."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from oraclenet.check.gemm import cases
from oraclenet.common.matrices import RawLayout, named, read_matrix

ORACLENET = Path(sys.executable).parent / "oraclenet"
QUICK = {c: len(cases("quick", c)) for c in ("inplace", "inplace-trans", "product")}

# An outside GEMM in the course's in-place form, correct (beta = 0 never reads C), and test-only
# twins with one planted bug each: the case of the battery that must catch it.
IMPLEMENTATIONS = textwrap.dedent('''
    import time
    import numpy as np

    def correct(C, A, B, alpha, beta):
        AB = A @ B
        C[...] = alpha * AB if beta == 0 else alpha * AB + beta * C

    def correct_trans(C, A, B, alpha, beta, transa, transb):
        correct(C, A.T if transa else A, B.T if transb else B, alpha, beta)

    def product(A, B):
        return A @ B

    def edge_guard(C, A, B, alpha, beta):        # `row > M` for `row >= M`: last row unwritten
        C[:-1] = (alpha * (A @ B) + beta * C)[:-1]

    def reads_C_when_beta_is_0(C, A, B, alpha, beta):
        C[...] = alpha * (A @ B) + beta * C

    def k_bounded_by_tiles(C, A, B, alpha, beta):  # the K loop stops at a multiple of 16
        K = A.shape[1] // 16 * 16 or A.shape[1]
        C[...] = alpha * (A[:, :K] @ B[:K]) + beta * C

    def writes_past_C(C, A, B, alpha, beta):
        correct(C, A, B, alpha, beta)
        base = C.base if C.base is not None else C
        while base.base is not None:
            base = base.base
        if base.size > C.size:
            base.reshape(-1)[-1] = 0.0

    def ignores_transb(C, A, B, alpha, beta, transa, transb):
        correct(C, A.T if transa else A, B, alpha, beta)

    def float32_accumulation(C, A, B, alpha, beta):
        AB = (A.astype(np.float32) @ B.astype(np.float32)).astype(C.dtype)
        C[...] = alpha * AB if beta == 0 else alpha * AB + beta * C

    def hangs(C, A, B, alpha, beta):
        time.sleep(600)

    def fixed_grid(C, A, B, alpha, beta):  # launched on 10 x 10 blocks of 16 x 16 threads
        C[:160, :160] = correct_part(C[:160, :160], A[:160], B[:, :160], alpha, beta)

    def correct_part(C, A, B, alpha, beta):
        return alpha * (A @ B) + (beta * C if beta else 0)

    def raises(C, A, B, alpha, beta):
        raise RuntimeError("CUDA_ERROR_LAUNCH_FAILED")
''')


def check(*argv, timeout=600):
    return subprocess.run([str(ORACLENET), "check", "gemm", *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def impl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("impl") / "mine.py"
    path.write_text(IMPLEMENTATIONS)
    return path


@pytest.mark.parametrize("layout", ["row", "col"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_gemm_passes_every_case(impl, dtype, layout):
    run = check("--impl", f"{impl}:correct", "--dtype", dtype, "--layout", layout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PASS: {QUICK['inplace']} of {QUICK['inplace']} cases" in run.stdout


def test_the_other_conventions_pass(impl):
    trans = check("--impl", f"{impl}:correct_trans", "--convention", "inplace-trans")
    n = QUICK["inplace-trans"]
    assert trans.returncode == 0 and f"PASS: {n} of {n} cases" in trans.stdout, trans.stdout
    product = check("--impl", f"{impl}:product", "--convention", "product")
    n = QUICK["product"]
    assert product.returncode == 0 and f"PASS: {n} of {n} cases" in product.stdout, product.stdout
    assert "not applicable to --convention product, f(A, B) -> C: alpha 2 beta 5, NaN in C, " \
           "guard band and the course's chain" in product.stdout, product.stdout


@pytest.mark.parametrize(("bug", "convention", "caught_by"), [
    ("edge_guard", "inplace", "ragged"),
    ("fixed_grid", "inplace", "ragged, alpha 1 beta 0                   300x3x5"),
    ("reads_C_when_beta_is_0", "inplace", "NaN in C"),
    ("k_bounded_by_tiles", "inplace", "ragged"),
    ("writes_past_C", "inplace", "guard band"),
    ("ignores_transb", "inplace-trans", "transposes (NT)"),
    ("float32_accumulation", "inplace", "ragged"),
])
def test_each_planted_bug_fails_its_case(impl, bug, convention, caught_by):
    run = check("--impl", f"{impl}:{bug}", "--convention", convention)
    assert run.returncode == 1, run.stdout + run.stderr
    failed = [line for line in run.stdout.splitlines()
              if {"FAIL", "error"} & set(line.split()[:12]) and "[" not in line[:20]]
    assert any(line.startswith(caught_by) for line in failed), run.stdout


def test_the_course_sizes_pass_in_float32_and_tf32_inputs_fail_there(impl):
    """--sizes course adds the course's ten-call chains (800x1000x784, 800x10x1000) and the
    network's shapes; a float32 GEMM that ran on TF32 inputs is named as such."""
    run = check("--impl", f"{impl}:correct", "--sizes", "course", "--dtype", "float32")
    n = len(cases("course", "inplace"))
    assert run.returncode == 0 and f"PASS: {n} of {n} cases" in run.stdout, run.stdout
    tf32 = check("--impl", "oraclenet.corpus.outside:gemm_tf32_inputs", "--sizes", "course",
                 "--dtype", "float32")
    assert tf32.returncode == 1
    chains = [line for line in tf32.stdout.splitlines()
              if line.startswith("course's chain, 10 calls")]
    assert len(chains) == 2 and all("  FAIL  " in line and "tf32" in line for line in chains), \
        tf32.stdout


def test_after_a_hung_case_the_rest_are_skipped_unless_keep_going(impl):
    """One timeout, not ten: the run that stops after the first hang ends sooner than the one
    that waits out every case's timeout (at least ten seconds more by construction), both
    measured on this machine one after the other, so its load moves both alike (no fixed
    number of seconds that a loaded machine could exceed)."""
    began = time.monotonic()
    run = check("--impl", f"{impl}:hangs", "--timeout", 1)
    one = time.monotonic() - began
    assert run.returncode == 1
    assert run.stdout.count("  timeout  ") == 1, run.stdout
    assert run.stdout.count("  skipped  ") == QUICK["inplace"] - 1
    assert "not run: an earlier case hung" in run.stdout
    began = time.monotonic()
    every = check("--impl", f"{impl}:hangs", "--timeout", 1, "--keep-going")
    assert every.returncode == 1 and every.stdout.count("  timeout  ") == QUICK["inplace"], \
        every.stdout
    assert one < time.monotonic() - began, one


def test_an_exception_in_the_implementation_is_one_line_per_case(impl):
    run = check("--impl", f"{impl}:raises")
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert "RuntimeError: CUDA_ERROR_LAUNCH_FAILED" in run.stdout


def test_the_report_has_a_heat_map_for_each_failing_case(impl, tmp_path):
    run = check("--impl", f"{impl}:edge_guard", "--report", tmp_path / "r")
    assert run.returncode == 1
    maps = sorted(p.name for p in (tmp_path / "r").glob("heatmap-*.png"))
    assert len(maps) == run.stdout.count("  FAIL  ") and maps, run.stdout
    assert "![heat map]" in (tmp_path / "r" / "report.md").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--impl", "no_such_module_here:f"], "cannot import no_such_module_here"),
    (["--impl", "{impl}:nothing"], "has no 'nothing'"),
    (["--impl", "{impl}"], "expected MODULE:FUNCTION"),
    (["--impl", "{impl}:product"], "inplace calls it as f(C, A, B, alpha, beta)"),
    (["--impl", "{impl}:correct", "--arrays", "cupy"], "CuPy is not installed"),
    (["--impl", "{folder}:f"], "is a folder, not a Python file or package: name the file"),
])
def test_usage_errors_are_one_line(impl, argv, message):
    run = check(*(a.format(impl=impl, folder=impl.parent) for a in argv))
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


# --- files ------------------------------------------------------------------------------------

def one_call(dtype, bug=False):
    rng = np.random.default_rng(7)
    A, B, C0 = (rng.standard_normal(s).astype(dtype) for s in ((33, 17), (17, 20), (33, 20)))
    C = (2 * (A.astype(np.float64) @ B) + 5 * C0).astype(dtype)
    if bug:
        C[-1] = C0[-1]  # the last row left as it was
    return A, B, C0, C


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matrices_printed_with_too_few_digits_are_judged_only_beyond_that_rounding(tmp_path,
                                                                                  dtype):
    """printf's %g and std::cout print 6 significant digits: a right product so written is
    rounded far above either precision's roundoff. It cannot be judged (exit 2, saying how to
    write it); all digits (%.17g, %.9g) pass; a row left unwritten, far beyond what the
    rounding allows, still fails."""
    needed = 17 if dtype == np.float64 else 9
    for fmt, bug, code in (("%.6g", False, 2), (f"%.{needed}g", False, 0), ("%.6g", True, 1)):
        paths = []
        for name, M in zip(("A", "B", "C0", "C"), one_call(dtype, bug), strict=True):
            paths.append(tmp_path / f"{name}.txt")
            np.savetxt(paths[-1], M, fmt=fmt)
        run = check("--files", *paths, "--alpha", 2, "--beta", 5, "--dtype",
                    np.dtype(dtype).name)
        assert run.returncode == code, (fmt, bug, run.stdout + run.stderr)
    np.savetxt(paths[-1], one_call(dtype)[-1], fmt="%.6g")  # the right C, at 6 digits
    run = check("--files", *paths, "--alpha", 2, "--beta", 5, "--dtype", np.dtype(dtype).name)
    assert run.stderr.count("\n") == 1, run.stderr
    assert (f"A.txt holds numbers printed with 6 significant digits (a rounding of up to 5e-06 "
            f"relative), fewer than the {needed} that write {np.dtype(dtype).name} exactly; "
            f"write the matrices with %.{needed}g") in run.stderr, run.stderr


def arma_binary(path, M):
    width = M.dtype.itemsize
    path.write_bytes(f"ARMA_MAT_BIN_FN{width:03d}\n{M.shape[0]} {M.shape[1]}\n".encode()
                     + M.tobytes(order="F"))


WRITERS = {
    "npy": lambda p, M: np.save(p.with_suffix(".npy"), M) or p.with_suffix(".npy"),
    "npz": lambda p, M: np.savez(p.with_suffix(".npz"), M=M) or p.with_suffix(".npz"),
    "mat": lambda p, M: scipy.io.savemat(p.with_suffix(".mat"), {"M": M}) or p.with_suffix(".mat"),
    "arma_binary": lambda p, M: arma_binary(p.with_suffix(".bin"), M) or p.with_suffix(".bin"),
    "raw_ascii": lambda p, M: np.savetxt(p.with_suffix(".txt"), M, fmt="%.17g")
    or p.with_suffix(".txt"),
    "csv_ascii": lambda p, M: np.savetxt(p.with_suffix(".csv"), M, fmt="%.17g", delimiter=",")
    or p.with_suffix(".csv"),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_one_call_from_files_in_every_format(tmp_path, fmt):
    dtype = np.float64 if fmt in ("raw_ascii", "csv_ascii") else np.float32
    for bug in (False, True):
        paths = [WRITERS[fmt](tmp_path / f"{n}{int(bug)}", M)
                 for n, M in zip("A B C0 C".split(), one_call(dtype, bug), strict=True)]
        run = check("--files", *paths, "--alpha", 2, "--beta", 5)
        assert run.returncode == (1 if bug else 0), run.stdout + run.stderr


def test_raw_binary_with_its_shape_and_order(tmp_path):
    A, B, C0, C = one_call(np.float32)
    for order in ("C", "F"):
        paths = []
        for name, M in zip("A B C0 C".split(), (A, B, C0, C), strict=True):
            (tmp_path / name).write_bytes(M.tobytes(order=order))
            paths.append(tmp_path / name)
        run = check("--files", *paths, "--alpha", 2, "--beta", 5, "--raw", "float32",
                    "--shape", "33,20,17", "--order", order)
        assert run.returncode == 0, run.stdout + run.stderr
    wrong = check("--files", *paths, "--alpha", 2, "--beta", 5, "--raw", "float64",
                  "--shape", "33,20,17", "--order", "F")
    assert wrong.returncode == 2 and "33 x 17 float64 needs 4488 bytes, the file has 2244" \
        in wrong.stderr, wrong.stderr


def test_files_that_do_not_chain_are_named(tmp_path):
    A, B, C0, C = one_call(np.float64)
    paths = [WRITERS["npy"](tmp_path / n, M) for n, M in
             zip("A B C0 C".split(), (A, B.T.copy(), C0, C), strict=True)]
    run = check("--files", *paths)
    assert run.returncode == 2 and "they do not chain" in run.stderr and str(paths[0]) in \
        run.stderr


def test_every_reader_gives_back_what_was_written(tmp_path):
    M = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    for fmt, write in WRITERS.items():
        assert np.array_equal(read_matrix(write(tmp_path / fmt, M)), M), fmt
    (tmp_path / "a.txt").write_text("ARMA_MAT_TXT_FN008\n3 4\n" + "\n".join(
        " ".join(repr(float(x)) for x in r) for r in M) + "\n")
    assert np.array_equal(read_matrix(tmp_path / "a.txt"), M)
    M.astype("<f4").T.tofile(tmp_path / "raw")
    assert np.array_equal(read_matrix(tmp_path / "raw", RawLayout("float32", (3, 4), "F")),
                          M.astype(np.float32))


@pytest.mark.parametrize(("content", "message"), [
    (b"ARMA_MAT_BIN_FN008\n3 4\n" + bytes(95), "needs 96 bytes of data, the file has 95"),
    (b"ARMA_MAT_BIN_IS004\n1 1\n" + bytes(4), "oraclenet reads real matrices"),
    (b"ARMA_MAT_BIN_FN008\nthree 4\n", "is not two integers"),
    (b"ARMA_MAT_TXT_FN008\n2 2\n1 2\n3 4\n5 6\n", "header says 2 x 2, the file holds 3 x 2"),
    (b"1 2 3\n4 5\n", "cannot read a matrix"),
    (b"\x00\x01\x02", "for raw binary give --raw"),
])
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "m.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"m\.bin") as err:
        read_matrix(path, raw_flags=True)  # as check gemm --files reads
    assert message in str(err.value)


CRASHER = Path(__file__).parent / "data" / "scipy-loadmat-segfault.mat"


def test_a_mat_file_that_crashes_scipy_is_one_line(tmp_path):
    """tests/data/scipy-loadmat-segfault.mat: 269 bytes, found by tests/test_fuzz.py, on which
    scipy.io.loadmat (1.17) dies of a segmentation fault. It is read in a child process, so
    the check names the file instead of dying with it; .mat parameters go the same way."""
    crashed = subprocess.run([sys.executable, "-c", "import scipy.io; "
                              f"scipy.io.loadmat({str(CRASHER)!r})"], capture_output=True)
    paths = [WRITERS["npy"](tmp_path / n, M) for n, M in
             zip(("B", "C0", "C"), one_call(np.float64)[1:], strict=True)]
    run = check("--files", CRASHER, *paths)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip().endswith("scipy.io's reader crashed on it: exit code -11)") or \
        crashed.returncode == 0, run.stderr  # a scipy that no longer crashes reads or refuses
    assert len(run.stderr.strip().splitlines()) == 1 and "Fatal" not in run.stderr, run.stderr
    step = subprocess.run([str(ORACLENET), "check", "step", "--before", str(CRASHER),
                           "--after", str(CRASHER), "--batch", str(CRASHER), "--lr", "0.5"],
                          capture_output=True, text=True, timeout=120)
    assert step.returncode == 2 and len(step.stderr.strip().splitlines()) == 1, step.stderr
    assert str(CRASHER) in step.stderr


def test_valid_files_written_other_ways_are_read(tmp_path):
    """Big-endian float64 (MATLAB and Fortran on some machines write it), and one array of
    several named as FILE:NAME."""
    M = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    np.save(tmp_path / "big.npy", M.astype(">f8"))
    read = read_matrix(tmp_path / "big.npy")
    assert read.dtype == np.float64 and read.dtype.isnative and np.array_equal(read, M)
    np.savez(tmp_path / "several.npz", A=M, B=2 * M)
    with pytest.raises(ValueError, match=r"holds 2 arrays \(A, B\); name the one to read as "
                                         r"FILE:NAME \(e\.g\. .*several\.npz:A\)"):
        read_matrix(tmp_path / "several.npz")
    path, name = named(f"{tmp_path / 'several.npz'}:B")
    assert name == "B" and np.array_equal(read_matrix(path, name=name), 2 * M)
    A, B, C0, C = one_call(np.float64)
    np.savez(tmp_path / "call.npz", A=A, B=B, C0=C0, C=C)
    run = check("--files", *(f"{tmp_path / 'call.npz'}:{n}" for n in ("A", "B", "C0", "C")),
                "--alpha", 2, "--beta", 5)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(("write", "message"), [
    (lambda p: np.save(p, np.zeros((0, 3))), "an empty 0 x 3 array: nothing to judge"),
    (lambda p: p.write_bytes(np.random.default_rng(1).standard_normal(64).astype(
        np.float32).tobytes()), "for raw binary give --raw float32|float64 --shape M,N"),
])
def test_an_empty_or_headerless_binary_file_gets_its_own_message(tmp_path, write, message):
    path = tmp_path / "m.dat"
    write(path)
    path = path if path.exists() else path.with_suffix(".dat.npy")
    with pytest.raises(ValueError) as err:
        read_matrix(path, raw_flags=True)  # as check gemm --files reads, which takes --raw
    assert message in str(err.value) and str(path) in str(err.value)
    with pytest.raises(ValueError) as err:
        read_matrix(path)  # as the parameters' readers, which take no --raw, read
    assert "--raw" not in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(("argv", "message"), [
    (["--impl", "m.py:f", "--alpha", "2"], "--alpha: describe the call in --files"),
    (["--impl", "m.py:f", "--order", "F"], "--order: describe the call in --files"),
    (["--files", "A", "B", "C0", "C", "--sizes", "course"],
     "--sizes: for the battery of --impl; --files is one call"),
    (["--files", "A", "B", "C0", "C", "--convention", "product", "--timeout", "5"],
     "--convention, --timeout: for the battery of --impl"),
    (["--files", "A", "B", "C0", "C", "--shape", "2,2,2"], "--shape: describe --raw files"),
])
def test_flags_that_the_chosen_source_does_not_read_are_refused(argv, message):
    run = check(*argv)
    assert run.returncode == 2 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_the_readmes_five_lines_pass_as_it_says(tmp_path):
    """The README's mine.py, as printed there, passes every case; with C read when beta is 0
    the NaN case fails, named."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = readme.split("## Check your own code")[1].split("```python\n")[1].split("```")[0]
    (tmp_path / "mine.py").write_text(code)
    run = check("--impl", f"{tmp_path / 'mine.py'}:gemm")
    n = QUICK["inplace"]
    assert run.returncode == 0 and f"PASS: {n} of {n} cases" in run.stdout, run.stdout
    assert f"PASS: {n} of\n{n} cases" in readme or f"PASS: {n} of {n} cases" in readme
    (tmp_path / "mine.py").write_text(code.replace("if beta == 0:", "if False:"))
    wrong = check("--impl", f"{tmp_path / 'mine.py'}:gemm")
    assert wrong.returncode == 1 and "C read when beta is 0" in wrong.stdout, wrong.stdout

"""Files as C and C++ programs write them (issue 20, section 4), written by our own writers
(tests/cpp_files.py): a matrix's format is told by its content whatever its suffix
(Armadillo's raw_ascii under a `.mat` name, as the course's C++ code saves it); parameters
come as one .npz or .mat (v5 or v7.3), or as a folder or a list of files of one matrix each,
named W1 b1 W2 b2 or the course's W[0] b[0] W[1] b[1]; every bad input is a ValueError
naming its file (one line and exit 2 through the command), and numpy's advice to unpickle a
file is never passed on.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from oraclenet.common.matrices import read_matrix
from oraclenet.common.params import Params, init_params, read_params
from oraclenet.reference import network
from tests.cpp_files import (
    COURSE,
    NAMINGS,
    OURS,
    arma_ascii,
    arma_binary,
    csv_ascii,
    mat_v73,
    npy,
    raw_ascii,
    write_params,
)

ORACLENET = Path(sys.executable).parent / "oraclenet"


def oraclenet(*argv):
    return subprocess.run([str(ORACLENET), *map(str, argv)], capture_output=True, text=True,
                          timeout=300)


def one_line(run) -> str:
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    return run.stderr


def _npz(path, M, name="M"):
    with open(path, "wb") as f:  # numpy would add .npz to the name
        np.savez(f, **{name: M})
    return path


def _mat(path, M, format="5"):
    scipy.io.savemat(path, {"M": M}, appendmat=False, format=format)
    return path


WRITERS = {"raw_ascii": raw_ascii, "csv_ascii": csv_ascii, "arma_ascii": arma_ascii,
           "arma_binary": arma_binary, "npy": npy, "npz": _npz, "mat v5": _mat,
           "mat v4": lambda p, M: _mat(p, M, "4"), "mat v7.3": lambda p, M: mat_v73(p, {"M": M})}
SUFFIXES = (".mat", ".txt", ".dat", "")
M = np.arange(12, dtype=np.float64).reshape(3, 4) / 7 - 0.5  # not square: a transpose shows


# --- a matrix's format from its content ------------------------------------------------------

@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_a_matrix_is_read_by_its_content_whatever_its_suffix(tmp_path, fmt, suffix):
    path = WRITERS[fmt](tmp_path / f"M{suffix}", M)
    read = read_matrix(path)
    assert read.dtype == np.float64 and np.array_equal(read, M), (fmt, suffix, read)


@pytest.mark.parametrize("fmt", ["arma_binary", "npy", "mat v5", "mat v4", "mat v7.3"])
def test_float32_stays_float32(tmp_path, fmt):
    read = read_matrix(WRITERS[fmt](tmp_path / "M.mat", M.astype(np.float32)))
    assert read.dtype == np.float32 and np.array_equal(read, M.astype(np.float32))


def test_the_course_raw_ascii_mat_file_is_read(tmp_path):
    """`printf "1 2 3\\n4 5 6\\n" > t.mat` failed with "not a readable .mat file"."""
    (tmp_path / "t.mat").write_text("1 2 3\n4 5 6\n")
    assert np.array_equal(read_matrix(tmp_path / "t.mat"), [[1, 2, 3], [4, 5, 6]])


def test_a_variable_of_a_v73_file_is_picked_by_name(tmp_path):
    path = mat_v73(tmp_path / "batch.mat", {"X": M, "labels": np.arange(4)})
    assert np.array_equal(read_matrix(path, name="X"), M)
    assert np.array_equal(read_matrix(path, name="labels", vector=True), [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match=r"batch\.mat: no array named 'Y' \(it holds X, "
                                         r"labels\)"):
        read_matrix(path, name="Y")


def _hdf5_without_matlab(path):
    import h5py

    with h5py.File(path, "w") as f:
        f["M"] = M
    return path


def _v73_complex(path):
    import h5py

    mat_v73(path, {})
    with h5py.File(path, "a") as f:
        data = np.zeros((4, 3), dtype=[("real", "<f8"), ("imag", "<f8")])
        f.create_dataset("M", data=data).attrs["MATLAB_class"] = np.bytes_(b"double")
    return path


def _v73_struct(path):
    import h5py

    mat_v73(path, {})
    with h5py.File(path, "a") as f:
        f.create_group("M").attrs["MATLAB_class"] = np.bytes_(b"struct")
    return path


def _v73_cut(path, keep):
    mat_v73(path, {"M": M})
    path.write_bytes(path.read_bytes()[:keep])
    return path


@pytest.mark.parametrize(("write", "message"), [
    (_hdf5_without_matlab, "HDF5, but 'M' has no MATLAB_class: not a MATLAB v7.3 file"),
    (_v73_complex, "elements of dtype complex128"),
    (_v73_struct, "elements of dtype object"),
    (lambda p: _v73_cut(p, -100), "not a readable .mat file"),
    (lambda p: _v73_cut(p, 512), "a MATLAB v7.3 header without HDF5 data at byte 512"),
    (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4),
     "not a readable .mat file"),
])
def test_a_bad_v73_file_is_named(tmp_path, write, message):
    path = tmp_path / "M.mat"
    write(path)
    with pytest.raises(ValueError) as err:
        read_matrix(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value), err.value
    assert "\n" not in str(err.value)


# --- numpy's advice to unpickle, never passed on ---------------------------------------------

OBJECTS = "holds Python objects (an object array), not numbers"


@pytest.mark.parametrize(("write", "read", "message"), [
    (lambda p: npy(p, np.array([None], object)), read_matrix, OBJECTS),
    (lambda p: _npz(p, np.array([None], object)), read_matrix, OBJECTS),
    (lambda p: _npz(p, np.array([None], object), "W1"), read_params, OBJECTS),
    (lambda p: p.write_bytes(__import__("pickle").dumps([M])), read_matrix,
     "binary, but neither .npy, .npz, MATLAB nor arma_binary"),
])
def test_an_object_array_or_a_pickle_is_our_own_line(tmp_path, write, read, message):
    path = tmp_path / "objects.npy"
    write(path)
    with pytest.raises(ValueError) as err:
        read(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value), err.value
    assert "pickle" not in str(err.value)


# --- parameters: one file, a folder, or a list of files --------------------------------------

P = init_params(3, 7)
P = Params(P.W1, P.b1 + 0.25, P.W2, P.b2 - 0.5)  # biases away from zero


def _folder(tmp_path, write=raw_ascii, names=COURSE, suffix=".mat"):
    write_params(tmp_path / "p", P, write, names, suffix)
    return tmp_path / "p"


def _listed(tmp_path, write, names, suffix):
    return write_params(tmp_path / "p", P, write, names, suffix)


def _biases_as_rows_and_vectors(tmp_path):
    folder = _folder(tmp_path, csv_ascii, OURS, ".csv")
    raw_ascii(folder / "b1.csv", P.b1.T)
    (folder / "b2.csv").unlink()
    npy(folder / "b2.npy", P.b2.ravel())
    return folder


FORMS = {
    "a folder of raw_ascii .mat, W[0] b[0] W[1] b[1]": _folder,
    "a folder of csv, W1 b1 W2 b2": lambda t: _folder(t, csv_ascii, OURS, ".csv"),
    "a list of arma_binary, W_0 b_0 W_1 b_1": lambda t: _listed(t, arma_binary,
                                                                 NAMINGS["W_0"], ".bin"),
    "a list of arma_ascii, no suffix, W0 b0 W1 b1": lambda t: _listed(t, arma_ascii,
                                                                       NAMINGS["W0"], ""),
    # The course's C++ code: Outputs/CPUmats/SequentialW0-3.mat, ... at iteration 3.
    "the course's SequentialW0-3.mat, listed": lambda t: _listed(
        t, raw_ascii, NAMINGS["SequentialW0-3"], ".mat"),
    "a folder of MATLAB v7.3, one matrix each": lambda t: _folder(
        t, lambda p, A: mat_v73(p, {"A": A})),
    "one MATLAB v7.3 file": lambda t: mat_v73(t / "p.mat", P.blocks()),
    "one MATLAB v5 file": lambda t: scipy.io.savemat(t / "p.mat", P.blocks()) or t / "p.mat",
    "biases as a row and a vector": _biases_as_rows_and_vectors,
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_parameters_are_read_in_every_form(tmp_path, form):
    read = read_params(FORMS[form](tmp_path))
    for name, block in P.blocks().items():
        got = getattr(read, name)
        assert got.dtype == np.float64 and np.array_equal(got, block), (form, name)


def _ragged(folder):
    (folder / "W[1].mat").write_text(" 1 2 3\n 4 5\n")


def _mixed_dtypes(folder):
    (folder / "W[1].mat").unlink()
    arma_binary(folder / "W[1].bin", P.W2.astype(np.float32))


@pytest.mark.parametrize(("damage", "at_fault", "message"), [
    (lambda f: [p.unlink() for p in f.iterdir()], "p", "no parameter file in it"),
    (lambda f: (f / "b[1].mat").unlink(), "p", "no file for b1 (layers counted from 0"),
    (lambda f: shutil.copy(f / "W[0].mat", f / "W0.txt"), "p",
     "two files for W0: W0.txt and W[0].mat"),
    (lambda f: shutil.copy(f / "W[1].mat", f / "W2.mat"), "p",
     "layers counted from 0 and from 1 (W2.mat, W[0].mat, b[0].mat)"),
    (lambda f: shutil.copy(f / "W[0].mat", f / "old_W[0].mat"), "p",
     "files of 2 parameter sets (W*, old_W*); give one set"),
    (lambda f: shutil.copy(f / "W[1].mat", f / "W[3].mat"), "p/W[3].mat",
     "layer 3, but a two-layer network's are 0 and 1"),
    (_ragged, "p/W[1].mat", "the number of columns changed from 3 to 2 at row 2"),
    (_mixed_dtypes, "p", "blocks of mixed dtypes (W[0].mat float64, b[0].mat float64, "
                         "W[1].bin float32, b[1].mat float64)"),
    (lambda f: raw_ascii(f / "W[1].mat", P.W2.T), "p/W[1].mat",
     "W2 (W1 counting layers from 0) has shape (3, 10), expected (10, 3)"),
    (lambda f: (f / "b[0].mat").write_text(" nan\n 1\n 2\n"), "p/b[0].mat",
     "b1 (b0 counting layers from 0) holds 1 NaN or infinite entries"),
])
def test_every_bad_folder_is_a_value_error_naming_it(tmp_path, damage, at_fault, message):
    folder = _folder(tmp_path)
    damage(folder)
    with pytest.raises(ValueError) as err:
        read_params(folder)
    assert str(err.value).startswith(f"{tmp_path / at_fault}: "), err.value
    assert message in str(err.value) and "\n" not in str(err.value), err.value


def test_a_bad_list_or_one_file_is_a_value_error_naming_it(tmp_path):
    files = _listed(tmp_path, raw_ascii, OURS, ".txt")
    (tmp_path / "notes.txt").write_text("1\n")
    with pytest.raises(ValueError, match=r"notes\.txt: not named for a block: one file per "
                                         r"matrix, named W1 b1 W2 b2, or W0 b0 W1 b1"):
        read_params([*files[:3], tmp_path / "notes.txt"])
    with pytest.raises(ValueError, match=r"W1\.txt .*b2\.txt: no file for W2 \(layers counted "
                                         r"from 1"):
        read_params([files[0], files[1], files[3]])
    with pytest.raises(ValueError, match=r"W1\.txt: neither an \.npz nor a \.mat file"):
        read_params(files[0])
    no_w2 = mat_v73(tmp_path / "p.mat", {k: v for k, v in P.blocks().items() if k != "W2"})
    with pytest.raises(ValueError, match=r"p\.mat: missing block\(s\) W2"):
        read_params(no_w2)


# --- through the command ---------------------------------------------------------------------

LR, REG = 0.5, 1e-4
H, N = 8, 7


def one_step(dtype, bug: bool):
    """A step's parameters before and after (the after ones W2[3, 5] off by 1e-3 if bug) in
    dtype, and its batch."""
    rng = np.random.default_rng(11)
    before = init_params(H, 3).astype(dtype)
    X = rng.random((784, N)).astype(dtype)
    labels = rng.integers(0, 10, N)
    after = before.astype(np.float64)
    network.step(after, X.astype(np.float64), np.eye(10)[:, labels], REG, LR)
    after = after.astype(dtype)
    if bug:
        after.W2[3, 5] += 1e-3
    return before, after, X, labels


@pytest.mark.parametrize(("dtype", "digits"), [(np.float64, 16), (np.float32, 8)])
def test_check_step_from_the_course_raw_ascii_mat_files(tmp_path, dtype, digits):
    """The course's C++ trainer saves each matrix with `W[0].save(name, arma::raw_ascii)`
    under a `.mat` name; float builds print 8 digits (`%.8e`), exact for float32."""
    for bug in (False, True):
        before, after, X, labels = one_step(dtype, bug)
        where = tmp_path / f"bug{int(bug)}"

        def write(path, A):
            return raw_ascii(path, A, digits)

        write_params(where / "before", before, write)
        listed = write_params(where / "after", after, write)
        batch = (mat_v73(where / "batch.mat", {"X": X, "labels": labels}) if dtype == np.float32
                 else np.savez(where / "batch.npz", X=X, labels=labels) or where / "batch.npz")
        for after_files in ([where / "after"], listed):  # a folder, or a list of files
            run = oraclenet("check", "step", "--before", where / "before", "--after",
                            *after_files, "--batch", batch, "--lr", LR, "--reg", REG,
                            "--dtype", np.dtype(dtype).name)
            assert run.returncode == int(bug), run.stdout + run.stderr
            assert not bug or "W2 after a step [3, 5]" in run.stdout, run.stdout


def _printed_step(where: Path, dtype, digits: int) -> list:
    """A right step in dtype, its parameters printed with `digits` + 1 significant digits
    (%.{digits}e), its batch X in full and its labels as integers: the check step argv."""
    before, after, X, labels = one_step(dtype, False)

    def write(path, A):
        return raw_ascii(path, A, digits)

    write_params(where / "before", before, write)
    write_params(where / "after", after, write)
    (where / "batch").mkdir()
    raw_ascii(where / "batch" / "X.mat", X)
    (where / "batch" / "labels.txt").write_text(" ".join(map(str, labels)) + "\n")
    return ["check", "step", "--before", where / "before", "--after", where / "after",
            "--batch", where / "batch", "--lr", LR, "--reg", REG]


def test_a_step_printed_with_too_few_digits_is_never_called_a_bug(tmp_path):
    """printf's %g and std::cout print 6 significant digits. A right float64 step so
    printed cannot be judged: exit 2, naming the file and how to write it (the labels,
    integers, and the biases at 0 are exact whatever their digits); printed in full it
    passes. A right float32 step at 6 digits passes or cannot be judged, never fails; printed
    with its 9 digits but judged as float64 (text is read as float64), it is told to give
    --dtype float32."""
    line = one_line(oraclenet(*_printed_step(tmp_path / "f64-6", np.float64, 5)))
    assert "error: cannot judge the step: " in line and "f64-6/before/W[0].mat holds " \
           "numbers printed with 6 significant digits" in line, line
    assert "write the matrices with %.17g" in line, line
    assert oraclenet(*_printed_step(tmp_path / "f64-17", np.float64, 16)).returncode == 0
    six = oraclenet(*_printed_step(tmp_path / "f32-6", np.float32, 5), "--dtype", "float32")
    assert six.returncode in (0, 2), six.stdout + six.stderr
    line = one_line(oraclenet(*_printed_step(tmp_path / "f32-9", np.float32, 8)))
    assert "if it was computed in float32, which 9 digits write exactly, give --dtype " \
           "float32" in line, line
    nine = oraclenet(*_printed_step(tmp_path / "f32-9b", np.float32, 8), "--dtype", "float32")
    assert nine.returncode == 0, nine.stdout + nine.stderr


@pytest.mark.parametrize(("damage", "words"), [
    (lambda f: [p.unlink() for p in f.iterdir()], "before: no parameter file in it"),
    (lambda f: (f / "b[1].mat").unlink(), "before: no file for b1"),
    (lambda f: (f / "W[1].mat").write_text(" 1 2\n 3\n"), "W[1].mat: cannot read a matrix"),
    (lambda f: _npz(f / "W[1].mat", np.array([None], object)), OBJECTS),
])
def test_bad_parameter_files_are_one_line_through_the_command(tmp_path, damage, words):
    before, after, X, labels = one_step(np.float64, False)
    write_params(tmp_path / "before", before)
    write_params(tmp_path / "after", after)
    np.savez(tmp_path / "batch.npz", X=X, labels=labels)
    damage(tmp_path / "before")
    line = one_line(oraclenet("check", "step", "--before", tmp_path / "before", "--after",
                              tmp_path / "after", "--batch", tmp_path / "batch.npz",
                              "--lr", LR))
    assert words in line and "pickle" not in line, line


def test_check_run_reads_a_step_as_a_folder_or_a_v73_file(tmp_path):
    """run.json defines a run; each step's parameters go through read_params, so a step may
    be a folder params-NNNN of the course's raw_ascii files or a MATLAB v7.3 file."""
    run_dir = tmp_path / "run"
    done = oraclenet("train", "-n", "3", "-b", "1200", "-e", "1", "--quiet", "--dump-dir",
                     run_dir)
    assert done.returncode == 0, done.stderr
    steps = sorted(run_dir.glob("params-*.npz"))
    assert len(steps) > 3
    for k, path in enumerate(steps[1:3], 1):
        p = read_params(path)
        path.unlink()
        if k == 1:
            write_params(run_dir / f"params-{k:04d}", p)
        else:
            mat_v73(run_dir / f"params-{k:04d}.mat", p.blocks())
    run = oraclenet("check", "run", run_dir)
    assert run.returncode == 0 and f"PASS: {len(steps) - 1} of {len(steps) - 1} cases" in \
        run.stdout, run.stdout + run.stderr
    moved = read_params(run_dir / "params-0001")
    moved.W2[3, 1] += 1e-3
    write_params(run_dir / "params-0001", moved)
    run = oraclenet("check", "run", run_dir)
    assert run.returncode == 1 and "first: step 1 (epoch 1, batch 1)" in run.stdout and \
        "W2 after a step [3, 1]" in run.stdout, run.stdout + run.stderr

"""A seeded fuzz of the front door, through the command's own entry (oraclenet.cli.main):
generated --impl modules that misbehave at import or at call time (exit, os._exit, crash,
hang, raise, print, modify their inputs, return the wrong thing, the wrong dtype or a wrong
result) run by `check gemm`, `check grad` and `check step` with random flags; damaged run
directories for `check run`; every flag of `check gemm --files` and `check step --files` at
extreme values; `check step` from parameters as C and C++ programs write them (a folder or a
list of one matrix per file in every format, or one MATLAB v7.3 file), damaged; C libraries
built with the system compiler through the C ABI door (correct, writing out of bounds,
crashing, hanging, returning an error code, of the other precision, not a library); and
damaged regression baselines through the reader `regress check` uses.

Each case's outcome is known from how it was made, and must be exactly that: a module that
misbehaves at import is exit code 2 and one line; a correct implementation passes (exit 0: no
false alarm, whatever the flags); anything wrong at call time fails (exit 1), never a pass.
Never a traceback, never a hang (each case is bounded), never a file written outside the
report folder. ORACLENET_DOOR_FUZZ_CASES sets the number of cases (120 here; `nox -s fuzz`
runs thousands).
"""

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from oraclenet import cli
from oraclenet.common.params import Params, init_params
from oraclenet.reference import network
from oraclenet.regress import baseline
from tests.cpp_files import (
    NAMINGS,
    arma_ascii,
    arma_binary,
    csv_ascii,
    mat_v73,
    npy,
    raw_ascii,
    write_params,
)
from tests.test_fuzz import mutate

CASES = int(os.environ.get("ORACLENET_DOOR_FUZZ_CASES", "120"))
SEED = 20261205
ROOT = Path(__file__).resolve().parent.parent

# At import: (code, the line's words). At call time: (body, wrong?) per convention.
IMPORT = {
    "nothing": ("", None),
    "prints": ("print('hello from import')\nimport sys\nprint('and stderr', file=sys.stderr)",
               None),
    "sys.exit(0)": ("import sys\nsys.exit(0)", "called sys.exit(0)"),
    "sys.exit(3)": ("import sys\nsys.exit(3)", "called sys.exit(3)"),
    "os._exit(0)": ("import os\nos._exit(0)", "ended its process (exit code 0)"),
    "segfault": ("import ctypes\nctypes.string_at(0)", "killed its process (signal 11"),
    "hang": ("import time\ntime.sleep(600)", "did not finish within"),
    "raise": ("raise RuntimeError('no GPU here')", "RuntimeError: no GPU here"),
    "interrupt": ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
    "no such module": ("import no_such_module_oraclenet", "ModuleNotFoundError"),
}
# Misbehaviour at call time, the same for every convention (nothing here is a pass).
MISCHIEF = {
    "raises": "raise ValueError('CUDA_ERROR_LAUNCH_FAILED')",
    "sys.exit(0)": "import sys; sys.exit(0)",
    "os._exit(0)": "import os; os._exit(0)",
    "segfault": "import ctypes; ctypes.string_at(0)",
    "hangs": "import time; time.sleep(600)",
    "interrupt": "raise KeyboardInterrupt",
    "returns None": "return None",
}
GEMM_RIGHT = "C[:] = alpha * (A @ B) + (beta * C if beta != 0 else 0)"
GEMM = {
    "right": (GEMM_RIGHT, False),
    "right, chatty": (f"print('computing', C.shape); {GEMM_RIGHT}", False),
    "one element off": (f"{GEMM_RIGHT}; C[C.shape[0] - 1, 0] += 1e-3 * (1 + abs(C[-1, 0]))",
                        True),
    "reads C when beta is 0": ("C[:] = alpha * (A @ B) + beta * C", True),
    "zeroes A after": (f"{GEMM_RIGHT}; A[:] = 0", True),
    "last row unwritten": ("C[:-1] = alpha * (A[:-1] @ B) + (beta * C[:-1] if beta else 0)",
                           True),
}
NET = textwrap.dedent('''
    import numpy as np

    def _grad(W1, b1, W2, b2, X, Y, reg):
        a1 = 1 / (1 + np.exp(-(W1 @ X + b1)))
        z2 = W2 @ a1 + b2
        e = np.exp(z2 - z2.max(axis=0))
        dz2 = (e / e.sum(axis=0) - Y) / X.shape[1]
        dz1 = (W2.T @ dz2) * a1 * (1 - a1)
        return [dz1 @ X.T + reg * W1, dz1.sum(axis=1, keepdims=True), dz2 @ a1.T + reg * W2,
                dz2.sum(axis=1, keepdims=True)]
''')
GRAD = {
    "right": ("return _grad(W1, b1, W2, b2, X, Y, reg)", False),
    "db2 doubled": ("g = _grad(W1, b1, W2, b2, X, Y, reg); g[3] = 2 * g[3]; return g", True),
    "ascent": ("return [-g for g in _grad(W1, b1, W2, b2, X, Y, reg)]", True),
    "scribbles on X": ("g = _grad(W1, b1, W2, b2, X, Y, reg); X[:] = -1; return g", True),
    "three arrays": ("return _grad(W1, b1, W2, b2, X, Y, reg)[:3]", True),
    "float16": ("return [g.astype(np.float16) for g in _grad(W1, b1, W2, b2, X, Y, reg)]",
                True),
}
STEP = {
    "right": ("g = _grad(W1, b1, W2, b2, X, Y, reg)\n"
              "    return [p - lr * d for p, d in zip((W1, b1, W2, b2), g)]", False),
    "in place": ("g = _grad(W1, b1, W2, b2, X, Y, reg)\n"
                 "    for p, d in zip((W1, b1, W2, b2), g):\n        p -= lr * d\n"
                 "    return W1, b1, W2, b2", False),
    "lr twice on b2": ("g = _grad(W1, b1, W2, b2, X, Y, reg)\n    g[3] = 2 * g[3]\n"
                       "    return [p - lr * d for p, d in zip((W1, b1, W2, b2), g)]", True),
    "scribbles on Y": ("g = _grad(W1, b1, W2, b2, X, Y, reg)\n    Y[:] = 0\n"
                       "    return [p - lr * d for p, d in zip((W1, b1, W2, b2), g)]", True),
    "b1 not updated": ("g = _grad(W1, b1, W2, b2, X, Y, reg)\n"
                       "    return [W1 - lr * g[0], b1, W2 - lr * g[2], b2 - lr * g[3]]", True),
}


def impl_case(rng, where: Path):
    """A generated module and the command that checks it: (argv, how, expected exit code,
    the words its one line must hold, or None)."""
    where.mkdir()
    what = str(rng.choice(["gemm", "grad", "step"]))
    at_import = str(rng.choice(list(IMPORT), p=_weights(len(IMPORT))))
    import_code, refused = IMPORT[at_import]
    table = {"gemm": GEMM, "grad": GRAD, "step": STEP}[what]
    calls = {**table, **{f"mischief: {k}": (v, True) for k, v in MISCHIEF.items()}}
    behaviour = str(rng.choice(list(calls)))
    body, wrong = calls[behaviour]
    signature = {"gemm": "C, A, B, alpha, beta", "grad": "W1, b1, W2, b2, X, Y, reg",
                 "step": "W1, b1, W2, b2, X, Y, lr, reg"}[what]
    module = where / "mine.py"
    module.write_text(f"{import_code}\n{NET}\n\ndef f({signature}):\n    {body}\n")
    argv = ["check", what, "--impl", f"{module}:f", "--timeout", "3"]
    dtype = str(rng.choice(["float32", "float64"]))
    argv += ["--dtype", dtype]
    if what == "gemm":
        argv += ["--layout", str(rng.choice(["row", "col"]))]
    else:
        argv += ["--reg", str(rng.choice([0.0, 1e-4, 0.01, 1.0]))]
        if what == "step":
            argv += ["--lr", str(rng.choice([1e-3, 0.5, 10.0]))]
    if rng.random() < 0.5:
        argv += ["--report", str(where / "report")]
    if behaviour == "float16" and dtype == "float32":
        wrong = True  # coarser than float32 too
    if refused is not None:
        return argv, f"{what}, import {at_import}", 2, refused
    return argv, f"{what}, {behaviour}", 1 if wrong else 0, None


def _weights(n: int) -> np.ndarray:
    """Half the modules import cleanly ("nothing", first), the rest misbehave evenly."""
    w = np.full(n, 0.5 / (n - 1))
    w[0] = 0.5
    return w


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A small run dumped by our own trainer: 4 steps."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert cli.main(["train", "-n", "3", "-b", "1200", "-e", "1", "--quiet",
                     "--dump-dir", str(out)]) == 0
    return out


VALUES = (None, 0, -1, 1e308, float("inf"), float("nan"), "x", [1], {}, True, 0.5, 10**20)


def run_case(rng, base: Path, where: Path):
    """A damaged run directory for check run: (argv, how, exit codes allowed)."""
    shutil.copytree(base, where)
    how = str(rng.choice(["setting", "drop a key", "params", "perturb", "delete", "extra",
                          "data"]))
    settings = json.loads((where / "run.json").read_text())
    allowed = {2}
    if how == "setting":
        key = str(rng.choice(list(settings)))
        value = VALUES[int(rng.integers(0, len(VALUES)))]
        settings[key] = value
        how = f"run.json {key} = {value!r}"
        allowed = {0, 1, 2}  # some values are valid (a seed of 0), some change the verdict
    elif how == "drop a key":
        key = str(rng.choice(list(settings)))
        del settings[key]
        how = f"run.json without {key}"
        allowed = {0, 2}  # an optional key may go
    elif how == "params":
        victim = where / f"params-000{int(rng.integers(0, 5))}.npz"
        blob = bytearray(victim.read_bytes())
        for i in rng.integers(0, len(blob), 8):
            blob[i] ^= 0xFF
        victim.write_bytes(bytes(blob))
        how = f"{victim.name} corrupted"
        allowed = {1, 2}  # unreadable, or read with wrong values: never a pass
    elif how == "perturb":
        step = int(rng.integers(1, 5))
        p = dict(np.load(where / f"params-{step:04d}.npz"))
        name = str(rng.choice(sorted(p)))
        p[name].flat[int(rng.integers(0, p[name].size))] += 1e-3
        np.savez(where / f"params-{step:04d}.npz", **p)
        how = f"step {step}'s {name} moved by 1e-3"
        allowed = {1}
    elif how == "delete":
        (where / f"params-000{int(rng.integers(1, 4))}.npz").unlink()
    elif how == "extra":
        shutil.copy(where / "params-0002.npz", where / "params-0002.mat")
    else:
        (where / "data.npz").write_bytes(b"PK\x03\x04 not a zip")
    (where / "run.json").write_text(json.dumps(settings))
    argv = ["check", "run", str(where)]
    if rng.random() < 0.5:
        argv += ["--report", str(where.parent / f"{where.name}-report")]
    return argv, how, allowed


def flags_case(rng, where: Path):
    """check gemm --files or check step --files with every flag at an extreme value."""
    where.mkdir()
    r = np.random.default_rng(int(rng.integers(0, 1000)))
    extremes = ["1e308", "-1e308", "0", "-0", "5e-324", "nan", "inf", "-inf", "abc", "1e-300",
                "2", "-7.5", ""]
    if rng.random() < 0.5:
        A, B, C0 = r.standard_normal((5, 4)), r.standard_normal((4, 3)), r.standard_normal((5, 3))
        alpha, beta = (str(rng.choice(extremes)) for _ in range(2))
        try:
            C = float(alpha) * (A @ B) + float(beta) * C0
        except ValueError:
            C = A @ B
        for name, m in (("A", A), ("B", B), ("C0", C0), ("C", C)):
            np.save(where / f"{name}.npy", m)
        argv = ["check", "gemm", "--files", *(str(where / f"{n}.npy") for n in
                                              ("A", "B", "C0", "C")),
                f"--alpha={alpha}", f"--beta={beta}"]
        extra = [("--dtype", ["float32", "float64", "float16"]),
                 ("--precision", ["tf32", "bfloat16", "float64", "nope"]),
                 ("--raw", ["float32", "float64"]), ("--shape", ["5,3,4", "0,0,0", "x"]),
                 ("--order", ["C", "F", "Z"]), ("--sizes", ["course"]), ("--timeout", extremes)]
    else:
        p = init_params(2, int(rng.integers(0, 100)))
        X = r.random((784, 3))
        Y = np.eye(10)[:, r.integers(0, 10, 3)]
        lr, reg = (str(rng.choice(extremes)) for _ in range(2))
        np.savez(where / "before.npz", **p.blocks())
        try:
            network.step(p, X, Y, float(reg), float(lr))
        except (ValueError, FloatingPointError):
            pass
        np.savez(where / "after.npz", **p.blocks())
        np.savez(where / "batch.npz", X=X, Y=Y)
        argv = ["check", "step", "--before", str(where / "before.npz"), "--after",
                str(where / "after.npz"), "--batch", str(where / "batch.npz"),
                f"--lr={lr}", f"--reg={reg}"]
        extra = [("--dtype", ["float32", "float64"]), ("--sizes", ["quick"]),
                 ("--keep-going", [None]), ("--impl", ["x.py:f"])]
    for flag, values in extra:
        if rng.random() < 0.25:
            value = values[int(rng.integers(0, len(values)))]
            argv += [flag] if value is None else [f"{flag}={value}"]
    if rng.random() < 0.3:
        argv += ["--report", str(rng.choice([str(where / "r"), "/dev/null",
                                              str(where / "A.npy")]))]
    return argv, " ".join(argv[1:2] + argv[-4:]), {0, 1, 2}


# One matrix per file: (writer, suffix); text formats and binary ones.
PER_MATRIX = {"raw_ascii": (raw_ascii, ".mat"), "csv_ascii": (csv_ascii, ".csv"),
              "arma_ascii": (arma_ascii, ""), "arma_binary": (arma_binary, ".bin"),
              "npy": (npy, ".npy"), "MATLAB v7.3": (lambda p, A: mat_v73(p, {"A": A}), ".mat")}
TEXT = ("raw_ascii", "csv_ascii", "arma_ascii")
JUNK = ("notes.txt", "README", "Makefile", ".DS_Store", "loss.txt", "X.mat")
TOKENS = ("abc", "1.0.0", "nan", "inf", "--1", "0x10", "1e999")


def files_case(rng, where: Path):
    """check step from a correct or wrong step's parameters in a folder or a list of one
    matrix per file (any format, any naming) or in one MATLAB v7.3 file, then one damage
    whose outcome is known: a harmless one keeps the step's verdict (a folder's unrelated
    files, MATLAB's header text), a value moved by 1 fails, a damage to the form or the
    numbers' text is refused; random bytes (which may move a value by less than roundoff)
    must only end cleanly. (argv, how, exit codes allowed)."""
    where.mkdir()
    r = np.random.default_rng(int(rng.integers(0, 1000)))
    p = init_params(int(rng.integers(2, 5)), int(rng.integers(0, 100)))
    p = Params(p.W1, p.b1 + 0.25, p.W2, p.b2 - 0.5)  # no bias at zero: a sign shows
    X, labels = r.random((784, 3)), r.integers(0, 10, 3)
    after = p.copy()
    network.step(after, X, np.eye(10)[:, labels], 1e-4, 0.5)
    wrong = rng.random() < 0.5
    if wrong:
        block = getattr(after, str(rng.choice(list(after.blocks()))))
        block.flat[int(rng.integers(0, block.size))] += 1e-3
    form = str(rng.choice(["folder", "list", "one MATLAB v7.3 file"]))
    fmt = str(rng.choice(list(PER_MATRIX)))
    naming = str(rng.choice(list(NAMINGS)))
    write, suffix = PER_MATRIX[fmt]

    def written(q: Params, side: str) -> list[Path]:
        if form == "one MATLAB v7.3 file":
            return [mat_v73(where / f"{side}.mat", q.blocks())]
        return write_params(where / side, q, write, NAMINGS[naming], suffix)

    sources = {"before": written(p, "before"), "after": written(after, "after")}
    side = str(rng.choice(["before", "after"]))
    files, folder = sources[side], where / side
    if form == "one MATLAB v7.3 file":
        fmt = "MATLAB v7.3"
    victim = files[int(rng.integers(0, len(files)))]
    choices = ["none", "bytes", "truncated", "value + 1"]
    choices += ["junk token", "binary bytes"] if fmt in TEXT else []
    choices += ["header text", "HDF5 junk", "no MATLAB_class"] if fmt == "MATLAB v7.3" else []
    choices += {"folder": ["junk file", "second file for a block", "another set's file",
                           "file removed", "emptied", "the other naming's file"],
                "list": ["a block's file twice", "a stray file", "file left out"]}.get(
        form, ["variable dropped"])
    how = str(rng.choice(choices))
    allowed = {2}
    if how == "none":
        allowed = {int(wrong)}
    elif how == "bytes":
        victim.write_bytes(mutate(victim.read_bytes(), rng)[0])
        allowed = {0, 1, 2}
    elif how == "truncated":
        blob = victim.read_bytes()
        if fmt in TEXT:  # cut between numbers, at least one gone: a value cut short could
            ends = [i for i, c in enumerate(blob[:len(blob.rstrip())]) if c in b" ,\n"]
            blob = blob[:int(rng.choice(ends))]  # move by less than roundoff
        else:
            blob = blob[:int(rng.integers(0, len(blob)))]
        victim.write_bytes(blob)
    elif how == "value + 1":
        q = (p if side == "before" else after).copy()
        block = getattr(q, str(rng.choice(list(q.blocks()))))
        block.flat[int(rng.integers(0, block.size))] += 1
        written(q, side)
        allowed = {1}
    elif how == "junk token":
        words = victim.read_text().split("\n")
        row = int(rng.integers(len(words) - 1))  # the last is the empty after the newline
        cells = words[row].split(",") if fmt == "csv_ascii" else words[row].split(" ")
        cells[-1] = str(rng.choice(TOKENS))
        words[row] = ("," if fmt == "csv_ascii" else " ").join(cells)
        victim.write_text("\n".join(words))
    elif how == "binary bytes":
        blob = victim.read_bytes()
        at = int(rng.integers(0, len(blob)))
        victim.write_bytes(blob[:at] + rng.integers(128, 256, 8, dtype=np.uint8).tobytes()
                           + blob[at:])
    elif how == "header text":  # MATLAB's own words before HDF5: read by no one
        blob = bytearray(victim.read_bytes())
        blob[:116] = bytes(rng.choice(list(b"abcdefghijklmnopqrstuvwxyz "), 116).tolist())
        victim.write_bytes(bytes(blob))
        allowed = {int(wrong)}
    elif how == "HDF5 junk":
        blob = victim.read_bytes()
        victim.write_bytes(blob[:520] + rng.integers(0, 256, len(blob) - 520,
                                                     dtype=np.uint8).tobytes())
    elif how == "no MATLAB_class":
        import h5py

        with h5py.File(victim, "a") as f:
            del f[str(rng.choice(list(f)))].attrs["MATLAB_class"]
    elif how == "variable dropped":
        q = (p if side == "before" else after).blocks()
        del q[str(rng.choice(list(q)))]
        mat_v73(victim, q)
    elif how == "junk file":
        (folder / str(rng.choice(JUNK))).write_bytes(rng.bytes(int(rng.integers(0, 300))))
        allowed = {int(wrong)}
    elif how == "second file for a block":
        shutil.copy(victim, victim.with_name(victim.stem + ".bak"))
    elif how == "another set's file":
        shutil.copy(victim, victim.with_name("old_" + victim.name))
    elif how in ("file removed", "file left out"):
        victim.unlink() if form == "folder" else files.remove(victim)
    elif how == "emptied":
        shutil.rmtree(folder)
        folder.mkdir()
    elif how == "the other naming's file":
        layer = NAMINGS["W0"]["W1"] if naming == "W1" else NAMINGS["W1"]["W2"]
        shutil.copy(victim, folder / f"{layer}{suffix}")
    elif how == "a block's file twice":
        files[files.index(victim) - 1] = victim
    else:  # a stray file listed
        files.append(where / "notes.txt")
        files[-1].write_text("1 2 3\n")
    if form == "folder":
        sources = {k: [where / k] for k in sources}
    batch = where / "batch.mat"
    if rng.random() < 0.5:
        mat_v73(batch, {"X": X, "labels": labels})
    else:
        np.savez(batch.with_suffix(".npz"), X=X, labels=labels)
        batch = batch.with_suffix(".npz")
    argv = ["check", "step", "--before", *map(str, sources["before"]), "--after",
            *map(str, sources["after"]), "--batch", str(batch), "--lr", "0.5", "--reg",
            "1e-4"]
    return argv, f"{form} of {fmt} ({naming}), {'wrong' if wrong else 'right'}, {side}: " \
        f"{how} ({victim.name})", allowed


# The course's C ABI: a body per behaviour (T the element type), and the exit code it must get.
C_GEMM = """
#include <stddef.h>
#define AT(X, i, j, ld) X[(i) + (size_t)(j) * (ld)]
int mine(T *A, T *B, T *C, T *alpha, T *beta, int M, int N, int K) {
    BEFORE
    for (int j = 0; j < N; j++)
        for (int i = 0; i < ROWS; i++) {
            T acc = 0;
            for (int k = 0; k < KEND; k++) acc += AT(A, i, k, M) * AT(B, k, j, K);
            AT(C, i, j, M) = *beta == 0 ? *alpha * acc : *alpha * acc + *beta * AT(C, i, j, M);
        }
    return RESULT;
}
"""
NATIVE = {  # behaviour: (substitutions, expected exit code)
    "correct": ({}, 0),
    "a row past C": ({"ROWS": "M + 1"}, 1),
    "a write before C": ({"BEFORE": "C[-1] = 0;"}, 1),
    "the last K term dropped": ({"KEND": "K - 1"}, 1),
    "crashes": ({"BEFORE": "volatile T *nowhere = NULL; *nowhere = 1;"}, 1),
    "hangs": ({"BEFORE": "for (volatile int spin = 1; spin;) {}"}, 1),
    "an error code": ({"RESULT": "3"}, 1),
    "double into float": ({"T": "double"}, 1),  # built in double, judged at float32
    "not a library": (None, 2),
    "no such symbol": ({}, 2),
}


def native_case(rng, where: Path):
    """A generated C library (built with the system compiler) through `--abi course`."""
    where.mkdir()
    behaviour = str(rng.choice(list(NATIVE)))
    subs, code = NATIVE[behaviour]
    dtype = "float32" if behaviour == "double into float" else str(
        rng.choice(["float32", "float64"]))
    library = where / "libmine.so"
    if subs is None:
        library.write_text("not an ELF file\n")
    else:
        source = C_GEMM
        chosen = {"BEFORE": "", "ROWS": "M", "KEND": "K", "RESULT": "0", **subs}
        chosen["T"] = chosen.pop("T", "float" if dtype == "float32" else "double")  # last
        for key, value in chosen.items():
            source = re.sub(rf"\b{key}\b", value, source)
        (where / "mine.c").write_text(source)
        subprocess.run([shutil.which("cc"), "-O1", "-shared", "-fPIC", "-o", library,
                        where / "mine.c"], check=True, capture_output=True)
    symbol = "nothing_here" if behaviour == "no such symbol" else "mine"
    argv = ["check", "gemm", "--impl", f"{library}:{symbol}", "--abi", "course", "--dtype",
            dtype, "--timeout", "3"]
    if rng.random() < 0.5:
        argv += ["--report", str(where / "report")]
    return argv, f"C library: {behaviour}, {dtype}", {code}


def _listing(root: Path, skip: Path | None) -> set[str]:
    return {str(p) for p in root.rglob("*") if skip is None or skip not in p.parents}


def test_the_front_door_ends_every_generated_case_as_it_should(run_dir, tmp_path,
                                                                monkeypatch, capsys):
    monkeypatch.setattr(cli, "exit_on_sigterm", lambda: None)  # pytest keeps its handlers
    rng = np.random.default_rng(SEED)
    failures, codes = [], {}
    for case in range(CASES):
        where = tmp_path / f"case{case}"
        kind = ("impl", "impl", "run", "flags", "files", "native")[case % 6]
        words = None
        if kind == "impl":
            argv, how, code, words = impl_case(rng, where)
            allowed = {code}
        elif kind == "run":
            argv, how, allowed = run_case(rng, run_dir, where)
        elif kind == "files":
            argv, how, allowed = files_case(rng, where)
        elif kind == "native":
            argv, how, allowed = native_case(rng, where)
        else:
            argv, how, allowed = flags_case(rng, where)
        report = Path(argv[argv.index("--report") + 1]) if "--report" in argv else None
        before = _listing(tmp_path, report)
        try:
            got = cli.main(argv)
        except BaseException as err:  # a traceback, in effect
            failures.append(f"case {case} ({kind}: {how}): {type(err).__name__}: {err}")
            continue
        out = capsys.readouterr()
        codes[got] = codes.get(got, 0) + 1
        written = _listing(tmp_path, report) - before - {str(report)}
        if got not in allowed:
            failures.append(f"case {case} ({kind}: {how}): exit {got}, expected "
                            f"{sorted(allowed)}: {out.err.strip()[-300:] or out.out[-300:]}")
        elif got == 2 and (out.err.count("\n") != 1 or "Traceback" in out.err):
            failures.append(f"case {case} ({kind}: {how}): stderr {out.err[-500:]!r}")
        elif got != 2 and out.err:
            failures.append(f"case {case} ({kind}: {how}): stderr {out.err[-500:]!r}")
        elif words is not None and words not in out.err:
            failures.append(f"case {case} ({kind}: {how}): {out.err.strip()!r} lacks {words!r}")
        elif written - {str(where), *(str(p) for p in where.rglob("*"))}:
            failures.append(f"case {case} ({kind}: {how}): wrote {sorted(written)[:3]}")
    assert failures == [], f"{len(failures)} of {CASES} cases:\n" + "\n".join(failures[:20])
    assert len(codes) == 3, codes  # passes, failures and refusals all happened


# --- baselines: the reader `regress check` trusts --------------------------------------------

def test_every_damaged_baseline_is_refused_or_sound(tmp_path):
    """baselines/quick damaged at random, through baseline.read and load_subject: a
    BaselineError (one line, exit 2 in the command), or a baseline whose every subject's
    ensemble is finite, of the recorded size and spread (what the check's statistics need)."""
    rng = np.random.default_rng(SEED)
    source = ROOT / "baselines" / "quick"
    refused = 0
    for case in range(max(CASES // 2, 20)):
        where = tmp_path / f"b{case}"
        shutil.copytree(source, where)
        data = json.loads((where / "baseline.json").read_text())
        subject = str(rng.choice(sorted(data["subjects"])))
        if rng.random() < 0.6:
            entry = data["subjects"][subject]
            key = str(rng.choice(sorted(entry)))
            entry[key] = VALUES[int(rng.integers(0, len(VALUES)))]
            (where / "baseline.json").write_text(json.dumps(data))
        else:
            npz = where / f"{rng.choice(['oracle', 'gpu'])!s}.npz"
            with np.load(npz) as f:
                arrays = {k: f[k] for k in f.files}
            name = str(rng.choice(sorted(arrays)))
            change = rng.choice(["nan", "constant", "drop", "shape"])
            if change == "nan":
                arrays[name] = np.full_like(arrays[name], np.nan, dtype=np.float64)
            elif change == "constant":
                arrays[name] = np.zeros_like(arrays[name])
            elif change == "drop":
                del arrays[name]
            else:
                arrays[name] = arrays[name][..., :1]
            np.savez_compressed(npz, **arrays)
        try:
            read = baseline.read(where)
            for name, entry in read["subjects"].items():
                if entry.get("kind") in baseline.RULES:
                    continue
                recorded = baseline.load_subject(where, name, entry)
                for model in recorded.models:
                    assert np.all(np.isfinite(model.mean)) and model.members >= 30
                    assert np.any(model.sd > 0)
        except baseline.BaselineError as err:
            assert str(where) in str(err) and "\n" not in str(err)
            refused += 1
    assert refused > 0

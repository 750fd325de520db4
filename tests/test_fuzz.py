"""A seeded fuzz of every reader, through the command's own entry (oraclenet.cli.main): IDX
files (plain and gzip), parameter .npz files, tolerances.toml, and the matrices `check gemm
--files` reads (.npy, .npz, .mat, Armadillo binary and text, csv, raw binary) and the
parameters `check step` reads (.mat), each corrupted at random.
Every case must end with one of the command's documented exit codes, and a failure must be
one line on stderr, never a traceback (an exception out of main fails the case).

ORACLENET_FUZZ_CASES sets the number of cases (600 here; `nox -s fuzz` runs more).
"""

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from oraclenet import cli
from oraclenet.common.params import init_params, save_params
from oraclenet.judge.tolerances import DEFAULT_PATH
from tests.idx_files import idx_dir

CASES = int(os.environ.get("ORACLENET_FUZZ_CASES", "600"))
SEED = 20261125
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
TOKENS = ("0", "-1", "1e300", "1e-300", '"x"', "nan", "inf", "-inf", "[1, 2]", "{a = 1}",
          "true", "5", "[1]", "[2, 1]", "")


def mutate(blob: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random corruption of blob, and its name."""
    how = rng.choice(["flip", "truncate", "append", "insert", "header word", "zero", "empty"])
    b = bytearray(blob)
    n = len(b)
    if how == "flip" and n:
        for i in rng.integers(0, n, rng.integers(1, 9)):
            b[i] ^= int(rng.integers(1, 256))
    elif how == "truncate":
        del b[int(rng.integers(0, max(n, 1))):]
    elif how == "append":
        b += rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes()
    elif how == "insert":
        at = int(rng.integers(0, n + 1))
        b[at:at] = rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8).tobytes()
    elif how == "header word" and n >= 4:
        at = int(rng.integers(0, min(n, 32) - 3))
        b[at:at + 4] = struct.pack(">I", int(rng.integers(0, 2 ** 32)))
    elif how == "zero" and n:
        lo = int(rng.integers(0, n))
        b[lo:lo + int(rng.integers(1, 64))] = bytes(len(b[lo:lo + 64]))[:len(b[lo:lo + 64])]
    elif how == "empty":
        b = bytearray()
    return bytes(b), str(how)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Valid inputs to corrupt: an IDX directory, its gzip twin, parameters, tolerances."""
    root = tmp_path_factory.mktemp("bases")
    plain = idx_dir(root / "plain" if (root / "plain").mkdir() is None else root, n_train=30)
    gz = root / "gz"
    gz.mkdir()
    for name in IDX_FILES:
        (gz / f"{name}.gz").write_bytes(gzip.compress((plain / name).read_bytes()))
    save_params(init_params(3, 1), root / "params.npz")
    return dict(plain=plain, gz=gz, params=root / "params.npz", matrices=matrices(root))


MATRIX_FORMATS = ("npy", "npz", "mat", "arma_binary", "arma_ascii", "csv", "raw")


def matrices(root: Path) -> dict[str, list[Path]]:
    """One GEMM call, C = 2 A B + 5 C0 in float32, in every format check gemm reads."""
    rng = np.random.default_rng(3)
    A, B, C0 = (rng.standard_normal(s).astype(np.float32) for s in ((5, 4), (4, 3), (5, 3)))
    C = 2 * A @ B + 5 * C0
    made = {}
    for fmt in MATRIX_FORMATS:
        paths = []
        for name, M in (("A", A), ("B", B), ("C0", C0), ("C", C)):
            path = root / fmt / f"{name}.{fmt}"
            path.parent.mkdir(exist_ok=True)
            if fmt in ("npy", "npz"):
                (np.save if fmt == "npy" else np.savez)(path, M)
            elif fmt == "mat":
                scipy.io.savemat(path, {name: M})
            elif fmt == "arma_binary":
                path.write_bytes(f"ARMA_MAT_BIN_FN004\n{M.shape[0]} {M.shape[1]}\n".encode()
                                 + M.tobytes(order="F"))
            elif fmt == "arma_ascii":
                np.savetxt(path, M, header=f"ARMA_MAT_TXT_FN004\n{M.shape[0]} {M.shape[1]}",
                           comments="")
            elif fmt == "csv":
                np.savetxt(path, M, delimiter=",")
            else:
                path.write_bytes(M.tobytes())
            paths.append(path)
        made[fmt] = paths
    return made


def matrix_case(rng, bases, where: Path) -> tuple[list[str], str]:
    fmt = str(rng.choice(MATRIX_FORMATS))
    shutil.copytree(bases["matrices"][fmt][0].parent, where)
    paths = [where / p.name for p in bases["matrices"][fmt]]
    victim = paths[int(rng.integers(0, 4))]
    corrupted, how = mutate(victim.read_bytes(), rng)
    victim.write_bytes(corrupted)
    argv = ["check", "gemm", "--files", *map(str, paths), "--alpha", "2", "--beta", "5"]
    if fmt == "raw":
        argv += ["--raw", "float32", "--shape", "5,3,4"]
    return argv, f"{fmt} {victim.name}: {how}"


def mat_params_case(rng, bases, where: Path) -> tuple[list[str], str]:
    """check step from .mat parameters, one of them corrupted."""
    where.mkdir()
    p = init_params(2, 4)
    X = np.random.default_rng(5).random((784, 3))
    scipy.io.savemat(where / "before.mat", p.blocks())
    scipy.io.savemat(where / "after.mat", p.blocks())
    np.savez(where / "batch.npz", X=X, labels=np.arange(3))
    victim = where / str(rng.choice(["before.mat", "after.mat", "batch.npz"]))
    corrupted, how = mutate(victim.read_bytes(), rng)
    victim.write_bytes(corrupted)
    argv = ["check", "step", "--before", str(where / "before.mat"), "--after",
            str(where / "after.mat"), "--batch", str(where / "batch.npz"), "--lr", "0.5"]
    return argv, f"{victim.name}: {how}"


def idx_case(rng, bases, where: Path) -> tuple[list[str], str]:
    source = bases["gz" if rng.random() < 0.5 else "plain"]
    shutil.copytree(source, where)
    victim = where / rng.choice(sorted(p.name for p in where.iterdir()))
    blob = victim.read_bytes()
    if victim.suffix == ".gz" and rng.random() < 0.5:  # corrupt what is inside the stream
        inner, how = mutate(gzip.decompress(blob), rng)
        victim.write_bytes(gzip.compress(inner))
        how = f"gzip of {how}"
    else:
        corrupted, how = mutate(blob, rng)
        victim.write_bytes(corrupted)
    argv = ["train", "--data", str(where), "-n", "2", "-e", "1", "-b", "16", "-l", "0.1",
            "--quiet"]
    return argv, f"IDX {victim.name}: {how}"


def npz_case(rng, bases, where: Path) -> tuple[list[str], str]:
    where.mkdir()
    path = where / "p.npz"
    if rng.random() < 0.5:
        corrupted, how = mutate(bases["params"].read_bytes(), rng)
        path.write_bytes(corrupted)
    else:
        p = init_params(int(rng.integers(1, 4)), 2)
        blocks = dict(p.blocks())
        name = str(rng.choice(list(blocks)))
        dtype = rng.choice(["int8", "float16", "float32", "complex64", "bool", "U3", "uint64"])
        shape = (blocks[name].shape if rng.random() < 0.5 else
                 tuple(int(k) for k in rng.integers(0, 12, int(rng.integers(0, 4)))))
        values = rng.standard_normal(shape) * float(rng.choice([1.0, 1e3]))
        if rng.random() < 0.3 and values.size:
            values.flat[0] = float(rng.choice([np.nan, np.inf, -np.inf]))
        blocks[name] = values.astype(dtype)
        if rng.random() < 0.2:
            del blocks[str(rng.choice(list(blocks)))]
        np.savez(path, **blocks)
        how = f"{name} as {dtype} {shape}"
    argv = ["train", "--init-from", str(path), "--data", str(bases["plain"]), "-e", "1", "-b",
            "16", "-l", "0.1", "--quiet"]
    return argv, f"npz: {how}"


def toml_case(rng, bases, where: Path) -> tuple[list[str], str]:
    where.mkdir()
    lines = DEFAULT_PATH.read_text().splitlines()
    if rng.random() < 0.4:
        text, how = mutate("\n".join(lines).encode(), rng)
    else:
        values = [i for i, line in enumerate(lines) if " = " in line and not line[0] == "#"]
        row = int(rng.choice(values))
        kind = rng.choice(["value", "delete", "duplicate"])
        if kind == "value":
            token = str(rng.choice(TOKENS))
            lines[row] = f"{lines[row].split(' = ')[0]} = {token}"
        elif kind == "delete":
            del lines[row]
        else:
            lines.insert(row, lines[row])
        text, how = "\n".join(lines).encode(), f"{kind} at line {row + 1}"
    path = where / "tolerances.toml"
    path.write_bytes(text)
    os.environ["ORACLENET_TOLERANCES"] = str(path)
    argv = ["gradcheck", "-n", "1", "--batch", "2", "--max-entries", "2", "--data",
            str(bases["plain"]), "--report", str(where / "report")]
    return argv, f"tolerances.toml: {how}"


# The command's documented exit codes: 0 done, 1 a verdict failed (gradcheck), 2 bad input,
# 3 training diverged (a corrupted but readable parameter file of huge values).
# check: 0 passed, 1 a verdict failed, 2 bad input.
ALLOWED = {"train": {0, 2, 3}, "gradcheck": {0, 1, 2}, "check": {0, 1, 2}}


def test_every_corrupted_input_ends_cleanly(bases, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "exit_on_sigterm", lambda: None)  # pytest keeps its handlers
    monkeypatch.delenv("ORACLENET_TOLERANCES", raising=False)
    rng = np.random.default_rng(SEED)
    makers = (idx_case, idx_case, npz_case, toml_case, matrix_case, mat_params_case)
    failures, codes = [], {}
    for case in range(CASES):
        make = makers[case % len(makers)]
        argv, how = make(rng, bases, tmp_path / f"case{case}")
        try:
            code = cli.main(argv)
        except BaseException as err:
            failures.append(f"case {case} ({how}): {type(err).__name__}: {err}")
            continue
        finally:
            os.environ.pop("ORACLENET_TOLERANCES", None)
        err = capsys.readouterr().err
        codes[code] = codes.get(code, 0) + 1
        if code not in ALLOWED[argv[0]]:
            failures.append(f"case {case} ({how}): exit code {code}")
        elif code >= 2 and (err.count("\n") != 1 or "Traceback" in err):
            failures.append(f"case {case} ({how}): stderr {err[-500:]!r}")
    assert failures == [], f"{len(failures)} of {CASES} cases:\n" + "\n".join(failures[:20])
    assert codes.get(2, 0) > CASES // 3, codes  # most corruptions are caught as bad input

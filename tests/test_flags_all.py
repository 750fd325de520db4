"""Every flag of every `oraclenet` command is honoured or refused, never ignored (issue 20
section 1). tests/test_flags.py does it for the `check` commands; this file for every other
one. The commands and their flags come from build_parser() itself, walked recursively: a
command, or a flag (or a positional), added without a line here fails
test_every_command_and_flag_has_its_line.

Each flag has one or more proofs, each at one of three levels:

- run: the command runs for real, on tiny sizes (IDX files of 10 and 12 images), in a folder
  of its own, and the flag's value shows in what it records (the --json run record's config,
  gradcheck's report.json settings, bench's result), in what it prints, in its exit code, or
  in the files it writes (and the folder holds nothing else); compared with a run without
  the flag, or with another value of it. Several flags share a run where each is visible
  separately in the record.
- handler: `oraclenet.cli.main(argv)` runs in this process with the expensive function that
  the handler calls replaced by a recorder, and the flag's value is shown to arrive in its
  settings or arguments.
- refused: where it does not apply, the flag is refused with one line on stderr that names
  it, and exit code 2 (in a subprocess, or in this process before any work is reached).

By command:

- train, gradcheck: run (train's --init-from and --shuffle also refused, with --init, -n or
  --preset of another H, and with --dump-dir).
- bench: run, once: its defaults take minutes, so each value is shown recorded and not the
  parser's default instead of compared with a run without it.
- gpu train: run in Numba's CUDA simulator (one step an epoch; --gemm naive but in the run
  without it: the other GEMMs take 4 s a step there); --shuffle refused.
- mpi train: run under `mpiexec -n 1` (--gpu in the simulator); --dtype, --gemm without --gpu
  and --shuffle refused; --timeout (recorded nowhere) and --preset (a third MPI run saved)
  at the handler level, parallel.train.main replaced.
- verify (every section: minutes), separation (the corpus: minutes), gpu bench (a GPU; here
  it says it has none and measures nothing), gpu ptx (NVVM: seconds a kernel; its module,
  which loads numba, replaced whole), mpi bench (mpiexec at P = 1..4), regress record and
  regress check (ensembles of trainings): handler, and refused where a flag does not apply
  (regress: cli_regress._settings; regress check's --run, --impl and --kind against a
  baseline of another kind, baseline.read replaced).
- the root's --version: in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import oraclenet.cli as cli
from oraclenet.cli import build_parser
from oraclenet.common.params import init_params, save_params
from tests.idx_files import idx_dir
from tests.test_flags import SOURCES as CHECK_SOURCES

BIN = Path(sys.executable).parent
ORACLENET, MPIEXEC = BIN / "oraclenet", BIN / "mpiexec"
NO_SIMULATOR = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
SIMULATOR = dict(NO_SIMULATOR, NUMBA_ENABLE_CUDASIM="1")
TIMEOUT_S = 300


# --- the tree ---------------------------------------------------------------------------------

def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(path, parser, is a leaf) for parser and every subcommand under it."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    yield path, parser, not subs
    for action in subs:
        for name, sub in action.choices.items():
            yield from walk(sub, (*path, name))


def long_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Each argument by its longest name (--hidden for -n/--hidden), a positional by its dest."""
    return {max(action.option_strings, key=len) if action.option_strings else action.dest
            for action in parser._actions
            if not isinstance(action, argparse._SubParsersAction)} - {"--help"}


def commands() -> dict[tuple[str, ...], set[str]]:
    """Every command (a leaf) and every group with flags of its own, with its flags."""
    return {path: long_flags(parser) for path, parser, leaf in walk(build_parser())
            if leaf or long_flags(parser)}


def default_of(path: tuple[str, ...], flag: str):
    parser = next(p for found, p, _ in walk(build_parser()) if found == path)
    return next(a.default for a in parser._actions if flag in a.option_strings)


# --- the real runs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]  # after `oraclenet` ({D1}, {D2}: the data; {name}: that run's folder)
    env: dict
    outputs: frozenset[str]  # all that the run may leave in its folder
    mpi: bool  # under mpiexec -n 1


def spec(*argv: str, outputs=(), env=None, mpi=False) -> Run:
    return Run(argv, NO_SIMULATOR if env is None else env, frozenset(outputs), mpi)


# One step an epoch (9 training images), as few as Numba's simulator can run in seconds.
TINY = ("--data", "{D1}", "-n", "2", "-b", "9", "-e", "1")
# Every training flag at a value other than TINY's or the default, each visible in the record.
TRAIN_ALL = ("--data", "{D2}", "-n", "1", "-b", "10", "-e", "2", "-r", "0.01", "-l", "0.3",
             "--pixels", "raw", "--init", "course", "--seed", "3", "--val-fraction", "0.25",
             "--print-loss", "--allow-divergence")
OUTPUTS, WRITTEN = ("--json", "g.json", "--save", "g.npz", "--dump-dir", "dump"), (
    "g.json", "g.npz", "dump")
DIVERGES = (*TINY, "-b", "3", "--quiet", "--pixels", "raw", "-l", "1e300")  # J inf at step 2
PRESET = ("--data", "{D1}", "-n", "1", "-b", "9", "--preset", "grade3", "--quiet")
MPI_TINY = ("mpi", "train", "--strategy", "data", *TINY, "--quiet")

RUNS = {
    "train": spec("train", *TINY, "--quiet", "--json", "b.json", outputs=["b.json"]),
    "train_all": spec("train", *TRAIN_ALL, *OUTPUTS, outputs=WRITTEN),
    "train_shuffle": spec("train", *TINY, "--quiet", "--shuffle", "--json", "s.json",
                          outputs=["s.json"]),
    "train_preset": spec("train", *PRESET, "--init-from", "{train_all}/g.npz", "--json",
                         "p.json", "--dump-dir", "dump", outputs=["p.json", "dump"]),
    "train_diverges": spec("train", *DIVERGES),
    "train_diverges_allowed": spec("train", *DIVERGES, "--allow-divergence"),
    "gradcheck": spec("gradcheck", "-n", "3", "--batch", "4", "--max-entries", "100",
                      "--report", "r", outputs=["r"]),
    "gradcheck_all": spec("gradcheck", "-n", "2", "--batch", "3", "-r", "0.5", "--seed", "1",
                          "--max-entries", "50", "--report", "r", outputs=["r"]),
    "gradcheck_data": spec("gradcheck", "-n", "3", "--batch", "4", "--max-entries", "100",
                           "--data", "{D1}", "--report", "r", outputs=["r"]),
    "bench": spec("bench", "--images", "90", "-n", "4", "-b", "30", "--rounds", "1",
                  "--square", "16", "--target", "0.001", "--json", "r.json",
                  outputs=["r.json"]),
    "gpu_train": spec("gpu", "train", *TINY, "--quiet", "--json", "b.json", outputs=["b.json"],
                      env=SIMULATOR),
    # the naive GEMM: 0.8 s a step in the simulator, the others 4 s
    "gpu_train_all": spec("gpu", "train", *TRAIN_ALL, "--dtype", "float64", "--gemm",
                          "naive", *OUTPUTS, outputs=WRITTEN, env=SIMULATOR),
    "gpu_train_preset": spec("gpu", "train", *PRESET, "--gemm", "naive", "--json", "p.json",
                             outputs=["p.json"], env=SIMULATOR),
    "gpu_train_shuffle": spec("gpu", "train", *TINY, "--quiet", "--shuffle", env=SIMULATOR),
    "mpi_train": spec(*MPI_TINY, "--json", "b.json", outputs=["b.json"], mpi=True),
    "mpi_train_all": spec("mpi", "train", "--strategy", "model", *TRAIN_ALL, "--gpu",
                          "--dtype", "float64", "--gemm", "naive", *OUTPUTS, outputs=WRITTEN,
                          env=SIMULATOR, mpi=True),
    "mpi_train_shuffle": spec(*MPI_TINY, "--shuffle", mpi=True),
    "mpi_train_dtype": spec(*MPI_TINY, "--dtype", "float64", mpi=True),
    "mpi_train_gemm": spec(*MPI_TINY, "--gemm", "shared", mpi=True),
}


@dataclass
class Done:
    code: int
    out: str
    err: str
    where: Path  # the folder it ran in

    @property
    def files(self) -> set[str]:
        return {p.name for p in self.where.iterdir()}

    def json(self, name: str) -> dict:
        return json.loads((self.where / name).read_text())


class Runs:
    """The real runs, each made once, when a proof first asks for it."""

    def __init__(self, root: Path):
        self.root, self.done = root, {}
        self.places = {"D1": str(idx_dir(self._new("D1"), n_train=10, n_test=1, seed=0)),
                       "D2": str(idx_dir(self._new("D2"), n_train=12, n_test=1, seed=1))}

    def _new(self, name: str) -> Path:
        where = self.root / name
        where.mkdir()
        return where

    def __call__(self, name: str) -> Done:
        if name not in self.done:
            self.done[name] = self._run(name, RUNS[name])
        return self.done[name]

    def __getitem__(self, key: str) -> str:  # what {key} stands for in a run's argv
        return self.places[key] if key in self.places else str(self(key).where)

    def _run(self, name: str, run: Run) -> Done:
        argv = [a.format_map(self) for a in run.argv]
        where = self._new(name)
        prefix = [str(MPIEXEC), "-n", "1"] if run.mpi else []
        done = subprocess.run([*prefix, str(ORACLENET), *argv], cwd=where, capture_output=True,
                              text=True, env=run.env, timeout=TIMEOUT_S)
        return Done(done.returncode, done.stdout, done.stderr, where)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("flags_all"))


# --- in this process, the expensive call replaced ---------------------------------------------

class InProcess:
    """oraclenet.cli.main(argv) here, without the process-wide tuning of the real command (the
    test process keeps its signal handlers and its NUMBA_ENABLE_CUDASIM: choose() is
    replaced), each function named replaced by a recorder of its calls. {tmp} in argv is a
    folder of the test's own, holding h5.npz (parameters of H = 5)."""

    def __init__(self, monkeypatch, capsys, tmp: Path):
        self.monkeypatch, self.capsys, self.tmp = monkeypatch, capsys, tmp
        for name in ("tune_for_speed", "tune_simulator", "exit_on_sigterm",
                     "quiet_float_warnings"):
            monkeypatch.setattr(cli, name, lambda: None)
        monkeypatch.setattr("oraclenet.gpu.target.choose", lambda: "Numba CUDA simulator")
        save_params(init_params(5, 0), tmp / "h5.npz")

    def __call__(self, argv, replaced: dict[str, object] | None = None):
        """(exit code, {function name: [(args, kwargs), ...]}, stdout, stderr)."""
        calls: dict[str, list] = {}
        with pytest.MonkeyPatch.context() as call:  # undone after this call
            for target, result in (replaced or {}).items():
                call.setattr(target, self.recorder(target, result, calls))
            code = cli.main([a.format(tmp=self.tmp) for a in argv])
        out, err = self.capsys.readouterr()
        return code, calls, out, err

    @staticmethod
    def recorder(target: str, result, calls: dict):
        def fake(*args, **kwargs):
            calls.setdefault(target.rsplit(".", 1)[1], []).append((args, kwargs))
            if isinstance(result, BaseException):
                raise result
            return result(*args, **kwargs) if callable(result) else result

        return fake


# --- the proofs -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    level: str  # run, handler or refused (the module's docstring)
    check: Callable  # (runs, in_process) -> None, asserting


def _record(name: str, field: str | None) -> Callable[[Runs], dict]:
    """What run `name` recorded: its --json file, or its --report's report.json; field of it."""
    argv = RUNS[name].argv
    flag = "--report" if "--report" in argv else "--json"
    path = argv[argv.index(flag) + 1] + ("/report.json" if flag == "--report" else "")
    return lambda runs: (lambda found: found[field] if field else found)(runs(name).json(path))


def recorded(name: str, key: str, value, base: str, field: str | None = "config") -> Proof:
    """Run `name` records value at [field][key]; run `base` (without the flag, or with another
    value) something else."""
    def check(runs, _):
        for done in (runs(name), runs(base)):
            assert done.code in (0, 1), done.err[-2000:]
        found, before = _record(name, field)(runs), _record(base, field)(runs)
        assert found.get(key) == value, (key, found.get(key))
        assert before.get(key) != value, (key, before.get(key))

    return Proof("run", check)


def recorded_not_default(path: tuple[str, ...], name: str, flag: str, key: str, value,
                         field: str | None = None) -> Proof:
    """Run `name` records the flag's value, which is not the parser's default: too long a run
    to make without the flag."""
    def check(runs, _):
        assert runs(name).code in (0, 1), runs(name).err[-2000:]
        assert _record(name, field)(runs)[key] == value != default_of(path, flag)

    return Proof("run", check)


def prints(name: str, text: str, base: str) -> Proof:
    def check(runs, _):
        assert text in runs(name).out, runs(name).out[-2000:]
        assert text not in runs(base).out, runs(base).out[-2000:]

    return Proof("run", check)


def writes(name: str, *paths: str, base: str | None = None) -> Proof:
    """Run `name` wrote each path, and its folder holds only its outputs; run `base`, without
    the flag, none of them."""
    def check(runs, _):
        done = runs(name)
        assert done.code in (0, 1), done.err[-2000:]
        for path in paths:
            assert (done.where / path).exists(), (path, done.files)
        assert done.files == set(RUNS[name].outputs), done.files
        if base is not None:
            assert not any((runs(base).where / p.split("/")[0]).exists() for p in paths)

    return Proof("run", check)


def exits(name: str, code: int, base: str, base_code: int) -> Proof:
    def check(runs, _):
        assert runs(name).code == code, runs(name).err[-2000:]
        assert runs(base).code == base_code, runs(base).err[-2000:]
        if base_code in (2, 3):  # refused, diverged: one line
            assert len(runs(base).err.strip().splitlines()) == 1, runs(base).err[-2000:]

    return Proof("run", check)


def one_line(code: int, err: str, flag: str) -> None:
    assert code == 2 and len(err.strip().splitlines()) == 1, (code, err[-2000:])
    assert flag in err, err


def refused_run(name: str, flag: str) -> Proof:
    def check(runs, _):
        one_line(runs(name).code, runs(name).err, flag)

    return Proof("refused", check)


def refused(argv, flag: str, replaced: dict | None = None) -> Proof:
    """In this process, refused before any work: `replaced` (each raising AssertionError, say)
    is not reached."""
    def check(_, here):
        code, calls, _, err = here(argv, replaced)
        one_line(code, err, flag)
        assert not calls, calls

    return Proof("refused", check)


def arrives(argv, target: str, expect: Callable, result=None, also: dict | None = None
            ) -> Proof:
    """In this process: target, replaced, is called once, and expect(args, kwargs, tmp)."""
    def check(_, here):
        code, calls, _, err = here(argv, {target: result, **(also or {})})
        name = target.rsplit(".", 1)[1]
        assert len(calls.get(name, [])) == 1, (code, err, calls)
        assert expect(*calls[name][0], here.tmp), calls[name][0]

    return Proof("handler", check)


def settings(**fields) -> Callable:
    """expect: the first argument (a Settings) holds these fields ({tmp} in a Path filled)."""
    def fill(value, tmp):
        return Path(str(value).format(tmp=tmp)) if isinstance(value, Path) else value

    return lambda args, kwargs, tmp: all(getattr(args[0], k) == fill(v, tmp)
                                         for k, v in fields.items())


# --- the trainers: train, gpu train, mpi train ------------------------------------------------

def trainer(name: str) -> dict[str, list[Proof]]:
    """What the three trainers share: add_train_arguments' flags (but --shuffle and --preset)
    and the outputs; run `name` with TINY's flags, `name`_all with TRAIN_ALL's."""
    every = f"{name}_all"
    config = {"--hidden": ("hidden", 1), "--reg": ("reg", 0.01), "--lr": ("lr", 0.3),
              "--epochs": ("epochs", 2), "--batch": ("batch", 10), "--pixels": ("pixels", "raw"),
              "--init": ("init", "course"), "--seed": ("seed", 3),
              "--val-fraction": ("val_fraction", 0.25), "--print-loss": ("print_loss", True),
              "--allow-divergence": ("allow_divergence", True)}
    table = {flag: [recorded(every, key, value, name)] for flag, (key, value) in config.items()}

    def data_differs(runs, _):
        got, then = _record(every, None)(runs), _record(name, None)(runs)
        assert got["config"]["data"] == runs.places["D2"], got["config"]
        assert then["config"]["data"] == runs.places["D1"], then["config"]
        assert (got["n_train"], got["n_val"]) == (9, 3), got  # 12 images, 25% held out
        assert (then["n_train"], then["n_val"]) == (9, 1), then  # 10 images, 10%

    table["--data"] = [Proof("run", data_differs)]
    table["--print-loss"].append(prints(every, "epoch 1 iteration 1 loss", name))
    table["--json"] = [writes(name, "b.json"), writes(every, "g.json")]
    table["--save"] = [writes(every, "g.npz", base=name)]
    table["--dump-dir"] = [writes(every, "dump/run.json", "dump/params-0000.npz", base=name)]
    table["--quiet"] = [prints(every, "val accuracy", name)]  # the progress lines: not quiet
    return table


def starts_from(name: str, params: str) -> Proof:
    """Run `name`'s first parameters (its --dump-dir) are those of the file."""
    def check(runs, _):
        first = np.load(runs(name).where / "dump" / "params-0000.npz")
        saved = np.load(runs("train_all").where / params)
        for block in ("W1", "b1", "W2", "b2"):
            assert np.array_equal(first[block], saved[block]), block

    return Proof("run", check)


NOT_TRAINED = {"oraclenet.reference.train.run_training": AssertionError("trained")}

TRAIN = {
    **trainer("train"),
    "--shuffle": [recorded("train_shuffle", "shuffle", True, "train"),
                  refused(["train", "--shuffle", "--dump-dir", "{tmp}/d"], "--shuffle",
                          NOT_TRAINED)],
    "--preset": [recorded("train_preset", "lr", 0.002, "train"),
                 recorded("train_preset", "pixels", "raw", "train")],
    "--allow-divergence": [recorded("train_all", "allow_divergence", True, "train"),
                           exits("train_diverges_allowed", 0, "train_diverges", 3)],
    "--init-from": [
        starts_from("train_preset", "g.npz"),
        refused(["train", "--init", "course", "--init-from", "{tmp}/h5.npz"], "--init-from",
                NOT_TRAINED),
        refused(["train", "-n", "4", "--init-from", "{tmp}/h5.npz"], "--init-from",
                NOT_TRAINED),
        refused(["train", "--preset", "course", "--init-from", "{tmp}/h5.npz"], "--init-from",
                NOT_TRAINED)],
}

GPU_TRAIN = {
    **trainer("gpu_train"),
    "--shuffle": [refused_run("gpu_train_shuffle", "--shuffle")],
    "--preset": [recorded("gpu_train_preset", "lr", 0.002, "gpu_train"),
                 recorded("gpu_train_preset", "pixels", "raw", "gpu_train")],
    "--dtype": [recorded("gpu_train_all", "dtype", "float64", "gpu_train")],
    "--gemm": [recorded("gpu_train_all", "gemm", "naive", "gpu_train")],
}

MPI_MAIN = "oraclenet.parallel.train.main"
MPI_TRAIN = {
    **trainer("mpi_train"),
    "--strategy": [recorded("mpi_train_all", "strategy", "model", "mpi_train", field=None)],
    "--gpu": [recorded("mpi_train_all", "gpu", True, "mpi_train")],
    "--dtype": [recorded("mpi_train_all", "dtype", "float64", "mpi_train"),
                refused_run("mpi_train_dtype", "--dtype")],
    "--gemm": [recorded("mpi_train_all", "gemm", "naive", "mpi_train"),
               refused_run("mpi_train_gemm", "--gemm")],
    "--shuffle": [refused_run("mpi_train_shuffle", "--shuffle")],
    "--preset": [arrives(["mpi", "train", "--strategy", "data", "--preset", "grade3"], MPI_MAIN,
                         lambda args, kwargs, tmp: (args[0].lr, args[0].pixels, args[0].hidden)
                         == (0.002, "raw", 100), result=0)],
    "--timeout": [arrives(["mpi", "train", "--strategy", "data", "--timeout", "7"], MPI_MAIN,
                          lambda args, kwargs, tmp: args[1].timeout == 7.0
                          != default_of(("mpi", "train"), "--timeout"), result=0)],
}

# --- gradcheck and bench ----------------------------------------------------------------------

GRADCHECK = {
    **{flag: [recorded("gradcheck_all", key, value, "gradcheck", field="settings")]
       for flag, key, value in (("--hidden", "hidden", 2), ("--batch", "batch", 3),
                                ("--reg", "reg", 0.5), ("--seed", "seed", 1),
                                ("--max-entries", "max_entries", 50))},
    "--data": [Proof("run", lambda runs, _: _other_data(runs))],
    "--report": [writes("gradcheck", "r/report.json", "r/report.md", "r/gradcheck.png")],
}


def _other_data(runs) -> None:
    """The same settings on other images: other gradients (report.json records no data)."""
    got, then = _record("gradcheck_data", None)(runs), _record("gradcheck", None)(runs)
    assert got["settings"] == then["settings"], (got["settings"], then["settings"])
    assert got["entries"] != then["entries"]


BENCH = {
    **{flag: [recorded_not_default(("bench",), "bench", flag, key, value)]
       for flag, key, value in (("--images", "images", 90), ("--hidden", "hidden", 4),
                                ("--batch", "batch", 30), ("--rounds", "rounds", 1),
                                ("--square", "square", 16), ("--target", "target", 0.001))},
    "--json": [writes("bench", "r.json")],
}

# --- in this process: verify, separation, gpu bench, gpu ptx, mpi bench -----------------------

VERIFY_RUN = "oraclenet.verify.run"
VERIFY = {
    "--out": [arrives(["verify", "--out", "{tmp}/v"], VERIFY_RUN,
                      lambda args, kwargs, tmp: args[0] == tmp / "v", result=0)],
    "--section": [
        arrives(["verify", "--section", "gpu", "--section", "oracle"], VERIFY_RUN,
                lambda args, kwargs, tmp: args[1] == ["gpu", "oracle"], result=0),
        arrives(["verify"], VERIFY_RUN,
                lambda args, kwargs, tmp: args[1] == list(cli.SECTIONS), result=0)],
}


def _separation_run(cases, out, margin, command, kernels_on, say=print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    (out / "separation.md").write_text(command)
    return {"targets": {}}


SEPARATION_RUN, ALL_CASES = "oraclenet.corpus.separation.run", "oraclenet.corpus.cases.all_cases"
CORPUS = {ALL_CASES: [], SEPARATION_RUN: _separation_run,
          "oraclenet.corpus.separation.met": True}


def separation(flags, target: str, expect: Callable) -> Proof:
    also = {k: v for k, v in CORPUS.items() if k != target}
    return arrives(["separation", "--out", "{tmp}/s", *flags], target, expect, CORPUS[target],
                   also)


SEPARATION = {
    "--out": [separation([], SEPARATION_RUN, lambda args, kwargs, tmp: args[1] == tmp / "s")],
    "--quick": [separation(["--quick"], ALL_CASES, lambda args, kwargs, tmp: args == (True,)),
                separation([], ALL_CASES, lambda args, kwargs, tmp: args == (False,))],
    "--margin": [separation(["--margin", "5"], SEPARATION_RUN,
                            lambda args, kwargs, tmp: args[2] == 5.0),
                 separation([], SEPARATION_RUN, lambda args, kwargs, tmp: args[2] != 5.0)],
}

GPU_BENCH = {
    flag: [arrives(["gpu", "bench", "--out", "{tmp}/g", flag, value], "oraclenet.gpu.bench.run",
                   settings(**{key: expected}), result=0)]
    for flag, value, key, expected in (
        ("--repeats", "3", "repeats", 3), ("--images", "50", "images", 50),
        ("--epochs", "4", "epochs", 4), ("--oracle-cores", "1", "oracle_cores", 1),
        ("--out", "{tmp}/o", "out", Path("{tmp}/o")))
}


def ptx_report(monkeypatch_argv: list[str], expected: str | None) -> Proof:
    """gpu ptx in this process: its module (which loads numba and compiles) replaced by one
    whose run() records its argument; NUMBA_ENABLE_CUDASIM unset for the call only."""
    def check(_, here):
        fake = types.ModuleType("oraclenet.gpu.ptx")
        calls = []
        fake.run = lambda report: calls.append(report) or 0
        here.monkeypatch.setitem(sys.modules, "oraclenet.gpu.ptx", fake)
        import oraclenet.gpu

        here.monkeypatch.setattr(oraclenet.gpu, "ptx", fake, raising=False)
        here.monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
        code, _, _, err = here(monkeypatch_argv)
        assert code == 0 and calls == [None if expected is None else
                                       Path(expected.format(tmp=here.tmp))], (code, err, calls)

    return Proof("handler", check)


GPU_PTX = {"--report": [ptx_report(["gpu", "ptx", "--report", "{tmp}/k.md"], "{tmp}/k.md"),
                        ptx_report(["gpu", "ptx"], None)]}

MPI_BENCH = {
    flag: [arrives(["mpi", "bench", "--out", "{tmp}/m", flag, value],
                   "oraclenet.parallel.bench.run", settings(**{key: expected}), result=0)]
    for flag, value, key, expected in (
        ("--images", "50", "images", 50), ("--hidden", "6", "hidden", 6),
        ("--batch", "7", "batch", 7), ("--epochs", "1", "epochs", 1),
        ("--out", "{tmp}/o", "out", Path("{tmp}/o")), ("--timeout", "9", "timeout", 9.0))
}

# --- regress record and regress check -----------------------------------------------------------

SESSION = "oraclenet.regress.session"
IMPL = ("--impl", "mine:step")
GEMM = ("--impl", "mine:gemm", "--kind", "gemm")


def regress(command: str) -> dict[str, list[Proof]]:
    """Each flag arrives in session.Settings, given where it applies, and is refused where it
    does not (_settings in cli_regress.py; session.check for a baseline of another kind)."""
    where = "--out" if command == "record" else "--baseline"
    head, target = ["regress", command, where, "{tmp}/B"], f"{SESSION}.{command}"
    result = None if command == "record" else []
    untouched = {target: AssertionError(f"{command} reached")}

    def given(flags, **fields) -> Proof:
        return arrives([*head, *flags], target, settings(**fields), result)

    def refuses(flags, flag) -> Proof:
        return refused([*head, *flags], flag, untouched)

    table = {
        where: [given([], directory=Path("{tmp}/B"))],
        "--quick": [given(["--quick"], quick=True), given([], quick=False)],
        "--ranks": [given(["--ranks", "3"], ranks=3), refuses(["--ranks", "3", *IMPL], "--ranks"),
                    refuses(["--ranks", "3", "--run", "{tmp}"], "--ranks")],
        "--run": [given(["--run", "{tmp}/R"], run=Path("{tmp}/R")),
                  refuses(["--run", "{tmp}/R", *IMPL], "--run")],
        "--impl": [given([*IMPL], impl="mine:step", kind="step")],
        "--kind": [given([*GEMM], kind="gemm"), refuses(["--kind", "gemm"], "--kind")],
        "--dtype": [given([*IMPL, "--dtype", "float32"], dtype="float32"),
                    refuses(["--dtype", "float32"], "--dtype"),
                    refuses(["--dtype", "float32", "--run", "{tmp}"], "--dtype")],
        "--gemm": [given(["--gemm", "shared"], gpu_gemm="shared"),
                   refuses(["--gemm", "shared", *IMPL], "--gemm"),
                   refuses(["--gemm", "shared", "--run", "{tmp}"], "--gemm")],
        "--no-speed": [given(["--no-speed"], speed=False), given([], speed=True),
                       refuses(["--no-speed", "--run", "{tmp}"], "--no-speed")],
        "--timeout": [given([*IMPL, "--timeout", "5"], timeout=5.0),
                      given([*GEMM, "--timeout", "5"], timeout=5.0),
                      refuses(["--timeout", "5"], "--timeout")],
    }
    for flag, value in (("--convention", "product"), ("--arrays", "numba"), ("--layout", "col")):
        key = flag[2:]
        table[flag] = [given([*GEMM, flag, value], **{key: value}),
                       refuses([*IMPL, flag, value], flag)]
    if command == "record":
        table["--no-speed"].append(_record_measures_no_speed())
    else:
        table["--report"] = [given(["--report", "{tmp}/r"], report=Path("{tmp}/r")),
                             given([], report=None)]
        for flag, kinds in (("--run", ("oracle",)), ("--impl", ("oracle", "run")),
                            ("--kind", ("impl-gemm",))):
            for kind in kinds:
                table[flag].append(_refused_by_the_baseline(flag, kind))
    return table


def _record_measures_no_speed() -> Proof:
    """regress record --no-speed measures no speed: session._speeds is not called (each run
    is stopped at its first subject)."""
    def check(_, here):
        stop = {f"{SESSION}._speeds": {}, f"{SESSION}.make": ValueError("stopped here")}
        for flags, measured in (([], True), (["--no-speed"], False)):
            code, calls, _, err = here(["regress", "record", "--out", "{tmp}/B", *flags], stop)
            assert code == 2 and "stopped here" in err and len(calls["make"]) == 1, err
            assert ("_speeds" in calls) == measured, (flags, calls)

    return Proof("handler", check)


def _refused_by_the_baseline(flag: str, kind: str) -> Proof:
    """regress check against a baseline of kind `kind` (baseline.read replaced), where flag
    names a subject that the baseline does not hold: refused before any work."""
    given = {"--run": ["--run", "{tmp}/R"], "--impl": [*IMPL], "--kind": [*IMPL]}[flag]
    base = {"quick": False, "machine": {}, "fingerprints": {}, "speed": {},
            "subjects": {"s": {"kind": kind}}}
    replaced = {"oraclenet.regress.baseline.read": lambda directory: base,
                f"{SESSION}.make": AssertionError("made a run"),
                f"{SESSION}._speeds": AssertionError("measured")}

    def check(_, here):
        code, calls, _, err = here(["regress", "check", "--baseline", "{tmp}/B", *given],
                                   replaced)
        one_line(code, err, flag)
        assert set(calls) == {"read"}, calls

    return Proof("refused", check)


# --- the root ---------------------------------------------------------------------------------

def _version(_, here) -> None:
    with pytest.raises(SystemExit) as ended:
        here(["--version"])
    out = here.capsys.readouterr().out
    assert ended.value.code in (0, None) and out.startswith("oraclenet "), out
    code, _, out, _ = here([])  # without it: a command is required
    assert code == 2 and "oraclenet " not in out


ROOT = {"--version": [Proof("handler", _version)]}

TABLES = {
    (): ROOT, ("train",): TRAIN, ("gradcheck",): GRADCHECK, ("bench",): BENCH,
    ("verify",): VERIFY, ("separation",): SEPARATION, ("gpu", "train"): GPU_TRAIN,
    ("gpu", "bench"): GPU_BENCH, ("gpu", "ptx"): GPU_PTX, ("mpi", "train"): MPI_TRAIN,
    ("mpi", "bench"): MPI_BENCH, ("regress", "record"): regress("record"),
    ("regress", "check"): regress("check"),
}
CHECK_COMMANDS = {("check", command) for command, _ in CHECK_SOURCES}  # tests/test_flags.py


def test_every_command_and_flag_has_its_line():
    found = commands()
    assert set(found) == set(TABLES) | CHECK_COMMANDS, \
        f"commands without a table: {set(found) - set(TABLES) - CHECK_COMMANDS}; tables " \
        f"without a command: {set(TABLES) | CHECK_COMMANDS - set(found)}"
    for path, table in TABLES.items():
        assert set(table) == found[path], \
            f"oraclenet {' '.join(path)}: flags without a line: {found[path] - set(table)}; " \
            f"lines without a flag: {set(table) - found[path]}"
        assert all(table.values()), f"oraclenet {' '.join(path)}: a flag without a proof"


@pytest.mark.parametrize("path, flag", [(p, f) for p, t in TABLES.items() for f in t],
                         ids=lambda x: " ".join(x) if isinstance(x, tuple) else x)
def test_a_flag_changes_what_is_run_or_is_refused_in_one_line(runs, monkeypatch, capsys,
                                                               tmp_path, path, flag):
    here = InProcess(monkeypatch, capsys, tmp_path)
    for proof in TABLES[path][flag]:
        proof.check(runs, here)

"""The MPI trainers, started the way users start them: the real mpiexec of the mpich wheel,
under `python -m mpi4py`, with a timeout on every run so that nothing can hang."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import numpy as np
import pytest

from oraclenet.common import data
from oraclenet.common.params import init_params
from oraclenet.gpu.target import choose
from oraclenet.judge import bounds
from oraclenet.parallel.watchdog import Watchdog
from tests.idx_files import idx_dir

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MPIEXEC, ORACLENET = BIN / "mpiexec", BIN / "oraclenet"
TIMEOUT_S = 300
FEW_SECONDS = 10  # a stalled job's end beyond the watchdog's timeout: its poll, the abort
OUTCOMES = ("failure", "error", "skipped")  # a JUnit test case's children that are not a pass
choose()  # --gpu runs: on the GPU, or in the simulator, as the GPU tests


def mpiexec(*args, ranks=2, timeout=TIMEOUT_S):
    return subprocess.run([str(MPIEXEC), "-n", str(ranks), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def mpi(*argv, ranks=2):
    """`mpiexec -n ranks oraclenet mpi argv`, as users run it."""
    return mpiexec(str(ORACLENET), "mpi", *argv, ranks=ranks)


def needs_a_second_rank(outcomes: list[tuple[str, str]], ranks: int) -> bool:
    """A test case skipped on one rank because it needs two: a planted MPI bug shows only
    where a second rank holds part of the batch or the model. From two ranks on, every check
    of the suite runs."""
    return ranks == 1 and all(tag == "skipped" and message.endswith("needs 2 ranks or more")
                              for tag, message in outcomes)


@pytest.mark.parametrize("ranks", [1, 2])
def test_equivalence_suite_under_mpiexec(tmp_path, ranks):
    """tests/mpi, the MPI suite's checks as tests, at one and two ranks: every step against
    the oracle, the planted MPI bugs, the bytes per step, every test run and passed on every
    rank. The same checks at P = 1 to 4, --gpu included (every simulated step costs seconds),
    run in the verify report's MPI section, which tests/test_wheel.py runs from the installed
    wheel; `nox -s mpi` runs tests/mpi at P = 2, 3 and 4."""
    only = ("-k", "not gpu")
    # Each rank writes its own report (the ranks' stdout interleave): $PMI_RANK is mpich's.
    report = tmp_path / "rank-{}.xml"
    out = mpiexec("sh", "-c", f'exec "$0" -m mpi4py -m pytest --with-mpi -q -p no:cacheprovider '
                  f'--junitxml={str(report).format("$PMI_RANK")} "$@"', sys.executable, *only,
                  "tests/mpi", ranks=ranks)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    selected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                               "-p", "no:cacheprovider", *only, "tests/mpi"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    expected = sorted(line.split("::", 1)[1] for line in selected.stdout.splitlines()
                      if "::" in line)
    assert expected, selected.stdout + selected.stderr
    for rank in range(ranks):  # every selected test ran and passed on every rank, but a
        # planted bug that needs a second rank (tests/mpi skips it on one, saying so)
        cases = ElementTree.parse(str(report).format(rank)).getroot().iter("testcase")
        outcomes = {c.get("name"): [(r.tag, r.get("message", "")) for r in c
                                    if r.tag in OUTCOMES] for c in cases}
        assert sorted(outcomes) == expected, f"rank {rank}"
        assert {name: o for name, o in outcomes.items()
                if o and not needs_a_second_rank(o, ranks)} == {}, f"rank {rank}"


@pytest.mark.parametrize("strategy", ["data", "model"])
def test_train_command_on_three_ranks(tmp_path, strategy):
    out = mpi("train", "--strategy", strategy, "-n", "7", "-e", "2", "-b", "50",
                   "--quiet", "--json", str(tmp_path / "run.json"), "--save",
                   str(tmp_path / "p.npz"), ranks=3)
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["ranks"] == 3 and record["strategy"] == strategy
    assert len(record["train_loss"]) == 2 * 90 and len(record["val_accuracy_per_epoch"]) == 2
    assert record["bytes_per_step_per_rank"] > 0 and (tmp_path / "p.npz").is_file()


def test_bad_arguments_stop_every_rank_with_one_message():
    out = mpi("train", "--strategy", "data", "-n", "-4", ranks=3)
    assert out.returncode == 2
    assert out.stderr.count("must be an integer >= 1, got -4") == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_arguments_that_differ_between_ranks_are_refused():
    rank = [str(ORACLENET), "mpi", "train", "--strategy", "model"]
    out = subprocess.run([str(MPIEXEC), "-n", "1", *rank, "-n", "5", ":", "-n", "1", *rank,
                          "-n", "6"], capture_output=True, text=True, timeout=TIMEOUT_S,
                         cwd=ROOT)
    assert out.returncode == 2
    assert "rank 1: arguments differ from rank 0's: hidden 6 != 5" in out.stderr


def test_data_error_on_rank_0_stops_every_rank():
    out = mpi("train", "--strategy", "model", "--data", "/no/such/dir", ranks=3)
    assert out.returncode == 2
    assert "rank 0: --data /no/such/dir: no such directory" in out.stderr


def test_an_exception_on_one_rank_ends_the_job_instead_of_hanging(tmp_path):
    """Rank 1 raises in the middle of training while the others wait in the allreduce."""
    script = tmp_path / "raise_on_rank_1.py"
    script.write_text(
        "from oraclenet.parallel.comm import Comm\n"
        "from oraclenet.parallel.data_parallel import DataParallel\n"
        "from oraclenet.common.data import synthetic\n"
        "from oraclenet.common.params import init_params\n"
        "comm = Comm()\n"
        "trainer = DataParallel(comm, init_params(4, 0), synthetic(40) if comm.rank == 0 "
        "else None, 8, 0.0, 0.1)\n"
        "trainer.step(0)\n"
        "if comm.rank == 1:\n"
        "    raise RuntimeError('planted failure on rank 1')\n"
        "trainer.step(1)\n")
    began = time.monotonic()
    out = mpiexec(sys.executable, "-m", "mpi4py", str(script), ranks=3, timeout=60)
    assert out.returncode != 0
    assert "planted failure on rank 1" in out.stderr
    assert time.monotonic() - began < 60


def test_an_unexpected_error_in_the_train_command_aborts_every_rank(tmp_path):
    """`oraclenet mpi train`'s own entry (what the console script calls): rank 0 fails while
    reading the data, outside any error the ranks agree on, and the others wait in a
    collective. The job is aborted, as `python -m mpi4py` would, instead of hanging."""
    script = tmp_path / "fail_on_rank_0.py"
    script.write_text(
        "import sys\n"
        "import oraclenet.parallel.train as train\n"
        "def load(*args):\n"
        "    raise RuntimeError('planted failure while rank 0 reads the data')\n"
        "train.load = load\n"
        "from oraclenet.cli import main\n"
        "sys.exit(main(['mpi', 'train', '--strategy', 'data', '-n', '4', '-e', '1']))\n")
    began = time.monotonic()
    out = mpiexec(sys.executable, str(script), ranks=3, timeout=60)
    assert out.returncode != 0
    assert "planted failure while rank 0 reads the data" in out.stderr
    assert time.monotonic() - began < 60


@pytest.mark.parametrize("strategy", ["data", "model"])
def test_train_command_with_gpu_kernels(tmp_path, strategy):
    """--gpu on 2 ranks (the simulator here: a tiny IDX set): the record says how it
    computed, and the first loss, from the seeded initial parameters, is the oracle's within
    its roundoff bound."""
    data_dir = idx_dir(tmp_path, n_train=20, n_test=4)
    out = mpi("train", "--strategy", strategy, "--gpu", "--dtype", "float64", "--gemm",
                   "naive", "--data", str(data_dir), "-n", "4", "-e", "1", "-b", "9", "--quiet",
                   "--json", str(tmp_path / "run.json"))
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["implementation"] == f"parallel ({strategy} parallelism, gpu naive GEMM, " \
                                       "float64)"
    assert len(record["train_loss"]) == 2 and "test_accuracy" in record  # 18 in batches of 9
    config = record["config"]
    train = data.load(str(data_dir), config["pixels"], config["val_fraction"]).train
    X, Y = train.batch(0, 9)
    verdict = bounds.compare_loss(record["train_loss"][0], init_params(4, config["seed"]), X, Y,
                                  config["reg"], np.float64)
    assert verdict.passed, verdict


def test_device_flags_need_gpu_and_model_parallelism_a_neuron_per_rank():
    out = mpi("train", "--strategy", "data", "--dtype", "float64")
    assert out.returncode == 2 and "--dtype and --gemm choose the GPU kernels: add --gpu" in \
        out.stderr
    out = mpi("train", "--strategy", "model", "--gpu", "-n", "2", ranks=3)
    assert out.returncode == 2
    assert "-n 2 hidden neurons cannot give each of 3 ranks one" in out.stderr


def test_a_network_too_big_for_the_machine_stops_every_rank_with_one_line():
    out = mpi("train", "--strategy", "data", "-n", "1000000000", ranks=3)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "every rank: -n 1000000000 hidden neurons with -b 32 needs about" in out.stderr


def test_divergence_stops_every_rank_at_the_same_step_with_exit_code_3():
    out = mpi("train", "--strategy", "model", "-l", "1e6", "-n", "16", "-e", "2", "--quiet",
              ranks=3)
    assert out.returncode == 3 and out.stderr.count("\n") == 1, out.stderr
    assert "training diverged at step " in out.stderr


ERROR_RUNS = int(os.environ.get("ORACLENET_MPI_ERROR_RUNS", "10"))


def test_rank_0s_message_is_the_last_line_on_stderr_every_time():
    """An agreed error (here rank 0's unreadable data) ends every rank with exit code 2 and
    no MPI_Abort, so nothing follows rank 0's line. ORACLENET_MPI_ERROR_RUNS sets the count
    (nox -s fuzz: 1,000)."""
    last = []
    for _ in range(ERROR_RUNS):
        out = mpi("train", "--strategy", "data", "--data", "/no/such/dir", ranks=3)
        lines = out.stderr.strip().splitlines()
        last.append(out.returncode == 2 and bool(lines) and
                    lines[-1].startswith("oraclenet mpi train: error: rank 0: --data"))
    assert sum(last) == ERROR_RUNS, f"{ERROR_RUNS - sum(last)} of {ERROR_RUNS} runs"


def rank_pids(rank: int, job: int) -> list[int]:
    """PIDs of the oraclenet processes started as MPI rank `rank` (hydra sets PMI_RANK in
    each one's environment) by the mpiexec of PID `job`: never another job's, which may run
    beside this test."""
    def parent(pid: str) -> int:
        return int((Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()[1])

    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or b"oraclenet" not in (entry / "cmdline").read_bytes():
                continue
            if f"PMI_RANK={rank}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            ancestor = int(entry.name)
            while ancestor > 1 and ancestor != job:
                ancestor = parent(str(ancestor))
            if ancestor == job:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def watchdog_state(now: float, heard: dict[int, float]) -> Watchdog:
    """Rank 0's watchdog (--timeout 4, a beat a second), its main thread idle for 4.2 s in an
    allreduce, having last heard each peer at heard[peer], each then waiting in it too: the
    state its thread judges (no MPI here; the runs under mpiexec are the tests below)."""
    dog = object.__new__(Watchdog)
    dog.threaded, dog.rank, dog.peers, dog.timeout, dog.beat = True, 0, sorted(heard), 4.0, 1.0
    dog.grace, dog.quiet = 2 * dog.beat + 1.0, 2 * dog.beat
    dog.where, dog.last = "step 2 (batch 2 of 282)", now - 4.2
    dog.comm = SimpleNamespace(waiting="allreduce (step)")
    dog.heard = {r: (t, "step 2 (batch 2 of 282)", now - t, "allreduce (step)")
                 for r, t in heard.items()}
    return dog


def test_a_rank_that_missed_its_beats_is_not_called_a_deadlock():
    """CI once saw rank 1 stopped inside the allreduce a beat after rank 0 entered it: at
    rank 0's timeout rank 1 was 3 s quiet, not yet 4 s silent, and every rank's last word
    was 'in the allreduce', so the verdict was a deadlock. Now it waits for the silence;
    ranks that all keep beating are still a deadlock."""
    now = 100.0
    assert watchdog_state(now, {1: now - 3.0, 2: now - 0.5})._verdict(now) is None
    later = now + 1.1
    assert watchdog_state(later, {1: now - 3.0, 2: later - 0.5})._verdict(later).startswith(
        "rank 1 stalled: no word from it for 4 s (it last said it was in step 2")
    assert watchdog_state(now, {1: now - 1.4, 2: now - 0.5})._verdict(now).startswith(
        "no rank made progress for 4 s, each waiting for the others")


@pytest.mark.serial  # a loaded machine could starve another rank for seconds
def test_a_stopped_rank_ends_the_job_within_the_timeout_naming_it(tmp_path):
    """SIGSTOP rank 1 of a data-parallel run: the watchdog ends the job within --timeout
    plus a few seconds, and names rank 1 and the step it was in. The few seconds (the
    watchdog's poll, the abort, mpiexec's teardown) assume a machine that starts and ends a
    3-rank job in less: that is measured first, and a machine too loaded for it cannot judge
    the time, and says so."""
    timeout = 4
    began = time.monotonic()
    assert mpiexec(sys.executable, "-c", "pass", ranks=3, timeout=TIMEOUT_S).returncode == 0
    if (empty_job := time.monotonic() - began) >= FEW_SECONDS:
        pytest.skip(f"cannot judge speed here: an empty 3-rank job took {empty_job:.1f} s, "
                    f"the {FEW_SECONDS} s allowed beyond the watchdog's timeout")
    proc = subprocess.Popen([str(MPIEXEC), "-n", "3", str(ORACLENET), "mpi", "train",
                             "--strategy", "data", "-n", "32", "-b", "16", "-e", "30",
                             "--print-loss", "--quiet", "--timeout", str(timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        assert "iteration 1 loss" in proc.stdout.readline()  # training is under way
        (victim,) = rank_pids(1, proc.pid)
        os.kill(victim, signal.SIGSTOP)
        stopped = time.monotonic()
        _, err = proc.communicate(timeout=timeout + 60)
        elapsed = time.monotonic() - stopped
    finally:
        for pid in rank_pids(1, proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
    assert proc.returncode != 0
    assert "rank 1 stalled: no word from it for" in err, err[-2000:]
    assert "while rank 0 waits in step " in err, err[-2000:]
    assert elapsed < timeout + FEW_SECONDS, elapsed

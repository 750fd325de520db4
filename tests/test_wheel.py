"""The package as users install it: the wheel built from this checkout, installed (not
editable) into a fresh virtual environment, and run from a directory whose own folders are
named gpu, parallel, reference, common and judge. Each of those folders is a decoy package
that fails loudly if anything imports it, so a command that works there used only oraclenet.*
and found tolerances.toml inside the wheel."""

import json
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.examples import STEPS, copy, problems
from tests.examples import run as run_step

ROOT = Path(__file__).resolve().parent.parent
DECOYS = ("gpu", "parallel", "reference", "common", "judge")
# The examples from the wheel: all their steps, but the simulated kernel's correct twin
# (minutes of simulator for a pass that tests/test_examples.py shows already).
SKIPPED_STEPS = {("numba_tiled_gemm", 1)}
VERDICT = """
import numpy as np
import oraclenet
from oraclenet.judge.roundoff import compare_gemm
rng = np.random.default_rng(0)
A, B = rng.standard_normal((33, 17)), rng.standard_normal((17, 9))
good = compare_gemm((A @ B).astype(np.float32), A.astype(np.float32), B.astype(np.float32))
bad = A @ B
bad[3, 4] += 1e-3
print(oraclenet.__file__)
print(good.passed, compare_gemm(bad, A, B).passed)
"""


def run(*argv, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh venv holding the wheel (and its dependencies, from pip),
    built from a copy of the checkout's sources: pip builds in the tree it is given, and
    setuptools' build/ there would keep a module removed since an earlier build."""
    where = tmp_path_factory.mktemp("wheel")
    sources = where / "sources"
    shutil.copytree(ROOT, sources, ignore=shutil.ignore_patterns(
        ".git", ".nox", ".venv", "build", "*.egg-info", "reports", "__pycache__"))
    venv.create(where / "venv", with_pip=True)  # its own pip: the test's venv may have none
    bin_dir = where / "venv" / "bin"
    built = run(bin_dir / "python", "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                where / "dist", sources, cwd=where)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (where / "dist").glob("oraclenet-*.whl")
    # pytest as users have it beside the package: the plugin's example needs it
    pip = run(bin_dir / "python", "-m", "pip", "install", "-q", wheel, "pytest", cwd=where,
              timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return bin_dir


@pytest.fixture
def foreign(tmp_path) -> Path:
    """A user's project: folders named like our rooms, each a package that refuses to load."""
    for name in DECOYS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"raise ImportError('the decoy {name}/ of the foreign directory was imported')\n")
    return tmp_path


def test_the_wheel_carries_tolerances_toml_and_no_top_level_name_of_ours(installed):
    site = next((installed.parent / "lib").glob("python*/site-packages"))
    assert (site / "oraclenet" / "tolerances.toml").read_text() == (
        ROOT / "tolerances.toml").read_text()
    ours = {p.name for p in site.iterdir()} & {"gpu", "parallel", "reference", "common",
                                                 "judge", "tests"}
    assert ours == set()


def test_train_and_a_verdict_from_a_foreign_directory(installed, foreign):
    train = run(installed / "oraclenet", "train", "-e", "1", "--quiet", "--json", "run.json",
                cwd=foreign)
    assert train.returncode == 0, train.stderr[-3000:]
    assert json.loads((foreign / "run.json").read_text())["config"]["epochs"] == 1
    verdict = run(installed / "python", "-c", VERDICT, cwd=foreign)
    assert verdict.returncode == 0, verdict.stderr[-3000:]
    where, outcome = verdict.stdout.split("\n")[:2]
    assert str(installed.parent) in where  # the installed package, not a checkout
    assert outcome == "True False"  # a correct float32 product passes, a wrong element fails


def test_every_command_is_listed_and_python_m_works_there_too(installed, foreign):
    """`python -m oraclenet` puts the foreign directory first on sys.path, decoys and all."""
    for command in ([installed / "oraclenet", "--help"],
                    [installed / "python", "-m", "oraclenet", "--help"]):
        out = run(*command, cwd=foreign)
        assert out.returncode == 0, out.stderr[-3000:]
        for line in ("oraclenet train", "oraclenet gradcheck", "oraclenet bench",
                     "oraclenet verify", "oraclenet gpu train", "oraclenet gpu bench",
                     "oraclenet gpu ptx", "oraclenet mpi train", "oraclenet mpi bench"):
            assert f"  {line} " in out.stdout, line
        assert "worker" not in out.stdout


def test_the_gradient_check_runs_there(installed, foreign):
    out = run(installed / "oraclenet", "gradcheck", "-n", "3", "--batch", "4", "--report",
              "gc", cwd=foreign)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((foreign / "gc" / "report.json").read_text())["passed"] is True


def test_verify_runs_its_suites_from_the_wheel_there(installed, foreign):
    """The two sections that ran the repository's tests/ before: the MPI suite under the
    wheel's mpiexec at P = 1..4 and the GPU suite in the simulator, from the installed
    package, in a folder with no tests/ and decoy rooms."""
    out = run(installed / "oraclenet", "verify", "--section", "gpu", "--section", "mpi",
              "--out", "report", cwd=foreign, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    index = (foreign / "report" / "index.md").read_text()
    assert index.index("## 1. MPI trainers") < index.index("## 2. GPU kernels"), index[:3000]
    assert index.count("Verdict: **PASS**") == 3, index  # the report's and each section's
    for ranks in range(1, 5):
        assert re.search(rf"^\| {ranks} \| PASS \| \d+ findings, 0 failed \|$", index,
                         re.MULTILINE), f"P = {ranks}"
    assert re.search(r"\(\d+ findings, 0 failed\), on the\nNumba CUDA simulator", index)


@pytest.mark.parametrize("name", sorted(STEPS))
def test_the_examples_from_a_foreign_directory(installed, foreign, name):
    """examples/ copied beside the decoys (the plugin's example keeps its own gpu/)."""
    where = copy(name, foreign)
    for decoy in DECOYS:
        if not (where / decoy).exists():
            shutil.copytree(foreign / decoy, where / decoy)
    for i, step in enumerate(STEPS[name]):
        if (name, i) in SKIPPED_STEPS:
            continue
        done = run_step(step, installed, where)
        found = problems(step, done, where)
        assert not found, (f"{name}: {' '.join(step.argv)}: {'; '.join(found)}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

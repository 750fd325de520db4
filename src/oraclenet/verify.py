"""`oraclenet verify`: the main job. Runs each room's section of the report in a fixed order
(the oracle trained with the defaults, its gradient check, the MPI trainers under mpiexec,
the GPU kernels, roundoff or bug: the judge measured) and writes OUT/index.md, numbering
the sections as it goes. Progress lines say which section is running and what it is doing
(for MPI, at which rank count)."""

from __future__ import annotations

import importlib
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from .common.files import Folder, write_text
from .common.report import Section, verdict_word

# name -> the module whose section(out, say) makes that part of the report, in report order
SECTIONS = {
    "oracle": "oraclenet.reference.verify",
    "gradcheck": "oraclenet.judge.verify",
    "mpi": "oraclenet.corpus.verify_mpi",
    "gpu": "oraclenet.corpus.verify_gpu",
    "separation": "oraclenet.corpus.verify",
}


GLOSSARY = """Words used below:
- **J**: the loss, cross-entropy over the batch plus the L2 term (reg/2) (|W1|^2 + |W2|^2).
- **ratio**: a result's error over what its bound allows; 1 or below passes. A planted bug
  must reach 100 (tolerances.toml teeth.min_bug_ratio).
- **rigorous** tier: a worst-case bound that no correct result can exceed, whatever its order
  of summation; above 1 the result is certainly wrong.
- **statistical** tier: a bound that honest rounding errors stay below except with a
  negligible probability; above 1 the error is too large for honest roundoff.
- **teacher-forced**: every step judged from the oracle's parameters, so that roundoff cannot
  compound; **free-running**: every step judged from the parameters the trainer itself
  reached, which also checks what it carries from one step to the next.
- **finding**: one thing a suite judged, named by its path (check / case / ranks / step /
  block).

When a section fails: its text lists the failing findings or verdicts with their cause; run
that section alone (`oraclenet verify --section NAME`); from a clone of the repository, the
tests behind it (`nox -s mpi`, `nox -s gpu`, `nox -s gradcheck`) show the failing case in
full, and `oraclenet separation` the judge's corpus."""

# Every file the sections and the index write: checked before the run (common/files.py).
FILES = ("index.md", "train.json", "loss.png", "accuracy.png", "mpi-speedup.png")


def _check_out(out: Path) -> None:
    """Refuse an OUT that cannot hold the report before spending the run on it."""
    from .corpus import separation
    from .judge import gradcheck

    for folder in (Folder(out, FILES), gradcheck.report_folder(out / "gradcheck"),
                   separation.folder(out / "separation")):
        folder.check()
    out.mkdir(parents=True, exist_ok=True)


def _run_section(name: str, number: int, count: int, out: Path) -> Section:
    module = importlib.import_module(SECTIONS[name])

    def say(message: str) -> None:
        print(f"verify [{number}/{count}] {name}: {message}", flush=True)

    began = time.perf_counter()
    try:
        section = module.section(out, say)
    except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as err:
        section = Section(module.TITLE, f"Verdict: **FAIL**: could not run: {err}", False)
    say(f"{verdict_word(section.passed)} ({time.perf_counter() - began:.0f} s)")
    return section


def run(out: Path, names: list[str]) -> int:
    """The sections named (in report order) into OUT/index.md; 0 when all pass."""
    import numpy as np

    _check_out(out)
    names = [n for n in SECTIONS if n in names]
    sections = [_run_section(n, i, len(names), out) for i, n in enumerate(names, 1)]
    passed = all(s.passed for s in sections)
    parts = [f"""# oraclenet verify

Verdict: **{verdict_word(passed)}**

Made by `oraclenet verify` (`nox -s verify`) on {platform.node()} ({platform.machine()},
Python {platform.python_version()}, numpy {np.__version__}), {datetime.now(UTC):%Y-%m-%d %H:%M}
UTC; sections: {', '.join(names)}.

{GLOSSARY}
"""]
    parts += [f"## {i}. {s.title}\n\n{s.body.strip()}\n" for i, s in enumerate(sections, 1)]
    write_text(Folder(out, FILES).file("index.md"), "\n".join(parts))
    print(f"{verdict_word(passed)}: report written to {out / 'index.md'}")
    return 0 if passed else 1

"""The one record of a thing judged, wherever it is judged: a check of a suite of our own
code (corpus/suite.py: the GPU and MPI suites of the verify report), a comparison of a
regression run with its baseline (regress/baseline.py), and what did not pass at the front
door (check/report.py findings: a failing verdict of a case, or a case without one), which
report.json lists under "findings" beside each case's verdicts.

A finding is data: where (its path: check / case / ranks / step / block), whether it is as
it must be, its verdict word, and its text (what failed and by how much, where, the cause
with its evidence, the effective precision: a Verdict's str()). It becomes a line, a table
row or JSON only at the edge (as torch.testing's ErrorMeta)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .verdict import Verdict


@dataclass(frozen=True)
class Finding:
    path: str  # e.g. "gemm/shared/float32/17x18x19/C", "run-a: trajectory"
    word: str  # pass, FAIL; a regression test's identical, consistent, drift, REGRESSION, ...
    text: str
    ok: bool = True  # as it must be
    check: str | None = None  # the verdict's family, for a table of ratios
    ratio: float | None = None
    bug: bool = False  # judging a planted bug (must fail) rather than honest code

    def __str__(self) -> str:
        return f"{self.path}: {self.word}: {self.text}"

    def as_json(self) -> dict:
        return asdict(self)


def from_verdict(path: str, verdict: Verdict, ok: bool | None = None,
                 bug: bool = False) -> Finding:
    """A verdict at `path` (its check appended); ok is the verdict's pass unless given."""
    ok = verdict.passed if ok is None else ok
    return Finding(f"{path}/{verdict.check}".lstrip("/"), "pass" if ok else "FAIL",
                   str(verdict), ok, verdict.check, verdict.ratio, bug)


def fact(path: str, ok: bool, text: str) -> Finding:
    """A fact that must hold; text says what was seen, whether it holds or not."""
    return Finding(path, "pass" if ok else "FAIL", text, bool(ok))

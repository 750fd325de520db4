"""Every example of examples/, run the way its README says, from a copy, with the checkout's
oraclenet: each planted bug is caught (exit 1, the case and the place named) and each correct
twin passes (exit 0). `nox -s examples` runs this file; `nox -s tests` runs it with the rest."""

import sys
from pathlib import Path

import pytest

from tests.examples import STEPS, copy, problems, run

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("name", sorted(STEPS))
def test_the_example_catches_its_bug_and_passes_its_twin(name, tmp_path):
    where = copy(name, tmp_path)
    for step in STEPS[name]:
        done = run(step, BIN, where)
        found = problems(step, done, where)
        assert not found, (f"{name}: {' '.join(step.argv)}: {'; '.join(found)}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

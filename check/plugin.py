"""The pytest plugin (entry point pytest11 "oraclenet"): a student's own `pytest` run checks
their GEMM, backprop or training step against the oracle, one test item per case.

    pytest --oraclenet-gemm=mine.py:gemm [--oraclenet-convention inplace-trans]
           [--oraclenet-arrays numba] [--oraclenet-layout col] [--oraclenet-dtype float32]
           [--oraclenet-sizes course] [--oraclenet-timeout 60]
    pytest --oraclenet-gemm=libmine.so:myGEMM --oraclenet-abi course
    pytest --oraclenet-grad=mine:backprop [--oraclenet-reg 0]
    pytest --oraclenet-step=mine:step [--oraclenet-reg 0] [--oraclenet-lr 0.1]

Each case of the battery (check/gemm.py, check/network.py) becomes an item with the id
`oraclenet::gemm[case | shape]`, marked `oraclenet` (-m "not oraclenet" leaves them out),
run in a child process with its timeout; a failure reads as the verdict's str(). Without
these options the plugin adds nothing, and it imports nothing heavy until asked: it is
loaded into every pytest run of the environment it is installed in, and must not disturb a
project's own markers (an `mpi` marker) or packages (its own `gpu`, `parallel`).
"""

from __future__ import annotations

import pytest

WHATS = ("gemm", "grad", "step")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oraclenet", "oraclenet: judge your own GEMM, backprop or "
                                         "training step against the oracle")
    group.addoption("--oraclenet-gemm", metavar="MODULE:FUNCTION",
                    help="check this GEMM (also path/to/file.py:FUNCTION)")
    group.addoption("--oraclenet-grad", metavar="MODULE:FUNCTION",
                    help="check this backprop: f(W1, b1, W2, b2, X, Y, reg) -> "
                         "(dW1, db1, dW2, db2)")
    group.addoption("--oraclenet-step", metavar="MODULE:FUNCTION",
                    help="check this training step: f(W1, b1, W2, b2, X, Y, lr, reg) -> "
                         "(W1, b1, W2, b2)")
    group.addoption("--oraclenet-convention", default=None,
                    help="the GEMM's call: inplace, inplace-trans or product (inplace)")
    group.addoption("--oraclenet-abi", default=None,
                    help="the GEMM is a compiled library's symbol (path/libmine.so:SYMBOL) "
                         "called through this C ABI: course or cblas (check/native.py)")
    group.addoption("--oraclenet-arrays", default="numpy",
                    help="what the GEMM takes: numpy, numba or cupy (numpy)")
    group.addoption("--oraclenet-layout", default=None,
                    help="row or col (row; col for --oraclenet-abi course)")
    group.addoption("--oraclenet-dtype", default="float64", help="float32 or float64 (float64)")
    group.addoption("--oraclenet-precision", default=None,
                    help="the GEMM's declared precision (default: its dtype's)")
    group.addoption("--oraclenet-sizes", default="quick", help="quick, course or full (quick)")
    group.addoption("--oraclenet-reg", type=float, default=None,
                    help="lambda, the L2 weight the backprop or step is called with (0.01)")
    group.addoption("--oraclenet-lr", type=float, default=None,
                    help="the learning rate the step is called with (0.5)")
    group.addoption("--oraclenet-timeout", type=float, default=300.0,
                    help="seconds per case before it counts as hung (300)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "oraclenet: a case of oraclenet's battery "
                                       "(--oraclenet-gemm, --oraclenet-grad, --oraclenet-step)")


def _battery(config: pytest.Config, what: str, spec: str):
    from . import gemm, network

    option = lambda name: config.getoption(f"--oraclenet-{name}")  # noqa: E731
    flag = f"--oraclenet-{what}"
    if what == "gemm":
        target = gemm.target(spec, option("convention"), option("arrays"), option("layout"),
                             option("dtype"), option("precision"), flag=flag,
                             timeout=option("timeout"), abi=option("abi"))
        return gemm.battery(target, option("sizes"))
    reg = network.REG if option("reg") is None else option("reg")
    lr = network.LR if option("lr") is None else option("lr")
    return network.battery(network.target(spec, what, option("dtype"), flag=flag, reg=reg,
                                          lr=lr, timeout=option("timeout")), option("sizes"))


# The options only some batteries read, and those batteries.
READ_BY = {("convention", "abi", "layout", "precision"): ("gemm",), ("reg",): ("grad", "step"),
           ("lr",): ("step",)}


def _refuse_unread(config: pytest.Config) -> None:
    """A usage error for an option that no battery asked for reads: never ignored."""
    asked = {what for what in WHATS if config.getoption(f"--oraclenet-{what}")}
    for names, readers in READ_BY.items():
        unread = [f"--oraclenet-{n}" for n in names
                  if config.getoption(f"--oraclenet-{n}") is not None]
        if asked and unread and not asked & set(readers):
            raise pytest.UsageError(f"{', '.join(unread)}: read only with "
                                    + " or ".join(f"--oraclenet-{r}" for r in readers))


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect see the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    _refuse_unread(config)
    added = []
    for what in WHATS:
        spec = config.getoption(f"--oraclenet-{what}")
        if not spec:
            continue
        try:
            battery = _battery(config, what, spec)
        except ValueError as err:
            raise pytest.UsageError(str(err)) from None
        timeout = config.getoption("--oraclenet-timeout")
        for i, case in enumerate(battery.cases):
            name = f"{what}[{case.name} | {case.shape}]"
            item = CaseItem.from_parent(session, name=name, nodeid=f"oraclenet::{name}",
                                        battery=battery, index=i, timeout=timeout)
            item.add_marker("oraclenet")
            added.append(item)
    items[:0] = added


class CaseFailed(Exception):
    """A case that did not pass: its outcome."""

    def __init__(self, outcome) -> None:
        super().__init__(outcome.case)
        self.outcome = outcome


class CaseItem(pytest.Item):
    """One case of a battery, run in a child process with the timeout."""

    def __init__(self, *, battery, index: int, timeout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.battery, self.index, self.timeout = battery, index, timeout

    def runtest(self) -> None:
        outcome = self.battery.one(self.index, self.timeout)
        if not outcome.passed:
            raise CaseFailed(outcome)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseFailed):
            o = excinfo.value.outcome
            lines = [str(v) for v in o.verdicts if not v.passed] or [o.message]
            return f"{o.case} ({o.shape}): {o.status}\n" + "\n".join(lines)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"oraclenet {self.battery.title}: {self.name}"

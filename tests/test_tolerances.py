"""tolerances.toml: every number is used somewhere and lies in its sane range, and a broken or
loosened file is named clearly."""

import ast
from pathlib import Path

import pytest

from oraclenet.judge.tolerances import (
    DEFAULT_PATH,
    SANE,
    ToleranceError,
    load_tolerances,
    tolerance,
)

ROOT = Path(__file__).resolve().parent.parent
# The package's rooms: a tolerance is "used" when the code there reads it, never because a test,
# a benchmark, a comment or a docstring names it.
ROOMS = ("common", "reference", "judge", "gpu", "parallel", "corpus", "check", "regress",
         "src/oraclenet")

# The tolerances that only the test suite reads, each with the reason it belongs to the tests:
# they judge the oracle or the judge itself, not a user's code. Any other key must be read by
# the package; a key listed here that the package starts to read must leave the list.
TEST_ONLY = {
    "ulps.sigmoid_float64": "the float64 oracle's own sigmoid against a float64 reference: "
                            "a test of the oracle, not a verdict on a user's code",
    "identities.rel_u": "two float64 routes of the oracle to one quantity (the loss, a sum of "
                        "squares, a batch gradient) agree: a test of the oracle",
    "statistics.init_std_sigmas": "the seeded initialisation's spread: a test of the oracle's "
                                  "training, which no verdict reads",
    "gradcheck.v_depth": "the V shape of a correct gradient's sweep: a test of the oracle's "
                         "gradient and of the sweep; the check decides by rtol and the slope",
    "precision.bits_within": "the effective bits the judge reports are within this of each "
                             "model's nominal bits: the judge's accuracy, measured by its tests",
    **{f"tightness.{name}": "the fraction of a bound an honest worst case must reach: the "
                            "judge's tightness, measured by tests/test_tightness.py"
       for name in ("gemm_rigorous_float32", "gemm_rigorous_float64", "gemm_statistical",
                    "rowsum_rigorous", "rowsum_statistical", "precision", "step", "gradient",
                    "sigmoid", "softmax", "output_delta", "sigmoid_delta", "update",
                    "gradcheck", "rigorous_by_size_float32", "rigorous_by_size_float64",
                    "statistical_by_size", "step_every_setting_float32",
                    "step_every_setting_float64")},
}


def leaves(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def tolerances():
    table = load_tolerances(DEFAULT_PATH)
    return list(leaves({k: v for k, v in table.items() if k != SANE}))


def read_keys(files) -> set[str]:
    """The keys read by tolerance("...") calls in these files (found in their syntax trees, so
    a key named only in a comment, a docstring or a message does not count)."""
    keys = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and node.args
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) == "tolerance"
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                keys.add(node.args[0].value)
    return keys


def string_constants(files) -> set[str]:
    """Every string literal of these files (the tests name some keys in tables and f-strings)."""
    return {node.value for path in files for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def package_files():
    return [p for room in ROOMS for p in (ROOT / room).rglob("*.py")]


def test_every_tolerance_is_read_by_the_package_or_is_a_stated_test_only_key():
    read = read_keys(package_files())
    assert read, "no tolerance(...) call found in the package: the scan is broken"
    assert sorted(k for k in tolerances() if k not in read and k not in TEST_ONLY) == []
    # The list stays true: a key the package reads, or one that no longer exists, leaves it.
    assert sorted(set(TEST_ONLY) & read) == []
    assert sorted(set(TEST_ONLY) - set(tolerances())) == []


def test_every_test_only_tolerance_is_read_by_a_test():
    tests = [p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != Path(__file__).resolve()]
    named = read_keys(tests) | string_constants(tests)
    assert sorted(k for k in TEST_ONLY if k not in named) == []


def test_a_key_named_only_in_a_docstring_or_comment_is_not_read(tmp_path):
    """The scan's own teeth: a module that mentions a key without reading it reads nothing, and
    one that reads it (by either quote) does."""
    mention = write(tmp_path, '"""tolerance("gemm.factor") -> 1.0"""\n# tolerance("x.y")\n'
                    'MESSAGE = "see gemm.factor"\n', "mention.py")
    reads = write(tmp_path, "from oraclenet.judge.tolerances import tolerance\n"
                  "a = tolerance('gemm.factor')\nb = tolerances.tolerance(\"rowsum.factor\")\n",
                  "reads.py")
    assert read_keys([mention]) == set()
    assert read_keys([reads]) == {"gemm.factor", "rowsum.factor"}


def test_every_tolerance_has_a_range_and_every_range_a_tolerance():
    ranges = set(leaves(load_tolerances(DEFAULT_PATH)[SANE]))
    assert ranges == set(tolerances())


def test_every_number_has_a_derivation_above_it():
    lines = DEFAULT_PATH.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"line {i + 1} has no derivation"


def write(tmp_path, body: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


GOOD = "[gemm]\n# d\nfactor = 1.5\n[sane]\n# d\ngemm.factor = [1, 2]\n"


def test_missing_file(tmp_path):
    with pytest.raises(ToleranceError, match=r"nope.toml: tolerance file not found"):
        tolerance("gemm.factor", tmp_path / "nope.toml")


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ToleranceError, match=r"not a regular file"):
        tolerance("gemm.factor", tmp_path)


def test_malformed_file(tmp_path):
    with pytest.raises(ToleranceError, match=r"bad.toml: malformed TOML"):
        tolerance("gemm.factor", write(tmp_path, "[gemm\nfactor = 1\n", "bad.toml"))


@pytest.mark.parametrize("value", ['"one"', "-1", "true", "inf", "nan", "[1, 2]"])
def test_non_numbers_are_refused(tmp_path, value):
    path = write(tmp_path, GOOD.replace("factor = 1.5", f"factor = {value}"), "value.toml")
    with pytest.raises(ToleranceError, match=r"value.toml: gemm.factor = .* is not a finite"):
        tolerance("gemm.factor", path)


@pytest.mark.parametrize(("key", "value"), [("gradcheck.step", "0"),
                                            ("gradcheck.rtol", "1e300"),
                                            ("gemm.factor", "10"),
                                            ("teeth.min_bug_ratio", "1")])
def test_the_shipped_ranges_refuse_typos_and_loosened_judges(tmp_path, key, value):
    """step = 0 (a division by zero), rtol = 1e300, a GEMM bound loosened tenfold, a bug
    'caught' at ratio 1: each outside its range."""
    section, name = key.split(".")
    text = DEFAULT_PATH.read_text()
    lines = text.splitlines()
    at = lines.index(f"[{section}]")
    row = next(i for i in range(at, len(lines)) if lines[i].startswith(f"{name} = "))
    lines[row] = f"{name} = {value}"
    with pytest.raises(ToleranceError, match=rf"{key} = .* lies outside its sane range"):
        load_tolerances(write(tmp_path, "\n".join(lines) + "\n"))


def test_a_tolerance_without_a_range_is_refused(tmp_path):
    path = write(tmp_path, GOOD + "[rowsum]\n# d\nfactor = 1.0\n")
    with pytest.raises(ToleranceError, match=r"rowsum.factor has no range \[low, high\]"):
        tolerance("gemm.factor", path)


def test_unknown_key_table_and_range(tmp_path):
    with pytest.raises(ToleranceError, match=r"no tolerance named 'gemm.nope'"):
        tolerance("gemm.nope")
    with pytest.raises(ToleranceError, match=r"'gemm' is a table"):
        tolerance("gemm")
    with pytest.raises(ToleranceError, match=r"'sane.gemm.factor' is a range"):
        tolerance("sane.gemm.factor")


def test_environment_variable_points_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("ORACLENET_TOLERANCES", str(write(tmp_path, GOOD, "other.toml")))
    assert tolerance("gemm.factor") == 1.5

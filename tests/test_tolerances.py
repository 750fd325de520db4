"""tolerances.toml: every number is used somewhere and lies in its sane range, and a broken or
loosened file is named clearly."""

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
FOLDERS = ("common", "reference", "judge", "gpu", "parallel", "corpus", "check", "regress", "src",
           "tests")


def leaves(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def tolerances():
    table = load_tolerances(DEFAULT_PATH)
    return list(leaves({k: v for k, v in table.items() if k != SANE}))


def test_every_tolerance_is_used_by_code_or_tests():
    sources = "".join(p.read_text() for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))
    assert [k for k in tolerances() if f'"{k}"' not in sources] == []


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

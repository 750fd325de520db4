"""tolerances.toml: every number is used somewhere, and a broken file is named clearly."""

from pathlib import Path

import pytest

from oraclenet.judge.tolerances import DEFAULT_PATH, ToleranceError, load_tolerances, tolerance

ROOT = Path(__file__).resolve().parent.parent


def leaves(table, prefix=""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_every_tolerance_is_used_by_code_or_tests():
    sources = "".join(p.read_text() for folder in ("common", "reference", "judge", "gpu",
                                                    "parallel", "src", "tests")
                      for p in (ROOT / folder).rglob("*.py"))
    unused = [k for k in leaves(load_tolerances(DEFAULT_PATH)) if f'"{k}"' not in sources]
    assert unused == []


def test_every_tolerance_has_a_derivation_above_it():
    lines = DEFAULT_PATH.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"line {i + 1} has no derivation"


def test_missing_file(tmp_path):
    with pytest.raises(ToleranceError, match=r"nope.toml: tolerance file not found"):
        tolerance("gemm.factor", tmp_path / "nope.toml")


def test_malformed_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[gemm\nfactor = 1\n")
    with pytest.raises(ToleranceError, match=r"bad.toml: malformed TOML"):
        tolerance("gemm.factor", bad)


@pytest.mark.parametrize("value", ['"one"', "-1", "true", "inf"])
def test_non_numbers_are_refused(tmp_path, value):
    bad = tmp_path / "value.toml"
    bad.write_text(f"[gemm]\nfactor = {value}\n")
    with pytest.raises(ToleranceError, match=r"value.toml: gemm.factor = .* is not a finite"):
        tolerance("gemm.factor", bad)


def test_unknown_key_and_table(tmp_path):
    with pytest.raises(ToleranceError, match=r"no tolerance named 'gemm.nope'"):
        tolerance("gemm.nope")
    with pytest.raises(ToleranceError, match=r"'gemm' is a table"):
        tolerance("gemm")


def test_environment_variable_points_elsewhere(tmp_path, monkeypatch):
    other = tmp_path / "other.toml"
    other.write_text("[gemm]\n# derivation\nfactor = 2.5\n")
    monkeypatch.setenv("ORACLENET_TOLERANCES", str(other))
    assert tolerance("gemm.factor") == 2.5

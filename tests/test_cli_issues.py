"""`dataval issues`: ISSUES.csv (docs/cli.md) on a table with planted copies, a reference file, and one-line errors."""
from __future__ import annotations

import pandas as pd
import pytest
from test_data_issues import planted_table

from dataval_core.cli import main
from dataval_core.data_issues import COLUMNS


def cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def table(tmp_path):
    frame, rows = planted_table()
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path, rows


def test_issues_writes_one_row_per_sample_with_the_planted_issues(table, tmp_path, capsys):
    path, rows = table
    out = tmp_path / "issues.csv"
    code, _, err = cli(["issues", path, "--label", "label", "--out", out, "--quiet"], capsys)
    assert code == 0, err
    frame = pd.read_csv(out, dtype={"id": str})
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 132
    assert (frame["role"] == "valued").all() and frame["reference_copy"].isna().all()
    conflict = frame.index[frame["conflict"].fillna(False).astype(bool)]
    assert set(conflict) == set(rows["conflict_src"] + rows["conflict"])
    assert set(frame.sort_values("outlier_distance").index[-3:]) == set(rows["outlier"])
    assert "exact duplicates: 6 groups, 12 rows" in err and "conflicting duplicates: 6 rows" in err
    assert "no reference given" in err and "copies of reference rows" not in err


def test_issues_with_a_reference_file_flags_its_copies(table, tmp_path, capsys):
    path, rows = table
    frame = pd.read_csv(path)
    reference = frame.iloc[rows["exact_src"] + list(range(60, 120))]
    ref_path = tmp_path / "reference.csv"
    reference.to_csv(ref_path, index=False)
    out = tmp_path / "issues.csv"
    code, _, err = cli(["issues", path, "--label", "label", "--target", ref_path, "--param", "k=5",
                        "--out", out, "--quiet"], capsys)
    assert code == 0, err
    issues = pd.read_csv(out, dtype={"id": str})
    assert (issues["role"] == "target").sum() == len(reference)
    copies = set(issues.loc[issues["reference_copy"].fillna(False).astype(bool), "id"])
    # every valued row whose content is in the reference file: the sources and their exact copies
    assert copies == {str(i) for i in rows["exact_src"] + rows["exact"] + list(range(60, 120))}
    assert "against the given reference" in err and "copies of reference rows: 66 rows" in err


@pytest.mark.parametrize("extra, message", [
    (["--param", "near_ratio=3"], "The 'near_ratio' parameter of issues must be a float in the range [0.0, 1.0]"),
    (["--param", "bogus=1"], "Unknown parameter 'bogus' for issues"),
    (["--param", "k"], "--param expects KEY=VALUE"),
    (["--ray-address", "10.0.0.1:6379"], "--ray-address needs --backend ray"),
    (["--embedding", "nope"], "Unknown embedding 'nope'"),
])
def test_bad_options_are_one_line_errors_and_write_nothing(table, tmp_path, capsys, extra, message):
    path, _ = table
    out = tmp_path / "issues.csv"
    code, _, err = cli(["issues", path, "--label", "label", "--out", out, "--quiet", *extra], capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and message in lines[0], err
    assert not out.exists()


def test_out_may_not_overwrite_the_data(table, capsys):
    path, _ = table
    code, _, err = cli(["issues", path, "--label", "label", "--out", path, "--quiet"], capsys)
    assert code == 1 and "is the input" in err

"""The `dataval` command line: the contract of docs/cli.md and one-line errors on bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataval_core.cli import main
from dataval_core.embeddings import EMBEDDINGS
from dataval_core.registry import list_valuators

from imagefiles import png_bytes, png_claiming, write_zip

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "sample_data" / "digits.csv"


def cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, pattern):
    assert code != 0
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert pattern.lower() in lines[0].lower(), lines[0]


def test_methods_lists_registry(capsys):
    code, out, _ = cli(["methods"], capsys)
    assert code == 0
    for spec in list_valuators():  # what each class says about its method
        cls = spec.load()
        assert f"{spec.name:<12} {cls.summary}\n    a low value: {cls.low_value}\n" in out
        assert f"    cost: {cls.cost}\n" in out


def test_value_help_lists_every_embedding(capsys):
    with pytest.raises(SystemExit):
        main(["value", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines between words
    assert all(form in out for e in EMBEDDINGS.values() for form in e.forms)


def test_parser_and_the_registries_import_no_torch():
    """`dataval --help` and the method and embedding lists stay cheap: torch loads when a method runs."""
    code = ("import sys; from dataval_core.cli import _parser; from dataval_core.registry import list_valuators; "
            "from dataval_core.embeddings import EMBEDDINGS; _parser(); [s.name for s in list_valuators()]; "
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_value_digits_finds_injected_noise(tmp_path, capsys):
    out_csv = tmp_path / "values.csv"
    code, _, err = cli(["value", DIGITS, "--label", "label", "--target-frac", 0.2, "--inject-noise", 0.2,
                        "--method", "knn_shapley", "--out", out_csv, "--quiet"], capsys)
    assert code == 0, err
    frame = pd.read_csv(out_csv)
    assert len(frame) == len(pd.read_csv(DIGITS))  # one row per input row
    assert list(frame.columns) == ["id", "role", "label", "value", "percentile", "rank", "suggested_label",
                                   "original_label", "injected_noise"]
    valued = frame[frame.role == "valued"]
    assert valued["value"].notna().all() and frame[frame.role == "target"]["value"].isna().all()
    assert sorted(valued["rank"].astype(int)) == list(range(1, len(valued) + 1))
    assert valued["injected_noise"].sum() == round(0.2 * len(valued))
    assert frame[frame.role == "target"]["injected_noise"].sum() == 0
    code, out, _ = cli(["evaluate", out_csv], capsys)
    assert code == 0
    auroc = float(next(line for line in out.splitlines() if line.startswith("AUROC")).split()[-1])
    assert auroc >= 0.95


def test_value_with_target_column_and_params(tmp_path, capsys):
    frame = pd.read_csv(DIGITS).head(300)
    frame["trusted"] = np.arange(300) % 5 == 0
    data = tmp_path / "d.parquet"
    frame.to_parquet(data)
    out_csv = tmp_path / "v.csv"
    code, _, err = cli(["value", data, "--label", "label", "--target-col", "trusted", "--method", "knn_shapley",
                        "--param", "k=3", "--out", out_csv, "--quiet"], capsys)
    assert code == 0, err
    values = pd.read_csv(out_csv)
    assert (values.role == "target").sum() == 60 and len(values) == 300


@pytest.fixture
def bad_inputs(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 40)
    one_class = tmp_path / "one.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "label": ["x"] * 4}).to_csv(one_class, index=False)
    nan_labels = tmp_path / "nan.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "label": [0, 1, None, 1]}).to_csv(nan_labels, index=False)
    slip = write_zip(tmp_path / "slip.zip", {"a/ok.png": png_bytes(), "b/ok.png": png_bytes(),
                                             "../../escaped.png": png_bytes()})
    not_images = write_zip(tmp_path / "notimg.zip", {"cat/1.png": b"this is not a png", "dog/2.png": b"nor this"})
    huge = write_zip(tmp_path / "huge.zip", {"cat/1.png": png_bytes(), "dog/2.png": png_claiming(20000, 20000)})
    return {"empty": empty, "garbage": garbage, "one_class": one_class, "nan": nan_labels, "slip": slip,
            "not_images": not_images, "huge": huge}


@pytest.mark.parametrize("case,extra,pattern", [
    ("empty", ["--label", "label"], "empty"),
    ("garbage", ["--label", "label"], "garbage.csv"),
    ("one_class", ["--label", "label"], "one class"),
    ("nan", ["--label", "label"], "missing"),
    ("slip", [], "escape"),
    ("not_images", [], "not"),
    ("huge", [], "too large"),
])
def test_bad_input_is_one_line_and_nonzero(case, extra, pattern, bad_inputs, tmp_path, capsys):
    code, _, err = cli(["value", bad_inputs[case], *extra, "--out", tmp_path / "v.csv", "--quiet"], capsys)
    assert_one_line_error(code, err, pattern)
    assert not (tmp_path / "v.csv").exists()
    assert not (tmp_path.parent / "escaped.png").exists()


@pytest.mark.parametrize("args,pattern", [
    (["--label", "nope"], "nope"),
    (["--label", "label", "--method", "magic"], "unknown method 'magic'"),
    (["--label", "label", "--method", "knn_shapley", "--param", "k=0"], "'k' parameter of knn_shapley"),
    (["--label", "label", "--param", "k"], "KEY=VALUE"),
    (["--label", "label", "--target-frac", "1.5"], "target-frac"),
    (["--label", "label", "--embedding", "torchvision:resnet18"], "image"),
])
def test_bad_options_are_one_line(args, pattern, tmp_path, capsys):
    code, _, err = cli(["value", DIGITS, *args, "--out", tmp_path / "v.csv", "--quiet"], capsys)
    assert_one_line_error(code, err, pattern)


def test_missing_file_and_evaluate_without_noise(tmp_path, capsys):
    code, _, err = cli(["value", tmp_path / "nope.csv", "--label", "y", "--out", tmp_path / "v.csv"], capsys)
    assert_one_line_error(code, err, "no such file")
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"id": ["a"], "value": [1.0]}).to_csv(plain, index=False)
    code, _, err = cli(["evaluate", plain], capsys)
    assert_one_line_error(code, err, "injected_noise")


def test_console_script_reports_errors_without_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    proc = subprocess.run([sys.executable, "-m", "dataval_core.cli", "value", str(bad), "--label", "y",
                           "--out", str(tmp_path / "v.csv")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("dataval: error:") and "Traceback" not in proc.stderr


def test_map_and_curve_verbs_reuse_the_app_tasks(tmp_path, capsys):
    """`dataval map` writes one point per valued row; `dataval curve` scores removal of the lowest values,
    and refuses a VALUES.csv whose labels do not match the data options given."""
    data = ["sample:breast_cancer", "--inject-noise", "0.1", "--seed", "1", "--quiet"]
    code, _, err = cli(["value", *data, "--out", tmp_path / "v.csv"], capsys)
    assert code == 0, err
    values = pd.read_csv(tmp_path / "v.csv")
    code, _, err = cli(["map", *data, "--layout", "pca", "--out", tmp_path / "m.csv"], capsys)
    assert code == 0, err
    coords = pd.read_csv(tmp_path / "m.csv", dtype={"id": str})
    assert list(coords.columns) == ["id", "x", "y"]
    assert sorted(coords["id"]) == sorted(values.loc[values["role"] == "valued", "id"].astype(str))
    code, _, err = cli(["curve", tmp_path / "v.csv", *data, "--out", tmp_path / "c.csv"], capsys)
    assert code == 0, err
    curve = pd.read_csv(tmp_path / "c.csv")
    assert set(curve["strategy"]) == {"lowest", "random"} and curve["score"].between(0, 1).all()
    lowest = curve[curve["strategy"] == "lowest"].set_index("fraction")["score"]
    assert lowest[0.1] > lowest[0.0]  # removing the flipped rows knn_shapley ranks lowest helps
    code, _, err = cli(["curve", tmp_path / "v.csv", "sample:breast_cancer", "--seed", "1", "--out",
                        tmp_path / "c2.csv"], capsys)
    assert_one_line_error(code, err, "labels")


def test_feature_noise_leaves_labels_and_is_found(tmp_path, capsys):
    out_csv = tmp_path / "values.csv"
    code, _, err = cli(["value", DIGITS, "--label", "label", "--inject-noise", 0.1, "--noise-kind", "feature",
                        "--noise-scale", 3, "--method", "knn_shapley", "--out", out_csv, "--quiet"], capsys)
    assert code == 0, err
    frame = pd.read_csv(out_csv)
    valued = frame[frame.role == "valued"]
    assert valued["injected_noise"].sum() == round(0.1 * len(valued)) and frame["injected_noise"].sum() == \
        valued["injected_noise"].sum()
    labels = pd.read_csv(DIGITS)["label"].astype(str).tolist()
    assert frame["label"].astype(str).tolist() == labels  # the table's labels are untouched
    code, out, _ = cli(["evaluate", out_csv], capsys)
    assert code == 0
    assert float(next(line for line in out.splitlines() if line.startswith("AUROC")).split()[-1]) >= 0.8

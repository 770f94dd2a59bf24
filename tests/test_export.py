"""Export: decisions → cleaned dataset, values.csv, decisions.csv, bundle; round trips."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dataval_core.bundle import export_bundle
from dataval_core.dataset import DataError, Dataset, encode_labels
from dataval_core.decisions import DECISION_COLUMNS, current_decisions
from dataval_core.export import export_dataset, export_plan, values_table, write_decisions_csv
from dataval_core.io import load_dataset
from dataval_core.report import html_report
from dataval_core.result import ValuationResult
from dataval_core.targets import split_target, with_target_file


def table_dataset(table: pd.DataFrame, label: str, fmt: str = "csv", n_target: int = 2, **kw) -> Dataset:
    codes, classes, task = encode_labels(table[label])
    is_target = np.zeros(len(table), dtype=bool)
    is_target[-n_target:] = True
    return Dataset(ids=np.arange(len(table)).astype(str), labels=codes, classes=classes, task=task,
                   modality="table", is_target=is_target, table=table, label_column=label,
                   feature_columns=tuple(c for c in table.columns if c != label), source_format=fmt,
                   name="toy", **kw)


def decision(i, action, new=None, t=0, old=None):
    return {"id": str(i), "action": action, "old_label": old, "new_label": new, "run_id": "r1",
            "method": "knn_shapley", "value": -0.1, "rank": 1, "time": f"2026-11-23T09:00:{t:02d}"}


def log(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(DECISION_COLUMNS))


@pytest.fixture
def mixed_table() -> pd.DataFrame:
    return pd.DataFrame({
        "f_int": np.arange(8, dtype=np.int64),
        "f_float": np.linspace(0, 1, 8),
        "f_bool": [True, False] * 4,
        "f_str": list("abcdefgh"),
        "label": ["cat", "dog", "cat", "dog", "bird", "cat", "dog", "bird"],
    })


def test_current_decisions_latest_row_per_id_wins():
    d = log(decision(1, "drop", t=5), decision(2, "drop", t=1), decision(1, "keep", t=7),
            decision(2, "relabel", "cat", t=3))
    cur = current_decisions(d).set_index("id")
    assert cur.loc["1", "action"] == "keep"
    assert cur.loc["2", "action"] == "relabel" and cur.loc["2", "new_label"] == "cat"
    assert len(cur) == 2


def test_current_decisions_equal_times_keep_log_order():
    d = log(decision(1, "drop", t=1), decision(1, "keep", t=1))
    assert current_decisions(d)["action"].tolist() == ["keep"]


@pytest.mark.parametrize("bad, match", [
    (pd.DataFrame({"id": ["1"]}), "lacks column"),
    (log(decision(1, "delete")), "Unknown decision action"),
    (log(decision(1, "relabel", None)), "needs a new_label"),
])
def test_bad_decisions_raise(bad, match):
    with pytest.raises(DataError, match=match):
        current_decisions(bad)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_round_trip_keeps_columns_and_dtypes(tmp_path, mixed_table, fmt):
    ds = table_dataset(mixed_table, "label", fmt)
    before = ds.table.copy()
    d = log(decision(1, "drop"), decision(3, "relabel", "bird"), decision(4, "keep"), decision(7, "drop"))
    out = export_dataset(ds, d, tmp_path / f"clean.{fmt}")
    back = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(back.columns) == list(mixed_table.columns)
    assert back.dtypes.to_dict() == mixed_table.dtypes.to_dict()
    assert back["f_int"].tolist() == [0, 2, 3, 4, 5, 6]  # rows 1 and 7 dropped, incl. a target row
    assert back["label"].tolist() == ["cat", "cat", "bird", "bird", "cat", "dog"]
    pd.testing.assert_frame_equal(ds.table, before)  # never mutated


def test_integer_labels_and_folder_dest(tmp_path):
    table = pd.DataFrame({"x": [0.5, 1.5, 2.5, 3.5], "y": np.array([0, 1, 2, 1], dtype=np.int32)})
    ds = table_dataset(table, "y", n_target=1)
    out = export_dataset(ds, log(decision(0, "relabel", "2")), tmp_path)
    assert out == tmp_path / "toy_cleaned.csv"
    back = pd.read_csv(out, dtype={"y": np.int32})
    assert back["y"].tolist() == [2, 1, 2, 1]
    parquet = export_dataset(ds.replace(source_format="parquet"), log(decision(0, "relabel", "2")), tmp_path)
    assert pd.read_parquet(parquet)["y"].dtype == np.int32
    with pytest.raises(ValueError, match="exports to a .csv file"):
        export_dataset(ds, None, tmp_path / "p.parquet")


def test_regression_relabel_and_report(tmp_path):
    table = pd.DataFrame({"x": np.arange(60.0), "y": np.linspace(0.5, 99.5, 60)})
    ds = table_dataset(table, "y", n_target=10)
    assert ds.task == "regression"
    back = pd.read_csv(export_dataset(ds, log(decision(3, "relabel", "7.25"), decision(4, "drop")), tmp_path))
    assert len(back) == 59 and back.loc[3, "y"] == 7.25 and back["y"].dtype == np.float64
    runs = {"r": ValuationResult(ds.ids[:50], np.arange(50.0), "random")}
    assert values_table(ds, runs)["label"].dtype == np.float64
    assert "Run: r" in html_report(ds, runs, None)


def test_injected_noise_is_exported_unless_fixed(tmp_path, mixed_table):
    ds = table_dataset(mixed_table, "label")
    noisy = ds.labels.copy()
    noisy[[0, 2]] = ds.classes.index("dog")
    ds = ds.replace(labels=noisy, original_labels=ds.labels)
    back = pd.read_csv(export_dataset(ds, log(decision(2, "relabel", "cat")), tmp_path / "c.csv"))
    assert back["label"].tolist()[:3] == ["dog", "dog", "cat"]


def test_decision_validation_against_dataset(tmp_path, mixed_table):
    ds = table_dataset(mixed_table, "label")
    with pytest.raises(DataError, match="not in this dataset"):
        export_plan(ds, log(decision(99, "drop")))
    with pytest.raises(DataError, match="unknown class"):
        export_plan(ds, log(decision(0, "relabel", "horse")))


# -- images --------------------------------------------------------------------------------
def write_png(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 5), shade, dtype=np.uint8)).save(path)


IMAGE_IDS = ["cat/001.png", "cat/002.png", "cat/004.png", "dog/001.png", "dog/003.png", "dog/005.png"]


@pytest.fixture
def image_dataset(tmp_path) -> Dataset:
    root = tmp_path / "pets"
    for k, i in enumerate(IMAGE_IDS):
        write_png(root / i, 20 * k)
    ds = load_dataset(root)
    assert ds.ids.tolist() == IMAGE_IDS
    return ds.replace(is_target=np.array([0, 0, 1, 0, 0, 1], dtype=bool))


def test_images_zip_layout_drops_and_moves(tmp_path, image_dataset):
    ds = image_dataset
    d = log(decision("cat/002.png", "drop"), decision("cat/001.png", "relabel", "dog"),
            decision("dog/003.png", "relabel", "cat"))
    out = export_dataset(ds, d, tmp_path / "out")
    assert out.name == "pets_cleaned.zip"
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
        moved = zf.read("cat/003.png")
    # dog/001.png stays, so the moved cat/001.png gets a deterministic clash name
    assert names == ["cat/003.png", "cat/004.png", "dog/001.png", "dog/001__from_cat.png", "dog/005.png"]
    assert moved == (ds.image_root / "dog/003.png").read_bytes()
    assert export_dataset(ds, d, tmp_path / "again.zip").read_bytes() == out.read_bytes()
    plan = export_plan(ds, d).set_index("id")
    assert plan.loc["cat/002.png", "new_id"] is None and not plan.loc["cat/002.png", "exported"]
    assert plan.loc["cat/001.png", "new_id"] == "dog/001__from_cat.png"
    back = load_dataset(out, workdir=tmp_path / "unzipped")
    assert dict(zip(back.ids, back.label_names())) == {
        "cat/003.png": "cat", "cat/004.png": "cat", "dog/001.png": "dog", "dog/001__from_cat.png": "dog",
        "dog/005.png": "dog"}


def test_images_swap_needs_no_clash_names(tmp_path, image_dataset):
    d = log(decision("cat/001.png", "relabel", "dog"), decision("dog/001.png", "relabel", "cat"))
    plan = export_plan(image_dataset, d).set_index("id")
    assert plan.loc["cat/001.png", "new_id"] == "dog/001.png"
    assert plan.loc["dog/001.png", "new_id"] == "cat/001.png"


def test_manifest_zip_keeps_manifest_columns(tmp_path):
    root = tmp_path / "flat"
    paths = [f"img/{k}.png" for k in range(5)]
    for k, p in enumerate(paths):
        write_png(root / p, 30 * k)
    manifest = pd.DataFrame({"path": paths, "source": list("vwxyz"), "species": [1, 2, 1, 2, 1]})
    manifest.to_csv(root / "labels.csv", index=False)
    ds = load_dataset(root, label="species")
    out = export_dataset(ds, log(decision("img/3.png", "drop"), decision("img/0.png", "relabel", "2")),
                         tmp_path / "m.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["img/0.png", "img/1.png", "img/2.png", "img/4.png", "labels.csv"]
    back = load_dataset(out, label="species", workdir=tmp_path / "m")
    assert back.ids.tolist() == ["img/0.png", "img/1.png", "img/2.png", "img/4.png"]
    assert back.label_names().tolist() == ["2", "2", "1", "1"]
    written = pd.read_csv(back.image_root / "labels.csv")
    assert list(written.columns) == ["path", "source", "species"] and written["species"].dtype == np.int64


def test_csv_round_trip_through_loader_with_target_file(tmp_path, mixed_table):
    mixed_table.to_csv(tmp_path / "data.csv", index=False)
    mixed_table.iloc[:3].to_csv(tmp_path / "trusted.csv", index=False)
    ds = with_target_file(load_dataset(tmp_path / "data.csv", label="label"),
                          load_dataset(tmp_path / "trusted.csv", label="label"))
    assert len(ds) == 11
    out = export_dataset(ds, log(decision(2, "drop"), decision(5, "relabel", "dog")), tmp_path / "out")
    back = load_dataset(out, label="label")
    assert len(back) == 7 and list(back.table.columns) == list(mixed_table.columns)
    assert back.table["f_int"].tolist() == [0, 1, 3, 4, 5, 6, 7]
    assert back.label_names().tolist() == ["cat", "dog", "dog", "bird", "dog", "dog", "bird"]


def test_held_out_target_rows_are_exported(tmp_path, mixed_table):
    ds = split_target(load_frame_csv(tmp_path, mixed_table), 0.25, seed=1)
    assert ds.is_target.any()
    back = load_dataset(export_dataset(ds, None, tmp_path / "out"), label="label")
    pd.testing.assert_frame_equal(back.table, mixed_table)


def load_frame_csv(tmp_path: Path, table: pd.DataFrame) -> Dataset:
    table.to_csv(tmp_path / "in.csv", index=False)
    return load_dataset(tmp_path / "in.csv", label="label")


# -- values, decisions, bundle ---------------------------------------------------------------
def make_runs(ds: Dataset) -> dict[str, ValuationResult]:
    valued = ds.ids[ds.valued_index]
    rng = np.random.default_rng(0)
    return {
        "knn": ValuationResult(valued, rng.normal(size=len(valued)), "knn_shapley",
                               suggested_labels=np.array(["cat"] * len(valued), dtype=object)),
        "rnd": ValuationResult(valued, rng.normal(size=len(valued)), "random"),
    }


def test_values_table(tmp_path, mixed_table):
    ds = table_dataset(mixed_table, "label")
    noisy = ds.labels.copy()
    noisy[0] = ds.classes.index("dog")
    ds = ds.replace(labels=noisy, original_labels=ds.labels)
    runs = make_runs(ds)
    vt = values_table(ds, runs)
    assert list(vt.columns) == ["id", "role", "label", "value__knn", "percentile__knn", "rank__knn", "suggested__knn",
                                "value__rnd", "percentile__rnd", "rank__rnd", "suggested__rnd", "original_label",
                                "injected_noise"]
    assert vt["role"].tolist() == ["valued"] * 6 + ["target"] * 2
    assert vt["injected_noise"].tolist() == [1] + [0] * 7
    assert vt.loc[0, "label"] == "dog" and vt.loc[0, "original_label"] == "cat"
    assert sorted(vt["rank__knn"].dropna().tolist()) == list(range(1, 7))
    assert vt["value__knn"].isna().tolist() == [False] * 6 + [True] * 2
    values_table(ds, runs).to_csv(tmp_path / "values.csv", index=False)
    back = pd.read_csv(tmp_path / "values.csv")
    np.testing.assert_allclose(back["value__rnd"].to_numpy()[:6], runs["rnd"].values)
    assert values_table(ds, list(runs.values())).columns[3] == "value__knn_shapley"
    with pytest.raises(ValueError, match="not in the dataset"):
        values_table(ds, [ValuationResult(np.array(["x", "y"]), np.zeros(2), "random")])


def test_write_decisions_csv_is_the_full_log(tmp_path):
    d = log(decision(1, "drop", t=5), decision(1, "keep", t=2)).drop(columns=["rank"])
    back = pd.read_csv(write_decisions_csv(d, tmp_path / "d.csv"))
    assert list(back.columns) == list(DECISION_COLUMNS)
    assert back["action"].tolist() == ["keep", "drop"]
    assert pd.read_csv(write_decisions_csv(None, tmp_path / "e.csv")).empty


def test_export_bundle(tmp_path, image_dataset):
    ds = image_dataset
    out = export_bundle(ds, make_runs(ds), log(decision("cat/002.png", "drop")), tmp_path / "b" / "bundle.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["annotations.csv", "decisions.csv", "pets_cleaned.zip", "report.html",
                                         "values.csv"]
        inner = zipfile.ZipFile(io.BytesIO(zf.read("pets_cleaned.zip")))
        assert "cat/002.png" not in inner.namelist() and len(inner.namelist()) == 5
        assert "<html" in zf.read("report.html").decode()
    with pytest.raises(DataError, match="not in this dataset"):
        export_bundle(ds, make_runs(ds), log(decision("cat/999.png", "drop")), tmp_path / "c" / "bad.zip")
    assert list((tmp_path / "c").iterdir()) == []


# -- property: random drops and relabels round-trip through the loader -------------------------
LABEL_KINDS = {"str": ("a", "b", "c"), "int": (3, 7, 11)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_decisions_round_trip(tmp_path, data):
    kind = data.draw(st.sampled_from(sorted(LABEL_KINDS)))
    fmt = data.draw(st.sampled_from(["csv", "parquet"]))
    n = data.draw(st.integers(4, 12))
    labels = data.draw(st.lists(st.sampled_from(LABEL_KINDS[kind]), min_size=n, max_size=n)
                       .filter(lambda v: len(set(v)) > 1))
    table = pd.DataFrame({"k": np.arange(n, dtype=np.int64), "v": np.arange(n) / 7.0, "label": labels})
    ds = table_dataset(table, "label", fmt, n_target=1)
    actions = data.draw(st.lists(st.sampled_from(["keep", "drop", "relabel", None]), min_size=n, max_size=n))
    rows = [decision(i, a, data.draw(st.sampled_from(ds.classes)) if a == "relabel" else None, t=i)
            for i, a in enumerate(actions) if a is not None]
    out = export_dataset(ds, log(*rows) if rows else None, tmp_path / f"rt.{fmt}")
    expect = table.copy()
    for r in rows:
        if r["action"] == "relabel":
            expect.loc[int(r["id"]), "label"] = type(labels[0])(r["new_label"])
    expect = expect.drop(index=[int(r["id"]) for r in rows if r["action"] == "drop"]).reset_index(drop=True)
    back_frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    # every row dropped: a header-only CSV has no dtypes to read back, only the columns
    pd.testing.assert_frame_equal(back_frame, expect, check_dtype=not (expect.empty and fmt == "csv"))
    if expect["label"].nunique() > 1:
        back = load_dataset(out, label="label")
        assert back.label_names().tolist() == [str(v) for v in expect["label"]]

"""The cleaned export without the extra copies of exact duplicates, read back and checked again."""
from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
from PIL import Image

from dataval_core.data_issues import find_issues
from dataval_core.decisions import DECISION_COLUMNS
from dataval_core.embeddings.raw import raw_features
from dataval_core.export import export_counts, export_dataset, export_plan
from dataval_core.io import load_dataset


def table_with_copies(tmp_path):
    """12 distinct rows, then row 0 twice more with its label, and row 1 once with another label."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(12, 3)).round(3), columns=["a", "b", "c"])
    frame["label"] = ["x", "y", "z"] * 4
    frame = pd.concat([frame, frame.iloc[[0, 0]], frame.iloc[[1]].assign(label="z")], ignore_index=True)
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path, frame


def relabel(sample_id: str, new: str) -> pd.DataFrame:
    row = {"id": sample_id, "action": "relabel", "old_label": None, "new_label": new, "run_id": None,
           "method": "issues", "value": None, "rank": None, "time": "2026-12-01T09:00:00"}
    return pd.DataFrame([row], columns=list(DECISION_COLUMNS))


def test_table_round_trip_keeps_one_copy_and_the_conflicting_ones(tmp_path):
    path, frame = table_with_copies(tmp_path)
    ds = load_dataset(path, label="label")
    plan = export_plan(ds, None, drop_duplicates=True).set_index("id")
    assert plan.loc["12", "duplicate_of"] == plan.loc["13", "duplicate_of"] == "0"
    assert not plan.loc["12", "exported"] and plan.loc["0", "exported"] and plan.loc["14", "exported"]
    assert export_counts(ds, None, drop_duplicates=True)["duplicates"] == 2
    assert export_counts(ds, None)["duplicates"] == 0 and export_plan(ds, None)["exported"].all()

    cleaned = load_dataset(export_dataset(ds, None, tmp_path / "clean.csv", drop_duplicates=True), label="label")
    assert len(cleaned) == 13
    pd.testing.assert_frame_equal(cleaned.table, frame.drop(index=[12, 13]).reset_index(drop=True))
    again = find_issues(cleaned, raw_features(cleaned).x).frame
    groups = again.dropna(subset=["exact_group"])
    assert len(groups) == 2 and groups["conflict"].all()  # only rows 1 and 14 (labels y and z) are left

    # once a decision makes the labels agree, the copy goes too
    agreed = load_dataset(export_dataset(ds, relabel("14", "y"), tmp_path / "agreed.csv", drop_duplicates=True),
                          label="label")
    assert len(agreed) == 12 and find_issues(agreed, raw_features(agreed).x).frame["exact_group"].isna().all()


def test_images_zip_drops_a_byte_copy_in_the_same_class(tmp_path):
    src = tmp_path / "images"
    rng = np.random.default_rng(1)
    for c in ("a", "b"):
        (src / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (6, 6), dtype=np.uint8), "L").save(src / c / f"{i}.png")
    (src / "a" / "copy.png").write_bytes((src / "a" / "0.png").read_bytes())
    (src / "b" / "copy.png").write_bytes((src / "a" / "1.png").read_bytes())  # another label: stays
    ds = load_dataset(src)
    ds = ds.replace(source_format="images")
    out = export_dataset(ds, None, tmp_path / "clean.zip", drop_duplicates=True)
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
    assert names == ["a/0.png", "a/1.png", "a/2.png", "b/0.png", "b/1.png", "b/2.png", "b/copy.png"]

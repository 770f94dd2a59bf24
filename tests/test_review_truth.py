"""The user's own truth column on Review's cards and table rows (issue 18, deliverable 4)."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
from PIL import Image

from dataval_core.curation import review_table, user_truth
from dataval_core.dataset import Dataset
from dataval_core.io import load_dataset
from dataval_core.result import ValuationResult
from dataval_core.targets import split_target
from tests.test_app import errors, new_app, session_with_run, workspace_dir  # noqa: F401  (fixture)


def _table(features=("a",)) -> Dataset:
    n = 8
    table = pd.DataFrame({"a": np.arange(n, dtype=float), "is_mislabeled": [1, 0, 0, 1, 0, 0, 0, 0],
                          "note": ["x"] * n, "label": ["p", "q"] * 4})
    return Dataset(ids=np.arange(n).astype(str), labels=np.array([0, 1] * 4), classes=("p", "q"),
                   task="classification", modality="table", is_target=np.arange(n) >= 6, table=table,
                   label_column="label", feature_columns=features, name="toy")


def test_a_left_out_truth_column_is_shown_and_a_feature_is_not():
    ds = _table()
    column, cells = user_truth(ds)
    assert column == "is_mislabeled" and cells.tolist() == ["1", "0", "0", "1", "0", "0", "0", "0"]
    res = ValuationResult(ds.ids[:6], np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0]), "knn_shapley")
    frame = review_table(ds, res).set_index("id")
    assert frame.loc["3", "truth"] == "1" and frame.loc["1", "truth"] == "0"
    assert set(frame["truth_from"]) == {"is_mislabeled"}
    # a column the user kept as a feature is not their truth (and a table without one has none)
    assert user_truth(_table(features=("a", "is_mislabeled"))) is None
    assert "truth" not in review_table(_table(features=("a", "is_mislabeled")), res)
    assert "truth" not in review_table(ds, res, truth=None)


def _manifest_zip() -> bytes:
    rng = np.random.default_rng(0)
    buf, rows = io.BytesIO(), ["path,label,is_mislabeled"]
    with zipfile.ZipFile(buf, "w") as zf:
        for c, name in enumerate(("a", "b", "c")):
            for i in range(8):
                png = io.BytesIO()
                Image.fromarray(np.clip(rng.normal(40 + 80 * c, 20, (8, 8)), 0, 255).astype(np.uint8), "L").save(
                    png, format="PNG")
                zf.writestr(f"img/{name}{i}.png", png.getvalue())
                rows.append(f"img/{name}{i}.png,{name},{'yes' if i == 0 else 'no'}")
        zf.writestr("manifest.csv", "\n".join(rows) + "\n")
    return buf.getvalue()


def test_an_image_manifest_truth_column_reaches_the_cards(workspace_dir, tmp_path):
    from ui.sessions import AppWorkspace

    zpath = tmp_path / "faces.zip"
    zpath.write_bytes(_manifest_zip())
    ds = split_target(load_dataset(zpath, workdir=tmp_path / "faces"), 0.25)
    column, cells = user_truth(ds)
    marked = {i for i, c in zip(ds.ids, cells) if c == "yes"}
    assert column == "is_mislabeled" and marked == {"img/a0.png", "img/b0.png", "img/c0.png"}

    sid, _, run_id = session_with_run(workspace_dir, ds)
    ws = AppWorkspace(workspace_dir)
    at = new_app(sid)
    at.switch_page("app_pages/3_review.py").run()
    at.selectbox(key="rv_status").set_value("All").run()
    assert not errors(at)
    cards = [c.value for c in at.caption if "· value `" in c.value]
    valued = set(ws.load_result(run_id).ids)
    assert sum("is_mislabeled: **yes**" in c for c in cards) == len(marked & valued) >= 1
    assert sum("is_mislabeled: **no**" in c for c in cards) == len(cards) - len(marked & valued)
    at.segmented_control(key="rv_view").set_value("Table").run()
    assert not errors(at)
    (table,) = [d.value for d in at.dataframe if "id" in d.value.columns]  # the editor is an arrow table too
    truth = table.set_index("id")["truth: is_mislabeled"]
    assert {i for i, v in truth.items() if v == "yes"} == marked & set(table["id"])

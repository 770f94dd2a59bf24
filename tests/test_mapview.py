"""The Map page's drawing helpers: robust view range and selection order."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from ui import mapview


def frame(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "x": rng.normal(size=n), "y": rng.normal(size=n),
                         "value": rng.normal(size=n)})


def test_one_outlier_does_not_squeeze_the_view():
    f = frame()
    f.loc[7, ["x", "y"]] = [1e4, -1e4]
    view, clipped = mapview.robust_view(f)
    assert 1 <= clipped <= 4  # the outlier, and at most a few tail points of 400 (1 %)
    assert view["x"].max() < 10 and view["y"].min() > -10  # the outlier sits on the edge, not 10,000 away
    assert view["x"].max() == view.loc[7, "x"]
    # the bulk keeps its spread: the view is about as wide as the data without the outlier
    width = view["x"].max() - view["x"].min()
    assert width < 1.5 * (f.drop(index=7)["x"].max() - f.drop(index=7)["x"].min())
    _, none = mapview.robust_view(frame().iloc[:0])
    assert none == 0


def test_selected_ids_come_lowest_value_first():
    f = frame(6)
    f["value"] = [0.5, -2.0, 1.0, -1.0, 0.0, 3.0]
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": [f"s{i}"]} for i in (0, 1, 2, 3, 5)]))
    assert mapview.selected_ids(event, f) == ["s1", "s3", "s0", "s2", "s5"]
    assert mapview.selected_ids(SimpleNamespace(selection=None), f) == []

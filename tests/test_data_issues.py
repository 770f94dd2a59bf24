"""Data issues: planted duplicates, conflicting copies, outliers and reference copies are found, and the
chunked neighbour pass equals a brute-force one."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.neighbors import NearestNeighbors

from dataval_core import neighbours
from dataval_core.data_issues import (
    COLUMNS,
    content_hashes,
    dataset_issues,
    exact_reference_copies,
    find_issues,
    issue_embedding,
)
from dataval_core.dataset import DataError
from dataval_core.embeddings.raw import raw_features
from dataval_core.io import load_dataset, load_frame


def planted_table(seed: int = 0) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Three Gaussian blobs (120 rows, 6 features) plus, at known rows: 3 exact copies, 3 near copies
    (noise 1% of a feature's spread), 3 exact copies with another label and 3 rows far from every blob."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 5, (3, 6))
    y = np.arange(120) % 3
    x = centers[y] + rng.normal(0, 1, (120, 6))
    rows, labels = [x], [y]
    src = {"exact": [0, 1, 2], "near": [3, 4, 5], "conflict": [6, 7, 8]}
    rows += [x[src["exact"]], x[src["near"]] + rng.normal(0, 0.01, (3, 6)), x[src["conflict"]],
             rng.normal(0, 1, (3, 6)) + 40]
    labels += [y[src["exact"]], y[src["near"]], (y[src["conflict"]] + 1) % 3, np.zeros(3, dtype=int)]
    frame = pd.DataFrame(np.vstack(rows), columns=[f"f{i}" for i in range(6)])
    frame["label"] = [f"c{v}" for v in np.concatenate(labels)]
    copies = {kind: list(range(120 + 3 * i, 123 + 3 * i)) for i, kind in enumerate(("exact", "near", "conflict"))}
    return frame, {**{f"{k}_src": v for k, v in src.items()}, **copies, "outlier": [129, 130, 131]}


def issues_of(frame: pd.DataFrame, is_target: np.ndarray | None = None, **params):
    ds = load_frame(frame, "label")
    if is_target is not None:
        ds = ds.replace(is_target=is_target)
    return ds, find_issues(ds, raw_features(ds).x, params=params)


def test_planted_duplicates_conflicts_and_outliers_are_found():
    frame, rows = planted_table()
    _, issues = issues_of(frame)
    f = issues.frame
    assert list(f.columns) == list(COLUMNS) and len(f) == len(frame)
    assert issues.reference == "whole set"
    for src, copy in zip(rows["exact_src"] + rows["conflict_src"], rows["exact"] + rows["conflict"]):
        assert f.loc[src, "exact_group"] == f.loc[copy, "exact_group"] > 0
        assert f.loc[copy, "duplicate_distance"] == 0.0
    for src, copy in zip(rows["near_src"], rows["near"]):
        assert pd.isna(f.loc[copy, "exact_group"])
        assert f.loc[src, "near_group"] == f.loc[copy, "near_group"]
        assert 0 < f.loc[copy, "duplicate_distance"] < issues.threshold
    conflicting = set(f.index[f["conflict"].fillna(False)])
    assert conflicting == set(rows["conflict_src"] + rows["conflict"])
    grouped = set(f.index[f["near_group"].notna()])
    assert grouped == set(sum((rows[k] for k in ("exact_src", "exact", "near_src", "near", "conflict_src",
                                                  "conflict")), []))
    ranked = f.sort_values("outlier_distance", ascending=False).index[:3]
    assert set(ranked) == set(rows["outlier"])
    assert set(f.index[f["is_outlier"]]) >= set(rows["outlier"]) and f["is_outlier"].sum() <= 6
    assert f["reference_copy"].isna().all() and f["nn_reference_id"].isna().all()
    counts = issues.counts()
    assert counts["conflicting_duplicates"] == 6 and counts["reference_copies"] == 0


def test_views_sort_by_score_and_keep_groups_together():
    frame, rows = planted_table()
    _, issues = issues_of(frame)
    near = issues.view("near_duplicates")
    assert (near["duplicate_distance"].iloc[:2] == 0).all()  # exact copies first
    firsts = near.groupby("near_group", sort=False).head(1).index
    assert len(set(near["near_group"])) == len(firsts)
    positions = near.reset_index(drop=True).groupby("near_group").apply(lambda g: g.index.max() - g.index.min())
    assert (positions == near.groupby("near_group").size() - 1).all()  # members sit together
    out = issues.view("outliers")
    assert list(out["outlier_distance"]) == sorted(out["outlier_distance"], reverse=True)
    assert set(issues.group(int(near["near_group"].iloc[0]))["id"]) == set(near[near["near_group"]
                                                                              == near["near_group"].iloc[0]]["id"])
    with pytest.raises(ValueError, match="Unknown issue type 'typos'"):
        issues.view("typos")


def test_given_reference_scores_against_it_and_flags_copies():
    frame, rows = planted_table()
    is_target = np.zeros(len(frame), dtype=bool)
    is_target[60:120] = True  # the second half of the blobs is the reference
    is_target[rows["exact_src"]] = True  # so the exact copies leak reference rows
    _, issues = issues_of(frame, is_target)
    f = issues.frame
    assert issues.reference == "given"
    copies = set(f.index[f["reference_copy"].fillna(False)])
    assert copies == set(rows["exact"])
    assert f.loc[is_target, "reference_copy"].isna().all()
    assert (f.loc[rows["exact"], "nn_reference_distance"] == 0).all()
    ref_pct = f.loc[is_target, "outlier_percentile"]
    assert 40 < ref_pct.median() < 60  # calibrated on the reference itself
    assert (f.loc[rows["outlier"], "outlier_percentile"] == 100).all()
    assert list(issues.view("reference_copies").index) == sorted(rows["exact"], key=lambda i: f.loc[i, "id"])


def test_neighbour_pass_matches_brute_force_and_chunking(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(70, 4)).astype(np.float32)
    x[5] = x[9]  # a tie at distance 0
    is_ref = np.zeros(70, dtype=bool)
    is_ref[::3] = True
    whole = neighbours.nearest_neighbours(x, is_ref, 4)
    monkeypatch.setattr(neighbours, "CHUNK_CELLS", 70 * 7)  # ten chunks of 7 rows
    chunked = neighbours.nearest_neighbours(x, is_ref, 4)
    for a, b in zip(whole.__dict__.values(), chunked.__dict__.values()):
        np.testing.assert_array_equal(a, b)
    d, idx = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(x).kneighbors(x)
    np.testing.assert_allclose(whole.top_distance, d[:, 1:], atol=1e-5)
    assert whole.top_index[5, 0] == 9 and whole.top_index[9, 0] == 5 and whole.top_distance[5, 0] == 0.0
    ref = np.flatnonzero(is_ref)
    dr, ir = NearestNeighbors(n_neighbors=5, algorithm="brute").fit(x[ref]).kneighbors(x)
    valued_rows = ~is_ref
    np.testing.assert_array_equal(whole.reference_index[valued_rows], ref[ir[valued_rows, 0]])
    np.testing.assert_allclose(whole.reference_kth[valued_rows], dr[valued_rows, 3], rtol=1e-4)
    np.testing.assert_allclose(whole.reference_kth[is_ref], dr[is_ref, 4], rtol=1e-4)  # leave-self-out


def test_deterministic_and_parameters_checked():
    frame, _ = planted_table(seed=3)
    ds, first = issues_of(frame)
    second = find_issues(ds, raw_features(ds).x, params={"k": "20"})  # the default, as the CLI passes it
    pd.testing.assert_frame_equal(first.frame, second.frame)
    with pytest.raises(ValueError, match="The 'near_ratio' parameter of issues must be a float in the range"):
        find_issues(ds, raw_features(ds).x, params={"near_ratio": 2})
    with pytest.raises(DataError, match="has shape"):
        find_issues(ds, raw_features(ds).x[:-1])


def test_image_bytes_are_hashed(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L").save(tmp_path / c / f"{i}.png")
    (tmp_path / "b" / "copy.png").write_bytes((tmp_path / "a" / "0.png").read_bytes())
    ds = load_dataset(tmp_path)
    hashes = content_hashes(ds)
    pos = {i: k for k, i in enumerate(ds.ids)}
    assert hashes[pos["a/0.png"]] == hashes[pos["b/copy.png"]] and len(set(hashes.tolist())) == len(ds) - 1
    f = find_issues(ds, raw_features(ds).x).frame.set_index("id")
    assert f.loc["a/0.png", "conflict"] and f.loc["b/copy.png", "exact_group"] == f.loc["a/0.png", "exact_group"]


def test_dataset_issues_embeds_in_the_runs_embedding_but_never_a_learned_one(tmp_path):
    frame, rows = planted_table()
    ds = load_frame(frame, "label")
    issues = dataset_issues(ds, "pca:3", cache_dir=tmp_path)
    assert issues.embedding == "pca:3" and list(tmp_path.glob("emb-*.npy"))
    assert set(rows["outlier"]) <= set(issues.view("outliers").index)
    assert issue_embedding("target_trained") == issue_embedding(None) == "raw"
    assert issue_embedding("cross_fitted") == "raw" and issue_embedding("columns:emb") == "columns:emb"


def test_exact_reference_copies_counts_valued_rows_holding_reference_content():
    frame, rows = planted_table()
    ds = load_frame(frame, "label")
    assert exact_reference_copies(ds) == 0  # no reference
    is_target = np.zeros(len(frame), dtype=bool)
    is_target[rows["exact_src"] + rows["near_src"]] = True  # near copies are not exact ones
    assert exact_reference_copies(ds.replace(is_target=is_target)) == 3


@pytest.mark.parametrize("n_ref", [0, 1, 2, 37])
def test_neighbours_with_any_reference_size_match_brute_force(n_ref):
    rng = np.random.default_rng(n_ref)
    x = rng.normal(size=(37, 3)).astype(np.float32)
    is_ref = np.arange(37) < n_ref
    found = neighbours.nearest_neighbours(x, is_ref, 5)
    d, idx = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(x).kneighbors(x)
    np.testing.assert_array_equal(found.top_index, idx[:, 1:])
    np.testing.assert_allclose(found.top_distance, d[:, 1:], rtol=1e-5)
    full = np.linalg.norm(x[:, None] - x[None], axis=2) + np.diag(np.full(37, np.inf))
    for part, index in ((~is_ref, found.valued_index), (is_ref, found.reference_index)):
        masked = np.where(part[None, :], full, np.inf)
        has = np.isfinite(masked.min(axis=1))
        np.testing.assert_array_equal(index, np.where(has, masked.argmin(axis=1), -1))
    assert found.k_reference == max(0, min(5, n_ref - 1))


def test_block_search_on_a_larger_set_matches_brute_force():
    """1,500 rows: the k nearest are searched in blocks (the small sets above take whole rows)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1500, 3)).astype(np.float32)
    x[100] = x[1400]
    is_ref = np.arange(1500) % 4 == 0
    assert 4 * 5 * neighbours.BLOCK < 1500
    found = neighbours.nearest_neighbours(x, is_ref, 5)
    d, idx = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(x).kneighbors(x)
    np.testing.assert_allclose(found.top_distance, d[:, 1:], rtol=1e-4, atol=1e-6)
    assert (found.top_index == idx[:, 1:]).mean() > 0.999  # the same rows, up to float32 near-ties
    assert found.top_index[100, 0] == 1400 and found.top_distance[100, 0] == 0.0
    ref = np.flatnonzero(is_ref)
    dr, ir = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(x[ref]).kneighbors(x[~is_ref])
    np.testing.assert_array_equal(found.reference_index[~is_ref], ref[ir[:, 0]])
    np.testing.assert_allclose(found.reference_distance[~is_ref], dr[:, 0], rtol=1e-6)


def test_table_hashes_compare_values_with_signed_zeros_alike():
    frame = pd.DataFrame({"a": [1.0, -0.0, np.nan, 1.0, 2**60, 3.0], "b": [1, 0, 5, 1, 7, 7], "label": list("xyzwvu")})
    frame["c"] = [True, False, True, True, False, False]
    ds = load_frame(frame, "label")
    h = content_hashes(ds)
    assert h[0] == h[3] and len(set(h.tolist())) == 5  # rows 0 and 3 alike, the rest distinct
    zero = load_frame(frame.assign(a=[1.0, 0.0, np.nan, 1.0, 2**60, 3.0]), "label")
    np.testing.assert_array_equal(content_hashes(zero), h)  # -0.0 is 0.0
    text = load_frame(frame.assign(d=list("pqrpst")), "label")  # a text column: pandas' row hash
    th = content_hashes(text)
    assert th[0] == th[3] and len(set(th.tolist())) == 5

"""Target-set selection and noise injection: exact counts, clean targets, seeds, class bookkeeping."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dataval_core.dataset import REGRESSION, DataError
from dataval_core.embeddings import raw_features
from dataval_core.io import load_dataset, load_frame
from dataval_core.noise import confusable_pairs, inject_feature_noise, inject_label_noise, noise_count
from dataval_core.targets import TARGET_PREFIX, split_target, target_from_column, with_target_file


def table(n_per_class=(30, 20, 10), seed=0, d=3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b", "c"][:len(n_per_class)], n_per_class)
    frame = pd.DataFrame(rng.normal(size=(len(labels), d)), columns=[f"f{i}" for i in range(d)])
    frame["y"] = labels
    return frame


@pytest.fixture
def ds():
    return load_frame(table(), "y")


# -- split_target -------------------------------------------------------------------------
def test_split_is_stratified_and_seeded(ds):
    out = split_target(ds, 0.2, seed=3)
    assert out.is_target.sum() == 12
    per_class = np.bincount(out.labels[out.is_target], minlength=3)
    assert per_class.tolist() == [6, 4, 2]
    assert np.array_equal(split_target(ds, 0.2, seed=3).is_target, out.is_target)
    assert not np.array_equal(split_target(ds, 0.2, seed=4).is_target, out.is_target)
    assert not ds.is_target.any()  # the input is unchanged
    assert "stratified" in out.meta["target"]


def test_split_keeps_tiny_classes_on_both_sides():
    ds = load_frame(table((40, 2, 1)), "y")
    out = split_target(ds, 0.1, seed=0)
    target = np.bincount(out.labels[out.is_target], minlength=3)
    valued = np.bincount(out.labels[~out.is_target], minlength=3)
    assert target.tolist() == [3, 1, 0] and valued.tolist() == [37, 1, 1]


@settings(max_examples=25, deadline=None)
@given(counts=st.lists(st.integers(2, 40), min_size=2, max_size=5), frac=st.floats(0.05, 0.6),
       seed=st.integers(0, 10))
def test_split_proportions_property(counts, frac, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    ds = load_frame(pd.DataFrame({"x": np.arange(len(labels)), "y": labels}), "y", task="classification")
    out = split_target(ds, frac, seed=seed)
    per_class = np.bincount(out.labels[out.is_target], minlength=len(counts))
    assert np.all(per_class >= 1) and np.all(per_class <= np.array(counts) - 1)
    assert np.all(np.abs(per_class - frac * np.array(counts)) < 1 + len(counts))
    assert abs(out.is_target.sum() - frac * len(labels)) <= len(counts)


def test_split_regression_is_plain_random():
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.linspace(0, 1, 50) ** 2})
    out = split_target(load_frame(frame, "y"), 0.3, seed=1)
    assert out.task == REGRESSION and out.is_target.sum() == 15
    assert "random hold-out" in out.meta["target"]


@pytest.mark.parametrize("frac", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_fraction(ds, frac):
    with pytest.raises(DataError, match="between 0 and 1"):
        split_target(ds, frac)


def test_split_after_noise_is_refused(ds):
    with pytest.raises(DataError, match="before injecting noise"):
        split_target(inject_label_noise(ds, 0.2), 0.2)


# -- target_from_column -------------------------------------------------------------------
@pytest.mark.parametrize("marks", [
    [True, False] * 30,
    ["yes", "no"] * 30,
    [" TRUE", "false"] * 30,
    [1, 0] * 30,
])
def test_target_column(marks):
    ds = load_frame(table().assign(trusted=marks), "y")
    assert "trusted" in ds.feature_columns
    out = target_from_column(ds, "trusted")
    assert out.is_target.tolist() == [True, False] * 30
    assert "trusted" not in out.feature_columns and out.feature_columns == ("f0", "f1", "f2")
    assert "trusted" in out.table.columns  # the table itself is untouched
    back = split_target(out, 0.2)  # switching to a fraction makes the column a feature again
    assert back.feature_columns == ("f0", "f1", "f2", "trusted")


@pytest.mark.parametrize("marks, column, match", [
    ([True] * 60, "trusted", "leaves the valued set empty"),
    ([0] * 60, "trusted", "leaves the target set empty"),
    (["maybe", "yes"] * 30, "trusted", "not boolean-like .*'maybe'"),
    ([True, None] * 30, "trusted", "30 missing"),
    ([True, False] * 30, "nope", "Target column 'nope' not found"),
    ([True, False] * 30, "y", "label or id column"),
])
def test_target_column_errors(marks, column, match):
    ds = load_frame(table().assign(trusted=marks), "y")
    with pytest.raises(DataError, match=match):
        target_from_column(ds, column)


# -- with_target_file ---------------------------------------------------------------------
def test_target_file_remaps_codes_and_prefixes_ids():
    ds = split_target(load_frame(table(), "y"), 0.2)
    trusted = load_frame(table((0, 3, 2), seed=5).reset_index(drop=True).iloc[:5], "y")
    assert trusted.classes == ("b", "c")
    out = with_target_file(ds, trusted)
    assert len(out) == 65 and out.classes == ("a", "b", "c")
    assert out.is_target.tolist() == [False] * 60 + [True] * 5  # the earlier split is replaced
    assert out.ids[-5:].tolist() == [f"{TARGET_PREFIX}{i}" for i in range(5)]
    assert out.label_names()[-5:].tolist() == ["b", "b", "b", "c", "c"]
    assert out.label_names()[:60].tolist() == ds.label_names().tolist()
    pd.testing.assert_frame_equal(out.table.iloc[60:].reset_index(drop=True), trusted.table)
    assert out.meta["target_file_rows"] == 5
    with pytest.raises(DataError, match="already has target-file rows"):
        with_target_file(out, trusted)


def test_target_file_errors():
    ds = load_frame(table(), "y")
    with pytest.raises(DataError, match="class\\(es\\) the dataset lacks: z"):
        with_target_file(ds, load_frame(table().assign(y=["a", "z"] * 30), "y"))
    with pytest.raises(DataError, match="columns differ .*missing f2; extra g"):
        with_target_file(ds, load_frame(table().rename(columns={"f2": "g"}), "y"))


def test_target_file_for_regression_accepts_integer_labels():
    ds = load_frame(pd.DataFrame({"x": np.arange(20.0), "y": np.linspace(0, 5, 20)}), "y")
    trusted = load_frame(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1, 2, 1]}), "y")
    out = with_target_file(ds, trusted)
    assert out.task == REGRESSION and out.labels[-3:].tolist() == [1.0, 2.0, 1.0]


def png(color: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (4, 4), color).save(buf, "PNG")
    return buf.getvalue()


def test_target_file_for_images_resolves_both_folders(tmp_path):
    files = {"data": ("cat/1.png", "cat/2.png", "dog/3.png", "dog/4.png"), "trusted": ("cat/8.png", "dog/9.png")}
    for root, names in files.items():
        for name in names:
            (tmp_path / root / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / root / name).write_bytes(png(200 if root == "trusted" else 10))
    out = with_target_file(load_dataset(tmp_path / "data"), load_dataset(tmp_path / "trusted"))
    paths = out.image_paths()
    assert [p.parent.parent.name for p in paths] == ["data"] * 4 + ["trusted"] * 2
    assert all(p.is_file() for p in paths)
    x = raw_features(out).x
    assert np.allclose(x[:4], 10 / 255) and np.allclose(x[4:], 200 / 255)


# -- label noise --------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 200), n_classes=st.integers(2, 6), rate=st.floats(0, 0.99), seed=st.integers(0, 5),
       frac=st.floats(0.1, 0.5))
def test_uniform_noise_exact_count_only_valued_never_same_class(n, n_classes, rate, seed, frac):
    labels = np.arange(n) % n_classes
    frame = pd.DataFrame({"x": np.arange(n), "y": labels})
    ds = load_frame(frame, "y", task="classification")
    if n >= 2 * n_classes:
        ds = split_target(ds, frac, seed=seed)
    out = inject_label_noise(ds, rate, "uniform", seed=seed)
    flipped = out.labels != ds.labels
    assert flipped.sum() == round(rate * len(ds.valued_index)) == noise_count(rate, len(ds.valued_index))
    assert not (flipped & ds.is_target).any()
    assert np.array_equal(out.original_labels, ds.labels)
    assert np.array_equal(out.noisy, flipped)
    assert out.labels.min() >= 0 and out.labels.max() < out.n_classes


def test_uniform_noise_is_seeded_and_spread_over_classes(ds):
    ds = split_target(ds, 0.2)
    a, b = inject_label_noise(ds, 0.4, seed=7), inject_label_noise(ds, 0.4, seed=7)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, inject_label_noise(ds, 0.4, seed=8).labels)
    flipped = a.labels != ds.labels
    assert set(a.labels[flipped & (ds.labels == 0)]) == {1, 2}


def test_pair_noise_follows_mapping(ds):
    ds = split_target(ds, 0.2)
    out = inject_label_noise(ds, 0.5, "pair", seed=1, mapping={"a": "c", "b": "a", "c": "b"})
    flipped = out.labels != ds.labels
    assert flipped.sum() == 24
    dest = {0: 2, 1: 0, 2: 1}
    assert all(out.labels[i] == dest[ds.labels[i]] for i in np.flatnonzero(flipped))


def test_noise_keeps_earliest_truth(ds):
    once = inject_label_noise(ds, 0.3, seed=1)
    twice = inject_label_noise(once, 0.3, seed=2)
    assert np.array_equal(twice.original_labels, ds.labels)
    assert twice.meta["label_noise"]["seed"] == 2


def test_confusable_pairs_finds_overlapping_classes():
    rng = np.random.default_rng(0)
    centers = {"a": [0, 0], "b": [0.3, 0], "c": [20, 20], "d": [20.4, 20]}
    y = np.repeat(list(centers), 40)
    xy = np.array([centers[k] for k in y]) + rng.normal(0, 1, (len(y), 2))
    frame = pd.DataFrame({"u": xy[:, 0], "v": xy[:, 1], "y": y})
    ds = load_frame(frame, "y")
    assert confusable_pairs(ds) == {"a": "b", "b": "a", "c": "d", "d": "c"}
    out = inject_label_noise(split_target(ds, 0.2), 0.25, "pair")
    changed = out.labels != out.original_labels
    pairs = {(out.classes[o], out.classes[n]) for o, n in zip(out.original_labels[changed], out.labels[changed])}
    assert pairs <= {("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")} and changed.sum() == 32


def test_confusable_pairs_on_images(tmp_path):
    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("grey", 110), ("light", 230)):
        (tmp_path / name).mkdir()
        for i in range(12):
            pixels = np.clip(level + rng.normal(0, 60, (6, 6)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(tmp_path / name / f"{i}.png")
    pairs = confusable_pairs(load_dataset(tmp_path))
    assert set(pairs) == {"dark", "grey", "light"} and all(k != v for k, v in pairs.items())
    assert pairs["dark"] == "grey" and pairs["light"] == "grey"


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_noise_rejects_bad_rate(ds, rate):
    with pytest.raises(DataError, match="noise rate must be at least 0 and below 1"):
        inject_label_noise(ds, rate)
    with pytest.raises(DataError, match="noise rate"):
        inject_feature_noise(ds, rate)


def test_label_noise_errors(ds):
    reg = load_frame(pd.DataFrame({"x": np.arange(9.0), "y": np.linspace(0, 1, 9)}), "y")
    with pytest.raises(DataError, match="regression"):
        inject_label_noise(reg, 0.1)
    with pytest.raises(DataError, match="Unknown label-noise kind 'gauss'"):
        inject_label_noise(ds, 0.1, kind="gauss")
    with pytest.raises(DataError, match="unknown class\\(es\\): q"):
        inject_label_noise(ds, 0.1, "pair", mapping={"a": "q"})
    with pytest.raises(DataError, match="different class"):
        inject_label_noise(ds, 0.1, "pair", mapping={"a": "a", "b": "c", "c": "b"})


# -- feature noise ------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 120), rate=st.floats(0, 0.99), scale=st.floats(0.1, 5), seed=st.integers(0, 5))
def test_feature_noise_counts_and_rows(n, rate, scale, seed):
    ds = load_frame(pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2}), "y")
    ds = split_target(ds, 0.25, seed=seed)
    out = inject_feature_noise(ds, rate, scale=scale, seed=seed)
    chosen = out.feature_noise > 0
    assert chosen.sum() == round(rate * len(ds.valued_index))
    assert not (chosen & ds.is_target).any()
    assert np.allclose(out.feature_noise[chosen], scale)
    assert out.meta["feature_noise_seed"] == seed
    pd.testing.assert_frame_equal(out.table, ds.table)  # the truth stays intact
    assert np.array_equal(out.noisy, chosen)


def test_feature_noise_reaches_only_chosen_rows_of_the_matrix(ds):
    ds = split_target(ds, 0.2)
    out = inject_feature_noise(ds, 0.3, scale=2.0, seed=4)
    diff = np.abs(raw_features(out).x - raw_features(ds).x).sum(axis=1)
    assert np.array_equal(diff > 0, out.feature_noise > 0)
    assert np.array_equal(inject_feature_noise(ds, 0.3, seed=4).feature_noise > 0, out.feature_noise > 0)
    assert not np.array_equal(inject_label_noise(ds, 0.3, seed=4).noisy, out.noisy)  # separate streams
    with pytest.raises(DataError, match="scale must be a positive number"):
        inject_feature_noise(ds, 0.1, scale=0)

"""Feature building and the embeddings registry."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from dataval_core.dataset import DataError
from dataval_core.embeddings import (
    EMBEDDINGS,
    OFFLINE_EMBEDDINGS,
    build_problem,
    embed,
    embedding_kind,
    list_embeddings,
    raw_features,
)
from dataval_core.io import load_frame
from dataval_core.noise import inject_feature_noise, inject_label_noise
from dataval_core.registry import get_valuator
from dataval_core.samples import load_sample
from dataval_core.targets import split_target


@pytest.fixture(scope="module")
def small_digits():
    ds = load_sample("digits")
    keep = np.arange(0, len(ds), 3)  # 599 rows, every class present
    table = ds.table.iloc[keep].reset_index(drop=True)
    return split_target(load_frame(table, "label", name="digits-small"), 0.3, seed=0)


def test_table_features_impute_and_one_hot():
    frame = pd.DataFrame({"num": [1.0, np.nan, 3.0, 5.0], "flag": [True, False, True, False],
                          "color": ["red", "blue", None, "red"], "free": [f"t{i}" for i in range(4)],
                          "label": ["a", "b", "a", "b"]})
    ds = load_frame(frame, "label")
    fm = raw_features(ds, columns=["num", "flag", "color"])
    assert fm.x.shape == (4, 2 + 3)
    assert fm.columns == ("num", "flag", "color=<missing>", "color=blue", "color=red")  # one name per column
    assert fm.x[:, 2:].tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert np.all(np.isfinite(fm.x))
    assert np.allclose(fm.x[:, 0].mean(), 0, atol=1e-6)  # standardised
    assert any("median" in n for n in fm.notes) and any("<missing>" in n for n in fm.notes)
    wide = pd.DataFrame({"free": [f"t{i}" for i in range(60)], "x": np.arange(60.0), "label": np.arange(60) % 2})
    notes = raw_features(load_frame(wide, "label")).notes
    assert any("free" in n and "Not used" in n for n in notes)


def test_feature_noise_is_applied_to_marked_rows_only(small_digits):
    noisy = inject_feature_noise(small_digits, 0.2, scale=2.0, seed=1)
    clean_x, noisy_x = raw_features(small_digits).x, raw_features(noisy).x
    changed = np.any(clean_x != noisy_x, axis=1)
    np.testing.assert_array_equal(changed, noisy.feature_noise > 0)
    assert not changed[noisy.is_target].any()


def test_embeddings_cache_on_disk(tmp_path, small_digits):
    a, _ = embed(small_digits, "pca:8", seed=0, cache_dir=tmp_path)
    assert a.shape == (len(small_digits), 8)
    assert len(list(tmp_path.glob("emb-*.npy"))) == 1
    events = []
    b, _ = embed(small_digits, "pca:8", seed=0, cache_dir=tmp_path, progress=events.append)
    np.testing.assert_array_equal(a, b)
    assert events[-1].message == "cached"


def test_target_trained_separates_classes_and_ignores_valued_labels(small_digits, tmp_path):
    noisy = inject_label_noise(small_digits, 0.3, seed=0)
    x_clean, _ = embed(small_digits, "target_trained", seed=0)
    x_noisy, _ = embed(noisy, "target_trained", seed=0, cache_dir=tmp_path)
    np.testing.assert_allclose(x_clean, x_noisy)  # trained on target rows only
    events = []
    problem = build_problem(noisy, "target_trained", seed=0, cache_dir=tmp_path, progress=events.append)
    assert events[-1].message == "cached"
    values = get_valuator("knn_shapley").fit(problem).values
    assert roc_auc_score(noisy.noisy[noisy.valued_index], -values) > 0.9


def test_columns_embedding_and_errors():
    frame = pd.DataFrame({"emb_0": [0.1, 0.2, 0.3, 0.4], "emb_1": [1, 2, 3, 4], "other": ["a"] * 4,
                          "label": [0, 1, 0, 1]})
    ds = split_target(load_frame(frame, "label"), 0.5, seed=0)
    assert "columns:emb_" in list_embeddings(ds)
    x, _ = embed(ds, "columns:emb_")
    assert x.shape == (4, 2)
    with pytest.raises(DataError, match="No columns start with 'zzz'"):
        embed(ds, "columns:zzz")
    with pytest.raises(ValueError, match="Unknown embedding 'magic'"):
        embed(ds, "magic")



def test_one_table_names_every_embedding_and_refuses_other_names(small_digits):
    forms = [f for e in EMBEDDINGS.values() for f in e.forms]
    with pytest.raises(ValueError, match="Unknown embedding 'magic'") as err:
        embed(small_digits, "magic")
    assert str(err.value).endswith(f"choose one of: {', '.join(forms)}.")
    for bad in ("raw:x", "target_trained:3", "pretrained:resnet", "Raw"):
        with pytest.raises(ValueError, match="Unknown embedding"):
            embed(small_digits, bad)
    with pytest.raises(ValueError, match="positive whole number"):
        embed(small_digits, "pca:0")
    offered = list_embeddings(small_digits)
    assert offered[:4] == ["raw", "pca", "target_trained", "cross_fitted"]
    assert all(embedding_kind(name).accepts(name) for name in offered)
    assert set(OFFLINE_EMBEDDINGS) >= {"raw", "pca", "target_trained", "cross_fitted"}
    assert not {"pretrained:efficientnet_lite0", "torchvision:<arch>"} & set(OFFLINE_EMBEDDINGS)

def test_torchvision_without_cached_weights_names_offline_options(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    ds = load_sample("mnist")
    with pytest.raises(ValueError, match=re.escape(f"not in the local torch cache ({tmp_path}")) as err:
        embed(ds, "torchvision:resnet18")
    assert str(err.value).endswith(f"use an offline embedding: {', '.join(OFFLINE_EMBEDDINGS)}.")


def test_build_problem_without_a_target_values_every_row_but_cannot_learn_from_it(small_digits):
    everything_valued = small_digits.replace(is_target=np.zeros(len(small_digits), dtype=bool))
    problem = build_problem(everything_valued)
    assert problem.n == len(small_digits) and problem.x_target.shape == (0, problem.x.shape[1])
    with pytest.raises(DataError, match="learned from the reference"):
        build_problem(everything_valued, "target_trained")
    with pytest.raises(DataError, match="Every row is in the target set"):
        build_problem(small_digits.replace(is_target=np.ones(len(small_digits), dtype=bool)))


def test_cross_fitted_features_never_come_from_a_net_that_saw_the_row_label(small_digits):
    from dataval_core.embeddings import learned

    x = raw_features(small_digits).x
    labels = np.asarray(small_digits.labels).copy()
    t = small_digits.target_index
    kw = {"image_shape": None, "task": "classification", "n_classes": small_digits.n_classes, "seed": 0, "folds": 3}
    a = learned.cross_fitted_features(x, labels, t, **kw)
    assert a.shape == (len(x), small_digits.n_classes)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-5)  # class probabilities
    # relabel one valued row: its own features stay exactly the same (its fold's net never saw its label) ...
    row = small_digits.valued_index[7]
    labels[row] = (labels[row] + 1) % small_digits.n_classes
    b = learned.cross_fitted_features(x, labels, t, **kw)
    np.testing.assert_array_equal(a[row], b[row])
    # ... while rows of other folds do change (the other nets trained on the new labels)
    assert not np.array_equal(a, b)
    # and the out-of-fold probabilities predict the clean labels of valued rows well
    v = small_digits.valued_index
    assert np.mean(a[v].argmax(1) == small_digits.labels[v]) > 0.85


def test_target_trained_separates_classes(small_digits):
    from sklearn.neighbors import KNeighborsClassifier

    from dataval_core.embeddings import learned

    x = raw_features(small_digits).x
    t, v = small_digits.target_index, small_digits.valued_index
    feats = learned.target_trained_features(x, small_digits.labels, t, image_shape=None, task="classification",
                                            n_classes=small_digits.n_classes, seed=0)
    knn = KNeighborsClassifier(5).fit(feats[t], small_digits.labels[t])
    assert knn.score(feats[v], small_digits.labels[v]) > 0.9


def test_training_stops_when_the_held_out_loss_stops_improving():
    from dataval_core.embeddings import learned
    from dataval_core.progress import Reporter

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20)).astype(np.float32)
    y = rng.integers(0, 3, 300)  # random labels: the held-out loss can only get worse with training
    events = []
    learned.train_embedder(x, y, np.arange(240), np.arange(240, 300), image_shape=None, task="classification",
                           out_dim=3, seed=0, reporter=Reporter(events.append))
    assert events[-1].message.startswith("stopped early") and events[-1].done == events[-1].total
    assert len(events) < 40


def test_image_shift_augmentation_keeps_shape_and_moves_pixels():
    import torch

    from dataval_core.embeddings.learned import _shift

    img = torch.zeros(4, 1 * 8 * 8)
    img.view(4, 1, 8, 8)[:, 0, 4, 4] = 1.0
    out = _shift(img, (1, 8, 8), torch.Generator().manual_seed(0))
    assert out.shape == img.shape
    assert torch.allclose(out.sum(1), torch.ones(4))  # the pixel moved at most 2 px, never out of the image
    assert not torch.equal(out, img)


def test_pretrained_efficientnet_lite0_runs_offline_on_images(tmp_path):
    from dataval_core.embeddings import pretrained

    if not pretrained.available():
        pytest.skip("the optional 'pretrained' extra is not installed")
    ds = load_sample("mnist")
    keep = np.concatenate([np.flatnonzero(ds.labels == c)[:3] for c in range(2)])
    small = split_target(ds.replace(**{f: getattr(ds, f)[keep] for f in ("ids", "labels", "is_target")}), 0.34,
                         seed=0)
    assert pretrained.NAME in list_embeddings(small)
    x, _ = embed(small, pretrained.NAME)
    assert x.shape == (len(small), 1280) and np.all(np.isfinite(x))
    with pytest.raises(DataError, match="needs an image dataset"):
        embed(split_target(load_sample("breast_cancer"), 0.2), pretrained.NAME)

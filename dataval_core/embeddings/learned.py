"""Learned embeddings: features from small networks trained on labelled rows.

- :func:`target_trained_features` — penultimate layer of a net trained on the **target
  rows only** (early-stopped on a held-out slice of the target, images lightly shifted
  while training), so no valued row's label shapes its features.
- :func:`cross_fitted_features` — k folds; the net for fold f is trained on the target
  plus the *other* folds' valued rows with their given labels, early-stopped on a target
  slice it does not train on, and gives the rows of fold f their features. The target is
  cross-fitted the same way, so no row's features come from a net that saw its own label.
  Different nets' hidden layers are not comparable, so the features are each net's
  out-of-fold class probabilities (one column per class; regression: the prediction):
  the same space for every fold, and the space cleanlab-style confident learning reads.

Both work on plain arrays (all rows, labels, target index), so a method can build them
from a :class:`~dataval_core.problem.Problem` as well as :mod:`.core` from a dataset.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .. import torch_models
from ..dataset import DataError
from ..progress import Reporter

#: optimisation steps a net may take at most (early stopping usually ends sooner); each of the
#: k cross-fitting nets gets half, so ``cross_fitted`` costs about k/2 times ``target_trained``
MAX_STEPS = 3000
#: epochs without a better held-out loss before training stops
PATIENCE = 6
#: the early-stopping slice: this fraction of the training target rows, when there are enough
STOP_FRACTION = 0.15
#: fewer target rows than this: no early-stopping slice, a fixed number of steps instead
MIN_ROWS_FOR_STOPPING = 60
#: random image shift (px) applied while training, up to this many pixels each way
SHIFT_PX = 2


def make_embedder(in_dim: int, out_dim: int, image_shape: tuple[int, int, int] | None, seed: int) -> nn.Sequential:
    """The network behind the learned embeddings: a CNN (32/64 channels, 128-d) for images, else an MLP."""
    if image_shape is not None:
        return torch_models.make_cnn(image_shape, out_dim, width=32, embed_dim=128, seed=seed)
    return torch_models.make_mlp(in_dim, out_dim, (128, 32), seed=seed)


def _shift(xb: torch.Tensor, image_shape: tuple[int, int, int], gen: torch.Generator) -> torch.Tensor:
    """Each image moved by a random whole-pixel offset (zero fill): light, label-preserving augmentation."""
    c, h, w = image_shape
    img = xb.view(-1, c, h, w)
    pad = nn.functional.pad(img, (SHIFT_PX,) * 4)
    dy, dx = torch.randint(0, 2 * SHIFT_PX + 1, (2, len(img)), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # (B, h)
    cols = (dx[:, None] + torch.arange(w)[None, :])  # (B, w)
    b = torch.arange(len(img))[:, None, None]
    out = pad.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # (B, h, w, c)
    return out.permute(0, 3, 1, 2).reshape(len(img), -1)


def train_embedder(x: np.ndarray, y: np.ndarray, train_idx: np.ndarray, stop_idx: np.ndarray, *,
                   image_shape: tuple[int, int, int] | None, task: str, out_dim: int, seed: int,
                   reporter: Reporter | None = None, stage: str = "embedding: training",
                   max_steps: int = MAX_STEPS) -> nn.Sequential:
    """Train :func:`make_embedder` with Adam on ``train_idx``; keep the epoch with the lowest loss on ``stop_idx``.

    With an empty ``stop_idx`` it trains for a fixed budget instead. Deterministic for a seed;
    progress once per epoch (cancel between epochs). Runs on ``torch_models.SMALL_MODEL_THREADS``
    torch threads, as the training methods do (``benchmarks/results/threads.md``).
    """
    with torch_models.torch_threads(torch_models.SMALL_MODEL_THREADS):
        return _train(x, y, train_idx, stop_idx, image_shape=image_shape, task=task, out_dim=out_dim, seed=seed,
                      reporter=reporter, stage=stage, max_steps=max_steps)


def _train(x: np.ndarray, y: np.ndarray, train_idx: np.ndarray, stop_idx: np.ndarray, *,
           image_shape: tuple[int, int, int] | None, task: str, out_dim: int, seed: int,
           reporter: Reporter | None, stage: str, max_steps: int) -> nn.Sequential:
    device = torch_models.pick_device()
    model = make_embedder(x.shape[1], out_dim, image_shape, seed).to(device)
    xt = torch.as_tensor(np.asarray(x[train_idx], dtype=np.float32), device=device)
    yt = torch_models.as_targets(y[train_idx], task, device)
    xs = torch.as_tensor(np.asarray(x[stop_idx], dtype=np.float32), device=device)
    ys = torch_models.as_targets(y[stop_idx], task, device)
    batch = 64
    epochs = int(np.clip(max_steps * batch / max(len(train_idx), 1), 5, 80))
    if len(stop_idx) == 0:
        epochs = min(epochs, 40)
    criterion = torch_models.loss_fn(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch_models.torch_generator(seed)
    best, best_state, waited = np.inf, None, 0
    tick = torch_models.EpochTicker(reporter, stage, epochs)
    for epoch in range(epochs):
        model.train()
        batches = torch_models.batch_order(len(xt), batch, gen)
        for s, idx in enumerate(batches):
            tick.step(epoch, s, len(batches))  # an epoch of a CNN over many images takes seconds
            xb = xt[idx.to(device)]
            if image_shape is not None:
                xb = _shift(xb.cpu(), image_shape, gen).to(device)
            optimizer.zero_grad(set_to_none=True)
            criterion(model(xb), yt[idx.to(device)]).backward()
            optimizer.step()
        tick.epoch_done(epoch)
        if len(xs):
            model.eval()
            with torch.no_grad():
                loss = float(criterion(model(xs), ys))
            if loss < best - 1e-4:
                best, best_state, waited = loss, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited >= PATIENCE:
                    if reporter is not None:
                        reporter.update(stage, epochs, epochs, f"stopped early after epoch {epoch + 1}")
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval()


def _split_stop(idx: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, stop) split of ``idx``; no stop slice when there are too few rows."""
    if len(idx) < MIN_ROWS_FOR_STOPPING:
        return idx, idx[:0]
    perm = rng.permutation(idx)
    k = max(1, round(STOP_FRACTION * len(idx)))
    return np.sort(perm[k:]), np.sort(perm[:k])


def _check_target(labels: np.ndarray, idx: np.ndarray, task: str, name: str) -> None:
    if task == "classification" and len(np.unique(labels[idx])) < 2:
        raise DataError(f"{name} needs at least two classes in the target set.")


def _train_labels(labels: np.ndarray, target_idx: np.ndarray, task: str) -> np.ndarray:
    """Class codes, or regression labels standardised by the target's mean and spread."""
    if task == "classification":
        return np.asarray(labels, dtype=np.int64)
    y = np.asarray(labels, dtype=np.float64)
    sd = y[target_idx].std()
    return ((y - y[target_idx].mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)


def target_trained_model(x: np.ndarray, labels: np.ndarray, target_idx: np.ndarray, *,
                         image_shape: tuple[int, int, int] | None, task: str, n_classes: int, seed: int,
                         reporter: Reporter | None = None) -> nn.Sequential:
    """The net behind ``target_trained``, trained on the target rows only (early-stopped on a slice of them)."""
    _check_target(labels, target_idx, task, "target_trained")
    y = _train_labels(labels, target_idx, task)
    train, stop = _split_stop(np.asarray(target_idx), y, np.random.default_rng([seed, 11]))
    return train_embedder(x, y, train, stop, image_shape=image_shape, task=task,
                          out_dim=n_classes if task == "classification" else 1, seed=seed, reporter=reporter,
                          stage="embedding: training on the target set")


def target_trained_features(x: np.ndarray, labels: np.ndarray, target_idx: np.ndarray, *,
                            image_shape: tuple[int, int, int] | None, task: str, n_classes: int, seed: int,
                            reporter: Reporter | None = None) -> np.ndarray:
    """Penultimate-layer features (n_rows, 128 images / 32 tables) of a net trained on the target rows only."""
    model = target_trained_model(x, labels, target_idx, image_shape=image_shape, task=task, n_classes=n_classes,
                                 seed=seed, reporter=reporter)
    return in_blocks(lambda rows: torch_models.penultimate(model, rows), x, reporter, "embedding: features")


#: rows per block of a features or prediction pass (one progress event each; the batch size of ``predict``)
BLOCK_ROWS = 4096


def in_blocks(fn, x: np.ndarray, reporter: Reporter | None, stage: str) -> np.ndarray:
    """``fn`` over ``x`` in blocks of :data:`BLOCK_ROWS` rows, concatenated, with a progress event (and a
    cancel check) before each block: a CNN pass over thousands of images takes seconds."""
    starts = range(0, len(x), BLOCK_ROWS)
    out = []
    for i, start in enumerate(starts):
        if reporter is not None:
            reporter.update(stage, i, len(starts))
        out.append(fn(x[start:start + BLOCK_ROWS]))
    if reporter is not None:
        reporter.update(stage, len(starts), len(starts))
    return np.concatenate(out) if out else fn(x)


def cross_fitted_features(x: np.ndarray, labels: np.ndarray, target_idx: np.ndarray, *,
                          image_shape: tuple[int, int, int] | None, task: str, n_classes: int, seed: int,
                          folds: int = 5, reporter: Reporter | None = None) -> np.ndarray:
    """Out-of-fold class probabilities (regression: predictions) for every row; see the module docstring."""
    _check_target(labels, target_idx, task, "cross_fitted")
    if folds < 2:
        raise ValueError("cross_fitted needs at least 2 folds.")
    y = _train_labels(labels, target_idx, task)
    rng = np.random.default_rng([seed, 12])
    target_idx = np.asarray(target_idx)
    valued_idx = np.setdiff1d(np.arange(len(x)), target_idx)
    fold_of = np.empty(len(x), dtype=np.int64)
    fold_of[target_idx] = rng.permutation(len(target_idx)) % folds
    fold_of[valued_idx] = rng.permutation(len(valued_idx)) % folds
    out_dim = n_classes if task == "classification" else 1
    feats = np.zeros((len(x), out_dim), dtype=np.float32)
    for f in range(folds):
        held = np.flatnonzero(fold_of == f)
        stop_fold = (f + 1) % folds  # a target fold this net neither trains on nor gives features to
        stop = target_idx[fold_of[target_idx] == stop_fold] if len(target_idx) >= MIN_ROWS_FOR_STOPPING \
            else target_idx[:0]
        train = np.flatnonzero((fold_of != f) & ~np.isin(np.arange(len(x)), stop))
        part = reporter.scaled(f"fold {f + 1}/{folds}: ") if reporter is not None else None
        model = train_embedder(x, y, train, stop, image_shape=image_shape, task=task, out_dim=out_dim,
                               seed=seed + 1000 * (f + 1), reporter=part,
                               stage="embedding: cross-fitting", max_steps=MAX_STEPS // 2)
        out = in_blocks(lambda rows: torch_models.predict(model, rows), x[held], part,
                         "embedding: cross-fitting, predictions")
        feats[held] = torch.softmax(torch.as_tensor(out), 1).numpy() if task == "classification" else out
    return feats

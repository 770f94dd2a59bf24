"""Small helpers the training-based valuators (lossval, dvgs, dvemb) share.

The torch pieces (per-sample gradients, projections, the epoch loop) live in
:mod:`dataval_core.torch_models`; this module holds the glue between a :class:`Problem`
and those pieces: hidden-size parsing, seed derivation and tensor conversion.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import torch_models
from ..problem import Problem


def parse_hidden(text: str, owner: str) -> tuple[int, ...]:
    """``"128,32"`` → (128, 32); an empty string means no hidden layer (a linear model)."""
    try:
        sizes = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        sizes = (-1,)
    if any(s < 1 for s in sizes):
        raise ValueError(f"The 'hidden' parameter of {owner} must be comma-separated positive ints "
                         f"such as '128,32'. Got {text!r}.")
    return sizes


def seeds(rng: np.random.Generator, k: int) -> list[int]:
    """``k`` independent int seeds drawn from the run's generator (model init, batch order, ...)."""
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=k)]


def tensors(problem: Problem, task: str, device: torch.device, dtype: torch.dtype = torch.float32):
    """(x, target, x_target, target_target) tensors; for ``task="reconstruction"`` targets are the inputs.

    Regression labels are standardised with the target set's mean and spread, so learning
    rates mean the same thing whatever the label's units.
    """
    x = torch.as_tensor(np.asarray(problem.x), device=device, dtype=dtype)
    xt = torch.as_tensor(np.asarray(problem.x_target), device=device, dtype=dtype)
    if task == "reconstruction":
        return x, x, xt, xt
    if task == "classification":
        return (x, torch_models.as_targets(problem.y, task, device), xt,
                torch_models.as_targets(problem.y_target, task, device))
    y, yt = np.asarray(problem.y, dtype=np.float64), np.asarray(problem.y_target, dtype=np.float64)
    mu, sd = yt.mean(), yt.std()
    sd = sd if sd > 0 else 1.0
    return (x, torch_models.as_targets((y - mu) / sd, task, device).to(dtype), xt,
            torch_models.as_targets((yt - mu) / sd, task, device).to(dtype))


def out_dim(problem: Problem, task: str) -> int:
    """Model output width: classes, one regression output, or the input width for an autoencoder."""
    if task == "classification":
        return problem.n_classes
    if task == "reconstruction":
        return problem.x.shape[1]
    return 1

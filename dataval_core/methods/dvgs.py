"""Data Valuation with Gradient Similarity, DVGS (Evans et al.; arXiv 2405.08217).

A model is trained on the target set only. At evenly spaced points along training,
every valued sample's loss gradient is compared with the gradient of the current
target mini-batch by cosine similarity: a sample whose gradient points where the clean
target wants the model to go is useful. The value is the mean similarity over all
scoring points and restarts (a running mean; the reference writes one file per
iteration). Scores are taken after a step has been trained, never at the random
initialisation (the reference includes iteration 0). In ``mode="autoencoder"`` the model
reconstructs its input (mean squared error, no labels), which ranks rows with noisy
features low.

Its model learns from the target set alone, so its scores are only as sharp as a model
fitted to those rows: on images it trails knn_shapley by far, while a few hundred target
rows of a small table suffice (``benchmarks/results/detection.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import torch_models
from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, Output
from ._training import out_dim, parse_hidden, seeds, tensors


@dataclass(frozen=True)
class DVGSParams:
    mode: str = param("supervised", choices=("supervised", "autoencoder"),
                      help="supervised: the label's loss; autoencoder: reconstruction error (noisy features).")
    epochs: int = param(20, low=1, high=2000, help="Passes over the target set per restart.")
    target_batch_size: int = param(128, low=1, high=65536, help="Target mini-batch size.")
    lr: float = param(1e-3, low=0.0, low_open=True, high=1.0, help="Adam learning rate (training on the target set).")
    hidden: str = param("128,32", kind="widths",
                        help="Hidden layer widths of the MLP (or the CNN's embedding width), comma-separated.")
    grad_params: str = param("all", choices=("all", "last"),
                             help="Layers whose gradients are compared "
                                  "(cosine on all layers is dominated by the largest).")
    scores_per_restart: int = param(20, low=1, high=10000,
                                    help="Evenly spaced scoring points per restart "
                                         "(the reference's compute_every = steps / this).")
    restarts: int = param(1, low=1, high=100, help="Re-initialised training runs averaged together.")


class DVGSValuator(BaseValuator):
    """Mean cosine similarity between per-sample and target-batch gradients along training on the target."""

    name = "dvgs"
    summary = ("DVGS (Evans et al. 2024): gradient similarity to the target along training on the target; "
               "autoencoder mode.")
    low_value = ("similarity of the sample's gradient to the target's gradient during training; low = it pulls the "
                 "model away from the target.")
    cost = ("trains one small net on the target rows and takes every valued row's gradient at each scoring "
            "point: about as much as training the net on the valued rows.")
    Params = DVGSParams
    supports_regression = True
    #: for label flips neither space wins everywhere (``benchmarks/results/detection_dvgs_embedding.md``);
    #: for noisy features (autoencoder mode) choose raw (``benchmarks/results/dvgs_features.md``)
    default_embedding = "target_trained"
    torch_threads = torch_models.SMALL_MODEL_THREADS  # see benchmarks/results/threads.md

    def _compute(self, problem: Problem, params: DVGSParams, rng: np.random.Generator, reporter: Reporter) -> Output:
        hidden = parse_hidden(params.hidden, self.name)
        task = "reconstruction" if params.mode == "autoencoder" else problem.task
        device = torch_models.pick_device()
        x, y, xt, yt = tensors(problem, task, device)
        s_order, *s_models = seeds(rng, 1 + params.restarts)
        gen = torch_models.torch_generator(s_order)
        steps_per_epoch = -(-len(xt) // params.target_batch_size)
        n_steps = steps_per_epoch * params.epochs
        n_scores = min(params.scores_per_restart, n_steps)
        score_at = {int(round((j + 1) * n_steps / n_scores)) - 1 for j in range(n_scores)}
        total = np.zeros(problem.n, dtype=np.float64)
        count = 0
        model = None
        for r, s_model in enumerate(s_models):
            model = torch_models.make_model(x.shape[1], out_dim(problem, task), problem.image_shape, hidden=hidden,
                                   seed=s_model).to(device)
            names = torch_models.grad_param_names(model, params.grad_params)
            optimizer = torch.optim.Adam(model.parameters(), lr=params.lr)

            def step(epoch: int, t: int, idx: torch.Tensor) -> None:
                nonlocal count
                idx = idx.to(device)
                optimizer.zero_grad(set_to_none=True)
                torch_models.per_sample_loss(model(xt[idx]), yt[idx], task).mean().backward()
                if t in score_at:  # at the parameters this step starts from
                    by_name = dict(model.named_parameters())
                    g_target = torch.cat([_grad(by_name[nm]).reshape(-1) for nm in names])
                    total[:] += _cosines(model, x, y, task, names, g_target, check=reporter.check)
                    count += 1
                optimizer.step()

            torch_models.run_epochs(len(xt), step, epochs=params.epochs, batch_size=params.target_batch_size,
                           generator=gen, reporter=reporter, stage="train on target, score gradients",
                           done=r * params.epochs, total=params.restarts * params.epochs)
        values = total / max(count, 1)
        suggested = None
        if task == "classification" and model is not None:
            suggested = torch_models.predict(model, problem.x, check=reporter.check).argmax(1)
        return Output(values=values, suggested=suggested, extras={})


def _grad(p: torch.Tensor) -> torch.Tensor:
    """``p.grad``, which the backward pass just filled."""
    assert p.grad is not None
    return p.grad


def _cosines(model, x, y, task, names, g_target, chunk_size: int = 1024, check=None) -> np.ndarray:
    """Cosine similarity of every valued sample's gradient with ``g_target``, shape (n,); ``check``
    (the cancel check) runs after every chunk: a scoring point over many rows takes seconds."""
    out = np.empty(len(x), dtype=np.float64)
    g_unit = g_target / g_target.norm().clamp_min(1e-12)
    # dense layers: dot products and norms without forming the per-sample gradients (exact; what it saves:
    # benchmarks/results/cost_training.md)
    for start, dots, sq in torch_models.per_sample_grad_dots(model, x, y, task, g_unit, names=names,
                                                             chunk_size=chunk_size):
        if check is not None:
            check()
        cos = dots / sq.sqrt().clamp_min(1e-12)
        out[start:start + len(dots)] = cos.detach().cpu().numpy()
    return out

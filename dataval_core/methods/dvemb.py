"""Data Value Embedding (Wang, Song, Zou, Mittal, Jia; ICLR 2025, arXiv 2412.09538).

Train a model with plain SGD on the valued set, recording every sample's (projected)
loss gradient at every step. Unrolling SGD to first order, removing sample z from step
t changes the final model by η_t·A_t·g_t(z) with A_t = ∏_{k>t}(I − η_k H_k). With the
Gauss–Newton Hessian H_k = Σ_{z∈B_k} g g^T this product collapses into a backward
recursion with one running matrix M (A_t = I − M_t), processed from the last step:

    DVEmb_t(z) = η_t (g − M g)   for z in B_t,   then   M ← M + Σ_{z∈B_t} DVEmb_t(z) g^T.

The value of a sample is ⟨mean target-loss gradient at θ_T, DVEmb⟩ summed over its
occurrences (one per epoch): a first-order estimate of how much the target loss would rise
if the sample were left out of training with the same seed and batch order (positive =
helpful). Unlike the released reference code (which, per GhostSuite, drops η and the 1/B
normalisation and so blows up unless gradients are tiny) the recursion here is η-scaled
with η_t = lr/|B_t| for the mean batch loss.

Being first order in the final target gradient, it cannot see zero-mean label noise in
regression (the fit stays unbiased, the target gradient ≈ 0); systematic shifts and flipped
classes it ranks low. The same first-order signal fades once the model fits the clean
majority, so it trails knn_shapley on images with confusable-pair flips
(``benchmarks/results/detection.md``).

The defaults, and why (the tuning runs behind them: ``benchmarks/results/method_design_notes.md``;
fidelity to exact leave-one-out retraining: ``benchmarks/results/fidelity_dvemb.md``):
``grad_params="last"`` (the output layer only) finds flips better than all layers, in less time;
gradients are projected only when a projection at least halves them (projecting the default
model's output layer lost both AUROC and fidelity); the first-order unrolling holds only at a
small learning rate, hence ``lr`` 0.02 with 10 epochs on ``target_trained`` features; and the
target gradient is averaged over ``target_points`` evenly spaced steps of the last epoch
(``target_points=1`` is the paper's estimator), because once the model has partly learnt pair
flips one final gradient is small and swings from step to step.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import torch_models
from ..params import param
from ..problem import Problem
from ..progress import Reporter
from ..valuator import BaseValuator, Output
from ._training import out_dim, parse_hidden, seeds, tensors

#: the recursion keeps a P×P matrix when gradients are not projected: refuse beyond this
MAX_UNPROJECTED = 4096
#: rows of stored embeddings read per cancel check when they are dotted with the target gradient
CONTRIBUTION_ROWS = 65536


@dataclass(frozen=True)
class DVEmbParams:
    epochs: int = param(10, low=1, high=500, help="SGD epochs over the valued set; each adds one embedding per sample.")
    batch_size: int = param(32, low=1, high=4096, help="SGD mini-batch size.")
    lr: float = param(0.02, low=0.0, low_open=True, high=10.0,
                      help="SGD learning rate on the mean batch loss (per-sample step η = lr / batch size).")
    hidden: str = param("128,32", kind="widths",
                        help="Hidden layer widths of the MLP (or the CNN's embedding width), comma-separated.")
    grad_params: str = param("last", choices=("all", "last"),
                             help="Layers whose gradients form the embedding "
                                  "(last: output layer only, a layer-wise approximation).")
    target_points: int = param(10, low=1, high=1000,
                               help="Points in the last epoch whose target-loss gradients are averaged (1 = the "
                                    "final model only, as in the paper).")
    proj_dim: int = param(256, low=0, high=8192,
                          help="Random projection size of gradients (0 = none, allowed up to 4,096 parameters; "
                               "not applied when it would not at least halve the gradient size).")


@dataclass(frozen=True)
class Trajectory:
    """Per-occurrence results of one SGD run.

    Attributes:
        sample: valued-row index of each occurrence, shape (epochs·n,), in training order.
        step: SGD step of each occurrence, shape (epochs·n,).
        epoch: epoch of each occurrence, shape (epochs·n,).
        contribution: ⟨target gradient, DVEmb⟩ of each occurrence, shape (epochs·n,).
        n_steps: number of SGD steps.
        model: the trained model.
    """

    sample: np.ndarray
    step: np.ndarray
    epoch: np.ndarray
    contribution: np.ndarray
    n_steps: int
    model: torch.nn.Module


def dvemb_recursion(store: np.ndarray, bounds: Sequence[int], etas: Sequence[float],
                    reporter: Reporter | None = None, report_at: Sequence[int] = ()) -> None:
    """Turn stored per-step gradients into data value embeddings, in place.

    Args:
        store: gradients, shape (occurrences, k), rows in training order (a memmap is fine);
            overwritten with the embeddings DVEmb_t(z) = η_t (I − M_t) g_t(z).
        bounds: row offsets, length n_steps + 1; step t owns rows ``bounds[t]:bounds[t+1]``.
        etas: per-sample step size η_t of each step (the step on the summed batch loss).
        reporter: progress / cancellation, called when the recursion passes a step in ``report_at``.
        report_at: step indices at which to report (e.g. epoch starts).
    """
    k = store.shape[1]
    m = torch.zeros(k, k, dtype=torch.float64)
    marks = {t: i for i, t in enumerate(sorted(report_at, reverse=True))}
    passed, last = 0, time.monotonic()
    for t in range(len(bounds) - 2, -1, -1):
        if reporter is not None:
            if time.monotonic() - last >= torch_models.PROGRESS_EVERY_S:  # an epoch's recursion can take seconds
                reporter.update("embed", passed, len(marks), f"step {t + 1}")
                last = time.monotonic()
            else:
                reporter.check()  # cancel within a step, not only at epoch marks
        rows = slice(bounds[t], bounds[t + 1])
        g = torch.from_numpy(np.asarray(store[rows], dtype=np.float64))
        e = etas[t] * (g - g @ m.T)
        m += e.T @ g
        store[rows] = e.numpy().astype(store.dtype)
        if t in marks:
            passed = marks[t] + 1
            if reporter is not None:
                reporter.update("embed", passed, len(marks))
                last = time.monotonic()


def dvemb_trajectory(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, x_target: torch.Tensor,
                     target_target: torch.Tensor, task: str, *, epochs: int, batch_size: int, lr: float,
                     order_seed: int, proj_dim: int, proj_seed: int, grad_params: str = "all",
                     reporter: Reporter | None = None, workdir: str | None = None,
                     chunk_size: int = 1024, target_points: int = 1) -> Trajectory:
    """Train ``model`` in place with SGD on (x, target) and return per-occurrence DVEmb contributions.

    The update is plain SGD on the mean batch loss, θ ← θ − η_t Σ_{z∈B_t} ∇ℓ(θ, z) with
    η_t = lr/|B_t|; per-sample gradients of the chosen layers are recorded before each step.
    Projected gradients go to a disk-backed ``np.memmap`` in a temporary directory, so memory
    stays at one batch plus the k×k recursion matrix whatever the data size.
    """
    n = len(x)
    names = torch_models.grad_param_names(model, grad_params)
    dtype = next(model.parameters()).dtype
    device = x.device
    proj, k = _projection(torch_models.n_grad_params(model, names), proj_dim, proj_seed, device, dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch_models.torch_generator(order_seed)
    sample = np.empty(epochs * n, dtype=np.int64)
    step_of = np.empty(epochs * n, dtype=np.int64)
    epoch_of = np.empty(epochs * n, dtype=np.int64)
    bounds = [0]
    etas: list[float] = []
    epoch_starts: list[int] = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        store = np.memmap(Path(tmp) / "grads.f", dtype=np.dtype(str(dtype).replace("torch.", "")),
                          mode="w+", shape=(epochs * n, k))

        check = reporter.check if reporter is not None else None
        if check is not None:
            check()

        def step(epoch: int, t: int, idx: torch.Tensor) -> None:
            # run_epochs checks cancel before every step and reports within an epoch (seconds on images)
            if bounds[-1] == epoch * n:
                epoch_starts.append(t)
            idx = idx.to(device)
            xb, tb = x[idx], target[idx]
            for start, g in torch_models.per_sample_grads(model, xb, tb, task, names=names, chunk_size=chunk_size):
                if proj is not None:
                    g = g @ proj
                lo = bounds[-1] + start
                store[lo:lo + len(g)] = g.detach().cpu().numpy()  # noqa: F821 - bound above, deleted after training
            rows = slice(bounds[-1], bounds[-1] + len(idx))
            sample[rows] = idx.cpu().numpy()
            step_of[rows] = t
            epoch_of[rows] = epoch
            bounds.append(bounds[-1] + len(idx))
            etas.append(lr / len(idx))
            optimizer.zero_grad(set_to_none=True)
            torch_models.per_sample_loss(model(xb), tb, task).mean().backward()
            optimizer.step()
            if t + 1 in target_at:
                g = _mean_target_grad(model, x_target, target_target, task, names, chunk_size, check)
                target_sum[0] = g if target_sum[0] is None else target_sum[0] + g

        target_at = _target_steps(n, epochs, batch_size, target_points)
        target_sum: list[torch.Tensor | None] = [None]
        n_steps = torch_models.run_epochs(n, step, epochs=epochs, batch_size=batch_size, generator=gen,
                                 reporter=reporter, stage="train")
        assert target_sum[0] is not None  # the last step is always a target point
        g_target = target_sum[0] / len(target_at)
        if proj is not None:
            g_target = g_target @ proj
        dvemb_recursion(store, bounds, etas, reporter, report_at=epoch_starts)
        contribution = _contributions(store, g_target.detach().cpu().numpy().astype(np.float64), check)
        del store
    return Trajectory(sample, step_of, epoch_of, contribution, n_steps, model)


def _projection(p: int, proj_dim: int, proj_seed: int, device: torch.device,
                dtype: torch.dtype) -> tuple[torch.Tensor | None, int]:
    """The random projection of the ``p`` gradient entries (None: kept whole) and the embedding size k.

    Raises:
        ValueError: no projection of more than :data:`MAX_UNPROJECTED` entries.
    """
    if proj_dim == 0 or (2 * proj_dim >= p and p <= MAX_UNPROJECTED):
        # a projection that does not at least halve the gradient saves little (recursion cost k²) and
        # costs fidelity (benchmarks/results/method_design_notes.md, fidelity_dvemb.md)
        if p > MAX_UNPROJECTED:
            raise ValueError(f"dvemb without projection keeps a {p}×{p} matrix; set proj_dim (e.g. 256) "
                             f"for models with more than {MAX_UNPROJECTED} gradient entries.")
        return None, p
    return torch_models.random_projection(p, proj_dim, proj_seed, device, dtype), proj_dim


def _target_steps(n: int, epochs: int, batch_size: int, target_points: int) -> set[int]:
    """Steps (counted from 1) after which the target gradient is taken: the last step, and evenly
    spaced steps of the last epoch before it (``target_points`` in all, at most one per step)."""
    steps_per_epoch = -(-n // batch_size)
    total_steps = epochs * steps_per_epoch
    points = max(1, min(target_points, steps_per_epoch))
    return {total_steps - (j * steps_per_epoch) // points for j in range(points)}


def _contributions(store: np.ndarray, g_target: np.ndarray, check: Callable[[], None] | None) -> np.ndarray:
    """⟨target gradient, DVEmb⟩ per stored row, read :data:`CONTRIBUTION_ROWS` rows at a time (a cancel
    check before each read)."""
    contribution = np.empty(len(store))
    for i in range(0, len(store), CONTRIBUTION_ROWS):
        if check is not None:
            check()
        contribution[i:i + CONTRIBUTION_ROWS] = np.asarray(store[i:i + CONTRIBUTION_ROWS], dtype=np.float64) @ g_target
    return contribution


def _mean_target_grad(model, x_target, target_target, task, names, chunk_size, check=None):
    """Gradient of the mean target loss at the final model, accumulated over chunks, shape (P,);
    ``check`` (the cancel check) runs before every chunk."""
    total = None
    for start in range(0, len(x_target), chunk_size):
        if check is not None:
            check()
        sl = slice(start, start + chunk_size)
        loss = torch_models.per_sample_loss(model(x_target[sl]), target_target[sl], task).sum() / len(x_target)
        g = torch_models.flat_grad(model, loss, names)
        total = g if total is None else total + g
    return total


class DVEmbValuator(BaseValuator):
    """Data Value Embedding: trajectory-specific leave-one-out influence on the target loss.

    Extras ``influence_early``, ``influence_middle`` and ``influence_late`` split each value
    by training phase (first, middle and last third of the SGD steps); they sum to the value.
    """

    name = "dvemb"
    summary = "Data Value Embedding (Wang et al. 2025): trajectory-specific leave-one-out influence, by training phase."
    low_value = "influence of the sample along training on the target loss; low = training on it hurts the target."
    cost = ("trains one small net on the valued rows recording every row's gradient at each step, then a "
            "backward pass over them: several times plain training.")
    Params = DVEmbParams
    supports_regression = True
    #: see the module docstring: on raw image pixels the final target gradient is too erratic
    default_embedding = "target_trained"
    torch_threads = torch_models.SMALL_MODEL_THREADS  # see benchmarks/results/threads.md

    def _compute(self, problem: Problem, params: DVEmbParams, rng: np.random.Generator, reporter: Reporter) -> Output:
        hidden = parse_hidden(params.hidden, self.name)
        task = problem.task
        device = torch_models.pick_device()
        s_model, s_order, s_proj = seeds(rng, 3)
        reporter.update("setup", 0, 1, "tensors")
        x, y, xt, yt = tensors(problem, task, device)
        model = torch_models.make_model(x.shape[1], out_dim(problem, task), problem.image_shape, hidden=hidden,
                               seed=s_model).to(device)
        reporter.update("setup", 1, 1, "model")
        traj = dvemb_trajectory(model, x, y, xt, yt, task, epochs=params.epochs, batch_size=params.batch_size,
                                lr=params.lr, order_seed=s_order, proj_dim=params.proj_dim, proj_seed=s_proj,
                                grad_params=params.grad_params, reporter=reporter,
                                target_points=params.target_points)
        n = problem.n
        values = np.bincount(traj.sample, weights=traj.contribution, minlength=n)
        phase = np.minimum(3 * traj.step // max(traj.n_steps, 1), 2)
        extras = {name: np.bincount(traj.sample[phase == i], weights=traj.contribution[phase == i], minlength=n)
                  for i, name in enumerate(("influence_early", "influence_middle", "influence_late"))}
        if not np.all(np.isfinite(values)):
            raise ValueError(f"dvemb: SGD diverged with lr={params.lr} (non-finite gradients); lower the lr.")
        return Output(values=values, extras=extras)

"""Small torch models and one seeded training loop shared by embeddings and methods.

Everything torch-related that more than one module needs lives here: device
choice, model builders (an MLP for tables/embeddings, a small CNN for images up
to 64 px), deterministic mini-batch order, and a plain supervised training loop
with progress and cancellation. Methods with special training (DVGS, DVEmb,
LossVal) build on these pieces instead of copying them.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .progress import Reporter

M = TypeVar("M", bound=nn.Module)
#: torch intra-op threads for the training methods' small models (MLPs, the small CNN): measured in
#: ``benchmarks/results/threads.md``, a second thread does not pay for its hand-offs on these sizes
SMALL_MODEL_THREADS = 1
#: seconds between progress events inside an epoch; cancel is checked at every step (the contract: within 2 s)
PROGRESS_EVERY_S = 0.5


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: unchanged), then restore the caller's count.

    With torch's OpenMP backend the count belongs to the calling OS thread, so a job thread that
    sets it leaves the server's and other jobs' threads alone, and jobs running side by side each
    get their own setting; restoring on exit keeps a CLI or notebook caller's count intact.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when present (and not refused), else CPU."""
    if prefer == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def torch_generator(seed: int | np.random.Generator) -> torch.Generator:
    """A CPU torch generator derived from an int seed or a numpy Generator."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2**31 - 1))
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def init_weights(model: M, seed: int) -> M:
    """Draw every Linear/Conv2d parameter from a local generator seeded with ``seed``.

    Same distributions as torch's defaults (Kaiming-uniform weights with a=√5, uniform biases
    in ±1/√fan_in), drawn in module order, but from a private ``torch.Generator``: the values
    depend on ``seed`` only, never on other threads drawing from torch's global RNG.
    """
    gen = torch_generator(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=gen)
                if module.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(module.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                    nn.init.uniform_(module.bias, -bound, bound, generator=gen)
    return model


def _seeded(build, seed: int) -> nn.Sequential:
    """Build on the meta device (no global RNG draw), allocate on CPU, then :func:`init_weights`."""
    with torch.device("meta"):
        model = build()
    return init_weights(model.to_empty(device="cpu"), seed)


def make_mlp(in_dim: int, out_dim: int, hidden: Sequence[int] = (128, 32), *, seed: int = 0) -> nn.Sequential:
    """ReLU MLP; the last hidden layer is the embedding read by :func:`penultimate`."""
    def build() -> nn.Sequential:
        layers: list[nn.Module] = []
        prev = in_dim
        for width in hidden:
            layers += [nn.Linear(prev, width), nn.ReLU()]
            prev = width
        layers.append(nn.Linear(prev, out_dim))
        return nn.Sequential(*layers)

    return _seeded(build, seed)


def make_cnn(image_shape: tuple[int, int, int], out_dim: int, *, width: int = 16, embed_dim: int = 64,
             seed: int = 0) -> nn.Sequential:
    """Two conv blocks + a dense embedding layer, for images up to 64×64.

    Input rows are flattened images of ``image_shape`` = (C, H, W); the model reshapes them.
    """
    c, h, w = image_shape
    if max(h, w) > 64:
        raise ValueError(f"make_cnn handles images up to 64 px; got {h}x{w}. Resize first.")
    return _seeded(lambda: nn.Sequential(
        nn.Unflatten(1, (c, h, w)),
        nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(2 * width * 16, embed_dim), nn.ReLU(),
        nn.Linear(embed_dim, out_dim),
    ), seed)


def make_model(in_dim: int, out_dim: int, image_shape: tuple[int, int, int] | None = None, *,
               hidden: Sequence[int] = (128, 32), seed: int = 0) -> nn.Sequential:
    """A CNN for image rows (``image_shape`` given), else an MLP."""
    if image_shape is not None:
        return make_cnn(image_shape, out_dim, embed_dim=hidden[-1] if hidden else 64, seed=seed)
    return make_mlp(in_dim, out_dim, hidden, seed=seed)


def batch_order(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded random permutation of ``range(n)`` cut into mini-batches."""
    perm = torch.randperm(n, generator=generator)
    return list(perm.split(batch_size))


def loss_fn(task: str) -> nn.Module:
    return nn.CrossEntropyLoss() if task == "classification" else nn.MSELoss()


def as_targets(y: np.ndarray, task: str, device: torch.device) -> torch.Tensor:
    if task == "classification":
        return torch.as_tensor(np.asarray(y), dtype=torch.long, device=device)
    return torch.as_tensor(np.asarray(y), dtype=torch.float32, device=device).reshape(-1, 1)


class EpochTicker:
    """Progress and cancellation for an epoch loop: :meth:`step` checks the cancel flag at every
    step and reports at most every :data:`PROGRESS_EVERY_S` inside an epoch (``done`` stays at the
    epochs finished, the message names the step); :meth:`epoch_done` reports each finished epoch.
    ``done``/``total`` offset and size the bar so restarts can share it. No-op without a reporter.
    """

    def __init__(self, reporter: Reporter | None, stage: str, epochs: int, *, done: int = 0,
                 total: int | None = None):
        self.reporter, self.stage, self.epochs = reporter, stage, epochs
        self.done, self.total = done, epochs if total is None else total
        self.last = time.monotonic()

    def step(self, epoch: int, s: int, steps: int) -> None:
        if self.reporter is None:
            return
        if time.monotonic() - self.last < PROGRESS_EVERY_S:
            self.reporter.check()
            return
        self.reporter.update(self.stage, self.done + epoch, self.total,
                             f"epoch {epoch + 1} of {self.epochs}, step {s + 1} of {steps}")
        self.last = time.monotonic()

    def epoch_done(self, epoch: int, message: str = "") -> None:
        if self.reporter is not None:
            self.reporter.update(self.stage, self.done + epoch + 1, self.total, message)
            self.last = time.monotonic()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 4096,
            check: Callable[[], None] | None = None) -> np.ndarray:
    """Model outputs (logits or regression values) as a numpy array; ``check`` (e.g. ``reporter.check``)
    is called before every batch, so a cancel stops a pass over many images between batches."""
    device = next(model.parameters()).device
    model.eval()
    return torch.cat(list(_batched(model, x, batch_size, device, check))).numpy()


@torch.no_grad()
def penultimate(model: nn.Sequential, x: np.ndarray, batch_size: int = 4096,
                check: Callable[[], None] | None = None) -> np.ndarray:
    """Activations before the last linear layer (the learned embedding), float32 (n, k); ``check`` as in
    :func:`predict`."""
    device = next(model.parameters()).device
    return torch.cat(list(_batched(model[:-1], x, batch_size, device, check))).numpy().astype(np.float32)


def _batched(fn, x: np.ndarray, batch_size: int, device: torch.device, check: Callable[[], None] | None):
    for i in range(0, len(x), batch_size):
        if check is not None:
            check()
        yield fn(torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32), device=device)).cpu()


# --- Shared pieces of the training-based methods (lossval, dvgs, dvemb) --------------------------------------


def per_sample_loss(out: torch.Tensor, target: torch.Tensor, task: str) -> torch.Tensor:
    """Loss of every row, shape (B,): cross-entropy for classification, else mean squared error per row.

    ``task`` is ``"classification"``, ``"regression"`` (target (B, 1)) or ``"reconstruction"``
    (autoencoder, target = input (B, d)); the per-row mean keeps reconstruction losses
    comparable across feature counts and equals ``nn.MSELoss`` for one regression output.
    """
    if task == "classification":
        return nn.functional.cross_entropy(out, target, reduction="none")
    return ((out - target) ** 2).reshape(len(out), -1).mean(1)


def grad_param_names(model: nn.Module, which: str = "all") -> list[str]:
    """Names of the parameters gradients are taken over: ``"all"`` or ``"last"`` (the output layer)."""
    if which == "all":
        return [n for n, p in model.named_parameters() if p.requires_grad]
    if which == "last":
        last = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
        return [f"{last}.weight", f"{last}.bias"]
    raise ValueError(f"Gradient parameters must be 'all' or 'last'; got {which!r}.")


def n_grad_params(model: nn.Module, names: Sequence[str]) -> int:
    """Length of the flattened gradient over ``names``."""
    params = dict(model.named_parameters())
    return sum(params[n].numel() for n in names)


def per_sample_grads(model: nn.Module, x: torch.Tensor, target: torch.Tensor, task: str, *,
                     names: Sequence[str] | None = None, chunk_size: int = 1024):
    """Yield ``(start, G)`` with G (rows, P) the flattened per-sample loss gradients, chunk by chunk.

    ``torch.func``: vmap over the grad of a stateless ``functional_call``, restricted to the
    parameters in ``names`` (all by default; the others are held fixed, so backprop stops early).
    Chunking bounds memory at ``chunk_size × P`` floats (10k × 10k floats would be 400 MB).
    Gradients are of the per-sample loss at the current parameters (model mode unchanged).
    """
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in model.named_parameters()}
    names = list(names) if names is not None else list(params)
    wrt = {n: params[n] for n in names}
    fixed = {n: p for n, p in params.items() if n not in wrt}
    buffers = dict(model.named_buffers())

    def one(w, xi, ti):
        out = functional_call(model, ({**fixed, **w}, buffers), (xi.unsqueeze(0),))
        return per_sample_loss(out, ti.unsqueeze(0), task)[0]

    g_fn = vmap(grad(one), in_dims=(None, 0, 0))
    for start in range(0, len(x), chunk_size):
        g = g_fn(wrt, x[start:start + chunk_size], target[start:start + chunk_size])
        yield start, torch.cat([g[n].reshape(g[n].shape[0], -1) for n in names], 1)


def _linear_owners(model: nn.Module, names: Sequence[str]):
    """``[(linear module, uses weight, uses bias)]`` covering ``names``, or None if a name is not a Linear's."""
    modules = dict(model.named_modules())
    owners: dict[str, list] = {}
    for name in names:
        prefix, _, leaf = name.rpartition(".")
        mod = modules.get(prefix)
        if not isinstance(mod, nn.Linear) or leaf not in ("weight", "bias"):
            return None
        owners.setdefault(prefix, [mod, False, False])[1 if leaf == "weight" else 2] = True
    return [tuple(v) for v in owners.values()]


def per_sample_grad_dots(model: nn.Module, x: torch.Tensor, target: torch.Tensor, task: str, vec: torch.Tensor, *,
                         names: Sequence[str], chunk_size: int = 1024):
    """Yield ``(start, dots, sq_norms)``: ⟨g_i, vec⟩ and ‖g_i‖² of every row's loss gradient over ``names``.

    ``vec`` is flattened like :func:`per_sample_grads` (``names`` order). When every name is a
    ``nn.Linear`` weight or bias with 2-D input (MLPs, the CNN's dense head) the per-sample
    gradient δ_i a_iᵀ (and δ_i for the bias) is never formed: one forward/backward gives the layer
    inputs a_i and output gradients δ_i, then ⟨δ a ᵀ, V⟩ = δᵀ V a and ‖δ aᵀ‖² = ‖δ‖²‖a‖², exact
    (rows do not interact: no batch norm). Otherwise falls back to :func:`per_sample_grads`.
    """
    owners = _linear_owners(model, names)
    params = dict(model.named_parameters())
    parts, off = {}, 0
    for n in names:
        k = params[n].numel()
        parts[n] = vec[off:off + k].reshape(params[n].shape)
        off += k
    if owners is not None:
        name_of = {id(m): prefix for prefix, m in model.named_modules()}
        for start in range(0, len(x), chunk_size):
            seen: list = []
            hooks = [mod.register_forward_hook(lambda m, inp, out: seen.append((m, inp[0], out)))
                     for mod, _, _ in owners]
            try:
                with torch.enable_grad():
                    outs = model(x[start:start + chunk_size])
                    captured = [(m, a.detach(), z) for m, a, z in seen]
                    if any(a.dim() != 2 for _, a, _ in captured) or len(captured) != len(owners):
                        break  # e.g. a Linear applied to 3-D input: use the general path
                    loss = per_sample_loss(outs, target[start:start + chunk_size], task).sum()
                    deltas = torch.autograd.grad(loss, [z for _, _, z in captured])
            finally:
                for h in hooks:
                    h.remove()
            dots = torch.zeros(len(outs), dtype=vec.dtype, device=vec.device)
            sq = torch.zeros_like(dots)
            uses = {id(m): (w, b) for m, w, b in owners}
            for (m, a, _), d in zip(captured, deltas):
                w, b = uses[id(m)]
                prefix = name_of[id(m)]
                dd = (d * d).sum(1)
                if w:
                    dots += ((d @ parts[f"{prefix}.weight"]) * a).sum(1)
                    sq += dd * (a * a).sum(1)
                if b:
                    dots += d @ parts[f"{prefix}.bias"]
                    sq += dd
            yield start, dots, sq
        else:
            return
    for start, g in per_sample_grads(model, x, target, task, names=names, chunk_size=chunk_size):
        yield start, g @ vec, (g * g).sum(1)


def flat_grad(model: nn.Module, loss: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
    """Gradient of a scalar ``loss`` over the parameters ``names``, flattened to (P,) (no graph kept)."""
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    return torch.cat([g.reshape(-1) for g in grads])


def random_projection(in_dim: int, out_dim: int, seed: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A seeded Gaussian JL matrix (in_dim, out_dim) with entries N(0, 1/out_dim).

    ``g @ R`` keeps squared norms and dot products in expectation; the same seed gives the
    same matrix, so training and target gradients are projected alike.
    """
    r = torch.randn(in_dim, out_dim, generator=torch_generator(seed), dtype=torch.float32) / out_dim ** 0.5
    return r.to(device=device or torch.device("cpu"), dtype=dtype)


def run_epochs(n: int, step, *, epochs: int, batch_size: int, generator: torch.Generator,
               reporter: Reporter | None = None, stage: str = "train", done: int = 0,
               total: int | None = None) -> int:
    """Drive seeded mini-batch epochs over ``range(n)``: ``step(epoch, t, idx)`` per batch.

    ``t`` counts steps from 0. Cancellation is checked before every step; progress comes at
    least every :data:`PROGRESS_EVERY_S` inside an epoch and after each epoch, as
    ``done + epoch + 1`` of ``total`` (``epochs`` by default) so restarts can share a bar
    (see :class:`EpochTicker`). Returns the number of steps taken.
    """
    tick = EpochTicker(reporter, stage, epochs, done=done, total=total)
    t = 0
    for epoch in range(epochs):
        batches = batch_order(n, batch_size, generator)
        for s, idx in enumerate(batches):
            tick.step(epoch, s, len(batches))
            step(epoch, t, idx)
            t += 1
        tick.epoch_done(epoch)
    return t

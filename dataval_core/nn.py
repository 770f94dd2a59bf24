"""Small torch models and one seeded training loop shared by embeddings and methods.

Everything torch-related that more than one module needs lives here: device
choice, model builders (an MLP for tables/embeddings, a small CNN for images up
to 64 px), deterministic mini-batch order, and a plain supervised training loop
with progress and cancellation. Methods with special training (DVGS, DVEmb,
LossVal) build on these pieces instead of copying them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from .progress import Reporter


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


def make_mlp(in_dim: int, out_dim: int, hidden: Sequence[int] = (128, 32), *, seed: int = 0) -> nn.Sequential:
    """ReLU MLP; the last hidden layer is the embedding read by :func:`penultimate`."""
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # local: restored below so global RNG state is untouched
    try:
        layers: list[nn.Module] = []
        prev = in_dim
        for width in hidden:
            layers += [nn.Linear(prev, width), nn.ReLU()]
            prev = width
        layers.append(nn.Linear(prev, out_dim))
        return nn.Sequential(*layers)
    finally:
        torch.random.set_rng_state(torch_state)


def make_cnn(image_shape: tuple[int, int, int], out_dim: int, *, width: int = 16, embed_dim: int = 64,
             seed: int = 0) -> nn.Sequential:
    """Two conv blocks + a dense embedding layer, for images up to 64×64.

    Input rows are flattened images of ``image_shape`` = (C, H, W); the model reshapes them.
    """
    c, h, w = image_shape
    if max(h, w) > 64:
        raise ValueError(f"make_cnn handles images up to 64 px; got {h}x{w}. Resize first.")
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return nn.Sequential(
            nn.Unflatten(1, (c, h, w)),
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, embed_dim), nn.ReLU(),
            nn.Linear(embed_dim, out_dim),
        )
    finally:
        torch.random.set_rng_state(torch_state)


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


def fit_model(model: nn.Module, x: np.ndarray, y: np.ndarray, *, task: str = "classification",
              epochs: int = 30, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-4,
              seed: int = 0, device: torch.device | None = None, reporter: Reporter | None = None,
              stage: str = "train") -> nn.Module:
    """Train ``model`` with Adam on (x, y); deterministic for a given seed.

    Reports one progress unit per epoch and stops between epochs when cancelled.
    """
    device = device or pick_device()
    model.to(device).train()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    yt = as_targets(y, task, device)
    criterion = loss_fn(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch_generator(seed)
    for epoch in range(epochs):
        for idx in batch_order(len(xt), batch_size, gen):
            idx = idx.to(device)
            optimizer.zero_grad(set_to_none=True)
            criterion(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
        if reporter is not None:
            reporter.update(stage, epoch + 1, epochs)
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Model outputs (logits or regression values) as a numpy array."""
    device = next(model.parameters()).device
    model.eval()
    outs = [model(torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32), device=device)).cpu()
            for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy()


@torch.no_grad()
def penultimate(model: nn.Sequential, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Activations before the last linear layer (the learned embedding), float32 (n, k)."""
    body = model[:-1]
    device = next(model.parameters()).device
    outs = [body(torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32), device=device)).cpu()
            for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy().astype(np.float32)

"""Plain training of a model: the yardstick the cost benchmarks divide a valuator's time by.

Adam on (x, y) with seeded batch order, no valuation work and no progress: what training the
same model once would cost. Benchmark-only; the engine's training loops live with the methods
(lossval, dvgs, dvemb) and the learned embeddings (``dataval_core.embeddings.learned``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dataval_core import torch_models


def plain_training(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int,
                   lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0,
                   task: str = "classification") -> nn.Module:
    """Train ``model`` on CPU with Adam for ``epochs`` over (x, y) in seeded mini-batches."""
    device = torch.device("cpu")
    model.to(device).train()
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    yt = torch_models.as_targets(y, task, device)
    criterion = torch_models.loss_fn(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch_models.torch_generator(seed)
    for _ in range(epochs):
        for idx in torch_models.batch_order(len(xt), batch_size, gen):
            optimizer.zero_grad(set_to_none=True)
            criterion(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
    return model.eval()

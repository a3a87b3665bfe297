"""The mini-batch loop and the accuracy that later topics' given code shares.

Topics 01-03 have the learner write the training loop; from stage 2 on it is
plumbing, kept here once so each topic's file can stay about its architecture.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def fit(model: nn.Module, X: Tensor, y: Tensor, optimizer: torch.optim.Optimizer, *, epochs: int,
        batch_size: int, loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, generator: torch.Generator | None = None,
        log_every: int = 0) -> list[float]:
    """Shuffled mini-batches for `epochs` epochs; returns each epoch's mean loss.

    X: (N, ...) inputs, y: (N, ...) targets, on the model's device. `scheduler`, if
    given, steps after every batch. `generator` (a CPU torch.Generator) fixes the
    batch order independently of torch's global random state; without it the
    global generator shuffles.
    """
    losses = []
    model.train()
    for epoch in range(epochs):
        if generator is None:
            order = torch.randperm(len(X), device=X.device)  # (N,)
        else:
            order = torch.randperm(len(X), generator=generator).to(X.device)  # (N,)
        total = 0.0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            loss = loss_fn(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(batch)
        losses.append(total / len(X))
        if log_every and (epoch + 1) % log_every == 0:
            print(f"  epoch {epoch + 1:3d}  loss {losses[-1]:.4f}", flush=True)
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, X: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Fraction of samples whose highest logit is the label, in eval mode (BatchNorm uses running statistics)."""
    model.eval()
    correct = sum((model(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(X), batch_size))
    return correct / len(X)

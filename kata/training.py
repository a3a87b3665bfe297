"""The training loop that every topic from stage 2 on shares: `fit` calls a `step` on shuffled mini-batches.

Topics 01-03 have the learner write the loop; from stage 2 on the loop is plumbing,
kept here once, and a topic writes (or is given) only what happens to one batch:

    def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch) -> float:
        X, y = batch  # one batch of what `data` holds: here (B, C, H, W) images, (B,) labels
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    losses = fit(model, (X, y), optimizer, train_step, epochs=5, batch_size=64, seed=0, log_every=1)

`fit` does the rest: each epoch a new order of the examples, drawn from a seeded
generator (never torch's global one, so a learner's extra `torch.rand` cannot change
it), batches cut from that order and moved to the model's device, the scheduler
stepped after every batch, and a progress line every `log_every` epochs. What a
batch is depends on `data`:

    data                                   batch given to step
    X, one tensor (N, ...)                 X[idx]: an autoencoder's inputs, a GAN's real images
    (X, y), a tuple of tensors (N, ...)    (X[idx], y[idx]): images and labels or masks; pairs and
                                           triplets are tuples of three or four tensors
    examples, any sequence, with collate   collate([examples[i] for i in idx]): sentences of different
                                           lengths, padded by collate into (B, T) ids, a mask, lengths

`step` decides what to do with the batch and the optimizer: a GAN passes one module
that holds both networks and `optimizer=(opt_g, opt_d)`, and its step takes the tuple
apart. Everything is on the model's device; the order is drawn on the CPU.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from kata.common import rng

# step(model, optimizer, batch) -> the batch's loss as a Python float (loss.item()).
Step = Callable[[nn.Module, Any, Any], float]


def fit(model: nn.Module, data: Tensor | tuple[Tensor, ...] | Sequence, optimizer: Any, step: Step, *,
        epochs: int, batch_size: int, seed: int | torch.Generator = 0,
        collate: Callable[[list], Any] | None = None, scheduler: Any = None, log_every: int = 0,
        evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Train for `epochs` epochs of shuffled mini-batches; returns each epoch's mean loss.

    model: switched to train mode at the start of every epoch.
    data: one tensor, a tuple of tensors sharing their first dimension, or (with
      `collate`) any sequence of examples; see the module's docstring.
    optimizer: passed to `step` as it is (an optimizer, or a tuple of them).
    step: step(model, optimizer, batch) -> float, one update on one batch; it zeroes
      the gradients, computes the loss, backpropagates, steps, and returns loss.item().
    seed: an int (the order is drawn from kata.common.rng(seed)), or a CPU
      torch.Generator whose stream continues from call to call.
    collate: turns a list of examples into one batch (required for a sequence of examples).
    scheduler: a learning-rate scheduler (or a tuple of them), stepped after every
      batch: size it in batches, epochs * math.ceil(N / batch_size).
    log_every: print a progress line every `log_every` epochs; 0 prints nothing.
    evaluate: called for each progress line; the metrics it returns ({"test accuracy":
      0.93}) are printed on the line. It may switch the model to eval mode: the next
      epoch switches it back.

    The epoch's loss is the mean of the batches' losses, each weighted by its number
    of examples (the last batch may be smaller).
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if log_every < 0:
        raise ValueError(f"log_every must be >= 0 (0: no progress lines), got {log_every}")
    n = _count_examples(data, collate)
    generator = seed if isinstance(seed, torch.Generator) else rng(seed)
    schedulers = scheduler if isinstance(scheduler, (tuple, list)) else () if scheduler is None else (scheduler,)
    first = next(model.parameters(), None)
    device = None if first is None else first.device

    losses = []
    began = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()  # evaluate() or a test may have left it in eval mode
        order = torch.randperm(n, generator=generator)  # (N,) a new order every epoch
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]  # (B,)
            batch = _to_device(_take(data, idx, collate), device)
            loss = step(model, optimizer, batch)
            if not isinstance(loss, numbers.Real):
                raise TypeError(f"step must return the batch's loss as a Python float (loss.item()), "
                                f"got {type(loss).__name__}")
            for s in schedulers:
                s.step()
            total += float(loss) * len(idx)
        losses.append(total / n)
        if log_every and epoch % log_every == 0:
            line = f"epoch {epoch:3d}/{epochs}  loss {losses[-1]:.4f}"
            for name, value in (evaluate() if evaluate is not None else {}).items():
                line += f"  {name} {value:.3f}"
            print(f"{line}  ({time.perf_counter() - began:.1f} s)", flush=True)
    return losses


def _count_examples(data: Any, collate: Callable | None) -> int:
    """N, after checking that `data` is one of the three forms fit takes."""
    if collate is not None:
        if isinstance(data, (Tensor, tuple)):
            raise TypeError("with collate, data must be a sequence of examples (a list), not a tensor or a "
                            "tuple of tensors: those are batched without collate")
        n = len(data)
    elif isinstance(data, Tensor):
        n = len(data)
    elif isinstance(data, tuple) and data and all(isinstance(t, Tensor) for t in data):
        sizes = [len(t) for t in data]
        if len(set(sizes)) > 1:
            raise ValueError(f"the tensors of data must share their first dimension (one row per example), "
                             f"got lengths {sizes}")
        n = sizes[0]
    else:
        raise TypeError(f"data must be a tensor, a tuple of tensors sharing their first dimension, or a "
                        f"sequence of examples with collate=...; got a {type(data).__name__} without collate")
    if n == 0:
        raise ValueError("data holds no examples")
    return n


def _take(data: Any, idx: Tensor, collate: Callable | None) -> Any:
    """The batch of examples `idx` (B,), in the form of `data`."""
    if collate is not None:
        return collate([data[i] for i in idx.tolist()])
    # index_select, not data[idx]: the same rows, and several times faster on a CPU (advanced indexing
    # takes a general path), which counts when a step is cheap and an epoch has hundreds of batches.
    if isinstance(data, Tensor):
        return data.index_select(0, idx.to(data.device))
    return tuple(t.index_select(0, idx.to(t.device)) for t in data)


def _to_device(batch: Any, device: torch.device | None) -> Any:
    """The batch with every tensor in it (in tuples, lists and dicts too) on `device`."""
    if device is None:
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple takes its fields one by one
        return type(batch)(*(_to_device(b, device) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


@torch.no_grad()
def accuracy(model: nn.Module, X: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Fraction of samples whose highest logit is the label, in eval mode (BatchNorm uses running statistics).

    X: (N, ...) on the model's device; y: (N,) labels; model(X) gives (N, num_classes) logits.
    """
    model.eval()
    correct = sum((model(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(X), batch_size))
    return correct / len(X)

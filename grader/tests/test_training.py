"""kata.training.fit keeps the contract every topic's train() relies on, proved on tiny models.

The batch order comes from the seed alone; each form of `data` (a tensor, a tuple of
tensors, a sequence of examples with collate) gives the batches it promises; the
optimizer passes through untouched (a GAN's tuple); schedulers step once per batch;
the returned losses are the epochs' weighted means; bad input gets a clear error.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kata.training import fit


class Recorder:
    """A step that records every batch it is given and returns a loss it chooses."""

    def __init__(self, losses=None):
        self.batches, self.optimizers, self.losses = [], [], losses

    def __call__(self, model, optimizer, batch):
        self.batches.append(batch)
        self.optimizers.append(optimizer)
        return 1.0 if self.losses is None else self.losses[len(self.batches) - 1]


def _model() -> nn.Module:
    return nn.Linear(1, 1)


def _orders(step: Recorder) -> list[list[int]]:
    return [b.tolist() for b in step.batches]


def test_order_comes_from_the_seed_alone():
    X = torch.arange(10)
    first, second, other = Recorder(), Recorder(), Recorder()
    fit(_model(), X, None, first, epochs=3, batch_size=4, seed=5)
    torch.manual_seed(123)  # torch's global generator must not matter
    torch.rand(7)
    fit(_model(), X, None, second, epochs=3, batch_size=4, seed=5)
    fit(_model(), X, None, other, epochs=3, batch_size=4, seed=6)
    assert _orders(first) == _orders(second), "the same seed must give the same batches"
    assert _orders(first) != _orders(other), "another seed should give another order"
    # Every epoch visits every example once, in batches of 4, 4, 2, each epoch in a new order.
    epochs = [sum(_orders(first)[3 * e:3 * e + 3], []) for e in range(3)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert [len(b) for b in first.batches[:3]] == [4, 4, 2]
    assert epochs[0] != epochs[1]
    # A generator continues its stream: two calls of one epoch equal one call of two.
    one, two = Recorder(), Recorder()
    g = torch.Generator().manual_seed(3)
    fit(_model(), X, None, one, epochs=1, batch_size=4, seed=g)
    fit(_model(), X, None, one, epochs=1, batch_size=4, seed=g)
    fit(_model(), X, None, two, epochs=2, batch_size=4, seed=torch.Generator().manual_seed(3))
    assert _orders(one) == _orders(two)


def test_tuples_stay_aligned_and_collate_builds_batches():
    X, y, z = torch.arange(7), torch.arange(7) * 10, torch.arange(7) * 100  # a triplet
    step = Recorder()
    fit(_model(), (X, y, z), None, step, epochs=1, batch_size=3)
    for a, b, c in step.batches:
        assert torch.equal(b, a * 10) and torch.equal(c, a * 100)

    sentences = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]]  # lengths differ: only collate can batch them
    seen = []

    def collate(examples):
        seen.append(examples)
        return torch.tensor([len(e) for e in examples])

    step = Recorder()
    fit(_model(), sentences, None, step, epochs=1, batch_size=3, collate=collate)
    assert sorted(sum(seen, []), key=lambda e: e[0]) == sentences, "collate must see every example once, as given"
    assert [len(e) for e in seen] == [3, 1]
    assert [b.tolist() for b in step.batches] == [[len(e) for e in examples] for examples in seen]


# The recording step never calls optimizer.step(), which torch warns about.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_optimizer_passes_through_and_schedulers_step_per_batch():
    model = nn.Linear(2, 1)
    opt_g = torch.optim.SGD(model.parameters(), lr=1.0)
    opt_d = torch.optim.SGD(model.parameters(), lr=1.0)
    sched_g = torch.optim.lr_scheduler.StepLR(opt_g, step_size=1, gamma=0.5)
    sched_d = torch.optim.lr_scheduler.StepLR(opt_d, step_size=1, gamma=0.5)
    step = Recorder()
    fit(model, torch.zeros(10, 2), (opt_g, opt_d), step, epochs=2, batch_size=4,
        scheduler=(sched_g, sched_d))
    assert all(o == (opt_g, opt_d) for o in step.optimizers), "step must get the optimizer argument as given"
    # 3 batches per epoch, 2 epochs: 6 scheduler steps each.
    assert opt_g.param_groups[0]["lr"] == opt_d.param_groups[0]["lr"] == 0.5 ** 6


def test_losses_are_weighted_epoch_means_and_train_mode_is_restored():
    model = nn.Sequential(nn.Linear(1, 1), nn.Dropout(0.5))
    step = Recorder(losses=[1.0, 1.0, 4.0, 2.0, 2.0, 2.0])  # batches of 4, 4, 2
    modes = []

    def evaluate():
        model.eval()  # as an evaluation does: fit must switch back before the next epoch
        return {"test accuracy": 0.5}

    def recording_step(m, optimizer, batch):
        modes.append(m.training)
        return step(m, optimizer, batch)

    losses = fit(model, torch.zeros(10, 1), None, recording_step, epochs=2, batch_size=4, log_every=1,
                 evaluate=evaluate)
    assert losses == pytest.approx([(4 * 1 + 4 * 1 + 2 * 4) / 10, 2.0])
    assert all(modes), "every step must run in train mode, even after evaluate() switched to eval"


def test_progress_lines(capsys):
    fit(_model(), torch.zeros(6, 1), None, Recorder(), epochs=4, batch_size=3, log_every=2,
        evaluate=lambda: {"test accuracy": 0.875})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch   2/4  loss 1.0000  test accuracy 0.875"), lines
    fit(_model(), torch.zeros(6, 1), None, Recorder(), epochs=4, batch_size=3)
    assert capsys.readouterr().out == "", "log_every=0 (the default) prints nothing"


def test_bad_input_gets_a_clear_error():
    X = torch.zeros(6, 1)
    with pytest.raises(TypeError, match=r"loss\.item\(\)"):
        fit(_model(), X, None, lambda m, o, b: torch.tensor(1.0), epochs=1, batch_size=2)
    with pytest.raises(TypeError, match="NoneType"):
        fit(_model(), X, None, lambda m, o, b: None, epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="share their first dimension"):
        fit(_model(), (X, torch.zeros(5)), None, Recorder(), epochs=1, batch_size=2)
    with pytest.raises(TypeError, match="collate"):
        fit(_model(), [[1, 2], [3]], None, Recorder(), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        fit(_model(), X, None, Recorder(), epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="no examples"):
        fit(_model(), torch.zeros(0, 1), None, Recorder(), epochs=1, batch_size=2)

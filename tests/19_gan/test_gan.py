"""Hidden suite for 19 GAN: the two networks, the value function and the generator's losses,
the discriminator's and the generator's steps (each moves only its own network), DCGAN's
layers and initialisation against hand-written forwards, and learning: a GAN that covers a
ring of 8 Gaussians where a generator with D's gradients leaking into it does not, and a
DCGAN whose samples of generated shapes a classifier trained on real ones recognises.

Value and step tests run in float64 on tiny sizes with the test's own reference formulas
(logsigmoid) and plain torch.optim.Adam steps on deep copies.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import (
    assert_at_least,
    assert_at_most,
    assert_close,
    assert_equal,
    calling,
    check_follows_the_input,
    check_on_meta,
    check_tensor,
    fill_uniform,
)
from kata import pictures
from kata.data import ring_centres, ring_of_gaussians
from kata.images import shapes as shape_images

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

LAYERS = ("build the layers in the documented order, one nn.Sequential called net (main for the DCGAN), with "
          "num_layers hidden layers")
STEP = ("one step: zero the gradients of the network that learns, compute its loss, backward, step that network's "
        "optimizer only, return loss.item()")


def _linears(net):
    return [m for m in net if isinstance(m, nn.Linear)]


def _mlp_reference(net, x, activation):
    """What an MLP of Linear layers with `activation` between them (none after the last) gives."""
    linears = _linears(net)
    for i, layer in enumerate(linears):
        x = F.linear(x, layer.weight, layer.bias)
        if i < len(linears) - 1:
            x = activation(x)
    return x


class _Net(nn.Module):
    """A small MLP with a latent_dim attribute, so that the step tests need neither of the learner's networks."""

    def __init__(self, in_features, out_features, g, *, squeeze=False):
        super().__init__()
        self.latent_dim = in_features
        self.net = fill_uniform(nn.Sequential(nn.Linear(in_features, 6), nn.Tanh(), nn.Linear(6, out_features)), g,
                                0.8).double()
        self.squeeze = squeeze

    def forward(self, x):
        out = self.net(x)
        return out.squeeze(-1) if self.squeeze else out


def _gan(topic, seed=0):
    g = torch.Generator().manual_seed(seed)
    return topic.GAN(_Net(3, 2, g), _Net(2, 1, g, squeeze=True))


def _optimizers(gan):
    return (torch.optim.Adam(gan.generator.parameters(), lr=0.05, betas=(0.5, 0.999)),
            torch.optim.Adam(gan.discriminator.parameters(), lr=0.05, betas=(0.5, 0.999)))


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same_params(module, before, name, hint):
    for i, (p, q) in enumerate(zip(module.parameters(), before)):
        assert_close(p, q, f"{name}, parameter {i}", atol=0, rtol=0, hint=hint)


# ------------------------------------------------------------------ Generator
@shapes
@task("Generator")
def test_generator_layers_and_shapes(topic):
    model = topic.Generator(3, 5, hidden_size=7, num_layers=3)
    assert model.latent_dim == 3, f"Generator(3, ...).latent_dim should be 3, got {getattr(model, 'latent_dim', None)}"
    kinds = [type(m).__name__ for m in model.net]
    expected = ["Linear", "ReLU"] * 3 + ["Linear"]
    assert kinds == expected, f"Generator(3, 5, hidden_size=7, num_layers=3).net should be {expected}, got {kinds}. " \
                              f"Likely cause: {LAYERS}; no activation after the last Linear"
    sizes = [(m.in_features, m.out_features) for m in _linears(model.net)]
    assert sizes == [(3, 7), (7, 7), (7, 7), (7, 5)], (
        f"Generator(3, 5, hidden_size=7, num_layers=3): Linear sizes should be [(3, 7), (7, 7), (7, 7), (7, 5)], got "
        f"{sizes}. Likely cause: latent_dim, hidden_size, out_features or num_layers not used")
    default = topic.Generator()
    sizes = [(m.in_features, m.out_features) for m in _linears(default.net)]
    assert sizes == [(2, 64), (64, 64), (64, 2)], (
        f"Generator(): Linear sizes should be [(2, 64), (64, 64), (64, 2)] (latent_dim=2, out_features=2, "
        f"hidden_size=64, num_layers=2), got {sizes}")
    check_follows_the_input(lambda: topic.Generator(3, 5, hidden_size=7, num_layers=3), torch.randn(4, 3), (4, 5),
                            "Generator(3, 5, hidden_size=7, num_layers=3)")


@gradients
@task("Generator")
def test_generator_is_a_relu_mlp_with_a_linear_output(topic):
    g = torch.Generator().manual_seed(1)
    model = fill_uniform(topic.Generator(3, 2, hidden_size=5, num_layers=2), g, 1.0).double()
    z = torch.randn(6, 3, generator=g, dtype=torch.float64) * 3
    got = model(z)
    expected = _mlp_reference(model.net, z, F.relu)
    assert_close(got, expected, "Generator(3, 2, hidden_size=5, num_layers=2)(z)", atol=1e-10,
                 hint="ReLU after every hidden Linear and nothing after the last: a Tanh or ReLU at the output keeps "
                      "samples off the ring's negative side or outside [-1, 1]")


# ------------------------------------------------------------------ Discriminator
@shapes
@task("Discriminator")
def test_discriminator_layers_and_shapes(topic):
    model = topic.Discriminator(3, hidden_size=5, num_layers=3)
    kinds = [type(m).__name__ for m in model.net]
    expected = ["Linear", "LeakyReLU"] * 3 + ["Linear"]
    assert kinds == expected, f"Discriminator(3, hidden_size=5, num_layers=3).net should be {expected}, got " \
                              f"{kinds}. Likely cause: {LAYERS}; no Sigmoid at the end (it returns logits)"
    slopes = {m.negative_slope for m in model.net if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}, f"the discriminator's LeakyReLUs should have negative_slope 0.2, got {slopes}. Likely " \
                            f"cause: nn.LeakyReLU() defaults to 0.01; pass 0.2 as DCGAN does"
    sizes = [(m.in_features, m.out_features) for m in _linears(model.net)]
    assert sizes == [(3, 5), (5, 5), (5, 5), (5, 1)], (
        f"Discriminator(3, hidden_size=5, num_layers=3): Linear sizes should be [(3, 5), (5, 5), (5, 5), (5, 1)], "
        f"got {sizes}")
    sizes = [(m.in_features, m.out_features) for m in _linears(topic.Discriminator().net)]
    assert sizes == [(2, 64), (64, 64), (64, 1)], f"Discriminator(): Linear sizes should be [(2, 64), (64, 64), " \
                                                  f"(64, 1)], got {sizes}"
    check_follows_the_input(lambda: topic.Discriminator(3, hidden_size=5, num_layers=3), torch.randn(4, 3), (4,),
                            "Discriminator(3, hidden_size=5, num_layers=3)")
    with calling("return one logit per sample, (B,): squeeze(-1) or [:, 0]"):
        one = topic.Discriminator(3, hidden_size=5)(torch.randn(1, 3))
    check_tensor(one, "Discriminator(3, ...) on a batch of one sample (1, 3)", shape=(1,),
                 hint="squeeze() with no dimension also removes the batch dimension when B = 1: squeeze(-1)")


@gradients
@task("Discriminator")
def test_discriminator_is_a_leaky_relu_mlp_returning_logits(topic):
    g = torch.Generator().manual_seed(2)
    model = fill_uniform(topic.Discriminator(2, hidden_size=5, num_layers=2), g, 1.0).double()
    x = torch.randn(7, 2, generator=g, dtype=torch.float64) * 3
    expected = _mlp_reference(model.net, x, lambda h: F.leaky_relu(h, 0.2))[:, 0]
    assert_close(model(x), expected, "Discriminator(2, hidden_size=5, num_layers=2)(x)", atol=1e-10,
                 hint="LeakyReLU(0.2) after every hidden Linear, and the last Linear's output as (B,) logits: no "
                      "Sigmoid (value_function takes logits)")


# ------------------------------------------------------------------ value_function
def _value_reference(real_logits, fake_logits):
    return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()


@shapes
@task("value_function")
def test_value_function_is_a_scalar_on_the_logits_device(topic):
    check_on_meta("value_function(real_logits (5,), fake_logits (3,))", topic.value_function,
                  torch.empty(5, device="meta"), torch.empty(3, device="meta"), shape=())
    got = topic.value_function(torch.zeros(5, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
    check_tensor(got, "value_function of float64 logits", shape=(), dtype=torch.float64,
                 hint="a scalar: the two means added, in the logits' dtype")


@gradients
@task("value_function")
def test_value_function_is_minus_log_4_at_the_optimal_discriminator_for_equal_distributions(topic):
    # D*(x) = p_data / (p_data + p_g) = 1/2 everywhere when p_g = p_data: every logit 0.
    got = topic.value_function(torch.zeros(6, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    assert_close(got, torch.tensor(-math.log(4), dtype=torch.float64), "V(D*, G) with p_g = p_data (every logit 0)",
                 atol=1e-12, hint="V = E[log D(x)] + E[log(1 - D(G(z)))] = log 1/2 + log 1/2 = -log 4")
    # Data N(0, 1), generator N(1, 1): D*'s logit is log p_data(x) - log p_g(x) = 1/2 - x, and
    # V(D*, G) = -log 4 + 2 JSD, larger than -log 4. Quantiles stand in for the two expectations.
    quantiles = torch.special.ndtri((torch.arange(20000, dtype=torch.float64) + 0.5) / 20000)
    real, fake = quantiles, quantiles + 1

    def logit(x):
        return 0.5 - x

    got = topic.value_function(logit(real), logit(fake))
    assert_close(got, _value_reference(logit(real), logit(fake)), "V(D*, G) for data N(0, 1) and samples N(1, 1)",
                 atol=1e-9, hint="the mean of log D over the real samples plus the mean of log(1 - D) over the fakes")
    assert got.item() > -math.log(4) + 0.1, "V(D*, G) must exceed -log 4 when the distributions differ"
    # Different batch sizes: each term is its own mean.
    g = torch.Generator().manual_seed(3)
    real_logits = torch.randn(7, generator=g, dtype=torch.float64) * 2
    fake_logits = torch.randn(3, generator=g, dtype=torch.float64) * 2 - 1
    real_logits.requires_grad_(True)
    got = topic.value_function(real_logits, fake_logits)
    assert_close(got, _value_reference(real_logits, fake_logits), "value_function(7 real logits, 3 fake logits)",
                 atol=1e-10, hint="average the real and the fake terms separately (each over its own batch) and add "
                                  "them; 1 - D(G(z)) = sigmoid(-logit)")
    (grad,) = torch.autograd.grad(got, real_logits)
    assert_close(grad, torch.sigmoid(-real_logits.detach()) / 7, "the gradient of V with respect to the real logits",
                 atol=1e-10, hint="compute V from the logits with differentiable operations (no .item(), no detach)")
    # Confident logits: log(sigmoid(-200)) is log(0) = -inf in float32.
    real_logits = torch.tensor([200.0, -200.0])
    fake_logits = torch.tensor([-200.0, 200.0, 0.0])
    assert_close(topic.value_function(real_logits, fake_logits), _value_reference(real_logits, fake_logits),
                 "value_function with logits of +-200 (float32)", atol=1e-3,
                 hint="log(sigmoid(l)) rounds sigmoid(-200) to 0 and gives -inf: use F.logsigmoid(l) for log D and "
                      "F.logsigmoid(-l) for log(1 - D)")


# ------------------------------------------------------------------ generator_loss
@shapes
@task("generator_loss")
def test_generator_loss_is_a_scalar_on_the_logits_device(topic):
    for saturating in (False, True):
        check_on_meta(f"generator_loss(fake_logits (5,), saturating={saturating})", topic.generator_loss,
                      torch.empty(5, device="meta"), saturating=saturating, shape=())
        got = topic.generator_loss(torch.zeros(4, dtype=torch.float64), saturating=saturating)
        check_tensor(got, f"generator_loss of float64 logits, saturating={saturating}", shape=(), dtype=torch.float64)


@gradients
@task("generator_loss")
def test_non_saturating_loss_keeps_its_gradient_where_the_discriminator_is_confident(topic):
    # D rejects the fakes: logit -5, D(G(z)) = 0.0067.
    for saturating, slope, name in ((False, -(1 - torch.sigmoid(torch.tensor(-5.0)).item()), "non-saturating"),
                                    (True, -torch.sigmoid(torch.tensor(-5.0)).item(), "saturating")):
        logits = torch.full((4,), -5.0, dtype=torch.float64, requires_grad=True)
        loss = topic.generator_loss(logits, saturating=saturating)
        (grad,) = torch.autograd.grad(loss, logits)
        assert_close(grad * 4, torch.full((4,), slope, dtype=torch.float64),
                     f"the {name} loss's slope per sample where D(G(z)) = 0.0067 (logit -5)", atol=1e-6,
                     hint="non-saturating: -log D(G(z)), slope -0.993; saturating: log(1 - D(G(z))), slope -0.0067; "
                          "each the mean over the batch")
    g = torch.Generator().manual_seed(4)
    logits = torch.cat([torch.randn(5, generator=g) * 3, torch.tensor([200.0, -200.0])])  # float32
    for kwargs, expected, name in (({}, -F.logsigmoid(logits).mean(), "generator_loss(logits) (the default)"),
                                   ({"saturating": False}, -F.logsigmoid(logits).mean(),
                                    "generator_loss(logits, saturating=False)"),
                                   ({"saturating": True}, F.logsigmoid(-logits).mean(),
                                    "generator_loss(logits, saturating=True)")):
        assert_close(topic.generator_loss(logits, **kwargs), expected, f"{name}, logits of +-200 included (float32)",
                     atol=1e-4, hint="the default is the non-saturating loss, mean of -logsigmoid(logits); the "
                                     "saturating one is the mean of logsigmoid(-logits) = log(1 - D); never "
                                     "log(sigmoid(...)), which is -inf at -200")


# ------------------------------------------------------------------ d_step
def _reference_d_step(gan, optimizers, real, z):
    opt_g, opt_d = optimizers
    opt_d.zero_grad()
    loss = -_value_reference(gan.discriminator(real), gan.discriminator(gan.generator(z).detach()))
    loss.backward()
    opt_d.step()
    return loss.item()


def _reference_g_step(gan, optimizers, z, saturating=False):
    opt_g, opt_d = optimizers
    opt_g.zero_grad()
    logits = gan.discriminator(gan.generator(z))
    loss = F.logsigmoid(-logits).mean() if saturating else -F.logsigmoid(logits).mean()
    loss.backward()
    opt_g.step()
    return loss.item()


@gradients
@task("d_step")
def test_d_step_against_hand_written_adam_steps(topic):
    gan = _gan(topic)
    ref = copy.deepcopy(gan)
    optimizers, ref_optimizers = _optimizers(gan), _optimizers(ref)
    g = torch.Generator().manual_seed(5)
    for step in range(2):
        real = torch.randn(5, 2, generator=g, dtype=torch.float64) + 2
        z = torch.randn(5, 3, generator=g, dtype=torch.float64)
        with calling(STEP):
            got = topic.d_step(gan, optimizers, real, z)
        expected = _reference_d_step(ref, ref_optimizers, real, z)
        assert isinstance(got, float), f"d_step should return the loss as a float (loss.item()), got {type(got)}"
        assert_close(torch.tensor(got), torch.tensor(expected), f"the loss d_step returns (step {step + 1})",
                     atol=1e-9, hint="return -V(D, G) on this batch, computed before the update: the discriminator's "
                                     "loss (positive), not V itself")
        for i, (p, q) in enumerate(zip(gan.discriminator.parameters(), ref.discriminator.parameters())):
            assert_close(p, q, f"discriminator parameter {i} after {step + 1} d_step(s)", atol=1e-9,
                         hint="zero D's gradients first, minimise -value_function(D(real), D(fake)) and step D's "
                              "optimizer (the second of the pair)")


@gradients
@task("d_step")
def test_d_step_gives_the_generator_no_gradient_and_leaves_it_unchanged(topic):
    gan = _gan(topic)
    optimizers = _optimizers(gan)
    g = torch.Generator().manual_seed(6)
    real = torch.randn(4, 2, generator=g, dtype=torch.float64) + 2
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    topic.d_step(gan, optimizers, real, z)
    for i, p in enumerate(gan.generator.parameters()):
        if p.grad is not None:
            assert_equal(p.grad, torch.zeros_like(p), f"the generator's parameter {i}'s .grad after d_step",
                         hint="D's loss sent gradients into G: detach the fakes (G(z).detach(), or G(z) under "
                              "torch.no_grad()) before the discriminator sees them")
    # Gradients left over from a G step must not be applied by the D step either.
    before = _params(gan.generator)
    for p in gan.generator.parameters():
        p.grad = torch.ones_like(p)
    topic.d_step(gan, optimizers, real, z)
    _same_params(gan.generator, before, "the generator after d_step (its .grad left over from a G step)",
                 hint="d_step steps the discriminator's optimizer only (optimizers[1]); stepping the generator's "
                      "applies whatever its .grad holds")


# ------------------------------------------------------------------ g_step
@gradients
@task("g_step")
def test_g_step_against_hand_written_adam_steps(topic):
    g = torch.Generator().manual_seed(7)
    for kwargs in ({}, {"saturating": False}, {"saturating": True}):
        gan = _gan(topic, seed=1)
        ref = copy.deepcopy(gan)
        optimizers, ref_optimizers = _optimizers(gan), _optimizers(ref)
        name = f"g_step(gan, optimizers, z{''.join(f', {k}={v}' for k, v in kwargs.items())})"
        for step in range(2):
            z = torch.randn(5, 3, generator=g, dtype=torch.float64)
            with calling(STEP):
                got = topic.g_step(gan, optimizers, z, **kwargs)
            expected = _reference_g_step(ref, ref_optimizers, z, **kwargs)
            assert isinstance(got, float), f"{name} should return the loss as a float (loss.item()), got {type(got)}"
            assert_close(torch.tensor(got), torch.tensor(expected), f"the loss {name} returns (step {step + 1})",
                         atol=1e-9, hint="return generator_loss(D(G(z)), saturating=saturating) before the update; "
                                         "pass saturating on")
            for i, (p, q) in enumerate(zip(gan.generator.parameters(), ref.generator.parameters())):
                assert_close(p, q, f"generator parameter {i} after {step + 1} {name} step(s)", atol=1e-9,
                             hint="zero G's gradients first (optimizers[0].zero_grad()), backward the generator's "
                                  "loss through D, step G's optimizer; pass saturating on to generator_loss")


@gradients
@task("g_step")
def test_g_step_leaves_the_discriminator_unchanged(topic):
    gan = _gan(topic, seed=2)
    optimizers = _optimizers(gan)
    g = torch.Generator().manual_seed(8)
    real = torch.randn(4, 2, generator=g, dtype=torch.float64) + 2
    topic.d_step(gan, optimizers, real, torch.randn(4, 3, generator=g, dtype=torch.float64))  # D's Adam has a state
    before = _params(gan.discriminator)
    for _ in range(2):
        topic.g_step(gan, optimizers, torch.randn(4, 3, generator=g, dtype=torch.float64))
    _same_params(gan.discriminator, before, "the discriminator after two g_steps",
                 hint="g_step steps the generator's optimizer only (optimizers[0]): stepping D's would move D to "
                      "help G fool it")


def _train_ring(topic, X, seed, device, *, leak=False):
    torch.manual_seed(seed)
    gan = topic.GAN(topic.Generator(2, 2, hidden_size=64), topic.Discriminator(2, hidden_size=64)).to(device)
    if leak:  # the D step without detach, and both networks stepped: D's gradients reach G
        def leaky_d_step(gan, optimizers, real, z):
            for opt in optimizers:
                opt.zero_grad()
            loss = -topic.value_function(gan.discriminator(real), gan.discriminator(gan.generator(z)))
            loss.backward()
            for opt in optimizers:
                opt.step()
            return loss.item()

        original, topic.d_step = topic.d_step, leaky_d_step
    try:
        losses = topic.train(gan, X, epochs=6, lr=2e-3, d_lr=4e-3, batch_size=128, seed=seed)
    finally:
        if leak:
            topic.d_step = original
    assert len(losses) == 6, f"train(..., epochs=6) should return 6 losses, got {len(losses)}"
    samples = gan.sample(1000, generator=torch.Generator().manual_seed(seed)).cpu()
    distance, mode = torch.cdist(samples.float(), ring_centres()).min(1)
    near = distance < 0.2
    counts = torch.bincount(mode[near], minlength=8)
    return int((counts >= 20).sum()), near.float().mean().item()


@accuracy
@task("g_step")
def test_gan_escapes_a_confident_discriminator_and_covers_the_ring(topic, seed, device):
    X, _ = ring_of_gaussians(12800, noise_std=0.05, seed=seed)
    X = X.to(device)
    # 1. The paper's argument, in training: D first learns to reject G's samples (logits near -7),
    # then G alone takes 100 plain SGD steps against it, whose size follows the gradient's.
    torch.manual_seed(seed)
    gan = topic.GAN(topic.Generator(2, 2, hidden_size=64), topic.Discriminator(2, hidden_size=64)).to(device)
    optimizers = (torch.optim.SGD(gan.generator.parameters(), lr=0.0),
                  torch.optim.Adam(gan.discriminator.parameters(), lr=4e-3, betas=(0.5, 0.999)))
    for i in range(100):
        topic.d_step(gan, optimizers, X[i * 128:(i + 1) * 128], torch.randn(128, 2, device=device))
    fooled = {}
    for saturating in (False, True):
        player = copy.deepcopy(gan)
        optimizers = (torch.optim.SGD(player.generator.parameters(), lr=0.05),
                      torch.optim.SGD(player.discriminator.parameters(), lr=0.0))
        for _ in range(100):
            topic.g_step(player, optimizers, torch.randn(128, 2, device=device), saturating=saturating)
        with torch.no_grad():
            fakes = player.generator(torch.randn(1000, 2, device=device))
            # A sample fools D where D(G(z)) > 1/2 (a NaN sample, from a generator that diverged, does not).
            fooled[saturating] = (player.discriminator(fakes) > 0).float().mean().item()
    hint = ("from a discriminator that rejects every sample, the solution's non-saturating generator fools it with "
            "nearly every sample after 100 SGD steps, and the saturating one with almost none: ")
    assert_at_least(fooled[False], 0.5, "share of samples fooling a confident D after 100 non-saturating G steps",
                    hint=hint + "g_step must use generator_loss(..., saturating=saturating), -log D(G(z)) by default")
    assert_at_most(fooled[True], 0.1, "share of samples fooling a confident D after 100 saturating G steps",
                   hint=hint + "saturating=True is log(1 - D(G(z))), whose slope vanishes where D rejects")
    # 2. The game on the ring, and the same game with D's gradients leaking into G.
    covered, share = _train_ring(topic, X, seed, device)
    leak_covered, _ = _train_ring(topic, X, seed, device, leak=True)
    hint = ("600 steps of Adam: the solution covers 6-8 of the 8 modes with 39-60% of its samples within 0.2 of a "
            "mode; a generator with D's gradients leaking into it covers 3-5: ")
    assert_at_least(covered, 6, "modes of the ring the GAN's samples cover", chance=0,
                    hint=hint + "check that d_step detaches the fakes and g_step uses the non-saturating loss")
    assert_at_least(share, 0.3, "share of the GAN's samples near a mode of the ring",
                    hint=hint + "check both steps against the hand-written ones first")
    assert_at_most(leak_covered - covered, -2, "modes covered with D's gradients leaking into G, minus the GAN's",
                   hint=hint + "the test's own leaking D step should do worse than yours")


# ------------------------------------------------------------------ init_weights
@shapes
@task("init_weights")
def test_init_weights_follows_dcgan(topic):
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 4)  # bias=True: a bias DCGAN leaves alone
    transposed = nn.ConvTranspose2d(64, 64, 4, bias=False)
    norm = nn.BatchNorm2d(4096)
    linear = nn.Linear(8, 8)
    with torch.no_grad():
        norm.bias.fill_(0.5)
    untouched = {"the Conv2d's bias": conv.bias, "the Linear's weight": linear.weight, "the Linear's bias": linear.bias}
    before = {name: p.detach().clone() for name, p in untouched.items()}
    tensors = {m: m.weight for m in (conv, transposed, norm)}
    pointers = {m: m.weight.data_ptr() for m in (conv, transposed, norm)}
    for module in (conv, transposed, norm, linear):
        with calling("init_weights(module) takes one module and changes its parameters in place"):
            result = topic.init_weights(module)
        assert result is None, f"init_weights(module) changes the module in place and returns None, got {result!r}"
    for module in (conv, transposed, norm):
        assert module.weight is tensors[module] and module.weight.data_ptr() == pointers[module], (
            f"init_weights({type(module).__name__}) replaced the weight with a new Parameter. Likely cause: "
            "module.weight = nn.Parameter(...) makes a new tensor that an optimizer built before does not hold; "
            "fill it in place with nn.init.normal_(module.weight, mean, std)")
    for module, name in ((conv, "Conv2d"), (transposed, "ConvTranspose2d")):
        w = module.weight.detach()
        assert_close(w.mean(), torch.tensor(0.0), f"the mean of a {name}(64, 64, 4)'s weights after init_weights",
                     atol=0.001, hint="convolution weights (transposed ones too) ~ N(0, 0.02)")
        assert_close(w.std(), torch.tensor(0.02), f"the standard deviation of a {name}(64, 64, 4)'s weights",
                     atol=0.0006, hint="convolution weights (nn.Conv2d and nn.ConvTranspose2d: neither is a subclass "
                                       "of the other) ~ N(0, 0.02): nn.init.normal_(w, 0.0, 0.02)")
        assert_at_least(w.abs().max().item(), 0.07, f"the largest |weight| of a {name}(64, 64, 4)",
                        hint="a normal distribution, not a uniform one: 65,536 draws of N(0, 0.02) reach beyond 0.07 "
                             "(3.5 standard deviations), a uniform of the same spread stops at 0.035")
    w = norm.weight.detach()
    assert_close(w.mean(), torch.tensor(1.0), "the mean of a BatchNorm2d's weights after init_weights", atol=0.002,
                 hint="BatchNorm weights (its scales) ~ N(1, 0.02): they start near 1, not near 0")
    assert_close(w.std(), torch.tensor(0.02), "the standard deviation of a BatchNorm2d's weights", atol=0.0015,
                 hint="BatchNorm weights ~ N(1, 0.02): nn.init.normal_(w, 1.0, 0.02)")
    assert_equal(norm.bias.detach(), torch.zeros(4096), "a BatchNorm2d's bias after init_weights (it held 0.5)",
                 hint="BatchNorm biases are set to 0: nn.init.zeros_(module.bias)")
    for name, p in untouched.items():
        assert_equal(p.detach(), before[name], f"{name} after init_weights",
                     hint="only convolution weights and BatchNorm weights and biases change: leave the other modules "
                          "and the convolutions' biases as they are")


# ------------------------------------------------------------------ DCGenerator and DCDiscriminator
def _layout(main):
    return [(type(m).__name__, getattr(m, "in_channels", getattr(m, "num_features", None)),
             getattr(m, "out_channels", None), getattr(m, "stride", None), getattr(m, "padding", None))
            for m in main]


@shapes
@task("DCGenerator")
def test_dcgenerator_layers_and_shapes(topic):
    model = topic.DCGenerator(8, 3, width=4, image_size=32)
    assert model.latent_dim == 8, (
        f"DCGenerator(8, ...).latent_dim should be 8, got {getattr(model, 'latent_dim', None)}")
    relu = ("ReLU",) + (None,) * 4
    expected = [("ConvTranspose2d", 8, 16, (1, 1), (0, 0)), ("BatchNorm2d", 16, None, None, None), relu,
                ("ConvTranspose2d", 16, 8, (2, 2), (1, 1)), ("BatchNorm2d", 8, None, None, None), relu,
                ("ConvTranspose2d", 8, 4, (2, 2), (1, 1)), ("BatchNorm2d", 4, None, None, None), relu,
                ("ConvTranspose2d", 4, 3, (2, 2), (1, 1)), ("Tanh",) + (None,) * 4]
    assert _layout(model.main) == expected, (
        f"DCGenerator(8, 3, width=4, image_size=32).main should be (type, in, out, stride, padding)\n  {expected}\n"
        f"got\n  {_layout(model.main)}\nLikely cause: the channels halve at each block, from width * 2**(L-1) down to "
        "width, with L = log2(image_size) - 2; no BatchNorm on the output, which ends with Tanh")
    assert all(m.bias is None for m in model.main if isinstance(m, nn.ConvTranspose2d)), \
        "DCGAN's transposed convolutions have no bias (bias=False): the BatchNorm after them has one"
    assert all(m.kernel_size == (4, 4) for m in model.main if isinstance(m, nn.ConvTranspose2d)), \
        "every transposed convolution has a 4x4 kernel"
    check_follows_the_input(lambda: topic.DCGenerator(8, 3, width=4, image_size=32), torch.randn(2, 8),
                            (2, 3, 32, 32), "DCGenerator(8, 3, width=4, image_size=32)")
    check_follows_the_input(lambda: topic.DCGenerator(), torch.randn(2, 16), (2, 1, 16, 16), "DCGenerator()")
    check_follows_the_input(lambda: topic.DCGenerator(4, 1, width=2, image_size=8), torch.randn(1, 4), (1, 1, 8, 8),
                            "DCGenerator(4, 1, width=2, image_size=8) on one sample")


@gradients
@task("DCGenerator")
def test_dcgenerator_equals_a_hand_written_forward_in_training_mode(topic):
    torch.manual_seed(9)
    model = topic.DCGenerator(6, 2, width=3, image_size=16).double().train()
    g = torch.Generator().manual_seed(9)
    for m in model.main:
        if isinstance(m, nn.BatchNorm2d):
            fill_uniform(m, g, 0.5)
            with torch.no_grad():
                m.running_var.fill_(2.0)
    z = torch.randn(5, 6, generator=g, dtype=torch.float64)
    x = z[:, :, None, None]
    stats = []
    for m in model.main:
        if isinstance(m, nn.ConvTranspose2d):
            x = F.conv_transpose2d(x, m.weight, None, m.stride, m.padding)
        elif isinstance(m, nn.BatchNorm2d):
            mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))  # unbiased, as PyTorch keeps it
            stats.append((0.1 * mean, 0.9 * 2.0 + 0.1 * var))
            x = F.batch_norm(x, None, None, m.weight, m.bias, training=True)
        elif isinstance(m, nn.ReLU):
            x = F.relu(x)
        else:
            x = torch.tanh(x)
    got = model(z)
    assert_close(got, x, "DCGenerator(6, 2, width=3, image_size=16)(z) in training mode", atol=1e-9,
                 hint="view z (B, Z) as (B, Z, 1, 1) and run self.main: transposed convolutions, BatchNorm, ReLU, "
                      "Tanh at the end")
    norms = [m for m in model.main if isinstance(m, nn.BatchNorm2d)]
    for i, (m, (mean, var)) in enumerate(zip(norms, stats)):
        assert_close(m.running_mean, mean, f"BatchNorm {i}'s running_mean after one training-mode forward", atol=1e-9,
                     hint="nn.BatchNorm2d with its default momentum 0.1: running = 0.9 running + 0.1 batch")
        assert_close(m.running_var, var, f"BatchNorm {i}'s running_var after one training-mode forward", atol=1e-9,
                     hint="nn.BatchNorm2d with its default momentum 0.1 (unbiased batch variance)")
    # PyTorch's own initialisation gives this layer a standard deviation of 0.009.
    w = topic.DCGenerator(16, 1, width=256, image_size=8).main[0].weight.detach()
    assert_close(w.std(), torch.tensor(0.02), "the standard deviation of a new DCGenerator's first weights",
                 atol=0.001, hint="the constructor ends with self.apply(init_weights): keep it, after self.main")


@shapes
@task("DCDiscriminator")
def test_dcdiscriminator_layers_and_shapes(topic):
    model = topic.DCDiscriminator(3, width=4, image_size=32)
    expected = [("Conv2d", 3, 4, (2, 2), (1, 1)), ("LeakyReLU",) + (None,) * 4,
                ("Conv2d", 4, 8, (2, 2), (1, 1)), ("BatchNorm2d", 8, None, None, None), ("LeakyReLU",) + (None,) * 4,
                ("Conv2d", 8, 16, (2, 2), (1, 1)), ("BatchNorm2d", 16, None, None, None), ("LeakyReLU",) + (None,) * 4,
                ("Conv2d", 16, 1, (1, 1), (0, 0))]
    assert _layout(model.main) == expected, (
        f"DCDiscriminator(3, width=4, image_size=32).main should be (type, in, out, stride, padding)\n  {expected}\n"
        f"got\n  {_layout(model.main)}\nLikely cause: the channels double at each block, from width up to "
        "width * 2**(L-1); no BatchNorm on the first block; no Sigmoid at the end")
    slopes = {m.negative_slope for m in model.main if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}, f"DCGAN's LeakyReLUs have negative_slope 0.2, got {slopes}"
    assert all(m.bias is None and m.kernel_size == (4, 4) for m in model.main if isinstance(m, nn.Conv2d)), \
        "DCGAN's convolutions have 4x4 kernels and no bias (bias=False)"
    check_follows_the_input(lambda: topic.DCDiscriminator(3, width=4, image_size=32), torch.randn(2, 3, 32, 32),
                            (2,), "DCDiscriminator(3, width=4, image_size=32)")
    check_follows_the_input(lambda: topic.DCDiscriminator(), torch.randn(2, 1, 16, 16), (2,), "DCDiscriminator()")
    with calling("return the (B, 1, 1, 1) output as (B,) logits: view(len(x)) or flatten()"):
        one = topic.DCDiscriminator(1, width=2, image_size=8).eval()(torch.randn(1, 1, 8, 8))
    check_tensor(one, "DCDiscriminator(1, width=2, image_size=8) on one image (1, 1, 8, 8)", shape=(1,),
                 hint="squeeze() with no dimension also removes the batch dimension when B = 1: view(len(x))")


@gradients
@task("DCDiscriminator")
def test_dcdiscriminator_equals_a_hand_written_forward_in_training_mode(topic):
    torch.manual_seed(10)
    model = topic.DCDiscriminator(2, width=3, image_size=16).double().train()
    g = torch.Generator().manual_seed(10)
    x = torch.randn(4, 2, 16, 16, generator=g, dtype=torch.float64)
    out, stats = x, []
    for m in model.main:
        if isinstance(m, nn.Conv2d):
            out = F.conv2d(out, m.weight, None, m.stride, m.padding)
        elif isinstance(m, nn.BatchNorm2d):
            stats.append((0.1 * out.mean((0, 2, 3)), 0.9 + 0.1 * out.var((0, 2, 3))))
            out = F.batch_norm(out, None, None, m.weight, m.bias, training=True)
        else:
            out = F.leaky_relu(out, 0.2)
    assert_close(model(x), out.reshape(4), "DCDiscriminator(2, width=3, image_size=16)(x) in training mode",
                 atol=1e-9, hint="strided convolutions, BatchNorm (not on the first block), LeakyReLU(0.2), a last "
                                 "4x4 convolution to one channel, returned as (B,) logits")
    norms = [m for m in model.main if isinstance(m, nn.BatchNorm2d)]
    for i, (m, (mean, var)) in enumerate(zip(norms, stats)):
        assert_close(m.running_mean, mean, f"BatchNorm {i}'s running_mean after one training-mode forward", atol=1e-9,
                     hint="nn.BatchNorm2d with its default momentum 0.1")
        assert_close(m.running_var, var, f"BatchNorm {i}'s running_var after one training-mode forward", atol=1e-9,
                     hint="nn.BatchNorm2d with its default momentum 0.1 (unbiased batch variance)")
    # PyTorch's own initialisation gives this layer a standard deviation of 0.009.
    w = topic.DCDiscriminator(256, width=64, image_size=8).main[0].weight.detach()
    assert_close(w.std(), torch.tensor(0.02), "the standard deviation of a new DCDiscriminator's first weights",
                 atol=0.001, hint="the constructor ends with self.apply(init_weights): keep it, after self.main")


def _classifier(num_classes):
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(),
                         nn.Linear(32, num_classes))


@accuracy
@task("DCDiscriminator")
def test_dcgan_samples_are_shapes_a_classifier_recognises(topic, seed, device):
    num_classes = 3  # disk, ring, square
    X, y = shape_images(1024, image_size=16, num_classes=num_classes, seed=seed, noise_std=0.0)
    X, y = (X * 2 - 1).to(device), y.to(device)  # (N, 1, 16, 16) in [-1, 1], the range of Tanh
    # The judge: a small CNN trained on the real images, confident on real test images.
    torch.manual_seed(seed)
    judge = _classifier(num_classes).to(device)
    optimizer = torch.optim.Adam(judge.parameters(), lr=3e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(150):
        idx = torch.randint(0, len(X), (64,), generator=order).to(device)
        optimizer.zero_grad()
        F.cross_entropy(judge(X[idx]), y[idx]).backward()
        optimizer.step()
    judge.eval()

    def recognised(images):  # the share the judge puts in one class with probability >= 0.9
        with torch.no_grad():
            return (judge(images).softmax(1).max(1).values >= 0.9).float().mean().item()

    torch.manual_seed(seed)
    gan = topic.GAN(topic.DCGenerator(16, 1, width=16, image_size=16),
                    topic.DCDiscriminator(1, width=16, image_size=16)).to(device)
    untrained = recognised(gan.sample(500, generator=torch.Generator().manual_seed(seed)))
    topic.train(gan, X, epochs=12, lr=2e-3, batch_size=64, seed=seed)  # 192 steps
    samples = gan.sample(500, generator=torch.Generator().manual_seed(seed))
    check_tensor(samples, "the DCGAN's samples", shape=(500, 1, 16, 16))
    score = recognised(samples)
    hint = (f"192 steps of Adam: the solution's samples are recognised 0.2-0.7 of the time, an untrained generator's "
            f"{untrained:.2f}: check the layers against the hand-written forwards first")
    assert_at_least(score, 0.1, "share of DCGAN samples a classifier of real shapes recognises", chance=untrained,
                    hint=hint)


# ------------------------------------------------------------------ main
@shapes
@task("DCDiscriminator")
def test_main_saves_pictures_of_the_ring_and_of_shapes(topic, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KATA_PICTURES", str(tmp_path))
    small = ["--train-size", "256", "--epochs", "1", "--batch-size", "128", "--device", "cpu"]
    assert topic.main([*small, "--hidden-size", "8"]) == 0, "main() on the ring should return 0"
    out = capsys.readouterr().out
    assert "modes" in out, f"main() on the ring should print how many modes its samples cover, printed:\n{out[-600:]}"
    for name, size in (("19_ring_4of4.png", (400, 400)), ("19_ring_loss.png", (480, 240))):
        path = tmp_path / name
        assert path.exists() and str(path) in out, f"main() should save {name} and print its path, printed:\n{out}"
        assert pictures.png_size(path) == size and not pictures.is_blank(path), f"{name} should be a {size} picture"
    assert topic.main(["--data", "shapes", "--width", "4", *small]) == 0, "main(['--data', 'shapes']) should return 0"
    out = capsys.readouterr().out
    # 64 samples of 16x16 pixels, each enlarged 4 times to 64x64, 8 a row, 2 pixels apart.
    for name, size in (("19_shapes_samples.png", (8 * 66 + 2, 8 * 66 + 2)), ("19_shapes_loss.png", (480, 240))):
        path = tmp_path / name
        assert path.exists() and str(path) in out, f"main() should save {name} and print its path, printed:\n{out}"
        assert pictures.png_size(path) == size and not pictures.is_blank(path), f"{name} should be a {size} picture"
    assert topic.main(["--data", "shapes", "--image-size", "12", *small]) == 1, (
        "main(['--image-size', '12']) should print an error and return 1: DCGAN needs a power of two")
    assert "error:" in capsys.readouterr().err

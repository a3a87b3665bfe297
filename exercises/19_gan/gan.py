# Your file: fill in each TODO, then run `uv run pytest exercises/19_gan`.
# Maintainers: generated from solutions/19_gan/gan.py by
# `python grader stubs`; edit the solution, never this file.
"""Generative adversarial networks: a generator learns to make samples that a discriminator cannot tell from data.

I. Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014. A generator G maps
noise z ~ N(0, I) to samples G(z); a discriminator D maps a sample to the probability
that it came from the data. They play the minimax game of the paper's equation 1,

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],

D ascending V (it learns to tell real from fake) and G descending it (it learns to
fool D). For a fixed G the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x))
(proposition 1), and V(D*, G) = -log 4 + 2 JSD(p_data || p_g): its minimum, -log 4, is
reached exactly when the generator's distribution is the data's (theorem 1).

Two departures from the equation, both the paper's own advice or the common practice:
- The generator's step minimises -log D(G(z)), the *non-saturating* loss (section 3),
  not log(1 - D(G(z))): early in training D rejects the fakes confidently, and the
  slope of log(1 - D) is then almost 0, while that of -log D is almost -1.
- D returns a logit, not a probability: log D = logsigmoid(logit) and
  log(1 - D) = logsigmoid(-logit) stay finite where sigmoid rounds to 0 or 1.

Then the DCGAN of A. Radford, L. Metz, S. Chintala, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks", ICLR 2016 (section 3),
with the conventions of pytorch/examples' dcgan/main.py: transposed convolutions up from
a 1x1 noise "image", BatchNorm and ReLU in the generator, strided convolutions,
BatchNorm and LeakyReLU(0.2) in the discriminator, a Tanh output (images in [-1, 1]),
weights from N(0, 0.02) and BatchNorm scales from N(1, 0.02), Adam with lr 2e-4 and
beta1 0.5. One departure: the discriminator ends on a logit (no Sigmoid), for the
reason above.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/19_gan
and train on a ring of 8 Gaussians (default), generated shapes, or MNIST with
    uv run python exercises/19_gan/gan.py [--data shapes | --data mnist]

Shapes: B samples in a batch, Z = latent_dim (the noise), D = features of a sample (2
on the ring); C channels, S x S pixels (S = image_size) for images.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.data import ring_centres, ring_of_gaussians
from kata.datasets import load_data
from kata.sequences import Stopwatch
from kata.training import fit

LEAKY_SLOPE = 0.2  # LeakyReLU's slope for negative inputs in every discriminator, as in DCGAN
INIT_STD = 0.02  # DCGAN's initialisation: weights N(0, 0.02), BatchNorm scales N(1, 0.02)
RING_STD = 0.05  # main()'s ring: each mode's standard deviation
RING_NEAR = 4 * RING_STD  # "near a mode": within 4 standard deviations of its centre


# ------------------------------------------------------------------ two small networks for points
class Generator(nn.Module):
    """An MLP from noise z (B, latent_dim) to samples (B, out_features).

    Attributes: latent_dim, and net, an nn.Sequential of
        Linear(latent_dim, hidden_size), ReLU, [Linear(hidden_size, hidden_size), ReLU] * (num_layers - 1),
        Linear(hidden_size, out_features)
    with no activation at the end: a sample may be any point.
    """

    def __init__(self, latent_dim: int = 2, out_features: int = 2, *, hidden_size: int = 64,
                 num_layers: int = 2) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers (hidden layers) must be >= 1, got {num_layers}")
        self.latent_dim = latent_dim
        # TODO: build self.net: num_layers Linear + ReLU pairs, then a Linear to out_features
        raise NotImplementedError("Generator.__init__(): build self.net: num_layers Linear + ReLU pairs, then a Linear to out_features")

    def forward(self, z: Tensor) -> Tensor:
        """z: (B, latent_dim) -> samples (B, out_features)."""
        return self.net(z)


class Discriminator(nn.Module):
    """An MLP from samples x (B, in_features) to one logit each (B,): positive means "real".

    Attributes: net, an nn.Sequential of
        Linear(in_features, hidden_size), LeakyReLU(0.2), [Linear(hidden_size, hidden_size), LeakyReLU(0.2)] *
        (num_layers - 1), Linear(hidden_size, 1)
    D(x) = sigmoid(logit) is the probability that x is real; the logit itself is returned.
    """

    def __init__(self, in_features: int = 2, *, hidden_size: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers (hidden layers) must be >= 1, got {num_layers}")
        # TODO: build self.net: num_layers Linear + LeakyReLU(0.2) pairs, then a Linear to one logit
        raise NotImplementedError("Discriminator.__init__(): build self.net: num_layers Linear + LeakyReLU(0.2) pairs, then a Linear to one logit")

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, in_features) -> logits (B,)."""
        # TODO: return self.net's (B, 1) output as (B,) logits
        raise NotImplementedError("Discriminator.forward(): return self.net's (B, 1) output as (B,) logits")


# ------------------------------------------------------------------ the game
def value_function(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """V(D, G) = mean of log D(x) over the real samples + mean of log(1 - D(G(z))) over the fakes.

    real_logits: (B,) the discriminator's logits on real samples; fake_logits: (B',) on
    generated ones (B' may differ from B). D = sigmoid(logit). Returns a scalar tensor,
    finite for any finite logits (±200 included), differentiable, on the logits' device and dtype.
    D ascends it; -V is the discriminator's loss (binary cross-entropy, real 1 and fake 0).
    """
    # TODO: mean of logsigmoid(real_logits) + mean of logsigmoid(-fake_logits)
    raise NotImplementedError("value_function(): mean of logsigmoid(real_logits) + mean of logsigmoid(-fake_logits)")


def generator_loss(fake_logits: Tensor, *, saturating: bool = False) -> Tensor:
    """The generator's loss on the discriminator's logits for its samples (B,), a scalar tensor.

    Non-saturating (the default): mean of -log D(G(z)). Saturating (the minimax game as
    written): mean of log(1 - D(G(z))). Both fall as D(G(z)) rises, so minimising
    either makes G fool D; where D rejects a fake confidently (a logit of -5: D = 0.0067),
    the non-saturating slope with respect to the logit is -0.993 and the saturating one -0.0067.
    Finite for any finite logits; on the logits' device and dtype.
    """
    # TODO: saturating: mean of logsigmoid(-fake_logits); else mean of -logsigmoid(fake_logits)
    raise NotImplementedError("generator_loss(): saturating: mean of logsigmoid(-fake_logits); else mean of -logsigmoid(fake_logits)")


class GAN(nn.Module):
    """Both networks in one module, so that kata.training.fit moves and switches them together.

    Attributes: generator (its latent_dim attribute says how wide z is) and discriminator.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim = generator.latent_dim

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """n samples G(z) of z ~ N(0, I), in eval mode (BatchNorm uses its running statistics).

        `generator` (a CPU torch.Generator) draws the noise; None: torch's global one.
        """
        device = next(self.parameters()).device
        self.generator.eval()
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)  # (n, Z)
        return self.generator(z)


def d_step(gan: GAN, optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer], real: Tensor,
           z: Tensor) -> float:
    """One update of the discriminator: ascend V(D, G) on real samples and on fakes G(z).

    optimizers: (the generator's, the discriminator's); only the discriminator's steps.
    real: (B, ...) a batch of data; z: (B, Z) noise. The generator gets no gradient: its
    samples are constants here. Returns the discriminator's loss -V(D, G) on this batch,
    computed before the update, as a float.
    """
    opt_g, opt_d = optimizers
    # TODO: zero D's grads; loss = -V(D(real), D(G(z).detach())); backward; step D's optimizer only
    raise NotImplementedError("d_step(): zero D's grads; loss = -V(D(real), D(G(z).detach())); backward; step D's optimizer only")


def g_step(gan: GAN, optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer], z: Tensor, *,
           saturating: bool = False) -> float:
    """One update of the generator: make D(G(z)) rise, through a fixed discriminator.

    optimizers: (the generator's, the discriminator's); only the generator's steps, so
    the discriminator's weights stay as they are. z: (B, Z) noise. The loss is
    generator_loss(D(G(z)), saturating=saturating). Returns it, computed before the update, as a float.
    """
    opt_g, opt_d = optimizers
    # TODO: zero G's grads; loss = generator_loss(D(G(z)), saturating=...); backward; step G's optimizer only
    raise NotImplementedError("g_step(): zero G's grads; loss = generator_loss(D(G(z)), saturating=...); backward; step G's optimizer only")


def train_step(gan: GAN, optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer], real: Tensor, *,
               saturating: bool = False) -> float:
    """One round of the game on a batch of real samples (B, ...): a D step, then a G step on the same noise.

    The noise z (B, Z) comes from torch's global generator. Returns the D step's loss.
    """
    z = torch.randn(len(real), gan.latent_dim, device=real.device)  # (B, Z)
    d_loss = d_step(gan, optimizers, real, z)
    g_step(gan, optimizers, z, saturating=saturating)
    return d_loss


def train(gan: GAN, X: Tensor, *, epochs: int = 10, lr: float = 2e-4, d_lr: float | None = None,
          betas: tuple[float, float] = (0.5, 0.999), batch_size: int = 64, seed: int = 0, saturating: bool = False,
          log_every: int = 0, evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on both networks (train_step on shuffled mini-batches of X, drawn from `seed`).

    X: (N, ...) real samples on the GAN's device. lr: the generator's learning rate; d_lr:
    the discriminator's (None: lr, as DCGAN). betas: (0.5, 0.999) as DCGAN, whose beta1 of
    0.5 damps the momentum that makes the game oscillate. Returns each epoch's mean
    discriminator loss -V (log 4 = 1.386 when D can no longer tell real from fake).
    """
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=lr if d_lr is None else d_lr, betas=betas)
    step = functools.partial(train_step, saturating=saturating)
    return fit(gan, X, (opt_g, opt_d), step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


@torch.no_grad()
def mode_coverage(samples: Tensor, centres: Tensor, *, near: float, min_share: float = 0.02) -> tuple[int, float]:
    """How well samples (N, 2) cover a ring's modes (centres (M, 2)).

    Returns (modes covered, share of samples near a mode): a sample is near a mode within
    distance `near`; a mode is covered when at least `min_share` of the samples are near it.
    """
    distance, mode = torch.cdist(samples.float(), centres.to(samples.device)).min(1)  # (N,), (N,)
    is_near = distance < near
    counts = torch.bincount(mode[is_near], minlength=len(centres))  # (M,)
    return int((counts >= min_share * len(samples)).sum()), is_near.float().mean().item()


# ------------------------------------------------------------------ DCGAN for images
def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation of one module, in place (use it as model.apply(init_weights)).

    Conv2d and ConvTranspose2d weights ~ N(0, 0.02); BatchNorm2d weights ~ N(1, 0.02) and
    biases 0. Other modules, and convolution biases, are left as they are. The module's
    own parameter tensors are overwritten (an optimizer built before still holds them).
    """
    # TODO: in place, conv and transposed-conv weights ~ N(0, 0.02); BatchNorm2d weights ~ N(1, 0.02), bias 0
    raise NotImplementedError("init_weights(): in place, conv and transposed-conv weights ~ N(0, 0.02); BatchNorm2d weights ~ N(1, 0.02), bias 0")


def _levels(image_size: int) -> int:
    """How many times the image doubles from 4x4 to image_size (a power of two, at least 8)."""
    levels = int(math.log2(image_size)) - 2 if image_size >= 8 else 0
    if levels < 1 or 4 * 2**levels != image_size:
        raise ValueError(f"image_size must be a power of two of at least 8 (8, 16, 32, 64), got {image_size}")
    return levels


class DCGenerator(nn.Module):
    """DCGAN's generator: noise z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1].

    Attributes: latent_dim, and main, an nn.Sequential (pytorch/examples' name) of, with
    L = log2(image_size) - 2 and w = width:
        ConvTranspose2d(latent_dim, w * 2**(L-1), 4, 1, 0, bias=False), BatchNorm2d, ReLU      -> 4x4
        for each i in 1 .. L-1:
        ConvTranspose2d(w * 2**(L-i), w * 2**(L-1-i), 4, 2, 1, bias=False), BatchNorm2d, ReLU  -> doubles
        ConvTranspose2d(w, channels, 4, 2, 1, bias=False), Tanh                                -> image_size
    Every module starts from init_weights.
    """

    def __init__(self, latent_dim: int = 16, channels: int = 1, *, width: int = 16, image_size: int = 16) -> None:
        super().__init__()
        levels = _levels(image_size)
        self.latent_dim = latent_dim
        # TODO: build self.main: 1x1 -> 4x4 block, blocks doubling the side, a last block to channels + Tanh
        raise NotImplementedError("DCGenerator.__init__(): build self.main: 1x1 -> 4x4 block, blocks doubling the side, a last block to channels + Tanh")
        self.apply(init_weights)

    def forward(self, z: Tensor) -> Tensor:
        """z: (B, latent_dim) -> images (B, channels, image_size, image_size)."""
        # TODO: view z as a 1x1 image of latent_dim channels and run self.main
        raise NotImplementedError("DCGenerator.forward(): view z as a 1x1 image of latent_dim channels and run self.main")


class DCDiscriminator(nn.Module):
    """DCGAN's discriminator: images (B, channels, image_size, image_size) -> logits (B,).

    Attributes: main, an nn.Sequential of, with L = log2(image_size) - 2 and w = width:
        Conv2d(channels, w, 4, 2, 1, bias=False), LeakyReLU(0.2)                                -> halves
        for each i in 1 .. L-1:
        Conv2d(w * 2**(i-1), w * 2**i, 4, 2, 1, bias=False), BatchNorm2d, LeakyReLU(0.2)        -> halves
        Conv2d(w * 2**(L-1), 1, 4, 1, 0, bias=False)                                            -> 1x1
    No BatchNorm on the first block (section 3), no Sigmoid at the end (a logit, as
    value_function takes). Every module starts from init_weights.
    """

    def __init__(self, channels: int = 1, *, width: int = 16, image_size: int = 16) -> None:
        super().__init__()
        levels = _levels(image_size)
        # TODO: build self.main: blocks halving the side (BatchNorm from the second), a last 4x4 conv to 1
        raise NotImplementedError("DCDiscriminator.__init__(): build self.main: blocks halving the side (BatchNorm from the second), a last 4x4 conv to 1")
        self.apply(init_weights)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, channels, image_size, image_size) -> logits (B,)."""
        # TODO: run self.main and return its (B, 1, 1, 1) output as (B,) logits
        raise NotImplementedError("DCDiscriminator.forward(): run self.main and return its (B, 1, 1, 1) output as (B,) logits")


# ------------------------------------------------------------------ the script
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a GAN on a ring of 8 Gaussians, or a DCGAN on images.")
    parser.add_argument("--data", choices=("ring", "shapes", "mnist"), default="ring",
                        help="ring: 8 Gaussians on a circle (default); shapes: generated 16x16 shapes; mnist: real "
                             "digits, downloaded once into --root")
    parser.add_argument("--root", default="data", help="where real data sets are kept")
    parser.add_argument("--train-size", type=int, default=None, help="default: 12800 points, 4096 images")
    parser.add_argument("--image-size", type=int, default=None, help="default 16 for shapes, 32 for mnist")
    parser.add_argument("--latent-dim", type=int, default=None, help="default 2 on the ring, 16 for images")
    parser.add_argument("--hidden-size", type=int, default=64, help="the ring's MLPs")
    parser.add_argument("--width", type=int, default=16, help="the DCGAN's channels at full resolution")
    parser.add_argument("--epochs", type=int, default=None, help="default 8 on the ring, 10 for images")
    parser.add_argument("--lr", type=float, default=None, help="the generator's (default 2e-3 on the ring, 2e-4 "
                                                               "for images); the discriminator's is --d-lr")
    parser.add_argument("--d-lr", type=float, default=None, help="default 2 x lr on the ring, lr for images")
    parser.add_argument("--batch-size", type=int, default=None, help="default 128 on the ring, 64 for images")
    parser.add_argument("--saturating", action="store_true", help="train G with the saturating loss log(1 - D)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    ring = args.data == "ring"
    if ring:
        X, _ = ring_of_gaussians(args.train_size or 12800, noise_std=RING_STD, seed=args.seed)  # (N, 2)
        latent_dim = args.latent_dim or 2
        gan = GAN(Generator(latent_dim, 2, hidden_size=args.hidden_size),
                  Discriminator(2, hidden_size=args.hidden_size))
        defaults = dict(epochs=8, lr=2e-3, batch_size=128)
    else:
        image_size = args.image_size or (16 if args.data == "shapes" else 32)
        try:
            X, *_ = load_data(args.data, train_size=args.train_size or 4096, test_size=1, seed=args.seed,
                              image_size=image_size, channels=1, root=args.root)
            _levels(image_size)
        except (RuntimeError, ValueError) as exc:  # a real data set neither on disk nor downloadable; bad sizes
            print(f"error: {exc}", file=sys.stderr)
            return 1
        X = X * 2 - 1  # (N, 1, S, S) in [-1, 1], the range of the generator's Tanh
        latent_dim = args.latent_dim or 16
        gan = GAN(DCGenerator(latent_dim, 1, width=args.width, image_size=image_size),
                  DCDiscriminator(1, width=args.width, image_size=image_size))
        defaults = dict(epochs=10, lr=2e-4, batch_size=64)
    epochs, lr, batch_size = (getattr(args, k) or v for k, v in defaults.items())
    d_lr = args.d_lr or (2 * lr if ring else lr)
    gan = gan.to(args.device)
    X = X.to(args.device)
    print(f"{args.data}: {len(X)} samples of {tuple(X.shape[1:])}; GAN with "
          f"{sum(p.numel() for p in gan.parameters()):,} parameters")

    def fixed_noise() -> torch.Generator:  # the same z for every picture and score
        return torch.Generator().manual_seed(args.seed)

    saved = []
    checkpoints = {max(1, round(epochs * q / 4)): q for q in (1, 2, 3, 4)}  # a quarter of training, half, ...

    def progress() -> dict[str, float]:
        nonlocal epoch
        epoch += 1
        if not ring:
            return {}
        samples = gan.sample(1000, generator=fixed_noise())  # (1000, 2)
        covered, share = mode_coverage(samples, ring_centres(), near=RING_NEAR)
        if epoch in checkpoints:  # samples in blue, real points in orange over them, on fixed axes
            real = X[:200].cpu()
            points = torch.cat([samples.cpu(), real])  # (1000 + 200, 2)
            groups = torch.cat([torch.zeros(len(samples), dtype=torch.int64), torch.ones(len(real), dtype=torch.int64)])
            quarter = checkpoints[epoch]
            saved.append(pictures.scatter(points, f"19_ring_{quarter}of4.png", groups=groups,
                                          legend=("samples", "data"), extent=(-3, 3, -3, 3),
                                          title=f"19: samples after {quarter}/4 of training, epoch {epoch}"))
        return {"modes covered": covered, "near a mode": share}

    epoch = 0
    clock = Stopwatch(epochs=epochs)
    losses = train(gan, X, epochs=epochs, lr=lr, d_lr=d_lr, batch_size=batch_size, seed=args.seed,
                   saturating=args.saturating, log_every=1, evaluate=clock.timed(progress))
    print(clock.total())
    if ring:
        covered, share = mode_coverage(gan.sample(1000, generator=fixed_noise()), ring_centres(), near=RING_NEAR)
        print(f"samples cover {covered} of 8 modes, {share:.0%} of them within {RING_NEAR} of a mode")
    else:
        saved.append(pictures.grid(gan.sample(64, generator=fixed_noise()), f"19_{args.data}_samples.png",
                                   value_range=(-1, 1)))
        saved.append(pictures.grid(X[:64], f"19_{args.data}_real.png", value_range=(-1, 1)))
    saved.append(pictures.curve({"D's loss -V": losses}, f"19_{args.data}_loss.png",
                                title=f"19: the discriminator's loss on {args.data} (log 4 = 1.386: D cannot tell)"))
    print(f"the discriminator's loss -V ends at {losses[-1]:.3f} (log 4 = {math.log(4):.3f}: D cannot tell)")
    for path in saved:
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

# Your file: fill in each TODO, then run `uv run pytest exercises/03_autoencoder`.
# Maintainers: generated from solutions/03_autoencoder/autoencoder.py by
# `python grader stubs`; edit the solution, never this file.
"""Autoencoders: squeeze the data through a small code, then rebuild it.

An encoder maps each sample x to a code z with far fewer numbers; a decoder maps z
back to a reconstruction x̂; training minimises the reconstruction error |x̂ - x|².
Nothing here needs labels. What the code must keep is what the data is made of:

- a *linear* autoencoder (no activations) learns the same subspace as PCA and
  reaches PCA's error (Baldi & Hornik 1989, "Neural networks and principal
  component analysis"); the baseline `pca_error` below lets you check it;
- a *nonlinear* one can do better than any subspace: images of a blob at a random
  position are explained by 2 numbers, the position, which no plane holds;
- a *denoising* autoencoder (Vincent et al. 2008, "Extracting and composing robust
  features with denoising autoencoders", section 2.3) sees a corrupted input and is
  trained to rebuild the clean one;
- samples unlike the training data rebuild badly: the per-sample error is an
  anomaly score.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/03_autoencoder
and train on the generated data with
    uv run python exercises/03_autoencoder/autoencoder.py

Shapes: N samples, D = in_features (an image (C, H, W) counts as D = C * H * W
numbers), K = code_size.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device
from kata.data import blob_images, low_rank, square_images


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """A stack of nn.Linear layers sizes[0] -> sizes[1] -> ... -> sizes[-1].

    `activation()` makes a fresh activation module to put after every Linear except
    the last one; `activation=None` puts none anywhere, so the whole stack is one
    affine map. mlp([4, 8, 2]) is Linear(4, 8), ReLU(), Linear(8, 2).
    """
    # TODO: stack an nn.Linear per consecutive pair of sizes, with activation() after each but the last (none if activation is None)
    raise NotImplementedError("mlp(): stack an nn.Linear per consecutive pair of sizes, with activation() after each but the last (none if activation is None)")


class Autoencoder(nn.Module):
    """x (N, *shape) -> code z (N, K) -> reconstruction x̂ with x's shape.

    in_features: D, the numbers in one sample (256 for a 1x16x16 image).
    code_size: K, the width of the bottleneck.
    hidden_sizes: the encoder's hidden widths (a tuple or a list), from the input towards
        the code; the decoder mirrors them (reversed). () gives one Linear each way.
    activation: the nonlinearity between layers; None makes a linear autoencoder.
    """

    def __init__(self, in_features: int, code_size: int, hidden_sizes: Sequence[int] = (64,),
                 activation: Callable[[], nn.Module] | None = nn.ReLU) -> None:
        super().__init__()
        # TODO: build self.encoder = mlp(D -> hidden sizes -> K) and self.decoder = mlp(K -> reversed hidden sizes -> D)
        raise NotImplementedError("Autoencoder.__init__(): build self.encoder = mlp(D -> hidden sizes -> K) and self.decoder = mlp(K -> reversed hidden sizes -> D)")

    def encode(self, x: Tensor) -> Tensor:
        """x: (N, D) or (N, C, H, W), contiguous in memory or not. Returns the codes z, shape (N, K)."""
        # TODO: flatten every sample to one vector of D numbers and run the encoder on it
        raise NotImplementedError("Autoencoder.encode(): flatten every sample to one vector of D numbers and run the encoder on it")

    def decode(self, z: Tensor) -> Tensor:
        """z: (N, K). Returns flat reconstructions, shape (N, D)."""
        # TODO: run the decoder on the codes
        raise NotImplementedError("Autoencoder.decode(): run the decoder on the codes")

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, *shape). Returns the reconstruction x̂ = decode(encode(x)), with x's shape."""
        # TODO: decode the codes of x and give the result x's own shape back
        raise NotImplementedError("Autoencoder.forward(): decode the codes of x and give the result x's own shape back")


def corrupt(X: Tensor, noise_std: float, *, generator: torch.Generator | None = None) -> Tensor:
    """The denoising autoencoder's input: X plus Gaussian noise of standard deviation noise_std.

    Returns a new tensor, X + noise_std * torch.randn(X.shape, generator=generator)
    (drawn on X's device, in X's dtype); X itself is left unchanged.
    """
    # TODO: return X + noise_std * standard normal noise of X's shape, drawn with `generator` on X's device
    raise NotImplementedError("corrupt(): return X + noise_std * standard normal noise of X's shape, drawn with `generator` on X's device")


def anomaly_score(model: Autoencoder, X: Tensor) -> Tensor:
    """Each sample's mean squared reconstruction error: one score per sample, shape (N,), in X's dtype and device.

    X: (N, *shape). Samples unlike the training data rebuild badly and score high.
    """
    with torch.no_grad():
        # TODO: square the difference between model(X) and X and average it over every dimension except the batch
        raise NotImplementedError("anomaly_score(): square the difference between model(X) and X and average it over every dimension except the batch")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, X: Tensor, *, noise_std: float = 0.0,
               generator: torch.Generator | None = None) -> float:
    """One gradient step on a batch X (N, *shape). Returns the loss before the step.

    The loss is the mean squared error between model(input) and the *clean* X, where
    input is X itself, or corrupt(X, noise_std, generator=generator) when noise_std > 0
    (the denoising autoencoder).
    """
    # TODO: feed X (or its corrupted copy when noise_std > 0) to the model, take the MSE against the clean X, then zero_grad, backward, step
    raise NotImplementedError("train_step(): feed X (or its corrupted copy when noise_std > 0) to the model, take the MSE against the clean X, then zero_grad, backward, step")


def train(model: nn.Module, X: Tensor, *, epochs: int = 50, lr: float = 1e-2, batch_size: int = 64,
          noise_std: float = 0.0) -> list[float]:
    """Adam on shuffled minibatches of X (N, *shape). Returns each epoch's mean loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        # TODO: visit the samples in a new random order in batches of batch_size, call train_step on each, and append the epoch's mean loss
        raise NotImplementedError("train(): visit the samples in a new random order in batches of batch_size, call train_step on each, and append the epoch's mean loss")
    return losses


# ------------------------------------------------------------------ the baseline, given
def pca_error(X_train: Tensor, X_test: Tensor, k: int) -> float:
    """PCA's mean squared reconstruction error on X_test with k components fitted on X_train.

    The best any linear code of size k can do (on the training data): centre, project
    onto the top k right singular vectors, add the mean back.
    """
    A, B = X_train.flatten(start_dim=1), X_test.flatten(start_dim=1)  # (N, D), (M, D)
    mean = A.mean(dim=0)  # (D,)
    V = torch.linalg.svd(A - mean, full_matrices=False).Vh[:k].T  # (D, k), orthonormal columns
    rebuilt = (B - mean) @ V @ V.T + mean  # (M, D)
    return ((rebuilt - B) ** 2).mean().item()


def auc(scores_normal: Tensor, scores_anomal: Tensor) -> float:
    """The probability that a random anomaly scores above a random normal sample (ties count half)."""
    above = (scores_anomal[:, None] > scores_normal[None, :]).float().mean()
    ties = (scores_anomal[:, None] == scores_normal[None, :]).float().mean()
    return (above + ties / 2).item()


def _show(losses: list[float]) -> None:
    for epoch in range(0, len(losses), max(1, len(losses) // 5)):
        print(f"   epoch {epoch:3d}  loss {losses[epoch]:.5f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train autoencoders on generated data: PCA, blobs, denoising, anomalies.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30, help="epochs for the blob autoencoder")
    parser.add_argument("--noise-std", type=float, default=0.5)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    X = low_rank(500, seed=args.seed).to(args.device)  # (500, 20), near a 3-D subspace
    X_test = low_rank(500, seed=args.seed, split="test").to(args.device)

    print("1. a linear autoencoder with a 3-D code against PCA-3, on points near a 3-D subspace of R^20")
    linear = Autoencoder(20, 3, hidden_sizes=(), activation=None).to(args.device)
    _show(train(linear, X, epochs=60, lr=0.1, batch_size=100))
    train(linear, X, epochs=30, lr=0.01, batch_size=100)  # a smaller step to settle in the minimum
    print(f"   test error: linear AE {anomaly_score(linear, X_test).mean().item():.5f}, "
          f"PCA-3 {pca_error(X, X_test, 3):.5f} (the suite asks for at most 1.2x PCA)")

    print("2. a nonlinear autoencoder with a 2-D code against PCA-2, on 16x16 images of a blob")
    images = blob_images(1000, seed=args.seed)[0].to(args.device)  # (1000, 1, 16, 16)
    images_test = blob_images(500, seed=args.seed, split="test")[0].to(args.device)
    model = Autoencoder(256, 2, hidden_sizes=(64,)).to(args.device)
    losses = train(model, images, epochs=args.epochs, lr=1e-2, batch_size=50)
    _show(losses)
    print(f"   test error: AE {anomaly_score(model, images_test).mean().item():.5f}, "
          f"PCA-2 {pca_error(images, images_test, 2):.5f} (the suite asks for at most half of PCA-2's)")
    print(f"   loss curve: {pictures.curve({'blobs': losses}, '03_loss.png', title='03 blob autoencoder: MSE')}")
    with torch.no_grad():  # test blobs (top row) and their reconstructions through the 2-D code (bottom row)
        shown = images_test[:8]  # (8, 1, 16, 16)
        pairs = torch.cat([shown, model(shown).clamp(0, 1)])  # (16, 1, 16, 16)
        # A 2-D code has room for a blob's position and little else: noise cannot pass through it.
        noisy = (shown + 0.3 * torch.randn_like(shown)).clamp(0, 1)
        trio = torch.cat([shown, noisy, model(noisy).clamp(0, 1)])  # (24, 1, 16, 16)
    print(f"   reconstructions: {pictures.grid(pairs, '03_reconstructions.png', nrow=8)}")
    print(f"   noisy blobs cleaned by the same autoencoder: {pictures.grid(trio, '03_denoised.png', nrow=8)}")

    print(f"3. denoising without a bottleneck (code as wide as the input), noise of std {args.noise_std}")
    denoiser = Autoencoder(20, 20, hidden_sizes=(), activation=None).to(args.device)
    _show(train(denoiser, X, epochs=30, lr=0.01, batch_size=50, noise_std=args.noise_std))
    noisy = corrupt(X_test, args.noise_std)
    with torch.no_grad():
        cleaned = denoiser(noisy)
    print(f"   error against the clean points: noisy input {((noisy - X_test) ** 2).mean().item():.4f}, "
          f"denoised {((cleaned - X_test) ** 2).mean().item():.4f}")

    print("4. anomalies: hollow squares (as bright as a blob) scored by the blob autoencoder of step 2")
    squares = square_images(500, seed=args.seed, split="test").to(args.device)  # (500, 1, 16, 16)
    squares = squares * (images_test.flatten(1).norm(dim=1).mean() / squares.flatten(1).norm(dim=1))[:, None, None, None]
    normal, anomal = anomaly_score(model, images_test), anomaly_score(model, squares)  # (500,), (500,)
    print(f"   mean score: blobs {normal.mean().item():.5f}, squares {anomal.mean().item():.5f}; "
          f"AUC {auc(normal, anomal):.3f} (the suite asks for at least 0.97)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

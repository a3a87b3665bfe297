# Your file: fill in each TODO, then run `uv run pytest exercises/18_siamese`.
# Maintainers: generated from solutions/18_siamese/siamese.py by
# `python grader stubs`; edit the solution, never this file.
"""Siamese network: one encoder for both inputs, trained so that distances mean "same class or not".

J. Bromley, I. Guyon, Y. LeCun, E. Saeckinger, R. Shah, "Signature Verification using a
'Siamese' Time Delay Neural Network", NIPS 1993: two copies of one network, *sharing their
weights*, map two signatures to two vectors, and their distance decides "same writer or not".
R. Hadsell, S. Chopra, Y. LeCun, "Dimensionality Reduction by Learning an Invariant Mapping",
CVPR 2006, section 2: the contrastive loss, with **Y = 0 for a similar pair and Y = 1 for a
dissimilar one** (the convention of this file; some libraries use the opposite):
    L = (1 - Y) * 1/2 * D^2 + Y * 1/2 * max(0, m - D)^2.
F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet", CVPR 2015, section 3: the triplet loss
max(0, d(a, p) - d(a, n) + margin) on an anchor, a positive (same class) and a negative;
A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person Re-Identification",
2017, section 2: "batch hard" mining, the farthest positive and the nearest negative of each
anchor within the batch; FaceNet's semi-hard negatives (the nearest negative farther than the
positive), which this file trains with. The triplet loss is PyTorch's nn.TripletMarginLoss, with its distance
swap (V. Balntas et al., "Learning local feature descriptors with triplets and shallow
convolutional neural networks", BMVC 2016).

What the network learns is a distance, not classes: it is tested on glyph classes (and, in
main(), Omniglot alphabets) that it never saw in training. A pair is verified as "same" when
its distance is at most a threshold chosen on training pairs.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/18_siamese
and train on generated glyphs, then verify pairs of glyphs never seen in training, with
    uv run python exercises/18_siamese/siamese.py             (or --data omniglot for Omniglot's alphabets)

Shapes: B batch (images or pairs), C channels, H x W pixels, D embedding features, P pairs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device, rng
from kata.training import fit


class Encoder(nn.Module):
    """A small CNN (topic 04) from images (B, C, H, W) to embeddings (B, embed_dim). Given: this topic is
    about what is built around it.

    Two blocks of 3x3 convolution, ReLU and 2x2 max-pooling, an adaptive average pooling to 4x4 (any
    image size of at least 4 pixels works: 20x20 glyphs, 28x28 Omniglot), and a linear layer.
    """

    def __init__(self, in_channels: int = 1, embed_dim: int = 32, *, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Linear(2 * width * 16, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).flatten(1))  # (B, C, H, W) -> (B, 2 width, 4, 4) -> (B, D)


class SiameseNet(nn.Module):
    """Two branches that are one network: `encoder` embeds both inputs, with one set of weights.

    Attributes: encoder, the module given (not a copy: SiameseNet's parameters are the
    encoder's). normalize=True puts every embedding on the unit sphere (each row divided by its
    Euclidean norm, F.normalize's default eps 1e-12), as FaceNet does: distances then lie in
    [0, 2], and a margin means the same at every scale. normalize=False keeps them as they come.
    """

    def __init__(self, encoder: nn.Module, *, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize
        # TODO: keep the one encoder as self.encoder: both branches will call it
        raise NotImplementedError("SiameseNet.__init__(): keep the one encoder as self.encoder: both branches will call it")

    def embed(self, x: Tensor) -> Tensor:
        """One branch: images x (B, C, H, W) -> embeddings (B, D), each row of norm 1 when normalize."""
        # TODO: run self.encoder on x and, when self.normalize, divide each row by its Euclidean norm
        raise NotImplementedError("SiameseNet.embed(): run self.encoder on x and, when self.normalize, divide each row by its Euclidean norm")

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
        """Both branches: images x1, x2 (B, C, H, W) each -> (z1, z2), embeddings (B, D) each, in that order."""
        # TODO: embed x1 and x2 with the same self.embed and return both
        raise NotImplementedError("SiameseNet.forward(): embed x1 and x2 with the same self.embed and return both")


def pairwise_distance(x1: Tensor, x2: Tensor, *, p: float = 2.0, eps: float = 1e-6) -> Tensor:
    """The p-norm distance between matching rows: ||x1 - x2 + eps||_p over the last dimension.

    x1, x2: (B, D) (or any shapes that broadcast, D last). Returns (B,), as
    F.pairwise_distance(x1, x2, p, eps) does: eps is added to the *difference*, so that the
    gradient of the norm stays finite where x1 == x2 (the distance is then eps * D ** (1 / p), not 0).
    Leaves x1 and x2 unchanged; follows their device and dtype.
    """
    # TODO: the p-norm of x1 - x2 + eps along the last dimension (torch.linalg.vector_norm)
    raise NotImplementedError("pairwise_distance(): the p-norm of x1 - x2 + eps along the last dimension (torch.linalg.vector_norm)")


def contrastive_loss(distance: Tensor, y: Tensor, *, margin: float = 1.0) -> Tensor:
    """Hadsell et al.'s contrastive loss, averaged over the pairs. Y = 0: similar pair; Y = 1: dissimilar.

    distance: (P,) the pairs' distances; y: (P,) float, 0.0 for a pair of the same class and 1.0
    for a pair of different classes (Hadsell et al.'s convention: read it twice, libraries differ).
    Each pair costs (1 - y) * 1/2 * d^2 (similar pairs are pulled together) + y * 1/2 *
    max(0, margin - d)^2 (dissimilar pairs are pushed apart until they are margin apart, then
    left alone). Returns the mean over the P pairs, a scalar.
    """
    # TODO: mean over pairs of (1 - y) * d^2 / 2 + y * max(0, margin - d)^2 / 2
    raise NotImplementedError("contrastive_loss(): mean over pairs of (1 - y) * d^2 / 2 + y * max(0, margin - d)^2 / 2")


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *, margin: float = 1.0, p: float = 2.0,
                 eps: float = 1e-6, swap: bool = False) -> Tensor:
    """The triplet margin loss, as nn.TripletMarginLoss(margin, p, eps, swap) computes it (mean over B).

    anchor, positive, negative: (B, D). With d = pairwise_distance(., ., p=p, eps=eps), each triplet
    costs max(0, d(a, p) - d(a, n) + margin): the positive must be closer to the anchor than the
    negative is, by at least the margin. swap=True (Balntas et al.) uses min(d(a, n), d(p, n)) as
    the negative's distance: the harder of the two. Returns the mean over the B triplets, a scalar.
    """
    # TODO: mean of max(0, d(a, p) - d(a, n) + margin), d(a, n) replaced by min(d(a, n), d(p, n)) with swap
    raise NotImplementedError("triplet_loss(): mean of max(0, d(a, p) - d(a, n) + margin), d(a, n) replaced by min(d(a, n), d(p, n)) with swap")


def mine_triplets(embeddings: Tensor, labels: Tensor, *, semi_hard: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Online triplet mining within a batch: for each anchor, a positive and a negative to train on.

    embeddings: (B, D); labels: (B,) int64, any class ids. With the Euclidean distances d between
    the rows, for each anchor i, positive[i] is the *farthest* other row of its class (never i
    itself: Hermans et al.'s "batch hard"), and negative[i] is
      - semi_hard=True (FaceNet's semi-hard negative): the nearest row of another class that is
        farther from i than the positive is; when no negative is that far, the farthest negative;
      - semi_hard=False (batch hard): the nearest row of another class.
    valid[i] is True when anchor i has both a positive and a negative (a class seen once in the
    batch has no positive; a batch of one class has no negatives); where it is False, positive[i]
    and negative[i] may be any index. Returns positive, negative (B,) int64 and valid (B,) bool,
    on the embeddings' device. Semi-hard negatives keep the training from collapsing every
    embedding to one point, which the hardest negatives do early on.
    """
    # TODO: from the (B, B) distances and masks of same class (not i) and other class, pick by argmax / argmin
    raise NotImplementedError("mine_triplets(): from the (B, B) distances and masks of same class (not i) and other class, pick by argmax / argmin")


def choose_threshold(distances: Tensor, same: Tensor) -> float:
    """The verification threshold that is right on the most training pairs.

    distances: (P,) the pairs' distances; same: (P,) bool, True for a pair of one class. A pair is
    verified as "same" when its distance is <= the threshold. Returns a threshold t (a float) whose
    accuracy on these pairs, mean((distances <= t) == same), is the best any threshold reaches.
    """
    # TODO: sort the distances; the accuracy of t = each distance (and of "none same") from cumulative sums
    raise NotImplementedError("choose_threshold(): sort the distances; the accuracy of t = each distance (and of \"none same\") from cumulative sums")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor], *,
               objective: str = "triplet", margin: float = 0.5) -> float:
    """One update on a batch of images X (B, C, H, W) with labels y (B,). Returns the batch's loss as a float.

    The batch is embedded once with model.embed (both branches are one network, so embedding the
    batch and pairing its rows is what the two branches would give). objective="triplet": the
    triplet_loss (p=2, eps=1e-6, no swap) of each valid anchor with the positive and semi-hard
    negative mine_triplets picks, mined on the embeddings without gradient; 0 when no anchor is valid.
    objective="contrastive": the contrastive_loss of the pairwise_distance of every pair i < j,
    y = 1.0 where their labels differ. Both with `margin`.
    """
    X, y = batch
    # TODO: zero_grad, embed X, the triplet loss on mine_triplets (or the contrastive loss on all pairs), backward, step, loss.item()
    raise NotImplementedError("train_step(): zero_grad, embed X, the triplet loss on mine_triplets (or the contrastive loss on all pairs), backward, step, loss.item()")


def train(model: nn.Module, X: Tensor, y: Tensor, *, objective: str = "triplet", margin: float = 0.5,
          epochs: int = 10, lr: float = 3e-3, batch_size: int = 64, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on train_step's loss (`objective`, `margin`), in mini-batches shuffled from `seed`.

    X: images (N, C, H, W); y: labels (N,), on the model's device. Returns each epoch's mean loss.
    log_every and evaluate go to kata.training.fit.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step = functools.partial(train_step, objective=objective, margin=margin)
    return fit(model, (X, y), optimizer, step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


# ------------------------------------------------------------------ verification (given)
def make_pairs(labels: Tensor, n: int, *, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """n pairs of examples drawn from rng(seed): the first n // 2 of one class, the others of two classes.

    labels: (N,) with at least two classes, one of them seen twice. Returns i, j (n,) int64 indices
    into labels and same (n,) bool.
    """
    g = rng(seed)
    labels = labels.cpu()
    members = [torch.nonzero(labels == c)[:, 0] for c in labels.unique()]
    twice = [m for m in members if len(m) >= 2]
    if len(members) < 2 or not twice:
        raise ValueError("pairs need two classes and a class with two examples")
    pairs = []
    for k in range(n):
        if k < n // 2:  # two examples of one class
            m = twice[int(torch.randint(len(twice), (1,), generator=g))]
            a, b = m[torch.randperm(len(m), generator=g)[:2]].tolist()
        else:  # one example of each of two classes
            first, second = torch.randperm(len(members), generator=g)[:2].tolist()
            a = members[first][int(torch.randint(len(members[first]), (1,), generator=g))].item()
            b = members[second][int(torch.randint(len(members[second]), (1,), generator=g))].item()
        pairs.append((a, b))
    i, j = torch.tensor(pairs, dtype=torch.int64).T  # (n,) each
    return i, j, labels[i] == labels[j]


@torch.no_grad()
def embed_all(model: SiameseNet, X: Tensor, batch_size: int = 256) -> Tensor:
    """model.embed of every image, in eval mode, in batches: (N, D)."""
    model.eval()
    return torch.cat([model.embed(X[k:k + batch_size]) for k in range(0, len(X), batch_size)])


def roc_auc(distances: Tensor, same: Tensor) -> float:
    """The probability that a random same pair is nearer than a random different pair (ties count 1/2):
    the area under the ROC curve of "same when the distance is small". 0.5 is chance, 1.0 perfect.
    """
    d_same, d_different = distances[same].double(), distances[~same].double()
    nearer = (d_same[:, None] < d_different[None, :]).double() + 0.5 * (d_same[:, None] == d_different[None, :])
    return nearer.mean().item()


def verification_accuracy(distances: Tensor, same: Tensor, threshold: float) -> float:
    """The fraction of pairs verified right: "same" when the distance is <= threshold."""
    return ((distances <= threshold) == same).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train a Siamese network on some classes and verify pairs of classes it never saw.")
    parser.add_argument("--data", choices=("glyphs", "omniglot"), default="glyphs",
                        help="glyphs: generated glyphs, trained on classes 0..K-1, verified on K..2K-1 (default); "
                             "omniglot: trained on Omniglot's background alphabets, verified on its evaluation "
                             "alphabets, downloaded once into --root")
    parser.add_argument("--root", default="data", help="where real data sets are kept")
    parser.add_argument("--classes", type=int, default=None,
                        help="classes to train on (glyphs: default 30; omniglot: default 200 characters of 964)")
    parser.add_argument("--train-size", type=int, default=2000, help="glyphs: training images")
    parser.add_argument("--test-size", type=int, default=1000, help="glyphs: images of the unseen classes")
    parser.add_argument("--image-size", type=int, default=None, help="glyphs: 20 (default); omniglot: 28")
    parser.add_argument("--objective", choices=("triplet", "contrastive"), default="triplet")
    parser.add_argument("--margin", type=float, default=0.5)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=2000, help="verification pairs, half of them same-class")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    try:
        if args.data == "omniglot":
            from kata.datasets import load_omniglot

            image_size = args.image_size or 28
            classes = args.classes or 200
            X, y = load_omniglot(root=args.root, background=True, image_size=image_size, classes=classes)
            X_test, y_test = load_omniglot(root=args.root, background=False, image_size=image_size,
                                           classes=max(classes // 2, 2))
            unseen = "characters of Omniglot's evaluation alphabets"
        else:
            from kata.images import glyphs

            image_size = args.image_size or 20
            classes = args.classes or 30
            X, y = glyphs(args.train_size, classes=range(classes), image_size=image_size, seed=args.seed)
            X_test, y_test = glyphs(args.test_size, classes=range(classes, 2 * classes), image_size=image_size,
                                    seed=args.seed, split="test")
            unseen = f"glyph classes {classes}..{2 * classes - 1}"
    except (RuntimeError, ValueError) as exc:  # a real data set neither on disk nor downloadable; bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.data}: {len(X)} training images of {len(y.unique())} classes; {len(X_test)} test images of "
          f"{len(y_test.unique())} {unseen}, never seen in training")
    X, y, X_test = X.to(args.device), y.to(args.device), X_test.to(args.device)

    model = SiameseNet(Encoder(X.shape[1], args.embed_dim)).to(args.device)
    train_i, train_j, train_same = make_pairs(y, args.pairs, seed=args.seed)
    test_i, test_j, test_same = make_pairs(y_test, args.pairs, seed=args.seed + 1)

    def scores() -> dict[str, float]:
        z, z_test = embed_all(model, X).cpu(), embed_all(model, X_test).cpu()
        threshold = choose_threshold(pairwise_distance(z[train_i], z[train_j]), train_same)
        d_test = pairwise_distance(z_test[test_i], z_test[test_j])
        model.train()
        return {"unseen AUC": roc_auc(d_test, test_same),
                "unseen accuracy": verification_accuracy(d_test, test_same, threshold)}

    losses = train(model, X, y, objective=args.objective, margin=args.margin, epochs=args.epochs, lr=args.lr,
                   batch_size=args.batch_size, seed=args.seed, log_every=1, evaluate=scores)
    final = scores()
    flat = X_test.flatten(1).cpu()
    raw = roc_auc(pairwise_distance(flat[test_i], flat[test_j]), test_same)
    print(f"verification of {unseen}: AUC {final['unseen AUC']:.3f}, accuracy {final['unseen accuracy']:.3f} at the "
          f"threshold chosen on training pairs; raw pixel distances give AUC {raw:.3f} (chance 0.5)")
    # The embedding of ten unseen classes, projected on its two main directions (PCA).
    z_test = embed_all(model, X_test).cpu()
    shown = torch.isin(y_test.cpu(), y_test.unique()[:10].cpu())  # (N_test,) the first ten unseen classes
    centred = z_test[shown] - z_test[shown].mean(0)
    _, _, V = torch.pca_lowrank(centred, q=2, center=False)
    groups = torch.unique(y_test.cpu()[shown], return_inverse=True)[1]
    print("embedding of ten unseen classes (PCA):", pictures.scatter(
        centred @ V, "18_embedding.png", groups=groups, title="18: ten classes never seen in training (PCA)"))
    print("training loss:", pictures.curve({args.objective: losses}, "18_loss.png", title="18: training loss"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

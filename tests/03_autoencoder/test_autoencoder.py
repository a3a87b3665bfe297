"""Hidden suite for 03 autoencoder: shapes, the layers and steps, PCA, denoising, anomalies."""

import functools

import pytest
import torch
from torch import nn

from grader import checks
from grader.checks import (assert_at_least, assert_at_most, assert_close, assert_equal, check_on_meta, check_tensor,
                           clones)
from kata.data import blob_images, low_rank, square_images

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

DEVICE_HINT = ("a tensor made without device= lands on the CPU: make new tensors on the input's device "
               "(torch.randn(..., device=X.device), torch.zeros_like(X))")
IN_PLACE = ("an in-place operation on an input (add_, sub_, +=, or returning the input itself where a new tensor "
            "was meant): the clean X is still needed (it is the target), so compute into new tensors")


# The inputs left alone, with this topic's likely cause.
check_unchanged = functools.partial(checks.check_unchanged, hint=IN_PLACE)


# ------------------------------------------------------------------ helpers of the suite
class ConstantModel(nn.Module):
    """Outputs a learnable vector b for every sample, whatever the input, and records each input.

    Its loss against a target T is mean((b - T)²), so one step of a known optimizer can
    be recomputed exactly, and the recorded inputs show what the model was fed.
    """

    def __init__(self, D: int) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.linspace(-1.0, 1.0, D))
        self.inputs: list[torch.Tensor] = []

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self.inputs.append(X.detach().clone())
        return self.b.expand(X.shape)  # (N, D)


class AffineModel(nn.Module):
    """x̂ = 0.5 x + 0.1: a fixed stand-in for a trained autoencoder."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return 0.5 * X + 0.1


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def _chain(linears: list[nn.Linear], x: torch.Tensor, activation) -> torch.Tensor:
    """The reference MLP: each Linear in turn, `activation` between them, none after the last."""
    for i, layer in enumerate(linears):
        x = layer(x)
        if activation is not None and i < len(linears) - 1:
            x = activation(x)
    return x


def _sizes(linears: list[nn.Linear]) -> list[int]:
    return [linears[0].in_features, *(layer.out_features for layer in linears)] if linears else []


def _pca_error(X_train: torch.Tensor, X_test: torch.Tensor, k: int) -> float:
    """Mean squared error of rebuilding X_test from its top-k principal components (fitted on X_train)."""
    A, B = X_train.flatten(1).double(), X_test.flatten(1).double()
    mean = A.mean(0)
    V = torch.linalg.svd(A - mean, full_matrices=False).Vh[:k].T  # (D, k)
    return (((B - mean) @ V @ V.T + mean - B) ** 2).mean().item()


def _auc(normal: torch.Tensor, anomal: torch.Tensor) -> float:
    """Rank-based AUC: P(a random anomaly scores above a random normal sample), ties count half."""
    normal, anomal = normal.flatten().double().cpu(), anomal.flatten().double().cpu()
    above = (anomal[:, None] > normal[None, :]).double().mean()
    ties = (anomal[:, None] == normal[None, :]).double().mean()
    return (above + ties / 2).item()


_BLOB_MODELS: dict = {}


def _blob_autoencoder(topic, seed: int, device: str):
    """The nonlinear autoencoder with a 2-D code, trained on blob images (shared by two tests)."""
    key = (topic.__name__, seed, device)
    if key not in _BLOB_MODELS:
        torch.manual_seed(seed)
        images = blob_images(1000, seed=seed)[0].to(device)  # (1000, 1, 16, 16)
        model = topic.Autoencoder(256, 2, hidden_sizes=(64,)).to(device)
        losses = topic.train(model, images, epochs=15, lr=1e-2, batch_size=50)
        _BLOB_MODELS[key] = (model, images, losses)
    return _BLOB_MODELS[key]


# ------------------------------------------------------------------ mlp
@shapes
@task("mlp")
def test_mlp_layers(topic):
    cases = [
        (([4, 8, 2], nn.ReLU), [(nn.Linear, 4, 8), (nn.ReLU,), (nn.Linear, 8, 2)]),
        (([4, 8, 6, 2], nn.Tanh), [(nn.Linear, 4, 8), (nn.Tanh,), (nn.Linear, 8, 6), (nn.Tanh,), (nn.Linear, 6, 2)]),
        (([4, 2], nn.ReLU), [(nn.Linear, 4, 2)]),
        (([4, 8, 2], None), [(nn.Linear, 4, 8), (nn.Linear, 8, 2)]),
        (((4, 8, 2), nn.ReLU), [(nn.Linear, 4, 8), (nn.ReLU,), (nn.Linear, 8, 2)]),  # sizes as a tuple
    ]
    for (sizes, activation), expected in cases:
        net = topic.mlp(sizes, activation)
        assert isinstance(net, nn.Sequential), f"mlp({sizes}) should return an nn.Sequential, got {type(net).__name__}"
        got = [(type(m), m.in_features, m.out_features) if isinstance(m, nn.Linear) else (type(m),) for m in net]
        name = getattr(activation, "__name__", "None")
        assert got == expected, (
            f"mlp({sizes}, activation={name}): expected the layers {[e[0].__name__ for e in expected]} "
            f"with sizes {sizes}, got {[(g[0].__name__, *g[1:]) for g in got]}.\nLikely cause: one Linear per "
            "consecutive pair of sizes, activation() after every Linear except the last, and none at all for None"
        )
        out = check_tensor(net(torch.randn(3, sizes[0])), f"mlp({sizes})(x) for x of shape (3, {sizes[0]})",
                           shape=(3, sizes[-1]))
        assert out.requires_grad, f"mlp({sizes}) output has no gradient: are the layers' parameters trainable?"
    got = [type(m).__name__ for m in topic.mlp([4, 8, 2])]
    assert got == ["Linear", "ReLU", "Linear"], (
        f"mlp([4, 8, 2]) without an activation argument: expected Linear, ReLU, Linear (the default is nn.ReLU), "
        f"got {got}")
    # A module with parameters shows whether each place gets a fresh one: PReLU learns one slope.
    net = topic.mlp([4, 8, 6, 2], nn.PReLU)
    prelus = [m for m in net if isinstance(m, nn.PReLU)]
    count = sum(p.numel() for p in net.parameters())
    assert len(prelus) == 2 and prelus[0] is not prelus[1] and count == 4 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2 + 2, (
        f"mlp([4, 8, 6, 2], nn.PReLU) should hold two separate PReLU modules (each with its own slope: "
        f"{4 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2 + 2} parameters in all), got {len(prelus)} PReLU entries, "
        f"{len({id(m) for m in prelus})} distinct, {count} parameters.\nLikely cause: call activation() once per "
        "place, inside the loop: one module reused at every place shares its parameters")


@gradients
@task("mlp")
def test_mlp_computes_the_chain(topic):
    torch.manual_seed(0)
    x = torch.randn(5, 6)
    for activation, function in ((nn.ReLU, torch.relu), (nn.Tanh, torch.tanh), (None, None)):
        net = topic.mlp([6, 10, 7, 3], activation)
        linears = _linears(net)
        assert _sizes(linears) == [6, 10, 7, 3], (
            f"mlp([6, 10, 7, 3]) should hold Linear layers 6->10->7->3, got sizes {_sizes(linears)}")
        name = getattr(activation, "__name__", "None")
        assert_close(net(x), _chain(linears, x, function), f"mlp([6, 10, 7, 3], activation={name})(x)",
                     hint="Linear, activation, Linear, activation, Linear: the last layer has no activation, "
                          "so its output can take any real value")


# ------------------------------------------------------------------ Autoencoder
@shapes
@task("Autoencoder")
def test_codes_and_reconstruction_shapes(topic):
    model = topic.Autoencoder(20, 3, hidden_sizes=(16,))
    X = torch.randn(7, 20)
    check_tensor(model.encode(X), "Autoencoder(20, 3).encode(X) for X of shape (7, 20)", shape=(7, 3),
                 hint="the code has code_size numbers per sample: the encoder's last Linear ends at code_size")
    check_tensor(model.decode(torch.randn(7, 3)), "Autoencoder(20, 3).decode(z) for z of shape (7, 3)", shape=(7, 20),
                 hint="the decoder goes from code_size back to in_features")
    check_tensor(model(X), "Autoencoder(20, 3)(X) for X of shape (7, 20)", shape=(7, 20))
    check_tensor(model(X[:1]), "Autoencoder(20, 3)(X) for one sample, X of shape (1, 20)", shape=(1, 20),
                 hint="keep the batch dimension even when N = 1: flatten(start_dim=1), not flatten() or squeeze()")
    images = torch.rand(5, 1, 16, 16)
    model = topic.Autoencoder(256, 2, hidden_sizes=(32,))
    check_tensor(model.encode(images), "Autoencoder(256, 2).encode(images) for images of shape (5, 1, 16, 16)",
                 shape=(5, 2), hint="flatten each image to 256 numbers first: X.flatten(start_dim=1)")
    check_tensor(model(images), "Autoencoder(256, 2)(images) for images of shape (5, 1, 16, 16)",
                 shape=(5, 1, 16, 16), hint="the reconstruction must have the input's shape: reshape to X.shape")
    flipped = images.transpose(2, 3)  # (5, 1, 16, 16), a view that is not contiguous in memory
    check_tensor(model.encode(flipped), "Autoencoder(256, 2).encode(images.transpose(2, 3)), not contiguous",
                 shape=(5, 2), hint="flatten with x.flatten(start_dim=1) or x.reshape(len(x), -1): x.view(...) "
                                    "fails on a batch that is not contiguous in memory")
    check_tensor(model(flipped), "Autoencoder(256, 2)(images.transpose(2, 3)), not contiguous", shape=(5, 1, 16, 16))
    check_tensor(model.double()(images.double()), "Autoencoder(256, 2) in float64, on float64 images",
                 shape=(5, 1, 16, 16), dtype=torch.float64, hint="make no new tensors of a fixed dtype")
    model.float().to("meta")
    meta = torch.empty(5, 1, 16, 16, device="meta")
    check_on_meta("Autoencoder(256, 2).encode(images (5, 1, 16, 16))", model.encode, meta, shape=(5, 2),
                  dtype=torch.float32, hint=DEVICE_HINT)
    check_on_meta("Autoencoder(256, 2)(images (5, 1, 16, 16))", model, meta, shape=(5, 1, 16, 16),
                  dtype=torch.float32, hint=DEVICE_HINT)


@shapes
@task("Autoencoder")
def test_code_size_and_mirrored_layers(topic):
    # The last case leaves hidden_sizes out: the documented default is (64,).
    for in_features, code_size, hidden in ((20, 3, (16,)), (12, 5, (32, 8)), (9, 4, ()), (10, 2, [12, 6]),
                                           (20, 3, None)):
        if hidden is None:
            model, hidden = topic.Autoencoder(in_features, code_size), (64,)
            call = f"Autoencoder({in_features}, {code_size}) (hidden_sizes left out)"
        else:
            model = topic.Autoencoder(in_features, code_size, hidden_sizes=hidden)
            call = f"Autoencoder({in_features}, {code_size}, hidden_sizes={hidden})"
        for part in ("encoder", "decoder"):
            assert isinstance(getattr(model, part, None), nn.Module), (
                f"Autoencoder should keep its two halves as modules self.encoder and self.decoder; "
                f"self.{part} is {getattr(model, part, 'missing')!r:.80}")
        expected_enc, expected_dec = [in_features, *hidden, code_size], [code_size, *hidden[::-1], in_features]
        got_enc, got_dec = _sizes(_linears(model.encoder)), _sizes(_linears(model.decoder))
        assert got_enc == expected_enc, (
            f"{call}: the encoder's Linear layers should go {' -> '.join(map(str, expected_enc))}, "
            f"got {' -> '.join(map(str, got_enc))}.\nLikely cause: the sizes are "
            "[in_features, *hidden_sizes, code_size]; is code_size used, not a fixed number? hidden_sizes=() means "
            "no hidden layer (not the default), and leaving it out means (64,)")
        assert got_dec == expected_dec, (
            f"{call}: the decoder's Linear layers should go {' -> '.join(map(str, expected_dec))}, "
            f"got {' -> '.join(map(str, got_dec))}.\nLikely cause: the decoder mirrors the encoder: "
            "[code_size, *reversed(hidden_sizes), in_features]")


@gradients
@task("Autoencoder")
def test_encode_and_decode_run_their_halves(topic):
    torch.manual_seed(0)
    model = topic.Autoencoder(12, 3, hidden_sizes=(10,))
    X, z = torch.randn(6, 12), torch.randn(6, 3)
    enc, dec = _linears(model.encoder), _linears(model.decoder)
    assert_close(model.encode(X), _chain(enc, X, torch.relu), "encode(X) against the encoder's layers run by hand",
                 hint="encode(X) = encoder(X flattened): Linear, ReLU, Linear, with no activation on the code")
    assert_close(model.decode(z), _chain(dec, z, torch.relu), "decode(z) against the decoder's layers run by hand",
                 hint="decode(z) must run the decoder on z itself: the reconstruction is built from the code")
    assert_close(model(X), model.decode(model.encode(X)), "model(X) against decode(encode(X))",
                 hint="forward is decode(encode(X)), reshaped to X's shape")
    other = model.decode(z + 1.0)
    assert (other - model.decode(z)).abs().max() > 1e-4, (
        "decode(z) and decode(z + 1) came out equal: the reconstruction does not depend on the code.\n"
        "Likely cause: decode ignores z (decodes zeros or a constant)")


@gradients
@task("Autoencoder")
def test_linear_variant_has_no_activation(topic):
    torch.manual_seed(0)
    x1, x2 = torch.randn(4, 10), torch.randn(4, 10)
    a = 0.3
    linear = topic.Autoencoder(10, 3, hidden_sizes=(8,), activation=None)
    plain = (nn.Linear, nn.Sequential, nn.ModuleList, nn.Flatten, nn.Unflatten, nn.Identity, type(linear))
    acts = [type(m).__name__ for m in linear.modules() if not isinstance(m, plain)]
    assert not acts, f"Autoencoder(..., activation=None) should hold only Linear layers, found {acts}"
    z1 = check_tensor(linear.encode(x1), "Autoencoder(10, 3, activation=None).encode(x1)", shape=(4, 3))
    z2 = check_tensor(linear.encode(x2), "Autoencoder(10, 3, activation=None).encode(x2)", shape=(4, 3))
    assert_close(linear.encode(a * x1 + (1 - a) * x2), a * z1 + (1 - a) * z2,
                 "a linear encoder maps a mix of inputs to the same mix of codes", atol=1e-5,
                 hint="with activation=None neither half may apply any nonlinearity")
    relu = topic.Autoencoder(10, 3, hidden_sizes=(8,))
    n_relu = [sum(isinstance(m, nn.ReLU) for m in getattr(relu, part).modules()) for part in ("encoder", "decoder")]
    assert n_relu == [1, 1], (
        f"Autoencoder(10, 3, hidden_sizes=(8,)) should have one ReLU in the encoder and one in the decoder, got "
        f"{n_relu}.\nLikely cause: pass `activation` on to mlp() for both halves")
    tanh = topic.Autoencoder(10, 3, hidden_sizes=(8,), activation=nn.Tanh)
    n_tanh = [sum(isinstance(m, nn.Tanh) for m in getattr(tanh, part).modules()) for part in ("encoder", "decoder")]
    assert n_tanh == [1, 1], (
        f"Autoencoder(10, 3, hidden_sizes=(8,), activation=nn.Tanh) should have one Tanh in the encoder and one in "
        f"the decoder, got {n_tanh}.\nLikely cause: pass `activation` on to mlp() for both halves")
    mixed = relu.decode(a * relu.encode(x1) + (1 - a) * relu.encode(x2))
    straight = a * relu.decode(relu.encode(x1)) + (1 - a) * relu.decode(relu.encode(x2))
    assert (mixed - straight).abs().max() > 1e-4, (
        "the default (ReLU) autoencoder behaves like a linear map: its halves seem to lack their activation")


@accuracy
@task("Autoencoder")
def test_linear_autoencoder_reaches_pca(topic, seed, device):
    torch.manual_seed(seed)
    X = low_rank(500, seed=seed).to(device)  # (500, 20), near a 3-D subspace
    X_test = low_rank(500, seed=seed, split="test").to(device)
    model = topic.Autoencoder(20, 3, hidden_sizes=(), activation=None).to(device)
    first = topic.train(model, X, epochs=60, lr=0.1, batch_size=100)
    topic.train(model, X, epochs=30, lr=0.01, batch_size=100)  # a smaller step to settle in the minimum
    with torch.no_grad():
        rebuilt = check_tensor(model(X_test), "the linear autoencoder's reconstruction of X_test", shape=X_test.shape)
        error = ((rebuilt - X_test) ** 2).mean().item()
    pca = _pca_error(X.cpu(), X_test.cpu(), 3)
    assert first[-1] < first[0], f"the loss should fall during training: first {first[0]:.4f}, last {first[-1]:.4f}"
    assert_at_most(error / pca, 1.2, "linear autoencoder's test error / PCA-3's",
                   hint=f"here {error:.5f} / {pca:.5f}. A linear autoencoder with a 3-D code should find PCA's "
                        "subspace (the solution reaches about 1.02-1.13x); check that code_size is used and that "
                        "the biases are kept")


@accuracy
@task("Autoencoder")
def test_nonlinear_2d_code_beats_pca_on_blobs(topic, seed, device):
    model, images, losses = _blob_autoencoder(topic, seed, device)
    images_test = blob_images(500, seed=seed, split="test")[0].to(device)
    with torch.no_grad():
        rebuilt = check_tensor(model(images_test), "the autoencoder's reconstruction of 500 test images",
                               shape=images_test.shape)
        error = ((rebuilt - images_test) ** 2).mean().item()
    pca = _pca_error(images.cpu(), images_test.cpu(), 2)
    assert_at_most(error / pca, 0.5, "2-D autoencoder's test error / PCA-2's on blob images",
                   hint=f"here {error:.5f} / {pca:.5f}. A blob image is fixed by its 2-D position, which no plane "
                        "holds: only a nonlinear autoencoder beats PCA-2 (the solution reaches about 0.1-0.3; a "
                        "linear one 1.0)")


# ------------------------------------------------------------------ corrupt
@shapes
@task("corrupt")
def test_corrupt_returns_a_new_noisy_tensor(topic):
    X = torch.rand(4, 1, 5, 5)
    original = X.clone()
    noisy = check_tensor(topic.corrupt(X, 0.3), "corrupt(X, 0.3) for X of shape (4, 1, 5, 5)", shape=(4, 1, 5, 5),
                         dtype=torch.float32)
    assert_equal(X, original, "X after corrupt(X, 0.3), against a copy taken before the call",
                 hint="corrupt(X, 0.3) changed X itself, and the clean X is the target of the denoising step: "
                      "an in-place operation (add_, +=)? Write X + noise_std * noise")
    assert (noisy - X).abs().max() > 0.05, "corrupt(X, 0.3) returned X unchanged: no noise was added"
    # noise_std = 0.0 is a value: no noise, but still a new tensor, so writing into it leaves X alone.
    same = check_tensor(topic.corrupt(X, 0.0), "corrupt(X, 0.0)", shape=(4, 1, 5, 5), dtype=torch.float32)
    assert_close(same, original, "corrupt(X, 0.0) against X", atol=0, rtol=0,
                 hint="noise of standard deviation 0 adds nothing: X + 0.0 * noise")
    same.fill_(7.0)
    check_unchanged("corrupt(X, 0.0), then filling its result with 7", {"X": original}, X=X)
    check_tensor(topic.corrupt(X.double(), 0.3), "corrupt(X, 0.3) for float64 X", dtype=torch.float64,
                 hint="draw the noise in X's dtype: torch.randn(..., dtype=X.dtype)")
    check_on_meta("corrupt(X (4, 3), 0.3)", topic.corrupt, torch.empty(4, 3, device="meta"), 0.3, shape=(4, 3),
                  dtype=torch.float32, hint=DEVICE_HINT)


@gradients
@task("corrupt")
def test_corrupt_adds_gaussian_noise_of_noise_std(topic):
    X = torch.linspace(-1, 1, 40).reshape(8, 5)
    noisy = topic.corrupt(X, 0.7, generator=torch.Generator().manual_seed(3))
    expected = X + 0.7 * torch.randn(X.shape, generator=torch.Generator().manual_seed(3))
    assert_close(noisy, expected, "corrupt(X, 0.7, generator=g) against X + 0.7 * torch.randn(X.shape, generator=g)",
                 hint="use the generator you are given: torch.randn(X.shape, generator=generator, ...), "
                      "times noise_std")
    # generator=None (the default) means torch's global generator, seeded by torch.manual_seed.
    for seed in (11, 12):
        torch.manual_seed(seed)
        noisy = topic.corrupt(X, 0.7)
        torch.manual_seed(seed)
        assert_close(noisy, X + 0.7 * torch.randn(X.shape),
                     f"corrupt(X, 0.7) without a generator after torch.manual_seed({seed}), against "
                     f"X + 0.7 * torch.randn(X.shape) after the same seed",
                     hint="generator=None means torch's global generator: pass generator on to torch.randn as it "
                          "is (None included), and make no generator of your own when none is given")
    torch.manual_seed(0)
    noise = check_tensor(topic.corrupt(torch.zeros(200, 100), 0.5), "corrupt(zeros (200, 100), 0.5)", shape=(200, 100))
    std, mean = noise.std().item(), noise.mean().item()
    assert abs(std - 0.5) < 0.02 and abs(mean) < 0.02, (
        f"corrupt(zeros, 0.5) should add noise of mean 0 and standard deviation 0.5; got mean {mean:.3f}, "
        f"std {std:.3f}.\nLikely cause: uniform noise (torch.rand) or noise_std used as a variance")


# ------------------------------------------------------------------ anomaly_score
@shapes
@task("anomaly_score")
def test_anomaly_score_is_one_number_per_sample(topic):
    model = AffineModel()
    for shape in ((7, 20), (5, 1, 16, 16), (1, 20)):
        score = topic.anomaly_score(model, torch.rand(*shape))
        check_tensor(score, f"anomaly_score(model, X) for X of shape {shape}", shape=(shape[0],), dtype=torch.float32,
                     hint="average the squared error over every dimension except the first: one score per "
                          "sample, not one for the batch and not one per feature")
    check_tensor(topic.anomaly_score(model, torch.rand(3, 1, 4, 4, dtype=torch.float64)),
                 "anomaly_score(model, X) for float64 X of shape (3, 1, 4, 4)", shape=(3,), dtype=torch.float64,
                 hint="keep the scores tensors in X's dtype: no torch.tensor([...]) of Python floats, no .float()")
    check_on_meta("anomaly_score(model, X (3, 1, 4, 4))", topic.anomaly_score, model,
                  torch.empty(3, 1, 4, 4, device="meta"), shape=(3,), dtype=torch.float32, hint=DEVICE_HINT)


@gradients
@task("anomaly_score")
def test_anomaly_score_is_each_samples_mean_squared_error(topic):
    model = AffineModel()
    g = torch.Generator().manual_seed(4)
    X = torch.rand(6, 1, 4, 4, generator=g) * torch.arange(1.0, 7.0)[:, None, None, None]  # different scales
    expected = ((0.5 * X + 0.1 - X) ** 2).mean(dim=(1, 2, 3))  # (6,)
    before = clones(X=X)
    score = topic.anomaly_score(model, X)
    check_unchanged("anomaly_score(model, X)", before, X=X)
    assert_close(score, expected, "anomaly_score(model, X) for a model with x̂ = 0.5x + 0.1",
                 hint="score_i = mean over the pixels of sample i of (x̂ - x)²: the mean, not the sum, and per "
                      "sample")
    alone = torch.stack([check_tensor(topic.anomaly_score(model, X[i:i + 1]), f"anomaly_score(model, X[{i}:{i + 1}])",
                                      shape=(1,))[0] for i in range(6)])
    assert_close(alone, expected, "each sample's score computed alone (a batch of 1)",
                 hint="a sample's score must not depend on the rest of the batch")
    assert not score.requires_grad, "anomaly_score should not build a graph: keep the computation under no_grad()"


@accuracy
@task("anomaly_score")
def test_anomalies_score_higher_than_normal_samples(topic, seed, device):
    model, _, _ = _blob_autoencoder(topic, seed, device)
    normal = blob_images(300, seed=seed, split="test")[0].to(device)
    squares = square_images(300, seed=seed, split="test").to(device)
    # Squares are brighter than blobs: give each one the blobs' mean energy (L2 norm), so
    # that only the *shape* tells them apart, not the total brightness.
    squares = squares * (normal.flatten(1).norm(dim=1).mean() / squares.flatten(1).norm(dim=1))[:, None, None, None]
    s_normal = check_tensor(topic.anomaly_score(model, normal), "anomaly_score on 300 blob images", shape=(300,))
    s_anomal = check_tensor(topic.anomaly_score(model, squares), "anomaly_score on 300 squares", shape=(300,))
    assert_at_least(_auc(s_normal, s_anomal), 0.97, "AUC of squares against blobs by anomaly score",
                    chance=0.5, hint="the solution reaches about 0.99; an untrained autoencoder about 0.5, one whose "
                                     "decoder ignores the code about 0.76, a linear one about 0.92")


# ------------------------------------------------------------------ train_step
@gradients
@task("train_step")
def test_train_step_takes_one_plain_step(topic):
    g = torch.Generator().manual_seed(5)
    X = torch.randn(6, 4, generator=g) + 2
    model = ConstantModel(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    b = model.b.detach().clone()
    for step in (1, 2):
        b_var = b.clone().requires_grad_()
        expected_loss = ((b_var.expand(X.shape) - X) ** 2).mean()
        (grad,) = torch.autograd.grad(expected_loss, b_var)
        before = clones(X=X)
        loss = topic.train_step(model, optimizer, X)
        check_unchanged("train_step(model, optimizer, X)", before, X=X)
        assert isinstance(loss, float), (
            f"train_step should return the loss as a Python float (loss.item()), got {loss!r:.80}")
        assert_equal(model.inputs[-1], X, f"what step {step} of train_step(noise_std=0) fed the model, against X",
                     hint="train_step(noise_std=0) must feed the model X itself, unchanged")
        assert_close(torch.tensor(loss), expected_loss.detach(), f"the loss returned by step {step}",
                     hint="the loss is the mean of (model(X) - X)² over every element, before the update")
        b = b - 0.5 * grad
        assert_close(model.b, b, f"the parameters after step {step} of SGD(lr=0.5)", atol=1e-6,
                     hint="one step is optimizer.zero_grad(), loss.backward(), optimizer.step(). Without "
                          "zero_grad() the second step also applies the first step's gradient")


@gradients
@task("train_step")
def test_denoising_step_rebuilds_the_clean_input(topic):
    g = torch.Generator().manual_seed(6)
    X = torch.randn(8, 5, generator=g)
    model = ConstantModel(5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    b = model.b.detach().clone().requires_grad_()
    expected_loss = ((b.expand(X.shape) - X) ** 2).mean()  # against the clean X
    (grad,) = torch.autograd.grad(expected_loss, b)
    torch.manual_seed(0)  # the global stream: the noise must not come from it
    before = clones(X=X)
    loss = topic.train_step(model, optimizer, X, noise_std=0.6, generator=torch.Generator().manual_seed(7))
    check_unchanged("train_step(model, optimizer, X, noise_std=0.6, generator=g)", before, X=X)
    seen = model.inputs[-1]
    assert (seen - X).abs().mean() > 0.3, (
        f"train_step(noise_std=0.6) fed the model an input that differs from X by only "
        f"{(seen - X).abs().mean().item():.3g} on average: the input must be corrupt(X, noise_std)")
    assert_close(seen, X + 0.6 * torch.randn(X.shape, generator=torch.Generator().manual_seed(7)),
                 "the input train_step(noise_std=0.6, generator=g) fed the model, against "
                 "X + 0.6 * torch.randn(X.shape, generator=g)",
                 hint="pass noise_std and the generator on as they are: corrupt(X, noise_std, generator=generator)")
    assert_close(torch.tensor(float(loss)), expected_loss.detach(), "the denoising step's loss",
                 hint="the target is the clean X: loss = mean((model(corrupted) - X)²). Against the corrupted "
                      "input the model only learns to copy the noise")
    assert_close(model.b, b.detach() - 0.5 * grad, "the parameters after one denoising step", atol=1e-6,
                 hint="the gradient must come from the error against the clean X, not the noisy input")


# ------------------------------------------------------------------ train
@gradients
@task("train")
def test_train_visits_every_sample_once_per_epoch(topic):
    torch.manual_seed(0)
    X = torch.arange(30.0).reshape(10, 3) / 10 + 2  # 10 distinct rows
    model = ConstantModel(3)
    before = clones(X=X)
    losses = topic.train(model, X, epochs=3, lr=0.1, batch_size=4)
    check_unchanged("train(model, X, epochs=3, lr=0.1, batch_size=4)", before, X=X)
    assert isinstance(losses, list) and len(losses) == 3 and all(isinstance(v, float) for v in losses), (
        f"train(epochs=3) should return a list of 3 floats (each epoch's mean loss), got {losses!r:.200}")
    sizes = [len(batch) for batch in model.inputs]
    assert sizes == [4, 4, 2] * 3, (
        f"train(epochs=3, batch_size=4) on 10 samples should make batches of sizes [4, 4, 2] each epoch, got {sizes}.\n"
        "Likely cause: the loop must step through range(0, N, batch_size) and keep the last, smaller batch")
    orders = []
    for epoch in range(3):
        rows = torch.cat(model.inputs[3 * epoch:3 * epoch + 3])  # (10, 3)
        order = ((rows[:, 0] - 2) * 10 / 3).round().long().tolist()
        assert sorted(order) == list(range(10)), (
            f"epoch {epoch} should visit every sample exactly once, visited rows {order}")
        orders.append(order)
    assert orders[0] != orders[1] or orders[1] != orders[2], (
        f"every epoch visited the samples in the same order {orders[0]}: shuffle them each epoch with torch.randperm")
    assert losses[-1] < losses[0], f"the loss should fall during training: {losses}"
    # Replay the same batches with Adam(lr=0.1) from the same start: each batch's loss before its step.
    reference = ConstantModel(3)
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.1)
    batch_losses = []
    for batch in model.inputs:
        optimizer.zero_grad()
        loss = ((reference(batch) - batch) ** 2).mean()
        batch_losses.append(loss.item())
        loss.backward()
        optimizer.step()
    # "Each epoch's mean loss": the mean of its 3 batches' losses; weighting each batch by its size is fine too.
    per_batch = torch.tensor(batch_losses, dtype=torch.float64).reshape(3, 3)  # (epochs, batches)
    plain, weighted = per_batch.mean(dim=1), per_batch @ torch.tensor([4.0, 4.0, 2.0], dtype=torch.float64) / 10
    got = torch.tensor(losses, dtype=torch.float64)
    if not torch.allclose(got, weighted, atol=1e-5):
        assert_close(got, plain, "the losses train(epochs=3, batch_size=4) returns, against the same batches replayed",
                     atol=1e-5, hint="append each epoch's mean loss: the mean of the losses train_step returned for "
                                     "the epoch's batches, not the last batch's loss or their sum")


@gradients
@task("train")
def test_train_with_zero_epochs_or_zero_lr_leaves_the_model(topic):
    # 0 and 0.0 are values, not "not given": `lr or 1e-2` would step at the default rate.
    torch.manual_seed(0)
    X = torch.arange(30.0).reshape(10, 3) / 10 + 2
    model = ConstantModel(3)
    start = model.b.detach().clone()
    losses = topic.train(model, X, epochs=0, lr=0.1, batch_size=4)
    assert losses == [] and not model.inputs, (
        f"train(epochs=0) should visit no batch and return [], got {losses!r:.200} after {len(model.inputs)} batches")
    losses = topic.train(model, X, epochs=2, lr=0.0, batch_size=4)
    assert isinstance(losses, list) and len(losses) == 2, (
        f"train(epochs=2, lr=0.0) should return 2 losses, got {losses!r:.200}")
    assert_close(model.b, start, "the parameters after train(epochs=2, lr=0.0)", atol=0, rtol=0,
                 hint="lr=0.0 is a step of size 0, not 'no lr given': Adam with lr = 0.0 changes nothing, so pass "
                      "lr on as it is, never `lr or default`")


@gradients
@task("train")
def test_train_with_noise_std_feeds_corrupted_batches(topic):
    torch.manual_seed(0)
    X = torch.zeros(12, 4)  # every clean row is 0, so whatever the model sees beyond 0 is noise
    model = ConstantModel(4)
    topic.train(model, X, epochs=2, lr=0.1, batch_size=6, noise_std=1.0)
    assert len(model.inputs) == 4, (
        f"train(epochs=2, batch_size=6) on 12 samples should make 4 batches, made {len(model.inputs)}")
    spread = [round(batch.abs().mean().item(), 3) for batch in model.inputs]
    assert min(spread) > 0.4, (
        f"train(noise_std=1.0) on all-zero data fed batches whose mean |value| is {spread}: expected about 0.8 "
        "(noise of std 1).\nLikely cause: train does not pass noise_std on to train_step")


@accuracy
@task("train")
def test_denoising_beats_the_noisy_input(topic, seed, device):
    torch.manual_seed(seed)
    X = low_rank(500, seed=seed).to(device)  # (500, 20), near a 3-D subspace
    X_test = low_rank(500, seed=seed, split="test").to(device)
    # No bottleneck: the code is as wide as the input, so only the denoising criterion
    # (noisy input, clean target) stops the model from learning to copy its input.
    model = topic.Autoencoder(20, 20, hidden_sizes=(), activation=None).to(device)
    topic.train(model, X, epochs=30, lr=0.01, batch_size=50, noise_std=0.5)
    g = torch.Generator().manual_seed(seed)
    noisy = X_test + 0.5 * torch.randn(X_test.shape, generator=g).to(device)
    with torch.no_grad():
        denoised = check_tensor(model(noisy), "the denoiser's output for the noisy test points", shape=X_test.shape)
    error, baseline = ((denoised - X_test) ** 2).mean().item(), ((noisy - X_test) ** 2).mean().item()
    assert_at_most(error / baseline, 0.25, "denoised error / noisy input's error, both against the clean test points",
                   hint=f"here {error:.4f} / {baseline:.4f}. train(noise_std=...) must pass noise_std on to "
                        "train_step, which feeds the corrupted input and compares with the clean X (the solution "
                        "reaches about 0.16; training without noise about 0.3; copying the input 1.0)")

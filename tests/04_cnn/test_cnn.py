"""Hidden suite for 04 CNN: output sizes, conv2d and max-pooling against PyTorch, LeNet, CNN vs MLP."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import assert_at_least, assert_at_most, assert_close, calling, check_tensor
from kata.images import shapes as shape_images

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

# Likely causes of an exception raised inside the learner's code (shown by grader.checks.calling).
SIZE = "use integer arithmetic (//) on size, kernel_size, stride, padding and dilation: no tensors are needed"
UNFOLD = ("F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride) gives (B, C*kH*kW, L) and "
          "weight.reshape(O, -1) @ cols gives (B, O, L), to view as (B, O, H_out, W_out) with the sizes from "
          "conv_output_size: a size mismatch there usually means stride, padding or dilation did not reach F.unfold")
POOL = ("pad with F.pad(x, (p, p, p, p), value=float('-inf')); x.unfold(2, k, stride).unfold(3, k, stride) is "
        "(B, C, H_out, W_out, k, k); stride=None means stride = kernel_size")
LAYER = ("Conv2d keeps weight (O, C, k, k) and bias (O,) (or None) as nn.Parameters, and its forward calls your "
         "conv2d with them and the layer's stride, padding and dilation")
LENET = ("features = pool(relu(conv2(pool(relu(conv1(x)))))); forward flattens it per image (flatten(1)) before fc1: "
         "size fc1's input from image_size with conv_output_size")
TRAINING = ("an error while training comes from your layers: run their shape tests first, "
            "`uv run pytest exercises/04_cnn -m shapes`")

# LeNet's test accuracy on shapes, and its lead over the same-budget MLP (NOTES.md: measured
# 0.85-0.975 and 0.41-0.58 on seeds 0-9; chance is 0.1, the MLP reaches 0.34-0.46).
CNN_BAR, LEAD_BAR = 0.7, 0.25

# (size, kernel_size, stride, padding, dilation) -> output size, as F.conv2d gives it.
SIZE_TABLE = [
    ((28, 5, 1, 0, 1), 24), ((28, 5, 1, 2, 1), 28), ((28, 5, 2, 0, 1), 12), ((28, 3, 2, 1, 1), 14),
    ((7, 3, 2, 1, 1), 4), ((10, 3, 1, 0, 2), 6), ((32, 3, 1, 2, 2), 32), ((14, 2, 2, 0, 1), 7),
    ((15, 2, 2, 0, 1), 7), ((5, 5, 1, 0, 1), 1), ((9, 4, 3, 1, 1), 3), ((224, 7, 2, 3, 1), 112),
    ((13, 3, 4, 0, 3), 2),
]


def _conv_cases():
    """Convolution settings, fixed ones first (each feature alone), then random ones."""
    cases = [  # (B, C, O, H, W, kH, kW, stride, padding, dilation, bias)
        (2, 3, 4, 8, 8, 3, 3, 1, 0, 1, True),
        (1, 1, 1, 5, 5, 3, 3, 1, 0, 1, False),  # one channel: a flipped kernel shows at once
        (2, 2, 3, 9, 9, 3, 3, 1, 1, 1, True),  # padding
        (2, 2, 3, 9, 11, 3, 3, 2, 0, 1, True),  # stride
        (1, 2, 3, 12, 12, 3, 3, 1, 0, 2, True),  # dilation
        (2, 3, 5, 10, 13, 2, 4, 3, 2, 2, True),  # all at once, a non-square kernel and image
        (2, 2, 6, 8, 8, 3, 3, 1, 0, 1, True),  # O = W_out: a bias added along the width still runs
    ]
    g = torch.Generator().manual_seed(404)
    while len(cases) < 17:
        B, C, O = (int(v) for v in torch.randint(1, 5, (3,), generator=g))
        H, W = (int(v) for v in torch.randint(4, 13, (2,), generator=g))
        kH, kW, stride, dilation = (int(v) for v in torch.randint(1, 4, (4,), generator=g))
        padding = int(torch.randint(0, 3, (1,), generator=g))
        if min(H, W) + 2 * padding < dilation * (max(kH, kW) - 1) + 1:
            continue  # the kernel would not fit
        cases.append((B, C, O, H, W, kH, kW, stride, padding, dilation, bool(len(cases) % 2)))
    return cases


def _pool_cases():
    cases = [  # (B, C, H, W, kernel_size, stride, padding)
        (2, 3, 8, 8, 2, None, 0),  # the default stride is the kernel size
        (2, 3, 9, 9, 3, 2, 1),  # padded with -inf, not zeros: the inputs are mostly negative
        (1, 2, 7, 10, 3, 1, 0),  # overlapping windows
        (2, 2, 11, 9, 4, 3, 2),
        (1, 1, 5, 5, 2, None, 1),
    ]
    g = torch.Generator().manual_seed(4040)
    while len(cases) < 12:
        B, C = (int(v) for v in torch.randint(1, 4, (2,), generator=g))
        H, W = (int(v) for v in torch.randint(4, 12, (2,), generator=g))
        k = int(torch.randint(1, 5, (1,), generator=g))
        stride = int(torch.randint(1, 4, (1,), generator=g))
        padding = int(torch.randint(0, k // 2 + 1, (1,), generator=g))
        cases.append((B, C, H, W, k, stride, padding))
    return cases


@shapes
@task("conv_output_size")
def test_output_size_formula(topic):
    for (size, k, s, p, d), expected in SIZE_TABLE:
        with calling(SIZE):
            got = topic.conv_output_size(size, k, stride=s, padding=p, dilation=d)
        assert got == expected, (
            f"conv_output_size({size}, {k}, stride={s}, padding={p}, dilation={d}): expected {expected}, got {got!r}.\n"
            "Likely cause: the formula is floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1; "
            "round down (//), not up, and remember that dilation widens the kernel"
        )
        assert isinstance(got, int), f"conv_output_size must return a Python int, got {type(got).__name__}"


@shapes
@task("conv2d")
def test_conv2d_output_shapes(topic):
    for B, C, O, H, W, kH, kW, stride, padding, dilation, bias in _conv_cases()[:7]:
        x, weight = torch.randn(B, C, H, W), torch.randn(O, C, kH, kW)
        b = torch.randn(O) if bias else None
        expected = F.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation).shape
        with calling(UNFOLD):
            check_tensor(topic.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation),
                         f"conv2d(x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride={stride}, padding={padding}, "
                         f"dilation={dilation})", shape=expected,
                         hint="the output is (B, O, H_out, W_out), with H_out and W_out from conv_output_size; "
                              "pass stride, padding and dilation on to F.unfold")
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    with calling(UNFOLD):
        out = topic.conv2d(x, torch.randn(4, 3, 3, 3, dtype=torch.float64))
    check_tensor(out, "conv2d of float64 inputs", shape=(2, 4, 4, 4), dtype=torch.float64,
                 hint="do not create tensors with a fixed dtype: derive them from the inputs")


@gradients
@task("conv2d")
def test_conv2d_equals_torch_with_gradients(topic):
    for B, C, O, H, W, kH, kW, stride, padding, dilation, bias in _conv_cases():
        name = (f"conv2d(x {(B, C, H, W)}, weight {(O, C, kH, kW)}, bias={'yes' if bias else 'None'}, "
                f"stride={stride}, padding={padding}, dilation={dilation})")
        x = torch.randn(B, C, H, W, dtype=torch.float64, requires_grad=True)
        weight = torch.randn(O, C, kH, kW, dtype=torch.float64, requires_grad=True)
        b = torch.randn(O, dtype=torch.float64, requires_grad=True) if bias else None
        inputs = (x, weight) + ((b,) if bias else ())
        expected = F.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation)
        with calling(UNFOLD):
            out = topic.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation)
        assert_close(out, expected, name, atol=1e-10,
                     hint="PyTorch's conv2d is a cross-correlation: out[o, i, j] = sum over c, u, v of "
                          "weight[o, c, u, v] * x[c, i*stride + u*dilation - padding, j*stride + v*dilation - padding], "
                          "with no kernel flip. Check that stride, padding and dilation each reach F.unfold, and "
                          "that the bias is added once per output channel")
        upstream = torch.randn_like(expected)
        want = torch.autograd.grad(expected, inputs, upstream)
        got = torch.autograd.grad(out, inputs, upstream, allow_unused=True)
        for label, g_got, g_want in zip(("x", "weight", "bias"), got, want):
            assert g_got is not None, f"{name}: no gradient reaches the {label}. Likely cause: a detach() or a new tensor"
            assert_close(g_got, g_want, f"d out / d {label} of {name}", atol=1e-10,
                         hint="build the output from differentiable torch operations only (unfold, matmul, view)")


@shapes
@task("max_pool2d")
def test_max_pool_output_shapes(topic):
    for B, C, H, W, k, stride, padding in _pool_cases()[:5]:
        x = torch.randn(B, C, H, W)
        expected = F.max_pool2d(x, k, stride, padding).shape
        with calling(POOL):
            check_tensor(topic.max_pool2d(x, k, stride=stride, padding=padding),
                         f"max_pool2d(x {tuple(x.shape)}, {k}, stride={stride}, padding={padding})", shape=expected,
                         hint="pooling keeps the channels: (B, C, H_out, W_out); stride=None means stride = kernel_size")


@gradients
@task("max_pool2d")
def test_max_pool_equals_torch_with_gradients(topic):
    for B, C, H, W, k, stride, padding in _pool_cases():
        name = f"max_pool2d(x {(B, C, H, W)}, {k}, stride={stride}, padding={padding})"
        x = (torch.randn(B, C, H, W, dtype=torch.float64) - 1.5).requires_grad_()  # mostly negative values
        expected = F.max_pool2d(x, k, stride, padding)
        with calling(POOL):
            out = topic.max_pool2d(x, k, stride=stride, padding=padding)
        assert_close(out, expected, name, atol=1e-12,
                     hint="take the max (not the mean) of each window, per channel; pad with -inf, because "
                          "zero padding wins the max wherever the inputs are negative; windows start every "
                          "`stride` pixels")
        upstream = torch.randn_like(expected)
        (want,) = torch.autograd.grad(expected, x, upstream)
        (got,) = torch.autograd.grad(out, x, upstream)
        assert_close(got, want, f"d out / d x of {name}", atol=1e-12,
                     hint="the gradient goes only to the largest element of each window: use amax over "
                          "the window's two dimensions, not a mean or a sort")


@shapes
@task("Conv2d")
def test_conv_layer_parameters(topic):
    torch.manual_seed(0)
    with calling(LAYER):
        layer = topic.Conv2d(3, 8, 5, padding=2)
    shapes_ = {k: tuple(v.shape) for k, v in layer.named_parameters()}
    assert shapes_ == {"weight": (8, 3, 5, 5), "bias": (8,)}, (
        f"Conv2d(3, 8, 5) should have parameters weight (8, 3, 5, 5) and bias (8,), as nn.Conv2d; got {shapes_}. "
        "Likely cause: wrap the tensors in nn.Parameter and name them weight and bias"
    )
    with calling(LAYER):
        no_bias = topic.Conv2d(3, 8, 5, bias=False)
    assert no_bias.bias is None and [k for k, _ in no_bias.named_parameters()] == ["weight"], (
        "Conv2d(..., bias=False) should have a weight only and self.bias = None, as nn.Conv2d"
    )
    fan_in = 3 * 5 * 5
    std = layer.weight.detach().std().item()
    assert 0.1 / fan_in**0.5 <= std <= 2 / fan_in**0.5, (
        f"Conv2d(3, 8, 5): the initial weights have a standard deviation of {std:.4f}; expected about "
        f"{1 / (3 * fan_in) ** 0.5:.4f} (uniform in ±1/sqrt(C*k*k) = ±{1 / fan_in**0.5:.4f}, nn.Conv2d's default).\n"
        "Likely cause: torch.randn weights (far too large) or zeros (every filter stays the same)"
    )
    with calling(LAYER):
        check_tensor(layer(torch.randn(2, 3, 10, 12)), "Conv2d(3, 8, 5, padding=2) on x (2, 3, 10, 12)",
                     shape=(2, 8, 10, 12), hint="forward must pass the layer's stride, padding and dilation to conv2d")


@gradients
@task("Conv2d")
def test_conv_layer_equals_nn_conv2d(topic):
    for kwargs in ({}, {"stride": 2, "padding": 1}, {"padding": 2, "dilation": 2, "bias": False}):
        torch.manual_seed(1)
        reference = nn.Conv2d(3, 4, 3, **kwargs).double()
        with calling(LAYER):
            layer = topic.Conv2d(3, 4, 3, **kwargs).double()
        layer.load_state_dict(reference.state_dict())  # parameter names and shapes as nn.Conv2d's
        x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
        with calling(LAYER):
            assert_close(layer(x), reference(x), f"Conv2d(3, 4, 3, {kwargs}) against nn.Conv2d with the same weights",
                         atol=1e-10, hint="forward must call conv2d with self.stride, self.padding and self.dilation")


@gradients
@task("Conv2d")
def test_conv_layer_is_translation_equivariant(topic):
    # Shift the image, and the feature map shifts with it: the same filter is used at every
    # position. torch.roll wraps pixels around, so compare only away from the borders.
    torch.manual_seed(2)
    x = torch.randn(1, 2, 20, 20, dtype=torch.float64)
    for stride, shift, out_shift in ((1, (3, 2), (3, 2)), (2, (4, 2), (2, 1))):
        with calling(LAYER):
            layer = topic.Conv2d(2, 3, 3, stride=stride, padding=1).double()
        with torch.no_grad(), calling(LAYER):
            out = layer(x)
            out_shifted = layer(torch.roll(x, shift, dims=(2, 3)))
        (dr, dc), m = out_shift, 2  # m: a margin away from the wrapped border
        h, w = out.shape[-2:]
        assert_close(out_shifted[..., dr + m:h - m, dc + m:w - m], out[..., m:h - m - dr, m:w - m - dc],
                     f"Conv2d(stride={stride}) on the image shifted by {shift}, against its output shifted by {out_shift}",
                     atol=1e-10, hint="each output position must apply the same filter to its own receptive field; "
                                      "a stride-s layer moves by one output pixel per s input pixels")


@shapes
@task("LeNet")
def test_lenet_shapes_and_size(topic):
    torch.manual_seed(0)
    with calling(LENET):
        model = topic.LeNet()
    x = torch.rand(4, 1, 28, 28)
    with calling(LENET):
        check_tensor(model.features(x), "LeNet().features(x) for x (4, 1, 28, 28)", shape=(4, 16, 5, 5),
                     hint="28 -conv1 (5x5, padding 2)-> 28 -pool-> 14 -conv2 (5x5)-> 10 -pool-> 5; "
                          "both 2x2 max-pools are needed")
        check_tensor(model(x), "LeNet()(x) for x (4, 1, 28, 28)", shape=(4, 10),
                     hint="flatten the features per image with flatten(1), then fc1 and fc2")
    count = sum(p.numel() for p in model.parameters())
    assert count == 37106, (
        f"LeNet() should have 37,106 parameters (conv1 156, conv2 2,416, fc1 400*84+84, fc2 84*10+10), got {count:,}. "
        "Likely cause: a different kernel size, channel count or hidden size, or fc1's input size"
    )
    assert isinstance(model.conv1, topic.Conv2d) and isinstance(model.conv2, topic.Conv2d), (
        "LeNet's conv1 and conv2 should be your Conv2d layers (not nn.Conv2d): this topic is about building them"
    )
    with calling(LENET):
        colour = topic.LeNet(3, 10, image_size=32)
        check_tensor(colour.features(torch.rand(2, 3, 32, 32)), "LeNet(3, 10, image_size=32).features(x (2, 3, 32, 32))",
                     shape=(2, 16, 6, 6), hint="size fc1 from image_size with conv_output_size, not a fixed 16*5*5")
        check_tensor(colour(torch.rand(2, 3, 32, 32)), "LeNet(3, 10, image_size=32)(x (2, 3, 32, 32))", shape=(2, 10))


@gradients
@task("LeNet")
def test_lenet_is_conv_relu_pool_twice_then_mlp(topic):
    torch.manual_seed(0)
    with calling(LENET):
        model = topic.LeNet(channels=(4, 8), hidden=16).double()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    p = model.state_dict()
    h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=2)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"])), 2)
    with calling(LENET):
        assert_close(model.features(x), h, "LeNet.features(x) against conv, ReLU, max-pool twice with the same weights",
                     atol=1e-10, hint="features = pool(relu(conv2(pool(relu(conv1(x)))))), 2x2 pools with stride 2")
    logits = F.linear(F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"])
    with calling(LENET):
        assert_close(model(x), logits, "LeNet(x) against the same layers built from torch.nn.functional", atol=1e-10,
                     hint="forward = fc2(relu(fc1(features(x).flatten(1)))): no ReLU or softmax after fc2")


@accuracy
@task("LeNet")
def test_cnn_beats_same_budget_mlp_on_shapes(topic, seed, device):
    torch.manual_seed(seed)
    X, y = shape_images(1500, seed=seed)  # (1500, 1, 28, 28): ten shapes, anywhere in the frame
    X_test, y_test = shape_images(1000, seed=seed, split="test")
    mean, std = X.mean(), X.std()
    X, X_test = ((X - mean) / std).to(device), ((X_test - mean) / std).to(device)
    y, y_test = y.to(device), y_test.to(device)
    with calling(LENET):
        cnn = topic.LeNet(channels=(6, 16), hidden=32, padding=0).to(device)
    budget = sum(p.numel() for p in cnn.parameters())
    mlp = topic.MLP(28 * 28, round(budget / (28 * 28 + 1 + 10))).to(device)  # about as many parameters
    assert abs(sum(p.numel() for p in mlp.parameters()) - budget) < 0.05 * budget
    with calling(TRAINING):
        topic.train(cnn, X, y, epochs=4, batch_size=25, lr=4e-3)
    topic.train(mlp, X, y, epochs=4, batch_size=25, lr=4e-3)
    cnn_acc, mlp_acc = topic.accuracy(cnn, X_test, y_test), topic.accuracy(mlp, X_test, y_test)
    assert_at_least(cnn_acc, CNN_BAR, f"LeNet test accuracy on generated shapes (seed {seed}, {budget:,} parameters)",
                    chance=0.1, hint="the solution reaches 0.85-0.975 here; check conv2d, max_pool2d and LeNet's "
                                     "ReLUs, which the other tests check one by one")
    assert_at_least(cnn_acc - mlp_acc, LEAD_BAR,
                    f"LeNet's accuracy minus a same-budget MLP's (seed {seed})",
                    hint=f"LeNet reached {cnn_acc:.3f}, the MLP {mlp_acc:.3f}. With as many parameters, weight "
                         "sharing and pooling should win by far on shapes that move around the frame; the MLP "
                         "baseline is given, so look at your LeNet")

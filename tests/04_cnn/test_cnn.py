"""Hidden suite for 04 CNN: output sizes, conv2d and max-pooling against PyTorch, LeNet, CNN vs MLP.

Shape tests run on PyTorch's `meta` device (tensors with shapes and no data): they cost
nothing, and a tensor the learner's code makes on the CPU by default fails there.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import assert_at_least, assert_close, calling, check_tensor, on_meta
from kata.images import shapes as shape_images

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

# Likely causes of an exception raised inside the learner's code (shown by grader.checks.calling).
SIZE = "use integer arithmetic (//) on size, kernel_size, stride, padding and dilation: no tensors are needed"
UNFOLD = ("F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride) gives (B, C*kH*kW, L) and "
          "weight.reshape(O, -1) @ cols gives (B, O, L), to view as (B, O, H_out, W_out) with the sizes from "
          "conv_output_size: a size mismatch there usually means stride, padding or dilation did not reach F.unfold. "
          "On another device (meta, cuda), make no tensor without device=x.device; flatten the weight with reshape, "
          "not view (a channels_last weight is not contiguous)")
POOL = ("pad with F.pad(x, (p, p, p, p), value=float('-inf')); x.unfold(2, k, stride).unfold(3, k, stride) is "
        "(B, C, H_out, W_out, k, k); stride=None means stride = kernel_size. A tensor made without device=x.device "
        "stays on the CPU when x is elsewhere")
LAYER = ("Conv2d keeps weight (O, C, k, k) and bias (O,) (or None) as nn.Parameters, and its forward calls your "
         "conv2d with them and the layer's stride, padding and dilation")
LENET = ("features = pool(relu(conv2(pool(relu(conv1(x)))))); forward flattens it per image (flatten(1)) before fc1: "
         "size fc1's input from image_size, padding and channels with conv_output_size")
TRAINING = ("an error while training comes from your layers: run their shape tests first, "
            "`uv run pytest exercises/04_cnn -m shapes`")
DEVICE = ("a tensor made without device=x.device (torch.zeros, torch.full, torch.tensor) lands on the CPU, and the "
          "input cannot be copied into it (nor combined with it) on another device: pad with F.pad, make new tensors "
          "from the input (torch.zeros_like(x)) or pass device=x.device")
IN_PLACE = ("an in-place operation on the input (x -= ..., add_, clamp_, x[...] = ...): no task here promises to work "
            "in place, and the caller still needs x, so compute into new tensors (x = x - shift, F.pad)")


def check_unchanged(call: str, before: torch.Tensor, x: torch.Tensor) -> None:
    """x still holds the values it held before `call` (against a clone taken before)."""
    __tracebackhide__ = True
    assert_close(x, before, f"x after {call}, against a copy taken before the call", atol=0, rtol=0,
                 hint=f"{call} changed its input x: {IN_PLACE}")


def _result(value, name: str, like: torch.Tensor, shape, hint: str = "") -> torch.Tensor:
    """`value` must be a tensor of this shape, on `like`'s device and in its dtype (check_tensor's messages)."""
    __tracebackhide__ = True
    check_tensor(value, name, shape=shape, dtype=like.dtype,
                 hint=hint or "compute in the input's dtype: make no tensor with a fixed dtype, and do not call "
                              ".float() or .double()")
    return check_tensor(value, name, device=like.device, hint=DEVICE)

# LeNet's test accuracy on shapes, and its lead over the same-budget MLP (NOTES.md: measured
# 0.910-0.991 and 0.390-0.566 on seeds 0-29; chance is 0.1, the MLP reaches 0.40-0.53).
CNN_BAR, LEAD_BAR = 0.8, 0.3

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
    # On the meta device (shapes, no data): a tensor made on the CPU by default fails here at no cost.
    for B, C, O, H, W, kH, kW, stride, padding, dilation, bias in _conv_cases()[:7]:
        x, weight = torch.randn(B, C, H, W, device="meta"), torch.randn(O, C, kH, kW, device="meta")
        b = torch.randn(O, device="meta") if bias else None
        expected = F.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation).shape
        name = (f"conv2d(x {tuple(x.shape)}, weight {tuple(weight.shape)}, bias={'yes' if bias else 'None'}, "
                f"stride={stride}, padding={padding}, dilation={dilation})")
        with on_meta(name, hint=DEVICE) as meta, calling(UNFOLD):
            out = topic.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation)
        if meta.ran:
            _result(out, f"{name} on the meta device", x, expected,
                    hint="the output is (B, O, H_out, W_out), with H_out and W_out from conv_output_size; "
                         "pass stride, padding and dilation on to F.unfold")
    for dtype in (torch.float64, torch.float32):
        x = torch.randn(2, 3, 6, 6, dtype=dtype, device="meta")
        with on_meta(f"conv2d of {dtype} inputs (bias=None)", hint=DEVICE) as meta, calling(UNFOLD):
            out = topic.conv2d(x, torch.randn(4, 3, 3, 3, dtype=dtype, device="meta"))
        if meta.ran:
            _result(out, f"conv2d of {dtype} inputs (bias=None)", x, (2, 4, 4, 4),
                    hint="do not create tensors with a fixed dtype or device: derive them from the inputs")


@gradients
@task("conv2d")
def test_conv2d_equals_torch_with_gradients(topic):
    cases = [(case, False) for case in _conv_cases()]
    # A layer converted with .to(memory_format=torch.channels_last) hands conv2d tensors that are not
    # contiguous: view() cannot flatten them, reshape() can.
    cases += [((2, 3, 4, 7, 7, 3, 3, 1, 1, 1, True), True), ((1, 4, 2, 6, 9, 2, 3, 2, 0, 1, False), True)]
    for (B, C, O, H, W, kH, kW, stride, padding, dilation, bias), channels_last in cases:
        name = (f"conv2d(x {(B, C, H, W)}, weight {(O, C, kH, kW)}, bias={'yes' if bias else 'None'}, "
                f"stride={stride}, padding={padding}, dilation={dilation})")
        x = torch.randn(B, C, H, W, dtype=torch.float64)
        weight = torch.randn(O, C, kH, kW, dtype=torch.float64)
        if channels_last:
            name += ", x and weight in channels_last memory format"
            x, weight = (t.to(memory_format=torch.channels_last) for t in (x, weight))
        x, weight = x.requires_grad_(), weight.requires_grad_()
        b = torch.randn(O, dtype=torch.float64, requires_grad=True) if bias else None
        inputs = (x, weight) + ((b,) if bias else ())
        expected = F.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation)
        with calling(UNFOLD):
            out = topic.conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation)
        _result(out, name, x, expected.shape)
        assert_close(out, expected, name, atol=1e-10,
                     hint="PyTorch's conv2d is a cross-correlation: out[o, i, j] = sum over c, u, v of "
                          "weight[o, c, u, v] * x[c, i*stride + u*dilation - padding, "
                          "j*stride + v*dilation - padding], with no kernel flip. Check that stride, padding and "
                          "dilation each reach F.unfold, and that the bias is added once per output channel")
        upstream = torch.randn_like(expected)
        want = torch.autograd.grad(expected, inputs, upstream)
        got = torch.autograd.grad(out, inputs, upstream, allow_unused=True)
        for label, g_got, g_want in zip(("x", "weight", "bias"), got, want):
            assert g_got is not None, (
                f"{name}: no gradient reaches the {label}. Likely cause: a detach() or a new tensor")
            assert_close(g_got, g_want, f"d out / d {label} of {name}", atol=1e-10,
                         hint="build the output from differentiable torch operations only (unfold, matmul, view)")


@shapes
@task("max_pool2d")
def test_max_pool_output_shapes(topic):
    for B, C, H, W, k, stride, padding in _pool_cases()[:5]:
        x = torch.randn(B, C, H, W, device="meta")  # shapes only: a tensor made on the CPU fails here
        expected = F.max_pool2d(x, k, stride, padding).shape
        name = f"max_pool2d(x {tuple(x.shape)}, {k}, stride={stride}, padding={padding})"
        with on_meta(name, hint=DEVICE) as meta, calling(POOL):
            out = topic.max_pool2d(x, k, stride=stride, padding=padding)
        if meta.ran:
            _result(out, f"{name} on the meta device", x, expected,
                    hint="pooling keeps the channels: (B, C, H_out, W_out); stride=None means stride = kernel_size")
    for dtype in (torch.float64, torch.float32):
        x = torch.randn(2, 3, 7, 7, dtype=dtype, device="meta")
        with on_meta(f"max_pool2d of {dtype} inputs, padding=1", hint=DEVICE) as meta, calling(POOL):
            out = topic.max_pool2d(x, 3, stride=2, padding=1)
        if meta.ran:
            _result(out, f"max_pool2d of {dtype} inputs, padding=1", x, (2, 3, 4, 4),
                    hint="pad in the input's dtype and on its device: F.pad(x, ..., value=float('-inf')) does both")


@gradients
@task("max_pool2d")
def test_max_pool_equals_torch_with_gradients(topic):
    for B, C, H, W, k, stride, padding in _pool_cases():
        name = f"max_pool2d(x {(B, C, H, W)}, {k}, stride={stride}, padding={padding})"
        x = torch.randn(B, C, H, W, dtype=torch.float64) - 1.5  # mostly negative values
        before = x.clone()
        with calling(POOL):
            topic.max_pool2d(x, k, stride=stride, padding=padding)
        check_unchanged(name, before, x)  # an input that requires no grad: an in-place write would not raise
        x.requires_grad_()
        expected = F.max_pool2d(x, k, stride, padding)
        with calling(POOL):
            out = topic.max_pool2d(x, k, stride=stride, padding=padding)
        _result(out, name, x, expected.shape)
        assert_close(out, expected, name, atol=1e-12,
                     hint="take the max (not the mean) of each window, per channel; pad with -inf, because "
                          "zero padding wins the max wherever the inputs are negative; windows start every "
                          "`stride` pixels")
        upstream = torch.randn_like(expected)
        (want,) = torch.autograd.grad(expected, x, upstream)
        (got,) = torch.autograd.grad(out, x, upstream)
        assert_close(got, want, f"d out / d x of {name}", atol=1e-12,
                     hint="the gradient goes only to the largest element of each window (these inputs have no "
                          "ties): use amax over the window's two dimensions, not a mean or a sort")


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
    with torch.device("meta"), calling(LAYER):  # shapes only
        layer = topic.Conv2d(3, 8, 5, padding=2)
    # Called outside torch.device("meta"), where a tensor made without device= lands on the CPU and shows.
    x = torch.randn(2, 3, 10, 12, device="meta")
    with on_meta("Conv2d(3, 8, 5, padding=2) on x (2, 3, 10, 12)", hint=DEVICE) as meta, calling(LAYER):
        out = layer(x)
    if meta.ran:
        _result(out, "Conv2d(3, 8, 5, padding=2) on x (2, 3, 10, 12), on the meta device", x, (2, 8, 10, 12),
                hint="forward must pass the layer's stride, padding and dilation to conv2d")


@shapes
@task("Conv2d")
def test_conv_layer_initialisation_is_nn_conv2d_default(topic):
    # nn.Conv2d's default (kaiming_uniform_ with a = sqrt(5)) is uniform in ±1/sqrt(fan_in) for the weight
    # and the bias alike. A uniform in ±bound reaches close to the bound and has a std of bound/sqrt(3); a
    # normal of that std, or He's uniform (bound sqrt(6/fan_in)), does not.
    torch.manual_seed(0)
    C, O, k = 16, 256, 3
    with calling(LAYER):
        layer = topic.Conv2d(C, O, k)
    fan_in = C * k * k
    bound = 1 / fan_in**0.5
    for label, value, near in (("weight", layer.weight, 0.99), ("bias", layer.bias, 0.9)):
        shape = (O, C, k, k) if label == "weight" else (O,)
        value = check_tensor(value, f"Conv2d({C}, {O}, {k}).{label}", shape=shape, dtype=torch.float32,
                             hint="nn.Parameter(torch.empty(...).uniform_(-bound, bound))").detach()
        largest, std = value.abs().max().item(), value.std().item()
        assert near * bound <= largest <= bound * (1 + 1e-6), (
            f"Conv2d({C}, {O}, {k}): the initial {label}'s largest magnitude is {largest:.4f}; a uniform in "
            f"±1/sqrt(C*k*k) = ±{bound:.4f} (nn.Conv2d's default) reaches between {near * bound:.4f} and {bound:.4f} "
            f"with {value.numel()} values.\nLikely cause: "
            + ("zeros, or" if label == "bias" else "torch.randn, He's kaiming_uniform_ (±sqrt(6/fan_in)), or")
            + " a bound other than 1/sqrt(C*k*k)"
        )
        tolerance = 0.03 if label == "weight" else 0.15
        assert abs(std * 3**0.5 / bound - 1) < tolerance, (
            f"Conv2d({C}, {O}, {k}): the initial {label} has a standard deviation of {std:.4f}; uniform in "
            f"±{bound:.4f} gives {bound / 3**0.5:.4f}. Likely cause: a normal distribution or another bound"
        )


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
        before = x.clone()
        name = f"Conv2d(3, 4, 3, {kwargs}) against nn.Conv2d with the same weights"
        with calling(LAYER):
            out = layer(x)
        check_unchanged(f"Conv2d(3, 4, 3, {kwargs})(x)", before, x)
        _result(out, name, x, reference(x).shape)
        assert_close(out, reference(x), name, atol=1e-10,
                     hint="forward must call conv2d with self.stride, self.padding and self.dilation")


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
        size = 20 // stride
        _result(out, f"Conv2d(2, 3, 3, stride={stride}, padding=1) on x (1, 2, 20, 20)", x, (1, 3, size, size))
        _result(out_shifted, f"Conv2d(2, 3, 3, stride={stride}, padding=1) on x shifted", x, (1, 3, size, size))
        (dr, dc), m = out_shift, 2  # m: a margin away from the wrapped border
        h, w = out.shape[-2:]
        assert_close(out_shifted[..., dr + m:h - m, dc + m:w - m], out[..., m:h - m - dr, m:w - m - dc],
                     f"Conv2d(stride={stride}) on the image shifted by {shift}, against its output shifted by "
                     f"{out_shift}",
                     atol=1e-10, hint="each output position must apply the same filter to its own receptive field; "
                                      "a stride-s layer moves by one output pixel per s input pixels")


@shapes
@task("LeNet")
def test_lenet_shapes_and_size(topic):
    with torch.device("meta"), calling(LENET):  # shapes and counts only
        model = topic.LeNet()
    # Called outside torch.device("meta"), where a tensor made without device= lands on the CPU and shows.
    x = torch.rand(4, 1, 28, 28, device="meta")
    with on_meta("LeNet()(x) for x (4, 1, 28, 28)", hint=DEVICE) as meta, calling(LENET):
        features, logits = model.features(x), model(x)
    if meta.ran:
        _result(features, "LeNet().features(x) for x (4, 1, 28, 28)", x, (4, 16, 5, 5),
                hint="28 -conv1 (5x5, padding 2)-> 28 -pool-> 14 -conv2 (5x5)-> 10 -pool-> 5; "
                     "both 2x2 max-pools are needed")
        _result(logits, "LeNet()(x) for x (4, 1, 28, 28)", x, (4, 10),
                hint="flatten the features per image with flatten(1), then fc1 and fc2")
    count = sum(p.numel() for p in model.parameters())
    assert count == 37106, (
        f"LeNet() should have 37,106 parameters (conv1 156, conv2 2,416, fc1 400*84+84, fc2 84*10+10), got {count:,}. "
        "Likely cause: a different kernel size, channel count or hidden size, or fc1's input size"
    )
    assert isinstance(model.conv1, topic.Conv2d) and isinstance(model.conv2, topic.Conv2d), (
        "LeNet's conv1 and conv2 should be your Conv2d layers (not nn.Conv2d): this topic is about building them"
    )
    with torch.device("meta"), calling(LENET):
        colour = topic.LeNet(3, 10, image_size=32)
    x = torch.rand(2, 3, 32, 32, device="meta")
    with on_meta("LeNet(3, 10, image_size=32)(x (2, 3, 32, 32))", hint=DEVICE) as meta, calling(LENET):
        features, logits = colour.features(x), colour(x)
    if meta.ran:
        _result(features, "LeNet(3, 10, image_size=32).features(x (2, 3, 32, 32))", x, (2, 16, 6, 6),
                hint="size fc1 from image_size with conv_output_size, not a fixed 16*5*5")
        _result(logits, "LeNet(3, 10, image_size=32)(x (2, 3, 32, 32))", x, (2, 10))


@shapes
@task("LeNet")
def test_lenet_uses_every_argument(topic):
    # Every keyword argument away from its default at once, each with its own visible effect:
    # 20 -conv1 (padding 1)-> 18 -pool-> 9 -conv2-> 5 -pool-> 2, so fc1 takes 5 * 2 * 2 = 20 inputs.
    # A dtype of its own too: the layers must follow .double().
    kwargs = dict(image_size=20, channels=(3, 5), hidden_size=11, padding=1)
    call = "LeNet(2, 7, image_size=20, channels=(3, 5), hidden_size=11, padding=1)"
    with torch.device("meta"), calling(LENET):
        model = topic.LeNet(2, 7, **kwargs).double()
    x = torch.rand(3, 2, 20, 20, dtype=torch.float64, device="meta")
    with on_meta(f"{call}(x (3, 2, 20, 20))", hint=DEVICE) as meta, calling(LENET):
        features, logits = model.features(x), model(x)
    expected = {"conv1.weight": (3, 2, 5, 5), "conv1.bias": (3,), "conv2.weight": (5, 3, 5, 5), "conv2.bias": (5,),
                "fc1.weight": (11, 20), "fc1.bias": (11,), "fc2.weight": (7, 11), "fc2.bias": (7,)}
    got = {k: tuple(v.shape) for k, v in model.named_parameters()}
    assert got == expected, (
        f"{call}: expected the parameters {expected}, got {got}.\nLikely cause: an argument left out: in_channels "
        "and channels size conv1 and conv2, hidden_size fc1 and fc2, num_classes fc2, and fc1's input follows "
        "image_size, padding and channels[1]"
    )
    if meta.ran:
        _result(features, f"{call}.features(x (3, 2, 20, 20))", x, (3, 5, 2, 2),
                hint="conv1 takes the `padding` argument (20 + 2*1 - 4 = 18 -> 9 -> 5 -> 2); conv2 has none")
        _result(logits, f"{call}(x (3, 2, 20, 20))", x, (3, 7), hint="fc2 has num_classes outputs")
    # padding=0 is a value, not "not given": 28 -conv1-> 24 -pool-> 12 -conv2-> 8 -pool-> 4, fc1 takes 16 * 4 * 4.
    with torch.device("meta"), calling(LENET):
        unpadded = topic.LeNet(padding=0)
    got = {k: tuple(v.shape) for k, v in unpadded.named_parameters() if k.startswith("fc1")}
    assert got == {"fc1.weight": (84, 256), "fc1.bias": (84,)}, (
        f"LeNet(padding=0): expected fc1 of 16*4*4 = 256 inputs (28 -> 24 -> 12 -> 8 -> 4), got {got}.\nLikely cause: "
        "padding=0 read as 'not given' (`padding or 2`, `if padding:`): 0 is a value, use it as it is")
    x = torch.rand(2, 1, 28, 28, device="meta")
    with on_meta("LeNet(padding=0).features(x (2, 1, 28, 28))", hint=DEVICE) as meta, calling(LENET):
        features = unpadded.features(x)
    if meta.ran:
        _result(features, "LeNet(padding=0).features(x (2, 1, 28, 28))", x, (2, 16, 4, 4),
                hint="conv1 without padding: 28 - 4 = 24 -> 12 -> 8 -> 4")


@gradients
@task("LeNet")
def test_lenet_is_conv_relu_pool_twice_then_mlp(topic):
    torch.manual_seed(0)
    with calling(LENET):
        model = topic.LeNet(2, 5, image_size=24, channels=(4, 8), hidden_size=16, padding=1).double()
    x = torch.rand(3, 2, 24, 24, dtype=torch.float64)
    before = x.clone()
    p = model.state_dict()
    h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"])), 2)  # (3, 8, 3, 3)
    with calling(LENET):
        features = model.features(x)
    name = "LeNet(2, 5, image_size=24, channels=(4, 8), hidden_size=16, padding=1)"
    _result(features, f"{name}.features(x)", x, h.shape)
    assert_close(features, h, f"{name}.features(x) against conv, ReLU, max-pool twice with the same weights",
                 atol=1e-10, hint="features = pool(relu(conv2(pool(relu(conv1(x)))))), 2x2 pools with stride 2, "
                                  "conv1 padded by `padding`")
    logits = F.linear(F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"])
    with calling(LENET):
        out = model(x)
    check_unchanged(f"{name}.features(x) and {name}(x)", before, x)
    _result(out, f"{name}(x)", x, logits.shape)
    assert_close(out, logits, f"{name}(x) against the same layers built from torch.nn.functional", atol=1e-10,
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
        cnn = topic.LeNet(channels=(6, 16), hidden_size=32, padding=0).to(device)
        logits = cnn(X[:2])
    _result(logits, "LeNet(channels=(6, 16), hidden_size=32, padding=0)(x (2, 1, 28, 28))", X, (2, 10))
    budget = sum(p.numel() for p in cnn.parameters())
    mlp = topic.MLP(28 * 28, round(budget / (28 * 28 + 1 + 10))).to(device)  # about as many parameters
    assert abs(sum(p.numel() for p in mlp.parameters()) - budget) < 0.05 * budget
    with calling(TRAINING):
        topic.train(cnn, X, y, epochs=4, batch_size=25, lr=8e-3, seed=seed)  # one-cycle up to 8e-3
    topic.train(mlp, X, y, epochs=4, batch_size=25, lr=8e-3, seed=seed)
    cnn_acc, mlp_acc = topic.accuracy(cnn, X_test, y_test), topic.accuracy(mlp, X_test, y_test)
    assert_at_least(cnn_acc, CNN_BAR, "LeNet test accuracy on generated shapes", chance=0.1,
                    hint=f"with {budget:,} parameters, the solution reaches 0.91-0.99 here; check conv2d, max_pool2d "
                         "and LeNet's ReLUs, which the other tests check one by one")
    assert_at_least(cnn_acc - mlp_acc, LEAD_BAR, "LeNet's accuracy minus a same-budget MLP's",
                    hint=f"LeNet reached {cnn_acc:.3f}, the MLP {mlp_acc:.3f}. With as many parameters, weight "
                         "sharing and pooling should win by far on shapes that move around the frame; the MLP "
                         "baseline is given, so look at your LeNet")

"""Hidden suite for 06 ResNet: shapes, equivalence with torchvision, gradient flow, accuracy.

torchvision is imported inside the tests that compare with it, never at the top:
a learner's first failures should not wait for it. Full-size networks are built on
the `meta` device (no memory, no initialisation) and given random weights straight
from a state dict, which is much faster than building them on the CPU.
"""

import copy

import pytest
import torch
from torch import nn

from grader.checks import assert_at_least, assert_at_most, assert_close, check_tensor
from kata.images import shapes as shape_images

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

PARAMETERS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}


def random_state(reference: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state dict for `reference`'s keys and shapes, every entry random.

    BatchNorm's running statistics and affine parameters too: with the defaults
    (mean 0, var 1, weight 1, bias 0) BatchNorm in eval mode is the identity, and a
    network that skips one, or swaps two, would still match.
    """
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in reference.state_dict().items():
        shape = value.shape
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_mean"):
            state[key] = 0.2 * torch.randn(shape, generator=g)
        elif key.endswith("running_var"):
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif value.dim() > 1:  # conv or linear weight, scaled so activations keep their size
            state[key] = torch.randn(shape, generator=g) * (2 / shape[1:].numel()) ** 0.5
        elif key.endswith("weight"):  # BatchNorm's scale
            state[key] = 0.3 + 0.7 * torch.rand(shape, generator=g)
        else:  # BatchNorm's shift, the classifier's bias
            state[key] = 0.2 * torch.randn(shape, generator=g)
    return state


def load_strict(model: nn.Module, state: dict, name: str) -> None:
    """load_state_dict(strict=True), with the learner-facing message when keys or shapes differ."""
    __tracebackhide__ = True
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise AssertionError(
            f"{name}: torchvision's state dict does not load with strict=True.\n{str(exc)[:1500]}\n"
            "Likely cause: a module named differently from torchvision (conv1, bn1, relu, maxpool, layer1-4, "
            "avgpool, fc; in blocks conv1, bn1, conv2, bn2[, conv3, bn3], downsample.0 and downsample.1), "
            "a missing or extra layer, or the wrong channel count somewhere"
        ) from None


def compare_with_torchvision(topic, name: str, hint: str) -> None:
    __tracebackhide__ = True
    import torchvision.models

    with torch.device("meta"):  # no memory, no initialisation: the state dict brings the weights
        reference = getattr(torchvision.models, name)()
        ours = getattr(topic, name)()
    state = random_state(reference, seed=6)
    reference.load_state_dict(state, strict=True, assign=True)
    load_strict(ours, state, f"{name}() of your file")
    reference.eval()
    ours.eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))  # (B, C, H, W)
    with torch.no_grad():
        expected = reference(x)  # (2, 1000)
        got = ours(x)
    scale = expected.abs().max().item()
    assert_close(got, expected, f"{name}() logits on a (2, 3, 64, 64) input, eval mode, random weights",
                 atol=1e-4 * scale, rtol=1e-4, hint=hint)


def downsample(inplanes: int, out_channels: int, stride: int) -> nn.Sequential:
    """The projection shortcut, as _make_layer builds it."""
    return nn.Sequential(nn.Conv2d(inplanes, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))


def compare_block(topic, name: str, inplanes: int, planes: int, stride: int, with_downsample: bool, hint: str):
    __tracebackhide__ = True
    from torchvision.models import resnet as tv

    expansion = getattr(tv, name).expansion
    proj = downsample(inplanes, planes * expansion, stride) if with_downsample else None
    reference = getattr(tv, name)(inplanes, planes, stride, copy.deepcopy(proj))
    ours = getattr(topic, name)(inplanes, planes, stride, copy.deepcopy(proj))
    state = random_state(reference, seed=inplanes + planes + stride)
    reference.load_state_dict(state)
    where = f"{name}({inplanes}, {planes}, stride={stride}, downsample={'a projection' if proj else 'None'})"
    load_strict(ours, state, where)
    reference.eval()
    ours.eval()
    x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(planes))  # (B, C, H, W)
    with torch.no_grad():
        expected = reference(x)
        got = ours(x.clone())  # a clone: an in-place ReLU on the input must not change the reference's input
    assert_close(got, expected, f"{where} output, eval mode, random weights and BatchNorm statistics",
                 atol=1e-5, rtol=1e-4, hint=hint)


# ------------------------------------------------------------------ BasicBlock
@shapes
@task("BasicBlock")
def test_basic_block_shapes(topic):
    assert topic.BasicBlock.expansion == 1, (
        f"BasicBlock.expansion: expected 1 (its output has `planes` channels), got {topic.BasicBlock.expansion}")
    x = torch.randn(2, 8, 10, 10)  # (B, C, H, W)
    check_tensor(topic.BasicBlock(8, 8)(x), "BasicBlock(8, 8) on (2, 8, 10, 10)", shape=(2, 8, 10, 10),
                 hint="both 3x3 convolutions need padding=1 to keep H and W; the output has `planes` channels")
    block = topic.BasicBlock(8, 16, stride=2, downsample=downsample(8, 16, 2))
    check_tensor(block(x), "BasicBlock(8, 16, stride=2, downsample=conv1x1 + BN) on (2, 8, 10, 10)",
                 shape=(2, 16, 5, 5),
                 hint="the stride goes on conv1; the shortcut is downsample(x) when downsample is given")


@gradients
@task("BasicBlock")
def test_basic_block_matches_torchvision(topic):
    hint = ("relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut): the ReLU comes after the addition, not before; "
            "the shortcut is x itself, or downsample(x) when given; BatchNorm after each convolution")
    compare_block(topic, "BasicBlock", 16, 16, 1, False, hint)
    compare_block(topic, "BasicBlock", 8, 16, 2, True, hint)


# ------------------------------------------------------------------ Bottleneck
@shapes
@task("Bottleneck")
def test_bottleneck_shapes(topic):
    assert topic.Bottleneck.expansion == 4, (
        f"Bottleneck.expansion: expected 4 (the last 1x1 convolution widens to 4 * planes), "
        f"got {topic.Bottleneck.expansion}")
    x = torch.randn(2, 16, 10, 10)  # (B, C, H, W)
    check_tensor(topic.Bottleneck(16, 4)(x), "Bottleneck(16, 4) on (2, 16, 10, 10)", shape=(2, 16, 10, 10),
                 hint="1x1 down to planes, 3x3 (padding 1) on planes, 1x1 up to planes * expansion channels")
    block = topic.Bottleneck(16, 8, stride=2, downsample=downsample(16, 32, 2))
    check_tensor(block(x), "Bottleneck(16, 8, stride=2, downsample=conv1x1 + BN) on (2, 16, 10, 10)",
                 shape=(2, 32, 5, 5), hint="the output has planes * 4 channels and H / stride, W / stride")


@gradients
@task("Bottleneck")
def test_bottleneck_matches_torchvision(topic):
    hint = ("ResNet v1.5 puts the stride on the 3x3 convolution (conv2), not on the first 1x1; BatchNorm after "
            "every convolution, ReLU after the first two and after the addition of the shortcut")
    compare_block(topic, "Bottleneck", 32, 8, 1, False, hint)
    compare_block(topic, "Bottleneck", 16, 8, 2, True, hint)


# ------------------------------------------------------------------ ResNet
@shapes
@task("ResNet")
def test_small_resnets_give_logits(topic):
    model = topic.ResNet(topic.BasicBlock, [1, 1, 1, 1], 10, in_channels=1, width=8, small_input=True)
    check_tensor(model(torch.rand(3, 1, 16, 16)), "ResNet(BasicBlock, [1, 1, 1, 1], 10, in_channels=1, width=8, "
                 "small_input=True) on (3, 1, 16, 16)", shape=(3, 10),
                 hint="small_input: a 3x3 stride-1 conv1 and no max-pooling; avgpool then flatten(x, 1) before fc")
    model = topic.ResNet(topic.Bottleneck, [1, 2, 1, 1], 7, width=4)
    check_tensor(model(torch.rand(2, 3, 32, 32)), "ResNet(Bottleneck, [1, 2, 1, 1], 7, width=4) on (2, 3, 32, 32)",
                 shape=(2, 7), hint="fc takes width * 8 * block.expansion features; stage k has width * 2^(k-1) planes")


@shapes
@task("ResNet")
def test_parameter_counts(topic):
    for name, expected in PARAMETERS.items():
        with torch.device("meta"):  # shapes only: building resnet50 for real costs a second
            model = getattr(topic, name)()
        count = sum(p.numel() for p in model.parameters())
        assert count == expected, (
            f"{name}(): expected {expected:,} parameters (as torchvision), got {count:,} "
            f"({count - expected:+,}).\nLikely cause: a projection shortcut missing or without its BatchNorm, a "
            "convolution with a bias, the wrong expansion, or the wrong number of blocks per stage")


@shapes
@task("ResNet")
def test_state_dict_keys_match_torchvision(topic):
    import torchvision.models

    for name in ("resnet18", "resnet50"):
        with torch.device("meta"):
            reference = getattr(torchvision.models, name)().state_dict()
            ours = getattr(topic, name)().state_dict()
        missing = [k for k in reference if k not in ours]
        extra = [k for k in ours if k not in reference]
        assert not missing and not extra, (
            f"{name}() state dict keys differ from torchvision's: missing {missing[:6]}, unexpected {extra[:6]}.\n"
            "Likely cause: module names (conv1, bn1, layer1-4, fc; blocks' conv1..conv3, bn1..bn3, "
            "downsample.0/.1) or a downsample missing where only the channel count changes (resnet50's layer1)")
        wrong = [(k, tuple(ours[k].shape), tuple(v.shape)) for k, v in reference.items() if ours[k].shape != v.shape]
        assert not wrong, (f"{name}(): shapes differ from torchvision's (key, yours, torchvision's): {wrong[:4]}."
                           "\nLikely cause: a wrong width or expansion, or a 3x3 where a 1x1 belongs")


@gradients
@task("ResNet")
def test_resnet18_matches_torchvision(topic):
    compare_with_torchvision(topic, "resnet18", hint=(
        "the stem is conv1 (7x7, stride 2, padding 3), bn1, relu, maxpool (3x3, stride 2, padding 1); then "
        "layer1-4, avgpool, flatten, fc. Check each block's ReLU (after the addition) and the skip itself"))


@gradients
@task("ResNet")
def test_resnet50_matches_torchvision(topic):
    compare_with_torchvision(topic, "resnet50", hint=(
        "ResNet v1.5: the Bottleneck's stride belongs on conv2 (the 3x3), not conv1; a stride-2 1x1 has the same "
        "weights, so the state dict loads, but it computes something else"))


@gradients
@task("ResNet")
def test_zero_init_residual_makes_blocks_identities(topic):
    for block, last in ((topic.BasicBlock, "bn2"), (topic.Bottleneck, "bn3")):
        name = f"ResNet({block.__name__}, [2, 1, 1, 1], width=4, zero_init_residual"
        model = topic.ResNet(block, [2, 1, 1, 1], 10, width=4, small_input=True)
        for key, value in model.state_dict().items():
            if key.endswith(f"{last}.weight"):
                assert (value == 1).all(), (
                    f"{name}=False): {key} should start at 1 (BatchNorm starts as the identity); got "
                    f"{value.flatten()[:4].tolist()}. Likely cause: zeroing without checking zero_init_residual")
        model = topic.ResNet(block, [2, 1, 1, 1], 10, width=4, small_input=True, zero_init_residual=True).eval()
        for key, value in model.state_dict().items():
            if key.endswith(f"{last}.weight"):
                assert (value == 0).all(), (
                    f"{name}=True): {key} should start at 0, so the block starts as the identity; got "
                    f"{value.flatten()[:4].tolist()}. Likely cause: zeroing a different BatchNorm than the "
                    f"block's last one ({last})")
        x = torch.rand(2, 4 * block.expansion, 6, 6)  # non-negative, as after a ReLU
        with torch.no_grad():
            got = model.layer1[1](x.clone())  # the second block of layer1 has an identity shortcut
        assert_close(got, x, f"{name}=True): layer1[1](x) for x >= 0 at initialisation", hint=(
            f"with the last BatchNorm's weight at 0 the branch outputs 0, so relu(0 + x) = x; "
            f"zero {last}.weight of every {block.__name__}"))


# ------------------------------------------------------------------ MLPStack: why the skips matter
@shapes
@task("MLPStack")
def test_mlp_stack_shapes(topic):
    for residual in (True, False):
        model = topic.MLPStack(5, 16, 3, 4, residual=residual)
        check_tensor(model(torch.randn(7, 5)), f"MLPStack(5, 16, num_layers=3, 4, residual={residual}) on (7, 5)",
                     shape=(7, 4), hint="each hidden layer maps (N, hidden_size) to (N, hidden_size); return self.output(h)")


@gradients
@task("MLPStack")
def test_mlp_stack_computes_the_update(topic):
    torch.manual_seed(0)
    X = torch.randn(6, 5)
    for residual in (True, False):
        model = topic.MLPStack(5, 8, 3, 2, residual=residual)
        with torch.no_grad():
            h = torch.tanh(model.input(X))
            for layer in model.hidden:
                update = torch.tanh(layer(h))
                h = h + update if residual else update
            expected = model.output(h)
            got = model(X)
        assert_close(got, expected, f"MLPStack(5, 8, num_layers=3, 2, residual={residual}) logits", hint=(
            "a hidden layer computes h + tanh(layer(h)) with residual=True and tanh(layer(h)) with residual=False; "
            "the tanh goes on the layer's output, before the addition"))


@gradients
@task("MLPStack")
def test_skips_keep_the_first_layer_gradient(topic):
    for seed in range(3):
        torch.manual_seed(seed)
        X, y = torch.randn(128, 16), torch.randint(0, 4, (128,))
        norms = {}
        for residual in (False, True):
            model = topic.MLPStack(16, 32, 20, 4, residual=residual)
            nn.functional.cross_entropy(model(X), y).backward()
            check_tensor(model.input.weight.grad, "the first layer's gradient",
                         hint="the input layer must take part in the forward pass")
            norms[residual] = model.input.weight.grad.norm().item()
        # measured over seeds 0-9: plain 5e-7 to 4e-6, residual 0.8 to 1.8
        assert_at_least(norms[True], 0.1, f"first-layer gradient norm, residual tanh MLP of depth 20 (seed {seed})",
                        hint="with h = h + tanh(layer(h)) the gradient reaches the first layer through the "
                             "identity path; without the `h +` it shrinks at every layer")
        assert_at_most(norms[False], 1e-3, f"first-layer gradient norm, plain tanh MLP of depth 20 (seed {seed})",
                       hint="residual=False must be a plain stack, h = tanh(layer(h)), with no skip")


# ------------------------------------------------------------------ training
@accuracy
@task("train_step")
def test_small_resnet_learns_shapes(topic, seed, device):
    torch.manual_seed(seed)
    X, y = (t.to(device) for t in shape_images(1000, image_size=16, channels=1, seed=seed))  # (1000, 1, 16, 16), (1000,)
    X_test, y_test = (t.to(device) for t in shape_images(500, image_size=16, channels=1, seed=seed, split="test"))
    model = topic.ResNet(topic.BasicBlock, [1, 1, 1, 1], 10, in_channels=1, width=8, small_input=True).to(device)
    losses = topic.train(model, X, y, epochs=6, lr=1e-2, batch_size=32, seed=seed)
    assert isinstance(losses, list) and len(losses) == 6, f"train(epochs=6) should return 6 losses, got {losses!r:.200}"
    assert losses[-1] < losses[0], f"the loss should fall during training: first {losses[0]:.4f}, last {losses[-1]:.4f}"
    model.eval()
    with torch.no_grad():
        acc = (model(X_test).argmax(1) == y_test).float().mean().item()
    assert_at_least(acc, 0.85, f"test accuracy of a 10-layer ResNet on 16x16 shapes after 6 epochs (seed {seed})",
                    chance=0.1, hint="check each step of train_step() (zero_grad, cross-entropy on logits, backward, "
                                     "step) and the blocks; the solution reaches 0.92-0.98")

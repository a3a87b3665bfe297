"""Hidden suite for 06 ResNet: shapes, equivalence with torchvision, gradient flow, accuracy.

torchvision is imported inside the tests that compare with it, never at the top:
a learner's first failures should not wait for it. Full-size networks are built on
the `meta` device (no memory, no initialisation) and given random weights straight
from a state dict, which is much faster than building them on the CPU. The shape
tests also run each module on the `meta` device and in float64: a tensor made
without `device=` (on the CPU by default) or a cast to float32 fails there at no cost.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import assert_at_least, assert_at_most, assert_close, check_follows_the_input, check_tensor
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
    check_tensor(got, f"{name}() logits on a (2, 3, 64, 64) float32 input", shape=(2, 1000), dtype=torch.float32,
                 hint="the logits keep the input's dtype: no .double() or .float() inside the network")
    scale = expected.abs().max().item()
    assert_close(got, expected, f"{name}() logits on a (2, 3, 64, 64) input, eval mode, random weights",
                 atol=1e-4 * scale, rtol=1e-4, hint=hint)
    compare_in_train_mode(reference, ours, x, f"{name}()", atol=1e-4 * scale)


BATCHNORM_TRAIN_HINT = (
    "in train mode a BatchNorm normalises with the batch's own statistics and updates its running ones with "
    "PyTorch's convention, running = (1 - momentum) * running + momentum * batch statistic (momentum 0.1, the "
    "unbiased variance): create nn.BatchNorm2d(channels) with its defaults and call the module (self.bn1(out)), "
    "not F.batch_norm with the running statistics, which ignores train mode")


def compare_in_train_mode(reference: nn.Module, ours: nn.Module, x: torch.Tensor, where: str, atol: float) -> None:
    """One forward pass in train mode: the same output and the same running statistics afterwards."""
    __tracebackhide__ = True
    reference.train()
    ours.train()
    with torch.no_grad():
        expected = reference(x)
        got = ours(x.clone())
    assert_close(got, expected, f"{where} output in train mode (BatchNorm uses the batch's statistics)",
                 atol=atol, rtol=1e-4, hint=BATCHNORM_TRAIN_HINT)
    buffers = dict(ours.named_buffers())
    for key, value in reference.named_buffers():
        assert key in buffers, f"{where}: no buffer {key} (torchvision's name); check the module names"
        assert_close(buffers[key], value, f"{where}: {key} after one forward pass in train mode",
                     atol=1e-5, rtol=1e-4, hint=BATCHNORM_TRAIN_HINT)


INPUT_UNCHANGED = (
    "the shortcut is x itself when there is no projection: add into a new tensor (out = out + identity, or "
    "out += identity, which changes only the branch's own tensor), never into identity or x (identity += out, "
    "x.add_(...)), which overwrites the caller's tensor")


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
    check_tensor(got, f"{where} output on a float32 input", dtype=torch.float32,
                 hint="the output keeps the input's dtype: no .double() or .float() inside the block")
    assert_close(got, expected, f"{where} output, eval mode, random weights and BatchNorm statistics",
                 atol=1e-5, rtol=1e-4, hint=hint)
    compare_in_train_mode(reference, ours, x, where, atol=1e-5)


# ------------------------------------------------------------------ BasicBlock
@shapes
@task("BasicBlock")
def test_basic_block_shapes(topic):
    assert topic.BasicBlock.expansion == 1, (
        f"BasicBlock.expansion: expected 1 (its output has `planes` channels), got {topic.BasicBlock.expansion}")
    x = torch.randn(2, 8, 10, 10)  # (B, C, H, W)
    before = x.clone()
    check_tensor(topic.BasicBlock(8, 8)(x), "BasicBlock(8, 8) on (2, 8, 10, 10)", shape=(2, 8, 10, 10),
                 hint="both 3x3 convolutions need padding=1 to keep H and W; the output has `planes` channels")
    assert_close(x, before, "the input x after BasicBlock(8, 8)(x) (a block must not change its input)", atol=0,
                 hint=INPUT_UNCHANGED)
    block = topic.BasicBlock(8, 16, stride=2, downsample=downsample(8, 16, 2))
    check_tensor(block(x), "BasicBlock(8, 16, stride=2, downsample=conv1x1 + BN) on (2, 8, 10, 10)",
                 shape=(2, 16, 5, 5), dtype=torch.float32,
                 hint="the stride goes on conv1; the shortcut is downsample(x) when downsample is given")
    check_follows_the_input(lambda: topic.BasicBlock(8, 16, stride=2, downsample=downsample(8, 16, 2)),
                            torch.randn(2, 8, 9, 9), (2, 16, 5, 5), "BasicBlock(8, 16, stride=2, downsample) on "
                            "(2, 8, 9, 9)")


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
    before = x.clone()
    check_tensor(topic.Bottleneck(16, 4)(x), "Bottleneck(16, 4) on (2, 16, 10, 10)", shape=(2, 16, 10, 10),
                 hint="1x1 down to planes, 3x3 (padding 1) on planes, 1x1 up to planes * expansion channels")
    assert_close(x, before, "the input x after Bottleneck(16, 4)(x) (a block must not change its input)", atol=0,
                 hint=INPUT_UNCHANGED)
    block = topic.Bottleneck(16, 8, stride=2, downsample=downsample(16, 32, 2))
    check_tensor(block(x), "Bottleneck(16, 8, stride=2, downsample=conv1x1 + BN) on (2, 16, 10, 10)",
                 shape=(2, 32, 5, 5), dtype=torch.float32,
                 hint="the output has planes * 4 channels and H / stride, W / stride")
    check_follows_the_input(lambda: topic.Bottleneck(16, 8, stride=2, downsample=downsample(16, 32, 2)),
                            torch.randn(2, 16, 9, 9), (2, 32, 5, 5), "Bottleneck(16, 8, stride=2, downsample) on "
                            "(2, 16, 9, 9)")


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
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    missing = [name for name in names if not isinstance(getattr(model, name, None), nn.Module)]
    assert not missing, (f"ResNet(...) should have torchvision's modules {list(names)}; missing {missing}. "
                         "Likely cause: a module named differently (maxpool is nn.Identity() with small_input)")
    x = torch.rand(2, 3, 32, 32)
    before = x.clone()
    model = topic.ResNet(topic.Bottleneck, [1, 2, 1, 1], 7, width=4)
    check_tensor(model(x), "ResNet(Bottleneck, [1, 2, 1, 1], 7, width=4) on (2, 3, 32, 32)",
                 shape=(2, 7), dtype=torch.float32,
                 hint="fc takes width * 8 * block.expansion features; stage k has width * 2^(k-1) planes")
    assert_close(x, before, "the input x after ResNet(...)(x) (the network must not change its input)", atol=0,
                 hint=INPUT_UNCHANGED)
    # One image, of an odd size: a squeeze() before fc would eat the batch dimension.
    model = topic.ResNet(topic.BasicBlock, [1, 1, 1, 1], 10, in_channels=1, width=8, small_input=True).eval()
    with torch.no_grad():
        check_tensor(model(torch.rand(1, 1, 17, 17)), "ResNet(BasicBlock, [1, 1, 1, 1], 10, in_channels=1, width=8, "
                     "small_input=True) in eval mode on one image (1, 1, 17, 17)", shape=(1, 10),
                     hint="flatten with torch.flatten(x, 1) (or x.flatten(1)): x.squeeze() also removes the batch "
                          "dimension when there is one image")
    check_follows_the_input(
        lambda: topic.ResNet(topic.Bottleneck, [1, 1, 1, 1], 5, in_channels=2, width=2, small_input=True),
        torch.rand(2, 2, 16, 16), (2, 5),
        "ResNet(Bottleneck, [1, 1, 1, 1], 5, in_channels=2, width=2, small_input=True)")


@shapes
@task("ResNet")
def test_make_layer_builds_the_block_it_is_given(topic):
    # _make_layer's own arguments win over what the constructor was given: a stage of Bottlenecks added to a
    # BasicBlock network (and the other way round), from self.inplanes channels.
    for built, asked in ((topic.BasicBlock, topic.Bottleneck), (topic.Bottleneck, topic.BasicBlock)):
        model = topic.ResNet(built, [1, 1, 1, 1], 10, width=4, small_input=True)
        model.inplanes = 12  # the channels entering the new stage
        call = f"ResNet({built.__name__}, ...)._make_layer({asked.__name__}, 4, 2, stride=2) from 12 channels"
        stage = model._make_layer(asked, 4, 2, stride=2)
        kinds = [type(b).__name__ for b in stage]
        assert kinds == [asked.__name__] * 2, (
            f"{call}: expected the blocks {[asked.__name__] * 2}, got {kinds}. Likely cause: _make_layer builds "
            "the block the constructor was given (self.block) instead of its own `block` argument")
        check_tensor(stage(torch.randn(2, 12, 8, 8)), f"{call}, on (2, 12, 8, 8)", shape=(2, 4 * asked.expansion, 4, 4),
                     hint="the stage has planes * block.expansion channels out, with the `block` _make_layer is "
                          "given; its first block takes self.inplanes channels, the stride and the projection")


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


@gradients
@task("ResNet")
def test_stem_with_and_without_small_input(topic):
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(11))  # (B, C, H, W)
    for small_input in (True, False):
        name = f"ResNet(BasicBlock, [1, 1, 1, 1], 10, in_channels=2, width=4, small_input={small_input})"
        model = topic.ResNet(topic.BasicBlock, [1, 1, 1, 1], 10, in_channels=2, width=4, small_input=small_input)
        model.load_state_dict(random_state(model, seed=11))
        model.eval()
        kernel, stride, padding = (3, 1, 1) if small_input else (7, 2, 3)
        check_tensor(model.conv1.weight, f"{name}.conv1.weight", shape=(4, 2, kernel, kernel),
                     hint="small_input=True: a 3x3 conv1 (stride 1, padding 1); otherwise ImageNet's 7x7 (stride 2, "
                          "padding 3); both Conv2d(in_channels, width, ..., bias=False)")
        seen = []
        handle = model.layer1.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
        try:
            with torch.no_grad():
                model(x)
        finally:
            handle.remove()
        assert len(seen) == 1, f"{name}: forward should run layer1 once, it ran {len(seen)} times"
        with torch.no_grad():
            bn = model.bn1
            expected = F.conv2d(x, model.conv1.weight, stride=stride, padding=padding)
            # eps=1e-5, PyTorch's default (torchvision's weights assume it), not the model's own bn1.eps
            expected = F.relu(F.batch_norm(expected, bn.running_mean, bn.running_var, bn.weight, bn.bias, eps=1e-5))
            if not small_input:
                expected = F.max_pool2d(expected, kernel_size=3, stride=2, padding=1)  # (2, 4, 4, 4)
        assert_close(seen[0], expected, f"{name}: the stem's output (what layer1 receives), eval mode",
                     hint="small_input=True: conv1 3x3 with stride 1 and padding 1, bn1, relu, and no max-pooling "
                          "(maxpool = nn.Identity()), so layer1 sees H x W; otherwise conv1 7x7 stride 2 padding 3, "
                          "bn1, relu, MaxPool2d(3, stride=2, padding=1): H/4 x W/4; bn1 is nn.BatchNorm2d(width) "
                          "with PyTorch's defaults (eps 1e-5)")


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
        for flag in ({}, {"zero_init_residual": False}):  # the default, and False given
            model = topic.ResNet(block, [2, 1, 1, 1], 10, width=4, small_input=True, **flag)
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
        # The complement: every other BatchNorm (the stem's, the blocks' others, the projections') is untouched.
        for module_name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2d) and module_name.rsplit(".", 1)[-1] != last:
                assert (module.weight == 1).all() and (module.bias == 0).all(), (
                    f"{name}=True): {module_name} should keep weight 1 and bias 0; got weight "
                    f"{module.weight.flatten()[:4].tolist()}, bias {module.bias.flatten()[:4].tolist()}. "
                    f"Likely cause: zeroing every BatchNorm instead of only the last one of each block ({last})")
        x = torch.rand(2, 4 * block.expansion, 6, 6)  # non-negative, as after a ReLU
        with torch.no_grad():
            got = model.layer1[1](x.clone())  # the second block of layer1 has an identity shortcut
        check_tensor(got, f"{name}=True): layer1[1](x)", shape=x.shape, dtype=torch.float32)
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
                     shape=(7, 4), dtype=torch.float32,
                     hint="each hidden layer maps (N, hidden_size) to (N, hidden_size); return self.output(h)")
        check_follows_the_input(lambda: topic.MLPStack(5, 16, 3, 4, residual=residual), torch.randn(7, 5), (7, 4),
                                f"MLPStack(5, 16, num_layers=3, 4, residual={residual})")


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
            logits = check_tensor(model(X), f"MLPStack(16, 32, num_layers=20, 4, residual={residual}) on (128, 16)",
                                  shape=(128, 4))
            nn.functional.cross_entropy(logits, y).backward()
            check_tensor(model.input.weight.grad, "the first layer's gradient",
                         hint="the input layer must take part in the forward pass")
            norms[residual] = model.input.weight.grad.norm().item()
        # measured over seeds 0-9: plain 5e-7 to 4e-6, residual 0.8 to 1.8
        assert_at_least(norms[True], 0.1, "first-layer gradient norm, residual tanh MLP of depth 20",
                        hint=f"(data of torch.manual_seed({seed})) with h = h + tanh(layer(h)) the gradient reaches "
                             "the first layer through the identity path; without the `h +` it shrinks at every layer")
        assert_at_most(norms[False], 1e-3, "first-layer gradient norm, plain tanh MLP of depth 20",
                       hint=f"(data of torch.manual_seed({seed})) residual=False must be a plain stack, "
                            "h = tanh(layer(h)), with no skip")


# ------------------------------------------------------------------ training
@gradients
@task("train_step")
def test_train_step_is_one_adam_step_on_the_cross_entropy(topic):
    g = torch.Generator().manual_seed(12)
    X, y = torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 5, (8,), generator=g)  # (8, 1, 6, 6), (8,)
    torch.manual_seed(0)
    # A model of its own, not the learner's ResNet: this test is about the step. Its BatchNorm makes a
    # second forward pass in train mode visible (it moves the running statistics again).
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(4, 5))
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = [topic.train_step(model, optimizer, (X[:4], y[:4])), topic.train_step(model, optimizer, (X[4:], y[4:]))]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)  # the same two steps by hand
    expected = []
    for batch in (slice(0, 4), slice(4, 8)):
        optimizer.zero_grad()
        loss = F.cross_entropy(reference(X[batch]), y[batch])
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: optimizer.zero_grad(), loss = F.cross_entropy(model(X), y) (mean over the batch, no "
            "other options), loss.backward(), optimizer.step(), return loss.item(): the loss of the forward pass "
            "before the step, computed once")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses two train_step calls return", atol=1e-6,
                 hint=hint)
    for (name, got), want in zip(model.state_dict().items(), reference.state_dict().values()):
        assert_close(got, want, f"{name} after two train_step calls", atol=1e-6, hint=hint)


@accuracy
@task("train_step")
def test_small_resnet_learns_shapes(topic, seed, device):
    torch.manual_seed(seed)
    # (1000, 1, 16, 16), (1000,)
    X, y = (t.to(device) for t in shape_images(1000, image_size=16, channels=1, seed=seed))
    X_test, y_test = (t.to(device) for t in shape_images(500, image_size=16, channels=1, seed=seed, split="test"))
    model = topic.ResNet(topic.BasicBlock, [1, 1, 1, 1], 10, in_channels=1, width=8, small_input=True).to(device)
    losses = topic.train(model, X, y, epochs=6, lr=1e-2, batch_size=32, seed=seed)
    assert isinstance(losses, list) and len(losses) == 6, f"train(epochs=6) should return 6 losses, got {losses!r:.200}"
    assert losses[-1] < losses[0], f"the loss should fall during training: first {losses[0]:.4f}, last {losses[-1]:.4f}"
    model.eval()
    with torch.no_grad():
        logits = check_tensor(model(X_test), "the trained ResNet's logits on the 500 test images", shape=(500, 10))
    acc = (logits.argmax(1) == y_test).float().mean().item()
    assert_at_least(acc, 0.85, "test accuracy of a 10-layer ResNet on 16x16 shapes after 6 epochs",
                    chance=0.1, hint="check each step of train_step() (zero_grad, cross-entropy on logits, backward, "
                                     "step) and the blocks; the solution reaches 0.91-0.97")

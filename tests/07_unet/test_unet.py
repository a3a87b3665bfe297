"""Hidden suite for 07 U-Net: shapes, skip concatenation, Dice/IoU, segmentation.

The shape tests also run each piece on the `meta` device and in float64: a tensor
made without `device=` (on the CPU by default) or a cast to float32 fails there at
no cost.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

import kata.datasets
from grader.checks import (assert_at_least, assert_close, assert_equal, check_follows_the_input, check_on_meta,
                           check_tensor)
from kata.images import segmentation

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task


def _randomise_batchnorm(module, g):
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, torch.nn.BatchNorm2d):
                bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.5)
                bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
                bn.weight.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
                bn.bias.copy_(torch.randn(bn.num_features, generator=g) * 0.2)
    return module


def _no_batchnorm(module, name):
    """batch_norm=False must reach every DoubleConv: no BatchNorm2d, and every convolution keeps its bias."""
    __tracebackhide__ = True
    found = [n for n, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not found, (f"{name} must not contain BatchNorm2d, found {found[:4]}. Likely cause: batch_norm is not "
                       "passed on (DoubleConv(..., batch_norm=batch_norm)) to every block it builds")
    no_bias = [n for n, m in module.named_modules() if isinstance(m, torch.nn.Conv2d) and m.bias is None]
    assert not no_bias, f"{name}: without BatchNorm the convolutions need their bias, missing in {no_bias[:4]}"


UNCHANGED = ("only the result is new: leave the inputs as they were (no in-place ops on them such as sigmoid_, "
             "add_ or slice assignment; F.pad, torch.cat and torch.sigmoid make new tensors)")


def _centre_pad(x, height, width):
    """The reference for pad_to_match: zeros split as d // 2 before and the rest after."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    out = x.new_zeros(*x.shape[:-2], height, width)
    out[..., dh // 2:dh // 2 + x.shape[-2], dw // 2:dw // 2 + x.shape[-1]] = x
    return out


# ------------------------------------------------------------------ DoubleConv
@shapes
@task("DoubleConv")
def test_double_conv_keeps_the_size(topic):
    block = topic.DoubleConv(3, 5)
    check_tensor(block.conv1.weight, "DoubleConv(3, 5).conv1.weight", shape=(5, 3, 3, 3),
                 hint="conv1 is nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)")
    check_tensor(block.conv2.weight, "DoubleConv(3, 5).conv2.weight", shape=(5, 5, 3, 3),
                 hint="conv2 is nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)")
    y = block(torch.randn(2, 3, 9, 7))
    check_tensor(y, "DoubleConv(3, 5)(x) for x of shape (2, 3, 9, 7)", shape=(2, 5, 9, 7), dtype=torch.float32,
                 hint="a 3x3 convolution without padding=1 loses a pixel on each border")
    check_follows_the_input(lambda: topic.DoubleConv(3, 5), torch.randn(2, 3, 9, 7), (2, 5, 9, 7), "DoubleConv(3, 5)")


@gradients
@task("DoubleConv")
def test_double_conv_is_conv_bn_relu_twice(topic):
    g = torch.Generator().manual_seed(0)
    block = _randomise_batchnorm(topic.DoubleConv(3, 4), g).eval()
    with torch.no_grad():
        block.bn1.running_var[0] = 1e-4  # a nearly constant channel: here eps (1e-5, not 1e-3) shows
    x = torch.randn(2, 3, 8, 6, generator=g)

    def conv_bn_relu(x, conv, bn):
        y = F.conv2d(x, conv.weight, conv.bias, padding=1)
        y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=1e-5)
        return F.relu(y)

    expected = conv_bn_relu(conv_bn_relu(x, block.conv1, block.bn1), block.conv2, block.bn2)
    with torch.no_grad():
        assert_close(block(x), expected, "DoubleConv(3, 4)(x) in eval mode, one running variance at 1e-4", atol=1e-5,
                     hint="the order is conv1 -> bn1 -> ReLU -> conv2 -> bn2 -> ReLU; check that both ReLUs are "
                          "there and bn1/bn2 are nn.BatchNorm2d(out_channels) with PyTorch's defaults (eps 1e-5: "
                          "Keras' 1e-3 changes a channel of small variance)")
    # Train mode: each BatchNorm normalises with the batch's statistics and moves its running ones by
    # PyTorch's convention, running = 0.9 * running + 0.1 * batch statistic (unbiased variance).
    stats = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in (block.bn1, block.bn2)]
    with torch.no_grad():
        expected = x
        for (conv, bn), (mean, var) in zip(((block.conv1, block.bn1), (block.conv2, block.bn2)), stats):
            expected = F.conv2d(expected, conv.weight, conv.bias, padding=1)
            expected = F.relu(F.batch_norm(expected, mean, var, bn.weight, bn.bias, training=True, momentum=0.1,
                                           eps=1e-5))  # updates mean and var in place
        got = block.train()(x)
    hint = ("in train mode BatchNorm uses the batch's statistics and updates its running ones with momentum 0.1 "
            "(PyTorch's convention: the weight of the new batch, not of the old value as in Keras): "
            "nn.BatchNorm2d(out_channels) with its defaults, called as a module")
    assert_close(got, expected, "DoubleConv(3, 4)(x) in train mode", atol=1e-5, hint=hint)
    for name, bn, (mean, var) in zip(("bn1", "bn2"), (block.bn1, block.bn2), stats):
        assert_close(bn.running_mean, mean, f"DoubleConv(3, 4).{name}.running_mean after one pass in train mode",
                     atol=1e-6, hint=hint)
        assert_close(bn.running_var, var, f"DoubleConv(3, 4).{name}.running_var after one pass in train mode",
                     atol=1e-6, hint=hint)
    plain = topic.DoubleConv(3, 4, batch_norm=False).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules()), (
        "DoubleConv(..., batch_norm=False) must not contain BatchNorm2d: use nn.Identity() for bn1 and bn2")
    assert isinstance(plain.bn1, torch.nn.Identity) and isinstance(plain.bn2, torch.nn.Identity), (
        f"DoubleConv(..., batch_norm=False): bn1 and bn2 should be nn.Identity(), got {type(plain.bn1).__name__} "
        f"and {type(plain.bn2).__name__}")
    assert plain.conv1.bias is not None and plain.conv2.bias is not None, (
        "DoubleConv(..., batch_norm=False): the convolutions need their bias (bias=not batch_norm)")
    expected = F.relu(F.conv2d(F.relu(F.conv2d(x, plain.conv1.weight, plain.conv1.bias, padding=1)),
                               plain.conv2.weight, plain.conv2.bias, padding=1))
    with torch.no_grad():
        assert_close(plain(x), expected, "DoubleConv(3, 4, batch_norm=False)(x)", atol=1e-5,
                     hint="without BatchNorm the block is conv1 -> ReLU -> conv2 -> ReLU")


# ------------------------------------------------------------------ Down
@shapes
@task("Down")
def test_down_halves_the_size(topic):
    down = topic.Down(4, 8)
    for height, width in ((10, 8), (11, 7)):
        y = down(torch.randn(2, 4, height, width))
        check_tensor(y, f"Down(4, 8)(x) for x of shape (2, 4, {height}, {width})",
                     shape=(2, 8, height // 2, width // 2),
                     dtype=torch.float32,
                     hint="a 2x2 max-pool with stride 2 halves H and W (rounding down), then DoubleConv(4, 8)")
    check_follows_the_input(lambda: topic.Down(4, 8), torch.randn(2, 4, 11, 7), (2, 8, 5, 3), "Down(4, 8)")


@gradients
@task("Down")
def test_down_is_max_pool_then_double_conv(topic):
    g = torch.Generator().manual_seed(1)
    down = _randomise_batchnorm(topic.Down(2, 3), g).eval()
    x = torch.randn(2, 2, 8, 8, generator=g)
    with torch.no_grad():
        assert_close(down(x), down.conv(F.max_pool2d(x, 2)), "Down(2, 3)(x) in eval mode",
                     hint="pool first (nn.MaxPool2d(2), not average pooling, not a strided conv), "
                          "then apply self.conv")
    plain = topic.Down(2, 3, batch_norm=False).eval()
    _no_batchnorm(plain, "Down(2, 3, batch_norm=False)")
    with torch.no_grad():
        assert_close(plain(x), plain.conv(F.max_pool2d(x, 2)), "Down(2, 3, batch_norm=False)(x)",
                     hint="pool, then self.conv, a DoubleConv(in_channels, out_channels, batch_norm=batch_norm)")


# ------------------------------------------------------------------ pad_to_match
@shapes
@task("pad_to_match")
def test_pad_to_match_gives_the_reference_size(topic):
    for (h, w), (height, width) in (((4, 4), (4, 4)), ((4, 6), (5, 7)), ((2, 3), (7, 4)), ((6, 6), (4, 4))):
        x, reference = torch.randn(2, 3, h, w), torch.randn(2, 5, height, width)
        check_tensor(topic.pad_to_match(x, reference), f"pad_to_match(x {tuple(x.shape)}, reference "
                     f"{tuple(reference.shape)})", shape=(2, 3, height, width), dtype=torch.float32,
                     hint="take H and W from the reference, keep x's batch and channels; "
                          "F.pad's list starts with the last dimension: (left, right, top, bottom)")
    x, reference = torch.randn(2, 3, 4, 6, dtype=torch.float64), torch.randn(2, 5, 5, 7, dtype=torch.float64)
    check_tensor(topic.pad_to_match(x, reference), "pad_to_match(x, reference) in float64", shape=(2, 3, 5, 7),
                 dtype=torch.float64, hint="the padded map keeps x's dtype: pad x itself (F.pad), or make the zeros "
                                           "with x.new_zeros")
    check_on_meta("pad_to_match(x (2, 3, 4, 6), reference (2, 5, 5, 7))", topic.pad_to_match, x.to("meta"),
                  reference.to("meta"), shape=(2, 3, 5, 7),
                  hint="the padded map follows x's device: torch.zeros(...) without device= lands on the CPU")


@gradients
@task("pad_to_match")
def test_pad_to_match_centres_the_map(topic):
    x = torch.arange(1.0, 7.0).reshape(1, 1, 2, 3)  # (1, 1, 2, 3)
    reference = torch.zeros(1, 1, 5, 4)  # 3 more rows (1 above, 2 below), 1 more column (0 left, 1 right)
    assert_close(topic.pad_to_match(x, reference), _centre_pad(x, 5, 4),
                 "pad_to_match(x (1, 1, 2, 3), reference (1, 1, 5, 4))", atol=0,
                 hint="split each difference d as d // 2 before and d - d // 2 after, with zeros; "
                      "F.pad's list is (left, right, top, bottom): the last dimension (W) comes first")
    # It makes a new map: neither input changes (a crop, too, may not write into x).
    x, reference = torch.randn(2, 3, 7, 4), torch.randn(2, 5, 4, 6)
    before = x.clone(), reference.clone()
    topic.pad_to_match(x, reference)
    for name, tensor, kept in (("x", x, before[0]), ("reference", reference, before[1])):
        assert_close(tensor, kept, f"{name} after pad_to_match(x (2, 3, 7, 4), reference (2, 5, 4, 6))", atol=0,
                     hint=UNCHANGED)
    x = torch.arange(1.0, 37.0).reshape(1, 1, 6, 6)
    assert_close(topic.pad_to_match(x, torch.zeros(1, 1, 4, 4)), x[..., 1:5, 1:5],
                 "pad_to_match(x (1, 1, 6, 6), reference (1, 1, 4, 4)): a centre crop", atol=0,
                 hint="a larger x is cropped around its centre; F.pad with negative padding crops")
    # Odd negative differences: top = d // 2 rounds down, towards minus infinity (-3 // 2 = -2: two rows
    # off the top, one off the bottom; -1 // 2 = -1: one column off the left, none off the right).
    x = torch.arange(1.0, 50.0).reshape(1, 1, 7, 7)
    assert_close(topic.pad_to_match(x, torch.zeros(1, 1, 4, 6)), x[..., 2:6, 1:7],
                 "pad_to_match(x (1, 1, 7, 7), reference (1, 1, 4, 6)): crops of 3 rows and 1 column", atol=0,
                 hint="the docstring's split holds for negative d too: top = d // 2 (floor division, -3 // 2 = -2), "
                      "bottom = d - top; int(d / 2) rounds towards zero and crops the wrong rows or columns")
    x = torch.arange(1.0, 19.0).reshape(1, 1, 3, 6)
    assert_close(topic.pad_to_match(x, torch.zeros(1, 1, 6, 3)), _centre_pad(x[..., 2:5], 6, 3),
                 "pad_to_match(x (1, 1, 3, 6), reference (1, 1, 6, 3)): 3 rows added, 3 columns cropped", atol=0,
                 hint="each dimension on its own: pad where the reference is larger, crop where it is smaller")


# ------------------------------------------------------------------ Up
@shapes
@task("Up")
def test_up_doubles_the_size_and_concatenates_channels(topic):
    up = topic.Up(16, 8)
    assert isinstance(up.up, torch.nn.ConvTranspose2d), (
        f"Up.up should be an nn.ConvTranspose2d (the paper's 2x2 up-convolution), got {type(up.up).__name__}")
    check_tensor(up.up.weight, "Up(16, 8).up.weight", shape=(16, 8, 2, 2),
                 hint="nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2); "
                      "a transposed convolution's weight is (in, out, kH, kW)")
    assert tuple(up.up.stride) == (2, 2), f"Up.up must have stride 2 to double H and W, got {up.up.stride}"
    check_tensor(up.conv.conv1.weight, "Up(16, 8).conv.conv1.weight", shape=(8, 16, 3, 3),
                 hint="the DoubleConv reads the concatenation of 8 upsampled and 8 skip channels: 16 in, "
                      "8 out. Adding the skip instead of concatenating leaves 8 input channels")
    x, skip = torch.randn(2, 16, 5, 4), torch.randn(2, 8, 11, 9)
    before = x.clone(), skip.clone()
    y = up(x, skip)
    check_tensor(y, "Up(16, 8)(x (2, 16, 5, 4), skip (2, 8, 11, 9))", shape=(2, 8, 11, 9), dtype=torch.float32,
                 hint="the up-convolution gives 10x8; pad it to the skip's 11x9 with pad_to_match before "
                      "concatenating")
    for name, tensor, kept in (("x", x, before[0]), ("skip", skip, before[1])):
        assert_close(tensor, kept, f"{name} after Up(16, 8)(x, skip)", atol=0, hint=UNCHANGED)
    _no_batchnorm(topic.Up(16, 8, batch_norm=False), "Up(16, 8, batch_norm=False)")
    hint = "every tensor Up makes must follow the input's device and dtype"
    with torch.no_grad():
        check_on_meta("Up(16, 8)(x, skip)", topic.Up(16, 8).eval().to("meta"), torch.randn(2, 16, 5, 4, device="meta"),
                      torch.randn(2, 8, 11, 9, device="meta"), shape=(2, 8, 11, 9), dtype=torch.float32, hint=hint)
        got = topic.Up(16, 8).eval().double()(torch.randn(2, 16, 5, 4, dtype=torch.float64),
                                              torch.randn(2, 8, 11, 9, dtype=torch.float64))
        check_tensor(got, "Up(16, 8)(x, skip) in float64", shape=(2, 8, 11, 9), dtype=torch.float64, hint=hint)


@gradients
@task("Up")
def test_up_feeds_the_skip_and_the_upsampled_map_to_its_conv(topic):
    g = torch.Generator().manual_seed(2)
    up = _randomise_batchnorm(topic.Up(8, 4), g).eval()
    x, skip = torch.randn(2, 8, 3, 4, generator=g), torch.randn(2, 4, 7, 8, generator=g)
    seen = []
    handle = up.conv.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            out = up(x, skip)
    finally:
        handle.remove()
    assert len(seen) == 1, f"Up.forward should call self.conv once, it was called {len(seen)} times"
    with torch.no_grad():
        upsampled = _centre_pad(up.up(x), 7, 8)  # (2, 4, 7, 8)
    got = check_tensor(seen[0], "the input of Up(8, 4).conv", shape=(2, 8, 7, 8),
                       hint="concatenate [skip, upsampled] along dim=1 (channels): 4 + 4 = 8 channels")
    first, second = got[:, :4], got[:, 4:]
    skip_first = torch.allclose(first, skip) and torch.allclose(second, upsampled, atol=1e-6)
    skip_last = torch.allclose(second, skip) and torch.allclose(first, upsampled, atol=1e-6)
    assert skip_first or skip_last, (
        "the input of Up.conv should be torch.cat([skip, upsampled], dim=1) (either order), where upsampled "
        "is self.up(x) padded to the skip's size by pad_to_match. "
        f"Channels 0-3 match the skip: {torch.allclose(first, skip)}, channels 4-7 match the skip: "
        f"{torch.allclose(second, skip)}, either half matches the upsampled map: "
        f"{torch.allclose(first, upsampled, atol=1e-6) or torch.allclose(second, upsampled, atol=1e-6)}. "
        "Likely cause: the skip is dropped, added, or the upsampled map is padded off-centre")
    with torch.no_grad():
        assert_close(out, up.conv(got), "Up(8, 4)(x, skip)", hint="return self.conv(concatenation)")


# ------------------------------------------------------------------ UNet
@shapes
@task("UNet")
def test_unet_output_has_the_input_size(topic):
    model = topic.UNet(in_channels=3, num_classes=2, depth=3, width=4).eval()
    assert len(model.downs) == 3 and len(model.ups) == 3, (
        f"UNet(depth=3) should have 3 Down and 3 Up blocks, got {len(model.downs)} and {len(model.ups)}")
    expected = [(4, 3), (8, 4), (16, 8), (32, 16)]  # (out, in) of each level's first conv: inc, then downs
    got = [tuple(model.inc.conv1.weight.shape[:2])] + [tuple(d.conv.conv1.weight.shape[:2]) for d in model.downs]
    assert got == expected, (f"UNet(in_channels=3, depth=3, width=4): the contracting path's first convolutions "
                             f"should map (out, in) channels {expected}, got {got}. Likely cause: the channels "
                             f"must double at every Down: width * 2**i")
    expected = [(16, 32), (8, 16), (4, 8)]  # deepest first: each Up's conv reads skip + upsampled channels
    got = [tuple(u.conv.conv1.weight.shape[:2]) for u in model.ups]
    assert got == expected, (f"UNet(depth=3, width=4): the Up blocks' DoubleConvs, deepest first, should map "
                             f"(out, in) channels {expected}, got {got}. Likely cause: the Up blocks in the wrong "
                             f"order, or skips added instead of concatenated")
    check_tensor(model.head.weight, "UNet(width=4, num_classes=2).head.weight", shape=(2, 4, 1, 1),
                 hint="the head is a 1x1 nn.Conv2d(width, num_classes)")
    with torch.no_grad():
        for height, width in ((32, 32), (37, 29), (8, 13)):
            y = model(torch.randn(2, 3, height, width))
            check_tensor(y, f"UNet(depth=3)(x) for x of shape (2, 3, {height}, {width})",
                         shape=(2, 2, height, width), dtype=torch.float32,
                         hint="odd sizes lose a row at a pooling; Up must pad the upsampled map to the skip's "
                              "size (pad_to_match) so the output keeps the input's size")
    _no_batchnorm(topic.UNet(in_channels=3, num_classes=2, depth=2, width=4, batch_norm=False),
                  "UNet(depth=2, width=4, batch_norm=False) (inc, every Down and every Up)")
    # depth=0: no pooling at all, inc then the head (a value, not "not given").
    flat = topic.UNet(in_channels=2, num_classes=3, depth=0, width=4).eval()
    assert len(flat.downs) == 0 and len(flat.ups) == 0, (
        f"UNet(depth=0) should have no Down and no Up block, got {len(flat.downs)} and {len(flat.ups)}. Likely "
        "cause: depth=0 read as 'not given' (depth or 4), or a level built outside the loops")
    x = torch.randn(2, 2, 5, 7)
    with torch.no_grad():
        got = check_tensor(flat(x), "UNet(in_channels=2, num_classes=3, depth=0, width=4)(x (2, 2, 5, 7))",
                           shape=(2, 3, 5, 7), dtype=torch.float32)
        assert_close(got, flat.head(flat.inc(x)), "UNet(depth=0)(x)",
                     hint="with no Down and no Up block the network is self.head(self.inc(x))")
    # The defaults are the paper's network: UNet() is depth 4, width 64, 1 channel in, 1 class (meta: no memory).
    with torch.device("meta"):
        paper = topic.UNet()
    shapes_seen = [tuple(paper.inc.conv1.weight.shape), len(paper.downs), len(paper.ups),
                   tuple(paper.downs[-1].conv.conv2.weight.shape) if len(paper.downs) else None,
                   tuple(paper.head.weight.shape)]
    expected = [(64, 1, 3, 3), 4, 4, (1024, 1024, 3, 3), (1, 64, 1, 1)]
    assert shapes_seen == expected, (
        "UNet() with its defaults (in_channels=1, num_classes=1, depth=4, width=64): expected inc.conv1 "
        f"(64, 1, 3, 3), 4 Downs, 4 Ups, the deepest conv (1024, 1024, 3, 3) and the head (1, 64, 1, 1); "
        f"got {shapes_seen}")
    check_follows_the_input(lambda: topic.UNet(in_channels=1, num_classes=1, depth=2, width=2),
                            torch.randn(1, 1, 9, 11), (1, 1, 9, 11), "UNet(depth=2, width=2) on (1, 1, 9, 11)")


@shapes
@task("UNet")
def test_unet_refuses_inputs_smaller_than_two_to_the_depth(topic):
    model = topic.UNet(in_channels=1, num_classes=1, depth=3, width=2).eval()
    with pytest.raises(ValueError, match="8"):
        model(torch.randn(1, 1, 7, 16))
    with torch.no_grad():
        y = model(torch.randn(1, 1, 8, 9))
    check_tensor(y, "UNet(depth=3)(x) for x of shape (1, 1, 8, 9), the smallest allowed height",
                 shape=(1, 1, 8, 9))


@gradients
@task("UNet")
def test_unet_decoder_receives_the_encoder_features(topic):
    g = torch.Generator().manual_seed(3)
    model = _randomise_batchnorm(topic.UNet(in_channels=1, num_classes=1, depth=2, width=3), g).eval()
    encoder, decoder = [], []
    hooks = [model.inc.register_forward_hook(lambda m, args, out: encoder.append(out))]
    hooks += [d.register_forward_hook(lambda m, args, out: encoder.append(out)) for d in model.downs]
    hooks += [u.register_forward_hook(lambda m, args, out: decoder.append((args, out))) for u in model.ups]
    try:
        with torch.no_grad():
            logits = model(torch.randn(2, 1, 13, 10, generator=g))
    finally:
        for hook in hooks:
            hook.remove()
    assert len(encoder) == 3 and len(decoder) == 2, (
        f"UNet(depth=2).forward should run inc, both Down blocks and both Up blocks once each; "
        f"the encoder ran {len(encoder)} of 3 times, the decoder {len(decoder)} of 2")
    for k, out in enumerate(encoder):
        check_tensor(out, "the output of model.inc" if k == 0 else f"the output of model.downs[{k - 1}]", finite=False)
    for k, (_, out) in enumerate(decoder):
        check_tensor(out, f"the output of model.ups[{k}]", finite=False)
    for k, (args, _) in enumerate(decoder):
        assert len(args) == 2, f"call each Up block as up(x, skip); ups[{k}] got {len(args)} arguments"
        x, skip = args
        level = len(encoder) - 2 - k  # ups[0] takes the deepest skip: the output of downs[-2] (or inc)
        source = "model.inc" if level == 0 else f"model.downs[{level - 1}]"
        assert_equal(skip, encoder[level], f"the skip that ups[{k}] received, against the output of {source}",
                     hint="the skips are used in the wrong order (the deepest Up takes the deepest remaining skip) "
                          "or not at all")
        previous = "the last Down block" if k == 0 else f"ups[{k - 1}]"
        assert_equal(x, encoder[-1] if k == 0 else decoder[k - 1][1],
                     f"the x that ups[{k}] received, against the output of {previous}",
                     hint="feed each Up block the output of the block before it: x = up(x, skip)")
    with torch.no_grad():
        expected = F.conv2d(decoder[-1][1], model.head.weight, model.head.bias)
    assert_close(logits, expected, "UNet output", hint="return self.head(the last Up block's output): raw logits")


# ------------------------------------------------------------------ binarize, dice, IoU
def _hand_made_masks():
    """Six 4x4 cases: both empty, full overlap, prediction inside half of the target, missed, half overlap,
    a prediction where the target is empty."""
    pred = torch.zeros(6, 1, 4, 4)
    target = torch.zeros(6, 1, 4, 4)
    pred[1, :, 1:3, 1:3] = target[1, :, 1:3, 1:3] = 1  # identical 2x2 squares
    target[2, :, :, :2] = 1  # target: the left half (8 pixels)
    pred[2, :, :2, :2] = 1  # prediction: its top half (4 pixels)
    target[3, :, 2:, 2:] = 1  # nothing predicted
    pred[4, :, :, :2] = 1  # left half against the middle columns: 4 of 8 pixels shared
    target[4, :, :, 1:3] = 1
    pred[5, :, 3, :] = 1  # a bottom row predicted, nothing to find: 0, not the "both empty" 1
    return pred, target


DICE = torch.tensor([1.0, 1.0, 2 / 3, 0.0, 0.5, 0.0])  # 2|P∩T| / (|P| + |T|): 8/12 and 8/16 for the partial ones
IOU = torch.tensor([1.0, 1.0, 0.5, 0.0, 1 / 3, 0.0])  # |P∩T| / |P∪T|: 4/8 and 4/12


def _with_threshold_pixels(pred):
    """The hand-made masks as probabilities and as logits, plus pixels on at threshold 0.5 but off at 0.8.

    Image 3's target (its bottom-right 2x2) gets probability 0.7 (logit 1.0, probability 0.73): scored at
    threshold 0.8, every image scores as on the masks alone.
    """
    probs, logits = pred * 0.9 + 0.05, (pred * 2 - 1) * 4
    probs[3, :, 2:, 2:], logits[3, :, 2:, 2:] = 0.7, 1.0
    return probs, logits


@gradients
@task("binarize")
def test_binarize_thresholds_the_probability(topic):
    logits = torch.tensor([-3.0, -0.1, 0.0, 0.3, 0.6, 1.2, 1.5])
    got = topic.binarize(logits)
    assert_close(logits, torch.tensor([-3.0, -0.1, 0.0, 0.3, 0.6, 1.2, 1.5]), "the logits after binarize(logits)",
                 atol=0, hint=UNCHANGED + ". Compare the logits with log(t / (1 - t)), or compare torch.sigmoid(pred)")
    hint = "return the comparison itself (pred >= ...), a bool tensor, not .float() or .long() of it"
    check_tensor(got, "binarize(logits (7,))", shape=(7,), dtype=torch.bool, finite=False, hint=hint)
    expected = [False, False, True, True, True, True, True]
    assert got.bool().tolist() == expected, (
        f"binarize(logits {logits.tolist()}) with threshold 0.5: expected {expected}, got {got.bool().tolist()}. "
        "Likely cause: comparing logits with 0.5; sigmoid(z) >= 0.5 exactly when z >= 0")
    got = check_tensor(topic.binarize(logits, threshold=0.8), "binarize(logits, threshold=0.8)", shape=(7,),
                       dtype=torch.bool, finite=False, hint=hint).tolist()
    expected = [False, False, False, False, False, False, True]  # logit(0.8) = log(4) = 1.386
    assert got == expected, (
        f"binarize(logits, threshold=0.8): expected {expected}, got {got}. Likely cause: the threshold applies "
        "to the probability sigmoid(z), so compare z with log(t / (1 - t))")
    probs = torch.tensor([0.1, 0.49, 0.5, 0.69, 0.7, 0.95])
    got = check_tensor(topic.binarize(probs, threshold=0.7, from_logits=False),
                       "binarize(probabilities, threshold=0.7, from_logits=False)", shape=(6,), dtype=torch.bool,
                       finite=False, hint=hint).tolist()
    expected = [False, False, False, False, True, True]
    assert got == expected, (f"binarize(probabilities {probs.tolist()}, threshold=0.7, from_logits=False): "
                             f"expected {expected}, got {got}. Likely cause: with from_logits=False compare "
                             "the values themselves with the threshold (>=)")
    got = check_tensor(topic.binarize(probs, threshold=0.0, from_logits=False),
                       "binarize(probabilities, threshold=0.0, from_logits=False)", shape=(6,), dtype=torch.bool,
                       finite=False, hint=hint).tolist()
    assert got == [True] * 6, (
        f"binarize(probabilities {probs.tolist()}, threshold=0.0, from_logits=False): every probability is at least "
        f"0, expected {[True] * 6}, got {got}. Likely cause: threshold=0.0 read as 'not given' (threshold or 0.5); "
        "use the threshold as it is")
    check_on_meta("binarize(logits (7,))", topic.binarize, logits.to("meta"), shape=(7,), dtype=torch.bool,
                  hint=hint)


@shapes
@task("dice_score")
def test_metrics_give_one_score_per_image(topic):
    g = torch.Generator().manual_seed(4)
    logits, target = torch.randn(6, 1, 8, 8, generator=g), (torch.rand(6, 1, 8, 8, generator=g) < 0.4).float()
    for name in ("dice_score", "iou_score"):
        score = check_tensor(getattr(topic, name)(logits, target), f"{name}(logits (6, 1, 8, 8), target)",
                             shape=(6,), dtype=torch.float32,
                             hint="return one score per image (B,), a float32 tensor; flatten each image and sum "
                                  "over dim 1")
        assert ((score >= 0) & (score <= 1)).all(), f"{name} must lie in [0, 1], got {score.tolist()}"


@gradients
@task("dice_score")
def test_dice_on_hand_made_masks(topic):
    pred, target = _hand_made_masks()
    hint = ("per image, Dice = 2|P∩T| / (|P| + |T|) on the binarised masks, and 1 when both are empty. "
            "Images: both empty, identical, P = half of T, P empty, half overlap")
    assert_close(topic.dice_score(pred * 0.9 + 0.05, target, from_logits=False), DICE,
                 "dice_score(probabilities, target, from_logits=False) on hand-made 4x4 masks", hint=hint)
    logits = (pred * 2 - 1) * 4
    kept = logits.clone(), target.clone()
    assert_close(topic.dice_score(logits, target), DICE,
                 "dice_score(logits, target) on the same masks as logits of ±4", hint=hint)
    for name, tensor, before in (("pred", logits, kept[0]), ("target", target, kept[1])):
        assert_close(tensor, before, f"{name} after dice_score(logits, target)", atol=0, hint=UNCHANGED)
    probs, logits = _with_threshold_pixels(pred)
    hint = "pass threshold (and from_logits) on to binarize(pred, threshold=threshold, from_logits=from_logits)"
    assert_close(topic.dice_score(probs, target, threshold=0.8, from_logits=False), DICE,
                 "dice_score(probabilities, target, threshold=0.8, from_logits=False), four pixels at 0.7", hint=hint)
    assert_close(topic.dice_score(logits, target, threshold=0.8), DICE,
                 "dice_score(logits, target, threshold=0.8), four pixels at logit 1.0 (probability 0.73)", hint=hint)
    check_on_meta("dice_score(logits, target)", topic.dice_score, logits.to("meta"), target.to("meta"), shape=(6,),
                  hint="every tensor dice_score makes follows pred's device: torch.ones(n) without device= lands on "
                       "the CPU; use ones_like")


@gradients
@task("iou_score")
def test_iou_on_hand_made_masks(topic):
    pred, target = _hand_made_masks()
    hint = ("per image, IoU = |P∩T| / |P∪T| with |P∪T| = |P| + |T| - |P∩T| (the overlap is in both areas), "
            "and 1 when both are empty")
    assert_close(topic.iou_score(pred * 0.9 + 0.05, target, from_logits=False), IOU,
                 "iou_score(probabilities, target, from_logits=False) on hand-made 4x4 masks", hint=hint)
    logits = (pred * 2 - 1) * 4
    kept = logits.clone(), target.clone()
    assert_close(topic.iou_score(logits, target), IOU,
                 "iou_score(logits, target) on the same masks as logits of ±4", hint=hint)
    for name, tensor, before in (("pred", logits, kept[0]), ("target", target, kept[1])):
        assert_close(tensor, before, f"{name} after iou_score(logits, target)", atol=0, hint=UNCHANGED)
    probs, logits = _with_threshold_pixels(pred)
    hint = "pass threshold (and from_logits) on to binarize(pred, threshold=threshold, from_logits=from_logits)"
    assert_close(topic.iou_score(probs, target, threshold=0.8, from_logits=False), IOU,
                 "iou_score(probabilities, target, threshold=0.8, from_logits=False), four pixels at 0.7", hint=hint)
    assert_close(topic.iou_score(logits, target, threshold=0.8), IOU,
                 "iou_score(logits, target, threshold=0.8), four pixels at logit 1.0 (probability 0.73)", hint=hint)
    check_on_meta("iou_score(logits, target)", topic.iou_score, logits.to("meta"), target.to("meta"), shape=(6,),
                  hint="every tensor iou_score makes follows pred's device: torch.ones(n) without device= lands on "
                       "the CPU; use ones_like")
    g = torch.Generator().manual_seed(5)
    logits, target = torch.randn(8, 1, 6, 6, generator=g), (torch.rand(8, 1, 6, 6, generator=g) < 0.5).float()
    dice = check_tensor(topic.dice_score(logits, target), "dice_score(logits (8, 1, 6, 6), target)", shape=(8,))
    assert_close(topic.iou_score(logits, target), dice / (2 - dice), "iou_score against dice_score on random masks",
                 hint="for the same masks IoU = Dice / (2 - Dice); check both formulas")


@gradients
@task("soft_dice_loss")
def test_soft_dice_loss_matches_its_formula_and_has_gradients(topic):
    g = torch.Generator().manual_seed(6)
    logits = (torch.randn(3, 1, 5, 5, generator=g, dtype=torch.float64) * 2).requires_grad_()
    target = (torch.rand(3, 1, 5, 5, generator=g) < 0.4).double()
    target[2] = 0  # one empty target
    loss = topic.soft_dice_loss(logits, target)
    check_tensor(loss, "soft_dice_loss(float64 logits (3, 1, 5, 5), target)", shape=(), dtype=torch.float64,
                 hint="return the mean over the batch of 1 - dice: a 0-dimensional tensor of the logits' dtype")
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    expected = (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    assert_close(loss, expected, "soft_dice_loss(logits, target) with eps=1", atol=1e-10,
                 hint="p = sigmoid(logits), no threshold; per image (2 Σ p t + eps) / (Σ p + Σ t + eps); "
                      "the mean of 1 - dice over the batch")
    assert loss.requires_grad, ("soft_dice_loss returned a tensor without a gradient: a threshold, .item() or "
                                "detach() cuts it. Use the probabilities themselves")
    (grad,) = torch.autograd.grad(loss, logits)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    assert_close(grad, expected_grad, "d soft_dice_loss / d logits", atol=1e-10)
    with torch.no_grad():
        kept = logits.clone(), target.clone()
        for eps in (0.0, 1e-3, 5.0):  # 0.0: the plain soft Dice (no image here has Σ p + Σ t = 0)
            expected = (1 - (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)).mean()
            assert_close(topic.soft_dice_loss(logits, target, eps=eps), expected,
                         f"soft_dice_loss(logits, target, eps={eps})", atol=1e-10,
                         hint="use the eps argument as given in both the numerator and the denominator: not a fixed "
                              "1, and not `eps or 1` (which reads eps=0.0 as 'not given')")
        for name, tensor, before in (("logits", logits, kept[0]), ("target", target, kept[1])):
            assert_close(tensor, before, f"{name} after soft_dice_loss(logits, target)", atol=0, hint=UNCHANGED)


# ------------------------------------------------------------------ train and segmentation
@gradients
@task("train_step")
def test_train_step_on_bce_plus_soft_dice(topic):
    g = torch.Generator().manual_seed(7)
    images, masks = torch.randn(8, 1, 8, 8, generator=g), (torch.rand(8, 1, 8, 8, generator=g) < 0.3).float()
    torch.manual_seed(0)
    model = topic.UNet(1, 1, depth=1, width=2)
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = [topic.train_step(model, optimizer, (images[:4], masks[:4])),
              topic.train_step(model, optimizer, (images[4:], masks[4:]))]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    # The same two steps by hand: Adam on BCE + soft Dice (eps 1).
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    expected = []
    for batch in (slice(0, 4), slice(4, 8)):
        optimizer.zero_grad()
        logits = reference(images[batch])
        p, t = torch.sigmoid(logits).flatten(1), masks[batch].flatten(1)
        dice = (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
        loss = F.binary_cross_entropy_with_logits(logits, masks[batch]) + (1 - dice).mean()
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: optimizer.zero_grad(), loss = BCE with logits + soft_dice_loss, loss.backward(), "
            "optimizer.step(), return loss.item(). Without zero_grad() the gradients add up")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses of two train_step calls", atol=1e-5,
                 hint=hint)
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert_close(got, want, f"parameter {name} after two train_step calls", atol=1e-5, hint=hint)


def _threshold_baseline_iou(images, masks, test_images, test_masks):
    """Mean test IoU of the one brightness threshold that does best on the training images."""
    best_iou, best = -1.0, 0.0
    for c in torch.quantile(images.flatten(), torch.linspace(0.05, 0.95, 37)).tolist():
        pred, t = (images > c).flatten(1), masks.flatten(1) > 0.5
        inter, union = (pred & t).sum(1).float(), (pred | t).sum(1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean().item()
        if iou > best_iou:
            best_iou, best = iou, c
    pred, t = (test_images > best).flatten(1), test_masks.flatten(1) > 0.5
    inter, union = (pred & t).sum(1).float(), (pred | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean().item()


@accuracy
@task("train_step")
def test_segments_noisy_shapes_better_than_a_threshold(topic, seed, device):
    torch.manual_seed(seed)
    images, masks = segmentation(128, image_size=32, seed=seed, noise_std=0.3)  # (128, 1, 32, 32) each
    test_images, test_masks = segmentation(128, image_size=32, seed=seed, split="test", noise_std=0.3)
    baseline = _threshold_baseline_iou(images, masks, test_images, test_masks)
    model = topic.UNet(1, 1, depth=3, width=8).to(device)
    losses = topic.train(model, images.to(device), masks.to(device), epochs=6, lr=0.03, batch_size=16, seed=seed)
    assert losses[-1] < losses[0], f"the loss should fall during training: first {losses[0]:.4f}, last {losses[-1]:.4f}"
    model.eval()
    with torch.no_grad():
        logits = check_tensor(model(test_images.to(device)), "the trained U-Net's logits on the 128 test images",
                              shape=(128, 1, 32, 32)).cpu()
    pred, t = (logits >= 0).flatten(1), test_masks.flatten(1) > 0.5
    inter, union = (pred & t).sum(1).float(), (pred | t).sum(1).float()
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean().item()
    hint = (f"the best single brightness threshold reaches IoU {baseline:.3f}; a U-Net that sees neighbourhoods "
            "and keeps its skips does far better. The solution reaches about 0.86; one that drops its skips "
            "0.67 at best")
    assert_at_least(iou, 0.78, "mean test IoU of UNet(depth=3, width=8) after 6 epochs",
                    chance=baseline, hint=hint)
    assert_at_least(iou - baseline, 0.3, "test IoU above the pixel-threshold baseline's", hint=hint)


@shapes
@task("train_step")
def test_main_trains_on_pets_through_kata_datasets(topic, monkeypatch, capsys):
    calls = []

    # A stand-in for kata.datasets' loader: tests never download.
    def load_pets(*, root="data", train=True, image_size=64, download=True, limit=None):
        calls.append((train, image_size))
        g = torch.Generator().manual_seed(8 if train else 9)
        n = 10 if limit is None else min(limit, 10)
        images = torch.rand(n, 3, image_size, image_size, generator=g)
        return images, (torch.rand(n, 1, image_size, image_size, generator=g) < 0.5).float()

    monkeypatch.setattr(kata.datasets, "load_pets", load_pets)
    code = topic.main(["--data", "pets", "--image-size", "16", "--train-size", "8", "--test-size", "4",
                       "--depth", "1", "--width", "2", "--epochs", "1", "--device", "cpu"])
    assert code == 0, f"main(['--data', 'pets', ...]) should return 0, got {code!r}"
    assert calls == [(True, 16), (False, 16)], (
        f"main(['--data', 'pets', '--image-size', '16']) should load both splits of Pets at 16 pixels through "
        f"kata.datasets.load_data, got load_pets calls (train, image_size) {calls}")
    assert "IoU" in capsys.readouterr().out, "main() should print the test IoU"

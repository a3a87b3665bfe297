"""Hidden suite for 05 VGG: the configuration table, make_layers, the VGG module, the builder.

Compatibility with torchvision is proved in three parts: the parameter counts, the
state-dict keys and shapes of all eight models (built on the `meta` device, so the
138 M parameters cost no memory and no time), and the same outputs as torchvision's
own layers with the same weights (keys and shapes cannot see a missing pool, a
wrong padding or a flatten in the wrong order; an output can).
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import assert_at_least, assert_close, calling, check_on_meta, check_tensor
from kata.images import shapes as shape_images
from kata.training import accuracy as accuracy_of

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

# Likely causes of an exception raised inside the learner's code (shown by grader.checks.calling).
CONFIG = ("config(name) looks the name up in a table of the four columns \"A\", \"B\", \"D\", \"E\" and raises "
          "ValueError (not KeyError) for any other name")
LAYERS = ("each int v of cfg gives nn.Conv2d(channels, v // width_divisor, kernel_size=3, padding=1) "
          "(then nn.BatchNorm2d(v // width_divisor) with batch_norm) and nn.ReLU(inplace=True), and the next "
          "convolution takes v // width_divisor channels; the first takes in_channels; \"M\" gives nn.MaxPool2d(2, 2)")
MODEL = ("forward is features, avgpool, torch.flatten(x, 1), classifier, and the first Linear takes "
         "out_channels * pool_size * pool_size inputs; keep the input's dtype (no x.float())")
BUILD = ("vgg() passes in_channels and width_divisor to make_layers, and out_channels (the last convolution's "
         "channels // width_divisor), pool_size, hidden_size, dropout and init_weights to VGG")
TRAINING = ("an error while training comes from your model: run the shape tests first, "
            "`uv run pytest exercises/05_vgg -m shapes`")

# Table 1 of Simonyan & Zisserman (2015), columns A, B, D, E.
TABLE = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# sum(p.numel() for p in torchvision.models.<name>().parameters()), 1000 classes.
PARAMETERS = {
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
}
BAR = 0.8  # 9 epochs, seeds 0-29: 0.89-0.96 (mean 0.93); chance 0.1; without BatchNorm 0.09-0.11
CLASSIFIER = ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def _layout(seq: nn.Module) -> list[str]:
    return [type(m).__name__ for m in seq]


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _check_classifier(model: nn.Module, call: str) -> None:
    """Fail with a message, not an IndexError, when the classifier's modules are not torchvision's seven."""
    __tracebackhide__ = True
    assert _layout(model.classifier) == CLASSIFIER, (
        f"{call}.classifier: expected the modules {CLASSIFIER}, got {_layout(model.classifier)}. Likely cause: "
        "each hidden Linear is followed by ReLU and Dropout; the last Linear gives logits with nothing after it")


def _randomise(model: nn.Module, seed: int) -> None:
    """Random weights everywhere, and BatchNorm running statistics far from (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def _tiny_features(in_channels: int = 3, channels: int = 16) -> nn.Sequential:
    """A small stand-in for make_layers' output, so VGG is tested on its own."""
    return nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2))


# ------------------------------------------------------------------ config
@shapes
@task("config")
def test_config_is_table_1(topic):
    for name, expected in TABLE.items():
        with calling(CONFIG):
            got = topic.config(name)
        convs = sum(v != "M" for v in expected)
        assert list(got) == expected, (
            f"config({name!r}): expected {expected}, got {got!r:.300}. Likely cause: column {name} of Table 1 "
            f"has {convs} convolutions (+ 3 fully connected = {convs + 3} weight layers) and 5 max-pools; "
            "count the convolutions of each block"
        )
    with pytest.raises(ValueError), calling(CONFIG):
        topic.config("C")  # the paper's column C has 1x1 convolutions: not in this table
    # The caller owns what it gets: editing it must not change the next call's answer. (A tuple cannot be
    # edited, so there is nothing to share.)
    with calling(CONFIG):
        edited = topic.config("A")
        if isinstance(edited, list):
            edited[0] = 1
            edited.append("M")
        again = topic.config("A")
    assert list(again) == TABLE["A"], (
        f"config('A') after a caller edited the list an earlier call returned: expected {TABLE['A']}, got "
        f"{again!r:.300}. Likely cause: config returns the table's own list (a module-level table, as "
        "torchvision's cfgs); return a copy, list(table[name])")


# ------------------------------------------------------------------ make_layers
@shapes
@task("make_layers")
def test_make_layers_layout(topic):
    cfg = [8, "M", 16, 16, "M"]
    with calling(LAYERS):
        plain = topic.make_layers(cfg)
    assert isinstance(plain, nn.Sequential), f"make_layers must return an nn.Sequential, got {type(plain).__name__}"
    expected = ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    assert _layout(plain) == expected, (
        f"make_layers({cfg}): expected the modules {expected}, got {_layout(plain)}. "
        "Likely cause: every int is a Conv2d then a ReLU, every 'M' one MaxPool2d, all flat in one Sequential"
    )
    with calling(LAYERS):
        with_bn = topic.make_layers(cfg, batch_norm=True)
    expected_bn = ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU",
                   "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert _layout(with_bn) == expected_bn, (
        f"make_layers({cfg}, batch_norm=True): expected {expected_bn}, got {_layout(with_bn)}. "
        "Likely cause: BatchNorm2d goes between the convolution and its ReLU, in the same Sequential"
    )
    for m in with_bn:
        if isinstance(m, nn.Conv2d):
            assert (m.kernel_size, m.stride, m.padding) == ((3, 3), (1, 1), (1, 1)), (
                f"every VGG convolution is 3x3 with stride 1 and padding 1 (the size stays); got {m}")
            assert m.bias is not None, (
                "the convolutions keep their bias even before BatchNorm: torchvision's keys have it")
        if isinstance(m, nn.MaxPool2d):
            assert (m.kernel_size, m.stride) in ((2, 2), ((2, 2), (2, 2))), f"pools are 2x2 with stride 2; got {m}"
    with calling(LAYERS):
        out = with_bn(torch.rand(2, 3, 16, 16))
    check_tensor(out, f"make_layers({cfg}, batch_norm=True) on (2, 3, 16, 16)", shape=(2, 16, 4, 4),
                 dtype=torch.float32, hint="convolutions keep H and W (padding 1); each pool halves them")
    with calling(LAYERS):
        odd = plain(torch.rand(1, 3, 15, 13))
    check_tensor(odd, f"make_layers({cfg}) on an odd-sized (1, 3, 15, 13) image", shape=(1, 16, 3, 3),
                 dtype=torch.float32, hint="a 2x2 max-pool with stride 2 rounds down, as nn.MaxPool2d(2, 2) does by "
                                           "default (15 -> 7 -> 3): no ceil_mode")
    with calling(LAYERS):
        narrow = topic.make_layers(cfg, batch_norm=True, in_channels=1, width_divisor=4)
        out = narrow(torch.rand(2, 1, 16, 16))
    check_tensor(out, "make_layers([8, 'M', 16, 16, 'M'], in_channels=1, width_divisor=4)", shape=(2, 4, 4, 4),
                 dtype=torch.float32,
                 hint="the first convolution takes in_channels; each int v gives v // width_divisor")
    assert cfg == [8, "M", 16, 16, "M"], (
        f"make_layers([8, 'M', 16, 16, 'M'], ..., width_divisor=4) changed the caller's cfg to {cfg}: make_layers "
        "only reads it. Likely cause: v // width_divisor written back into cfg[i]; keep it in a local "
        "(out = v // width_divisor), the caller (vgg) still needs the table")


@gradients
@task("make_layers")
def test_make_layers_matches_torchvision(topic):
    from torchvision.models import vgg as tv

    cfg = [16, "M", 32, "M", 32, 32, "M"]
    for batch_norm, size in ((False, (24, 24)), (True, (24, 24)), (False, (27, 23))):  # odd sizes round down
        x = torch.rand(2, 3, *size)
        reference = tv.make_layers(cfg, batch_norm=batch_norm)
        _randomise(reference, seed=5)
        with calling(LAYERS):
            ours = topic.make_layers(cfg, batch_norm=batch_norm)
        keys, expected = list(ours.state_dict()), list(reference.state_dict())
        assert keys == expected, (
            f"make_layers({cfg}, batch_norm={batch_norm}): state-dict keys {keys} differ from torchvision's "
            f"{expected}. Likely cause: the modules' order or count differs (indices are the keys)")
        ours.load_state_dict(reference.state_dict(), strict=True)
        reference.eval(), ours.eval()
        name = f"make_layers({cfg}, batch_norm={batch_norm}) on x {tuple(x.shape)} with torchvision's weights"
        with torch.no_grad(), calling(LAYERS):
            out, expected = ours(x), reference(x)
        check_tensor(out, name, shape=expected.shape, dtype=torch.float32,
                     hint="2x2 max-pools with stride 2 round odd sizes down (27 -> 13 -> 6 -> 3): no ceil_mode")
        assert_close(out, expected, name,
                     hint="a 3x3 convolution with padding 1, then BatchNorm (in eval, its running statistics), "
                          "then ReLU; 2x2 max-pools with stride 2")


@gradients
@task("make_layers")
def test_make_layers_batchnorm_in_training_mode(topic):
    """In train() mode BatchNorm normalises with the batch's statistics and updates its running ones.

    PyTorch's convention: running = (1 - momentum) * running + momentum * batch statistic, momentum 0.1,
    with the unbiased variance. (Keras writes momentum=0.99 for the same rule the other way round.)
    """
    from torchvision.models import vgg as tv

    cfg = [8, "M", 16]
    reference = tv.make_layers(cfg, batch_norm=True)
    _randomise(reference, seed=6)  # running statistics far from (0, 1): the old value must keep weight 0.9
    with calling(LAYERS):
        ours = topic.make_layers(cfg, batch_norm=True)
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.train(), reference.train()
    g = torch.Generator().manual_seed(7)
    x = torch.randn(4, 3, 10, 10, generator=g) * 2 + 1
    conv, bn = ours[0], ours[1]
    before_mean, before_var = bn.running_mean.clone(), bn.running_var.clone()
    with torch.no_grad():
        h = F.conv2d(x, conv.weight, conv.bias, padding=1)  # (4, 8, 10, 10): what the first BatchNorm sees
        with calling(LAYERS):
            out = ours(x)
        expected = reference(x)
    assert_close(bn.running_mean, 0.9 * before_mean + 0.1 * h.mean(dim=(0, 2, 3)),
                 "the first BatchNorm's running_mean after one batch in train()",
                 hint="nn.BatchNorm2d(channels) with PyTorch's default momentum=0.1: running = 0.9 * running + "
                      "0.1 * batch mean. Keras' momentum=0.99 means the opposite here; momentum=None is a plain "
                      "average")
    assert_close(bn.running_var, 0.9 * before_var + 0.1 * h.var(dim=(0, 2, 3)),
                 "the first BatchNorm's running_var after one batch in train() (unbiased batch variance)",
                 hint="nn.BatchNorm2d(channels) with its defaults (momentum=0.1, track_running_stats=True)")
    check_tensor(out, f"make_layers({cfg}, batch_norm=True) in train() on x (4, 3, 10, 10)", shape=expected.shape,
                 dtype=torch.float32)
    assert_close(out, expected, f"make_layers({cfg}, batch_norm=True) in train() against torchvision's",
                 hint="in train() BatchNorm normalises with the batch's own mean and (biased) variance")
    for key, value in reference.state_dict().items():
        if "running" in key or "num_batches" in key:
            assert_close(ours.state_dict()[key], value, f"{key} after one batch in train(), against torchvision's",
                         hint="every BatchNorm2d keeps PyTorch's defaults: eps=1e-5, momentum=0.1")


# ------------------------------------------------------------------ VGG
@shapes
@task("VGG")
def test_vgg_module_layout(topic):
    features = _tiny_features(channels=16)
    with calling(MODEL):
        model = topic.VGG(features, num_classes=5, out_channels=16, pool_size=2, hidden_size=32, dropout=0.3)
    assert model.features is features, "VGG must keep the given features module as self.features"
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d) and tuple(
        model.avgpool.output_size if isinstance(model.avgpool.output_size, tuple) else (model.avgpool.output_size,) * 2
    ) == (2, 2), f"self.avgpool: expected AdaptiveAvgPool2d((2, 2)) for pool_size=2, got {model.avgpool}"
    assert _layout(model.classifier) == CLASSIFIER, (
        f"self.classifier: expected the modules {CLASSIFIER}, got {_layout(model.classifier)}. Likely cause: "
        "each hidden Linear is followed by ReLU and Dropout; the last Linear gives logits with nothing after it")
    first, middle, last = model.classifier[0], model.classifier[3], model.classifier[6]
    sizes = [(first.in_features, first.out_features), (middle.in_features, middle.out_features),
             (last.in_features, last.out_features)]
    assert sizes == [(16 * 2 * 2, 32), (32, 32), (32, 5)], (
        f"classifier Linear sizes for out_channels=16, pool_size=2, hidden_size=32, num_classes=5: expected "
        f"[(64, 32), (32, 32), (32, 5)], got {sizes}. Likely cause: the first Linear takes out_channels * pool_size²")
    assert [model.classifier[i].p for i in (2, 5)] == [0.3, 0.3], "both Dropouts use the `dropout` argument"
    for size in (16, 28):
        with calling(MODEL):
            out = model(torch.rand(3, 3, size, size))
        check_tensor(out, f"VGG(...)(x) for x of shape (3, 3, {size}, {size})", shape=(3, 5), dtype=torch.float32,
                     hint="features, avgpool, torch.flatten(x, 1), classifier: "
                          "the adaptive pool makes any input size give pool_size x pool_size")
    with torch.device("meta"), calling(MODEL):
        default = topic.VGG(_tiny_features(channels=512))
    assert (default.classifier[0].in_features, default.classifier[0].out_features,
            default.classifier[6].out_features) == (512 * 7 * 7, 4096, 1000), (
        "VGG(features) with the defaults must be the paper's: Linear(512*7*7, 4096) ... Linear(4096, 1000); "
        f"got {default.classifier}")
    assert default.classifier[2].p == 0.5, "the default dropout is 0.5, as in the paper and torchvision"


@gradients
@task("VGG")
def test_vgg_dropout_zero_keeps_every_unit(topic):
    # dropout=0.0 is a value, not "not given": no unit is dropped, so train() and eval() give the same logits
    # (these features have no BatchNorm, the only other thing train() changes).
    torch.manual_seed(0)
    with calling(MODEL):
        model = topic.VGG(_tiny_features(channels=16), num_classes=5, out_channels=16, pool_size=2, hidden_size=64,
                          dropout=0.0)
    _check_classifier(model, "VGG(..., dropout=0.0)")
    ps = [model.classifier[i].p for i in (2, 5)]
    assert ps == [0.0, 0.0], (
        f"VGG(..., dropout=0.0): both Dropouts should have p=0.0, got {ps}. Likely cause: 0.0 read as 'not given' "
        "(`dropout or 0.5`, `if dropout:`); pass dropout on as it is")
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad(), calling(MODEL):
        trained = model.train()(x)
        evaluated = model.eval()(x)
    assert_close(trained, evaluated, "VGG(..., dropout=0.0)(x) in train() against eval()",
                 hint="with dropout=0.0 no unit is dropped: nn.Dropout(p=dropout) with p exactly 0.0")


def _features_to_initialise() -> nn.Sequential:
    """Two conv-BN-ReLU blocks whose values _init_weights must overwrite (or, with init_weights=False, keep)."""
    features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                             nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
    with torch.no_grad():
        for m in features:
            if isinstance(m, nn.Conv2d):
                m.bias.fill_(1.0)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(3.0), m.bias.fill_(1.0)
    return features


def _within_one_std(w: torch.Tensor, std: float) -> float:
    """The share of values within ±std of 0: 0.683 for a normal of that std, 0.577 for a uniform."""
    return (w.abs() < std).double().mean().item()


@shapes
@task("VGG")
def test_vgg_initialisation(topic):
    # torchvision's rule, checked by distribution family and scale: He normal (fan_out) for every
    # convolution, N(0, 0.01) for every Linear, zero biases, BatchNorm at (1, 0). A uniform of the
    # same std puts 58% of its values within one std, a normal 68%.
    torch.manual_seed(0)
    with calling(MODEL):
        model = topic.VGG(_features_to_initialise(), num_classes=10, out_channels=64, pool_size=2, hidden_size=256)
    _check_classifier(model, "VGG(...)")
    expected_std = (2 / (64 * 3 * 3)) ** 0.5  # He, fan_out = out_channels * 3 * 3
    for i in (0, 3):
        conv, bn = model.features[i], model.features[i + 1]
        w = conv.weight.detach()
        std = w.std().item()
        assert abs(std / expected_std - 1) < (0.1 if i == 0 else 0.03), (
            f"features[{i}] (a 3x3 convolution to 64 channels) weights: expected std ≈ {expected_std:.4f} "
            f"(kaiming_normal_, mode='fan_out', nonlinearity='relu'), got {std:.4f}. Likely cause: _init_weights is "
            "not called, or uses fan_in")
        assert_close(conv.bias, torch.zeros(64), f"features[{i}] (convolution) bias after init",
                     hint="nn.init.zeros_(m.bias)")
        assert_close(bn.weight, torch.ones(64), f"features[{i + 1}] (BatchNorm) weight after init",
                     hint="nn.init.ones_(m.weight)")
        assert_close(bn.bias, torch.zeros(64), f"features[{i + 1}] (BatchNorm) bias after init",
                     hint="nn.init.zeros_(m.bias)")
    share = _within_one_std(model.features[3].weight.detach(), expected_std)
    assert 0.66 < share < 0.71, (
        f"features[3] (64 x 64 x 3 x 3 weights): {share:.3f} of the weights lie within one std of 0; a normal "
        "distribution puts 0.683 there, a uniform 0.577. Likely cause: kaiming_uniform_ instead of kaiming_normal_")
    for i, tolerance in ((0, 0.03), (3, 0.03), (6, 0.1)):
        linear = model.classifier[i]
        w = linear.weight.detach()
        std = w.std().item()
        assert abs(std / 0.01 - 1) < tolerance, (
            f"classifier[{i}] weights: expected std ≈ 0.01 (nn.init.normal_(w, 0, 0.01)), got {std:.4f}")
        assert_close(linear.bias, torch.zeros(linear.out_features), f"classifier[{i}] bias after init",
                     hint="nn.init.zeros_(m.bias)")
    share = _within_one_std(model.classifier[0].weight.detach(), 0.01)
    assert 0.66 < share < 0.71, (
        f"classifier[0] weights: {share:.3f} of them lie within ±0.01; N(0, 0.01) puts 0.683 there. "
        "Likely cause: a uniform distribution instead of nn.init.normal_(m.weight, 0, 0.01)")


@shapes
@task("VGG")
def test_vgg_without_init_weights_keeps_pytorch_defaults(topic):
    # init_weights=False leaves every module as it was built: here, values set beforehand, and
    # PyTorch's own Linear init (uniform in ±1/sqrt(in_features)) in the classifier.
    torch.manual_seed(0)
    with calling(MODEL):
        model = topic.VGG(_features_to_initialise(), num_classes=10, out_channels=64, pool_size=2, hidden_size=256,
                          init_weights=False)
    _check_classifier(model, "VGG(..., init_weights=False)")
    assert_close(model.features[0].bias, torch.ones(64), "a convolution's bias with init_weights=False",
                 hint="call self._init_weights() only when init_weights is True")
    assert_close(model.features[1].weight, torch.full((64,), 3.0), "a BatchNorm weight with init_weights=False",
                 hint="call self._init_weights() only when init_weights is True")
    w = model.classifier[0].weight.detach()
    bound = 1 / model.classifier[0].in_features ** 0.5  # 1/sqrt(64 * 2 * 2) when the sizes are right
    assert w.abs().max().item() <= bound and w.std().item() > 0.5 * bound, (
        f"classifier[0] with init_weights=False: expected nn.Linear's own init, uniform in ±{bound:.4f} "
        f"(std {bound / 3**0.5:.4f}); got std {w.std().item():.4f}, largest {w.abs().max().item():.4f}. "
        "Likely cause: _init_weights runs although init_weights is False")


@shapes
@task("VGG")
def test_init_weights_called_later_works_in_place(topic):
    # Called on a model built with init_weights=False, _init_weights initialises (the call is the request),
    # and it changes the model's own parameter tensors: an optimizer built before still holds them.
    torch.manual_seed(0)
    with calling(MODEL):
        model = topic.VGG(_features_to_initialise(), num_classes=10, out_channels=64, pool_size=2, hidden_size=256,
                          init_weights=False)
    _check_classifier(model, "VGG(..., init_weights=False)")
    before = {name: (p, p.data_ptr()) for name, p in model.named_parameters()}
    with calling(MODEL):
        model._init_weights()
    hint = ("_init_weights() initialises whenever it is called: check init_weights in __init__ (if init_weights: "
            "self._init_weights()), not inside _init_weights")
    assert_close(model.features[0].bias, torch.zeros(64), "a convolution's bias after model._init_weights() on a "
                 "model built with init_weights=False", hint=hint)
    assert_close(model.features[1].weight, torch.ones(64), "a BatchNorm weight after model._init_weights() on a "
                 "model built with init_weights=False", hint=hint)
    std = model.classifier[0].weight.detach().std().item()
    assert abs(std / 0.01 - 1) < 0.03, (
        f"classifier[0] weights after model._init_weights(): expected std ≈ 0.01, got {std:.4f}. "
        f"Likely cause: {hint}")
    after = dict(model.named_parameters())
    assert after.keys() == before.keys(), (
        f"model._init_weights() changed the parameters' names: {sorted(after.keys() ^ before.keys())[:4]}")
    for name, (p, pointer) in before.items():
        assert after[name] is p and p.data_ptr() == pointer, (
            f"model._init_weights() replaced {name} with a new tensor instead of filling the one the model had: "
            "an optimizer built before would keep training the old one. Likely cause: m.weight = nn.Parameter(...) "
            "(or .data = ...); use nn.init.normal_(m.weight, 0, 0.01), nn.init.zeros_(m.bias), ..., which work in "
            "place")


@shapes
@task("VGG")
def test_vgg_follows_the_input_dtype_and_device(topic):
    with calling(MODEL):
        model = topic.VGG(_tiny_features(channels=16), num_classes=5, out_channels=16, pool_size=2,
                          hidden_size=32).double()
        x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
        out = model(x)
    check_tensor(out, "VGG(...).double()(x) for float64 x (2, 3, 16, 16)", shape=(2, 5), dtype=torch.float64,
                 hint="forward keeps the input's dtype: no x.float(), no tensor made with a fixed dtype")
    with torch.device("meta"), calling(MODEL):  # shapes only, no data
        model = topic.VGG(_tiny_features(channels=16), num_classes=5, out_channels=16, pool_size=2, hidden_size=32)
    # Called outside torch.device("meta"), where a tensor made without device= lands on the CPU and shows.
    with calling(MODEL):
        check_on_meta("VGG(...)(x) for x (2, 3, 16, 16)", model, torch.rand(2, 3, 16, 16, device="meta"), shape=(2, 5),
                      dtype=torch.float32, hint="a tensor made without device=x.device, or a .to()/.cpu() in forward")


@gradients
@task("VGG")
def test_forward_matches_torchvision(topic):
    """Our vgg11 / vgg11_bn compute what torchvision's layers compute with the same weights.

    torchvision's classifier is fixed at 4096 wide (124 M weights, seconds to fill), so
    both models keep torchvision's real features (9 M weights) and ours gets a 64-wide
    head, compared with Linear-ReLU-Linear-ReLU-Linear written out.
    """
    import torchvision

    x = torch.rand(2, 3, 64, 64)  # 2x2 maps after five pools: the 7x7 average pool has work to do
    for name in ("vgg11", "vgg11_bn"):
        with torch.device("meta"):
            reference = getattr(torchvision.models, name)(init_weights=False)
            with calling(BUILD):
                ours = getattr(topic, name)(num_classes=10, hidden_size=64)
        _check_classifier(ours, f"{name}(num_classes=10, hidden_size=64)")
        features = reference.features.to_empty(device="cpu")
        _randomise(features, seed=7)
        g = torch.Generator().manual_seed(8)
        head = {k: torch.randn(v.shape, generator=g) * 0.02 for k, v in ours.state_dict().items()
                if k.startswith("classifier.")}
        state = {f"features.{k}": v for k, v in features.state_dict().items()} | head
        try:
            ours.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as error:
            raise AssertionError(f"{name}(num_classes=10, hidden_size=64) does not take torchvision's feature "
                                 f"weights (features.*) and a 64-wide head (classifier.0/3/6): {error}") from None
        ours.eval(), features.eval()
        with torch.no_grad():
            h = torch.flatten(reference.avgpool(features(x)), 1)  # (2, 512*7*7)
            h = F.relu(F.linear(h, head["classifier.0.weight"], head["classifier.0.bias"]))
            h = F.relu(F.linear(h, head["classifier.3.weight"], head["classifier.3.bias"]))
            expected = F.linear(h, head["classifier.6.weight"], head["classifier.6.bias"])  # (2, 10)
            with calling(MODEL):
                out = ours(x)
            check_tensor(out, f"{name}(num_classes=10, hidden_size=64)(x) for x (2, 3, 64, 64)", shape=(2, 10),
                         dtype=torch.float32)
            assert_close(out, expected, f"{name}(x) for x (2, 3, 64, 64), in eval(), with torchvision's features",
                         atol=1e-4, rtol=1e-4,
                         hint="features (3x3 convs, padding 1, 2x2 pools), AdaptiveAvgPool2d((7, 7)), "
                              "torch.flatten(x, 1) (channel-major), then the classifier with no ReLU after its "
                              "last Linear; any pool, padding or flatten order that differs shows here")


# ------------------------------------------------------------------ vgg and the factories
@shapes
@task("vgg")
def test_parameter_counts_equal_torchvision(topic):
    for name, expected in PARAMETERS.items():
        with torch.device("meta"), calling(BUILD):  # no memory, no time: shapes only
            model = getattr(topic, name)()
        got = _count(model)
        assert got == expected, (
            f"{name}(): expected {expected:,} parameters (torchvision's), got {got:,} (off by {got - expected:+,}). "
            "Likely cause: a convolution too many or too few in the table, a conv without bias, or "
            "a classifier that does not start with Linear(512*7*7, 4096)")
    with torch.device("meta"), calling(BUILD):
        model = topic.vgg16(num_classes=10)
    assert _count(model) == 134_301_514, (
        f"vgg16(num_classes=10): expected 134,301,514 parameters, got {_count(model):,}")


@shapes
@task("vgg")
def test_torchvision_state_dicts_load_strict(topic):
    import torchvision

    for name in PARAMETERS:
        with torch.device("meta"):
            reference = getattr(torchvision.models, name)()
            with calling(BUILD):
                ours = getattr(topic, name)()
        expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
        missing, unexpected = sorted(expected.keys() - got.keys()), sorted(got.keys() - expected.keys())
        assert not missing and not unexpected, (
            f"{name}: state-dict keys differ from torchvision's.\nMissing: {missing[:6]}\n"
            f"Unexpected: {unexpected[:6]}\n"
            "Likely cause: the modules' indices in features or classifier differ (BatchNorm before ReLU, "
            "one flat Sequential, Linear/ReLU/Dropout x2 then Linear), or the names are not "
            "features/avgpool/classifier")
        wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
        assert not wrong, f"{name}: tensors of the wrong shape (ours, torchvision's): {dict(list(wrong.items())[:4])}"
        ours.load_state_dict(reference.state_dict(), strict=True, assign=True)


@shapes
@task("vgg")
def test_narrow_vgg_layout(topic):
    torch.manual_seed(0)
    with calling(BUILD):
        model = topic.vgg("A", batch_norm=True, num_classes=10, width_divisor=8, pool_size=1, hidden_size=64)
    _check_classifier(model, "vgg('A', ...)")
    convs = [m.out_channels for m in model.features if isinstance(m, nn.Conv2d)]
    assert convs == [8, 16, 32, 32, 64, 64, 64, 64], (
        f"vgg('A', width_divisor=8): expected conv channels [8, 16, 32, 32, 64, 64, 64, 64], got {convs}. "
        "Likely cause: width_divisor is not passed on to make_layers")
    assert (model.classifier[0].in_features, model.classifier[0].out_features) == (64, 64), (
        f"vgg('A', width_divisor=8, pool_size=1, hidden_size=64): the first Linear should be Linear(64 * 1 * 1, 64), "
        f"got {model.classifier[0]}. Likely cause: out_channels must follow the last conv's width (512 // 8)")
    with calling(MODEL):
        out = model(torch.rand(4, 3, 32, 32))
    check_tensor(out, "narrow VGG-11 on (4, 3, 32, 32)", shape=(4, 10), dtype=torch.float32)
    conv = sum(9 * c_in * c_out + c_out + 2 * c_out for c_in, c_out in zip([3] + convs[:-1], convs))
    expected = conv + (64 * 64 + 64) * 2 + 64 * 10 + 10
    assert _count(model) == expected, (
        f"narrow VGG-11 with BatchNorm: expected {expected:,} parameters, got {_count(model):,}")
    with calling(BUILD):
        grey = topic.vgg("A", in_channels=1, width_divisor=8, pool_size=1, hidden_size=64, num_classes=10)
        out = grey(torch.rand(2, 1, 32, 32))
    check_tensor(out, "vgg('A', in_channels=1, ...) on grey (2, 1, 32, 32) images", shape=(2, 10),
                 dtype=torch.float32, hint="pass in_channels on to make_layers")
    # dropout and init_weights reach VGG: vgg() initialises (zero biases) unless told not to.
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(float(m.bias.detach().abs().max()) == 0 for m in layers), (
        "vgg(...) with the default init_weights=True: every convolution and Linear bias should be 0 "
        "(torchvision's init). Likely cause: init_weights is not passed on to VGG")
    assert [model.classifier[i].p for i in (2, 5)] == [0.5, 0.5], "vgg(...) keeps the default dropout of 0.5"
    torch.manual_seed(0)
    with calling(BUILD):
        plain = topic.vgg("A", batch_norm=True, width_divisor=8, pool_size=1, hidden_size=64, num_classes=10,
                          dropout=0.2, init_weights=False)
    _check_classifier(plain, "vgg('A', ..., dropout=0.2, init_weights=False)")
    assert [plain.classifier[i].p for i in (2, 5)] == [0.2, 0.2], (
        f"vgg(..., dropout=0.2): both Dropouts should have p=0.2, got {[plain.classifier[i].p for i in (2, 5)]}. "
        "Likely cause: dropout is not passed on to VGG")
    with calling(BUILD):
        kept = topic.vgg("A", width_divisor=8, pool_size=1, hidden_size=64, num_classes=10, dropout=0.0)
    _check_classifier(kept, "vgg('A', ..., dropout=0.0)")
    assert [kept.classifier[i].p for i in (2, 5)] == [0.0, 0.0], (
        f"vgg(..., dropout=0.0): both Dropouts should have p=0.0, got {[kept.classifier[i].p for i in (2, 5)]}. "
        "Likely cause: 0.0 read as 'not given' (`dropout or 0.5`); pass dropout on as it is")
    biases = [m.bias for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert all(float(b.detach().abs().max()) > 0 for b in biases), (
        "vgg(..., init_weights=False) should keep PyTorch's default initialisation (biases uniform, not 0). "
        "Likely cause: init_weights is not passed on to VGG, or VGG ignores it")


@accuracy
@task("vgg")
def test_narrow_vgg_bn_learns_colour_shapes(topic, seed, device):
    torch.manual_seed(seed)
    X, y = (t.to(device) for t in shape_images(1000, image_size=32, channels=3, seed=seed))
    X_test, y_test = (t.to(device) for t in shape_images(1000, image_size=32, channels=3, seed=seed, split="test"))
    # PyTorch's default init: torchvision's N(0, 0.01) for Linear would stall a 64-wide head.
    with calling(BUILD):
        model = topic.vgg("A", batch_norm=True, num_classes=10, width_divisor=8, pool_size=1, hidden_size=64,
                          dropout=0.0, init_weights=False).to(device)
    model.eval()  # one look at the output without touching BatchNorm's running statistics
    with torch.no_grad(), calling(MODEL):
        logits = model(X[:2])
    check_tensor(logits, "the narrow VGG-11's logits for 2 images", shape=(2, 10), dtype=X.dtype)
    # channels_last (NHWC) memory: the same model and numbers, a quarter faster on a CPU.
    model = model.to(memory_format=torch.channels_last)
    X, X_test = (t.contiguous(memory_format=torch.channels_last) for t in (X, X_test))
    model.train()
    with calling(TRAINING):
        topic.train(model, X, y, epochs=9, batch_size=64, lr=0.05, seed=seed)
    acc = accuracy_of(model, X_test, y_test)
    assert_at_least(acc, BAR, "test accuracy of a narrow VGG-11 with BatchNorm on 32x32 colour shapes",
                    chance=0.1, hint="the solution reaches about 0.93; without BatchNorm this run stays at chance. "
                                     "Check BatchNorm's place (after the conv, before ReLU) and forward()")

"""Hidden suite for 02 MLP: activations, the model, losses, backprop by hand, learning."""

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader import checks
from grader.checks import (assert_at_least, assert_at_most, assert_close, assert_equal, check_on_meta, check_tensor,
                           clones, on_meta)
from kata.data import rings, wave

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

# PyTorch's own activations: the references the learner's hand-written ones must equal.
TORCH_ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
# Exact zeros, tiny and huge values: where hand-written activations usually go wrong.
EDGE_X = [-1000.0, -100.0, -20.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 20.0, 100.0, 1000.0]
DEVICE_HINT = ("a tensor made without device= lands on the CPU: make new tensors from the input "
               "(torch.zeros_like(x), torch.where(c, x, 0.0)) or pass device=x.device")
IN_PLACE = ("an in-place operation on an input (clamp_, gt_, sub_, +=, x[mask] = ..., or out = x where a new "
            "tensor was meant): no task here promises to work in place, so compute into new tensors")


# The inputs left alone, with this topic's likely cause.
check_unchanged = functools.partial(checks.check_unchanged, hint=IN_PLACE)


def _value_and_grad(fn, x: torch.Tensor, name: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """fn(x) and its gradient; `name` (for the learner's fn) checks the result is a tensor of x's dtype first."""
    __tracebackhide__ = True
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    if name is not None:
        check_tensor(out, name, dtype=x.dtype, finite=False, hint="compute in the input's own dtype: no .float(), "
                     ".double() or new tensors of another dtype")
        assert out.requires_grad, f"{name} carries no gradient: build it from torch operations (no detach, no .item())"
    (grad,) = torch.autograd.grad(out.sum(), x)
    return out, grad


def _check_activation(topic, name: str, hint: str) -> None:
    __tracebackhide__ = True
    mine, ref = getattr(topic, name), TORCH_ACTIVATIONS[name]
    g = torch.Generator().manual_seed(4)
    for x, label, atol in ((torch.randn(3, 50, generator=g, dtype=torch.float64) * 4, "random float64 x", 1e-10),
                           (torch.tensor(EDGE_X), "x in (-1000, -100, ..., 0, ..., 100, 1000), float32", 1e-6)):
        out, grad = _value_and_grad(mine, x, f"{name}(x) for {label}")
        ref_out, ref_grad = _value_and_grad(ref, x)
        assert_close(out, ref_out, f"{name}(x) for {label}", atol=atol, hint=hint)
        check_tensor(grad, f"d {name}(x) / dx for {label}", hint=hint)
        assert_close(grad, ref_grad, f"d {name}(x) / dx for {label}, against autograd through torch.{name}",
                     atol=atol, hint=hint)
    check_on_meta(f"{name}(x) for x (2, 3)", mine, torch.empty(2, 3, device="meta"), shape=(2, 3),
                  dtype=torch.float32, hint=DEVICE_HINT)


# ------------------------------------------------------------------ activations
@shapes
@task("relu")
def test_relu_keeps_shape_and_sign(topic):
    x = torch.linspace(-3, 3, 24).reshape(2, 3, 4)  # (2, 3, 4)
    before = clones(x=x)
    out = check_tensor(topic.relu(x), "relu(x) for x of shape (2, 3, 4)", shape=(2, 3, 4), dtype=torch.float32,
                       hint="compute elementwise, with no reduction or reshape")
    check_unchanged("relu(x)", before, x=x)
    assert (out >= 0).all(), f"relu(x) must never be negative; got a minimum of {out.min():.3g}"
    assert_equal(out[x > 0], x[x > 0], "relu(x) at the positive x, which it must return unchanged",
                 hint="keep x where x > 0 as it is: no scaling, no clamping of large values")


@gradients
@task("relu")
def test_relu_matches_torch(topic):
    _check_activation(topic, "relu", "relu(x) = x where x > 0, else 0; its gradient is 1 where x > 0 and 0 "
                      "elsewhere, also at x = 0 exactly (torch.maximum(x, torch.zeros_like(x)) gives 0.5 there): "
                      "torch.where(x > 0, x, 0) does it")


@gradients
@task("sigmoid")
def test_sigmoid_matches_torch(topic):
    _check_activation(topic, "sigmoid", "1 / (1 + exp(-x)) overflows for x = -1000 and its gradient becomes NaN: "
                      "with e = exp(-|x|) use 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0")


@gradients
@task("tanh")
def test_tanh_matches_torch(topic):
    _check_activation(topic, "tanh", "(e^x - e^-x) / (e^x + e^-x) is inf / inf = NaN for |x| > 88 in float32: "
                      "tanh(x) = 2·sigmoid(2x) - 1 with your stable sigmoid never overflows")


@gradients
@task("activation_derivative")
def test_activation_derivative_equals_autograd(topic):
    g = torch.Generator().manual_seed(5)
    z = torch.cat([torch.randn(40, generator=g, dtype=torch.float64) * 3,
                   torch.tensor([0.0, 0.0, -30.0, 30.0], dtype=torch.float64)])  # exact zeros, saturated ends
    hints = {"relu": "relu'(z) is 1 where z > 0 and 0 elsewhere: at z = 0 exactly it is 0 (z > 0, not z >= 0)",
             "sigmoid": "σ'(z) = σ(z)(1 - σ(z)): apply the sigmoid to z first",
             "tanh": "tanh'(z) = 1 - tanh(z)²: the formula 1 - t² is in terms of the output t = tanh(z), not of z"}
    for name, ref in TORCH_ACTIVATIONS.items():
        _, expected = _value_and_grad(ref, z)
        before = clones(z=z)
        got = check_tensor(topic.activation_derivative(z, name), f"activation_derivative(z, {name!r}) for "
                           "float64 z", shape=(44,), dtype=torch.float64, finite=False,
                           hint="return the slope in z's own dtype: (z > 0).to(z.dtype), not .float()")
        check_unchanged(f"activation_derivative(z, {name!r})", before, z=z)
        assert_close(got, expected, f"activation_derivative(z, {name!r}) for z of shape (44,), against autograd",
                     atol=1e-10, hint=hints[name])
        check_on_meta(f"activation_derivative(z, {name!r}) for z (2, 3)", topic.activation_derivative,
                      torch.empty(2, 3, device="meta"), name, shape=(2, 3), dtype=torch.float32, hint=DEVICE_HINT)


@shapes
@task("activation_derivative")
def test_activation_derivative_refuses_unknown_names(topic):
    for name in ("gelu", "ReLU", ""):
        with pytest.raises(ValueError):
            topic.activation_derivative(torch.zeros(3), name)
            raise AssertionError(f"activation_derivative(z, {name!r}) should raise ValueError: the names are "
                                 "'relu', 'sigmoid' and 'tanh', and any other must not silently return a slope "
                                 "(an empty name is a wrong name, not a missing one: no `activation or 'relu'`)")


# ------------------------------------------------------------------ the model
@shapes
@task("MLP")
def test_mlp_has_the_configured_layers(topic):
    hint = ("self.layers must be an nn.ModuleList of nn.Linear, one from each size to the next in "
            "[in_features, *hidden_sizes, out_features]")
    for args, layers, count in (((2, [16, 8], 3), [(2, 16), (16, 8), (8, 3)], 2 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3),
                                ((2, [], 3), [(2, 3)], 2 * 3 + 3),
                                ((5, [7], 1), [(5, 7), (7, 1)], 5 * 7 + 7 + 7 * 1 + 1),
                                ((3, (6, 4), 2), [(3, 6), (6, 4), (4, 2)], 3 * 6 + 6 + 6 * 4 + 4 + 4 * 2 + 2),
                                ((4, (), 2), [(4, 2)], 4 * 2 + 2)):  # empty, and falsy: still no hidden layer
        model = topic.MLP(*args)
        assert isinstance(getattr(model, "layers", None), nn.ModuleList), (
            f"MLP{args}.layers: expected an nn.ModuleList, got {type(getattr(model, 'layers', None)).__name__}. "
            f"Likely cause: {hint} (a plain list hides the layers from .parameters() and .to())")
        got = [(m.in_features, m.out_features) if isinstance(m, nn.Linear) else type(m).__name__ for m in model.layers]
        assert got == layers, f"MLP{args}.layers: expected nn.Linear layers {layers}, got {got}.\nLikely cause: {hint}"
        params = sum(p.numel() for p in model.parameters())
        assert params == count, (f"MLP{args}: expected {count} parameters, got {params}.\nLikely cause: every layer "
                                 "must be registered (nn.ModuleList), with a bias")
        X = torch.randn(6, args[0])
        check_tensor(model(X), f"MLP{args}(X) for X of shape (6, {args[0]})", shape=(6, args[2]),
                     hint="return the last layer's output (N, out_features), without squeezing")
        model.to("meta")
        check_on_meta(f"MLP{args}(X) for X of shape (6, {args[0]})", model, torch.empty(6, args[0], device="meta"),
                      shape=(6, args[2]), dtype=torch.float32, hint=DEVICE_HINT)


@gradients
@task("MLP")
def test_mlp_equals_torch_layers(topic):
    torch.manual_seed(6)
    X = torch.randn(20, 3, dtype=torch.float64) * 2
    # The last case leaves `activation` out: the documented default is "relu".
    for name, ref_act in [*TORCH_ACTIVATIONS.items(), (None, torch.relu)]:
        call = f"MLP(3, [8, 5], 4, activation={name!r})" if name else "MLP(3, [8, 5], 4) (default activation)"
        model = topic.MLP(3, [8, 5], 4, **({"activation": name} if name else {})).double().eval()
        layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
        assert len(layers) == 3, f"MLP(3, [8, 5], 4) should hold 3 nn.Linear layers, found {len(layers)}"
        expected = X
        for i, layer in enumerate(layers):
            expected = F.linear(expected, layer.weight, layer.bias)
            if i < len(layers) - 1:
                expected = ref_act(expected)
        act = ref_act.__name__
        assert_close(model(X), expected, f"{call}(X) against linear -> torch.{act} -> linear -> torch.{act} -> linear",
                     atol=1e-10, hint="apply the activation after every hidden layer and never after the last one "
                                      "(an activation on the logits clips or squashes them); without an "
                                      "activation argument it is relu")


# ------------------------------------------------------------------ losses
@shapes
@task("cross_entropy")
def test_cross_entropy_is_a_scalar(topic):
    logits, y = torch.randn(8, 3), torch.randint(0, 3, (8,))
    before = clones(logits=logits, y=y)
    loss = topic.cross_entropy(logits, y)
    check_tensor(loss, "cross_entropy(logits (8, 3), y (8,))", shape=(), dtype=torch.float32,
                 hint="return the mean over the batch, a 0-dimensional tensor (not a list, not .item())")
    check_unchanged("cross_entropy(logits, y)", before, logits=logits, y=y)
    loss = topic.cross_entropy(torch.randn(8, 3, dtype=torch.float64), torch.randint(0, 3, (8,)))
    check_tensor(loss, "cross_entropy(logits (8, 3) float64, y (8,))", shape=(), dtype=torch.float64,
                 hint="compute in the logits' own dtype: no .float() and no new float32 tensors")
    check_on_meta("cross_entropy(logits (8, 3), y (8,))", topic.cross_entropy, torch.empty(8, 3, device="meta"),
                  torch.zeros(8, dtype=torch.int64, device="meta"), shape=(), dtype=torch.float32, hint=DEVICE_HINT)


@gradients
@task("cross_entropy")
def test_cross_entropy_matches_torch(topic):
    g = torch.Generator().manual_seed(7)
    logits = (torch.randn(16, 5, generator=g, dtype=torch.float64) * 3).requires_grad_()
    y = torch.randint(0, 5, (16,), generator=g)
    hint = ("the loss is the mean over samples of log Σ_k exp(logits_k) - logits_y, the sum running over the "
            "classes (dim=1), not over the batch")
    loss, grad = _value_and_grad(lambda z: topic.cross_entropy(z, y), logits, "cross_entropy(logits (16, 5), y)")
    ref_loss, ref_grad = _value_and_grad(lambda z: F.cross_entropy(z, y), logits)
    assert_close(loss, ref_loss, "cross_entropy on random logits (16, 5)", atol=1e-10, hint=hint)
    assert_close(grad, ref_grad, "d cross_entropy / d logits", atol=1e-10,
                 hint="build the loss from differentiable torch operations; the gradient is (softmax - one-hot) / N")
    logits = torch.tensor([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]])
    loss = topic.cross_entropy(logits, torch.tensor([0, 0]))
    assert_close(loss, torch.tensor(1000.0), "cross_entropy for logits of ±1000 (one right, one wrong by 2000)",
                 atol=1e-3, hint="exp(1000) overflows to inf: subtract each row's max before exp() and add it back "
                                 "after the log (log-sum-exp)")
    # Rows of very different scales in one batch: one shift for the whole batch leaves some rows far
    # below it, where every exp() underflows to 0 and the log gives -inf.
    logits = torch.tensor([[1000.0, 999.0, 998.0], [-1000.0, -1001.0, -999.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([0, 2, 1])
    loss, grad = _value_and_grad(lambda z: topic.cross_entropy(z, y), logits, "cross_entropy(logits (3, 3), y)")
    ref_loss, ref_grad = _value_and_grad(lambda z: F.cross_entropy(z, y), logits)
    hint = ("each row needs its own shift: m = logits.max(dim=1, keepdim=True).values, not one max for the whole "
            "batch (rows far below it underflow to exp() = 0 and log(0) = -inf)")
    assert_close(loss, ref_loss, "cross_entropy for rows near 1000, -1000 and 0 in one batch", atol=1e-10, hint=hint)
    assert_close(grad, ref_grad, "d cross_entropy / d logits for rows near 1000, -1000 and 0", atol=1e-10, hint=hint)


@gradients
@task("mse_loss")
def test_mse_matches_torch(topic):
    g = torch.Generator().manual_seed(8)
    pred = torch.randn(12, 2, generator=g, dtype=torch.float64)
    y = torch.randn(12, 2, generator=g, dtype=torch.float64)
    before = clones(pred=pred, y=y)
    loss = topic.mse_loss(pred, y)
    check_unchanged("mse_loss(pred, y)", before, pred=pred, y=y)
    check_tensor(loss, "mse_loss(pred (12, 2), y (12, 2))", shape=(), dtype=torch.float64,
                 hint="return one number, the mean, in the inputs' dtype")
    check_on_meta("mse_loss(pred (4, 2), y (4, 2))", topic.mse_loss, torch.empty(4, 2, device="meta"),
                  torch.empty(4, 2, device="meta"), shape=(), dtype=torch.float32, hint=DEVICE_HINT)
    assert_close(loss, F.mse_loss(pred, y), "mse_loss(pred, y) on random (12, 2) tensors", atol=1e-10,
                 hint="the mean (not the sum) over every element of (pred - y)²")


@shapes
@task("mse_loss")
def test_mse_refuses_mismatched_shapes(topic):
    pred, y = torch.randn(10, 1), torch.randn(10)
    with pytest.raises(ValueError):
        topic.mse_loss(pred, y)
        raise AssertionError("mse_loss(pred (10, 1), y (10,)) should raise ValueError: (10, 1) - (10,) broadcasts "
                             "to (10, 10) and averages every pair, a silent bug. Compare pred.shape with y.shape")


# ------------------------------------------------------------------ backprop by hand
def _two_layer_case(seed: int, N: int = 24, D: int = 3, H: int = 6, C: int = 4):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (N,), generator=g)
    params = {"W1": torch.randn(H, D, generator=g, dtype=torch.float64),
              "b1": torch.randn(H, generator=g, dtype=torch.float64) * 0.5,
              "W2": torch.randn(C, H, generator=g, dtype=torch.float64),
              "b2": torch.randn(C, generator=g, dtype=torch.float64) * 0.5}
    return X, y, params


def _autograd_gradients(X, y, params, activation: str) -> dict[str, torch.Tensor]:
    leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    hidden = TORCH_ACTIVATIONS[activation](F.linear(X, leaves["W1"], leaves["b1"]))
    loss = F.cross_entropy(F.linear(hidden, leaves["W2"], leaves["b2"]), y)
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return dict(zip(leaves, grads))


BACKPROP_HINTS = {
    "W2": "dW2 = d_logitsᵀ A with d_logits = (softmax(logits, dim=1) - one_hot(y)) / N: the softmax runs over the "
          "classes, and the mean brings the 1/N",
    "b2": "db2 = d_logits summed over the batch (dim=0)",
    "W1": "dZ = (d_logits W2) * activation'(Z), at the pre-activations Z; then dW1 = dZᵀ X, shape (H, D) like W1",
    "b1": "db1 = dZ summed over the batch; dZ needs the activation's derivative: without it the net is treated "
          "as linear",
}


def _gradients(grads) -> dict:
    __tracebackhide__ = True
    assert isinstance(grads, dict) and set(grads) == {"W1", "b1", "W2", "b2"}, (
        f"two_layer_backprop should return a dict with keys ['W1', 'W2', 'b1', 'b2'], got {grads!r:.200}")
    return grads


@shapes
@task("two_layer_backprop")
def test_backprop_returns_one_gradient_per_parameter(topic):
    X, y, params = _two_layer_case(9, N=10, D=3, H=5, C=4)
    grads = _gradients(topic.two_layer_backprop(X, y, **params))
    for key, value in params.items():
        check_tensor(grads[key], f"gradient {key!r} (X (10, 3), H = 5, C = 4)", shape=tuple(value.shape),
                     dtype=value.dtype, hint="each gradient has its parameter's shape and dtype: nn.Linear stores W "
                     "as (out, in), so dW1 = dZᵀ X")
    meta = {key: torch.empty(value.shape, device="meta") for key, value in params.items()}
    for activation in TORCH_ACTIVATIONS:
        with on_meta(f"two_layer_backprop(..., activation={activation!r})", hint=DEVICE_HINT) as run:
            grads = topic.two_layer_backprop(torch.empty(10, 3, device="meta"),
                                             torch.zeros(10, dtype=torch.int64, device="meta"),
                                             meta["W1"], meta["b1"], meta["W2"], meta["b2"], activation)
        if run.ran:
            for key, value in _gradients(grads).items():
                check_tensor(value, f"gradient {key!r}, activation={activation!r}, on the meta device",
                             shape=tuple(meta[key].shape), dtype=torch.float32, device="meta", hint=DEVICE_HINT)


@gradients
@task("two_layer_backprop")
def test_backprop_equals_autograd(topic):
    X, y, params = _two_layer_case(10)
    before = clones(X=X, y=y, **params)
    # The last case leaves `activation` out: the documented default is "relu".
    for activation in [*TORCH_ACTIVATIONS, None]:
        expected = _autograd_gradients(X, y, params, activation or "relu")
        call = f"activation={activation!r}" if activation else "activation left out (default 'relu')"
        with torch.no_grad():
            grads = _gradients(topic.two_layer_backprop(X, y, **params, **({"activation": activation} if activation
                                                                             else {})))
        check_unchanged(f"two_layer_backprop(X, y, W1, b1, W2, b2, {call})", before, X=X, y=y, **params)
        for key in ("W2", "b2", "W1", "b1"):
            assert_close(grads[key], expected[key], f"d loss / d {key} by hand, {call}, float64",
                         atol=1e-10, hint=BACKPROP_HINTS[key])


@gradients
@task("two_layer_backprop")
def test_backprop_at_exactly_zero_pre_activations(topic):
    X, y, params = _two_layer_case(11)
    params["W1"][:3] = 0.0  # three hidden units with Z = 0 exactly for every sample
    params["b1"][:3] = 0.0
    expected = _autograd_gradients(X, y, params, "relu")
    with torch.no_grad():
        grads = _gradients(topic.two_layer_backprop(X, y, **params, activation="relu"))
    for key in ("W1", "b1"):
        assert_close(grads[key], expected[key], f"d loss / d {key} by hand (relu) where 3 units have Z = 0 exactly",
                     atol=1e-10, hint="autograd takes relu'(0) = 0: the mask is Z > 0, not Z >= 0")


@gradients
@task("two_layer_backprop")
def test_backprop_when_some_classes_never_occur(topic):
    X, y, params = _two_layer_case(13, N=12, C=4)
    y = torch.tensor([0, 1] * 6)  # classes 2 and 3 never occur in this batch
    expected = _autograd_gradients(X, y, params, "tanh")
    with torch.no_grad():
        grads = _gradients(topic.two_layer_backprop(X, y, **params, activation="tanh"))
    for key in ("W2", "b2", "W1", "b1"):
        assert_close(grads[key], expected[key], f"d loss / d {key} by hand for labels (0, 1, 0, 1, ...) of 4 classes",
                     atol=1e-10, hint="the one-hot targets need a column for each of the C classes, whether or not "
                                      "a class occurs: one_hot(y) alone has only max(y) + 1 columns")


# ------------------------------------------------------------------ training
@gradients
@task("train")
def test_train_takes_adam_steps(topic):
    g = torch.Generator().manual_seed(12)
    X, y = torch.randn(30, 2, generator=g), torch.randint(0, 3, (30,), generator=g)
    torch.manual_seed(12)
    model, reference = nn.Linear(2, 3), nn.Linear(2, 3)
    reference.load_state_dict(model.state_dict())
    before = clones(X=X, y=y)
    losses = topic.train(model, X, y, F.cross_entropy, epochs=3, lr=0.1)
    check_unchanged("train(model, X, y, F.cross_entropy, epochs=3, lr=0.1)", before, X=X, y=y)
    assert isinstance(losses, list) and len(losses) == 3, f"train(epochs=3) should return 3 losses, got {losses!r:.200}"
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.1)
    expected = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = F.cross_entropy(reference(X), y)
        expected.append(loss.item())
        loss.backward()
        optimizer.step()
    hint = ("each epoch is one step: optimizer.zero_grad(), loss = loss_fn(model(X), y), loss.backward(), "
            "optimizer.step(). Without zero_grad() the gradients of earlier steps add up")
    assert_close(model.weight, reference.weight, "weights after train(epochs=3, lr=0.1)", atol=1e-5, hint=hint)
    assert_close(model.bias, reference.bias, "bias after train(epochs=3, lr=0.1)", atol=1e-5, hint=hint)
    assert_close(torch.tensor(losses, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                 "the losses train(epochs=3, lr=0.1) returns", atol=1e-5,
                 hint="train returns the loss before each step: the loss the step backpropagates, not one computed "
                      "again after optimizer.step()")


@gradients
@task("train")
def test_train_with_zero_epochs_or_zero_lr_leaves_the_model(topic):
    # 0 and 0.0 are values, not "not given": `lr or 0.01` would step at the default rate.
    g = torch.Generator().manual_seed(14)
    X, y = torch.randn(20, 2, generator=g), torch.randint(0, 3, (20,), generator=g)
    torch.manual_seed(14)
    model = nn.Linear(2, 3)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses = topic.train(model, X, y, F.cross_entropy, epochs=0, lr=0.1)
    assert losses == [], f"train(epochs=0) should take no step and return [], got {losses!r:.200}"
    for key, value in model.state_dict().items():
        assert_close(value, start[key], f"{key} after train(epochs=0, lr=0.1)", atol=0, rtol=0,
                     hint="epochs=0 means no step at all, not a default number of epochs")
    losses = topic.train(model, X, y, F.cross_entropy, epochs=2, lr=0.0)
    assert isinstance(losses, list) and len(losses) == 2, (
        f"train(epochs=2, lr=0.0) should return 2 losses, got {losses!r:.200}")
    expected = F.cross_entropy(F.linear(X, start["weight"], start["bias"]), y).double()
    assert_close(torch.tensor(losses, dtype=torch.float64), expected.repeat(2),
                 "the losses train(epochs=2, lr=0.0) returns: twice the loss of the untouched model", atol=1e-6,
                 hint="lr=0.0 is a step of size 0, not 'no lr given': nothing may move, so both losses are the "
                      "starting loss. `lr or 0.01` (or `if lr:`) reads 0.0 as missing")
    for key, value in model.state_dict().items():
        assert_close(value, start[key], f"{key} after train(epochs=2, lr=0.0)", atol=0, rtol=0,
                     hint="Adam with lr = 0.0 changes nothing: pass lr on as it is, never `lr or default`")


@accuracy
@task("MLP")
def test_mlp_separates_rings_where_a_linear_model_cannot(topic, seed, device):
    # noise_std=0.05 keeps the rings apart (the best possible accuracy is about 0.999), so a bar of
    # 0.95 leaves a margin for training noise while sitting far above what any straight line gets.
    # One hidden layer of 32 is enough, and keeps every matmul small: 32x32 weight matmuls on
    # 200 rows go multi-threaded in MKL, which crawls on a busy 2-core machine.
    X, y = (t.to(device) for t in rings(200, seed=seed, noise_std=0.05))
    X_test, y_test = (t.to(device) for t in rings(1000, seed=seed, split="test", noise_std=0.05))
    scores = {}
    for name, hidden in (("MLP(2, [32], 3)", [32]), ("linear MLP(2, [], 3)", [])):
        torch.manual_seed(seed)
        model = topic.MLP(2, hidden, 3, activation="relu").to(device)
        losses = topic.train(model, X, y, topic.cross_entropy, epochs=100, lr=0.05)
        assert losses[-1] < losses[0], f"{name}: the loss should fall: first {losses[0]:.4f}, last {losses[-1]:.4f}"
        with torch.no_grad():
            logits = check_tensor(model(X_test), f"{name}(X_test) for 1,000 test points", shape=(1000, 3))
            scores[name] = (logits.argmax(dim=1) == y_test).float().mean().item()
    assert_at_least(scores["MLP(2, [32], 3)"], 0.95, "MLP test accuracy on three rings",
                    chance=1 / 3, hint="an MLP that never applies its activation is linear and cannot separate "
                                       "rings; check forward() and the loss (the solution reaches about 0.999)")
    assert_at_most(scores["linear MLP(2, [], 3)"], 0.7, "linear model test accuracy on three rings",
                   hint="with hidden_sizes=[] the MLP must be one nn.Linear and no activation: a linear model, "
                        "which cannot separate rings (it reaches about 0.4)")


@accuracy
@task("train")
def test_mlp_fits_a_wave(topic, seed, device):
    X, y = (t.to(device) for t in wave(200, seed=seed))  # y = sin(2x) + x/2 + noise, variance about 1
    X_test, y_test = (t.to(device) for t in wave(500, seed=seed, split="test"))
    torch.manual_seed(seed)
    model = topic.MLP(1, [32], 1, activation="tanh").to(device)
    losses = topic.train(model, X, y, topic.mse_loss, epochs=150, lr=0.05)
    assert losses[-1] < losses[0], f"the loss should fall: first {losses[0]:.4f}, last {losses[-1]:.4f}"
    with torch.no_grad():
        pred = check_tensor(model(X_test), "MLP(1, [32], 1)(X_test) for 500 test points", shape=(500, 1))
        mse = F.mse_loss(pred, y_test).item()
    assert_at_most(mse, 0.05, "test MSE on the wave y = sin(2x) + x/2",
                   hint=f"y's variance here is {y_test.var():.2f}: a linear fit leaves about 0.4, predicting the mean "
                        "about 1.0; the solution reaches 0.003. Check that train() steps on loss_fn(model(X), y) and "
                        "that tanh has the right sign")

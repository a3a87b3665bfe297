"""Hidden suite for 09 RNN: the cell and the layer against nn.RNNCell / nn.RNN, vanishing gradients, clipping, recall.

Equivalence runs in float64 on small sizes with PyTorch's modules' weights copied in;
shape and device checks run on the `meta` device; the one training run (recall of the
first token of 3-5 tokens) takes about 0.2 s.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from grader.checks import assert_at_least, assert_at_most, assert_close, check_on_meta, check_tensor
from kata.sequences import last_token_targets, recall_task, token_accuracy
from kata.text import IGNORE_INDEX

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _copy_cell(cell, ref):
    """Give the learner's RNNCell the weights of an nn.RNNCell (or of layer k of an nn.RNN: ref, suffix)."""
    ref, suffix = ref if isinstance(ref, tuple) else (ref, "")
    with torch.no_grad():
        for name in WEIGHTS:
            source = getattr(ref, name + suffix, None)
            if source is not None:
                getattr(cell, name).copy_(source)


def _copy_layer(model, ref):
    """Copy nn.RNN's weight_ih_l{k} (and the rest) into model.cells[k]."""
    assert len(model.cells) == ref.num_layers, (
        f"RNN(num_layers={ref.num_layers}) should hold {ref.num_layers} cells in self.cells, got {len(model.cells)}")
    for k, cell in enumerate(model.cells):
        _copy_cell(cell, (ref, f"_l{k}"))


def _with_grads(params):
    """Copies of parameters with copies of their .grad (copy.deepcopy leaves .grad behind)."""
    copies = []
    for p in params:
        q = torch.nn.Parameter(p.detach().clone())
        q.grad = None if p.grad is None else p.grad.clone()
        copies.append(q)
    return copies


# ------------------------------------------------------------------ RNNCell
@shapes
@task("RNNCell")
def test_cell_parameters_and_output_shapes(topic):
    cell = topic.RNNCell(3, 5)
    for name, shape in (("weight_ih", (5, 3)), ("weight_hh", (5, 5)), ("bias_ih", (5,)), ("bias_hh", (5,))):
        value = getattr(cell, name, None)
        assert isinstance(value, torch.nn.Parameter), (
            f"RNNCell(3, 5).{name} should be an nn.Parameter (nn.RNNCell's names), got {type(value).__name__}")
        check_tensor(value, f"RNNCell(3, 5).{name}", shape=shape,
                     hint="weight_ih is (hidden_size, input_size), weight_hh (hidden_size, hidden_size), the biases "
                          "(hidden_size,): PyTorch's layout, so x @ weight_ih.T maps I features to H")
    check_tensor(cell(torch.randn(4, 3)), "RNNCell(3, 5)(x) for x (4, 3), hx None", shape=(4, 5),
                 hint="the next state has one row per sequence and hidden_size columns")
    check_tensor(cell(torch.randn(1, 3), torch.randn(1, 5)), "RNNCell(3, 5)(x (1, 3), hx (1, 5))", shape=(1, 5),
                 hint="a batch of one must keep its batch dimension: no squeeze()")
    plain = topic.RNNCell(3, 5, bias=False)
    names = sorted(name for name, _ in plain.named_parameters())
    assert names == ["weight_hh", "weight_ih"], (
        f"RNNCell(3, 5, bias=False) should have the parameters weight_ih and weight_hh only (as nn.RNNCell), got "
        f"{names}. Likely cause: bias ignored; register_parameter('bias_ih', None) keeps the attribute without a "
        f"parameter")
    with pytest.raises(ValueError):
        topic.RNNCell(3, 5, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        cell(torch.randn(4, 2))


@shapes
@task("RNNCell")
def test_cell_state_follows_the_input_device_and_dtype(topic):
    with torch.device("meta"):  # no memory, no time: shapes and devices only
        cell = topic.RNNCell(3, 5)
    h = check_tensor(cell(torch.randn(2, 3, device="meta")), "RNNCell(3, 5) on the meta device, hx None",
                     shape=(2, 5), finite=False,
                     hint="the zero state must be made on x's device: x.new_zeros(B, H), or torch.zeros(..., "
                          "device=x.device, dtype=x.dtype); torch.zeros(B, H) alone is on the CPU")
    assert h.device.type == "meta", f"RNNCell on the meta device returned a state on {h.device}"
    cell = topic.RNNCell(3, 5).double()
    h = cell(torch.randn(2, 3, dtype=torch.float64))
    check_tensor(h, "RNNCell(3, 5).double()(x float64), hx None", dtype=torch.float64,
                 hint="the zero state must have x's dtype: x.new_zeros(B, H)")


@shapes
@task("RNNCell")
def test_cell_initialisation_is_uniform_in_one_over_sqrt_hidden(topic):
    torch.manual_seed(0)
    cell = topic.RNNCell(50, 400)
    bound = 1 / math.sqrt(400)  # 0.05; 1/sqrt(input_size) would be 0.141
    hint = ("nn.RNNCell draws every weight and bias from U(-k, k) with k = 1/sqrt(hidden_size), not "
            "1/sqrt(input_size) (nn.Linear's rule): tensor.uniform_(-k, k)")
    for name in WEIGHTS:
        w = getattr(cell, name).detach()
        assert_at_most(w.abs().max().item(), bound, f"RNNCell(50, 400).{name}: largest |value|", hint=hint)
        near = 0.98 if w.numel() > 10_000 else 0.95  # the largest of n uniform draws is within ~2k/n of k
        assert_at_least(w.abs().max().item(), near * bound, f"RNNCell(50, 400).{name}: largest |value|",
                        hint=hint + ("; the biases are drawn too, not zeros" if name.startswith("bias") else ""))
        std = w.std().item()
        tolerance = 0.02 if w.numel() > 10_000 else 0.1
        assert abs(std / (bound / math.sqrt(3)) - 1) < tolerance, (
            f"RNNCell(50, 400).{name}: standard deviation {std:.4f}, a uniform in ±{bound:.3f} has "
            f"{bound / math.sqrt(3):.4f}.\nLikely cause: {hint}")
    same = torch.equal(cell.bias_ih, cell.bias_hh)  # a bool: no raw tensors in the message
    assert not same, "bias_ih and bias_hh should be drawn independently"


@gradients
@task("RNNCell")
def test_cell_equals_nn_rnncell_forward_and_backward(topic):
    g = torch.Generator().manual_seed(0)
    for kwargs in ({}, {"nonlinearity": "relu"}, {"bias": False}):
        ref = torch.nn.RNNCell(3, 4, **kwargs).double()
        cell = topic.RNNCell(3, 4, **kwargs).double()
        _copy_cell(cell, ref)
        what = f"RNNCell(3, 4{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
        hint = ("h' = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh) (relu for nonlinearity='relu', "
                "no biases for bias=False); check the transposes and that both biases are added")
        for given in (True, False):
            x = (torch.randn(2, 3, generator=g, dtype=torch.float64) * 2).requires_grad_()
            hx = torch.randn(2, 4, generator=g, dtype=torch.float64).requires_grad_() if given else None
            w = torch.randn(2, 4, generator=g, dtype=torch.float64)  # weighs each output: every entry matters
            expected = ref(x, hx)
            got = cell(x, hx)
            assert_close(got, expected, f"{what}(x, hx{'' if given else '=None'})", atol=1e-12, hint=hint)
            # By name, so a cell that registers its parameters in another order compares the right pairs.
            names = ["x"] + (["hx"] if given else []) + [n for n in WEIGHTS if getattr(ref, n) is not None]
            inputs = [x] + ([hx] if given else [])
            mine = torch.autograd.grad((got * w).sum(), inputs + [getattr(cell, n) for n in names[len(inputs):]],
                                       allow_unused=True)
            theirs = torch.autograd.grad((expected * w).sum(), inputs + [getattr(ref, n) for n in names[len(inputs):]])
            for name, a, b in zip(names, mine, theirs):
                assert_close(a, b, f"{what}: gradient with respect to {name}", atol=1e-12,
                             hint=hint + "; build it from differentiable torch operations (no .detach(), no .data)")


# ------------------------------------------------------------------ RNN
@shapes
@task("RNN")
def test_rnn_output_and_final_states_shapes(topic):
    model = topic.RNN(3, 5, num_layers=2)
    assert len(model.cells) == 2, f"RNN(3, 5, num_layers=2) should hold 2 cells in self.cells, got {len(model.cells)}"
    check_tensor(model.cells[0].weight_ih, "RNN(3, 5, num_layers=2).cells[0].weight_ih", shape=(5, 3),
                 hint="the first layer reads input_size features")
    check_tensor(model.cells[1].weight_ih, "RNN(3, 5, num_layers=2).cells[1].weight_ih", shape=(5, 5),
                 hint="every later layer reads the previous layer's states: hidden_size features")
    output, h_n = model(torch.randn(2, 7, 3))
    check_tensor(output, "output of RNN(3, 5, num_layers=2)(x (2, 7, 3))", shape=(2, 7, 5),
                 hint="batch first: stack the T states along dim=1, giving (B, T, H)")
    check_tensor(h_n, "h_n of RNN(3, 5, num_layers=2)(x (2, 7, 3))", shape=(2, 2, 5),
                 hint="h_n holds every layer's last state: (num_layers, B, H), as nn.RNN returns it")
    output, h_n = model(torch.randn(1, 1, 3))
    check_tensor(output, "output of RNN(3, 5, num_layers=2)(x (1, 1, 3))", shape=(1, 1, 5),
                 hint="one sequence of one step still has its batch and time dimensions: no squeeze()")
    check_tensor(h_n, "h_n of RNN(3, 5, num_layers=2)(x (1, 1, 3))", shape=(2, 1, 5), hint="no squeeze()")
    for bad in (torch.randn(2, 7, 4), torch.randn(7, 3)):
        with pytest.raises(ValueError):
            model(bad)
    with pytest.raises(ValueError):
        model(torch.randn(2, 7, 3), torch.randn(1, 2, 5))


@shapes
@task("RNN")
def test_rnn_runs_on_the_input_device_and_dtype(topic):
    with torch.device("meta"):
        model = topic.RNN(3, 5, num_layers=2)
    output, h_n = model(torch.randn(2, 4, 3, device="meta"))
    for name, value, shape in (("output", output, (2, 4, 5)), ("h_n", h_n, (2, 2, 5))):
        check_tensor(value, f"{name} of RNN(3, 5, num_layers=2) on the meta device", shape=shape, finite=False,
                     hint="every state must be made on x's device (x.new_zeros), never with a bare torch.zeros")
        assert value.device.type == "meta", f"RNN on the meta device returned {name} on {value.device}"
    output, h_n = topic.RNN(3, 5, num_layers=2).double()(torch.randn(2, 4, 3, dtype=torch.float64))
    check_tensor(output, "output of RNN(...).double()(x float64)", dtype=torch.float64,
                 hint="the zero states must have x's dtype")
    check_tensor(h_n, "h_n of RNN(...).double()(x float64)", dtype=torch.float64, hint="the zero states must have "
                 "x's dtype")


def _check_against_nn_rnn(topic, g, *, num_layers, given, **kwargs):
    ref = torch.nn.RNN(3, 4, num_layers=num_layers, batch_first=True, **kwargs).double()
    model = topic.RNN(3, 4, num_layers, **kwargs).double()
    _copy_layer(model, ref)
    what = f"RNN(3, 4, num_layers={num_layers}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    what += f"(x (2, 6, 3){', hx' if given else ''})"
    x = torch.randn(2, 6, 3, generator=g, dtype=torch.float64).requires_grad_()
    hx = torch.randn(num_layers, 2, 4, generator=g, dtype=torch.float64).requires_grad_() if given else None
    w_out = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    w_h = torch.randn(num_layers, 2, 4, generator=g, dtype=torch.float64)
    expected, expected_h = ref(x, hx)
    output, h_n = model(x, hx)
    hint = ("layer k starts from hx[k] (zeros when hx is None), runs its cell over t = 0..T-1 carrying h, and "
            "its T states, stacked along dim=1, are layer k+1's input; output is the last layer's states, h_n the "
            "last state of every layer")
    assert_close(output, expected, f"output of {what}", atol=1e-12, hint=hint)
    assert_close(h_n, expected_h, f"h_n of {what}", atol=1e-12, hint=hint)
    inputs = [x] + ([hx] if given else [])
    pairs = [(f"cells[{k}].{n}", getattr(model.cells[k], n), getattr(ref, f"{n}_l{k}")) for k in range(num_layers)
             for n in WEIGHTS if getattr(ref, f"{n}_l{k}", None) is not None]
    mine = torch.autograd.grad((output * w_out).sum() + (h_n * w_h).sum(), inputs + [p for _, p, _ in pairs],
                               allow_unused=True)
    theirs = torch.autograd.grad((expected * w_out).sum() + (expected_h * w_h).sum(), inputs + [q for _, _, q in pairs])
    names = ["x"] + (["hx"] if given else []) + [name for name, _, _ in pairs]
    for name, a, b in zip(names, mine, theirs):
        assert_close(a, b, f"{what}: gradient with respect to {name}", atol=1e-12,
                     hint=hint + "; every step must stay in the graph (no .detach(), no in-place writes into a "
                                 "preallocated tensor that autograd needs)")


@gradients
@task("RNN")
def test_rnn_equals_nn_rnn_with_three_layers(topic):
    g = torch.Generator().manual_seed(1)
    for given in (True, False):
        _check_against_nn_rnn(topic, g, num_layers=3, given=given)


@gradients
@task("RNN")
def test_rnn_equals_nn_rnn_with_relu_and_no_bias(topic):
    g = torch.Generator().manual_seed(2)
    _check_against_nn_rnn(topic, g, num_layers=2, given=True, nonlinearity="relu", bias=False)


@gradients
@task("RNN")
def test_rnn_starts_each_call_from_its_own_hx(topic):
    g = torch.Generator().manual_seed(3)
    ref = torch.nn.RNN(3, 4, num_layers=2, batch_first=True).double()
    model = topic.RNN(3, 4, 2).double()
    _copy_layer(model, ref)
    x = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    hx = torch.randn(2, 2, 4, generator=g, dtype=torch.float64)
    given = hx.clone()
    hint = ("each call starts from the hx it is given, and from zeros when hx is None, whatever the call before "
            "ended with: keep no state between calls (no self.h_n read back when hx is None)")
    with torch.no_grad():
        for k, (call, args) in enumerate((("model(x, hx)", (x, hx)), ("then model(x)", (x,)),
                                          ("then model(x, hx) again", (x, hx)), ("then model(x) again", (x,)))):
            output, h_n = model(*args)
            if k == 0:
                assert_close(hx, given, "hx after RNN(3, 4, num_layers=2)(x, hx)", atol=0, rtol=0,
                             hint="the layer must leave the caller's hx as it was: h_n is a new tensor "
                                  "(torch.stack of each layer's last state), not hx written over in place")
            expected, expected_h = ref(*args)
            assert_close(output, expected, f"output of RNN(3, 4, num_layers=2), {call}", atol=1e-12, hint=hint)
            assert_close(h_n, expected_h, f"h_n of RNN(3, 4, num_layers=2), {call}", atol=1e-12, hint=hint)


# ------------------------------------------------------------------ input_gradient_norms
def _reference_norms(model, x):
    x = x.detach().clone().requires_grad_()
    output, _ = model(x)
    (grad,) = torch.autograd.grad(output[:, -1].sum(), x)
    return grad.pow(2).sum(dim=(0, 2)).sqrt()


@shapes
@task("input_gradient_norms")
def test_gradient_norms_shape_and_no_side_effects(topic):
    torch.manual_seed(0)
    model = torch.nn.RNN(4, 6, batch_first=True)  # PyTorch's own layer: this task does not need yours
    x = torch.randn(3, 7, 4)
    norms = check_tensor(topic.input_gradient_norms(model, x), "input_gradient_norms(nn.RNN(4, 6), x (3, 7, 4))",
                         shape=(7,), hint="one norm per time step: reduce the gradient (B, T, I) over dims 0 and 2")
    assert not norms.requires_grad, "input_gradient_norms should return numbers without a graph (no requires_grad)"
    assert not x.requires_grad and x.grad is None, (
        "input_gradient_norms must leave the caller's x alone: take the gradient of a detached copy "
        "(x.detach().requires_grad_())")
    touched = [name for name, p in model.named_parameters() if p.grad is not None]
    assert not touched, (
        f"input_gradient_norms filled the model's .grad of {touched}: use torch.autograd.grad(h_T.sum(), x), which "
        f"returns the input's gradient only, instead of backward(), which accumulates into every parameter")
    # On x's device: nn.RNN runs on the meta device, and so must every tensor the function makes.
    check_on_meta("input_gradient_norms(nn.RNN(4, 6) on meta, x (3, 7, 4) on meta)", topic.input_gradient_norms,
                  model.to("meta"), torch.randn(3, 7, 4, device="meta"), shape=(7,),
                  hint="the norms must be made from the gradient itself (torch.linalg.vector_norm(grad, dim=(0, 2))), "
                       "not written into a torch.zeros(T) made on the CPU")


@gradients
@task("input_gradient_norms")
def test_gradient_norms_equal_autograd(topic):
    torch.manual_seed(1)
    model = torch.nn.RNN(4, 6, num_layers=2, batch_first=True).double()
    x = torch.randn(3, 8, 4, dtype=torch.float64)
    assert_close(topic.input_gradient_norms(model, x), _reference_norms(model, x),
                 "input_gradient_norms(nn.RNN(4, 6, num_layers=2), x (3, 8, 4))", atol=1e-12,
                 hint="differentiate h_T.sum(), with h_T = output[:, -1] (the last step of the last layer; not the "
                      "sum over every step), with respect to x, then take the 2-norm over the batch and the features "
                      "for each t")


@gradients
@task("input_gradient_norms")
def test_gradient_of_the_last_state_vanishes_with_the_lag(topic):
    # Your RNN, with nn.RNN's initialisation drawn from a generator of the test's own.
    g = torch.Generator().manual_seed(0)
    model = topic.RNN(8, 32)
    k = 1 / math.sqrt(32)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 2 * k - k)
    x = torch.randn(1, 51, 8, generator=g)
    norms = topic.input_gradient_norms(model, x)
    assert_close(norms, _reference_norms(model, x), "input_gradient_norms(RNN(8, 32), x (1, 51, 8))", atol=1e-6,
                 rtol=1e-4, hint="differentiate output[:, -1].sum() with respect to x; one norm per time step")
    by_lag = norms.flip(0)  # by_lag[d]: the input d steps before the last
    hint = ("backpropagation through time multiplies one Jacobian diag(1 - h^2) W_hh per step; with W_hh drawn "
            "from U(±1/sqrt(H)) each has a norm well below 1, so the gradient shrinks geometrically with the lag "
            "(here 2.0 at lag 0, 0.96 at lag 1, 4e-3 at lag 10, 2e-7 at lag 25, 1e-14 at lag 50). "
            "If it does not shrink, check that the RNN carries h from step to step")
    assert_at_least(by_lag[1].item(), 0.1, "gradient norm of h_T with respect to the input before the last (lag 1)",
                    hint=hint)
    assert_at_most(by_lag[10].item(), 0.05 * by_lag[1].item(), "gradient norm at lag 10 (bar: 1/20 of lag 1's)",
                   hint=hint)
    assert_at_most(by_lag[25].item(), 1e-5 * by_lag[1].item(), "gradient norm at lag 25 (bar: 1e-5 of lag 1's)",
                   hint=hint)
    assert_at_most(by_lag[50].item(), 1e-10, "gradient norm of h_T with respect to the first input (lag 50)",
                   hint=hint)


# ------------------------------------------------------------------ clip_grad_norm_
def _parameters_with_gradients(g, scale, dtype=torch.float64):
    """Three parameters with random gradients (global 2-norm about 5 * scale), one without a gradient."""
    params = [torch.nn.Parameter(torch.zeros(shape, dtype=dtype)) for shape in ((3, 4), (5,), (2, 2, 2), (6,))]
    for p in params[:3]:
        p.grad = torch.randn(p.shape, generator=g, dtype=dtype) * scale
    params[1].grad[0] = 4 * scale  # one entry stands out: the inf-norm differs from the 2-norm
    return params  # params[3].grad is None


@shapes
@task("clip_grad_norm_")
def test_clip_returns_the_total_norm_as_a_tensor_of_the_gradients_dtype(topic):
    # No meta-device check here: `if total > max_norm:` is a correct way to clip, and it must read the value.
    g = torch.Generator().manual_seed(0)
    params = _parameters_with_gradients(g, 1.0)
    check_tensor(topic.clip_grad_norm_(params, 1.0), "clip_grad_norm_(params (float64 gradients), 1.0)",
                 shape=(), dtype=torch.float64,
                 hint="return the total norm as a 0-d tensor computed from the gradients themselves (not a "
                      "Python float, not torch.tensor(...) of .item() values, which makes float32)")
    empty = topic.clip_grad_norm_([torch.nn.Parameter(torch.ones(2))], 1.0)
    assert_close(empty, torch.tensor(0.0), "clip_grad_norm_ of a parameter without .grad", atol=0,
                 hint="skip parameters whose .grad is None; with no gradient at all return torch.tensor(0.0)")


@gradients
@task("clip_grad_norm_")
def test_clip_equals_torch_clip_grad_norm_(topic):
    # max_norm 0.0 is a bound like any other (every gradient becomes 0), not "no max_norm".
    for norm_type, max_norm in ((2.0, 0.5), (1.0, 0.5), (float("inf"), 0.5), (2.0, 0.0)):
        g = torch.Generator().manual_seed(1)
        params = _parameters_with_gradients(g, 2.0)
        expected_params = _with_grads(params)
        expected = torch.nn.utils.clip_grad_norm_(expected_params, max_norm, norm_type)
        total = topic.clip_grad_norm_(params, max_norm, norm_type)
        call = f"clip_grad_norm_(params, max_norm={max_norm}, norm_type={norm_type})"
        hint = ("total = the norm_type-norm of all gradients as one vector (the norm of the per-tensor norms; "
                "inf: the largest |entry|); multiply every gradient by min(1, max_norm / (total + 1e-6)) in place, "
                "and return total from before the clipping; max_norm = 0 makes every gradient 0")
        assert_close(total, expected, f"{call}: the total norm returned", atol=1e-10, hint=hint)
        for i, (p, q) in enumerate(zip(params[:3], expected_params[:3])):
            assert_close(p.grad, q.grad, f"{call}: params[{i}].grad afterwards", atol=1e-10, hint=hint)
        assert params[3].grad is None, "a parameter without a gradient must keep .grad None"


@gradients
@task("clip_grad_norm_")
def test_clip_scales_the_gradients_the_caller_holds(topic):
    g = torch.Generator().manual_seed(4)
    params = _parameters_with_gradients(g, 2.0)
    expected_params = _with_grads(params)
    torch.nn.utils.clip_grad_norm_(expected_params, 0.5)
    held = [p.grad for p in params[:3]]  # what an optimizer, a hook or a gradient accumulator holds
    topic.clip_grad_norm_(params, 0.5)
    hint = ("'in place' (the trailing _): multiply each gradient tensor itself, g.mul_(scale). p.grad = p.grad * "
            "scale makes a new tensor: p.grad then looks right, but whoever held the old one sees no clipping")
    for i, (p, h, q) in enumerate(zip(params[:3], held, expected_params[:3])):
        assert_close(h, q.grad, f"params[{i}].grad as held before clip_grad_norm_(params, 0.5), read afterwards",
                     atol=1e-10, hint=hint)
        assert p.grad is h, f"clip_grad_norm_ replaced params[{i}].grad by another tensor.\nLikely cause: {hint}"


@gradients
@task("clip_grad_norm_")
def test_clip_keeps_the_epsilon_on_tiny_gradients(topic):
    # Norms near the 1e-6 of min(1, max_norm / (total + 1e-6)): there the epsilon changes the factor 20-fold.
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p.grad = torch.tensor([3e-8, 4e-8], dtype=torch.float64)  # norm 5e-8
    q = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    q.grad = p.grad.clone()
    expected = torch.nn.utils.clip_grad_norm_([q], 1e-8)
    total = topic.clip_grad_norm_([p], 1e-8)
    assert_close(total, expected, "clip_grad_norm_(grad [3e-8, 4e-8], max_norm=1e-8): the total norm", atol=0,
                 rtol=1e-9, hint="the norm of the gradients, 5e-8, from before the clipping")
    assert_close(p.grad, q.grad, "the gradient [3e-8, 4e-8] after clip_grad_norm_(..., max_norm=1e-8)", atol=0,
                 rtol=1e-6, hint="the factor is max_norm / (total + 1e-6) = 1e-8 / 1.05e-6, about 0.0095, as "
                                 "torch.nn.utils.clip_grad_norm_ computes it; without the 1e-6 it would be 0.2")


@gradients
@task("clip_grad_norm_")
def test_clip_leaves_gradients_within_the_bound_alone(topic):
    g = torch.Generator().manual_seed(2)
    params = _parameters_with_gradients(g, 0.1)  # global norm about 0.6
    before = [p.grad.clone() for p in params[:3]]
    expected = torch.nn.utils.clip_grad_norm_(_with_grads(params), 10.0)
    total = topic.clip_grad_norm_(params, 10.0)
    assert_close(total, expected, "clip_grad_norm_(params, 10.0) with gradients of norm ~0.6: the total norm",
                 atol=1e-10, hint="return the norm the gradients had, whether or not they were clipped")
    for i, (p, b) in enumerate(zip(params[:3], before)):
        assert_close(p.grad, b, f"params[{i}].grad after clip_grad_norm_(params, 10.0), already within the bound",
                     atol=1e-12, hint="the factor is min(1, max_norm / total): gradients within the bound stay as "
                                      "they are, they are never scaled up to max_norm")


@gradients
@task("clip_grad_norm_")
def test_clip_takes_a_generator_a_tuple_or_one_tensor(topic):
    g = torch.Generator().manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).double()
    F.mse_loss(model(torch.randn(5, 4, generator=g, dtype=torch.float64)),
               torch.randn(5, 2, generator=g, dtype=torch.float64) * 10).backward()
    reference = _with_grads(model.parameters())
    expected = torch.nn.utils.clip_grad_norm_(reference, 0.1)
    total = topic.clip_grad_norm_(model.parameters(), 0.1)  # a generator: it can be read only once
    hint = ("model.parameters() is a generator: it is empty the second time you loop over it. Collect the "
            "gradients in one pass (a list), then compute the norm and scale that list")
    assert_close(total, expected, "clip_grad_norm_(model.parameters(), 0.1): the total norm", atol=1e-10, hint=hint)
    for (name, p), q in zip(model.named_parameters(), reference):
        assert_close(p.grad, q.grad, f"{name}.grad after clip_grad_norm_(model.parameters(), 0.1)", atol=1e-10,
                     hint=hint)
    params = tuple(_parameters_with_gradients(g, 2.0))
    expected_params = _with_grads(params)
    torch.nn.utils.clip_grad_norm_(expected_params, 0.5)
    topic.clip_grad_norm_(params, 0.5)
    for i, (p, q) in enumerate(zip(params[:3], expected_params[:3])):
        assert_close(p.grad, q.grad, f"params[{i}].grad after clip_grad_norm_(a tuple of parameters, 0.5)",
                     atol=1e-10, hint="parameters may be any iterable of tensors")
    for nothing, what in (([], "[]"), (iter([]), "an empty generator")):
        assert_close(topic.clip_grad_norm_(nothing, 1.0), torch.tensor(0.0), f"clip_grad_norm_({what}, 1.0)", atol=0,
                     hint="no parameters at all: no gradient, so return torch.tensor(0.0)")
    one = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    one.grad = torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64)  # norm 5
    total = topic.clip_grad_norm_(one, 1.0)
    assert_close(total, torch.tensor(5.0, dtype=torch.float64), "clip_grad_norm_(one tensor with grad [3, 0, 4], "
                 "1.0): the total norm", atol=1e-10, hint="a single tensor counts as [tensor]")
    assert_close(one.grad, torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64), "its .grad after clipping to 1.0",
                 atol=1e-6, hint="a single tensor counts as [tensor]; scale by max_norm / (total + 1e-6)")


# ------------------------------------------------------------------ Tagger
@shapes
@task("Tagger")
def test_tagger_layers_and_logits_shape(topic):
    model = topic.Tagger(11, 7, embed_dim=4, hidden_size=6, num_layers=2)
    check_tensor(model.embedding.weight, "Tagger(11, 7, embed_dim=4, ...).embedding.weight", shape=(11, 4),
                 hint="nn.Embedding(vocab_size, embed_dim)")
    assert isinstance(model.rnn, topic.RNN), (
        f"Tagger.rnn should be your RNN (this file's class), got {type(model.rnn).__name__}")
    assert len(model.rnn.cells) == 2, f"Tagger(num_layers=2).rnn should have 2 cells, got {len(model.rnn.cells)}"
    check_tensor(model.rnn.cells[0].weight_ih, "Tagger(embed_dim=4, hidden_size=6).rnn.cells[0].weight_ih",
                 shape=(6, 4), hint="RNN(embed_dim, hidden_size, num_layers): the RNN reads the embeddings")
    check_tensor(model.head.weight, "Tagger(11, 7, hidden_size=6).head.weight", shape=(7, 6),
                 hint="nn.Linear(hidden_size, num_classes)")
    ids = torch.randint(0, 11, (3, 5))
    check_tensor(model(ids), "Tagger(11, 7)(ids (3, 5))", shape=(3, 5, 7),
                 hint="one logit vector per position: apply the head to the RNN's output (B, T, H), not to h_n")
    check_tensor(model(ids[:1, :1]), "Tagger(11, 7)(ids (1, 1))", shape=(1, 1, 7), hint="no squeeze()")


@gradients
@task("Tagger")
def test_tagger_reads_each_position_left_to_right(topic):
    torch.manual_seed(0)
    model = topic.Tagger(9, 5, embed_dim=4, hidden_size=6)
    ids = torch.randint(0, 9, (2, 6))
    with torch.no_grad():
        logits = model(ids)
        expected = model.head(model.rnn(model.embedding(ids))[0])
        assert_close(logits, expected, "Tagger(9, 5)(ids)", atol=1e-6,
                     hint="logits = head(output) with output, _ = rnn(embedding(ids))")
        changed = ids.clone()
        changed[:, 4:] = (changed[:, 4:] + 1) % 9  # change the last two tokens only
        assert_close(model(changed)[:, :4], logits[:, :4], "logits at positions 0-3 after changing tokens 4 and 5",
                     atol=1e-6, hint="the state at t has read x_0..x_t only: score each position from its own step "
                                     "of the output, not from the final state")


# ------------------------------------------------------------------ train_step
@gradients
@task("train_step")
def test_train_step_equals_hand_written_clipped_steps(topic):
    torch.manual_seed(0)
    model = topic.Tagger(8, 8, embed_dim=4, hidden_size=6)
    ids = torch.randint(5, 8, (4, 5))
    y = torch.full((4, 5), IGNORE_INDEX)
    y[:, -1] = ids[:, 0]  # scored at the last position only: recall
    y[0, :-1] = ids[0, 1:]  # and a few positions elsewhere
    # max_norm 0.0 clips every gradient to 0 (the step changes nothing), None does not clip, and without
    # max_norm its default 1.0 applies (the first gradient's norm is about 1.2 here).
    for max_norm in (0.05, 0.0, None, "default"):
        mine, reference = copy.deepcopy(model), copy.deepcopy(model)
        # Plain SGD: Adam divides by the gradient's scale, so clipping would hardly show in its first steps.
        optimizer = torch.optim.SGD(mine.parameters(), lr=0.5)
        ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
        if max_norm == "default":
            losses = [topic.train_step(mine, optimizer, (ids, y)) for _ in range(2)]
        else:
            losses = [topic.train_step(mine, optimizer, (ids, y), max_norm=max_norm) for _ in range(2)]
        clip = 1.0 if max_norm == "default" else max_norm
        expected = []
        for _ in range(2):
            ref_optimizer.zero_grad()
            loss = F.cross_entropy(reference(ids).flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(reference.parameters(), clip)
            ref_optimizer.step()
            expected.append(loss.item())
        hint = ("zero_grad(), loss = F.cross_entropy(logits.flatten(0, 1), y.flatten()) (IGNORE_INDEX positions "
                "skipped, mean over the rest), backward(), then clip_grad_norm_(model.parameters(), max_norm) "
                "unless max_norm is None (`if max_norm is not None`: 0.0 is a bound, not 'no clipping'), and only "
                "then optimizer.step(); return loss.item()")
        what = "without max_norm (default 1.0)" if max_norm == "default" else f"with max_norm={max_norm}"
        assert isinstance(losses[0], float), f"train_step should return loss.item(), a float, got {type(losses[0])}"
        assert_close(torch.tensor(losses), torch.tensor(expected), f"the losses of two train_step calls {what}",
                     atol=1e-5, hint=hint)
        for (name, got), want in zip(mine.named_parameters(), reference.parameters()):
            assert_close(got, want, f"parameter {name} after two train_step calls {what}", atol=1e-5, hint=hint)


@accuracy
@task("train_step")
def test_recalls_the_first_token_of_short_sequences(topic, seed, device):
    torch.manual_seed(seed)
    inputs, targets, lengths = recall_task(512, vocab_size=10, length=(3, 5), seed=seed)
    X, y = inputs, last_token_targets(targets, lengths, inputs.shape[1])  # (512, 5) each
    inputs, targets, lengths = recall_task(500, vocab_size=10, length=(3, 5), seed=seed, split="test")
    X_test, y_test = inputs, last_token_targets(targets, lengths, inputs.shape[1])
    model = topic.Tagger(10, 10, embed_dim=16, hidden_size=32).to(device)
    losses = topic.train(model, X.to(device), y.to(device), epochs=8, lr=0.01, batch_size=32, seed=seed)
    assert losses[-1] < losses[0], f"the loss should fall during training: first {losses[0]:.4f}, last {losses[-1]:.4f}"
    acc = token_accuracy(model, X_test.to(device), y_test.to(device))
    assert_at_least(acc, 0.9, "test accuracy of recalling the first of 3-5 tokens", chance=0.2,
                    hint="the solution reaches 1.0 on every seed; an RNN that does not carry its state from step "
                         "to step stays near chance (0.2): it sees only the last token")


# ------------------------------------------------------------------ main
@shapes
@task("train_step")
def test_main_trains_on_recall_and_on_a_corpus_file(topic, tmp_path, capsys):
    code = topic.main(["--train-size", "64", "--test-size", "16", "--epochs", "1", "--hidden-size", "8",
                       "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, f"main([...recall...]) should return 0, got {code!r}"
    assert "lag 50" in out and "accuracy" in out, (
        f"main() should print the gradient by lag and the test accuracy:\n{out}")
    text = tmp_path / "text.txt"
    text.write_text("the cat eats the fish\nthe dog eats the bone\n" * 10, encoding="utf-8")
    code = topic.main(["--corpus", str(text), "--epochs", "1", "--hidden-size", "8", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, f"main(['--corpus', FILE]) should return 0, got {code!r}"
    assert "18 training and 2 test sentences" in out, f"main() should train on the file's sentences:\n{out}"
    code = topic.main(["--task", "lm", "--corpus", str(tmp_path / "missing.txt"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "error:" in err, (
        f"main() with a missing corpus file should print 'error: ...' and return 1, got {code!r} and {err!r}")

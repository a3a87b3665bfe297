"""Hidden suite for 10 LSTM & GRU: PyTorch's parameters, gate order and init, equality with
nn.LSTM / nn.GRU in float64 (forward and backward), and a memory that lasts where a vanilla RNN's does not."""

import math

import pytest
import torch

from grader.checks import assert_at_least, assert_at_most, assert_close, check_tensor
from kata.sequences import last_token_targets, recall_task

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _parameter(module, name, shape, what):
    """module.<name>, checked to be an nn.Parameter of this shape."""
    value = getattr(module, name, None)
    assert isinstance(value, torch.nn.Parameter), (
        f"{what}.{name} should be an nn.Parameter (nn.LSTMCell's and nn.GRUCell's name), got {type(value).__name__}")
    check_tensor(value, f"{what}.{name}", shape=shape,
                 hint="the gates are stacked along dim 0: (4 * hidden_size, ...) for the LSTM, (3 * hidden_size, ...) "
                      "for the GRU; weight_ih multiplies x, weight_hh multiplies h")
    return value


def _copy_cell(ours, theirs, what):
    """Copy nn.LSTMCell's / nn.GRUCell's parameters into the learner's cell of the same sizes."""
    with torch.no_grad():
        for name in NAMES:
            source = getattr(theirs, name)
            if source is not None:
                _parameter(ours, name, tuple(source.shape), what).copy_(source)


def _copy_layer(ours, theirs, what):
    """Copy nn.LSTM's / nn.GRU's weight_ih_l{k} ... into ours.cells[k]."""
    cells = getattr(ours, "cells", None)
    assert isinstance(cells, torch.nn.ModuleList) and len(cells) == theirs.num_layers, (
        f"{what}.cells should be an nn.ModuleList of num_layers={theirs.num_layers} cells, got {cells!r:.200}")
    with torch.no_grad():
        for k, cell in enumerate(cells):
            for name in NAMES:
                source = getattr(theirs, f"{name}_l{k}", None)
                if source is not None:
                    _parameter(cell, name, tuple(source.shape), f"{what}.cells[{k}]").copy_(source)


def _grads(outputs, inputs, g):
    """Gradients of a random weighting of `outputs` (so that every element counts) with respect to `inputs`."""
    loss = sum((out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum() for out in outputs)
    return torch.autograd.grad(loss, inputs)


def _check_uniform(values, bound, name, hint):
    """values drawn uniformly in ±bound: none outside, the largest near the bound, std bound/sqrt(3)."""
    values = values.detach().flatten().double()
    n = values.numel()
    std = values.std().item()
    largest = values.abs().max().item()
    # The std of n uniform draws has a relative standard error of about sqrt(0.2 / n): allow 5 of them.
    window = 5 * math.sqrt(0.2 / n)
    ok = bound * (1 - 10 / n) <= largest <= bound * (1 + 1e-6) and abs(std * math.sqrt(3) / bound - 1) <= window
    assert ok, (f"{name}: expected {n} values uniform in ±{bound:.4f} (the largest |value| just under {bound:.4f}, "
                f"standard deviation {bound / math.sqrt(3):.4f}); got the largest |value| {largest:.4f} and standard "
                f"deviation {std:.4f}.\nLikely cause: {hint}")


def _check_forget_slice(cell, forget_bias, what):
    """bias_ih[H:2H] == forget_bias and bias_hh[H:2H] == 0, as the docstring says."""
    H = cell.hidden_size
    hint = ("the gates are stacked i, f, g, o, so the forget gate is rows H:2H. Set bias_ih[H:2H] to forget_bias "
            "and bias_hh[H:2H] to 0 (the gate sees their sum); test `forget_bias is not None`, since `if forget_bias:` "
            "skips 0.0")
    assert_close(cell.bias_ih[H:2 * H], torch.full((H,), forget_bias), f"{what}: bias_ih of the forget gate (rows "
                 "H:2H)", atol=1e-6, hint=hint)
    assert_close(cell.bias_hh[H:2 * H], torch.zeros(H), f"{what}: bias_hh of the forget gate (rows H:2H)", atol=0,
                 hint=hint)


def _recall_accuracy(topic, kind, forget_bias, epochs, seed, device):
    """Train the given Tagger(kind) on the recall task (3200 sequences of 20-30 tokens, scored at the last token)
    and return its accuracy on 500 test sequences."""
    ids, answers, lengths = recall_task(3200, vocab_size=10, length=(20, 30), seed=seed)  # (3200, T), (3200,) x2
    test_ids, test_answers, test_lengths = recall_task(500, vocab_size=10, length=(20, 30), seed=seed, split="test")
    y = last_token_targets(answers, lengths, ids.shape[1])  # (3200, T): only the last token of each is scored
    torch.manual_seed(seed)
    model = topic.Tagger(10, 10, kind=kind, embed_dim=16, hidden_size=32, forget_bias=forget_bias).to(device)
    topic.train(model, ids.to(device), y.to(device), epochs=epochs, lr=1e-2, batch_size=64, seed=seed)
    model.eval()
    with torch.no_grad():
        logits = model(test_ids.to(device)).cpu()  # (500, T, 10)
    guesses = logits[torch.arange(len(test_ids)), test_lengths - 1].argmax(-1)  # (500,): read after the last token
    return (guesses == test_answers).double().mean().item()


# ------------------------------------------------------------------ LSTMCell
@shapes
@task("LSTMCell")
def test_lstm_cell_has_pytorchs_parameters_and_shapes(topic):
    cell = topic.LSTMCell(3, 5)
    for name, shape in zip(NAMES, ((20, 3), (20, 5), (20,), (20,))):
        _parameter(cell, name, shape, "LSTMCell(3, 5)")
    count = sum(p.numel() for p in cell.parameters())
    assert count == 4 * 5 * (3 + 5) + 8 * 5, (
        f"LSTMCell(3, 5) should have 4H(I + H) + 8H = {4 * 5 * 8 + 40} parameters, got {count}. "
        "Likely cause: a parameter registered twice, or one missing")
    plain = topic.LSTMCell(3, 5, bias=False)
    names = sorted(name for name, _ in plain.named_parameters())
    assert names == ["weight_hh", "weight_ih"] and plain.bias_ih is None and plain.bias_hh is None, (
        f"LSTMCell(3, 5, bias=False) should have only weight_ih and weight_hh, with bias_ih = bias_hh = None "
        f"(register_parameter(name, None)), as nn.LSTMCell; got parameters {names}")
    for batch in (4, 1):  # batch size 1: squeeze() would eat the batch dimension
        x = torch.randn(batch, 3)
        for hx in (None, (torch.randn(batch, 5), torch.randn(batch, 5))):
            given = None if hx is None else [t.clone() for t in hx]
            with torch.no_grad():  # without autograd, which would refuse an in-place write into a leaf
                out = cell(x, hx)
            for name, before, after in zip("hc", given or (), hx or ()):
                assert_close(after, before, f"the caller's {name} after LSTMCell(3, 5)(x, (h, c))", atol=0, rtol=0,
                             hint="the cell must leave the state it is given as it was: c' = f * c + i * g makes a "
                                  "new tensor, c.mul_(f) or c *= f writes over the caller's")
            assert isinstance(out, tuple) and len(out) == 2, (
                f"LSTMCell.forward should return the pair (h, c), got {type(out).__name__}")
            for value, what in zip(out, "hc"):
                given = "None" if hx is None else "(h, c)"
                check_tensor(value, f"{what} of LSTMCell(3, 5)(x {tuple(x.shape)}, hx={given})",
                             shape=(batch, 5), hint="h and c are (B, hidden_size): the four gates are (B, 4H) split "
                                                    "in four along dim 1")


@shapes
@task("LSTMCell")
def test_lstm_cell_makes_its_state_on_the_inputs_device(topic):
    cell = topic.LSTMCell(3, 5).to("meta")
    h, c = cell(torch.randn(2, 3, device="meta"))
    for value, what in ((h, "h"), (c, "c")):
        assert value.device.type == "meta" and tuple(value.shape) == (2, 5), (
            f"LSTMCell on the meta device, hx=None: {what} should be a (2, 5) tensor on meta, got "
            f"{tuple(value.shape)} on {value.device}. Likely cause: the zero state made with torch.zeros(B, H) "
            "lands on the CPU; x.new_zeros(B, H) follows x's device and dtype")


@gradients
@task("LSTMCell")
def test_lstm_cell_equals_nn_lstm_cell_forward_and_backward(topic):
    g = torch.Generator().manual_seed(0)
    for bias in (True, False):
        what = f"LSTMCell(3, 5, bias={bias}) in float64 with nn.LSTMCell's weights"
        theirs = torch.nn.LSTMCell(3, 5, bias=bias, dtype=torch.float64)
        with torch.no_grad():  # larger weights than the init: some gates saturate, where a slip in a formula shows
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        ours = topic.LSTMCell(3, 5, bias=bias).double()
        _copy_cell(ours, theirs, f"LSTMCell(3, 5, bias={bias})")
        x = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
        h_0 = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
        c_0 = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
        hint = ("PyTorch's gate order is i, f, g, o (rows 0:H, H:2H, 2H:3H, 3H:4H); c' = f * c + i * g with "
                "g = tanh(...), h' = o * tanh(c'); both biases are added")
        got = ours(x, (h_0, c_0))
        want = theirs(x, (h_0, c_0))
        for a, b, name in zip(got, want, "hc"):
            check_tensor(a, f"{name}' of {what}", dtype=torch.float64, hint="the state should keep x's dtype")
            assert_close(a, b, f"{name}' of {what}", atol=1e-10, hint=hint)
        params = [getattr(theirs, n) for n in NAMES if getattr(theirs, n) is not None]
        mine = [getattr(ours, n) for n in NAMES if getattr(theirs, n) is not None]
        seed = 100 + bias
        got_grads = _grads(got, [x, h_0, c_0, *mine], torch.Generator().manual_seed(seed))
        want_grads = _grads(want, [x, h_0, c_0, *params], torch.Generator().manual_seed(seed))
        for a, b, name in zip(got_grads, want_grads, ["x", "h", "c", *NAMES]):
            assert_close(a, b, f"the gradient with respect to {name} of {what}", atol=1e-10, hint=hint)
        # hx=None is the zero state.
        with torch.no_grad():
            zeros = torch.zeros(4, 5, dtype=torch.float64)
            for a, b, name in zip(ours(x), theirs(x, (zeros, zeros)), "hc"):
                assert_close(a, b, f"{name}' of {what}, hx=None", atol=1e-10,
                             hint="hx=None means h = c = 0, of shape (B, hidden_size)")


@gradients
@task("LSTMCell")
def test_lstm_cell_starts_as_pytorch_does_with_the_forget_gate_bias_set(topic):
    torch.manual_seed(0)
    H, bound = 64, 1 / 8  # input_size 4 differs from hidden_size: PyTorch's bound is 1/sqrt(hidden_size)
    hint = "every parameter nn.init.uniform_(p, -1/sqrt(hidden_size), 1/sqrt(hidden_size)), as nn.LSTMCell"
    cell = topic.LSTMCell(4, H)
    for name in NAMES:
        _check_uniform(getattr(cell, name), bound, f"LSTMCell(4, 64).{name} at initialisation", hint)
    for forget_bias in (3.0, -1.5, 0.0):  # 0.0 is a value: the slice is 0, not left at its random init
        cell = topic.LSTMCell(4, H, forget_bias=forget_bias)
        what = f"LSTMCell(4, 64, forget_bias={forget_bias})"
        _check_forget_slice(cell, forget_bias, what)
        for name in NAMES:  # the complement: everything else keeps PyTorch's init
            p = getattr(cell, name).detach()
            rest = torch.cat([p[:H], p[2 * H:]]) if name.startswith("bias") else p
            _check_uniform(rest, bound, f"{what}.{name}" + (" outside the forget gate's rows" if name.startswith("bias")
                                                            else ""),
                           "forget_bias changes the forget gate's slice only: the input, candidate and output gates' "
                           "biases and every weight keep nn.LSTMCell's uniform init")


@gradients
@task("LSTMCell")
def test_lstm_cell_reset_parameters_uses_its_own_forget_bias_in_place(topic):
    torch.manual_seed(2)
    H, bound = 64, 1 / 8
    cell = topic.LSTMCell(4, H, forget_bias=3.0)
    held = {name: getattr(cell, name) for name in NAMES}  # what an optimizer built now holds
    before = cell.weight_hh.detach().clone()
    cell.reset_parameters(-1.0)
    what = "LSTMCell(4, 64, forget_bias=3.0), then reset_parameters(-1.0)"
    _check_forget_slice(cell, -1.0, what)
    for name in NAMES:
        assert getattr(cell, name) is held[name], (
            f"{what}: {name} is another nn.Parameter than before the call, so an optimizer built before no longer "
            "holds the cell's parameters. Likely cause: reset_parameters assigns new nn.Parameters; redraw the same "
            "ones in place (nn.init.uniform_(p, ...), p[...] = value under torch.no_grad())")
    same = torch.equal(cell.weight_hh.detach(), before)  # a bool: no raw tensors in the message
    assert not same, (
        f"{what}: weight_hh did not change: reset_parameters redraws every parameter")
    cell.reset_parameters()
    what = "LSTMCell(4, 64, forget_bias=3.0), then reset_parameters() (forget_bias None)"
    for name in ("bias_ih", "bias_hh"):
        _check_uniform(getattr(cell, name), bound, f"{what}: {name}, the forget gate's rows included",
                       "reset_parameters(forget_bias=None) leaves every value at PyTorch's uniform init: the "
                       "forget_bias of this call is None, whatever the cell was built with (not self's 3.0)")
    cell = topic.LSTMCell(4, H)
    cell.reset_parameters(0.0)
    _check_forget_slice(cell, 0.0, "LSTMCell(4, 64), then reset_parameters(0.0)")


# ------------------------------------------------------------------ GRUCell
@shapes
@task("GRUCell")
def test_gru_cell_has_pytorchs_parameters_and_shapes(topic):
    cell = topic.GRUCell(3, 5)
    for name, shape in zip(NAMES, ((15, 3), (15, 5), (15,), (15,))):
        _parameter(cell, name, shape, "GRUCell(3, 5)")
    count = sum(p.numel() for p in cell.parameters())
    assert count == 3 * 5 * (3 + 5) + 6 * 5, (
        f"GRUCell(3, 5) should have 3H(I + H) + 6H = {3 * 5 * 8 + 30} parameters, got {count}")
    plain = topic.GRUCell(3, 5, bias=False)
    names = sorted(name for name, _ in plain.named_parameters())
    assert names == ["weight_hh", "weight_ih"] and plain.bias_ih is None and plain.bias_hh is None, (
        f"GRUCell(3, 5, bias=False) should have only weight_ih and weight_hh, with bias_ih = bias_hh = None, "
        f"as nn.GRUCell; got parameters {names}")
    for batch in (4, 1):
        for hx in (None, torch.randn(batch, 5)):
            given = None if hx is None else hx.clone()
            with torch.no_grad():
                h = cell(torch.randn(batch, 3), hx)
            if hx is not None:
                assert_close(hx, given, "the caller's h after GRUCell(3, 5)(x, h)", atol=0, rtol=0,
                             hint="the cell must leave the state it is given as it was: no in-place update of h")
            check_tensor(h, f"GRUCell(3, 5)(x ({batch}, 3), hx={'None' if hx is None else 'h'})", shape=(batch, 5),
                         hint="a GRU cell returns only h' (B, hidden_size): it has no separate cell state")
    h = cell.to("meta")(torch.randn(2, 3, device="meta"))
    assert h.device.type == "meta" and tuple(h.shape) == (2, 5), (
        f"GRUCell on the meta device, hx=None: expected a (2, 5) tensor on meta, got {tuple(h.shape)} on {h.device}. "
        "Likely cause: the zero state made with torch.zeros(B, H) lands on the CPU; use x.new_zeros(B, H)")


@gradients
@task("GRUCell")
def test_gru_cell_equals_nn_gru_cell_forward_and_backward(topic):
    g = torch.Generator().manual_seed(1)
    for bias in (True, False):
        what = f"GRUCell(3, 5, bias={bias}) in float64 with nn.GRUCell's weights"
        theirs = torch.nn.GRUCell(3, 5, bias=bias, dtype=torch.float64)
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        ours = topic.GRUCell(3, 5, bias=bias).double()
        _copy_cell(ours, theirs, f"GRUCell(3, 5, bias={bias})")
        x = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
        h_0 = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
        hint = ("PyTorch's gate order is r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (the reset gate "
                "multiplies the hidden matmul and its bias, not h before it), h' = (1 - z) * n + z * h")
        got, want = ours(x, h_0), theirs(x, h_0)
        check_tensor(got, f"h' of {what}", dtype=torch.float64, hint="h' should keep x's dtype")
        assert_close(got, want, f"h' of {what}", atol=1e-10, hint=hint)
        params = [getattr(theirs, n) for n in NAMES if getattr(theirs, n) is not None]
        mine = [getattr(ours, n) for n in NAMES if getattr(theirs, n) is not None]
        got_grads = _grads([got], [x, h_0, *mine], torch.Generator().manual_seed(7))
        want_grads = _grads([want], [x, h_0, *params], torch.Generator().manual_seed(7))
        for a, b, name in zip(got_grads, want_grads, ["x", "h", *NAMES]):
            assert_close(a, b, f"the gradient with respect to {name} of {what}", atol=1e-10, hint=hint)
        with torch.no_grad():
            assert_close(ours(x), theirs(x, torch.zeros(4, 5, dtype=torch.float64)), f"h' of {what}, hx=None",
                         atol=1e-10, hint="hx=None means h = 0, of shape (B, hidden_size)")


@gradients
@task("GRUCell")
def test_gru_cell_starts_as_pytorch_does(topic):
    torch.manual_seed(1)
    cell = topic.GRUCell(4, 64)
    for name in NAMES:
        _check_uniform(getattr(cell, name), 1 / 8, f"GRUCell(4, 64).{name} at initialisation",
                       "every parameter nn.init.uniform_(p, -1/sqrt(hidden_size), 1/sqrt(hidden_size)), as "
                       "nn.GRUCell (hidden_size, not input_size)")


# ------------------------------------------------------------------ LSTM
@shapes
@task("LSTM")
def test_lstm_stacks_cells_and_returns_pytorchs_shapes(topic):
    model = topic.LSTM(3, 5, num_layers=2)
    cells = getattr(model, "cells", None)
    assert isinstance(cells, torch.nn.ModuleList) and len(cells) == 2, (
        f"LSTM(3, 5, num_layers=2).cells should be an nn.ModuleList of 2 LSTMCells, got {cells!r:.200}")
    _parameter(cells[0], "weight_ih", (20, 3), "LSTM(3, 5, num_layers=2).cells[0]")
    _parameter(cells[1], "weight_ih", (20, 5), "LSTM(3, 5, num_layers=2).cells[1] (it reads layer 0's h)")
    count = sum(p.numel() for p in model.parameters())
    want = sum(p.numel() for p in torch.nn.LSTM(3, 5, num_layers=2).parameters())
    assert count == want, f"LSTM(3, 5, num_layers=2) should have {want} parameters, as nn.LSTM; got {count}"
    plain = topic.LSTM(3, 5, num_layers=2, bias=False)
    assert all(c.bias_ih is None for c in plain.cells), "LSTM(..., bias=False) should pass bias=False to every cell"
    hint = ("batch-first: x is (B, T, I), time is dim 1; output (B, T, H) holds the last layer's h at every step; "
            "h_n and c_n stack each layer's final state: (num_layers, B, H)")
    for batch, steps in ((2, 7), (1, 1)):  # B != T, then a single sequence of a single step
        x = torch.randn(batch, steps, 3)
        out = model(x)
        assert isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], tuple) and len(out[1]) == 2, (
            f"LSTM.forward should return output, (h_n, c_n) as nn.LSTM does, got {out!r:.200}")
        output, (h_n, c_n) = out
        name = f"LSTM(3, 5, num_layers=2) on x {tuple(x.shape)}"
        check_tensor(output, f"output of {name}", shape=(batch, steps, 5), hint=hint)
        check_tensor(h_n, f"h_n of {name}", shape=(2, batch, 5), hint=hint)
        check_tensor(c_n, f"c_n of {name}", shape=(2, batch, 5), hint=hint)
    hx = (torch.randn(2, 2, 5), torch.randn(2, 2, 5))
    given = [t.clone() for t in hx]
    with torch.no_grad():
        model(torch.randn(2, 7, 3), hx)
    for name, before, after in zip(("h_0", "c_0"), given, hx):
        assert_close(after, before, f"the caller's {name} after LSTM(3, 5, num_layers=2)(x, (h_0, c_0))", atol=0,
                     rtol=0, hint="the layer must leave the initial states it is given as they were: h_n and c_n are "
                                  "new tensors (torch.stack), never hx written over")
    meta = topic.LSTM(3, 5, num_layers=2).to("meta")
    output, (h_n, c_n) = meta(torch.randn(2, 7, 3, device="meta"))
    assert {output.device.type, h_n.device.type, c_n.device.type} == {"meta"}, (
        f"LSTM on the meta device, hx=None: output, h_n and c_n should be on meta, got {output.device}, "
        f"{h_n.device}, {c_n.device}. Likely cause: the zero state made with torch.zeros(...) lands on the CPU; "
        "use x.new_zeros(num_layers, B, H)")
    with pytest.raises(ValueError, match="input_size"):  # time-major or a wrong width: a clear error, given code
        model(torch.randn(7, 3))


@gradients
@task("LSTM")
def test_lstm_equals_nn_lstm_forward_and_backward(topic):
    g = torch.Generator().manual_seed(2)
    # I != H (the layers above the first read H features), B != T (time is dim 1), L up to 3.
    for num_layers, bias in ((2, True), (3, False), (1, True)):
        what = f"LSTM(3, 5, num_layers={num_layers}, bias={bias}) in float64 with nn.LSTM's weights"
        torch.manual_seed(num_layers)
        theirs = torch.nn.LSTM(3, 5, num_layers=num_layers, bias=bias, batch_first=True, dtype=torch.float64)
        ours = topic.LSTM(3, 5, num_layers=num_layers, bias=bias).double()
        _copy_layer(ours, theirs, f"LSTM(3, 5, num_layers={num_layers})")
        x = torch.randn(4, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
        h_0 = torch.randn(num_layers, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
        c_0 = torch.randn(num_layers, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
        hint = ("layer k starts from (h_0[k], c_0[k]) and reads the outputs of layer k - 1 at every step; output is "
                "the last layer's h at every step; h_n[k], c_n[k] are layer k's state after the last step")
        output, (h_n, c_n) = ours(x, (h_0, c_0))
        want_output, (want_h, want_c) = theirs(x, (h_0, c_0))
        for a, b, name in ((output, want_output, "output"), (h_n, want_h, "h_n"), (c_n, want_c, "c_n")):
            check_tensor(a, f"{name} of {what}", dtype=torch.float64)
            assert_close(a, b, f"{name} of {what}", atol=1e-10, hint=hint)
        params = list(theirs.parameters())
        mine = [getattr(cell, n) for cell in ours.cells for n in NAMES if getattr(cell, n) is not None]
        got = _grads([output, h_n, c_n], [x, h_0, c_0, *mine], torch.Generator().manual_seed(num_layers))
        want = _grads([want_output, want_h, want_c], [x, h_0, c_0, *params], torch.Generator().manual_seed(num_layers))
        names = ["x", "h_0", "c_0"] + [f"cells[{k}].{n}" for k in range(num_layers) for n in NAMES[:2 + 2 * bias]]
        for a, b, name in zip(got, want, names):
            assert_close(a, b, f"the gradient with respect to {name} of {what}", atol=1e-10, hint=hint)
        with torch.no_grad():
            output, (h_n, c_n) = ours(x)
            want_output, (want_h, want_c) = theirs(x)
        for a, b, name in ((output, want_output, "output"), (h_n, want_h, "h_n"), (c_n, want_c, "c_n")):
            assert_close(a, b, f"{name} of {what}, hx=None", atol=1e-10,
                         hint="hx=None means every layer starts from h = c = 0")


@gradients
@task("LSTM")
def test_lstm_gives_every_layer_the_forget_gate_bias(topic):
    torch.manual_seed(3)
    H = 8
    for forget_bias in (2.0, 0.0):
        model = topic.LSTM(3, H, num_layers=2, forget_bias=forget_bias)
        for k, cell in enumerate(model.cells):
            _check_forget_slice(cell, forget_bias, f"LSTM(3, 8, num_layers=2, forget_bias={forget_bias}).cells[{k}] "
                                                   "(pass forget_bias on to every LSTMCell)")
    plain = topic.LSTM(3, H, num_layers=2)
    for k, cell in enumerate(plain.cells):
        forget = (cell.bias_ih + cell.bias_hh).detach()[H:2 * H]
        assert forget.abs().max() <= 2 / math.sqrt(H) and forget.std() > 0, (
            f"LSTM(3, 8, num_layers=2) without forget_bias: cells[{k}]'s forget-gate biases should keep PyTorch's "
            f"uniform init, got {forget.tolist()}")


@accuracy
@task("LSTM")
def test_lstm_remembers_the_first_token_where_a_vanilla_rnn_forgets(topic, seed, device):
    lstm = _recall_accuracy(topic, "lstm", 3.0, 3, seed, device)
    rnn = _recall_accuracy(topic, "rnn", None, 3, seed, device)
    hint = (f"after 150 Adam steps on sequences of 20-30 tokens, an LSTM whose forget gate starts near 1 "
            f"(forget_bias 3) names the first token (the solution: 0.97-1.0); a vanilla RNN stays at chance "
            f"(here {rnn:.2f}): its gradient vanishes across 20+ steps. Without the forget-gate bias the LSTM "
            "stays at chance too")
    assert_at_least(lstm, 0.9, "recall test accuracy of an LSTM with a forget-gate bias", chance=0.2,
                    hint=hint)
    assert_at_most(rnn, 0.35, "recall test accuracy of the vanilla RNN baseline",
                   hint="the baseline is nn.RNN in the given Tagger: leave kind='rnn' as it is")


# ------------------------------------------------------------------ GRU
@shapes
@task("GRU")
def test_gru_stacks_cells_and_returns_pytorchs_shapes(topic):
    model = topic.GRU(3, 5, num_layers=2)
    cells = getattr(model, "cells", None)
    assert isinstance(cells, torch.nn.ModuleList) and len(cells) == 2, (
        f"GRU(3, 5, num_layers=2).cells should be an nn.ModuleList of 2 GRUCells, got {cells!r:.200}")
    _parameter(cells[0], "weight_ih", (15, 3), "GRU(3, 5, num_layers=2).cells[0]")
    _parameter(cells[1], "weight_ih", (15, 5), "GRU(3, 5, num_layers=2).cells[1] (it reads layer 0's h)")
    count = sum(p.numel() for p in model.parameters())
    want = sum(p.numel() for p in torch.nn.GRU(3, 5, num_layers=2).parameters())
    assert count == want, f"GRU(3, 5, num_layers=2) should have {want} parameters, as nn.GRU; got {count}"
    plain = topic.GRU(3, 5, num_layers=2, bias=False)
    assert all(c.bias_ih is None for c in plain.cells), "GRU(..., bias=False) should pass bias=False to every cell"
    hint = ("batch-first: x is (B, T, I); output (B, T, H) is the last layer's h at every step; "
            "h_n is (num_layers, B, H)")
    for batch, steps in ((2, 7), (1, 1)):
        out = model(torch.randn(batch, steps, 3))
        assert isinstance(out, tuple) and len(out) == 2, f"GRU.forward should return output, h_n, got {out!r:.200}"
        name = f"GRU(3, 5, num_layers=2) on x ({batch}, {steps}, 3)"
        check_tensor(out[0], f"output of {name}", shape=(batch, steps, 5), hint=hint)
        check_tensor(out[1], f"h_n of {name}", shape=(2, batch, 5), hint=hint)
    output, h_n = topic.GRU(3, 5, num_layers=2).to("meta")(torch.randn(2, 7, 3, device="meta"))
    assert {output.device.type, h_n.device.type} == {"meta"}, (
        f"GRU on the meta device, hx=None: output and h_n should be on meta, got {output.device}, {h_n.device}. "
        "Likely cause: the zero state made with torch.zeros(...) lands on the CPU; use x.new_zeros(...)")


@gradients
@task("GRU")
def test_gru_equals_nn_gru_forward_and_backward(topic):
    g = torch.Generator().manual_seed(4)
    for num_layers, bias in ((2, True), (3, False), (1, True)):
        what = f"GRU(3, 5, num_layers={num_layers}, bias={bias}) in float64 with nn.GRU's weights"
        torch.manual_seed(num_layers)
        theirs = torch.nn.GRU(3, 5, num_layers=num_layers, bias=bias, batch_first=True, dtype=torch.float64)
        ours = topic.GRU(3, 5, num_layers=num_layers, bias=bias).double()
        _copy_layer(ours, theirs, f"GRU(3, 5, num_layers={num_layers})")
        x = torch.randn(4, 6, 3, generator=g, dtype=torch.float64, requires_grad=True)
        h_0 = torch.randn(num_layers, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
        hint = ("layer k starts from h_0[k] and reads the outputs of layer k - 1 at every step; output is the last "
                "layer's h at every step; h_n[k] is layer k's h after the last step")
        output, h_n = ours(x, h_0)
        want_output, want_h = theirs(x, h_0)
        for a, b, name in ((output, want_output, "output"), (h_n, want_h, "h_n")):
            check_tensor(a, f"{name} of {what}", dtype=torch.float64)
            assert_close(a, b, f"{name} of {what}", atol=1e-10, hint=hint)
        params = list(theirs.parameters())
        mine = [getattr(cell, n) for cell in ours.cells for n in NAMES if getattr(cell, n) is not None]
        got = _grads([output, h_n], [x, h_0, *mine], torch.Generator().manual_seed(num_layers))
        want = _grads([want_output, want_h], [x, h_0, *params], torch.Generator().manual_seed(num_layers))
        names = ["x", "h_0"] + [f"cells[{k}].{n}" for k in range(num_layers) for n in NAMES[:2 + 2 * bias]]
        for a, b, name in zip(got, want, names):
            assert_close(a, b, f"the gradient with respect to {name} of {what}", atol=1e-10, hint=hint)
        with torch.no_grad():
            output, h_n = ours(x)
            want_output, want_h = theirs(x)
        assert_close(output, want_output, f"output of {what}, hx=None", atol=1e-10,
                     hint="hx=None means every layer starts from h = 0")
        assert_close(h_n, want_h, f"h_n of {what}, hx=None", atol=1e-10,
                     hint="hx=None means every layer starts from h = 0")


@accuracy
@task("GRU")
def test_gru_remembers_the_first_token(topic, seed, device):
    gru = _recall_accuracy(topic, "gru", None, 2, seed, device)
    assert_at_least(gru, 0.9, "recall test accuracy of a GRU", chance=0.2,
                    hint="after 100 Adam steps on sequences of 20-30 tokens a GRU names the first token (the solution: "
                         "1.0 on 20 seeds): its update gate z copies h forward, as the LSTM's forget gate copies c")


@shapes
@task("GRU")
def test_main_races_the_models_on_recall_and_on_a_corpus_file(topic, tmp_path, capsys):
    code = topic.main(["--length", "3", "5", "--train-size", "32", "--test-size", "16", "--epochs", "1",
                       "--hidden-size", "4", "--device", "cpu"])
    assert code == 0, f"main([...]) on the recall task should return 0, got {code!r}"
    out = capsys.readouterr().out
    for name in ("LSTM, forget bias 3", "LSTM, PyTorch's init", "GRU", "vanilla RNN"):
        assert name in out, f"main() should train and report the model {name!r}; it printed:\n{out[-800:]}"
    text = tmp_path / "corpus.txt"
    text.write_text("the cat eats the fish\nthe dog drinks water\na bird sings in the garden\n", encoding="utf-8")
    code = topic.main(["--task", "lm", "--corpus", str(text), "--epochs", "1", "--hidden-size", "4", "--num-layers",
                       "2", "--device", "cpu"])
    assert code == 0 and "next-word accuracy" in capsys.readouterr().out, (
        f"main(['--task', 'lm', '--corpus', FILE, ...]) should train word-level language models on the file and "
        f"print the next-word accuracy, returned {code!r}")
    assert topic.main(["--task", "lm", "--corpus", str(tmp_path / "missing.txt")]) == 1, (
        "main() with a corpus file that does not exist should print an error and return 1")

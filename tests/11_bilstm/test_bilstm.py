"""Hidden suite for 11 Bi-LSTM: reversal within lengths, one direction over a padded batch,
equivalence with nn.LSTM(bidirectional=True), causality of each half, padding invariance,
and next-token tagging that only the bidirectional model can learn.

Equivalence tests run in float64 on tiny sizes, with weights copied into PyTorch's own
nn.LSTM; the padding always holds large random values, so a result that reads it shows.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import assert_at_least, assert_at_most, assert_close, assert_equal, check_tensor, fill_uniform
from kata.sequences import next_token_task

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

HALVES_HINT = ("output[..., :H] is the forward direction and output[..., H:] the backward one: "
               "torch.cat([forward, backward], dim=-1)")
H_N_HINT = ("nn.LSTM's order is index 2 * layer + direction: layer 0 forward, layer 0 backward, layer 1 forward, "
            "...; the backward direction's h_n is its state after reading the sequence's first token")


def _cells(model, layer, direction):
    cells = model.forward_cells if direction == 0 else model.backward_cells
    return cells[layer]


def _copy_into(model, lstm):
    """Copy nn.LSTM's weights into the learner's cells: layer l, direction d ("" or "_reverse")."""
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            for direction, suffix in enumerate(("", "_reverse")[:2 if lstm.bidirectional else 1]):
                cell = _cells(model, layer, direction)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(cell, name).copy_(getattr(lstm, f"{name}_l{layer}{suffix}"))


def _pair(topic, g, *, input_size=4, hidden_size=3, num_layers=2, bidirectional=True):
    """The learner's BiLSTM and nn.LSTM with the same random float64 weights."""
    lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
    lstm = fill_uniform(lstm, g, 0.6).double()
    model = topic.BiLSTM(input_size, hidden_size, num_layers, bidirectional=bidirectional).double()
    _copy_into(model, lstm)
    return model, lstm


def _padded(g, lengths, input_size, scale=100.0):
    """x (B, T, D) float64 with garbage (|values| ~ 100) after each length, and the lengths (B,)."""
    lengths = torch.tensor(lengths)
    T = int(lengths.max())
    x = torch.randn(len(lengths), T, input_size, generator=g, dtype=torch.float64)
    pad = torch.arange(T) >= lengths[:, None]  # (B, T)
    x[pad] = torch.randn(int(pad.sum()), input_size, generator=g, dtype=torch.float64) * scale
    return x, lengths


def _cell_and_lstm(g):
    """An nn.LSTMCell(3, 4) with random float64 weights from g, and a one-layer nn.LSTM with the same weights."""
    cell = fill_uniform(nn.LSTMCell(3, 4), g, 0.6).double()
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, f"{name}_l0").copy_(getattr(cell, name))
    return cell, lstm


def _packed_reference(lstm, x, lengths):
    """What nn.LSTM gives each sequence of a padded batch: packed, then padded back with zeros."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    output, (h_n, c_n) = lstm(packed)
    output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
    return output, (h_n, c_n)


# ------------------------------------------------------------------ reverse_padded
@shapes
@task("reverse_padded")
def test_reverse_padded_keeps_shape_dtype_and_device(topic):
    lengths = torch.tensor([5, 3, 1])
    try:  # in training, fit moves the lengths to the model's device with the rest of the batch
        out = topic.reverse_padded(torch.zeros(3, 5, 2, device="meta"), lengths.to("meta"))
    except (RuntimeError, NotImplementedError) as exc:
        if "expected device" in str(exc):
            raise AssertionError(
                f"reverse_padded(x, lengths) with x and lengths on the meta device raised {exc} Likely cause: an "
                "index made on the CPU (torch.arange(T) without device=x.device)") from None
        if "meta" not in str(exc):
            raise
        # The code reads the lengths' values (.tolist(), a loop): a meta tensor holds none. Fine on a GPU.
        out = topic.reverse_padded(torch.zeros(3, 5, 2, device="meta"), lengths)
    check_tensor(out, "reverse_padded(x (3, 5, 2), lengths) on the meta device", shape=(3, 5, 2), finite=False)
    assert out.device.type == "meta", (
        f"reverse_padded(x, lengths) should return a tensor on x's device (meta here), got {out.device}. Likely "
        "cause: an index made on the CPU (torch.arange(T) without device=x.device), or lengths not moved to x.device")
    ids = torch.arange(15).reshape(3, 5)
    out = topic.reverse_padded(ids, lengths)
    check_tensor(out, "reverse_padded(ids (3, 5) int64, lengths)", shape=(3, 5), dtype=torch.int64,
                 hint="x may have no feature dimension (B, T) and any dtype: token ids are int64")
    out = topic.reverse_padded(torch.zeros(3, 5, 2, 2, dtype=torch.float64), lengths)
    check_tensor(out, "reverse_padded(x (3, 5, 2, 2) float64, lengths)", shape=(3, 5, 2, 2), dtype=torch.float64)


@gradients
@task("reverse_padded")
def test_reverse_padded_reverses_each_sequence_within_its_length(topic):
    ids = torch.tensor([[11, 12, 13, 14, 15],
                        [21, 22, 23, 0, 0],
                        [31, 0, 0, 0, 0],
                        [41, 42, 0, 0, 0]])
    lengths = torch.tensor([5, 3, 1, 2])
    expected = torch.tensor([[15, 14, 13, 12, 11],
                             [23, 22, 21, 0, 0],
                             [31, 0, 0, 0, 0],
                             [42, 41, 0, 0, 0]])
    given = ids.clone()
    got = topic.reverse_padded(ids, lengths)
    assert_equal(ids, given, "the caller's ids after reverse_padded(ids, lengths)",
                 hint="it returns a new tensor and leaves x as it was: the rows were reversed in place "
                      "(x[b, :L] = x[b, :L].flip(0)) without a clone first; x.gather(1, index) or out = x.clone() "
                      "make a new tensor")
    assert_equal(got, expected, f"reverse_padded(ids, lengths=[5, 3, 1, 2]), expected {expected.tolist()}",
                 hint="each row is reversed within its length and the padding stays in place: x.flip(1) reverses "
                      "the padding too (it then comes first), or an index is off by one (out[b, t] = x[b, L - 1 - t])")
    g = torch.Generator().manual_seed(0)
    x, lengths = _padded(g, [4, 1, 3], input_size=2)  # (3, 4, 2)
    x.requires_grad_(True)
    out = topic.reverse_padded(x, lengths)
    expected = x.detach().clone()
    for b, L in enumerate(lengths.tolist()):
        expected[b, :L] = x.detach()[b, :L].flip(0)
    assert_close(out, expected, "reverse_padded(x (3, 4, 2), lengths=[4, 1, 3])", atol=0, rtol=0,
                 hint="reverse along time (dim 1) only, each row within its own length; features stay together")
    assert_close(topic.reverse_padded(out, lengths), x.detach(), "reverse_padded(reverse_padded(x, lengths), lengths)",
                 atol=0, rtol=0, hint="reversing twice must give x back")
    weights = torch.randn(x.shape, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    assert_close(grad, topic.reverse_padded(weights, lengths), "the gradient of reverse_padded", atol=0, rtol=0,
                 hint="build the result from x with differentiable indexing (gather, or slices), not by copying values "
                      "out of the graph (.tolist(), .detach(), torch.tensor(...))")


# ------------------------------------------------------------------ unroll
@shapes
@task("unroll")
def test_unroll_shapes_on_the_input_device(topic):
    cell = nn.LSTMCell(3, 5, device="meta")
    x = torch.zeros(2, 4, 3, device="meta")
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]], device="meta")
    for m in (mask, None):
        output, state = topic.unroll(cell, x, m)
        where = "unroll(LSTMCell(3, 5), x (2, 4, 3), mask)" if m is not None else "unroll(cell, x, mask=None)"
        check_tensor(output, f"{where} output, on the meta device", shape=(2, 4, 5), finite=False,
                     hint="one hidden state per step: torch.stack(outputs, dim=1) is (B, T, H)")
        assert isinstance(state, tuple) and len(state) == 2, f"{where} should return output, (h_n, c_n)"
        for name, value in zip(("h_n", "c_n"), state):
            check_tensor(value, f"{where} {name}", shape=(2, 5), finite=False,
                         hint="the last state of each sequence: (B, H)")
        for name, value in (("output", output), ("h_n", state[0]), ("c_n", state[1])):
            assert value.device.type == "meta", (
                f"{where}: {name} is on {value.device}, not on x's device (meta). Likely cause: the zero state made "
                "with torch.zeros(B, H) instead of x.new_zeros(B, H) (or device=x.device)")


@gradients
@task("unroll")
def test_unroll_equals_nn_lstm(topic):
    g = torch.Generator().manual_seed(1)
    cell, lstm = _cell_and_lstm(g)
    x = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    x[1, 3:] = 0.0  # steps whose features are all 0 are still steps: mask=None means every position is real
    x.requires_grad_(True)
    output, (h_n, c_n) = topic.unroll(cell, x)
    expected, (h_ref, c_ref) = lstm(x)
    hint = ("start from h = c = 0 and step h, c = cell(x[:, t], (h, c)) for t = 0 .. T-1, keeping every h as "
            "the output; mask=None means every step is real, all-zero inputs included (do not guess a mask from "
            "x == 0)")
    check_tensor(output, "unroll(cell, x float64)", dtype=torch.float64,
                 hint="make the zero state like x (x.new_zeros): float64 in, float64 out")
    assert_close(output, expected, "unroll(LSTMCell(3, 4), x (2, 5, 3)) output", atol=1e-10, hint=hint)
    assert_close(h_n, h_ref[0], "unroll(...) h_n", atol=1e-10, hint="h_n is the hidden state after the last step")
    assert_close(c_n, c_ref[0], "unroll(...) c_n", atol=1e-10,
                 hint="c_n is the cell state after the last step, not the hidden state")
    w = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (output, h_n, c_n)]
    ours = torch.autograd.grad(sum((a * b).sum() for a, b in zip((output, h_n, c_n), w)), [x, *cell.parameters()])
    theirs = torch.autograd.grad(sum((a * b).sum() for a, b in zip((expected, h_ref[0], c_ref[0]), w)),
                                 [x, *lstm.parameters()])
    for name, a, b in zip(("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh"), ours, theirs):
        assert_close(a, b, f"the gradient with respect to {name}", atol=1e-10,
                     hint="every step must stay in the graph: no .detach(), .data or in-place writes into the state")


@gradients
@task("unroll")
def test_unroll_freezes_the_state_at_the_padding(topic):
    g = torch.Generator().manual_seed(2)
    cell, lstm = _cell_and_lstm(g)
    x, lengths = _padded(g, [4, 2, 1], input_size=3)  # (3, 4, 3), garbage after each length
    x.requires_grad_(True)
    mask = torch.arange(4) < lengths[:, None]  # (3, 4)
    output, (h_n, c_n) = topic.unroll(cell, x, mask)
    for b, L in enumerate(lengths.tolist()):
        alone, (h_ref, c_ref) = lstm(x.detach()[b:b + 1, :L])  # the sequence without its padding
        where = f"sequence {b} (length {L} of 4)"
        assert_close(output[b, :L], alone[0], f"unroll(cell, x, mask) output of {where}", atol=1e-10,
                     hint="the real steps of a sequence are computed as if it were alone")
        assert_close(output[b, L:], torch.zeros(4 - L, 4, dtype=torch.float64), f"the output at the padding of {where}",
                     atol=0, hint="output 0 where mask is False (what pad_packed_sequence gives): "
                                  "torch.where(mask[:, t, None], h_next, 0.0)")
        assert_close(h_n[b], h_ref[0, 0], f"h_n of {where}", atol=1e-10,
                     hint="h_n is the state after the sequence's last real token: where mask is False, keep the old "
                          "state (torch.where(mask[:, t, None], h_next, h)) instead of stepping over the padding")
        assert_close(c_n[b], c_ref[0, 0], f"c_n of {where}", atol=1e-10,
                     hint="freeze c at the padding as well as h")
    (grad,) = torch.autograd.grad(output.sum() + h_n.sum() + c_n.sum(), x)
    assert_close(grad[~mask], torch.zeros(int((~mask).sum()), 3, dtype=torch.float64),
                 "the gradient of unroll's results with respect to the padding", atol=0,
                 hint="nothing may depend on the padding: torch.where picks, multiplying by the mask is not enough "
                      "when the padding holds NaN or inf")


# ------------------------------------------------------------------ BiLSTM
@shapes
@task("BiLSTM")
def test_bilstm_cells_and_shapes(topic):
    model = topic.BiLSTM(3, 4, num_layers=3)
    for name in ("forward_cells", "backward_cells"):
        cells = getattr(model, name, None)
        assert isinstance(cells, nn.ModuleList) and len(cells) == 3, (
            f"BiLSTM(3, 4, num_layers=3).{name} should be an nn.ModuleList of 3 nn.LSTMCell, got {cells!r:.120}")
        sizes = [(c.input_size, c.hidden_size) for c in cells]
        assert sizes == [(3, 4), (8, 4), (8, 4)], (
            f"BiLSTM(3, 4, num_layers=3).{name}: (input_size, hidden_size) per layer should be "
            f"[(3, 4), (8, 4), (8, 4)], got {sizes}. Likely cause: layers after the first read both directions of "
            "the layer below: 2 * hidden_size features")
    uni = topic.BiLSTM(3, 4, num_layers=2, bidirectional=False)
    sizes = [(c.input_size, c.hidden_size) for c in uni.forward_cells]
    assert sizes == [(3, 4), (4, 4)] and len(uni.backward_cells) == 0, (
        f"BiLSTM(3, 4, num_layers=2, bidirectional=False) should have forward cells [(3, 4), (4, 4)] and no "
        f"backward cells, got {sizes} and {len(uni.backward_cells)} backward cells")
    # Shapes on the meta device (no data: tensors made on the CPU by mistake fail). The meta device
    # runs each op through Python, so the sequences are short.
    for bidirectional, layers, given, (width, states) in ((True, 2, torch.tensor([3, 2]), (8, 4)),
                                                          (False, 2, None, (4, 2))):
        with torch.device("meta"):
            model = topic.BiLSTM(3, 4, num_layers=layers, bidirectional=bidirectional)
        x = torch.zeros(2, 3, 3, device="meta")
        where = (f"BiLSTM(3, 4, num_layers={layers}, bidirectional={bidirectional}) on x (2, 3, 3) on meta, "
                 f"lengths {given.tolist() if given is not None else None}")
        output, (h_n, c_n) = model(x, given)
        check_tensor(output, f"{where}: output", shape=(2, 3, width), finite=False, hint=HALVES_HINT)
        check_tensor(h_n, f"{where}: h_n", shape=(states, 2, 4), finite=False,
                     hint="one (B, H) state per layer and direction: torch.stack, (num_layers * directions, B, H)")
        check_tensor(c_n, f"{where}: c_n", shape=(states, 2, 4), finite=False)
        assert output.device.type == "meta" and h_n.device.type == "meta", (
            f"{where}: the results should be on x's device (meta), got {output.device} and {h_n.device}. Likely "
            "cause: the mask made with torch.arange(T) on the CPU, or lengths not moved to x.device")
    model = topic.BiLSTM(3, 4)
    for bad in ([0, 5], [6, 1]):
        with pytest.raises(ValueError, match="lengths"):
            model(torch.zeros(2, 5, 3), torch.tensor(bad))


@shapes
@task("BiLSTM")
def test_bilstm_starts_like_nn_lstm(topic):
    torch.manual_seed(0)
    model = topic.BiLSTM(8, 16, num_layers=2)
    bound = 16 ** -0.5  # nn.LSTM and nn.LSTMCell draw every weight and bias from U(-1/sqrt(H), 1/sqrt(H))
    for layer in range(2):
        cells = (model.forward_cells[layer], model.backward_cells[layer])
        for direction, cell in zip(("forward", "backward"), cells):
            values = torch.cat([p.detach().flatten() for p in cell.parameters()])
            where = f"the parameters of layer {layer}'s {direction} cell ({values.numel()} values)"
            assert values.abs().max() <= bound + 1e-7 and values.abs().max() >= 0.95 * bound, (
                f"{where} should be uniform in +-1/sqrt(hidden_size) = +-{bound:.4f} as nn.LSTM's are; their largest "
                f"magnitude is {values.abs().max():.4f}. Likely cause: another initialisation, or cells sized wrong")
            assert abs(values.std().item() / (bound / 3 ** 0.5) - 1) < 0.1, (
                f"{where}: standard deviation {values.std():.4f}, expected about {bound / 3 ** 0.5:.4f} "
                "(bound / sqrt(3) for a uniform): keep nn.LSTMCell's own initialisation")
        same = torch.equal(cells[0].weight_hh, cells[1].weight_hh)  # a bool: no raw tensors in the message
        assert not same, (
            f"layer {layer}: the forward and backward cells start with the same weights. Each direction is its own "
            "nn.LSTMCell with its own random weights (a copy.deepcopy of the forward cell makes them equal)")


@gradients
@task("BiLSTM")
def test_bilstm_equals_nn_lstm_bidirectional(topic):
    g = torch.Generator().manual_seed(3)
    model, lstm = _pair(topic, g, num_layers=1)  # one layer first: each half on its own
    x = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    output, _ = model(x)
    expected, _ = lstm(x)
    check_tensor(output, "BiLSTM(4, 3)(x (3, 5, 4) float64) output", shape=(3, 5, 6), dtype=torch.float64,
                 hint=HALVES_HINT)
    assert_close(output[..., :3], expected[..., :3], "BiLSTM(4, 3): the forward half output[..., :3]", atol=1e-10,
                 hint="the forward cell reads x left to right from a zero state; " + HALVES_HINT)
    assert_close(output[..., 3:], expected[..., 3:], "BiLSTM(4, 3): the backward half output[..., 3:]", atol=1e-10,
                 hint="the backward cell (its own weights) reads each sequence right to left, and its outputs are "
                      "reversed back into time order before the concatenation; " + HALVES_HINT)

    model, lstm = _pair(topic, g, num_layers=2)
    x.requires_grad_(True)
    output, (h_n, c_n) = model(x)
    expected, (h_ref, c_ref) = lstm(x)
    assert_close(output, expected, "BiLSTM(4, 3, num_layers=2)(x) output", atol=1e-10,
                 hint="layer 1 reads the concatenated output of layer 0, both halves, and has its own two cells")
    check_tensor(h_n, "BiLSTM(4, 3, num_layers=2) h_n", shape=(4, 3, 3))
    for i in range(4):
        which = f"BiLSTM(4, 3, num_layers=2) h_n[{i}] (layer {i // 2}, {'forward' if i % 2 == 0 else 'backward'})"
        assert_close(h_n[i], h_ref[i], which, atol=1e-10, hint=H_N_HINT)
        assert_close(c_n[i], c_ref[i], which.replace("h_n", "c_n"), atol=1e-10,
                     hint="c_n holds the cell states, in h_n's order")
    w = [torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (output, h_n, c_n)]
    loss = sum((a * b).sum() for a, b in zip((output, h_n, c_n), w))
    ref_loss = sum((a * b).sum() for a, b in zip((expected, h_ref, c_ref), w))
    (ours,) = torch.autograd.grad(loss, x, retain_graph=True)
    (theirs,) = torch.autograd.grad(ref_loss, x, retain_graph=True)
    assert_close(ours, theirs, "the gradient with respect to x", atol=1e-10,
                 hint="keep every step in the graph: no .detach() or in-place writes")
    loss.backward()
    ref_loss.backward()
    for layer in range(2):
        for direction, suffix in ((0, ""), (1, "_reverse")):
            cell = _cells(model, layer, direction)
            assert_close(cell.weight_ih.grad, getattr(lstm, f"weight_ih_l{layer}{suffix}").grad,
                         f"the gradient of layer {layer}'s {'forward' if direction == 0 else 'backward'} weight_ih",
                         atol=1e-10, hint="each direction trains its own cell: forward_cells[l] and backward_cells[l]")


@gradients
@task("BiLSTM")
def test_unidirectional_bilstm_equals_nn_lstm(topic):
    g = torch.Generator().manual_seed(4)
    model, lstm = _pair(topic, g, num_layers=2, bidirectional=False)
    x = torch.randn(2, 6, 4, generator=g, dtype=torch.float64)
    output, (h_n, c_n) = model(x)
    expected, (h_ref, c_ref) = lstm(x)
    assert_close(output, expected, "BiLSTM(4, 3, num_layers=2, bidirectional=False)(x) output", atol=1e-10,
                 hint="without the backward direction each layer's output is the forward cell's alone (H features), "
                      "and the next layer reads it")
    assert_close(h_n, h_ref, "its h_n (num_layers, B, H)", atol=1e-10, hint="one state per layer, in layer order")
    assert_close(c_n, c_ref, "its c_n (num_layers, B, H)", atol=1e-10)


@gradients
@task("BiLSTM")
def test_padded_batch_equals_packed_nn_lstm(topic):
    g = torch.Generator().manual_seed(5)
    for layers in (1, 2):
        model, lstm = _pair(topic, g, num_layers=layers)
        x, lengths = _padded(g, [5, 2, 1, 4], input_size=4)  # garbage after each length
        output, (h_n, c_n) = model(x, lengths)
        expected, (h_ref, c_ref) = _packed_reference(lstm, x, lengths)
        where = f"BiLSTM(4, 3, num_layers={layers})(x, lengths=[5, 2, 1, 4])"
        assert_close(output[..., :3], expected[..., :3], f"the forward half of {where}", atol=1e-10,
                     hint="the forward direction's state must stop changing after each sequence's length, and its "
                          "output is 0 at the padding")
        assert_close(output[..., 3:], expected[..., 3:], f"the backward half of {where}", atol=1e-10,
                     hint="the backward direction must start at each sequence's own last token, not at the padding: "
                          "reverse each sequence within its length (reverse_padded), not with x.flip(1), and reverse "
                          "its outputs back the same way; its output is 0 at the padding")
        for i in range(2 * layers):
            which = f"h_n[{i}] (layer {i // 2}, {'forward' if i % 2 == 0 else 'backward'}) of {where}"
            assert_close(h_n[i], h_ref[i], which, atol=1e-10,
                         hint="the forward h_n is the state after each sequence's last real token, the backward h_n "
                              "the state after its first token; " + H_N_HINT)
            assert_close(c_n[i], c_ref[i], which.replace("h_n", "c_n"), atol=1e-10)


@gradients
@task("BiLSTM")
def test_each_sequence_gets_the_result_it_gets_alone(topic):
    g = torch.Generator().manual_seed(6)
    model, _ = _pair(topic, g, num_layers=2)
    x, lengths = _padded(g, [3, 5, 1], input_size=4)  # (3, 5, 4)
    x.requires_grad_(True)
    output, (h_n, c_n) = model(x, lengths)
    for b, L in enumerate(lengths.tolist()):
        alone, (h_alone, c_alone) = model(x.detach()[b:b + 1, :L])  # a batch of one, no padding
        where = f"sequence {b} (length {L}) of a padded batch"
        assert_close(output[b, :L], alone[0], f"the output of {where}", atol=1e-10,
                     hint="a sequence must get the result it gets alone: the padding (large random values here) "
                          "may not reach it, in either direction")
        assert_close(output[b, L:], torch.zeros(5 - L, 6, dtype=torch.float64), f"the output at the padding of {where}",
                     atol=0, hint="both halves are 0 at the padding")
        assert_close(h_n[:, b], h_alone[:, 0], f"h_n[:, {b}] of {where}", atol=1e-10)
        assert_close(c_n[:, b], c_alone[:, 0], f"c_n[:, {b}] of {where}", atol=1e-10)
    (grad,) = torch.autograd.grad(output.sum() + h_n.sum() + c_n.sum(), x)
    pad = torch.arange(5) >= lengths[:, None]
    assert_close(grad[pad], torch.zeros(int(pad.sum()), 4, dtype=torch.float64),
                 "the gradient of every result with respect to the padding", atol=0,
                 hint="no result may depend on a padded step: the backward direction starts at the last real token")
    full, _ = model(x.detach(), torch.tensor([5, 5, 5]))
    assert_close(full, model(x.detach())[0], "BiLSTM(x, lengths all T) against BiLSTM(x)", atol=1e-12)


@gradients
@task("BiLSTM")
def test_forward_half_sees_the_past_and_backward_half_the_future(topic):
    g = torch.Generator().manual_seed(7)
    model, _ = _pair(topic, g, num_layers=1, hidden_size=3)
    x, lengths = _padded(g, [6, 4], input_size=4)  # (2, 6, 4): sequence 1 has two padded steps
    x.requires_grad_(True)
    output, _ = model(x, lengths)
    for b, L in enumerate(lengths.tolist()):
        for t in range(L):
            for half, sl, sees in (("forward", slice(0, 3), range(0, t + 1)), ("backward", slice(3, 6), range(t, L))):
                (grad,) = torch.autograd.grad(output[b, t, sl].sum(), x, retain_graph=True)
                size = grad[b].abs().sum(-1)  # (T,): how much each input step moves this output
                blind = [s for s in range(6) if s not in sees]
                where = f"the {half} half of output[{b}, {t}] (length {L})"
                assert all(size[s] == 0 for s in blind), (
                    f"{where} depends on input steps {[s for s in blind if size[s] != 0]}; it may depend only on "
                    f"steps {list(sees)}. Likely cause: " + (
                        "the forward direction must read x_1..x_t only" if half == "forward" else
                        "the backward direction must read x_L..x_t only: started at the padding (x.flip(1) instead of "
                        "reverse_padded), or its outputs not reversed back into time order"))
                assert all(size[s] > 0 for s in sees), (
                    f"{where} should depend on every input step in {list(sees)}; it does not depend on steps "
                    f"{[s for s in sees if size[s] == 0]}. Likely cause: the halves swapped, or the "
                    f"{half} direction reads the wrong steps")
                assert grad[1 - b].abs().sum() == 0, f"{where} depends on the other sequence of the batch"
    uni, _ = _pair(topic, g, num_layers=2, bidirectional=False)
    x = torch.randn(1, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    output, _ = uni(x)
    (grad,) = torch.autograd.grad(output[0, 2].sum(), x)
    assert grad[0, 3:].abs().sum() == 0 and grad[0, :3].abs().sum(-1).min() > 0, (
        "BiLSTM(..., num_layers=2, bidirectional=False): output[:, 2] should depend on x[:, :3] and not on "
        "x[:, 3:]. Likely cause: bidirectional=False still builds or uses a backward direction")


# ------------------------------------------------------------------ Tagger
@shapes
@task("Tagger")
def test_tagger_layers_and_shapes(topic):
    model = topic.Tagger(12, 7, embed_dim=6, hidden_size=5, num_layers=2)
    check_tensor(model.embedding.weight, "Tagger(12, 7, embed_dim=6, hidden_size=5).embedding.weight", shape=(12, 6),
                 hint="nn.Embedding(vocab_size, embed_dim)")
    assert isinstance(model.lstm, topic.BiLSTM), f"Tagger.lstm should be your BiLSTM, got {type(model.lstm).__name__}"
    sizes = [c.input_size for c in model.lstm.forward_cells]
    assert sizes == [6, 10] and len(model.lstm.backward_cells) == 2, (
        f"Tagger(12, 7, embed_dim=6, hidden_size=5, num_layers=2).lstm should be BiLSTM(6, 5, 2): forward cells "
        f"reading [6, 10] features and two backward cells, got {sizes} and {len(model.lstm.backward_cells)}")
    check_tensor(model.head.weight, "Tagger(12, 7, embed_dim=6, hidden_size=5).head.weight", shape=(7, 10),
                 hint="the head reads both directions and scores num_classes: nn.Linear(2 * hidden_size, "
                      "num_classes), not vocab_size")
    uni = topic.Tagger(12, 7, embed_dim=6, hidden_size=5, bidirectional=False)
    check_tensor(uni.head.weight, "Tagger(12, 7, embed_dim=6, hidden_size=5, bidirectional=False).head.weight",
                 shape=(7, 5), hint="one direction gives hidden_size features")
    assert len(uni.lstm.backward_cells) == 0, "Tagger(..., bidirectional=False) should pass bidirectional to BiLSTM"
    with torch.device("meta"):
        model = topic.Tagger(12, 7, embed_dim=6, hidden_size=5)
    logits = model(torch.zeros(3, 4, dtype=torch.int64, device="meta"), torch.tensor([4, 3, 1]))
    check_tensor(logits, "Tagger(12, 7, ...)(ids (3, 4), lengths) on the meta device", shape=(3, 4, 7), finite=False,
                 hint="one row of num_classes logits per position: (B, T, C)")


@gradients
@task("Tagger")
def test_tagger_is_embedding_bilstm_head_with_the_lengths(topic):
    g = torch.Generator().manual_seed(8)
    model = fill_uniform(topic.Tagger(12, 7, embed_dim=6, hidden_size=5), g, 0.6).double()
    ids = torch.randint(5, 12, (3, 6), generator=g)
    lengths = torch.tensor([6, 2, 4])
    ids[torch.arange(6) >= lengths[:, None]] = 0  # [PAD]
    logits = model(ids, lengths)
    output, _ = model.lstm(F.embedding(ids, model.embedding.weight), lengths)
    expected = F.linear(output, model.head.weight, model.head.bias)
    assert_close(logits, expected, "Tagger(12, 7, embed_dim=6, hidden_size=5)(ids, lengths)", atol=1e-10,
                 hint="embed the ids, run self.lstm(embedded, lengths) (pass the lengths on, or the backward "
                      "direction starts at the padding), then apply self.head at every position")
    junk = ids.clone()
    junk[torch.arange(6) >= lengths[:, None]] = 9  # padding that is not [PAD]: the lengths alone say where it is
    assert_close(model(junk, lengths), logits, "Tagger(...)(ids, lengths) with other ids than [PAD] (0) after each "
                 "length", atol=1e-10, hint="the lengths you are given say where each sequence ends; pass them on as "
                                             "they are, do not work them out from the ids (ids != 0)")


@gradients
@task("Tagger")
def test_tagger_without_lengths_reads_every_position(topic):
    g = torch.Generator().manual_seed(9)
    model = fill_uniform(topic.Tagger(12, 7, embed_dim=6, hidden_size=5), g, 0.6).double()
    ids = torch.randint(5, 12, (3, 6), generator=g)
    ids[1, 4:] = 0  # rows that end in id 0 ([PAD]): with lengths=None they are still read to the end
    ids[2, 5] = 0
    expected = model(ids, torch.tensor([6, 6, 6]))
    assert_close(model(ids), expected, "Tagger(12, 7, ...)(ids) with lengths=None (rows ending in id 0) against "
                 "lengths = [6, 6, 6]", atol=1e-12,
                 hint="lengths=None means every sequence has all T positions (the docstring): pass None on to the "
                      "BiLSTM; do not work lengths out of the ids ((ids != 0).sum(1)), which treats a 0 as padding")


@gradients
@task("train_step")
def test_train_step_against_hand_written_adam_steps(topic):
    ids, targets, lengths = next_token_task(8, vocab_size=12, length=(2, 6), seed=3)  # targets -100 at the padding
    torch.manual_seed(0)
    model = topic.Tagger(12, 12, embed_dim=6, hidden_size=5)
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = [topic.train_step(model, optimizer, (ids[:4], targets[:4], lengths[:4])),
              topic.train_step(model, optimizer, (ids[4:], targets[4:], lengths[4:]))]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    expected = []
    for batch in (slice(0, 4), slice(4, 8)):
        optimizer.zero_grad()
        logits = reference(ids[batch], lengths[batch])  # (4, T, 12)
        loss = F.cross_entropy(logits.transpose(1, 2), targets[batch])  # skips the targets -100
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: optimizer.zero_grad(), logits = model(ids, lengths), cross-entropy against the targets "
            "averaged over the positions whose target is not -100, loss.backward(), optimizer.step(), return "
            "loss.item(). Without zero_grad() the gradients add up; without lengths the backward direction starts "
            "at the padding")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses of two train_step calls", atol=1e-5,
                 hint=hint)
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert_close(got, want, f"parameter {name} after two train_step calls", atol=1e-5, hint=hint)


@accuracy
@task("Tagger")
def test_bidirectional_tags_the_next_token_and_unidirectional_cannot(topic, seed, device):
    # Each token is drawn independently, so the token after t can be read only from the right.
    ids, targets, lengths = next_token_task(640, vocab_size=10, length=(4, 8), seed=seed)
    test_ids, test_targets, test_lengths = next_token_task(500, vocab_size=10, length=(4, 8), seed=seed, split="test")
    chance = 1 / 5  # five word ids, 5..9
    scores = {}
    for bidirectional in (True, False):
        torch.manual_seed(seed)
        model = topic.Tagger(10, 10, embed_dim=16, hidden_size=32, bidirectional=bidirectional).to(device)
        losses = topic.train(model, ids.to(device), targets.to(device), lengths.to(device), epochs=4, lr=0.03,
                             batch_size=64, seed=seed)
        assert len(losses) == 4, f"train(..., epochs=4) should return 4 losses, got {len(losses)}"
        model.eval()
        with torch.no_grad():
            predicted = model(test_ids.to(device), test_lengths).argmax(-1).cpu()  # (N, T)
        tagged = test_targets != -100
        scores[bidirectional] = (predicted == test_targets)[tagged].float().mean().item()
    hint = ("the solution's bidirectional tagger reaches 0.99-1.0 in 40 steps and the unidirectional one stays at "
            "chance (0.18-0.22): ")
    assert_at_least(scores[True], 0.9, "next-token test accuracy of the bidirectional tagger",
                    chance=chance, hint=hint + "the backward half at t must have read x_{t+1}; check the lengths reach "
                                               "the BiLSTM and the head reads both halves")
    assert_at_most(scores[False], 0.3, "next-token test accuracy of the unidirectional tagger",
                   hint=hint + "a forward-only model that beats chance sees the future: bidirectional=False must drop "
                               "the backward direction entirely")


@shapes
@task("train_step")
def test_main_tags_generated_tokens_and_a_text_file(topic, tmp_path, capsys):
    small = ["--train-size", "40", "--test-size", "20", "--max-len", "6", "--embed-dim", "4", "--hidden-size", "4",
             "--epochs", "1", "--batch-size", "32", "--device", "cpu"]
    assert topic.main(small) == 0, "main() on generated tokens should return 0"
    out = capsys.readouterr().out
    assert "bidirectional" in out and "unidirectional" in out and "accuracy" in out, (
        f"main() should train both taggers and print their test accuracy, printed:\n{out[-600:]}")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["the cat eats the fish", "a dog runs in the park", "the bird sings"] * 6) + "\n",
                      encoding="utf-8")
    assert topic.main(["--corpus", str(corpus), *small]) == 0, "main(['--corpus', FILE, ...]) should return 0"
    assert "accuracy" in capsys.readouterr().out
    assert topic.main(["--corpus", str(tmp_path / "missing.txt"), *small]) == 1, (
        "main(['--corpus', a missing file]) should print an error and return 1")
    assert "error:" in capsys.readouterr().err

"""Hidden suite for 14 ELMo: highway layers and the character CNN against their formulas, the biLM's
layers against its definition, causality of each direction, padding, the joint LM loss, the
scalar mix, the leak test on i.i.d. random tokens, and the senses of two-sense words that
contextual vectors tell apart and a static vector cannot.

Equivalence tests run in float64 on tiny sizes; padded positions hold random characters, so a
result that reads them shows.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.checks import (
    assert_at_least,
    assert_at_most,
    assert_close,
    assert_equal,
    calling,
    check_on_meta,
    check_tensor,
    check_unchanged,
    clones,
    fill_uniform,
    on_meta,
)
from kata.corpus import SENSES, WORDS, corpus
from kata.sequences import next_token_targets, next_token_task
from kata.text import IGNORE_INDEX, NUM_CHARS, Vocab, char_ids

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

HIGHWAY = ("each layer's nn.Linear(size, 2 * size) gives [W_H x + b_H, W_T x + b_T]: h, gate = layer(x).chunk(2, "
           "-1); t = sigmoid(gate); x = t * relu(h) + (1 - t) * x")
CHAR_CNN = ("embed the characters of each word ((B*T, L, C) -> (B*T, C, L) for Conv1d), apply each conv, take relu "
            "of the max over the L positions, concatenate the banks, then self.highway and self.projection")
HALVES = ("layer 0 is torch.cat([x, x], -1); layer j is torch.cat([forward, backward], -1), the forward LSTM's "
          "states first")
BACKWARD = ("the backward LSTM reads each sentence from its own last word: run it on reverse_padded(x, lengths) and "
            "reverse its outputs back with reverse_padded (x.flip(1) would put the padding first)")


def _highway_reference(highway, x):
    for layer in highway.layers:
        size = x.shape[-1]
        z = F.linear(x, layer.weight, layer.bias)
        t = torch.sigmoid(z[..., size:])
        x = t * F.relu(z[..., :size]) + (1 - t) * x
    return x


def _char_cnn_reference(cnn, chars):
    B, T, L = chars.shape
    e = F.embedding(chars.reshape(B * T, L), cnn.char_embedding.weight).transpose(1, 2)  # (B*T, C, L)
    features = torch.cat([F.conv1d(e, conv.weight, conv.bias).amax(-1).relu() for conv in cnn.convs], -1)
    return F.linear(_highway_reference(cnn.highway, features), cnn.projection.weight,
                    cnn.projection.bias).reshape(B, T, -1)


def _config(topic, **kwargs):
    sizes = dict(vocab_size=11, char_dim=4, filters=((1, 3), (2, 4)), num_highway=1, embed_dim=5, num_layers=2,
                 max_word_len=8)
    return topic.ELMoConfig(**{**sizes, **kwargs})


def _bilm(topic, g, **kwargs):
    return fill_uniform(topic.BiLM(_config(topic, **kwargs)), g, 0.5).double()


def _chars(g, lengths, max_word_len=8):
    """chars (B, T, L) of random words; the padding positions hold random characters too (not 0)."""
    lengths = torch.tensor(lengths)
    T = int(lengths.max())
    chars = torch.randint(3, NUM_CHARS, (len(lengths), T, max_word_len), generator=g)
    chars[..., 0], chars[..., -1] = 1, 2  # begin and end of word
    return chars, lengths


def _alone(model, chars):
    """The definition, for one sentence without padding: each layer (1, L, 2D)."""
    x = model.encoder(chars)  # (1, L, D)
    layers = [torch.cat([x, x], -1)]
    forward, backward = x, x.flip(1)
    for j, (f, b) in enumerate(zip(model.forward_lstms, model.backward_lstms)):
        f_out, b_out = f(forward)[0], b(backward)[0]
        if j > 0:
            f_out, b_out = f_out + forward, b_out + backward
        forward, backward = f_out, b_out
        layers.append(torch.cat([forward, backward.flip(1)], -1))
    return layers


# ------------------------------------------------------------------ Highway
@shapes
@task("Highway")
def test_highway_layers_and_gate_bias(topic):
    torch.manual_seed(0)
    highway = topic.Highway(6, 2)
    layers = getattr(highway, "layers", None)
    assert isinstance(layers, nn.ModuleList) and len(layers) == 2, (
        f"Highway(6, 2).layers should be an nn.ModuleList of 2 nn.Linear(6, 12), got {layers!r:.160}")
    for i, layer in enumerate(layers):
        check_tensor(layer.weight, f"Highway(6, 2).layers[{i}].weight", shape=(12, 6),
                     hint="one nn.Linear(size, 2 * size) per layer: H and the gate in one matrix")
        assert_equal(layer.bias[6:], torch.full((6,), -1.0), f"Highway(6, 2).layers[{i}].bias[6:] (the gate's bias)",
                     hint="the gate bias b_T (the second half of each bias) starts at gate_bias, -1 by default")
        assert layer.bias[:6].abs().max() < 6 ** -0.5 + 1e-6 and len(set(layer.bias[:6].tolist())) == 6, (
            f"Highway(6, 2).layers[{i}].bias[:6] (b_H) should keep nn.Linear's random initialisation, got "
            f"{[round(v, 3) for v in layer.bias[:6].tolist()]}. Likely cause: the gate bias written into the first "
            "half: the gate is the second half (layer.bias[size:])")
    for gate_bias in (0.0, 2.5):
        highway = topic.Highway(4, 1, gate_bias=gate_bias)
        assert_equal(highway.layers[0].bias[4:], torch.full((4,), gate_bias),
                     f"Highway(4, 1, gate_bias={gate_bias}).layers[0].bias[4:]",
                     hint="write gate_bias whatever its value: `if gate_bias:` skips 0.0, which is a value too")
    assert len(topic.Highway(4, 3).layers) == 3, "Highway(4, 3) should have 3 layers"
    check_on_meta("Highway(4, 2) on x (2, 3, 4)", topic.Highway(4, 2).to("meta"), torch.zeros(2, 3, 4, device="meta"),
                  shape=(2, 3, 4))


@gradients
@task("Highway")
def test_highway_equals_its_formula(topic):
    g = torch.Generator().manual_seed(1)
    highway = fill_uniform(topic.Highway(5, 2), g, 1.0).double()
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64) * 3
    x.requires_grad_(True)
    with calling(HIGHWAY):
        got = highway(x)
    expected = _highway_reference(highway, x)
    check_tensor(got, "Highway(5, 2)(x (3, 4, 5) float64)", shape=(3, 4, 5), dtype=torch.float64)
    assert_close(got, expected, "Highway(5, 2)(x)", atol=1e-10,
                 hint="t = sigmoid(W_T x + b_T) from the SECOND half of each layer's output; y = t * relu(W_H x + "
                      "b_H) + (1 - t) * x (transform where t is 1, carry x where it is 0), each layer reading the "
                      "previous one's y")
    w = torch.randn(got.shape, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad((got * w).sum(), [x, *highway.parameters()])
    theirs = torch.autograd.grad((expected * w).sum(), [x, *highway.parameters()])
    for name, a, b in zip(("x", "weight 0", "bias 0", "weight 1", "bias 1"), ours, theirs):
        assert_close(a, b, f"the gradient of Highway(5, 2) with respect to {name}", atol=1e-10,
                     hint="keep every step in the graph: no .detach() or in-place writes")


# ------------------------------------------------------------------ CharCNN
@shapes
@task("CharCNN")
def test_char_cnn_layers_and_shapes(topic):
    for filters in (((1, 3), (3, 5), (2, 2)), [(2, 4)]):
        cnn = topic.CharCNN(7, char_dim=6, filters=filters, num_highway=2)
        where = f"CharCNN(7, char_dim=6, filters={filters}, num_highway=2)"
        check_tensor(cnn.char_embedding.weight, f"{where}.char_embedding.weight", shape=(NUM_CHARS, 6),
                     hint="nn.Embedding(num_chars, char_dim, padding_idx=CHAR_PAD_ID)")
        assert cnn.char_embedding.padding_idx == 0, (
            f"{where}.char_embedding.padding_idx should be CHAR_PAD_ID (0), got {cnn.char_embedding.padding_idx}: "
            "the pad character's vector stays 0")
        got = [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in cnn.convs]
        want = [(6, out, width) for width, out in filters]
        assert got == want, (
            f"{where}.convs as (in_channels, out_channels, width) should be {want}, got {got}. Likely cause: filters "
            "are (width, out_channels) pairs, one nn.Conv1d(char_dim, out_channels, width) each, in order")
        total = sum(out for _, out in filters)
        assert len(cnn.highway.layers) == 2 and cnn.highway.layers[0].in_features == total, (
            f"{where}.highway should be Highway({total}, 2): the filters' outputs concatenated, num_highway layers")
        check_tensor(cnn.projection.weight, f"{where}.projection.weight", shape=(7, total),
                     hint="nn.Linear(sum of out_channels, embed_dim)")
    assert len(topic.CharCNN(4, num_highway=0).highway.layers) == 0, "CharCNN(4, num_highway=0) has no highway layer"
    with torch.device("meta"):
        cnn = topic.CharCNN(7, char_dim=3, filters=((1, 2), (3, 4)))
    check_on_meta("CharCNN(7, ...)(chars (2, 3, 8))", cnn, torch.zeros(2, 3, 8, dtype=torch.int64, device="meta"),
                  shape=(2, 3, 7), hint="chars (B, T, L) -> (B, T, embed_dim); make nothing on the CPU")


@gradients
@task("CharCNN")
def test_char_cnn_equals_conv_max_highway_projection(topic):
    g = torch.Generator().manual_seed(2)
    cnn = fill_uniform(topic.CharCNN(5, char_dim=4, filters=((1, 3), (2, 4), (3, 2)), num_highway=2), g, 0.5).double()
    chars, _ = _chars(g, [6, 6, 6])
    chars[0, 1] = char_ids(["ox"], max_word_len=8)[0][0, 0]  # a short word: mostly padding
    with calling(CHAR_CNN):
        got = cnn(chars)
    check_tensor(got, "CharCNN(5, ...)(chars (3, 6, 8)) in float64", shape=(3, 6, 5), dtype=torch.float64)
    assert_close(got, _char_cnn_reference(cnn, chars), "CharCNN(5, char_dim=4, filters=((1, 3), (2, 4), (3, 2)), "
                 "num_highway=2)(chars)", atol=1e-10,
                 hint=CHAR_CNN + "; the max over positions, not the mean (the strongest match of each pattern)")


@gradients
@task("CharCNN")
def test_char_cnn_spells_words_it_never_saw(topic):
    g = torch.Generator().manual_seed(3)
    cnn = fill_uniform(topic.CharCNN(6, char_dim=4, filters=((1, 3), (2, 4))), g, 0.5).double()
    words = ["quokka", "axolotl", "bat", "bats", "tab", "[UNK]"]
    sentences = [words, ["bat", "quokka", "zzz", "axolotl", "x", "tab"]]
    chars, _, _ = char_ids(sentences, max_word_len=10)
    with calling(CHAR_CNN):
        vectors = cnn(chars)  # (2, 6, 6)
    first = vectors[0]
    distances = torch.cdist(first, first) + torch.eye(6, dtype=torch.float64)
    assert distances.min() > 1e-6, (
        f"CharCNN gave two different words of {words} the same vector: every word is spelled character by "
        "character, so words never seen in training (and 'bat' against 'tab') get vectors of their own, no [UNK]")
    for word, (b, t) in (("bat", (1, 0)), ("quokka", (1, 1)), ("axolotl", (1, 3)), ("tab", (1, 5))):
        assert_close(vectors[b, t], first[words.index(word)], f"CharCNN's vector of {word!r} in another sentence at "
                     "another position", atol=1e-12,
                     hint="a word's vector depends on its characters only: each word is encoded on its own "
                          "(reshape to (B*T, L) and back), not mixed with its neighbours")


# ------------------------------------------------------------------ BiLM
@shapes
@task("BiLM")
def test_bilm_modules_and_shapes(topic):
    for num_layers in (1, 3):
        config = _config(topic, num_layers=num_layers)
        model = topic.BiLM(config)
        where = f"BiLM(ELMoConfig(embed_dim=5, num_layers={num_layers}, vocab_size=11, ...))"
        assert isinstance(model.encoder, topic.CharCNN), f"{where}.encoder should be your CharCNN"
        widths = [c.kernel_size[0] for c in model.encoder.convs]
        assert widths == [1, 2] and model.encoder.projection.out_features == 5, (
            f"{where}.encoder should be CharCNN(embed_dim, char_dim=..., filters=..., num_highway=...) from the config")
        assert model.encoder.char_embedding.embedding_dim == 4 and len(model.encoder.highway.layers) == 1, (
            f"{where}.encoder should take char_dim and num_highway from the config")
        for name in ("forward_lstms", "backward_lstms"):
            lstms = getattr(model, name, None)
            assert isinstance(lstms, nn.ModuleList) and len(lstms) == num_layers, (
                f"{where}.{name} should be an nn.ModuleList of {num_layers} one-layer nn.LSTM, got {lstms!r:.160}")
            for lstm in lstms:
                assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.batch_first) == (5, 5, 1, True), (
                    f"{where}.{name}: each should be nn.LSTM(embed_dim, embed_dim, batch_first=True), got {lstm}")
        check_tensor(model.softmax.weight, f"{where}.softmax.weight", shape=(11, 5),
                     hint="ONE nn.Linear(embed_dim, vocab_size) that both directions share")
        expected = sum(p.numel() for p in model.encoder.parameters()) + sum(
            p.numel() for p in model.softmax.parameters()) + 2 * num_layers * 4 * 5 * (5 + 5 + 2)
        got = sum(p.numel() for p in model.parameters())
        assert got == expected, (
            f"{where} has {got} parameters, expected {expected}: one encoder, one softmax and 2 * num_layers LSTMs. "
            "Likely cause: a second encoder or softmax for the backward direction (the paper shares them)")
        with torch.device("meta"):
            model = topic.BiLM(config)
        chars = torch.zeros(2, 4, 8, dtype=torch.int64, device="meta")
        with on_meta(f"{where} on chars (2, 4, 8) with lengths [4, 2]", hint=BACKWARD) as meta:
            layers = model(chars, torch.tensor([4, 2]))
            logits = model.lm_logits(layers)
        if meta.ran:
            assert isinstance(layers, (list, tuple)) and len(layers) == num_layers + 1, (
                f"{where} should return num_layers + 1 = {num_layers + 1} layers (the token layer, then each LSTM "
                f"layer), got {len(layers) if isinstance(layers, (list, tuple)) else type(layers).__name__}")
            for j, layer in enumerate(layers):
                check_tensor(layer, f"{where}: layer {j}", shape=(2, 4, 10), device="meta", hint=HALVES)
            for name, value in zip(("forward", "backward"), logits):
                check_tensor(value, f"{where}.lm_logits(layers): the {name} LM's logits", shape=(2, 4, 11),
                             device="meta", hint="self.softmax on each half of the top layer: (B, T, vocab_size)")


@gradients
@task("BiLM")
def test_bilm_layers_equal_their_definition(topic):
    g = torch.Generator().manual_seed(4)
    model = _bilm(topic, g, num_layers=3)
    chars, _ = _chars(g, [5, 5])
    layers = model(chars)
    expected = torch.cat(_alone(model, chars[:1])), torch.cat(_alone(model, chars[1:]))
    for j in range(4):
        want = torch.cat([expected[0][j:j + 1], expected[1][j:j + 1]])  # (2, 5, 10)
        check_tensor(layers[j], f"layer {j} of BiLM(num_layers=3)(chars (2, 5, 8)) in float64", shape=(2, 5, 10),
                     dtype=torch.float64)
        what = "the token layer [x; x]" if j == 0 else f"LSTM layer {j}"
        hint = HALVES if j == 0 else ("forward half: forward_lstms[j] on the layer below's forward states; backward "
                                      "half: backward_lstms[j] on the reversed sentence, reversed back; from the "
                                      "second LSTM layer on, add each LSTM's input to its output (the residual)")
        assert_close(layers[j][..., :5], want[..., :5], f"the forward half of {what}", atol=1e-10, hint=hint)
        assert_close(layers[j][..., 5:], want[..., 5:], f"the backward half of {what}", atol=1e-10, hint=hint)
    forward_logits, backward_logits = model.lm_logits(layers)
    top = layers[-1]
    assert_close(forward_logits, F.linear(top[..., :5], model.softmax.weight, model.softmax.bias),
                 "lm_logits(layers)[0], the forward LM's logits", atol=1e-10,
                 hint="self.softmax on the top layer's forward half, top[..., :embed_dim]")
    assert_close(backward_logits, F.linear(top[..., 5:], model.softmax.weight, model.softmax.bias),
                 "lm_logits(layers)[1], the backward LM's logits", atol=1e-10,
                 hint="the SAME self.softmax on the top layer's backward half, top[..., embed_dim:]")


@gradients
@task("BiLM")
def test_padded_batch_gives_each_sentence_what_it_gets_alone(topic):
    g = torch.Generator().manual_seed(5)
    model = _bilm(topic, g)
    chars, lengths = _chars(g, [3, 6, 1, 4])  # random characters at the padding
    with calling(BACKWARD):
        layers = model(chars, lengths)
    for b, L in enumerate(lengths.tolist()):
        alone = _alone(model, chars[b:b + 1, :L])
        for j, (got, want) in enumerate(zip(layers, alone)):
            where = f"layer {j} of sentence {b} (length {L} of 6) in a padded batch"
            assert_close(got[b, :L, :5], want[0, ..., :5], f"the forward half of {where}", atol=1e-10)
            assert_close(got[b, :L, 5:], want[0, ..., 5:], f"the backward half of {where}", atol=1e-10,
                         hint="a sentence gets what it gets alone: " + BACKWARD)
    full = model(chars, torch.tensor([6, 6, 6, 6], device="cpu"))
    with calling("lengths=None means every sentence has all T words"):
        default = model(chars)
    for j, (a, b) in enumerate(zip(default, full)):
        assert_close(a, b, f"layer {j} of BiLM(chars) against BiLM(chars, lengths all T)", atol=1e-12)


@gradients
@task("BiLM")
def test_each_direction_is_causal(topic):
    g = torch.Generator().manual_seed(6)
    model = _bilm(topic, g)
    chars, lengths = _chars(g, [6, 4])
    before = model(chars, lengths)
    logits_before = model.lm_logits(before)
    for s in range(6):
        changed = chars.clone()
        changed[:, s, 1:4] = torch.randint(3, NUM_CHARS, (2, 3), generator=g)  # another word at position s
        after = model(changed, lengths)
        logits_after = model.lm_logits(after)
        for b, L in enumerate(lengths.tolist()):
            if s >= L:
                continue
            for j, (x, y) in enumerate(zip(before, after)):
                where = f"layer {j} of sentence {b} (length {L}) when word {s} changes"
                assert_close(y[b, :s, :5], x[b, :s, :5], f"the forward half at positions 0..{s - 1}, {where}",
                             atol=1e-12, hint="the forward LM at t reads words 1..t only: it may not see later words")
                assert_close(y[b, s + 1:L, 5:], x[b, s + 1:L, 5:],
                             f"the backward half at positions {s + 1}..{L - 1}, {where}", atol=1e-12,
                             hint="the backward LM at t reads words t..L only: " + BACKWARD)
                if j > 0:
                    assert (y[b, s:L, :5] - x[b, s:L, :5]).abs().amax(-1).min() > 0, (
                        f"the forward half at positions {s}..{L - 1} should change with word {s} ({where}). Likely "
                        "cause: the forward LSTM does not read the words, or the halves are swapped")
                    assert (y[b, :s + 1, 5:] - x[b, :s + 1, 5:]).abs().amax(-1).min() > 0, (
                        f"the backward half at positions 0..{s} should change with word {s} ({where}). Likely cause: "
                        "the backward outputs are not reversed back into time order")
            assert_close(logits_after[0][b, :s], logits_before[0][b, :s], f"the forward LM's logits before word {s} "
                         f"of sentence {b} when word {s} changes", atol=1e-12,
                         hint="the forward LM's logits come from the top layer's FORWARD half only")
            assert_close(logits_after[1][b, s + 1:L], logits_before[1][b, s + 1:L],
                         f"the backward LM's logits after word {s} of sentence {b} when word {s} changes", atol=1e-12,
                         hint="the backward LM's logits come from the top layer's BACKWARD half only")


# ------------------------------------------------------------------ train_step
def _previous_targets(ids, lengths):
    y = torch.full_like(ids, IGNORE_INDEX)
    y[:, 1:] = ids[:, :-1]
    t = torch.arange(ids.shape[1])
    return y.masked_fill((t == 0) | (t >= lengths[:, None]), IGNORE_INDEX)


@gradients
@task("train_step")
def test_train_step_against_hand_written_adam_steps(topic):
    g = torch.Generator().manual_seed(7)
    chars, lengths = _chars(g, [5, 3, 2, 4, 5, 1, 3, 4])
    ids = torch.randint(5, 11, chars.shape[:2], generator=g)
    ids[torch.arange(5) >= lengths[:, None]] = 0
    torch.manual_seed(0)
    model = topic.BiLM(_config(topic))
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with calling("train_step(model, optimizer, (chars, ids, lengths))"):
        losses = [topic.train_step(model, optimizer, (chars[:4], ids[:4], lengths[:4])),
                  topic.train_step(model, optimizer, (chars[4:], ids[4:], lengths[4:]))]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    expected = []
    for batch in (slice(0, 4), slice(4, 8)):
        optimizer.zero_grad()
        forward_logits, backward_logits = reference.lm_logits(reference(chars[batch], lengths[batch]))
        loss = (F.cross_entropy(forward_logits.transpose(1, 2), next_token_targets(ids[batch], lengths[batch]))
                + F.cross_entropy(backward_logits.transpose(1, 2), _previous_targets(ids[batch], lengths[batch]))) / 2
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: zero_grad, both LMs' logits from model.lm_logits(model(chars, lengths)), the forward LM's "
            "cross-entropy against word t+1 and the backward LM's against word t-1 (each skipping the positions "
            "that have no such word: -100), their MEAN, backward, step, return loss.item()")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses of two train_step calls", atol=1e-5,
                 hint=hint)
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert_close(got, want, f"parameter {name} after two train_step calls", atol=1e-5, hint=hint)


EPOCHS, LR = 10, 0.01


def _random_words(n, seed, split):
    """i.i.d. random words (5 kinds) as (chars, ids, lengths): nothing about a word can be told from its neighbours."""
    words = ("cat", "dog", "sun", "tea", "map")
    vocab = Vocab(words)
    ids, _, lengths = next_token_task(n, vocab_size=10, length=(4, 8), seed=seed, split=split)
    sentences = [[vocab.itos[i] for i in row[:L].tolist()] for row, L in zip(ids, lengths)]
    chars, _, _ = char_ids(sentences, max_word_len=8)
    return chars, ids, lengths


@accuracy
@task("train_step")
def test_leak_test_on_random_words_stays_at_chance(topic, seed, device):
    chars, ids, lengths = _random_words(640, seed, "train")
    test_chars, test_ids, test_lengths = _random_words(500, seed, "test")
    torch.manual_seed(seed)
    model = topic.BiLM(topic.ELMoConfig(vocab_size=10, embed_dim=32, max_word_len=8)).to(device)
    losses = topic.train(model, chars.to(device), ids.to(device), lengths.to(device), epochs=EPOCHS, lr=LR,
                         batch_size=64, seed=seed)
    assert len(losses) == EPOCHS, f"train(..., epochs={EPOCHS}) should return {EPOCHS} losses, got {len(losses)}"
    assert_at_least(losses[-1], 1.5, "leak test: the training loss of the last epoch on random words (nats)",
                    hint="on independent words no causal LM can do better than log 5 = 1.61 nats (the solution: "
                         "1.61-1.62 on 10 seeds); a loss below it means an LM is trained to predict a word it has "
                         "already read: the forward LM's targets are ids[t+1] and the backward LM's ids[t-1]")
    model.eval()
    with torch.no_grad():
        forward_logits, backward_logits = model.lm_logits(model(test_chars.to(device), test_lengths))
    scores = {}
    for name, logits, y in (("forward", forward_logits, next_token_targets(test_ids, test_lengths)),
                            ("backward", backward_logits, _previous_targets(test_ids, test_lengths))):
        scored = y != IGNORE_INDEX
        scores[name] = (logits.argmax(-1).cpu() == y)[scored].float().mean().item()
    hint = ("the words are drawn independently, so a biLM whose directions read only their own side stays at "
            "chance (the solution: 0.17-0.23); one that reaches far above has seen the word it predicts: ")
    assert_at_most(scores["forward"], 0.35, "leak test: the forward LM's next-word accuracy on random words",
                   hint=hint + "the forward logits must come from the forward half, targets ids[t+1], and the forward "
                               "LSTM may not read later words")
    assert_at_most(scores["backward"], 0.35, "leak test: the backward LM's previous-word accuracy on random words",
                   hint=hint + "the backward LM predicts ids[t-1] (not ids[t+1]) from the backward half, reversed back "
                               "into time order")


@shapes
@task("train_step")
def test_main_trains_and_probes_senses(topic, tmp_path, capsys):
    small = ["--train-size", "60", "--test-size", "60", "--embed-dim", "8", "--epochs", "1", "--device", "cpu"]
    assert topic.main(small) == 0, "main() on the generated corpus should return 0"
    out = capsys.readouterr().out
    assert "LM accuracy" in out and "sense" in out, (
        f"main() should print the LMs' accuracy and the sense probe, printed:\n{out[-600:]}")
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(["The cat eats the fish.", "A dog runs in the park!", "the bird sings"] * 5)
                           + "\n", encoding="utf-8")
    assert topic.main(["--corpus", str(corpus_file), *small]) == 0, "main(['--corpus', FILE, ...]) should return 0"
    assert "LM accuracy" in capsys.readouterr().out
    assert topic.main(["--corpus", str(tmp_path / "missing.txt"), *small]) == 1, (
        "main(['--corpus', a missing file]) should print an error and return 1")
    assert "error:" in capsys.readouterr().err


# ------------------------------------------------------------------ ScalarMix
@shapes
@task("ScalarMix")
def test_scalar_mix_parameters_and_shapes(topic):
    mix = topic.ScalarMix(3)
    names = dict(mix.named_parameters())
    assert set(names) == {"scalar_parameters", "gamma"}, (
        f"ScalarMix(3) should have the parameters scalar_parameters and gamma, got {sorted(names)}")
    assert_equal(mix.scalar_parameters, torch.zeros(3), "ScalarMix(3).scalar_parameters",
                 hint="one weight per layer, zeros: softmax gives every layer 1/num_layers at the start")
    assert_equal(mix.gamma, torch.tensor(1.0), "ScalarMix(3).gamma",
                 hint="gamma is a scalar nn.Parameter (shape ()), 1.0 at the start")
    layers = [torch.zeros(2, 4, 6, device="meta") for _ in range(3)]
    check_on_meta("ScalarMix(3).to('meta')(three layers (2, 4, 6))", topic.ScalarMix(3).to("meta"), layers,
                  shape=(2, 4, 6), hint="sum the weighted layers without making a CPU tensor (torch.zeros(shape) "
                                        "lands on the CPU): start from the first term, or sum() from 0")
    out = topic.ScalarMix(2).double()(tuple(torch.ones(3, 5, dtype=torch.float64) for _ in range(2)))
    check_tensor(out, "ScalarMix(2).double() on a tuple of two float64 (3, 5) layers", shape=(3, 5),
                 dtype=torch.float64)


@gradients
@task("ScalarMix")
def test_scalar_mix_equals_gamma_softmax_sum_and_trains(topic):
    g = torch.Generator().manual_seed(8)
    mix = topic.ScalarMix(4).double()
    with torch.no_grad():
        mix.scalar_parameters.copy_(torch.tensor([2.0, -1.0, 0.5, 0.0]))
        mix.gamma.fill_(1.7)
    layers = [torch.randn(2, 3, 5, generator=g, dtype=torch.float64) for _ in range(4)]
    before = clones(**{f"layer{j}": h for j, h in enumerate(layers)})
    got = mix(layers)
    check_unchanged("ScalarMix(4)(layers)", before, **{f"layer{j}": h for j, h in enumerate(layers)})
    s, gamma = mix.scalar_parameters, mix.gamma
    expected = gamma * sum(w * h for w, h in zip(torch.softmax(s, 0), layers))
    assert_close(got, expected, "ScalarMix(4)(layers) with s = [2, -1, 0.5, 0] and gamma = 1.7", atol=1e-12,
                 hint="gamma * sum_j softmax(s)_j * layers[j]: the weights are the softmax of scalar_parameters "
                      "(positive, summing to 1), and gamma scales the whole sum")
    assert_close(mix(tuple(layers)), expected, "ScalarMix(4) on a tuple of layers", atol=1e-12)
    w = torch.randn(got.shape, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad((got * w).sum(), [s, gamma])
    theirs = torch.autograd.grad((expected * w).sum(), [s, gamma])
    for name, a, b in zip(("scalar_parameters", "gamma"), ours, theirs):
        check_tensor(a, f"the gradient of ScalarMix's {name}", hint="use the nn.Parameters themselves in forward")
        assert_close(a, b, f"the gradient of ScalarMix's {name}", atol=1e-12,
                     hint="the task trains s and gamma: they must stay in the graph (no .detach(), .item(), .data)")


def _probe(X, y, X_test, y_test):
    """A logistic-regression probe (standardised features, 100 full-batch Adam steps): test accuracy."""
    mean, std = X.mean(0), X.std(0) + 1e-6
    X, X_test = (X - mean) / std, (X_test - mean) / std
    w = torch.zeros(X.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(X @ w + b, y) + 1e-3 * (w * w).sum()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return ((X_test @ w + b > 0).float() == y_test).float().mean().item()


@accuracy
@task("ScalarMix")
def test_contextual_vectors_tell_senses_apart_and_static_ones_cannot(topic, seed, device):
    vocab = Vocab(WORDS)  # every word of the grammar, fixed ids
    data = corpus(2000, seed=seed), corpus(2000, seed=seed, split="test")
    torch.manual_seed(seed)
    model = topic.BiLM(topic.ELMoConfig(vocab_size=len(vocab))).to(device)
    chars, _, lengths = char_ids(data[0].sentences, max_word_len=16)
    ids, _, _ = vocab.encode_batch(data[0].sentences)
    topic.train(model, chars.to(device), ids.to(device), lengths.to(device), epochs=2, lr=0.01, batch_size=64,
                seed=seed)
    model.eval()
    mix = topic.ScalarMix(3).to(device)
    found = []  # per split: {word: (contextual (N, 64), static (N, 64), labels (N,))}
    for split, text in enumerate(data):
        chars, _, lengths = char_ids(text.sentences, max_word_len=16)
        with torch.no_grad():
            layers = model(chars.to(device), lengths)
            mixed = mix(layers).cpu()  # (N, T, 64)
            if split == 1:
                forward_logits = model.lm_logits(layers)[0].cpu()
                ids, _, _ = vocab.encode_batch(text.sentences)
                y = next_token_targets(ids, lengths)
                scored = y != IGNORE_INDEX
                lm = F.cross_entropy(forward_logits[scored], y[scored]).item()
                frequency = y[scored].bincount(minlength=len(vocab)).float() / scored.sum()  # (V,)
                unigram = -(frequency[frequency > 0] * frequency[frequency > 0].log()).sum().item()
        static = layers[0].cpu()  # the token layer: one vector per word, whatever the context
        found.append({})
        for word, senses in SENSES.items():
            where = [(s.sentence, s.position) for s in text.senses if s.word == word]
            rows, cols = torch.tensor(where).T
            labels = torch.tensor([float(s.sense == senses[1]) for s in text.senses if s.word == word])
            found[-1][word] = mixed[rows, cols], static[rows, cols], labels
    scores = {"contextual": 0.0, "static": 0.0, "constant": 0.0}
    total = sum(len(found[1][word][2]) for word in SENSES)
    for word in SENSES:
        (X, X_static, y), (X_test, X_static_test, y_test) = found[0][word], found[1][word]
        share = len(y_test) / total
        scores["contextual"] += _probe(X, y, X_test, y_test) * share
        scores["static"] += _probe(X_static, y, X_static_test, y_test) * share
        # One vector for every occurrence allows one answer per word: at best the more frequent sense.
        scores["constant"] += max(y_test.mean().item(), 1 - y_test.mean().item()) * share
    contextual, static = scores["contextual"], scores["static"]
    assert_at_most(lm, unigram - 0.5, "the trained forward LM's cross-entropy on the test sentences (nats)",
                   hint=f"the next word's own distribution has entropy {unigram:.2f} nats, so a model that ignores "
                        "the words before scores about that; the solution's LM reaches 2.1-2.7 after 64 steps: check "
                        "train_step's targets and that train() updates the model")
    assert_at_least(contextual, 0.65, "sense of bat, crane, kiwi, port from the mixed ELMo vectors (linear probe)",
                    chance=0.5, hint="the solution's contextual vectors reach 0.73-0.92 with ScalarMix's initial "
                                     "weights; the vectors at a word must carry its context: check ScalarMix's "
                                     "weights and that every layer is mixed")
    assert_at_most(static - scores["constant"], 0.0, "sense from the static token vector (linear probe), above the "
                   "more frequent sense of each word",
                   hint="the token layer gives every occurrence of a word the same vector, so it can only answer the "
                        "more frequent sense; a static vector that does better depends on the context")

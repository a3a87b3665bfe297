"""Hidden suite for 08 Word2Vec & GloVe: examples from a corpus, sampling, the SGNS and GloVe losses, neighbours."""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from grader.checks import assert_at_least, assert_close, assert_equal, calling, check_on_meta, check_tensor
from kata.corpus import corpus
from kata.text import NUM_SPECIAL, PAD_ID, Vocab, load_embeddings

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task


def _pairs(sentences, window):
    """Every (centre, context) pair at distance 1..window inside each sentence, by brute force."""
    return sorted((s[i], s[j]) for s in sentences for i in range(len(s)) for j in range(len(s))
                  if 0 < abs(i - j) <= window)


def _rows(t):
    return sorted(tuple(row) for row in t.tolist())


def _cooccurrence(sentences, vocab_size, window):
    """X[a, b] = sum over ordered position pairs (i, j), 0 < |i - j| <= window, of 1 / |i - j|, in float64."""
    X = torch.zeros(vocab_size, vocab_size, dtype=torch.float64)
    for s in sentences:
        for i in range(len(s)):
            for j in range(len(s)):
                if 0 < abs(i - j) <= window:
                    X[s[i], s[j]] += 1 / abs(i - j)
    return X


def _sgns(v, u_pos, u_neg):
    """The skip-gram negative-sampling loss written out: -log σ(u·v) - Σ_k log σ(-u_k·v), mean over the batch."""
    pos = (u_pos * v).sum(-1)  # (B,)
    neg = (u_neg * v[:, None, :]).sum(-1)  # (B, K)
    return (-torch.log(torch.sigmoid(pos)) - torch.log(torch.sigmoid(-neg)).sum(-1)).mean()


def _randomise(model, g, scale=0.3):
    """Give every parameter random values (the zero output vectors would hide a swapped table)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


# Sentences with ids >= 5, a repeated word (7 next to itself, and at distance 2), a one-word
# sentence, and sentences shorter than the window.
SENTENCES = [[5, 6, 7, 8, 9], [7, 7, 10], [11], [12, 5, 7, 12, 6, 13, 5], [8, 9]]


# ------------------------------------------------------------------ skipgram_pairs
@shapes
@task("skipgram_pairs")
def test_skipgram_pair_count_for_a_window(topic):
    pairs = topic.skipgram_pairs([[5, 6, 7, 8, 9]], window=2)
    check_tensor(pairs, "skipgram_pairs([[5, 6, 7, 8, 9]], window=2)", shape=(14, 2), dtype=torch.int64,
                 hint="5 words and window 2: the ends have 2 and 3 context words, the middle 4: 2 + 3 + 4 + 3 + 2 = "
                      "14 pairs (centre, context), as a (P, 2) int64 tensor")
    for n, window in ((7, 1), (7, 3), (3, 5), (2, 1)):
        expected = sum(min(i, window) + min(n - 1 - i, window) for i in range(n))
        got = topic.skipgram_pairs([list(range(5, 5 + n))], window=window)
        check_tensor(got, f"skipgram_pairs(one sentence of {n} words, window={window})", shape=(expected, 2),
                     hint="each word pairs with the words up to `window` positions left and right of it, cut at the "
                          "sentence's ends, never with itself")
    for sentences, what in (([[5], [6]], "two one-word sentences"), ([], "no sentence at all")):
        none = topic.skipgram_pairs(sentences, window=2)
        check_tensor(none, f"skipgram_pairs({sentences}, window=2): {what}", shape=(0, 2), dtype=torch.int64,
                     hint="no pairs still has two columns: torch.tensor([]) has shape (0,), so reshape(-1, 2)")


@gradients
@task("skipgram_pairs")
def test_skipgram_pairs_are_the_words_within_the_window(topic):
    for window in (1, 2, 3):
        got = topic.skipgram_pairs(SENTENCES, window=window)
        got = _rows(check_tensor(got, f"skipgram_pairs(SENTENCES, window={window})", dtype=torch.int64))
        expected = _pairs(SENTENCES, window)
        assert got == expected, (
            f"skipgram_pairs(SENTENCES = {SENTENCES}, window={window}): the (centre, context) pairs differ "
            f"(compared in any order). Missing: {sorted(set(expected) - set(got))[:6]}, unexpected: "
            f"{sorted(set(got) - set(expected))[:6]}, {len(got)} pairs instead of {len(expected)}. Likely cause: a "
            "window off by one, pairs across two sentences, or a word skipped when its context is the same word "
            "(7 next to 7 is a pair)")
    as_tuples = topic.skipgram_pairs(tuple(tuple(s) for s in SENTENCES), window=2)
    assert _rows(as_tuples) == _pairs(SENTENCES, 2), (
        "skipgram_pairs with the sentences as a tuple of tuples should give the same pairs as with lists")


@gradients
@task("skipgram_pairs")
def test_skipgram_pairs_come_centre_by_centre_left_to_right(topic):
    for window in (1, 2):
        # The docstring's order: sentence by sentence, centre by centre, each centre's contexts left to right.
        expected = [[s[i], s[j]] for s in SENTENCES for i in range(len(s)) for j in range(len(s))
                    if 0 < abs(i - j) <= window]
        got = topic.skipgram_pairs(SENTENCES, window=window).tolist()
        assert sorted(got) == sorted(expected), (
            f"skipgram_pairs(SENTENCES, window={window}) returned other pairs than every (centre, context) within the "
            "window: test_skipgram_pairs_are_the_words_within_the_window says which; get the pairs right first")
        k = next((k for k, (a, b) in enumerate(zip(got, expected)) if a != b), None)
        assert k is None, (
            f"skipgram_pairs(SENTENCES = {SENTENCES}, window={window}) has the right pairs in another order: row {k} "
            f"is {got[k]}, expected {expected[k]} (rows {k}-{k + 3}: {got[k:k + 4]} instead of "
            f"{expected[k:k + 4]}). Likely cause: the pairs grouped by distance, or the contexts read right to left. "
            "The docstring promises sentence by sentence, centre by centre, and each centre's contexts left to right "
            "(j from i - window to i + window)")


# ------------------------------------------------------------------ cbow_examples
@shapes
@task("cbow_examples")
def test_cbow_examples_shapes(topic):
    words = sum(len(s) for s in SENTENCES if len(s) > 1)  # 21: the one-word sentence has no example
    for window in (2, 3):
        out = topic.cbow_examples(SENTENCES, window=window)
        assert isinstance(out, tuple) and len(out) == 3, "cbow_examples returns (contexts, mask, centres)"
        contexts, mask, centres = out
        name = f"cbow_examples(SENTENCES, window={window})"
        check_tensor(contexts, f"{name}: contexts", shape=(words, 2 * window), dtype=torch.int64,
                     hint="one row per word that has any context (a one-word sentence has none), 2 * window columns")
        check_tensor(mask, f"{name}: mask", shape=(words, 2 * window), dtype=torch.bool,
                     hint="mask has the contexts' shape, True at real context words")
        check_tensor(centres, f"{name}: centres", shape=(words,), dtype=torch.int64)
    for sentences in ([], [[5], [6]]):  # no word has a context: no example, and still the columns
        contexts, mask, centres = topic.cbow_examples(sentences, window=2)
        name = f"cbow_examples({sentences}, window=2)"
        hint = ("no example at all: contexts and mask are (0, 2 * window), centres (0,); torch.tensor([]) has shape "
                "(0,), so reshape(-1, 2 * window)")
        check_tensor(contexts, f"{name}: contexts", shape=(0, 4), dtype=torch.int64, hint=hint)
        check_tensor(mask, f"{name}: mask", shape=(0, 4), dtype=torch.bool, hint=hint)
        check_tensor(centres, f"{name}: centres", shape=(0,), dtype=torch.int64, hint=hint)


@gradients
@task("cbow_examples")
def test_cbow_examples_hold_each_words_context(topic):
    for window in (1, 3):
        contexts, mask, centres = topic.cbow_examples(tuple(tuple(s) for s in SENTENCES), window=window)
        expected_centres, expected = [], []
        for s in SENTENCES:
            for i in range(len(s)):
                context = sorted(s[j] for j in range(len(s)) if 0 < abs(i - j) <= window)
                if context:
                    expected_centres.append(s[i])
                    expected.append(context)
        name = f"cbow_examples(SENTENCES, window={window})"
        assert centres.tolist() == expected_centres, (
            f"{name}: centres should be {expected_centres} (every word with a context, in order), got "
            f"{centres.tolist()}")
        got = [sorted(row[m].tolist()) for row, m in zip(contexts, mask)]
        bad = [k for k, (a, b) in enumerate(zip(got, expected)) if a != b]
        assert not bad, (
            f"{name}: example {bad[0]} (centre {expected_centres[bad[0]]}) should have the context words "
            f"{expected[bad[0]]} where mask is True, got {got[bad[0]]}. Likely cause: the window off by one on one "
            "side, the centre itself in its context, or a mask that does not match the padding")
        assert (contexts[~mask] == PAD_ID).all(), (
            f"{name}: every position where mask is False should hold PAD_ID ({PAD_ID})")


# ------------------------------------------------------------------ keep_probability
@gradients
@task("keep_probability")
def test_keep_probability_is_the_papers_formula(topic):
    counts = torch.tensor([0, 0, 0, 0, 0, 500, 120, 30, 10, 1, 0, 339])  # total 1000
    frequency = counts.double() / counts.sum()
    for t in (None, 1e-2, 0.05):  # None: called without t, whose default is 1e-3
        expected = torch.sqrt((t or 1e-3) / frequency).clamp(max=1.0)  # unseen words: t / 0 = inf, capped at 1
        got = topic.keep_probability(counts) if t is None else topic.keep_probability(counts, t=t)
        call = "keep_probability(counts)" if t is None else f"keep_probability(counts, t={t})"
        check_tensor(got, call, shape=(12,), dtype=torch.float32, hint="integer counts give the default float dtype")
        assert_close(got, expected, f"{call} with counts {counts.tolist()}", atol=1e-6,
                     hint="keep a word with probability min(1, sqrt(t / f)), f = count / total count: the paper "
                          "discards with 1 - sqrt(t / f). word2vec.c's sqrt(t / f) + t / f is another formula; "
                          "a word never seen (count 0) gets 1")
    given = counts.double()
    got = topic.keep_probability(given, t=0.05)
    check_tensor(got, "keep_probability(float64 counts, t=0.05)", dtype=torch.float64,
                 hint="float64 counts give float64 probabilities: no .float()")
    assert_close(given, counts.double(), "the float64 counts after keep_probability(counts, t=0.05)", atol=0, rtol=0,
                 hint="keep_probability must leave the caller's counts as they were: counts.double() of float64 "
                      "counts is the same tensor, so an in-place division (counts /= counts.sum(), div_) rewrites "
                      "the vocabulary's counts. Divide out of place: frequency = counts / counts.sum()")


@shapes
@task("keep_probability")
def test_keep_probability_stays_on_the_counts_device(topic):
    counts = torch.tensor([0, 0, 0, 0, 0, 40, 9, 1], device="meta")
    check_on_meta("keep_probability(counts (8,), t=0.01)", topic.keep_probability, counts, t=1e-2, shape=(8,),
                  hint="a tensor made on the CPU (torch.tensor(...), torch.ones(n)) without device=")


# ------------------------------------------------------------------ subsample
@shapes
@task("subsample")
def test_subsample_keeps_order_and_sentences(topic):
    keep = torch.tensor([1.0] * 5 + [1.0, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 1.0, 1.0])  # (14,)
    g = torch.Generator().manual_seed(0)
    out = topic.subsample(SENTENCES, keep, generator=g)
    assert isinstance(out, list) and len(out) == len(SENTENCES), (
        f"subsample returns a list with one (possibly empty) list per sentence: {len(SENTENCES)} of them, got "
        f"{type(out).__name__} of length {len(out) if hasattr(out, '__len__') else '?'}")
    for before, after in zip(SENTENCES, out):
        assert isinstance(after, list) and all(isinstance(w, int) for w in after), (
            f"each sentence comes back as a list of Python ints, got {after!r}")
        kept = iter(before)
        assert all(any(w == x for x in kept) for w in after), (
            f"subsample({before}) returned {after}: the kept words should be a subsequence, in their order")
        assert all(keep[w] > 0 for w in after) and all(w in after for w in before if keep[w] == 1), (
            f"subsample({before}) returned {after}: words with keep 1 always stay, words with keep 0 never do. "
            "Likely cause: comparing the draw the wrong way (keep a word when U < keep[word])")
    assert topic.subsample(SENTENCES, torch.zeros(14), generator=g) == [[] for _ in SENTENCES], (
        "with keep = 0 everywhere every sentence comes back empty")


@gradients
@task("subsample")
def test_subsample_draws_once_per_occurrence_from_the_generator(topic):
    keep = torch.tensor([1.0] * 5 + [0.3, 1.0, 0.8])
    sentences = [[5, 6, 7] * 20 for _ in range(200)]  # 4000 occurrences of each word
    out = topic.subsample(sentences, keep, generator=torch.Generator().manual_seed(1))
    for word, p in ((5, 0.3), (7, 0.8)):
        per_sentence = torch.tensor([s.count(word) / 20 for s in out])
        fraction = per_sentence.mean().item()
        assert abs(fraction - p) < 0.03, (
            f"subsample kept {fraction:.3f} of the occurrences of a word with keep {p}; expected about {p} "
            "(4000 occurrences, so within 0.03)")
        assert per_sentence.std().item() > 0.02, (
            f"every occurrence gets its own draw: the fraction of word {word} kept per sentence should vary, but "
            f"it is {per_sentence[:5].tolist()}... Likely cause: one draw per word of the vocabulary, shared by "
            "all its occurrences")
    runs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        runs.append(topic.subsample(sentences[:20], keep, generator=torch.Generator().manual_seed(5)))
    assert runs[0] == runs[1], (
        "subsample(..., generator=g) changed with torch's global seed: draw from the generator you are given "
        "(torch.rand(n, generator=generator))")
    other = topic.subsample(sentences[:20], keep, generator=torch.Generator().manual_seed(6))
    assert other != runs[0], "two generators with different seeds gave the same subsample: is the generator used?"


@gradients
@task("subsample")
def test_subsample_without_a_generator_draws_from_torchs_global_one(topic):
    keep = torch.tensor([1.0] * 5 + [0.5, 0.5, 0.5], dtype=torch.float64)
    sentences = [[5, 6, 7] * 10 for _ in range(10)]  # 300 occurrences, each kept with probability 1/2
    runs = []
    for global_seed in (3, 3, 4):
        torch.manual_seed(global_seed)
        runs.append(topic.subsample(sentences, keep))
    assert runs[0] == runs[1], (
        "subsample(sentences, keep) without a generator gave two different results after the same "
        "torch.manual_seed(3): with generator=None, draw from torch's global generator")
    assert runs[0] != runs[2], (
        "subsample(sentences, keep) without a generator gave the same result after torch.manual_seed(3) and "
        "torch.manual_seed(4). Likely cause: a new torch.Generator() made when generator is None (its seed is "
        "always the same); the docstring asks for torch's global one: pass generator=None on to torch.rand")
    assert sentences == [[5, 6, 7] * 10 for _ in range(10)], (
        "subsample changed the sentences it was given: build new lists, leave the caller's as they are")
    assert_close(keep, torch.tensor([1.0] * 5 + [0.5, 0.5, 0.5]), "keep after subsample(sentences, keep)", atol=0,
                 hint="subsample must leave keep as it was: no in-place operation on it")
    for given in ([], [[], [5, 6], []]):  # nothing or little to draw for: as many sentences as were given
        got = topic.subsample(given, torch.ones(8), generator=torch.Generator().manual_seed(0))
        assert got == given, (
            f"subsample({given}, keep = 1 for every word) should return {given}, got {got!r}: as many sentences as it "
            "was given, empty ones included")


# ------------------------------------------------------------------ noise_distribution
@gradients
@task("noise_distribution")
def test_noise_distribution_is_the_unigram_to_the_three_quarters(topic):
    counts = torch.tensor([0, 0, 0, 0, 0, 1000, 100, 10, 1, 0, 256])
    for power in (0.75, 1.0, 0.5, 0.0):
        weights = torch.where(counts > 0, counts.double() ** power, torch.zeros(11, dtype=torch.float64))
        got = topic.noise_distribution(counts, power=power) if power != 0.75 else topic.noise_distribution(counts)
        check_tensor(got, f"noise_distribution(counts, power={power})", shape=(11,), dtype=torch.float32)
        assert_close(got, weights / weights.sum(), f"noise_distribution(counts {counts.tolist()}, power={power})",
                     atol=1e-6, hint="P(w) = count(w) ** power / Σ count ** power; words never seen stay at 0 for "
                                     "every power (0 ** 0 is 1 in torch: mask them), and the probabilities sum to 1")


@shapes
@task("noise_distribution")
def test_noise_distribution_follows_the_dtype(topic):
    counts = torch.tensor([0.0, 0, 0, 0, 0, 7, 3, 1], dtype=torch.float64)
    check_tensor(topic.noise_distribution(counts), "noise_distribution(float64 counts)", shape=(8,),
                 dtype=torch.float64, hint="float64 counts give float64 probabilities: no .float()")
    assert_close(counts, torch.tensor([0.0, 0, 0, 0, 0, 7, 3, 1]), "the float64 counts after "
                 "noise_distribution(counts)", atol=0, rtol=0,
                 hint="noise_distribution must leave the caller's counts as they were: an in-place power or division "
                      "(counts.pow_, **=, /=) on float counts rewrites them. Make new tensors: counts ** power, "
                      "weights / weights.sum()")


# ------------------------------------------------------------------ sample_negatives
@shapes
@task("sample_negatives")
def test_sample_negatives_has_the_asked_shape(topic):
    noise = torch.tensor([0.0, 0, 0, 0, 0, 0.5, 0.25, 0.25])
    g = torch.Generator().manual_seed(0)
    for shape in ((6, 4), (7,), (2, 3, 5), (1, 1), ()):  # (): one id, a 0-d tensor
        got = topic.sample_negatives(noise, shape, generator=g)
        check_tensor(got, f"sample_negatives(noise, {shape})", shape=shape, dtype=torch.int64,
                     hint="draw prod(shape) ids (math.prod(()) is 1) and reshape them to `shape` itself: "
                          "reshape(shape), not reshape(*shape), which is reshape() for shape ()")
        assert ((got >= 5) & (got < 8)).all(), f"sample_negatives drew ids {got.unique().tolist()} of probability 0"


@gradients
@task("sample_negatives")
def test_sample_negatives_draws_from_the_noise_with_replacement(topic):
    noise = torch.tensor([0.0, 0, 0, 0, 0, 0.7, 0.2, 0.1], dtype=torch.float64)
    got = topic.sample_negatives(noise, (20000, 3), generator=torch.Generator().manual_seed(2))
    frequency = torch.bincount(got.flatten(), minlength=8).double() / got.numel()
    assert_close(frequency, noise, "the frequency of each id in sample_negatives(noise (0.7, 0.2, 0.1), (20000, 3))",
                 atol=0.01, hint="draw from `noise` itself, independently and with replacement (a row of 3 may hold "
                                 "a word three times): a table where each word w takes round(noise[w] * "
                                 "UNIGRAM_TABLE_SIZE) slots, and slots drawn uniformly by torch.randint")
    runs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        runs.append(topic.sample_negatives(noise, (50, 5), generator=torch.Generator().manual_seed(3)))
    assert_equal(runs[1], runs[0], "sample_negatives(..., generator=g) after another global seed",
                 hint="it changed with torch's global seed: pass generator=generator to the draw")
    other = topic.sample_negatives(noise, (50, 5), generator=torch.Generator().manual_seed(4))
    same = torch.equal(other, runs[0])  # a bool: no raw tensors in the message
    assert not same, "two generators with different seeds gave the same negatives"


@gradients
@task("sample_negatives")
def test_sample_negatives_without_a_generator_draws_from_torchs_global_one(topic):
    noise = torch.tensor([0.0, 0, 0, 0, 0, 0.4, 0.3, 0.3], dtype=torch.float64)
    runs = []
    for global_seed in (3, 3, 4):
        torch.manual_seed(global_seed)
        runs.append(topic.sample_negatives(noise, (40, 5)))
    assert_equal(runs[1], runs[0], "sample_negatives(noise, shape) without a generator, after the same "
                 "torch.manual_seed(3)", hint="with generator=None, draw from torch's global generator")
    same = torch.equal(runs[0], runs[2])  # a bool: no raw tensors in the message
    assert not same, (
        "sample_negatives(noise, shape) without a generator gave the same ids after torch.manual_seed(3) and "
        "torch.manual_seed(4). Likely cause: a new torch.Generator() made when generator is None (its seed is always "
        "the same); the docstring asks for torch's global one: pass generator=None on to torch.multinomial")
    assert_close(noise, torch.tensor([0.0, 0, 0, 0, 0, 0.4, 0.3, 0.3], dtype=torch.float64),
                 "noise after sample_negatives(noise, ...)", atol=0, rtol=0,
                 hint="sample_negatives must leave noise as it was: no in-place normalisation")


@gradients
@task("sample_negatives")
def test_sample_negatives_draws_rare_words_at_their_rate(topic):
    # Two words of probability 3e-5 among a million draws: about 30 each. word2vec.c's table of
    # UNIGRAM_TABLE_SIZE (10^6) slots gives each 30 slots; a table of a few slots per word, none.
    noise = torch.tensor([0.0] * 5 + [1 - 6e-5, 3e-5, 3e-5], dtype=torch.float64)
    got = topic.sample_negatives(noise, (1_000_000,), generator=torch.Generator().manual_seed(7))
    drawn = torch.bincount(got.flatten(), minlength=8)[6:].tolist()
    assert all(10 <= n <= 60 for n in drawn), (
        f"sample_negatives(noise, (1000000,)) drew the two words of probability 3e-5 {drawn[0]} and {drawn[1]} times; "
        "expected about 30 each (10 to 60). Likely cause: a unigram table too small for rare words: each word w "
        "takes round(noise[w] * UNIGRAM_TABLE_SIZE) slots, and with a table of a few slots per word, a word of "
        "probability 3e-5 rounds to none")


# ------------------------------------------------------------------ sgns_loss
@shapes
@task("sgns_loss")
def test_sgns_loss_is_a_scalar(topic):
    for B, K, D in ((4, 5, 3), (1, 1, 2), (3, 1, 4)):
        loss = topic.sgns_loss(torch.randn(B, D), torch.randn(B, D), torch.randn(B, K, D))
        check_tensor(loss, f"sgns_loss(v ({B}, {D}), u_pos ({B}, {D}), u_neg ({B}, {K}, {D}))", shape=(),
                     hint="the mean over the batch of one loss per example; mind squeeze() when B or K is 1")


@gradients
@task("sgns_loss")
def test_sgns_loss_equals_the_formula_and_its_gradient(topic):
    g = torch.Generator().manual_seed(0)
    for B, K, D in ((6, 4, 5), (3, 1, 4), (1, 3, 2)):
        v = torch.randn(B, D, generator=g, dtype=torch.float64)
        u_pos = torch.randn(B, D, generator=g, dtype=torch.float64)
        u_neg = torch.randn(B, K, D, generator=g, dtype=torch.float64)
        leaves = [t.clone().requires_grad_() for t in (v, u_pos, u_neg)]
        got = topic.sgns_loss(*leaves)
        expected = _sgns(v, u_pos, u_neg)
        hint = ("loss = mean over the batch of -log σ(u_pos·v) - Σ_k log σ(-u_neg[k]·v): the negatives' scores "
                "are negated, summed over k (not averaged), and the batch is averaged (not summed)")
        assert_close(got, expected, f"sgns_loss for B={B}, K={K}, D={D} (float64)", atol=1e-10, hint=hint)
        grads = torch.autograd.grad(got, leaves)
        ref = [t.clone().requires_grad_() for t in (v, u_pos, u_neg)]
        want = torch.autograd.grad(_sgns(*ref), ref)
        for name, a, b in zip(("v", "u_pos", "u_neg"), grads, want):
            assert_close(a, b, f"d sgns_loss / d {name} (B={B}, K={K})", atol=1e-10,
                         hint="build the loss from differentiable torch operations (no .item(), no detach)")


@gradients
@task("sgns_loss")
def test_sgns_loss_is_finite_for_large_scores(topic):
    # Scores ±200: σ(-200) is 0 in float32, so log(σ(-200)) is -inf; log σ(s) = -softplus(-s) is exact.
    v = torch.tensor([[10.0, 10.0], [10.0, 10.0]])
    u_pos = torch.tensor([[10.0, 10.0], [-10.0, -10.0]], requires_grad=True)  # scores 200 (right), -200 (wrong)
    u_neg = torch.tensor([[[-10.0, -10.0]], [[10.0, 10.0]]], requires_grad=True)  # scores -200 (right), 200 (wrong)
    loss = topic.sgns_loss(v, u_pos, u_neg)
    assert_close(loss, torch.tensor(200.0), "sgns_loss with scores ±200: one confident right example, one "
                 "confident wrong one", atol=1e-3,
                 hint="(0 + 0 + 200 + 200) / 2 = 200; log(sigmoid(s)) is log(0) = -inf for s = -200: "
                      "use F.logsigmoid (log σ(s) = -softplus(-s))")
    grads = torch.autograd.grad(loss, (u_pos, u_neg))
    check_tensor(grads[0], "d sgns_loss / d u_pos at scores ±200", hint="an inf or NaN gradient comes from log(0)")
    assert_close(grads[0], torch.tensor([[0.0, 0.0], [-5.0, -5.0]]), "d sgns_loss / d u_pos at scores ±200",
                 atol=1e-4, hint="(σ(s) - 1) v / B: 0 for the right example, -v / 2 for the wrong one")


# ------------------------------------------------------------------ sgns_gradients
@shapes
@task("sgns_gradients")
def test_sgns_gradients_shapes(topic):
    for B, K, D in ((4, 5, 3), (1, 1, 2)):
        out = topic.sgns_gradients(torch.randn(B, D), torch.randn(B, D), torch.randn(B, K, D))
        assert isinstance(out, tuple) and len(out) == 3, "sgns_gradients returns (dv, du_pos, du_neg)"
        for name, got, shape in zip(("dv", "du_pos", "du_neg"), out, ((B, D), (B, D), (B, K, D))):
            check_tensor(got, f"sgns_gradients(B={B}, K={K}, D={D}): {name}", shape=shape,
                         hint="each gradient has the shape of its input")


@gradients
@task("sgns_gradients")
def test_sgns_gradients_equal_autograd(topic):
    g = torch.Generator().manual_seed(1)
    for B, K, D, scale in ((5, 4, 3, 1.0), (3, 1, 2, 1.0), (1, 2, 3, 1.0), (4, 3, 2, 6.0)):
        v = torch.randn(B, D, generator=g, dtype=torch.float64) * scale
        u_pos = torch.randn(B, D, generator=g, dtype=torch.float64) * scale
        u_neg = torch.randn(B, K, D, generator=g, dtype=torch.float64) * scale
        ref = [t.clone().requires_grad_() for t in (v, u_pos, u_neg)]
        want = torch.autograd.grad(_sgns(*ref), ref)
        got = topic.sgns_gradients(v, u_pos, u_neg)
        for name, before, after in zip(("v", "u_pos", "u_neg"), ref, (v, u_pos, u_neg)):
            assert_close(after, before, f"{name} after sgns_gradients(v, u_pos, u_neg)", atol=0, rtol=0,
                         hint="sgns_gradients must leave its inputs as they were: no in-place operation (mul_, *=) "
                              "on v, u_pos or u_neg")
        for name, a, b in zip(("dv", "du_pos", "du_neg"), got, want):
            assert_close(a, b, f"sgns_gradients: {name} for B={B}, K={K}, D={D}, scores up to ~{scale**2 * D:g} "
                         "(float64), against autograd", atol=1e-10,
                         hint="with s = u_pos·v and n_k = u_neg[k]·v: d loss/ds = (σ(s) - 1) / B and d loss/dn_k = "
                              "σ(n_k) / B (the mean over B brings the 1/B); dv = (σ(s) - 1) u_pos / B + Σ_k σ(n_k) "
                              "u_neg[k] / B, du_pos = (σ(s) - 1) v / B, du_neg[k] = σ(n_k) v / B")


# ------------------------------------------------------------------ SkipGram
@shapes
@task("SkipGram")
def test_skipgram_tables_and_initialisation(topic):
    torch.manual_seed(0)
    for V, D in ((3000, 8), (500, 40)):
        model = topic.SkipGram(V, D)
        for name in ("in_embed", "out_embed"):
            table = getattr(model, name, None)
            assert isinstance(table, torch.nn.Embedding), f"SkipGram.{name} should be an nn.Embedding, got {table!r}"
            check_tensor(table.weight, f"SkipGram({V}, {D}).{name}.weight", shape=(V, D))
            assert table.sparse, (
                f"SkipGram({V}, {D}).{name} should be nn.Embedding(vocab_size, embed_dim, sparse=True): its gradient "
                "then holds the rows a batch looked up, and train_word2vec's AdaGrad changes those rows only. With a "
                "dense gradient every step walks over all V rows of both tables")
        assert len(list(model.parameters())) == 2, "SkipGram's parameters are the two tables, nothing else"
        w, bound = model.in_embed.weight.detach(), 0.5 / D
        hint = (f"word2vec.c starts the input vectors uniform in [-0.5 / embed_dim, 0.5 / embed_dim] = ±{bound:g} "
                "(nn.init.uniform_); nn.Embedding's default is a standard normal")
        assert w.abs().max() <= bound and w.max() > 0.98 * bound and w.min() < -0.98 * bound, (
            f"SkipGram({V}, {D}).in_embed.weight ranges over [{w.min():.4g}, {w.max():.4g}], expected to fill "
            f"[-{bound:g}, {bound:g}].\nLikely cause: {hint}")
        assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < 0.03, (
            f"SkipGram({V}, {D}).in_embed.weight has standard deviation {w.std():.4g}; a uniform in ±{bound:g} has "
            f"{bound / math.sqrt(3):.4g}.\nLikely cause: {hint}")
        assert (model.out_embed.weight == 0).all(), (
            f"SkipGram({V}, {D}).out_embed.weight should start at zero (as word2vec.c's output vectors): every score "
            "u·v starts at 0")
    with torch.device("meta"):
        model = topic.SkipGram(20, 4)
    # Called outside torch.device("meta"), where a tensor made without device= lands on the CPU and shows.
    check_on_meta("SkipGram(20, 4)(centres (2,), contexts (2,), negatives (2, 3))", model,
                  torch.tensor([5, 6], device="meta"), torch.tensor([7, 8], device="meta"),
                  torch.tensor([[9, 10, 11]] * 2, device="meta"), shape=())


@gradients
@task("SkipGram")
def test_skipgram_scores_centres_against_output_vectors(topic):
    g = torch.Generator().manual_seed(2)
    model = _randomise(topic.SkipGram(12, 3).double(), g)
    centres, contexts = torch.tensor([5, 6, 7, 5]), torch.tensor([8, 5, 11, 9])
    negatives = torch.tensor([[9, 10], [6, 6], [5, 11], [7, 8]])
    W_in, W_out = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    expected = _sgns(W_in[centres], W_out[contexts], W_out[negatives])
    assert_close(model(centres, contexts, negatives), expected, "SkipGram.forward(centres, contexts, negatives)",
                 atol=1e-10, hint="v = in_embed(centres); the contexts AND the negatives are looked up in out_embed; "
                                  "return sgns_loss(v, u_pos, u_neg)")
    vectors = model.word_vectors()
    assert_close(vectors, W_in, "SkipGram.word_vectors()", atol=0,
                 hint="the word vectors are the input vectors, in_embed.weight")
    assert not vectors.requires_grad, "SkipGram.word_vectors() should be detached (.detach())"


@gradients
@task("SkipGram")
def test_skipgram_gradients_reach_the_rows_looked_up_only(topic):
    g = torch.Generator().manual_seed(5)
    model = _randomise(topic.SkipGram(40, 3).double(), g)
    centres, contexts = torch.tensor([5, 6, 7, 5]), torch.tensor([8, 5, 11, 9])
    negatives = torch.tensor([[9, 10], [6, 6], [30, 11], [7, 8]])
    W_in, W_out = (model.in_embed.weight.detach().clone().requires_grad_(),
                   model.out_embed.weight.detach().clone().requires_grad_())
    want = torch.autograd.grad(_sgns(W_in[centres], W_out[contexts], W_out[negatives]), (W_in, W_out))
    model(centres, contexts, negatives).backward()
    looked_up = (centres, torch.cat([contexts, negatives.flatten()]))
    for name, expected, ids in zip(("in_embed", "out_embed"), want, looked_up):
        table = getattr(model, name)
        grad = table.weight.grad
        assert grad is not None and grad.is_sparse, (
            f"after SkipGram's forward and backward, {name}.weight.grad should be a sparse tensor, got "
            f"{'None' if grad is None else f'a {grad.layout} one'}. Likely cause: nn.Embedding without sparse=True, or "
            f"rows read by indexing the weight ({name}.weight[ids]) instead of calling the table ({name}(ids))")
        rows = set(grad.coalesce().indices()[0].tolist())
        assert rows <= set(ids.tolist()), (
            f"{name}.weight.grad holds rows {sorted(rows - set(ids.tolist()))} that the batch never looked up")
        assert_close(grad.to_dense(), expected, f"{name}.weight.grad (dense) after SkipGram's forward and backward",
                     atol=1e-10, hint="the gradient of sgns_loss reaches each table through the rows looked up")


ROW_ADAGRAD = ("the given RowAdagrad needs the sparse gradients of nn.Embedding(..., sparse=True), looked up by "
               "calling the tables (in_embed(centres), out_embed(ids)), not by indexing their weights")


@gradients
@task("SkipGram")
def test_row_adagrad_moves_the_rows_looked_up(topic):
    # Two steps of the given RowAdagrad on SkipGram's sparse gradients, against its docstring's rule written out: for
    # each row r of the gradient's n entries g_1 .. g_n (as backward leaves them: one per lookup, or fewer where
    # autograd added two up), sum[r] += n * Σ_i mean(g_i²) and r -= lr * Σ_i g_i / (sqrt(sum[r]) + eps); the rows
    # not looked up stay. Words repeat within and across the contexts and the negatives.
    g = torch.Generator().manual_seed(6)
    model = _randomise(topic.SkipGram(12, 3).double(), g)
    optimizer = topic.RowAdagrad(model.parameters(), lr=0.3)
    sums = {"in_embed": torch.zeros(12, dtype=torch.float64), "out_embed": torch.zeros(12, dtype=torch.float64)}
    batches = [([5, 6, 5, 7], [8, 5, 9, 8], [[9, 8], [6, 6], [8, 10], [5, 8]]),  # centres, contexts, negatives
               ([6, 6, 11], [5, 7, 5], [[8, 11], [8, 5], [10, 10]])]
    for step, batch in enumerate(batches, 1):
        optimizer.zero_grad()
        with calling(ROW_ADAGRAD):
            model(*(torch.tensor(ids) for ids in batch)).backward()
        expected = {}
        for name in sums:
            weight = getattr(model, name).weight
            assert weight.grad is not None and weight.grad.is_sparse, f"SkipGram's {name}.weight.grad: {ROW_ADAGRAD}"
            rows, grads = weight.grad._indices()[0], weight.grad._values()  # (N,), (N, 3): uncoalesced
            n = torch.bincount(rows, minlength=12).double()  # (12,) entries of each row
            sums[name] += n * torch.zeros(12, dtype=torch.float64).index_add_(0, rows, grads.square().mean(1))
            total = torch.zeros(12, 3, dtype=torch.float64).index_add_(0, rows, grads)  # (12, 3) Σ_i g_i per row
            expected[name] = weight.detach() - 0.3 * total / (sums[name].sqrt() + 1e-10).unsqueeze(1)
        with calling(ROW_ADAGRAD):
            optimizer.step()
        for name, weight in expected.items():
            assert_close(getattr(model, name).weight, weight, f"SkipGram's {name}.weight after {step} step(s) of "
                         "RowAdagrad(lr=0.3)", atol=1e-10,
                         hint=f"{ROW_ADAGRAD}. Each row a batch looked up moves by -lr * (its summed gradient) / "
                              "(sqrt(its sum) + eps); the others stay")


# ------------------------------------------------------------------ CBOW
@shapes
@task("CBOW")
def test_cbow_is_skipgrams_tables_with_a_context_forward(topic):
    torch.manual_seed(0)
    model = topic.CBOW(400, 10)
    assert isinstance(model.in_embed, torch.nn.Embedding) and isinstance(model.out_embed, torch.nn.Embedding), (
        "CBOW has SkipGram's two tables, in_embed and out_embed")
    assert (model.out_embed.weight == 0).all() and model.in_embed.weight.abs().max() <= 0.05, (
        "CBOW starts like SkipGram: in_embed uniform in ±0.5 / embed_dim, out_embed at zero")
    contexts = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]])
    mask = torch.tensor([[True] * 4, [True, True, False, False], [True, False, False, False]])
    loss = model(contexts, mask, torch.tensor([12, 13, 14]), torch.tensor([[20, 21], [22, 23], [24, 25]]))
    check_tensor(loss, "CBOW(...)(contexts (3, 4), mask (3, 4), centres (3,), negatives (3, 2))", shape=(),
                 hint="the mean context vector h (B, D) goes through sgns_loss, a scalar")


@gradients
@task("CBOW")
def test_cbow_averages_the_real_context_words(topic):
    g = torch.Generator().manual_seed(3)
    model = _randomise(topic.CBOW(16, 3).double(), g)  # PAD_ID's vector is not zero: padding must not count
    contexts = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0], [12, 12, 13, 0]])
    mask = contexts != PAD_ID
    centres, negatives = torch.tensor([13, 14, 15, 5]), torch.tensor([[6, 7], [8, 8], [9, 10], [14, 15]])
    W_in, W_out = model.in_embed.weight.detach(), model.out_embed.weight.detach()
    h = torch.stack([W_in[row[m]].mean(0) for row, m in zip(contexts, mask)])  # (4, 3)
    assert_close(model(contexts, mask, centres, negatives), _sgns(h, W_out[centres], W_out[negatives]),
                 "CBOW.forward(contexts, mask, centres, negatives) with 4, 2, 1 and 3 real context words", atol=1e-10,
                 hint="h is the MEAN of the input vectors of the real context words (mask True): sum them with the "
                      "mask and divide by mask.sum(1), not by 2 * window, and do not sum without dividing; then "
                      "sgns_loss(h, out_embed(centres), out_embed(negatives))")


# ------------------------------------------------------------------ cooccurrence
SPARSE = ("collect (a, b, 1/d) in lists, then torch.sparse_coo_tensor(indices (2, P), values (P,), (V, V)) and return "
          "its .coalesce(): it adds up the weights of a repeated (a, b)")


def _sparse(X, name, V):
    """X, checked to be a coalesced sparse COO (V, V) float32 tensor."""
    assert isinstance(X, torch.Tensor) and X.layout == torch.sparse_coo, (
        f"{name} should be a sparse COO tensor, got "
        f"{f'a {X.layout} tensor' if isinstance(X, torch.Tensor) else type(X).__name__}. Likely cause: a dense "
        "torch.zeros(V, V), 10 GB at V = 50,000 where a corpus fills a few pairs per word: keep the pairs that "
        f"occur only: {SPARSE}")
    check_tensor(X, name, shape=(V, V), dtype=torch.float32, finite=False,
                 hint="one row and one column per id in the vocabulary, float32 weights")
    assert X.is_coalesced(), (
        f"{name} is not coalesced: each (a, b) should be stored once, its weights summed (X.indices() and "
        f"X.values() need it). Likely cause: return X.coalesce(), not X")
    return X


@shapes
@task("cooccurrence")
def test_cooccurrence_is_a_sparse_symmetric_matrix(topic):
    X = _sparse(topic.cooccurrence(SENTENCES, 16, window=2), "cooccurrence(SENTENCES, 16, window=2)", 16)
    dense = X.to_dense()
    assert_equal(dense.T, dense, "cooccurrence's X transposed, against X",
                 hint="X should be symmetric: each pair counts for X[a, b] and X[b, a]")
    pairs = {(a, b) for a, b in _pairs(SENTENCES, 2)}
    assert X.indices().shape == (2, len(pairs)), (
        f"cooccurrence(SENTENCES, 16, window=2) stores {X.indices().shape[1]} entries; the sentences hold "
        f"{len(pairs)} different (a, b) within the window: one entry for each, none for the pairs that never occur")
    for sentences in ([], [[5], []]):  # no pair at all: nothing stored
        X = _sparse(topic.cooccurrence(sentences, 8, window=2), f"cooccurrence({sentences}, 8, window=2)", 8)
        assert X.indices().shape == (2, 0) and X.values().shape == (0,), (
            f"cooccurrence({sentences}, 8, window=2) should store no entry: indices (2, 0) and values (0,), got "
            f"{tuple(X.indices().shape)} and {tuple(X.values().shape)}. Likely cause: "
            "torch.tensor([[], []], dtype=torch.int64) is the (2, 0) indices of no pair; reshape(2, -1)")


@gradients
@task("cooccurrence")
def test_cooccurrence_counts_a_worked_example(topic):
    # [5, 6, 5], window 2: positions 0-1 (5, 6) and 1-2 (6, 5) are 1 apart, each adds 1 both ways:
    # X[5, 6] = X[6, 5] = 2; positions 0-2 are 2 apart, (5, 5), adds 1/2 twice: X[5, 5] = 1.
    X = _sparse(topic.cooccurrence([[5, 6, 5]], 7, window=2), "cooccurrence([[5, 6, 5]], 7, window=2)", 7)
    assert X.indices().tolist() == [[5, 5, 6], [5, 6, 5]], (
        f"cooccurrence([[5, 6, 5]], 7, window=2) should store (5, 5), (5, 6) and (6, 5), in that order (coalesced: "
        f"row by row), got the (a, b) {list(zip(*X.indices().tolist()))}")
    assert_close(X.values(), torch.tensor([1.0, 2.0, 2.0]), "cooccurrence([[5, 6, 5]], 7, window=2).values() at "
                 "(5, 5), (5, 6), (6, 5)", atol=1e-6,
                 hint="5 and 6 are 1 apart twice, and each time add 1 to X[5, 6] and to X[6, 5]: 2 each; the two 5s "
                      "are 2 apart and add 1/2 to X[5, 5] from each side: 1. Summed over every occurrence: coalesce()")
    X = _sparse(topic.cooccurrence([[5, 6, 5]], 7, window=1), "cooccurrence([[5, 6, 5]], 7, window=1)", 7)
    assert X.indices().tolist() == [[5, 6], [6, 5]], (
        f"with window=1 the two 5s (2 apart) are not a pair: cooccurrence([[5, 6, 5]], 7, window=1) should store "
        f"(5, 6) and (6, 5) only, got {list(zip(*X.indices().tolist()))}")


@gradients
@task("cooccurrence")
def test_cooccurrence_weighs_pairs_by_one_over_distance(topic):
    for window in (1, 2, 4):
        got = topic.cooccurrence(tuple(tuple(s) for s in SENTENCES), 16, window=window)
        got = _sparse(got, f"cooccurrence(SENTENCES, 16, window={window})", 16)
        assert_close(got.to_dense(), _cooccurrence(SENTENCES, 16, window),
                     f"cooccurrence(SENTENCES, 16, window={window}).to_dense()", atol=1e-6,
                     hint="two words d <= window apart add 1/d to X[a, b] and to X[b, a], summed over every "
                          "occurrence; a word next to itself adds 2 to X[a, a]; no pairs across sentences")


class _DenseBudget(TorchDispatchMode):
    """Fails a torch op that makes a dense tensor of more than `limit` numbers: before it runs when the size is an
    argument (torch.zeros(V, V), torch.empty, torch.full, new_zeros) or a sparse input's (to_dense), after it runs
    otherwise. `largest`: the most numbers any dense tensor made inside held."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.largest = limit, 0

    def _check(self, numel, what):
        self.largest = max(self.largest, numel)
        if numel > self.limit:
            raise AssertionError(
                f"cooccurrence made {what} of {numel:,} numbers, over the budget of {self.limit:,} (a dense X of "
                f"this vocabulary would hold 2.5 billion, 10 GB).\nLikely cause: a dense (V, V) matrix, or the "
                f"sparse one turned dense (.to_dense()): {SPARSE}")

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        schema = func._schema
        makes = "sparse" not in schema.name and not any(r.alias_info for r in schema.returns)  # not a view
        if makes and kwargs.get("layout", torch.strided) == torch.strided:
            for argument, value in [*zip(schema.arguments, args), *((a, kwargs[a.name]) for a in schema.arguments
                                                                    if a.name in kwargs)]:
                if argument.name == "size" and isinstance(value, (list, tuple)) and len(value) > 0:
                    self._check(math.prod(int(n) for n in value), f"a dense tensor ({func.__name__})")
        if func in (torch.ops.aten._to_dense.default, torch.ops.aten.to_dense.default):
            self._check(args[0].numel(), "a dense copy of a sparse tensor")
        out = func(*args, **kwargs)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:
                self._check(t.numel(), f"a dense tensor ({func.__name__})")
        return out


@shapes
@task("cooccurrence")
def test_cooccurrence_of_a_50000_word_vocabulary_stays_small(topic):
    V = NUM_SPECIAL + 50_000
    g = torch.Generator().manual_seed(0)
    # 3000 sentences of 4-14 words over 50,000 words of Zipf frequencies (a few frequent words repeat, most are rare).
    zipf = 1 / torch.arange(1, 50_001, dtype=torch.float64)
    lengths = torch.randint(4, 15, (3000,), generator=g).tolist()
    ids = (torch.multinomial(zipf, sum(lengths), replacement=True, generator=g) + NUM_SPECIAL).tolist()
    sentences, start = [], 0
    for n in lengths:
        sentences.append(ids[start:start + n])
        start += n
    expected = {}
    for s in sentences:
        for i in range(len(s)):
            for d in (1, 2):
                if i + d < len(s):
                    for key in ((s[i], s[i + d]), (s[i + d], s[i])):
                        expected[key] = expected.get(key, 0.0) + 1 / d
    budget = _DenseBudget(limit=2**22)  # 4 million numbers, 16 MB of float32; the sentences hold 90,000 pairs
    with budget:
        X = topic.cooccurrence(sentences, V, window=2)
    X = _sparse(X, f"cooccurrence(3000 sentences, {V}, window=2)", V)
    keys = sorted(expected)
    assert X.indices().shape[1] == len(keys), (
        f"cooccurrence of 3000 sentences over a vocabulary of {V} stores {X.indices().shape[1]} entries; the "
        f"sentences hold {len(keys)} different (a, b) within the window")
    assert_equal(X.indices(), torch.tensor(keys, dtype=torch.int64).T,
                 "cooccurrence of 3000 sentences over 50,000 words, its stored (a, b)",
                 hint="the stored (a, b) are the pairs within the window, in row-major order (X.coalesce())")
    assert_close(X.values(), torch.tensor([expected[k] for k in keys]), "cooccurrence of 3000 sentences over "
                 "50,000 words, its values", atol=1e-4, hint="1/d for each pair d <= window apart, both ways, summed")
    stored = X.indices().nbytes + X.values().nbytes
    assert stored <= 20 * len(keys), (
        f"cooccurrence over 50,000 words holds {stored:,} bytes for {len(keys)} pairs: (2, P) int64 indices and (P,) "
        "float32 values take 20 bytes a pair")


# ------------------------------------------------------------------ glove_weight
@gradients
@task("glove_weight")
def test_glove_weight_values(topic):
    x = torch.tensor([0.0, 1.0, 50.0, 100.0, 1000.0])
    assert_close(topic.glove_weight(x), torch.tensor([0.0, 0.0316, 0.5946, 1.0, 1.0]),
                 "glove_weight(x) at x = 0, 1, 50, 100, 1000 (x_max = 100, alpha = 3/4)", atol=5e-5,
                 hint="f(x) = (x / x_max) ** alpha below x_max, and exactly 1 from x_max on (the cap: f(1000) = 1)")
    x = torch.tensor([0.5, 2.0, 8.0, 10.0, 30.0])
    expected = torch.where(x < 10, (x / 10) ** 0.5, torch.ones(5))
    assert_close(topic.glove_weight(x, x_max=10.0, alpha=0.5), expected, "glove_weight(x, x_max=10, alpha=0.5)",
                 atol=1e-6, hint="use the x_max and alpha you are given")
    assert_close(x, torch.tensor([0.5, 2.0, 8.0, 10.0, 30.0]), "x after glove_weight(x, x_max=10, alpha=0.5)", atol=0,
                 rtol=0, hint="glove_weight must leave x as it was: x / x_max, not x.div_(x_max) or x /= x_max")
    assert_close(topic.glove_weight(x, x_max=10.0, alpha=0.0), torch.ones(5), "glove_weight(x, x_max=10, alpha=0.0)",
                 atol=1e-6, hint="alpha = 0 is a value, not 'no alpha': (x / x_max) ** 0 = 1, every pair weighs the "
                                 "same. `alpha or 0.75` (or `if alpha:`) reads 0.0 as not given")


@shapes
@task("glove_weight")
def test_glove_weight_follows_dtype_and_device(topic):
    x = torch.tensor([[1.0, 200.0], [3.0, 0.0]], dtype=torch.float64)
    check_tensor(topic.glove_weight(x), "glove_weight(x (2, 2) float64)", shape=(2, 2), dtype=torch.float64,
                 hint="f(x) keeps x's shape and dtype")
    check_on_meta("glove_weight(x (3,))", topic.glove_weight, torch.ones(3, device="meta"), shape=(3,),
                  hint="the ones of the cap must be made on x's device (torch.ones_like(x)), or use a Python number")


# ------------------------------------------------------------------ GloVe
@shapes
@task("GloVe")
def test_glove_parameters_and_initialisation(topic):
    torch.manual_seed(0)
    V, D = 5000, 4
    model = topic.GloVe(V, D)
    shapes_ = {"w": (V, D), "w_tilde": (V, D), "b": (V,), "b_tilde": (V,)}
    for name, shape in shapes_.items():
        p = getattr(model, name, None)
        assert isinstance(p, torch.nn.Parameter), f"GloVe.{name} should be an nn.Parameter, got {type(p).__name__}"
        check_tensor(p, f"GloVe({V}, {D}).{name}", shape=shape)
    assert sum(p.numel() for p in model.parameters()) == 2 * V * D + 2 * V, (
        "GloVe's parameters are w, w_tilde, b and b_tilde, nothing else")
    bound = 0.5 / D
    for name in shapes_:
        p = getattr(model, name).detach()
        hint = (f"all four start uniform in [-0.5 / embed_dim, 0.5 / embed_dim] = ±{bound:g}, the biases too: "
                "torch.empty(...).uniform_(-bound, bound)")
        assert p.abs().max() <= bound and p.max() > 0.98 * bound and p.min() < -0.98 * bound, (
            f"GloVe({V}, {D}).{name} ranges over [{p.min():.4g}, {p.max():.4g}], expected to fill "
            f"[-{bound:g}, {bound:g}].\nLikely cause: {hint}")
        assert abs(p.std().item() / (bound / math.sqrt(3)) - 1) < 0.05, (
            f"GloVe({V}, {D}).{name} has standard deviation {p.std():.4g}; a uniform in ±{bound:g} has "
            f"{bound / math.sqrt(3):.4g}.\nLikely cause: {hint}")
    loss = topic.GloVe(10, 3)(torch.tensor([5, 6]), torch.tensor([7, 5]), torch.tensor([2.0, 0.5]))
    check_tensor(loss, "GloVe(10, 3)(i (2,), j (2,), x (2,))", shape=(), hint="the mean over the batch: a scalar")


@gradients
@task("GloVe")
def test_glove_loss_is_the_weighted_least_squares(topic):
    g = torch.Generator().manual_seed(4)
    for x_max, alpha in ((100.0, 0.75), (4.0, 0.5), (10.0, 0.0)):  # alpha 0: every pair weighs the same
        model = _randomise(topic.GloVe(10, 3, x_max=x_max, alpha=alpha).double(), g)
        i, j = torch.tensor([5, 6, 7, 5, 9]), torch.tensor([6, 5, 9, 5, 8])
        x = torch.tensor([1.0, 3.0, 0.5, 7.0, 150.0], dtype=torch.float64)
        w, w_t, b, b_t = (getattr(model, n).detach() for n in ("w", "w_tilde", "b", "b_tilde"))
        f = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
        expected = (f * ((w[i] * w_t[j]).sum(1) + b[i] + b_t[j] - torch.log(x)) ** 2).mean()
        assert_close(model(i, j, x), expected, f"GloVe(x_max={x_max}, alpha={alpha})(i, j, x)", atol=1e-10,
                     hint="mean over the batch of f(x) (w[i]·w_tilde[j] + b[i] + b_tilde[j] - log x)², with f = "
                          "glove_weight(x, x_max=self.x_max, alpha=self.alpha) and the natural log of x (not "
                          "log(1 + x))")
    vectors = model.word_vectors()
    assert_close(vectors, w + w_t, "GloVe.word_vectors()", atol=1e-12,
                 hint="the paper's word vectors are the sum W + W~ (section 4.2), not w alone")
    assert not vectors.requires_grad, "GloVe.word_vectors() should be detached (.detach())"


# ------------------------------------------------------------------ learning: neighbours by category
def _category_score(vectors, vocab, category):
    """The fraction of category words whose nearest other category word (cosine) shares their category."""
    words = sorted(category)
    unit = F.normalize(vectors.detach().cpu().double()[[vocab[w] for w in words]], dim=1)  # (W, D)
    similarity = unit @ unit.T - 3 * torch.eye(len(words), dtype=torch.float64)
    nearest = similarity.argmax(1).tolist()
    return sum(category[w] == category[words[n]] for w, n in zip(words, nearest)) / len(words)


def _encoded(n, seed):
    c = corpus(n, seed=seed)
    vocab = Vocab.build(c.sentences)
    return c, vocab, [vocab.encode(s) for s in c.sentences]


CHANCE = 0.13  # a random nearest word: (category size - 1) / 49 other category words, on average


def _train_word2vec(topic, model_class, seed, device):
    torch.manual_seed(seed)
    c, vocab, sentences = _encoded(2000, seed)
    model = getattr(topic, model_class)(len(vocab), 32).to(device)
    noise = topic.noise_distribution(vocab.counts)
    keep = topic.keep_probability(vocab.counts, t=1e-2)
    # train_word2vec's defaults (RowAdagrad, lr 0.2), the ones that train on the Lee corpus too, but batches of 1024:
    # 2000 subsampled sentences make about 17,000 pairs (7,200 CBOW examples) an epoch, 5 (2) steps of 4096.
    losses = topic.train_word2vec(model, sentences, noise, window=2, epochs=3, batch_size=1024, num_negatives=5,
                                  keep=keep, seed=seed)
    assert losses[-1] < losses[0], f"the loss should fall: first epoch {losses[0]:.4f}, last {losses[-1]:.4f}"
    return _category_score(model.word_vectors(), vocab, c.category)


@accuracy
@task("SkipGram")
def test_skipgram_puts_each_category_together(topic, seed, device):
    score = _train_word2vec(topic, "SkipGram", seed, device)
    assert_at_least(score, 0.9, "skip-gram: category words whose nearest category word shares their category",
                    chance=CHANCE,
                    hint="the solution reaches 1.0 on every seed tried (3 epochs on 2000 sentences). Check the "
                         "negatives' sign in sgns_loss, which table the contexts come from, and the examples")


@accuracy
@task("CBOW")
def test_cbow_puts_each_category_together(topic, seed, device):
    score = _train_word2vec(topic, "CBOW", seed, device)
    assert_at_least(score, 0.9, "CBOW: category words whose nearest category word shares their category",
                    chance=CHANCE,
                    hint="the solution reaches 0.98-1.0 (3 epochs on 2000 sentences). Check the masked mean of the "
                         "context vectors and cbow_examples")


@accuracy
@task("GloVe")
def test_glove_puts_each_category_together(topic, seed, device):
    torch.manual_seed(seed)
    c, vocab, sentences = _encoded(5000, seed)
    X = topic.cooccurrence(sentences, len(vocab), window=2)
    model = topic.GloVe(len(vocab), 32, x_max=10.0).to(device)
    losses = topic.train_glove(model, X.to(device), epochs=50, lr=0.5, seed=seed)
    assert losses[-1] < losses[0], f"the loss should fall: first step {losses[0]:.4f}, last {losses[-1]:.4f}"
    score = _category_score(model.word_vectors(), vocab, c.category)
    assert_at_least(score, 0.9, "GloVe: category words whose nearest category word shares their category",
                    chance=CHANCE,
                    hint="the solution reaches 0.98-1.0 (50 full-batch AdaGrad steps, x_max = 10, 5000 sentences). "
                         "Check the 1/distance counts, the weighting and the log of x")


# ------------------------------------------------------------------ the script on a learner's text
def _main_saves_vectors(topic, tmp_path, capsys, model, format):
    """main() on a small text file: it trains `model` and writes one vector per word in `format`."""
    sentences = corpus(300, seed=1).sentences
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    words = Vocab.build(sentences).itos[5:]
    out = tmp_path / f"{model}.txt"
    code = topic.main(["--corpus", str(text), "--model", model, "--epochs", "2", "--embed-dim", "6",
                       "--save", str(out), "--format", format, "--device", "cpu"])
    assert code == 0, f"main(['--corpus', FILE, '--model', {model!r}, ...]) should return 0, got {code!r}"
    first = out.read_text(encoding="utf-8").splitlines()[0]
    assert (first == f"{len(words)} 6") == (format == "word2vec"), (
        f"--format {format}: the first line of the saved file is {first[:40]!r}")
    saved, vectors = load_embeddings(out)
    assert saved == words and tuple(vectors.shape) == (len(words), 6), (
        f"main(--save) should write one vector of 6 values per word of the corpus ({len(words)} words), got "
        f"{len(saved)} words, shape {tuple(vectors.shape)}")
    assert vectors.abs().sum() > 0 and torch.isfinite(vectors).all(), "the saved vectors should be finite, not 0"
    printed = capsys.readouterr().out
    assert "loss" in printed, "main() should print its progress"
    assert re.search(r"\d\.\d+ s", printed), f"main() should print how long training takes, got:\n{printed[-400:]}"


@shapes
@task("SkipGram")
def test_main_trains_skipgram_on_a_text_file(topic, tmp_path, capsys):
    _main_saves_vectors(topic, tmp_path, capsys, "skipgram", "word2vec")
    assert topic.main(["--corpus", str(tmp_path / "missing.txt")]) == 1, "a missing --corpus file should return 1"
    assert "error:" in capsys.readouterr().err, "main() should print 'error: ...' for a missing --corpus file"


@shapes
@task("SkipGram")
def test_main_keeps_punctuation_unless_told_to_drop_it(topic, tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("The cat eats the fish.\nThe dog, the cat and the bird sleep!\n" * 10, encoding="utf-8")
    for flags, kept in (([], True), (["--drop-punctuation"], False)):
        out = tmp_path / "vectors.txt"
        code = topic.main(["--corpus", str(text), *flags, "--epochs", "1", "--embed-dim", "4", "--save", str(out),
                           "--device", "cpu"])
        assert code == 0, f"main(['--corpus', FILE, *{flags}, ...]) should return 0, got {code!r}"
        words, _ = load_embeddings(out)
        assert ({".", ",", "!"} <= set(words)) == kept and {"the", "cat", "sleep"} <= set(words), (
            f"main(['--corpus', FILE, *{flags}, '--save', ...]) saved the words {sorted(words)}: punctuation marks are "
            f"tokens of their own (kata.text.tokenize), {'kept' if kept else 'left out with --drop-punctuation'}")
    capsys.readouterr()


@shapes
@task("GloVe")
def test_main_trains_glove_on_a_text_file(topic, tmp_path, capsys):
    _main_saves_vectors(topic, tmp_path, capsys, "glove", "glove")

"""Word2Vec (skip-gram and CBOW with negative sampling) and GloVe: words as vectors learned from their contexts.

T. Mikolov, K. Chen, G. Corrado, J. Dean, "Efficient Estimation of Word Representations
in Vector Space", 2013 (arXiv:1301.3781), section 3: the two architectures, CBOW
(predict a word from the average of its context) and skip-gram (predict each context
word from the word). T. Mikolov, I. Sutskever, K. Chen, G. Corrado, J. Dean,
"Distributed Representations of Words and Phrases and their Compositionality", NIPS
2013 (arXiv:1310.4546), section 2.2: negative sampling, k noise words drawn from the
unigram distribution raised to the 3/4 power; section 2.3: subsampling of frequent
words, each occurrence of w discarded with probability 1 - sqrt(t / f(w)) (this file
uses the paper's formula; word2vec.c keeps a word with sqrt(t / f) + t / f instead).
J. Pennington, R. Socher, C. D. Manning, "GloVe: Global Vectors for Word
Representation", EMNLP 2014, sections 3 and 4.2: co-occurrence counts weighted by
1/distance, the weighting function f(x) = (x / x_max)^alpha capped at 1, the weighted
least-squares loss, and W + W~ as the word vectors.

Two departures from the C programs: the models train on mini-batches with AdaGrad (as
GloVe's paper; word2vec.c uses plain SGD) instead of one example at a time, word2vec on
sparse gradients with one AdaGrad sum per word (RowAdagrad), and the context window is
fixed (word2vec.c draws a smaller window for each word, which weights near words more;
GloVe's 1/distance does that).

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/08_word2vec_glove
and train on the generated corpus (or your own text, one sentence per line) with
    uv run python exercises/08_word2vec_glove/word2vec_glove.py [--model cbow|glove] [--corpus FILE]

A sentence is a list of word ids (kata.text.Vocab.encode). Shapes: V vocabulary size,
D embedding size (embed_dim), P examples (pairs) in a corpus, B in a batch, K negative
words per example.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device, rng
from kata.corpus import corpus
from kata.text import NUM_SPECIAL, PAD_ID, UNK_ID, Vocab, read_corpus, save_embeddings, tokenize
from kata.training import fit

Sentences = Sequence[Sequence[int]]  # sentences of word ids


def _check_window(window: int) -> None:
    if window < 1:
        raise ValueError(f"window must be >= 1 (how many words on each side count as context), got {window}")


# ---------------------------------------------------------------- examples from a corpus
def skipgram_pairs(sentences: Sentences, *, window: int) -> Tensor:
    """Every (centre, context) pair of ids: the context is within `window` positions of the
    centre, in the same sentence. Returns (P, 2) int64, sentence by sentence, centre by
    centre, contexts left to right; (0, 2) when there are none.

    A sentence of n >= 2 * window + 1 words gives 2 * window * n - window * (window + 1)
    pairs: n = 5, window = 2 gives 14.
    """
    _check_window(window)
    # BEGIN SOLUTION: for each position i, pair sentence[i] with every sentence[j], 0 < |i - j| <= window, as a (P, 2) tensor
    # Every position of the corpus at once. A loop over the positions is as correct and reads
    # more easily, but this runs at every epoch, and on a real corpus tensor ops are ~5x faster.
    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row
    lengths = torch.tensor([len(sentence) for sentence in sentences], dtype=torch.int64)  # (S,)
    which = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # (N,) each position's sentence
    offsets = torch.tensor([d for d in range(-window, window + 1) if d != 0])  # (2c,) left to right, not 0
    j = torch.arange(len(ids)).unsqueeze(1) + offsets  # (N, 2c) each centre's context positions
    inside = (j >= 0) & (j < len(ids))  # (N, 2c)
    j = j.clamp(0, max(len(ids) - 1, 0))
    # The window is cut at the sentence's ends: no pairs across sentences, no wrap-around.
    inside &= which[j] == which.unsqueeze(1)
    # A boolean mask reads the (N, 2c) grid row by row: centre by centre, contexts left to right.
    return torch.stack([ids.unsqueeze(1).expand_as(j)[inside], ids[j][inside]], 1)  # (P, 2)
    # END SOLUTION


def cbow_examples(sentences: Sentences, *, window: int) -> tuple[Tensor, Tensor, Tensor]:
    """CBOW's examples: each word with the words within `window` positions around it.

    Returns contexts (P, 2 * window) int64, each row the example's context ids and
    PAD_ID (0) where the window runs past the sentence; mask (P, 2 * window) bool, True
    at the real context words; centres (P,) int64. One example per word that has any
    context, sentence by sentence, in order (a one-word sentence gives none).
    """
    _check_window(window)
    # BEGIN SOLUTION: collect each word's context (up to window words each side), pad it to 2 * window with PAD_ID, mask the real ones
    contexts, centres = [], []
    for sentence in sentences:
        sentence = list(sentence)
        for i, centre in enumerate(sentence):
            context = sentence[max(0, i - window):i] + sentence[i + 1:i + 1 + window]
            if context:  # a word alone in its sentence has nothing to be predicted from
                contexts.append(context)
                centres.append(centre)
    lengths = torch.tensor([len(c) for c in contexts], dtype=torch.int64)  # (P,)
    padded = [c + [PAD_ID] * (2 * window - len(c)) for c in contexts]
    contexts = torch.tensor(padded, dtype=torch.int64).reshape(-1, 2 * window)  # (P, 2c)
    mask = torch.arange(2 * window) < lengths[:, None]  # (P, 2c): near a sentence's ends, fewer than 2c words
    return contexts, mask, torch.tensor(centres, dtype=torch.int64)
    # END SOLUTION


# ---------------------------------------------------------------- subsampling and negative sampling
def keep_probability(counts: Tensor, *, t: float = 1e-3) -> Tensor:
    """Subsampling (Mikolov et al. 2013b, section 2.3): the probability of keeping each
    occurrence of word w, min(1, sqrt(t / f(w))), where f(w) = counts[w] / counts.sum().

    counts: (V,) how often each word occurs (Vocab.counts). Returns (V,) on counts'
    device, in counts' dtype when it is a float one (float64 stays float64), else
    (integer counts) the default float dtype. A word of count 0 (the special tokens)
    gets 1. The paper discards with probability 1 - sqrt(t / f);
    word2vec.c keeps with sqrt(t / f) + t / f, gentler: not what this function computes.
    """
    if t <= 0:
        raise ValueError(f"t must be > 0 (words more frequent than t are subsampled), got {t}")
    # BEGIN SOLUTION: f = counts / counts.sum(); return sqrt(t / f) capped at 1 (a word never seen gets 1)
    if not counts.is_floating_point():
        counts = counts.to(torch.get_default_dtype())
    frequency = counts / counts.sum()  # (V,)
    # t / 0 = inf for an unseen word, and the cap turns it into 1.
    return torch.sqrt(t / frequency).clamp(max=1.0)  # (V,)
    # END SOLUTION


def subsample(sentences: Sentences, keep: Tensor, *, generator: torch.Generator | None = None) -> list[list[int]]:
    """Drop each word occurrence at random: word w stays with probability keep[w].

    keep: (V,) from keep_probability. Every occurrence gets its own uniform draw from
    `generator` (torch's global one when None). Returns as many sentences as it was
    given, as lists of ids in their order; a sentence may come back shorter or empty.
    """
    # BEGIN SOLUTION: one torch.rand draw per occurrence from generator; keep the word where the draw is below keep[word]
    keep = keep.detach().to("cpu", torch.float64)
    lengths = [len(sentence) for sentence in sentences]
    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) every occurrence
    # U < p happens with probability p: p = 1 always keeps (U < 1), p = 0 never does.
    kept = torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]  # (N,)
    out, start = [], 0
    for n in lengths:
        out.append([w for w, k in zip(ids[start:start + n].tolist(), kept[start:start + n].tolist()) if k])
        start += n
    return out
    # END SOLUTION


def noise_distribution(counts: Tensor, *, power: float = 0.75) -> Tensor:
    """Negative sampling's noise distribution (Mikolov et al. 2013b, section 2.2): P(w)
    proportional to counts[w] ** power, the unigram distribution raised to the 3/4 power.

    counts: (V,) word counts (Vocab.counts). Returns (V,) probabilities summing to 1, on
    counts' device, in counts' dtype when it is a float one (float64 stays float64), else
    (integer counts) the default float dtype. A word of count 0 has probability 0 for
    every power.
    """
    if (counts < 0).any() or not (counts > 0).any():
        raise ValueError("counts must be >= 0 with at least one word seen")
    # BEGIN SOLUTION: raise each count to `power`, keep unseen words at 0, divide by the sum
    if not counts.is_floating_point():
        counts = counts.to(torch.get_default_dtype())
    # The power flattens the distribution: rare words are drawn more often than their
    # count says, frequent ones less. 0 ** power is 0 except for power 0: mask it.
    weights = torch.where(counts > 0, counts**power, torch.zeros_like(counts))  # (V,)
    return weights / weights.sum()  # (V,)
    # END SOLUTION


UNIGRAM_TABLE_SIZE = 1_000_000  # sample_negatives' table (word2vec.c's holds 10^8 slots)


def sample_negatives(noise: Tensor, shape: tuple[int, ...], *, generator: torch.Generator | None = None) -> Tensor:
    """Word ids of the given shape, drawn independently (with replacement) from `noise`.

    noise: (V,) probabilities (noise_distribution). As word2vec.c's unigram table
    (InitUnigramTable): word w fills round(noise[w] * UNIGRAM_TABLE_SIZE) slots of a table,
    and each id is a slot drawn uniformly, so every probability counts to the nearest
    millionth (a word under 5e-7 is never drawn; torch.multinomial draws the exact ones,
    slower). Drawn on the CPU from `generator` (a CPU torch.Generator; torch's global one
    when None), returned as int64 on noise's device. A row of (B, K) may hold a word
    twice, or the positive word itself: word2vec.c does not check either.
    """
    # BEGIN SOLUTION: give each id w round(noise[w] * UNIGRAM_TABLE_SIZE) slots of a table; draw slots by torch.randint
    slots = (noise.detach().cpu().double() * UNIGRAM_TABLE_SIZE).round().long()  # (V,) each word's share
    table = torch.repeat_interleave(torch.arange(len(noise)), slots)  # (about UNIGRAM_TABLE_SIZE,) word ids
    # One uniform draw and one lookup per id. torch.multinomial(noise, n, replacement=True)
    # searches the cumulative distribution for every id instead (log2 V steps whose branches a
    # CPU cannot predict): 10x slower, a third of an epoch on a real corpus.
    draws = torch.randint(len(table), (math.prod(shape),), generator=generator)  # (count,) slots
    return table.index_select(0, draws).reshape(shape).to(noise.device)  # table[draws], 3x faster on a CPU
    # END SOLUTION


# ---------------------------------------------------------------- the skip-gram objective
def sgns_loss(v: Tensor, u_pos: Tensor, u_neg: Tensor) -> Tensor:
    """Skip-gram with negative sampling, averaged over the batch:

        mean over b of  -log σ(u_pos[b] · v[b]) - Σ_k log σ(-u_neg[b, k] · v[b])

    v: (B, D) the centre words' input vectors (CBOW: the mean of the context's);
    u_pos: (B, D) the true words' output vectors; u_neg: (B, K, D) the noise words'
    output vectors. Returns a scalar, finite for scores of any size.
    """
    # BEGIN SOLUTION: scores u_pos·v (B,) and u_neg·v (B, K); loss = -logsigmoid(pos) - Σ_k logsigmoid(-neg), mean over B
    pos = (u_pos * v).sum(-1)  # (B,)
    # A broadcast product summed over D. torch.einsum("bkd,bd->bk", u_neg, v) is the same
    # number, but it runs as B tiny matrix products, several times slower on a CPU.
    neg = (u_neg * v.unsqueeze(1)).sum(-1)  # (B, K)
    # log σ(s) = -softplus(-s): F.logsigmoid never takes log(0), which log(sigmoid(s)) does for s < -104.
    return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()
    # END SOLUTION


def sgns_gradients(v: Tensor, u_pos: Tensor, u_neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of sgns_loss (the batch mean) by hand, without autograd.

    Same arguments as sgns_loss. With s = u_pos·v and n_k = u_neg[k]·v, d σ(s)/ds =
    σ(s)(1 - σ(s)) gives d(-log σ(s))/ds = σ(s) - 1 and d(-log σ(-n))/dn = σ(n).
    Returns (dv (B, D), du_pos (B, D), du_neg (B, K, D)).
    """
    # BEGIN SOLUTION: g_pos = (σ(s) - 1) / B, g_neg = σ(n) / B; dv = g_pos u_pos + Σ_k g_neg u_neg, du_pos = g_pos v, du_neg = g_neg v
    B = v.shape[0]
    g_pos = (torch.sigmoid((u_pos * v).sum(-1)) - 1) / B  # (B,) d loss / d s: pulls v and u_pos together
    g_neg = torch.sigmoid(torch.einsum("bkd,bd->bk", u_neg, v)) / B  # (B, K) d loss / d n_k: pushes them apart
    dv = g_pos[:, None] * u_pos + torch.einsum("bk,bkd->bd", g_neg, u_neg)  # (B, D)
    du_pos = g_pos[:, None] * v  # (B, D)
    du_neg = g_neg[:, :, None] * v[:, None, :]  # (B, K, D)
    return dv, du_pos, du_neg
    # END SOLUTION


class SkipGram(nn.Module):
    """Two tables of vectors: in_embed (a word as the centre) and out_embed (a word as context).

    Attributes: in_embed, out_embed, both nn.Embedding(vocab_size, embed_dim, sparse=True):
    a batch's backward gives a gradient for the rows it looked up only, and the optimizer
    (train_word2vec's RowAdagrad) changes those rows only, not all V of them. As in word2vec.c,
    in_embed starts uniform in [-0.5 / embed_dim, 0.5 / embed_dim] and out_embed at zero.
    The word vectors are in_embed's rows.
    """

    def __init__(self, vocab_size: int, embed_dim: int) -> None:
        super().__init__()
        # BEGIN SOLUTION: create in_embed and out_embed (nn.Embedding, sparse=True); in_embed uniform in ±0.5 / embed_dim, out_embed zeros
        # sparse=True: a batch of B pairs and K negatives touches at most B * (K + 2) rows of
        # the two tables; a dense gradient would be V x D zeros everywhere else, and the
        # optimizer would walk over all of them at every step.
        self.in_embed = nn.Embedding(vocab_size, embed_dim, sparse=True)
        self.out_embed = nn.Embedding(vocab_size, embed_dim, sparse=True)
        # Small input vectors and zero output vectors: every score u·v starts at 0, σ = 1/2,
        # and the first updates move the output vectors toward the input vectors.
        bound = 0.5 / embed_dim
        nn.init.uniform_(self.in_embed.weight, -bound, bound)
        nn.init.zeros_(self.out_embed.weight)
        # END SOLUTION

    def forward(self, centres: Tensor, contexts: Tensor, negatives: Tensor) -> Tensor:
        """centres, contexts: (B,) ids; negatives: (B, K) ids. Returns sgns_loss of the centres'
        input vectors, the contexts' output vectors and the negatives' output vectors."""
        # BEGIN SOLUTION: look the centres up in in_embed, contexts and negatives in out_embed, return sgns_loss
        v = self.in_embed(centres)  # (B, D)
        # The contexts and the negatives in one lookup: out_embed then gets one sparse gradient.
        # Two lookups give the same numbers, but backward then adds two sparse gradients row by
        # row: a sixth of the forward and backward time on a CPU.
        ids = torch.cat([contexts.unsqueeze(1), negatives], 1)  # (B, 1 + K)
        u_pos, u_neg = self.out_embed(ids).split([1, negatives.shape[1]], 1)  # (B, 1, D), (B, K, D)
        return sgns_loss(v, u_pos.squeeze(1), u_neg)
        # END SOLUTION

    def word_vectors(self) -> Tensor:
        """The trained word vectors: in_embed's weight (V, D), detached."""
        # BEGIN SOLUTION: return in_embed's weight, detached from autograd
        return self.in_embed.weight.detach()  # (V, D)
        # END SOLUTION


class CBOW(SkipGram):
    """Continuous bag of words: the mean of the context's input vectors predicts the centre word.

    The same two tables as SkipGram (and the same initialisation); only forward differs.
    """

    def forward(self, contexts: Tensor, mask: Tensor, centres: Tensor, negatives: Tensor) -> Tensor:
        """contexts, mask: (B, 2c) from cbow_examples; centres: (B,); negatives: (B, K).

        Returns sgns_loss of h, the mean of the input vectors of the real context words
        (mask True), against the centres' and the negatives' output vectors.
        """
        # BEGIN SOLUTION: h = the mean of in_embed(contexts) over the real (mask True) words; return sgns_loss(h, out_embed(centres), out_embed(negatives))
        vectors = self.in_embed(contexts)  # (B, 2c, D)
        weights = mask.unsqueeze(-1).to(vectors.dtype)  # (B, 2c, 1): 0 at the padding
        # A mean, not a sum: words near a sentence's ends have fewer context words, and the
        # padding (id 0) must not count, however its vector looks.
        h = (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)
        # One lookup for the centres and the negatives, as SkipGram's.
        ids = torch.cat([centres.unsqueeze(1), negatives], 1)  # (B, 1 + K)
        u_pos, u_neg = self.out_embed(ids).split([1, negatives.shape[1]], 1)  # (B, 1, D), (B, K, D)
        return sgns_loss(h, u_pos.squeeze(1), u_neg)
        # END SOLUTION


# ---------------------------------------------------------------- GloVe
def cooccurrence(sentences: Sentences, vocab_size: int, *, window: int) -> Tensor:
    """GloVe's co-occurrence matrix X (V, V), symmetric, float32, as a sparse COO tensor: for every two
    words of a sentence at distance d = |i - j|, 1 <= d <= window, X[a, b] and X[b, a] both grow by 1/d.

    (So a word next to itself adds 2 to X[a, a]: once from each side, as GloVe's cooccur.c.)
    Only the pairs that occur are stored, never the V x V zeros around them: X is coalesced
    (X.is_coalesced(): each (a, b) once, its weights summed, in row-major order), X.indices()
    is (2, nnz) int64 and X.values() (nnz,) float32. With no pair at all, nnz = 0.
    """
    _check_window(window)
    # BEGIN SOLUTION: collect (a, b, 1 / d) for each pair of positions at distance d <= window, both ways; build a sparse COO tensor and coalesce it
    rows, cols, weights = [], [], []
    for sentence in sentences:
        sentence = list(sentence)
        for i, a in enumerate(sentence):
            for d in range(1, window + 1):  # look right only: each pair once, then count it both ways
                if i + d < len(sentence):
                    b = sentence[i + d]
                    rows += [a, b]
                    cols += [b, a]
                    weights += [1 / d, 1 / d]  # near words count more: the paper's 1/distance
    # A dense X would be V x V floats, 10 GB for V = 50,000, nearly all of them zero: a corpus
    # holds a few pairs per token. The sparse tensor keeps (a, b, weight) per occurrence;
    # coalesce() sorts them and adds up the weights of a repeated (a, b).
    indices = torch.tensor([rows, cols], dtype=torch.int64).reshape(2, -1)  # (2, P)
    # check_invariants: an id outside [0, V) raises here, instead of corrupting memory later.
    X = torch.sparse_coo_tensor(indices, torch.tensor(weights, dtype=torch.float32), (vocab_size, vocab_size),
                                check_invariants=True)
    return X.coalesce()  # (V, V), nnz <= P
    # END SOLUTION


def glove_weight(x: Tensor, *, x_max: float = 100.0, alpha: float = 0.75) -> Tensor:
    """GloVe's weighting function f(x) = (x / x_max) ** alpha for x < x_max, else 1.

    x: co-occurrence values, any shape. Returns f(x) with x's shape, dtype and device.
    With the paper's x_max = 100 and alpha = 3/4: f(1) = 0.0316, f(50) = 0.5946,
    f(100) = f(1000) = 1.
    """
    # BEGIN SOLUTION: (x / x_max) ** alpha below x_max, 1 from x_max on
    # Rare pairs are noisy and weigh little; frequent pairs must not dominate: the cap.
    return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
    # END SOLUTION


class GloVe(nn.Module):
    """GloVe's parameters: word vectors w, context vectors w_tilde (V, D), biases b, b_tilde (V,).

    All four are nn.Parameters that start uniform in [-0.5 / embed_dim, 0.5 / embed_dim]
    (GloVe's glove.c divides by embed_dim + 1, counting the bias). x_max and alpha
    are glove_weight's.
    """

    def __init__(self, vocab_size: int, embed_dim: int, *, x_max: float = 100.0, alpha: float = 0.75) -> None:
        super().__init__()
        self.x_max, self.alpha = x_max, alpha
        # BEGIN SOLUTION: create w, w_tilde (V, D) and b, b_tilde (V,) as nn.Parameters, uniform in ±0.5 / embed_dim
        bound = 0.5 / embed_dim
        self.w = nn.Parameter(torch.empty(vocab_size, embed_dim).uniform_(-bound, bound))  # (V, D)
        self.w_tilde = nn.Parameter(torch.empty(vocab_size, embed_dim).uniform_(-bound, bound))  # (V, D)
        self.b = nn.Parameter(torch.empty(vocab_size).uniform_(-bound, bound))  # (V,)
        self.b_tilde = nn.Parameter(torch.empty(vocab_size).uniform_(-bound, bound))  # (V,)
        # END SOLUTION

    def forward(self, i: Tensor, j: Tensor, x: Tensor) -> Tensor:
        """i, j: (B,) word ids; x: (B,) their co-occurrence X[i, j] > 0.

        Returns the mean over the batch of f(x) (w_i · w~_j + b_i + b~_j - log x)², f being
        glove_weight with this model's x_max and alpha (the paper's J sums over every
        pair; a mean keeps the learning rate independent of the batch size).
        """
        # BEGIN SOLUTION: the prediction w[i]·w_tilde[j] + b[i] + b_tilde[j] against log x, squared, weighted by glove_weight(x), mean
        prediction = (self.w[i] * self.w_tilde[j]).sum(-1) + self.b[i] + self.b_tilde[j]  # (B,)
        weight = glove_weight(x, x_max=self.x_max, alpha=self.alpha)  # (B,)
        return (weight * (prediction - torch.log(x)) ** 2).mean()
        # END SOLUTION

    def word_vectors(self) -> Tensor:
        """The trained word vectors: w + w_tilde (V, D), detached (the paper, section 4.2)."""
        # BEGIN SOLUTION: return w + w_tilde, detached
        # X is symmetric, so w and w_tilde learn the same thing from different starts; their sum
        # averages out some of the noise.
        return (self.w + self.w_tilde).detach()  # (V, D)
        # END SOLUTION


# ---------------------------------------------------------------- training and evaluation (given)
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, ...]) -> float:
    """One update: each model's forward takes the batch's tensors and returns its loss."""
    optimizer.zero_grad()
    loss = model(*batch)
    loss.backward()
    optimizer.step()
    return loss.item()


class RowAdagrad(torch.optim.Optimizer):
    """AdaGrad with one sum per row, for the sparse gradients of nn.Embedding(..., sparse=True).

    A batch's gradient of a table, uncoalesced as backward leaves it, holds one row of values
    per lookup (fewer where autograd has added two up): row r of the table has n of them,
    g_1 .. g_n (D,). For each row r the batch looked up:

        sum[r] += n * Σ_i mean(g_i ** 2)        row r -= lr * Σ_i g_i / (sqrt(sum[r]) + eps)

    and rows not looked up are left alone. A word's steps shrink as its gradients add up:
    "the", looked up hundreds of times in a batch, moves little, a rare word as much as it
    needs (SGD would add up the hundreds of gradients and overshoot). One sum per row is
    PyTorch-BigGraph's row-wise AdaGrad, which adds mean((Σ_i g_i) ** 2) for the row's
    summed gradient; n * Σ_i mean(g_i ** 2) is never less (Cauchy-Schwarz), so no step is
    longer than its, and no row's sum has to be formed first. torch.optim.Adagrad (one sum
    per number) forms them by coalescing the gradient, a sort of its row ids that took half
    of an epoch on a real corpus.
    """

    def __init__(self, params, lr: float, eps: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for weight in group["params"]:
                if weight.grad is None:
                    continue
                if not weight.grad.is_sparse:
                    raise ValueError("RowAdagrad takes sparse gradients: nn.Embedding(..., sparse=True), looked up by "
                                     "calling the table (table(ids)), not by indexing its weight")
                state = self.state[weight]
                if not state:
                    state["sum"] = weight.new_zeros(len(weight))  # (V,)
                # The gradient as backward leaves it: _indices() and _values() read it uncoalesced,
                # where indices() would ask for the sort.
                rows, grads = weight.grad._indices()[0], weight.grad._values()  # (N,), (N, D)
                n = torch.bincount(rows, minlength=len(weight)).index_select(0, rows)  # (N,) entries of each one's row
                state["sum"].scatter_add_(0, rows, n * grads.square().mean(1))  # (V,)
                scale = -group["lr"] / (state["sum"].index_select(0, rows).sqrt() + group["eps"])  # (N,)
                # Each lookup's share of its row's step, added up per row (on a CPU scatter_add_ is 2-4x
                # faster than index_add_, index_put_ or adding a sparse tensor).
                weight.scatter_add_(0, rows.unsqueeze(1).expand_as(grads), grads * scale.unsqueeze(1))  # (V, D)


def train_word2vec(model: SkipGram, sentences: Sentences, noise: Tensor, *, window: int = 2, epochs: int = 5,
                   lr: float = 0.2, batch_size: int = 4096, num_negatives: int = 5, keep: Tensor | None = None,
                   seed: int = 0, log_every: int = 0) -> list[float]:
    """RowAdagrad on sgns_loss: SkipGram on skip-gram pairs, CBOW on cbow_examples. Returns each epoch's mean loss.

    Every epoch subsamples the sentences afresh (when `keep` is given, from
    keep_probability), makes the examples of what is left, and draws `num_negatives`
    noise words per example from `noise`; the draws and the batch order come from one
    generator seeded with `seed`. log_every: a line every so many epochs, with its time. An
    epoch left without any example (a tiny corpus, subsampled) trains nothing; its loss is NaN.
    """
    generator = rng(seed)
    # An optimizer for sparse gradients (the tables are nn.Embedding(..., sparse=True)): a step
    # changes the rows its batch looked up, a few thousand at most, and leaves the others
    # alone. Adam on dense gradients keeps two running averages for every number of both
    # tables and rewrites every row at every step, used or not: on a real corpus (V of 10,000
    # words and more) that is nearly all of the training's time. RowAdagrad's docstring says
    # why not SGD, and why not torch.optim.Adagrad.
    optimizer = RowAdagrad(model.parameters(), lr=lr)
    losses = []
    began = time.perf_counter()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        kept = sentences if keep is None else subsample(sentences, keep, generator=generator)
        if isinstance(model, CBOW):
            examples = cbow_examples(kept, window=window)  # contexts, mask, centres
        else:
            examples = skipgram_pairs(kept, window=window).unbind(1)  # centres, contexts
        if len(examples[0]) == 0:  # a few lines of text can lose every pair to subsampling
            losses.append(math.nan)
        else:
            negatives = sample_negatives(noise, (len(examples[0]), num_negatives), generator=generator)  # (P, K)
            # One epoch at a time: the examples and negatives change every epoch; the generator's
            # stream continues, so the whole run follows from `seed`.
            losses += fit(model, (*examples, negatives), optimizer, train_step, epochs=1, batch_size=batch_size,
                          seed=generator)
        if log_every and epoch % log_every == 0:
            now = time.perf_counter()
            print(f"epoch {epoch:3d}/{epochs}  loss {losses[-1]:.4f}  ({len(examples[0])} examples)  "
                  f"{now - start:.2f} s, {now - began:.1f} s in all", flush=True)
    return losses


def train_glove(model: GloVe, X: Tensor, *, epochs: int = 100, lr: float = 0.5, batch_size: int = 4096,
                seed: int = 0, log_every: int = 0) -> list[float]:
    """AdaGrad (as the paper) on GloVe's loss over the nonzero entries of X, sparse (V, V) from
    cooccurrence. Returns each epoch's mean loss.

    A fixed, small number of steps: the loss never sees the pairs that do not co-occur,
    so run long enough and unrelated words drift together.
    """
    X = X.coalesce()  # each (i, j) once
    i, j = X.indices()  # (P,), (P,): the pairs that occur (log 0 is undefined, and f(0) = 0 anyway)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=lr)
    began = time.perf_counter()
    losses = fit(model, (i, j, X.values()), optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
                 log_every=log_every)
    if log_every:
        seconds = time.perf_counter() - began
        print(f"{epochs} epochs in {seconds:.1f} s, {seconds / max(epochs, 1):.3f} s per epoch", flush=True)
    return losses


def nearest(vectors: Tensor, ids: Tensor) -> Tensor:
    """For each of `ids` (N,), the position in ids of its nearest other word by cosine similarity: (N,)."""
    unit = F.normalize(vectors[ids].float(), dim=1)  # (N, D)
    similarity = unit @ unit.T  # (N, N)
    similarity.fill_diagonal_(-math.inf)  # a word is not its own neighbour
    return similarity.argmax(1)


def category_accuracy(vectors: Tensor, vocab: Vocab, category: dict[str, str]) -> float:
    """The fraction of category words whose nearest category word (by cosine) shares their category.

    vectors: (V, D) word vectors; category: word -> category (kata.corpus's Corpus.category).
    """
    words = [w for w in category if w in vocab]
    ids = torch.tensor([vocab[w] for w in words], device=vectors.device)
    found = nearest(vectors, ids).tolist()
    return sum(category[w] == category[words[n]] for w, n in zip(words, found)) / len(words)


def neighbours(vectors: Tensor, vocab: Vocab, word: str, k: int = 5) -> list[str]:
    """The k words nearest to `word` by cosine similarity (special tokens left out)."""
    unit = F.normalize(vectors.float(), dim=1)  # (V, D)
    similarity = unit @ unit[vocab[word]]  # (V,)
    similarity[:NUM_SPECIAL] = -math.inf
    similarity[vocab[word]] = -math.inf
    return [vocab.itos[i] for i in similarity.topk(min(k, len(vocab) - NUM_SPECIAL - 1)).indices.tolist()]


def is_punctuation(token: str) -> bool:
    """True for the tokens kata.text.tokenize makes of a symbol: ".", ",", "(", "$"; False for words ("it's", "4:00"
    is "4", ":", "00")."""
    return not (token[0].isalnum() or token[0] == "_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train word vectors (skip-gram, CBOW or GloVe) on the generated "
                                                 "corpus or on your own text.")
    parser.add_argument("--model", choices=("skipgram", "cbow", "glove"), default="skipgram")
    parser.add_argument("--corpus", default=None,
                        help="a UTF-8 text file, one sentence per line, cut into tokens by kata.text.tokenize: "
                             "lowercase words, and each punctuation mark a token of its own, in the vocabulary "
                             "and the windows like a word unless --drop-punctuation (default: kata.corpus's "
                             "generated sentences, which have none)")
    parser.add_argument("--drop-punctuation", action="store_true",
                        help="leave the punctuation tokens (. , ; : ! ? ( ) ...) out: the windows then reach "
                             "over them to the next words")
    parser.add_argument("--train-size", type=int, default=5000, help="generated sentences (without --corpus)")
    parser.add_argument("--min-count", type=int, default=1, help="drop words seen fewer times")
    parser.add_argument("--max-vocab", type=int, default=None,
                        help="keep the most frequent words only (default: every word seen --min-count times)")
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=5, help="noise words per example (word2vec)")
    parser.add_argument("--subsample", type=float, default=1e-3, help="subsampling's t (word2vec); 0: none")
    parser.add_argument("--x-max", type=float, default=10.0,
                        help="GloVe's x_max (the paper's 100 suits billions of words; few pairs here reach it)")
    parser.add_argument("--epochs", type=int, default=None, help="default 5 (word2vec), 100 (GloVe)")
    parser.add_argument("--lr", type=float, default=None,
                        help="AdaGrad's learning rate, default 0.2 (word2vec, RowAdagrad), 0.5 (GloVe)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 4096")
    parser.add_argument("--save", default=None, help="write the word vectors to this file")
    parser.add_argument("--format", choices=("word2vec", "glove"), default="word2vec",
                        help="the text format of --save: word2vec's (a 'V D' header line) or GloVe's (none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    generated = None
    try:
        if args.corpus:
            texts = read_corpus(args.corpus)
        else:
            generated = corpus(args.train_size, seed=args.seed)
            texts = generated.sentences
        tokens = [tokenize(text) for text in texts]
        if args.drop_punctuation:
            tokens = [[t for t in sentence if not is_punctuation(t)] for sentence in tokens]
        max_size = None if args.max_vocab is None else args.max_vocab + NUM_SPECIAL
        vocab = Vocab.build(tokens, min_count=args.min_count, max_size=max_size)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Words below --min-count or beyond --max-vocab are [UNK]: drop them, as word2vec.c and GloVe do.
    sentences = [[i for i in vocab.encode(sentence) if i != UNK_ID] for sentence in tokens]
    tokens = sum(len(s) for s in sentences)
    print(f"{len(sentences)} sentences, {tokens} tokens, {len(vocab) - NUM_SPECIAL} words")
    if len(vocab) - NUM_SPECIAL < 2:
        print("error: the corpus needs at least two different words", file=sys.stderr)
        return 1

    if args.model == "glove":
        model = GloVe(len(vocab), args.embed_dim, x_max=args.x_max).to(args.device)
        X = cooccurrence(sentences, len(vocab), window=args.window).coalesce()  # (V, V), sparse
        stored = X.indices().nbytes + X.values().nbytes
        print(f"GloVe: {X.values().numel()} nonzero co-occurrences, {stored / 1e6:.1f} MB "
              f"(a dense {len(vocab)} x {len(vocab)} X: {len(vocab) ** 2 * 4 / 1e6:.0f} MB)")
        epochs = args.epochs or 100
        losses = train_glove(model, X.to(args.device), epochs=epochs, lr=args.lr or 0.5,
                             batch_size=args.batch_size or 4096, seed=args.seed, log_every=max(1, epochs // 10))
    else:
        model = (CBOW if args.model == "cbow" else SkipGram)(len(vocab), args.embed_dim).to(args.device)
        noise = noise_distribution(vocab.counts)  # (V,)
        keep = keep_probability(vocab.counts, t=args.subsample) if args.subsample > 0 else None
        losses = train_word2vec(model, sentences, noise, window=args.window, epochs=args.epochs or 5,
                                lr=args.lr or 0.2, batch_size=args.batch_size or 4096, num_negatives=args.negatives,
                                keep=keep, seed=args.seed, log_every=1)
    print(f"loss curve: {pictures.curve({args.model: losses}, '08_loss.png', title=f'08 {args.model}: loss')}")

    vectors = model.word_vectors().cpu()  # (V, D)
    if generated is not None:
        shown = ["cat", "bread", "tea", "car", "hammer", "park"]
        score = category_accuracy(vectors, vocab, generated.category)
    else:
        shown = [w for w in vocab.itos[NUM_SPECIAL:NUM_SPECIAL + 30] if w.isalpha()][:6]
        score = None
    for word in shown:
        if word in vocab:
            print(f"  {word:>10}: {' '.join(neighbours(vectors, vocab, word))}")
    if score is not None:
        print(f"category words whose nearest category word shares their category: {score:.3f}")
    # A picture: the words' vectors projected on their two principal directions, coloured by category
    # (the generated corpus) or, for your text, the 60 most frequent words.
    if generated is not None:
        names = sorted({c for w, c in generated.category.items() if w in vocab})
        words = [w for w in vocab.itos if generated.category.get(w) in names]
        groups = [names.index(generated.category[w]) for w in words]
    else:
        names, words = None, [w for w in vocab.itos[NUM_SPECIAL:] if not is_punctuation(w)][:60]
        groups = None
    if len(words) >= 2:
        chosen = vectors[[vocab[w] for w in words]]  # (n, D)
        centred = chosen - chosen.mean(0)
        directions = torch.linalg.svd(centred, full_matrices=False).Vh[:2]  # (2, D)
        out = pictures.scatter(centred @ directions.T, "08_word_vectors.png", groups=groups, labels=words,
                               legend=names, title=f"08 {args.model}: two principal directions", size=480)
        print(f"the words' vectors in 2-D: {out}")
    if args.save:
        words = vocab.itos[NUM_SPECIAL:]
        save_embeddings(args.save, words, vectors[NUM_SPECIAL:], format=args.format)
        print(f"saved {len(words)} vectors of {args.embed_dim} to {args.save} ({args.format} format)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

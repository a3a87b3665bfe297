"""Hidden suite for 16 Sentence-BERT: masked mean pooling (padding changes nothing), the sentence
encoder (with the real all-MiniLM-L6-v2 weights it gives the real sentence embeddings), one siamese
encoder for every branch, the classification, regression and triplet objectives against their
formulas with their gradients reaching the encoder, cosine top-k search, the training step, and
paraphrases ranked above non-paraphrases after seconds of training, where word overlap cannot.

Equivalence tests run in float64 on tiny encoders (kata.bert.Encoder, hidden 8); the padding
holds word ids and large values, so a result that reads it shows.
"""

import copy
import functools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kata
from grader.checks import (
    assert_at_least,
    assert_at_most,
    assert_close,
    calling,
    check_on_meta,
    check_tensor,
    check_unchanged,
    clones,
    fill_uniform,
    on_meta,
)
from kata.bert import BertConfig, Encoder, minilm_encoder
from kata.corpus import WORDS, paraphrases
from kata.pretrained import WeightsError
from kata.text import Vocab, pad_sequences

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

POOL = ("sum hidden over the real tokens only (multiply by the mask as hidden's dtype, or torch.where) and divide "
        "by each sentence's number of real tokens, clamped to at least 1")
ENCODER = "hidden = self.encoder(ids, mask); x = mean_pool(hidden, mask); F.normalize(x, dim=-1) when self.normalize"
BRANCHES = "return tuple(self.encoder(ids, mask) for ids, mask in branches): the same module for every branch"
HEAD = "logits = self.classifier(torch.cat([u, v, (u - v).abs()], dim=-1)), with nn.Linear(3 * embed_dim, num_labels)"
COSINE = ("cos = F.cosine_similarity(u, v, dim=-1) (the dot product divided by both lengths); "
          "((cos - scores) ** 2).mean()")
TRIPLET = ("d_p = (anchor - positive).norm(dim=-1) and d_n likewise (Euclidean, not squared); "
           "(d_p - d_n + margin).clamp(min=0).mean()")
SEARCH = ("normalise both sides to length 1 (F.normalize(x, dim=-1)), cos = queries @ corpus.T is (Q, N), "
          "then cos.topk(k, dim=-1) gives the scores and indices, largest first")


def _encoder(vocab_size=20, hidden=8):
    """A tiny kata.bert.Encoder in float64: one layer, two heads."""
    return Encoder(BertConfig.small(vocab_size, hidden=hidden, layers=1, heads=2, max_len=16)).double()


def _batch(g, lengths, vocab_size=20):
    """ids (B, T) whose padding holds word ids (not 0), and the mask (B, T)."""
    lengths = torch.tensor(lengths)
    ids = torch.randint(5, vocab_size, (len(lengths), int(lengths.max())), generator=g)  # (B, T)
    mask = torch.arange(ids.shape[1]) < lengths[:, None]  # (B, T)
    return ids, mask


def _reference_pool(hidden, mask):
    return torch.stack([h[m].mean(0) if m.any() else torch.zeros_like(h[0]) for h, m in zip(hidden, mask)])


class _Recorder(nn.Module):
    """A stand-in encoder: token vectors from an embedding; it keeps the masks it is given."""

    def __init__(self, vocab_size=20, hidden=6):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden)
        self.masks = []

    def forward(self, ids, mask):
        self.masks.append(mask)
        return self.embedding(ids)


def _sbert(topic, g, vocab_size=20):
    encoder = topic.SentenceEncoder(fill_uniform(_encoder(vocab_size), g, 0.3))
    return topic.SBERT(encoder), encoder


# ------------------------------------------------------------------ mean_pool
@shapes
@task("mean_pool")
def test_mean_pool_shapes_dtype_and_device(topic):
    mask = torch.tensor([[True, True, False], [True, False, False]])
    check_on_meta("mean_pool(hidden (2, 3, 5), mask (2, 3)) on the meta device", topic.mean_pool,
                  torch.zeros(2, 3, 5, device="meta"), mask.to("meta"), shape=(2, 5), hint=POOL)
    out = topic.mean_pool(torch.ones(2, 3, 5, dtype=torch.float64), mask)
    check_tensor(out, "mean_pool(hidden float64 (2, 3, 5), mask)", shape=(2, 5), dtype=torch.float64,
                 hint="turn the mask into hidden's dtype (mask.to(hidden.dtype)), not float32")
    out = topic.mean_pool(torch.ones(1, 4, 3), torch.ones(1, 4, dtype=torch.bool))
    check_tensor(out, "mean_pool(hidden (1, 4, 3), mask (1, 4)): a batch of one", shape=(1, 3),
                 hint="sum over dim=1 (the tokens); squeeze() would eat the batch dimension")


@gradients
@task("mean_pool")
def test_mean_pool_averages_the_real_tokens_only(topic):
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([4, 1, 3, 2])
    mask = torch.arange(4) < lengths[:, None]  # (4, 4)
    hidden = torch.randn(4, 4, 3, generator=g, dtype=torch.float64)
    hidden[~mask] = 1e4 * torch.randn(int((~mask).sum()), 3, generator=g, dtype=torch.float64)  # loud padding
    hidden.requires_grad_(True)
    before = clones(hidden=hidden, mask=mask)
    with calling(POOL):
        out = topic.mean_pool(hidden, mask)
    check_unchanged("mean_pool(hidden, mask)", before, hidden=hidden, mask=mask)
    assert_close(out, _reference_pool(hidden.detach(), mask), "mean_pool(hidden, mask) for lengths [4, 1, 3, 2]",
                 atol=1e-10, hint="each sentence's mean over ITS real tokens: the padding (values of ~1e4 here) must "
                                  "not enter the sum, and the divisor is mask.sum(1), not T")
    (grad,) = torch.autograd.grad(out.sum(), hidden)
    expected = mask[..., None].double() / lengths[:, None, None]  # 1/L at every real token, 0 at the padding
    assert_close(grad, expected.expand_as(grad), "the gradient of mean_pool(hidden, mask).sum() w.r.t. hidden",
                 atol=1e-12, hint="the padding must get exactly zero gradient, each real token 1/L")
    empty = topic.mean_pool(torch.randn(2, 3, 4, generator=g), torch.tensor([[True, False, False], [False] * 3]))
    check_tensor(empty, "mean_pool with a row whose mask is all False", shape=(2, 4),
                 hint="a row with no real token divides 0 by 0: clamp the count to at least 1 (clamp(min=1))")
    assert_close(empty[1], torch.zeros(4), "mean_pool of a row without real tokens", atol=0,
                 hint="a row with no real token pools to zeros: clamp the count to at least 1")


# ------------------------------------------------------------------ SentenceEncoder
@shapes
@task("SentenceEncoder")
def test_sentence_encoder_shapes_on_the_input_device(topic):
    recorder = _Recorder()
    model = topic.SentenceEncoder(recorder)
    assert model.encoder is recorder and model.normalize is False, (
        "SentenceEncoder(encoder) should keep the encoder as .encoder and normalize=False by default")
    with torch.device("meta"):
        model = topic.SentenceEncoder(Encoder(BertConfig.small(20, hidden=8, layers=1, heads=2, max_len=16)))
    ids = torch.zeros(3, 5, dtype=torch.int64, device="meta")
    mask = torch.ones(3, 5, dtype=torch.bool, device="meta")
    check_on_meta("SentenceEncoder(Encoder(hidden 8)) on ids (3, 5) on the meta device", model, ids, mask,
                  shape=(3, 8), hint=ENCODER)
    normalized = topic.SentenceEncoder(model.encoder, normalize=True)
    check_on_meta("SentenceEncoder(..., normalize=True) on the meta device", normalized, ids, mask, shape=(3, 8),
                  hint=ENCODER)


@gradients
@task("SentenceEncoder")
def test_sentence_encoder_pools_the_encoders_output_with_the_mask(topic):
    g = torch.Generator().manual_seed(1)
    ids, mask = _batch(g, [5, 2, 3])
    recorder = _Recorder().double()
    with calling(ENCODER):
        out = topic.SentenceEncoder(recorder)(ids, mask)
    assert len(recorder.masks) == 1 and recorder.masks[0] is not None and torch.equal(recorder.masks[0], mask), (
        "SentenceEncoder should call self.encoder(ids, mask) once, with the caller's mask. Likely cause: the "
        "encoder called without the mask (it then attends to the padding), or with a mask of its own")
    hidden = recorder.embedding(ids).detach()
    assert_close(out, _reference_pool(hidden, mask), "SentenceEncoder(encoder)(ids, mask), normalize=False",
                 atol=1e-10, hint="mean-pool the encoder's token vectors over the real tokens (not [CLS], not "
                                  "every position); with normalize=False the vectors keep their length")
    with calling(ENCODER):
        unit = topic.SentenceEncoder(recorder, normalize=True)(ids, mask)
    expected = _reference_pool(hidden, mask)
    assert_close(unit, expected / expected.norm(dim=-1, keepdim=True), "SentenceEncoder(..., normalize=True)",
                 atol=1e-10, hint="normalize=True divides each sentence's vector (each row) by its length: "
                                  "F.normalize(x, dim=-1)")
    # A real (tiny) BERT: each sentence gets the vector it gets alone, whatever the padding holds.
    model = topic.SentenceEncoder(fill_uniform(_encoder(), g, 0.3)).eval()
    ids, mask = _batch(g, [6, 2, 4, 1])
    with torch.no_grad():
        batched = model(ids, mask)
        for b, L in enumerate(mask.sum(1).tolist()):
            alone = model(ids[b:b + 1, :L], mask[b:b + 1, :L])
            assert_close(batched[b], alone[0], f"sentence {b} (length {L} of 6) in a padded batch vs alone",
                         atol=1e-10, hint="padding must change nothing: pass the mask to the encoder (its padding "
                                          "holds word ids, not 0, here) and pool over the real tokens only")


REFERENCE = json.loads((Path(kata.__file__).parent / "minilm_reference.json").read_text(encoding="utf-8"))


@functools.cache
def _minilm():
    return minilm_encoder()  # the real weights, read once per process (eval mode)


@gradients
@task("SentenceEncoder")
def test_real_minilm_with_your_pooling_gives_the_real_sentence_embeddings(topic, minilm_weights):
    sentences = REFERENCE["sentences"]
    ids, mask, _ = pad_sequences([s["input_ids"] for s in sentences])  # one padded batch of the ten
    expected = torch.tensor([s["embedding"] for s in sentences])  # (10, 384), the real model's
    model = topic.SentenceEncoder(_minilm(), normalize=True)
    with torch.no_grad(), calling(ENCODER):
        got = model(ids, mask)
    check_tensor(got, "SentenceEncoder(minilm_encoder(), normalize=True) on the ten reference sentences",
                 shape=expected.shape)
    cos = F.cosine_similarity(got.double(), expected.double(), dim=-1)
    worst = int(cos.argmin())
    assert_close(cos, torch.ones(len(sentences), dtype=torch.float64),
                 f"the cosine between your embedding and the real one, per sentence (worst: "
                 f"{sentences[worst]['text']!r})", atol=1e-4,
                 hint="sentence-transformers pools all-MiniLM-L6-v2 by the mean over the real tokens ([CLS] and "
                      "[SEP] included, the padding not) and normalises to length 1; the empty sentence is [CLS] [SEP]")
    assert_close(got, expected, "your embeddings of the ten reference sentences", atol=1e-4,
                 hint="normalize=True: each vector has length 1")


# ------------------------------------------------------------------ SBERT
@gradients
@task("SBERT")
def test_sbert_embeds_every_branch_with_one_encoder(topic):
    g = torch.Generator().manual_seed(2)
    model, encoder = _sbert(topic, g)
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == len(list(encoder.parameters())) and all(
        a is b for a, b in zip(model.parameters(), encoder.parameters())), (
        f"SBERT(encoder) should hold one set of parameters, the encoder's ({len(list(encoder.parameters()))} "
        f"tensors), got {len(names)}. Likely cause: a second encoder (a copy) for the second branch")
    branches = [_batch(g, lengths) for lengths in ([4, 2], [3, 3], [5, 1])]  # each padded to its own T
    with calling(BRANCHES):
        out = model(*branches)
    assert isinstance(out, (tuple, list)) and len(out) == 3, (
        f"SBERT(...)(three branches) should return three sentence vectors, got {type(out).__name__} of "
        f"{len(out) if isinstance(out, (tuple, list)) else '?'}")
    for i, ((ids, mask), u) in enumerate(zip(branches, out)):
        assert_close(u, encoder(ids, mask), f"branch {i}'s vectors", atol=1e-10, hint=BRANCHES)
    pair = model(*branches[:2])
    assert len(pair) == 2, f"SBERT(...)(two branches) should return two sentence vectors, got {len(pair)}"
    weights = [torch.randn(2, 8, generator=g, dtype=torch.float64) for _ in range(3)]
    params = list(encoder.parameters())
    for i in (1, 2):  # a loss on one later branch alone must train the shared encoder
        ours = torch.autograd.grad((out[i] * weights[i]).sum(), params, retain_graph=True, allow_unused=True)
        theirs = torch.autograd.grad((encoder(*branches[i]) * weights[i]).sum(), params, allow_unused=True)
        for (name, _), a, b in zip(encoder.named_parameters(), ours, theirs):
            assert a is not None and b is not None or a is b, (
                f"a loss on branch {i} alone gives the encoder's {name} no gradient. Likely cause: that branch "
                "is embedded under torch.no_grad(), detached, or by another module")
            if b is not None:
                assert_close(a, b, f"the gradient of branch {i}'s loss w.r.t. the encoder's {name}", atol=1e-10,
                             hint="every branch's vectors come from self.encoder, with their graph")


# ------------------------------------------------------------------ SoftmaxHead
@shapes
@task("SoftmaxHead")
def test_softmax_head_layer_and_shapes(topic):
    head = topic.SoftmaxHead(5, 4)
    assert isinstance(getattr(head, "classifier", None), nn.Linear), (
        "SoftmaxHead(5, 4).classifier should be an nn.Linear")
    sizes = (head.classifier.in_features, head.classifier.out_features)
    assert sizes == (15, 4), (f"SoftmaxHead(5, 4).classifier should be nn.Linear(15, 4): it reads [u; v; |u - v|], "
                              f"3 * embed_dim features, and gives num_labels logits; got nn.Linear{sizes}")
    default = topic.SoftmaxHead(5).classifier.out_features
    assert default == 3, f"SoftmaxHead(5) should have 3 labels by default (NLI), got {default}"
    with torch.device("meta"):
        head = topic.SoftmaxHead(6, 2)
    check_on_meta("SoftmaxHead(6, 2)(u (3, 6), v (3, 6)) on the meta device", head,
                  torch.zeros(3, 6, device="meta"), torch.zeros(3, 6, device="meta"), shape=(3, 2), hint=HEAD)
    one = topic.SoftmaxHead(6, 2)(torch.zeros(1, 6), torch.ones(1, 6))
    check_tensor(one, "SoftmaxHead(6, 2) on a batch of one", shape=(1, 2), hint=HEAD)


@gradients
@task("SoftmaxHead")
def test_softmax_head_is_w_u_v_abs_difference_and_trains_the_encoder(topic):
    g = torch.Generator().manual_seed(3)
    head = fill_uniform(topic.SoftmaxHead(8, 3), g, 0.5).double()
    u = torch.randn(4, 8, generator=g, dtype=torch.float64)
    v = torch.randn(4, 8, generator=g, dtype=torch.float64)
    with calling(HEAD):
        logits = head(u, v)
    W, b = head.classifier.weight, head.classifier.bias
    expected = torch.cat([u, v, (u - v).abs()], -1) @ W.T + b
    assert_close(logits, expected, "SoftmaxHead(8, 3)(u, v)", atol=1e-10,
                 hint=HEAD + ": in that order, and the absolute difference, not u - v or u * v")
    # The classification objective: its gradient reaches the shared encoder through both branches.
    model, encoder = _sbert(topic, g)
    a, p = _batch(g, [4, 2, 3]), _batch(g, [2, 5, 1])
    labels = torch.tensor([0, 2, 1])
    with calling(BRANCHES):
        loss = F.cross_entropy(head(*model(a, p)), labels)
    params = list(encoder.parameters()) + list(head.parameters())
    ours = torch.autograd.grad(loss, params)
    theirs = torch.autograd.grad(F.cross_entropy(head.classifier(torch.cat(
        [encoder(*a), encoder(*p), (encoder(*a) - encoder(*p)).abs()], -1)), labels), params)
    for name, x, y in zip([n for n, _ in encoder.named_parameters()] + ["classifier.weight", "classifier.bias"],
                          ours, theirs):
        assert_close(x, y, f"the classification objective's gradient w.r.t. {name}", atol=1e-10,
                     hint="cross-entropy of SoftmaxHead(u, v) with u and v from the same encoder")


# ------------------------------------------------------------------ cosine_loss
@gradients
@task("cosine_loss")
def test_cosine_loss_is_the_mse_of_the_cosine_and_trains_the_encoder(topic):
    g = torch.Generator().manual_seed(4)
    u = torch.randn(5, 6, generator=g, dtype=torch.float64) * torch.tensor([1e-3, 1.0, 30.0, 1e3, 2.0])[:, None]
    v = torch.randn(5, 6, generator=g, dtype=torch.float64) * torch.tensor([5.0, 1e-2, 1.0, 1e3, 0.5])[:, None]
    scores = torch.tensor([0.8, -0.2, 0.0, 1.0, 0.4], dtype=torch.float64)
    before = clones(u=u, v=v, scores=scores)
    with calling(COSINE):
        loss = topic.cosine_loss(u, v, scores)
    check_unchanged("cosine_loss(u, v, scores)", before, u=u, v=v, scores=scores)
    cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))
    check_tensor(loss, "cosine_loss(u (5, 6), v (5, 6), scores (5,))", shape=(), hint="a scalar: the batch mean")
    assert_close(loss, ((cos - scores) ** 2).mean(), "cosine_loss on vectors of lengths 1e-3 .. 1e3", atol=1e-10,
                 hint=COSINE + ": the cosine, not the dot product, so the vectors' lengths do not count")
    one = topic.cosine_loss(u[:1], v[:1], scores[:1])
    assert_close(one, (cos[0] - scores[0]) ** 2, "cosine_loss on a batch of one", atol=1e-10, hint=COSINE)
    check_on_meta("cosine_loss on the meta device", topic.cosine_loss, u.to("meta"), v.to("meta"),
                  scores.to("meta"), shape=(), hint=COSINE)
    model, encoder = _sbert(topic, g)
    a, b = _batch(g, [4, 2, 3]), _batch(g, [2, 5, 1])
    target = torch.tensor([0.9, -0.5, 0.1], dtype=torch.float64)
    with calling(BRANCHES):
        loss = topic.cosine_loss(*model(a, b), target)
    params = list(encoder.parameters())
    ours = torch.autograd.grad(loss, params)
    theirs = torch.autograd.grad(((F.cosine_similarity(encoder(*a), encoder(*b), dim=-1) - target) ** 2).mean(),
                                 params)
    for (name, _), x, y in zip(encoder.named_parameters(), ours, theirs):
        assert_close(x, y, f"the regression objective's gradient w.r.t. the encoder's {name}", atol=1e-10,
                     hint="keep the loss in the graph: no .item(), .detach() or torch.tensor(...) of the cosines")


# ------------------------------------------------------------------ triplet_loss
@gradients
@task("triplet_loss")
def test_triplet_loss_equals_triplet_margin_loss_and_trains_the_encoder(topic):
    g = torch.Generator().manual_seed(5)
    a, p, n = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    p[:2] = a[:2] + 0.01 * p[:2]  # two triplets already right by more than the margin: they add 0
    n[2] = a[2] + 0.01 * n[2]  # and one badly wrong
    before = clones(anchor=a, positive=p, negative=n)
    for margin in (None, 0.0, 2.5):
        kwargs = {} if margin is None else {"margin": margin}
        with calling(TRIPLET):
            loss = topic.triplet_loss(a, p, n, **kwargs)
        check_tensor(loss, f"triplet_loss(anchor, positive, negative{f', margin={margin}' if kwargs else ''})",
                     shape=(), hint="a scalar: the mean over the batch")
        m = 1.0 if margin is None else margin
        # F.triplet_margin_loss refuses margin 0, so the reference is its formula, checked against it otherwise.
        expected = ((a - p).norm(dim=-1) - (a - n).norm(dim=-1) + m).clamp(min=0).mean()
        if m > 0:
            assert_close(expected, F.triplet_margin_loss(a, p, n, margin=m, p=2, eps=0), "the suite's reference")
        what = "the default margin (1.0)" if margin is None else f"margin={margin}"
        assert_close(loss, expected, f"triplet_loss with {what}", atol=1e-6,
                     hint=TRIPLET + (": margin=0.0 is a margin too (`margin or 1.0` reads it as not given)"
                                     if margin == 0.0 else ""))
    check_unchanged("triplet_loss(anchor, positive, negative)", before, anchor=a, positive=p, negative=n)
    one = topic.triplet_loss(a[2:3], p[2:3], n[2:3])
    assert_close(one, F.triplet_margin_loss(a[2:3], p[2:3], n[2:3], eps=0), "triplet_loss on a batch of one",
                 atol=1e-6, hint=TRIPLET)
    model, encoder = _sbert(topic, g)
    branches = [_batch(g, lengths) for lengths in ([4, 2, 3], [2, 5, 1], [3, 3, 3])]
    with calling(BRANCHES):
        loss = topic.triplet_loss(*model(*branches), margin=5.0)  # 5: every triplet inside the margin
    params = list(encoder.parameters())
    ours = torch.autograd.grad(loss, params)
    theirs = torch.autograd.grad(F.triplet_margin_loss(*(encoder(*b) for b in branches), margin=5.0, eps=0), params)
    for (name, _), x, y in zip(encoder.named_parameters(), ours, theirs):
        assert_close(x, y, f"the triplet objective's gradient w.r.t. the encoder's {name}", atol=1e-6,
                     hint="the three vectors from one encoder, the loss kept in the graph")


# ------------------------------------------------------------------ search
@shapes
@task("search")
def test_search_shapes_dtype_and_device(topic):
    with on_meta("search(queries (2, 4), corpus (6, 4), k=3)", hint=SEARCH) as meta:
        scores, indices = topic.search(torch.zeros(2, 4, device="meta"), torch.zeros(6, 4, device="meta"), 3)
    if meta.ran:
        check_tensor(scores, "search's scores on the meta device", shape=(2, 3), device="meta")
        check_tensor(indices, "search's indices on the meta device", shape=(2, 3), dtype=torch.int64, device="meta")
    g = torch.Generator().manual_seed(6)
    scores, indices = topic.search(torch.randn(1, 4, generator=g), torch.randn(5, 4, generator=g), k=1)
    check_tensor(scores, "search(one query, corpus (5, 4), k=1) scores", shape=(1, 1), hint=SEARCH)
    check_tensor(indices, "search(one query, corpus (5, 4), k=1) indices", shape=(1, 1), dtype=torch.int64,
                 hint=SEARCH)


@gradients
@task("search")
def test_search_returns_the_top_k_cosines_in_decreasing_order(topic):
    g = torch.Generator().manual_seed(7)
    queries = torch.randn(3, 5, generator=g, dtype=torch.float64) * torch.tensor([0.01, 1.0, 50.0])[:, None]
    corpus = torch.randn(8, 5, generator=g, dtype=torch.float64)
    corpus = corpus * torch.tensor([0.1, 10, 1, 3, 0.5, 100, 2, 0.02], dtype=torch.float64)[:, None]
    before = clones(queries=queries, corpus=corpus)
    cos = F.cosine_similarity(queries[:, None], corpus[None], dim=-1)  # (3, 8)
    for k in (4, 8, 1):
        with calling(SEARCH):
            scores, indices = topic.search(queries, corpus, k)
        order = cos.argsort(dim=-1, descending=True)[:, :k]
        check_tensor(indices, f"search(queries (3, 5), corpus (8, 5), k={k}) indices", shape=(3, k),
                     dtype=torch.int64, hint=SEARCH)
        assert torch.equal(indices, order), (
            f"search(..., k={k}) indices: expected {order.tolist()}, got {indices.tolist()}. Likely cause: "
            "ranked by the dot product (normalise both sides first: the corpus' vectors have lengths 0.02 to 100 "
            "here), in increasing order, or over the wrong dimension (each query's row of (Q, N) cosines)")
        assert_close(scores, cos.gather(1, order), f"search(..., k={k}) scores", atol=1e-10,
                     hint="the scores are the cosines themselves (between -1 and 1): normalise the queries too")
    check_unchanged("search(queries, corpus, k)", before, queries=queries, corpus=corpus)


@shapes
@task("search")
def test_main_searches_with_the_real_weights(topic, minilm_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(topic, "minilm_encoder", _minilm)  # the real weights, read once for the whole suite
    assert topic.main(["--k", "2", "--device", "cpu"]) == 0, "main() should search the built-in sentences, return 0"
    out = capsys.readouterr().out
    assert "query: a pet that sleeps all day" in out and "My kitten spends the whole day napping" in out, (
        f"main() should print each query and its top hits (a pet that sleeps -> the napping kitten), printed:\n"
        f"{out[-800:]}")
    corpus = tmp_path / "sentences.txt"
    corpus.write_text("The stock market fell today.\nA cat naps on the sofa.\nIt is raining.\n", encoding="utf-8")
    assert topic.main(["--corpus", str(corpus), "--query", "a sleepy kitten", "--k", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "A cat naps on the sofa." in out, f"main(--corpus, --query 'a sleepy kitten', --k 1) printed:\n{out[-600:]}"
    assert topic.main(["--corpus", str(tmp_path / "missing.txt"), "--device", "cpu"]) == 1, (
        "main(['--corpus', a missing file]) should print an error and return 1")
    assert "error:" in capsys.readouterr().err

    def missing():
        raise WeightsError("the real BERT weights are not installed: run `uv sync`")

    monkeypatch.setattr(topic, "minilm_encoder", missing)
    assert topic.main(["--device", "cpu"]) == 1, "main() without the weights should print why and return 1"
    assert "uv sync" in capsys.readouterr().err, "main() without the weights should print WeightsError's sentence"
    assert topic.main(["--train", "--train-size", "32", "--test-size", "20", "--epochs", "1", "--device",
                       "cpu"]) == 0, "main(['--train', ...]) should train a small SBERT and return 0"
    assert "ranked right" in capsys.readouterr().out


# ------------------------------------------------------------------ train_step
@gradients
@task("train_step")
def test_train_step_against_hand_written_adam_steps(topic):
    g = torch.Generator().manual_seed(8)
    batches = [tuple(t for lengths in ([4, 2, 3], [2, 5, 1], [3, 3, 4]) for t in _batch(g, lengths))
               for _ in range(2)]
    model, _ = _sbert(topic, g)
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with calling("train_step(model, optimizer, (ids_a, mask_a, ids_p, mask_p, ids_n, mask_n))"):
        losses = [topic.train_step(model, optimizer, batch) for batch in batches]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    expected = []
    for ids_a, mask_a, ids_p, mask_p, ids_n, mask_n in batches:
        optimizer.zero_grad()
        enc = reference.encoder
        loss = F.triplet_margin_loss(enc(ids_a, mask_a), enc(ids_p, mask_p), enc(ids_n, mask_n), margin=1.0, eps=0)
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: zero_grad, anchor, positive, negative = model((ids_a, mask_a), (ids_p, mask_p), "
            "(ids_n, mask_n)), triplet_loss(anchor, positive, negative) with margin 1, backward, step, loss.item()")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses of two train_step calls", atol=1e-6,
                 hint=hint)
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert_close(got, want, f"parameter {name} after two train_step calls", atol=1e-6, hint=hint)


TRAIN_SIZE, EPOCHS = 480, 2


@accuracy
@task("train_step")
def test_trained_sbert_ranks_paraphrases_above_non_paraphrases(topic, seed, device):
    vocab = Vocab(WORDS)  # every word of the grammar, fixed ids
    triplets = paraphrases(TRAIN_SIZE, seed=seed)
    test_triplets = paraphrases(500, seed=seed, split="test")
    data = topic.triplet_data(triplets, vocab)
    test_data = topic.triplet_data(test_triplets, vocab)
    torch.manual_seed(seed)
    model = topic.SBERT(topic.SentenceEncoder(Encoder(BertConfig.small(len(vocab))))).to(device)
    before = topic.ranking_accuracy(model, test_data)
    losses = topic.train(model, tuple(t.to(device) for t in data), epochs=EPOCHS, lr=1e-3, batch_size=32, seed=seed)
    assert len(losses) == EPOCHS, f"train(..., epochs={EPOCHS}) should return {EPOCHS} losses, got {len(losses)}"
    after = topic.ranking_accuracy(model, test_data)
    bag_of_words = topic.bag_of_words_accuracy(test_triplets)
    assert_at_most(before, 0.75, "paraphrase ranking of the untrained SBERT (test triplets with cos(a, p) > cos(a, n))",
                   hint="before training the encoder is random (the solution: 0.45-0.52 on 10 seeds): a higher "
                        "figure means the model was trained before it was measured")
    assert_at_least(after, 0.9, "paraphrase ranking after 30 triplet steps (test triplets with cos(a, p) > cos(a, n))",
                    chance=0.5, hint="the solution reaches 0.97-1.0 on 10 seeds; check train_step (the positive "
                                     "is pulled closer, the negative pushed away), the pooling and the mask")
    assert_at_least(after - bag_of_words, 0.4, "paraphrase ranking after training minus the bag-of-words ranking",
                    hint="word overlap alone ranks 0.42-0.48 of the triplets right (a non-paraphrase shares more "
                         "words with the anchor than the paraphrase does); the trained SBERT must beat it by far")

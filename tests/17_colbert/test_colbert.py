"""Hidden suite for 17 ColBERT: the two tokenizers' ids, the encoders (markers, query augmentation
with [MASK] read and scored, a projection without bias, unit vectors, padding and punctuation out
of the document's mask), MaxSim against an einsum reference (padded vectors never win, scores do
not move with more padding), the in-batch softmax loss, the training step against hand-written
Adam steps, an index that encodes each document once, MRR@10 and recall@k, and retrieval on
generated passages far above bag-of-words and a single-vector bi-encoder of the same budget.

Exact comparisons run in float64 on a small kata.bert.Encoder with the reference pieces written
here (`_embed`, `_maxsim`); the encoder itself is kata's, so only what ColBERT adds is checked.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

from grader.checks import (
    assert_at_least,
    assert_close,
    assert_equal,
    calling,
    check_on_meta,
    check_tensor,
    check_unchanged,
    clones,
)
from kata.bert import BertConfig, Encoder
from kata.corpus import WORDS, retrieval
from kata.text import CLS_ID, MASK_ID, PAD_ID, SEP_ID, Vocab

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

VOCAB = Vocab(WORDS)
W = VOCAB.stoi  # word -> id
ENCODE = "your ColBERT's encode_query / encode_document (and embed) raised"
MAXSIM = ("maxsim(Q (B, Lq, dim), D (N, T, dim), d_mask (N, T)) compares every query vector with every document "
          "vector: torch.einsum('bid,ntd->bnit', Q, D) is (B, N, Lq, T)")


def _tokenizer(topic, **kwargs):
    return topic.ColBERTTokenizer(VOCAB, **kwargs)


def _model(topic, *, dim=6, skiplist=(W["."], W["?"]), dropout=0.0, seed=0):
    """A small float64 ColBERT over VOCAB and its two markers: hidden 16, 2 layers, 2 heads."""
    torch.manual_seed(seed)
    config = BertConfig.small(len(VOCAB) + 2, hidden=16, layers=2, heads=2, max_len=32, dropout=dropout)
    return topic.ColBERT(config, dim, skiplist=skiplist).double()


def _embed(model, ids, mask):
    """The reference: encoder (reading `mask`), linear without bias, unit vectors."""
    return F.normalize(F.linear(model.encoder(ids, mask), model.linear.weight), dim=-1)


def _maxsim(Q, D, d_mask, q_mask=None):
    """The reference: for each query b and document n, einsum('qd,nd->qn'), max over the allowed n, sum over q."""
    scores = torch.zeros(Q.shape[0], D.shape[0], dtype=Q.dtype)
    for b in range(Q.shape[0]):
        for n in range(D.shape[0]):
            sim = torch.einsum("qd,td->qt", Q[b], D[n][d_mask[n]])  # (Lq, the allowed T)
            best = sim.max(dim=1).values  # (Lq,)
            if q_mask is not None:
                best = best[q_mask[b]]
            scores[b, n] = best.sum()
    return scores


def _documents():
    """ids (3, 9), mask: real tokens with "." and "?" inside, padding after."""
    rows = [[CLS_ID, len(VOCAB) + 1, W["the"], W["cat"], W["sleeps"], W["."], W["the"], W["dog"], SEP_ID],
            [CLS_ID, len(VOCAB) + 1, W["who"], W["?"], SEP_ID],
            [CLS_ID, len(VOCAB) + 1, W["the"], W["baker"], W["eats"], W["the"], W["bread"], W["."], SEP_ID]]
    ids = torch.zeros(3, 9, dtype=torch.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
    return ids, ids != PAD_ID


def _queries(g, B=2, Lq=7):
    """Query ids (B, Lq): [CLS] [Q] random words, then [MASK]s."""
    ids = torch.randint(5, len(VOCAB), (B, Lq), generator=g)
    ids[:, 0], ids[:, 1], ids[:, -3:] = CLS_ID, len(VOCAB), MASK_ID
    return ids


# ------------------------------------------------------------------ ColBERTTokenizer
@shapes
@task("ColBERTTokenizer")
def test_queries_are_cls_q_words_then_masks_to_query_len(topic):
    tok = _tokenizer(topic, query_len=8)
    Q = len(VOCAB)
    assert (tok.q_id, tok.d_id, tok.vocab_size) == (Q, Q + 1, Q + 2), "the given markers' ids changed"
    with calling("queries(texts) returns ids (B, query_len): [CLS] [Q] the query's ids, then [MASK]s"):
        ids = tok.queries(["who feeds the sheep ?", "who feeds the sheep in the farm by the park ?", ""])
    expected = torch.tensor([
        [CLS_ID, Q, W["who"], W["feeds"], W["the"], W["sheep"], W["?"], MASK_ID],
        [CLS_ID, Q, W["who"], W["feeds"], W["the"], W["sheep"], W["in"], W["the"]],  # cut to query_len
        [CLS_ID, Q, *[MASK_ID] * 6],  # an empty query is all augmentation
    ])
    check_tensor(ids, "ColBERTTokenizer(vocab, query_len=8).queries([3 queries])", shape=(3, 8), dtype=torch.int64,
                 hint="every query has exactly query_len ids: cut longer ones, pad shorter ones")
    assert_equal(ids, expected, "ColBERTTokenizer(vocab, query_len=8).queries([...])",
                 hint="[CLS] (2), then the marker [Q] (self.q_id), then vocab.encode(text), all cut to query_len; "
                      "shorter queries are padded with [MASK] (4), not [PAD] (0): the [MASK]s are the query's "
                      "augmentation, read and scored like words (no [SEP])")
    short = _tokenizer(topic, query_len=4).queries(("who eats the cake ?",))  # a tuple of texts is a Sequence too
    assert_equal(short, torch.tensor([[CLS_ID, Q, W["who"], W["eats"]]]),
                 "ColBERTTokenizer(vocab, query_len=4).queries(('who eats the cake ?',))",
                 hint="query_len counts [CLS] and [Q]: the query keeps its first query_len - 2 tokens")


@shapes
@task("ColBERTTokenizer")
def test_documents_are_cls_d_words_sep_padded_to_the_longest(topic):
    tok = _tokenizer(topic, doc_len=7)
    D = len(VOCAB) + 1
    with calling("documents(texts) returns ids (N, T) and mask (N, T): kata.text.pad_sequences makes both"):
        ids, mask = tok.documents(["the cat sleeps .", "the baker eats the bread in the park .", "the dog"])
    expected = torch.tensor([
        [CLS_ID, D, W["the"], W["cat"], W["sleeps"], W["."], SEP_ID],
        [CLS_ID, D, W["the"], W["baker"], W["eats"], W["the"], SEP_ID],  # cut to doc_len, [SEP] kept
        [CLS_ID, D, W["the"], W["dog"], SEP_ID, PAD_ID, PAD_ID],
    ])
    check_tensor(ids, "ColBERTTokenizer(vocab, doc_len=7).documents([3 passages]) ids", shape=(3, 7),
                 dtype=torch.int64, hint="rows padded to the longest, which is at most doc_len")
    assert_equal(ids, expected, "ColBERTTokenizer(vocab, doc_len=7).documents([...]) ids",
                 hint="[CLS] (2), the marker [D] (self.d_id), the passage's first doc_len - 3 ids, [SEP] (3): a "
                      "long passage is cut before the [SEP] is added, so every row ends in [SEP]; [PAD] (0) after")
    check_tensor(mask, "documents(...) mask", shape=(3, 7), dtype=torch.bool)
    assert_equal(mask, expected != PAD_ID, "documents(...) mask", hint="True at every real token, [SEP] included")
    ids, mask = _tokenizer(topic, doc_len=64).documents(["the cat sleeps .", "the dog"])
    check_tensor(ids, "ColBERTTokenizer(vocab, doc_len=64).documents(two short passages) ids", shape=(2, 7),
                 hint="pad to the longest document of the batch, not to doc_len")


# ------------------------------------------------------------------ ColBERT
@shapes
@task("ColBERT")
def test_colbert_layers_and_shapes_on_the_meta_device(topic):
    config = BertConfig.small(30, max_len=16)
    model = topic.ColBERT(config, 12)
    assert isinstance(model.encoder, Encoder), (
        f"ColBERT.encoder should be a kata.bert.Encoder(config), got {type(model.encoder).__name__}")
    check_tensor(model.linear.weight, "ColBERT(BertConfig.small(30), 12).linear.weight", shape=(12, 64),
                 hint="nn.Linear(config.hidden, dim): from the encoder's hidden size to dim")
    assert model.linear.bias is None, (
        "ColBERT.linear should have no bias (nn.Linear(..., bias=False)): the paper's projection is a matrix only")
    check_tensor(topic.ColBERT(config).linear.weight, "ColBERT(config).linear.weight (dim's default)", shape=(32, 64))
    with torch.device("meta"):
        model = topic.ColBERT(config, 12, skiplist=[5, 6])
    ids = torch.zeros(2, 9, dtype=torch.int64, device="meta")
    check_on_meta("ColBERT(...).encode_query(ids (2, 9))", model.encode_query, ids, shape=(2, 9, 12),
                  dtype=torch.float32, hint="the query's mask is made on the ids' device (torch.ones_like(ids, "
                                            "dtype=torch.bool)); one dim-vector per position")
    mask = torch.ones(3, 7, dtype=torch.bool, device="meta")
    with calling(ENCODE):
        result = model.encode_document(ids[:, :7].repeat(2, 1)[:3], mask)
    assert isinstance(result, tuple) and len(result) == 2, "encode_document(ids, mask) should return D, d_mask"
    check_tensor(result[0], "encode_document(ids (3, 7), mask) D on the meta device", shape=(3, 7, 12),
                 device="meta")
    check_tensor(result[1], "encode_document(ids (3, 7), mask) d_mask on the meta device", shape=(3, 7),
                 dtype=torch.bool, device="meta",
                 hint="compare the ids with self.skiplist (a buffer, already on the model's device): "
                      "torch.isin(ids, self.skiplist)")


@gradients
@task("ColBERT")
def test_embed_is_encoder_then_linear_then_unit_vectors(topic):
    model = _model(topic)
    ids, mask = _documents()
    with calling(ENCODE):
        x = model.embed(ids, mask)
    check_tensor(x, "ColBERT.embed(ids (3, 9), mask) in float64", shape=(3, 9, 6), dtype=torch.float64)
    assert_close(x, _embed(model, ids, mask), "ColBERT.embed(ids, mask)", atol=1e-10,
                 hint="self.encoder(ids, mask) (pass the mask: padding is not read), then self.linear, then "
                      "F.normalize(..., dim=-1): each token's vector, not each feature over the tokens, has length 1")
    assert_close(x.norm(dim=-1), torch.ones(3, 9, dtype=torch.float64), "the length of each of embed's vectors",
                 atol=1e-10, hint="L2-normalise over the last dimension (dim=-1)")


@gradients
@task("ColBERT")
def test_encode_query_reads_and_keeps_the_masks(topic):
    model = _model(topic)
    ids = _queries(torch.Generator().manual_seed(1))  # (2, 7), three [MASK]s each
    with calling(ENCODE):
        Q = model.encode_query(ids)
    expected = _embed(model, ids, torch.ones_like(ids, dtype=torch.bool))
    blind = _embed(model, ids, ids != MASK_ID)
    assert (expected - blind).abs().max() > 1e-3  # the test can tell the two apart
    assert_close(Q, expected, "ColBERT.encode_query(ids (2, 7) ending in three [MASK]s)", atol=1e-10,
                 hint="every position is read, the [MASK]s included: they are the query's augmentation, not its "
                      "padding (ColBERT's first code hid them from attention; the paper reads them), so the mask is "
                      "True everywhere; then the same linear and normalisation as documents")


@gradients
@task("ColBERT")
def test_encode_document_masks_padding_and_punctuation_but_reads_them(topic):
    model = _model(topic)
    ids, mask = _documents()
    before = clones(mask=mask, ids=ids)
    with calling(ENCODE):
        D, d_mask = model.encode_document(ids, mask)
    check_unchanged("encode_document(ids, mask)", before, mask=mask, ids=ids)
    assert_close(D, _embed(model, ids, mask), "ColBERT.encode_document(ids, mask) D", atol=1e-10,
                 hint="the encoder reads every real token, punctuation included (pass mask, not d_mask): "
                      "punctuation leaves MaxSim only")
    punctuation = (ids == W["."]) | (ids == W["?"])
    check_tensor(d_mask, "encode_document(ids, mask) d_mask", shape=(3, 9), dtype=torch.bool)
    assert_equal(d_mask, mask & ~punctuation, "encode_document(ids, mask) d_mask (skiplist: '.' and '?')",
                 hint="d_mask is mask without the ids of self.skiplist: mask & ~torch.isin(ids, self.skiplist); "
                      "padding stays out (and [CLS], [D], [SEP] stay in)")
    plain = _model(topic, skiplist=())
    plain.load_state_dict(model.state_dict())
    _, d_mask = plain.encode_document(ids, mask)
    assert_equal(d_mask, mask, "ColBERT(config, skiplist=()).encode_document(ids, mask) d_mask",
                 hint="an empty skiplist keeps every real token; the skiplist is what the model was given")


@gradients
@task("ColBERT")
def test_scores_do_not_change_when_documents_are_padded_further(topic):
    model = _model(topic)
    ids, mask = _documents()
    q_ids = _queries(torch.Generator().manual_seed(2))
    wider = torch.cat([ids, torch.zeros(3, 5, dtype=torch.int64)], dim=1)  # (3, 14): five more [PAD]s
    with calling(ENCODE):
        Q = model.encode_query(q_ids)
        D, d_mask = model.encode_document(ids, mask)
        D2, d_mask2 = model.encode_document(wider, wider != PAD_ID)
    assert_close(D2[:, :9][mask], D[mask], "the real tokens' vectors of documents padded with five more [PAD]s",
                 atol=1e-10, hint="the encoder must get the mask: padding may not be attended to")
    assert_close(_maxsim(Q, D2, d_mask2), _maxsim(Q, D, d_mask), "MaxSim scores of documents padded further",
                 atol=1e-10, hint="padding must be out of d_mask: a padded vector may not win a max")


# ------------------------------------------------------------------ maxsim
@shapes
@task("maxsim")
def test_maxsim_shapes_dtype_and_device(topic):
    args = (torch.zeros(3, 5, 4, device="meta"), torch.zeros(2, 6, 4, device="meta"),
            torch.ones(2, 6, dtype=torch.bool, device="meta"))
    check_on_meta("maxsim(Q (3, 5, 4), D (2, 6, 4), d_mask (2, 6))", topic.maxsim, *args, shape=(3, 2),
                  hint="scores (B, N), on Q's device: one score per query and document")
    check_on_meta("maxsim(..., q_mask (3, 5))", topic.maxsim, *args, torch.ones(3, 5, dtype=torch.bool, device="meta"),
                  shape=(3, 2))
    g = torch.Generator().manual_seed(3)
    one = topic.maxsim(torch.randn(1, 5, 4, generator=g, dtype=torch.float64),
                       torch.randn(1, 6, 4, generator=g, dtype=torch.float64), torch.ones(1, 6, dtype=torch.bool))
    check_tensor(one, "maxsim of one query against one document, float64", shape=(1, 1), dtype=torch.float64,
                 hint="keep both dimensions when B = N = 1 (no .squeeze()); the scores' dtype is Q's")


@gradients
@task("maxsim")
def test_maxsim_equals_the_einsum_reference(topic):
    g = torch.Generator().manual_seed(4)
    Q = F.normalize(torch.randn(3, 5, 4, generator=g, dtype=torch.float64), dim=-1).requires_grad_(True)
    D = F.normalize(torch.randn(4, 6, 4, generator=g, dtype=torch.float64), dim=-1).requires_grad_(True)
    d_mask = torch.rand(4, 6, generator=g) < 0.6
    d_mask[:, 0] = True
    q_mask = torch.tensor([[True] * 5, [True, True, True, False, False], [True, False, True, False, True]])
    with calling(MAXSIM):
        scores = topic.maxsim(Q, D, d_mask)
    expected = _maxsim(Q, D, d_mask)
    check_tensor(scores, "maxsim(Q (3, 5, 4), D (4, 6, 4), d_mask)", shape=(3, 4), dtype=torch.float64)
    assert_close(scores, expected, "maxsim(Q, D, d_mask) against einsum('qd,nd->qn'), max over n, sum over q",
                 atol=1e-10, hint="for each query vector, its largest dot with the document's allowed vectors "
                                  "(max over T, the document's tokens), then the sum over the query's vectors "
                                  "(not the mean, and not max over the query)")
    weights = torch.randn(3, 4, generator=g, dtype=torch.float64)
    got = torch.autograd.grad((scores * weights).sum(), (Q, D))
    want = torch.autograd.grad((expected * weights).sum(), (Q, D))
    for name, a, b in zip(("Q", "D"), got, want):
        assert_close(a, b, f"the gradient of maxsim with respect to {name}", atol=1e-10,
                     hint="only each max's winner gets a gradient: compute the scores from Q and D inside the graph")
    with calling(MAXSIM):
        masked = topic.maxsim(Q, D, d_mask, q_mask)
    assert_close(masked, _maxsim(Q, D, d_mask, q_mask), "maxsim(Q, D, d_mask, q_mask)", atol=1e-10,
                 hint="a query vector where q_mask is False adds nothing to the sum (torch.where(q_mask, best, 0))")
    assert_close(topic.maxsim(Q, D, d_mask, torch.ones(3, 5, dtype=torch.bool)), expected,
                 "maxsim(..., q_mask all True) against q_mask=None", atol=1e-12,
                 hint="q_mask=None means every query vector counts, as an all-True q_mask does")


@gradients
@task("maxsim")
def test_masked_document_vectors_never_win_a_max(topic):
    # Every real document vector points away from every query vector (dots below 0); the padding's
    # vectors point straight at them, 100 times longer. The best real dot must win, not 0, not 100.
    g = torch.Generator().manual_seed(5)
    Q = F.normalize(torch.rand(2, 3, 4, generator=g, dtype=torch.float64) + 0.5, dim=-1)  # positive entries
    D = -F.normalize(torch.rand(3, 5, 4, generator=g, dtype=torch.float64) + 0.5, dim=-1)  # negative entries
    d_mask = torch.tensor([[True, True, True, False, False], [True, False, False, False, False],
                           [True, True, True, True, False]])
    D[~d_mask] = 100 * Q[0, 0]
    scores = topic.maxsim(Q, D, d_mask)
    expected = _maxsim(Q, D, d_mask)
    assert bool((expected < 0).all())
    assert_close(scores, expected, "maxsim where every real dot is negative and the padding's dots are 100",
                 atol=1e-10, hint="a vector outside d_mask must never win a max: fill its dots with -inf before the "
                                  "max (masked_fill(~d_mask, float('-inf'))); multiplying D or the dots by the mask "
                                  "gives the padding a dot of 0, which beats every negative one")
    wider = torch.cat([D, torch.randn(3, 4, 4, generator=g, dtype=torch.float64) * 50], dim=1)  # (3, 9, 4)
    wider_mask = torch.cat([d_mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    assert_close(topic.maxsim(Q, wider, wider_mask), scores, "maxsim of the same documents padded with four more "
                 "vectors (random, large) outside d_mask", atol=1e-12,
                 hint="scores may not change when documents are padded further")


# ------------------------------------------------------------------ in_batch_loss
@gradients
@task("in_batch_loss")
def test_in_batch_loss_is_cross_entropy_against_the_diagonal(topic):
    g = torch.Generator().manual_seed(6)
    hint = ("query b's positive is column b: F.cross_entropy(scores, torch.arange(B)) over each row (the "
            "documents), averaged over the B queries; extra columns after B are only negatives")
    for B, N, scale in ((3, 5, 3.0), (4, 4, 1.0), (1, 3, 1.0), (2, 3, 100.0)):
        scores = (torch.randn(B, N, generator=g, dtype=torch.float64) * scale).requires_grad_(True)
        with calling(hint):
            loss = topic.in_batch_loss(scores)
        expected = F.cross_entropy(scores, torch.arange(B))
        check_tensor(loss, f"in_batch_loss(scores ({B}, {N}))", shape=(), dtype=torch.float64,
                     hint="one number, the mean over the queries" + (
                         "; scores of about 100 need the log-softmax's max-shift (F.cross_entropy has it)"
                         if scale > 10 else ""))
        assert_close(loss, expected, f"in_batch_loss(scores ({B}, {N}) of scale {scale:g})", atol=1e-10, hint=hint)
        (got,) = torch.autograd.grad(loss, scores)
        (want,) = torch.autograd.grad(expected, scores)
        assert_close(got, want, f"the gradient of in_batch_loss(scores ({B}, {N}))", atol=1e-10, hint=hint)
    check_on_meta("in_batch_loss(scores (3, 5))", topic.in_batch_loss, torch.zeros(3, 5, device="meta"), shape=(),
                  hint="make the targets on the scores' device: torch.arange(B, device=scores.device)")


# ------------------------------------------------------------------ train_step
@gradients
@task("train_step")
def test_train_step_against_hand_written_adam_steps(topic):
    g = torch.Generator().manual_seed(7)
    model = _model(topic)  # float64: the key bias gets gradients of ~0, which Adam would blow up in float32
    reference = copy.deepcopy(model)
    q_ids = _queries(g, B=6, Lq=7)
    ids, mask = _documents()
    d_ids, d_mask = torch.cat([ids, ids.flip(0)]), torch.cat([mask, mask.flip(0)])  # (6, 9)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with calling("train_step(model, optimizer, (q_ids, d_ids, d_mask)): one update, returning loss.item()"):
        losses = [topic.train_step(model, optimizer, (q_ids[:3], d_ids[:3], d_mask[:3])),
                  topic.train_step(model, optimizer, (q_ids[3:], d_ids[3:], d_mask[3:]))]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    skip = torch.tensor([W["."], W["?"]])
    expected = []
    for batch in (slice(0, 3), slice(3, 6)):
        optimizer.zero_grad()
        Q = _embed(reference, q_ids[batch], torch.ones_like(q_ids[batch], dtype=torch.bool))
        D = _embed(reference, d_ids[batch], d_mask[batch])
        scores = _maxsim(Q, D, d_mask[batch] & ~torch.isin(d_ids[batch], skip))  # (3, 3)
        loss = F.cross_entropy(scores, torch.arange(3))
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: optimizer.zero_grad(), Q = model.encode_query(q_ids), D, d_mask = "
            "model.encode_document(d_ids, d_mask), loss = in_batch_loss(maxsim(Q, D, d_mask)) (every query against "
            "every document of the batch), loss.backward(), optimizer.step(), return loss.item()")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses of two train_step calls", atol=1e-5,
                 hint=hint)
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert_close(got, want, f"parameter {name} after two train_step calls", atol=1e-5, hint=hint)


# ------------------------------------------------------------------ Index
@gradients
@task("Index")
def test_index_encodes_each_document_once_and_searches_by_maxsim(topic):
    model = _model(topic, dropout=0.3)  # dropout: the index must be built and searched in eval mode
    ids, mask = _documents()
    ids, mask = torch.cat([ids, ids.flip(1).roll(1, 0), ids]), torch.cat([mask, mask.flip(1).roll(1, 0), mask])
    ids[6:, 3], ids[6:, 4] = W["cow"], W["bread"]  # (9, 9): nine different documents
    calls = []
    encode_document = model.encode_document

    def counted(ids, mask):
        calls.append(len(ids))
        return encode_document(ids, mask)

    model.encode_document = counted
    model.train()
    with calling("Index(model, ids, mask, batch_size=4): encode the documents in slices of batch_size"):
        index = topic.Index(model, ids, mask, batch_size=4)
    assert sum(calls) == 9 and max(calls) <= 4, (
        f"Index(model, 9 documents, batch_size=4) should call model.encode_document on slices of at most 4 "
        f"documents, each document once; it was called on {calls}")
    assert model.training, "Index(model, ...) should leave the model in train mode, as it found it (model.train(mode))"
    model.eval()
    with torch.no_grad():
        D, d_mask = encode_document(ids, mask)
    check_tensor(index.D, "Index(...).D", shape=(9, 9, 6), dtype=torch.float64)
    assert not index.D.requires_grad, "Index.D should be computed without gradients (torch.no_grad())"
    assert_close(index.D, D, "Index(...).D against model.encode_document in eval mode", atol=1e-10,
                 hint="encode in eval mode (model.eval(): no dropout), then restore the mode it was in")
    assert_equal(index.d_mask, d_mask, "Index(...).d_mask")
    model.train()
    calls.clear()
    q_ids = _queries(torch.Generator().manual_seed(8), B=3)
    with calling("index.search(q_ids, k): encode the queries only, maxsim against self.D, topk"):
        scores, best = index.search(q_ids, 4)
    assert not calls, f"index.search should not encode documents again (encode_document was called on {calls})"
    assert model.training, "index.search should leave the model in train mode, as it found it"
    model.eval()
    with torch.no_grad():
        expected = _maxsim(_embed(model, q_ids, torch.ones_like(q_ids, dtype=torch.bool)), D, d_mask)  # (3, 9)
    top = expected.topk(4, dim=1)
    check_tensor(scores, "index.search(q_ids (3, 7), 4) scores", shape=(3, 4), dtype=torch.float64)
    assert_close(scores, top.values, "index.search(q_ids, 4) scores, best first", atol=1e-10,
                 hint="maxsim of the queries (encoded in eval mode) against the stored vectors, then the k largest "
                      "of each row, largest first (scores.topk(k, dim=1))")
    assert_equal(best, top.indices, "index.search(q_ids, 4) indices",
                 hint="the documents' indices, in the order of their scores")
    scores, best = index.search(q_ids[:1])
    check_tensor(best, "index.search(one query) with k's default on 9 documents", shape=(1, 9),
                 hint="k defaults to 10; there are 9 documents here, so every one comes back")


# ------------------------------------------------------------------ metrics
RANKING = torch.tensor([[4, 1, 2, 3, 0, 5, 6, 7, 8, 9, 10, 11],
                        [1, 2, 4, 3, 0, 5, 6, 7, 8, 9, 10, 11],
                        [0, 1, 2, 3, 5, 6, 4, 7, 8, 9, 10, 11],
                        [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 4]])
RELEVANT = torch.tensor([4, 4, 4, 4])  # at ranks 1, 3, 7 and 12


@gradients
@task("mrr_at_k")
def test_mrr_at_k_by_hand(topic):
    hint = ("for each query, 1 / rank of its relevant document (rank 1 is the first column) when it is among the "
            "first k, else 0; the mean over the queries")
    for k, expected in ((10, (1 + 1 / 3 + 1 / 7) / 4), (7, (1 + 1 / 3 + 1 / 7) / 4), (6, (1 + 1 / 3) / 4),
                        (2, 1 / 4), (12, (1 + 1 / 3 + 1 / 7 + 1 / 12) / 4)):
        got = topic.mrr_at_k(RANKING, RELEVANT, k)
        assert isinstance(got, float), f"mrr_at_k should return a Python float (.item()), got {type(got).__name__}"
        assert abs(got - expected) < 1e-6, f"mrr_at_k(ranking, relevant at ranks 1, 3, 7, 12, k={k}): expected " \
                                            f"{expected:.4f}, got {got:.4f}. Likely cause: {hint}"
    got = topic.mrr_at_k(RANKING, RELEVANT)
    assert abs(got - (1 + 1 / 3 + 1 / 7) / 4) < 1e-6, (
        f"mrr_at_k(ranking (4, 12), relevant) with k's default should count the first 10 columns only: expected "
        f"{(1 + 1 / 3 + 1 / 7) / 4:.4f}, got {got:.4f}")


@gradients
@task("recall_at_k")
def test_recall_at_k_by_hand(topic):
    for k, expected in ((1, 0.25), (2, 0.25), (3, 0.5), (6, 0.5), (7, 0.75), (11, 0.75), (12, 1.0)):
        got = topic.recall_at_k(RANKING, RELEVANT, k)
        assert isinstance(got, float), f"recall_at_k should return a Python float (.item()), got {type(got).__name__}"
        assert abs(got - expected) < 1e-6, (
            f"recall_at_k(ranking, relevant at ranks 1, 3, 7, 12, k={k}): expected {expected}, got {got}. Likely "
            "cause: the fraction of queries whose relevant document is in the first k columns (ranking[:, :k])")
    got = topic.recall_at_k(RANKING, RELEVANT)
    assert abs(got - 0.75) < 1e-6, f"recall_at_k(ranking, relevant) with k's default (10): expected 0.75, got {got}"


# ------------------------------------------------------------------ retrieval
@accuracy
@task("train_step")
def test_colbert_retrieves_far_above_bag_of_words_and_a_single_vector(topic, seed, device):
    train_data = retrieval(300, seed=seed)
    test_data = retrieval(100, seed=seed, split="test")
    tok = topic.ColBERTTokenizer(VOCAB, query_len=16, doc_len=64)
    config = BertConfig.small(tok.vocab_size)
    q_ids = tok.queries(train_data.queries).to(device)
    d_ids, d_mask = (t.to(device) for t in tok.documents(train_data.passages))
    test_q = tok.queries(test_data.queries).to(device)
    test_d, test_mask = (t.to(device) for t in tok.documents(test_data.passages))
    relevant = torch.tensor(test_data.relevant, device=device)
    mrr = {}
    for kind in ("ColBERT", "BiEncoder"):
        torch.manual_seed(seed)
        model = getattr(topic, kind)(config, 32, skiplist=tok.skiplist).to(device)
        topic.train(model, q_ids, d_ids, d_mask, epochs=5, lr=2e-3, batch_size=32, seed=seed)
        ranking = topic.Index(model, test_d, test_mask).search(test_q, 10)[1]
        mrr[kind] = topic.mrr_at_k(ranking, relevant)
    bow = topic.bag_of_words_scores(test_data.queries, test_data.passages, VOCAB).topk(10, dim=1).indices
    mrr["bag of words"] = topic.mrr_at_k(bow.to(device), relevant)
    hint = (f"measured MRR@10 ColBERT {mrr['ColBERT']:.3f}, bi-encoder {mrr['BiEncoder']:.3f}, bag of words "
            f"{mrr['bag of words']:.3f}; ")
    assert_at_least(mrr["ColBERT"], 0.7, "test MRR@10 of ColBERT among 100 passages", chance=0.05,
                    hint=hint + "check the markers, that the [MASK]s are read, the -inf mask in maxsim and the loss")
    assert_at_least(mrr["ColBERT"] - mrr["BiEncoder"], 0.25, "ColBERT's test MRR@10 minus the bi-encoder's",
                    hint=hint + "late interaction keeps every token's vector; one pooled vector cannot")
    # TF-IDF word overlap is a strong baseline here (0.76-0.85): ColBERT beats it by 0.06 on average, by 0.00 at worst.
    assert_at_least(mrr["ColBERT"] - mrr["bag of words"], -0.05, "ColBERT's test MRR@10 minus bag-of-words'",
                    hint=hint + "the trained model must match word overlap at least (the solution: -0.00 to +0.13)")


@shapes
@task("Index")
def test_main_trains_indexes_and_prints_the_time_per_query(topic, tmp_path, capsys):
    small = ["--train-size", "24", "--test-size", "12", "--dim", "8", "--epochs", "1", "--batch-size", "12",
             "--device", "cpu"]
    assert topic.main(small) == 0, "main() on generated passages should return 0"
    out = capsys.readouterr().out
    assert "MRR@10" in out and "a query" in out and "bag of words" in out, (
        f"main() should print MRR@10 and recall@k of both models and bag-of-words, and the time per query, "
        f"printed:\n{out[-800:]}")
    passages = tmp_path / "passages.txt"
    passages.write_text("the cat sleeps in the garden .\nthe baker eats the bread .\nthe man drives the car .\n",
                        encoding="utf-8")
    assert topic.main(["--corpus", str(passages), "--query", "who eats the bread ?", *small]) == 0, (
        "main(['--corpus', FILE, '--query', ...]) should return 0")
    assert "the baker eats the bread ." in capsys.readouterr().out
    assert topic.main(["--corpus", str(tmp_path / "missing.txt"), *small]) == 1, (
        "main(['--corpus', a missing file]) should print an error and return 1")
    assert "error:" in capsys.readouterr().err

# Your file: fill in each TODO, then run `uv run pytest exercises/17_colbert`.
# Maintainers: generated from solutions/17_colbert/colbert.py by
# `python grader stubs`; edit the solution, never this file.
"""ColBERT: a query and a document each become a bag of contextual token vectors, compared late.

O. Khattab, M. Zaharia, "ColBERT: Efficient and Effective Passage Search via Contextualized
Late Interaction over BERT", SIGIR 2020. Section 3.2 (the query and document encoders): one
BERT reads both, told apart by a marker after [CLS] ([Q] or [D]); a query is padded with
[MASK] to a fixed length Nq ("query augmentation": the [MASK]s are read and scored like
words, and learn to stand for words the query could have said); every output vector goes
through a linear layer without bias to a small dimension and is L2-normalised; the
document's punctuation vectors are dropped. Section 3.3 (late interaction): the score of
a document is the sum, over the query's vectors, of each one's largest cosine with any of
the document's vectors (MaxSim). Section 3.4: training with a softmax over each query's
positive and negatives (here the other queries' positives: in-batch negatives, as
ColBERTv2 does). Section 3.5-3.6: the documents are encoded once, offline, and every
query is then one short encoder pass and a MaxSim against the stored vectors.

Departures from the paper: the encoder is `kata.bert.Encoder`, a small BERT built from
PyTorch's own blocks and trained from scratch in seconds (topic 15 writes BERT by hand);
the markers take the two ids after the vocabulary (BERT puts them in its [unused0] and
[unused1] slots, which kata.text.Vocab does not have); queries are searched by brute force
over the stored vectors (the paper prunes with a vector index first, faiss).

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/17_colbert
and train on generated passages, then search them with an index, with
    uv run python exercises/17_colbert/colbert.py

Shapes: B queries, N documents, Lq = query_len query tokens, T (or Ld) document tokens,
H the encoder's hidden size, dim the size of the stored vectors, k results per query.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.bert import BertConfig, Encoder
from kata.common import default_device
from kata.corpus import WORDS, retrieval
from kata.sequences import Stopwatch
from kata.text import CLS_ID, MASK_ID, SEP_ID, Text, Vocab, is_punctuation, pad_sequences, read_corpus, tokenize
from kata.training import fit


class ColBERTTokenizer:
    """Token ids for ColBERT's two encoders, from a kata.text.Vocab.

    Attributes: vocab; query_len (Nq, every query's length); doc_len (the longest
    document, [CLS] [D] ... [SEP] included); q_id and d_id, the markers [Q] and [D]: the
    two ids after the vocabulary, len(vocab) and len(vocab) + 1, so the encoder's
    vocab_size is len(vocab) + 2; skiplist, the ids of the vocabulary's punctuation
    ("." "?"), whose document vectors MaxSim skips.
    """

    def __init__(self, vocab: Vocab, *, query_len: int = 16, doc_len: int = 64) -> None:
        if query_len < 3 or doc_len < 3:
            raise ValueError(f"query_len and doc_len must be >= 3 (two markers and a token), got {query_len}, "
                             f"{doc_len}")
        self.vocab, self.query_len, self.doc_len = vocab, query_len, doc_len
        self.q_id, self.d_id = len(vocab), len(vocab) + 1
        self.vocab_size = len(vocab) + 2
        self.skiplist = [i for i, token in enumerate(vocab.itos) if is_punctuation(token)]

    def queries(self, texts: Sequence[Text]) -> Tensor:
        """ids (B, query_len) int64: [CLS] [Q] the query's tokens, cut to query_len, then [MASK] up to query_len.

        Every query has the same length and no padding: the [MASK]s are real inputs.
        """
        # TODO: per query [CLS, q_id, *vocab.encode(text)] cut to query_len, then MASK_ID up to query_len
        raise NotImplementedError("ColBERTTokenizer.queries(): per query [CLS, q_id, *vocab.encode(text)] cut to query_len, then MASK_ID up to query_len")

    def documents(self, texts: Sequence[Text]) -> tuple[Tensor, Tensor]:
        """ids (N, T) int64 and mask (N, T) bool, True at real tokens: [CLS] [D] the document's tokens [SEP].

        The tokens are cut to doc_len - 3, so a row is at most doc_len long and always
        ends in [SEP]; the rows are padded with [PAD] (0) to the longest, T <= doc_len.
        """
        # TODO: per document [CLS, d_id, *tokens[:doc_len - 3], SEP], then pad_sequences (ids, mask)
        raise NotImplementedError("ColBERTTokenizer.documents(): per document [CLS, d_id, *tokens[:doc_len - 3], SEP], then pad_sequences (ids, mask)")


class ColBERT(nn.Module):
    """One BERT for queries and documents, a linear layer without bias to `dim`, L2-normalised vectors.

    Attributes: encoder (kata.bert.Encoder(config)), linear (nn.Linear(config.hidden, dim,
    bias=False)), skiplist (a buffer of int64 ids whose document vectors MaxSim skips:
    the tokenizer's punctuation; empty: none).
    """

    def __init__(self, config: BertConfig, dim: int = 32, *, skiplist: Sequence[int] = ()) -> None:
        super().__init__()
        # TODO: create self.encoder (an Encoder of config) and self.linear from config.hidden to dim, no bias
        raise NotImplementedError("ColBERT.__init__(): create self.encoder (an Encoder of config) and self.linear from config.hidden to dim, no bias")
        self.register_buffer("skiplist", torch.tensor(list(skiplist), dtype=torch.int64), persistent=False)

    def embed(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids (B, T), mask (B, T) bool (True: read). Returns (B, T, dim): encoder, linear, each vector of length 1."""
        # TODO: run the encoder with the mask, project with self.linear, L2-normalise each token's vector
        raise NotImplementedError("ColBERT.embed(): run the encoder with the mask, project with self.linear, L2-normalise each token's vector")

    def encode_query(self, ids: Tensor) -> Tensor:
        """ids (B, Lq) from ColBERTTokenizer.queries. Returns Q (B, Lq, dim).

        Every position is read, the [MASK]s included: they are the query's augmentation,
        not padding, and each of them counts in MaxSim like a word.
        """
        # TODO: embed the ids with a mask that is True everywhere (on the ids' device)
        raise NotImplementedError("ColBERT.encode_query(): embed the ids with a mask that is True everywhere (on the ids' device)")

    def encode_document(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """ids (N, T), mask (N, T) bool, True at real tokens. Returns D (N, T, dim) and d_mask (N, T) bool.

        The encoder reads every real token, punctuation included (mask); d_mask is mask
        without the skiplist's ids: the vectors MaxSim may use. The caller's mask is left
        as it was.
        """
        # TODO: embed with mask; d_mask = mask and not an id of self.skiplist (a new tensor)
        raise NotImplementedError("ColBERT.encode_document(): embed with mask; d_mask = mask and not an id of self.skiplist (a new tensor)")


def maxsim(Q: Tensor, D: Tensor, d_mask: Tensor, q_mask: Tensor | None = None) -> Tensor:
    """Late interaction: scores (B, N), scores[b, n] = sum_i max_j Q[b, i] . D[n, j].

    Q: (B, Lq, dim); D: (N, T, dim); d_mask: (N, T) bool, the document vectors j that may
    be chosen (each document has at least one); q_mask: (B, Lq) bool, the query vectors i
    that count, or None: every one counts (ColBERT's [MASK]s do). A vector outside d_mask
    never wins a max, whatever its dot product. Differentiable; the result's dtype and
    device are Q's.
    """
    # TODO: every query-document dot (einsum), -inf where d_mask is False, max over T, sum over the query
    raise NotImplementedError("maxsim(): every query-document dot (einsum), -inf where d_mask is False, max over T, sum over the query")


def in_batch_loss(scores: Tensor) -> Tensor:
    """The softmax cross-entropy of each query's positive against its negatives, averaged over the queries.

    scores: (B, N) with N >= B, maxsim of B queries against N documents, where document b
    is query b's positive and every other column is one of its negatives: the other
    queries' positives (in-batch negatives), then any extra documents (hard negatives).
    The paper's pairwise loss is the same softmax over two columns, d+ and d-.
    """
    # TODO: cross-entropy of the rows (B, N) against targets 0, 1, ..., B-1 (made on scores' device)
    raise NotImplementedError("in_batch_loss(): cross-entropy of the rows (B, N) against targets 0, 1, ..., B-1 (made on scores' device)")


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor, Tensor]) -> float:
    """One update on B (query, positive document) pairs: q_ids (B, Lq), d_ids (B, T), d_mask (B, T).

    The loss is in_batch_loss of maxsim(every query, every document of the batch) (B, B).
    Returns the loss as a float.
    """
    q_ids, d_ids, mask = batch
    # TODO: zero_grad, encode the queries and documents, in_batch_loss of their maxsim, backward, step
    raise NotImplementedError("train_step(): zero_grad, encode the queries and documents, in_batch_loss of their maxsim, backward, step")


def train(model: nn.Module, q_ids: Tensor, d_ids: Tensor, d_mask: Tensor, *, epochs: int = 5, lr: float = 2e-3,
          batch_size: int = 32, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on in-batch negatives (train_step), batches shuffled from `seed`. Returns each epoch's mean loss.

    q_ids (N, Lq), d_ids (N, T), d_mask (N, T): query i's positive is document i. The
    learning rate falls linearly from lr to 0 over the run: at a constant rate the test
    MRR of a few hundred pairs swings by 0.2 from one epoch to the next.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(q_ids) / batch_size)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=max(steps, 1))
    return fit(model, (q_ids, d_ids, d_mask), optimizer, train_step, epochs=epochs, batch_size=batch_size,
               seed=seed, scheduler=scheduler, log_every=log_every, evaluate=evaluate)


class Index:
    """Document vectors computed once (ColBERT's offline indexing) and searched for many queries.

    Attributes: model; D (N, T, dim) and d_mask (N, T), what model.encode_document gave for
    every document, computed in eval mode without gradients, at most batch_size documents
    per call. The model's mode (train or eval) is as it was afterwards.
    """

    def __init__(self, model: ColBERT, ids: Tensor, mask: Tensor, *, batch_size: int = 256) -> None:
        self.model = model
        # TODO: in eval mode and no_grad, encode_document batch_size rows at a time; keep D and d_mask
        raise NotImplementedError("Index.__init__(): in eval mode and no_grad, encode_document batch_size rows at a time; keep D and d_mask")

    def search(self, q_ids: Tensor, k: int = 10) -> tuple[Tensor, Tensor]:
        """q_ids (B, Lq). Returns scores (B, k) and indices (B, k) of the k best documents, best first.

        Only the queries are encoded (in eval mode, without gradients); the documents'
        vectors are the stored ones. Fewer than k documents: all of them come back, (B, N).
        """
        # TODO: encode the queries (eval, no_grad), maxsim against self.D and self.d_mask, topk along N
        raise NotImplementedError("Index.search(): encode the queries (eval, no_grad), maxsim against self.D and self.d_mask, topk along N")


def mrr_at_k(ranking: Tensor, relevant: Tensor, k: int = 10) -> float:
    """Mean reciprocal rank at k: the mean over queries of 1 / (the rank of the relevant document), 0 past k.

    ranking: (B, K) document indices, best first (K may exceed k: only the first k
    count); relevant: (B,), each query's one relevant document.
    """
    # TODO: compare the first k columns with relevant; 1 / (position + 1) at a hit, 0 without; mean
    raise NotImplementedError("mrr_at_k(): compare the first k columns with relevant; 1 / (position + 1) at a hit, 0 without; mean")


def recall_at_k(ranking: Tensor, relevant: Tensor, k: int = 10) -> float:
    """The fraction of queries whose relevant document is among the first k of the ranking (B, K), K >= k."""
    # TODO: is relevant among ranking[:, :k], per row; mean over the queries
    raise NotImplementedError("recall_at_k(): is relevant among ranking[:, :k], per row; mean over the queries")


class BiEncoder(ColBERT):
    """The single-vector baseline: the same encoder and projection, each text pooled to one unit vector.

    A query or a document is the mean of its vectors over the positions it reads, normalised
    again; maxsim of one vector against one is their cosine. It trains with the same
    train_step and searches with the same Index, so only the late interaction differs.
    """

    def encode_query(self, ids: Tensor) -> Tensor:
        mask = torch.ones_like(ids, dtype=torch.bool)  # (B, Lq)
        return F.normalize(self.embed(ids, mask).mean(dim=1, keepdim=True), dim=-1)  # (B, 1, dim)

    def encode_document(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x = self.embed(ids, mask) * mask[..., None]  # (N, T, dim): padding out of the mean
        pooled = x.sum(dim=1, keepdim=True) / mask.sum(dim=1)[:, None, None]  # (N, 1, dim)
        return F.normalize(pooled, dim=-1), torch.ones(len(ids), 1, dtype=torch.bool, device=ids.device)


def bag_of_words_scores(queries: Sequence[Text], documents: Sequence[Text], vocab: Vocab) -> Tensor:
    """The baseline without learning: cosine of TF-IDF word counts (punctuation dropped). Returns (B, N)."""
    def counts(texts: Sequence[Text]) -> Tensor:
        rows = torch.zeros(len(texts), len(vocab))  # (len, V)
        for row, text in zip(rows, texts):
            words = [t for t in (tokenize(text) if isinstance(text, str) else text) if not is_punctuation(t)]
            row.index_add_(0, torch.tensor([vocab[w] for w in words], dtype=torch.int64), torch.ones(len(words)))
        return rows

    docs, qs = counts(documents), counts(queries)  # (N, V), (B, V)
    idf = torch.log((1 + len(documents)) / (1 + (docs > 0).sum(0)))  # (V,): words in every document weigh 0
    return F.normalize(qs * idf, dim=1) @ F.normalize(docs * idf, dim=1).T  # (B, N)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train ColBERT and a single-vector bi-encoder on generated passages, index the test passages "
                    "once and search them; compare with bag-of-words.")
    parser.add_argument("--corpus", help="search your own passages (one a line) after training on the generated "
                                         "ones; ask with --query")
    parser.add_argument("--query", action="append", default=[], help="a question to ask of --corpus (repeatable)")
    parser.add_argument("--train-size", type=int, default=300, help="generated (query, passage) pairs to train on")
    parser.add_argument("--test-size", type=int, default=100, help="generated test passages, one query each")
    parser.add_argument("--query-len", type=int, default=16, help="Nq: every query is padded with [MASK] to it")
    parser.add_argument("--max-len", type=int, default=64, help="documents are cut to this many tokens")
    parser.add_argument("--dim", type=int, default=32, help="the size of each stored vector")
    parser.add_argument("--k", type=int, default=5, help="recall@k (MRR is at 10)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=2e-3, help="falls linearly to 0 over the run")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    try:
        train_data = retrieval(args.train_size, seed=args.seed)
        test_data = retrieval(args.test_size, seed=args.seed, split="test")
        own = read_corpus(args.corpus) if args.corpus else None
    except (OSError, ValueError) as exc:  # sizes the generator refuses; a missing or unreadable file
        print(f"error: {exc}", file=sys.stderr)
        return 1
    vocab = Vocab(WORDS)  # every word the generator writes, in a fixed order
    tokenizer = ColBERTTokenizer(vocab, query_len=args.query_len, doc_len=args.max_len)
    config = BertConfig.small(tokenizer.vocab_size, max_len=max(args.max_len, args.query_len))
    q_ids = tokenizer.queries(train_data.queries).to(args.device)
    d_ids, d_mask = (t.to(args.device) for t in tokenizer.documents(train_data.passages))
    test_q = tokenizer.queries(test_data.queries).to(args.device)
    test_d, test_mask = (t.to(args.device) for t in tokenizer.documents(test_data.passages))
    relevant = torch.tensor(test_data.relevant, device=args.device)  # (N,)
    print(f"{args.train_size} training pairs, {args.test_size} test passages; e.g. {test_data.queries[0]!r}")

    bow = bag_of_words_scores(test_data.queries, test_data.passages, vocab)  # (N, N)
    bow = bow.topk(min(10, args.test_size), dim=1).indices.to(args.device)
    print(f"bag of words (TF-IDF cosine): MRR@10 {mrr_at_k(bow, relevant):.3f}, "
          f"recall@{args.k} {recall_at_k(bow, relevant, args.k):.3f}")

    def evaluate(model: ColBERT) -> dict[str, float]:
        ranking = Index(model, test_d, test_mask).search(test_q, min(10, args.test_size))[1]
        return {"MRR@10": mrr_at_k(ranking, relevant), f"recall@{args.k}": recall_at_k(ranking, relevant, args.k)}

    clock = Stopwatch(runs=2, epochs=args.epochs)
    models, curves = {}, {}
    for name, kind in (("ColBERT", ColBERT), ("bi-encoder", BiEncoder)):
        torch.manual_seed(args.seed)
        model = kind(config, args.dim, skiplist=tokenizer.skiplist).to(args.device)
        print(f"{name}: before training " + ", ".join(f"{k} {v:.3f}" for k, v in evaluate(model).items()))
        curves[name] = train(model, q_ids, d_ids, d_mask, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             seed=args.seed, log_every=1, evaluate=clock.timed(lambda model=model: evaluate(model)))
        print(f"{name}: {clock.lap()}")
        models[name] = model
    print(clock.total())
    print(f"loss curves: {pictures.curve(curves, '17_loss.png', title='17 in-batch softmax loss')}")

    # The point of late interaction: documents are encoded once; a query is one short pass and a MaxSim.
    model = models["ColBERT"]
    began = time.perf_counter()
    index = Index(model, test_d, test_mask)
    indexed = time.perf_counter() - began
    began = time.perf_counter()
    for i in range(len(test_q)):
        index.search(test_q[i:i + 1], 1)
    per_query = (time.perf_counter() - began) / len(test_q)
    began = time.perf_counter()
    for i in range(min(len(test_q), 10)):  # re-encoding every document for each query: the cost without an index
        Index(model, test_d, test_mask).search(test_q[i:i + 1], 1)
    brute = (time.perf_counter() - began) / min(len(test_q), 10)
    print(f"index of {len(test_d)} passages built once in {indexed * 1000:.1f} ms; {per_query * 1000:.2f} ms a query "
          f"against the index, {brute * 1000:.2f} ms re-encoding every passage for each query")
    for name, model in models.items():
        print(f"{name}: test " + ", ".join(f"{k} {v:.3f}" for k, v in evaluate(model).items()))

    if own is not None:
        ids, mask = (t.to(args.device) for t in tokenizer.documents(own))
        index = Index(models["ColBERT"], ids, mask)
        for question in args.query or [test_data.queries[0]]:
            scores, best = index.search(tokenizer.queries([question]).to(args.device), min(3, len(own)))
            print(f"{question!r}:")
            for score, i in zip(scores[0].tolist(), best[0].tolist()):
                print(f"  {score:6.2f}  {own[i]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

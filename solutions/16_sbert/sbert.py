"""Sentence-BERT: one BERT, mean-pooled, trained so that the cosine of two sentence vectors means something.

N. Reimers, I. Gurevych, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
EMNLP 2019 (section 3: the pooling, the siamese and triplet network structures, and the three
objectives: classification, regression, triplet).

BERT gives one vector per token. To compare two sentences it reads both at once, [CLS] A
[SEP] B [SEP]: finding the closest pair among 10,000 sentences takes 50 million such runs.
SBERT runs BERT once per sentence instead and averages its token vectors over the real
tokens (mean pooling: the padding must change nothing), so a sentence becomes one vector u
and a search is a cosine between vectors. BERT's vectors were never trained for that, so
SBERT fine-tunes the encoder in a siamese structure: the SAME encoder (one set of weights)
embeds both sentences of a pair, or the three of a triplet, and an objective on (u, v)
pulls paraphrases together and pushes other sentences apart:
- classification (NLI labels): softmax(W [u; v; |u - v|] + b), W: (num_labels, 3H), cross-entropy;
- regression (a gold similarity score): the mean squared error between cos(u, v) and the score;
- triplet (anchor a, positive p, negative n): mean(max(||a - p|| - ||a - n|| + margin, 0))
  with the Euclidean distance and margin 1, as in the paper.

The encoder is `kata.bert.Encoder`, a BERT made from PyTorch's own blocks (topic 15 writes
BERT by hand); this topic is about what SBERT adds on top. `main()` runs a real semantic
search with all-MiniLM-L6-v2's weights (an SBERT trained on a billion sentence pairs) and
your pooling.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/16_sbert
and search a few dozen sentences (or your own, one per line) for the closest to your queries with
    uv run python exercises/16_sbert/sbert.py --query "a pet that sleeps all day"     (--corpus FILE, --train)

Shapes: B sentences in a batch, T tokens, H the encoder's hidden size (the sentence vector's
width), C labels of the classification objective, Q queries, N sentences searched, k hits.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.bert import BertConfig, Encoder, minilm_encoder, minilm_tokenizer
from kata.common import default_device
from kata.corpus import WORDS, paraphrases
from kata.pretrained import WeightsError
from kata.text import Vocab, read_corpus
from kata.training import fit


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The mean of each sentence's token vectors over its real tokens: hidden (B, T, H), mask (B, T) bool -> (B, H).

    Padding (mask False) changes nothing: a sentence gets the same vector in any padded
    batch. A row with no real token at all gives zeros (its count is taken as at least 1),
    never NaN. The result has hidden's dtype and device.
    """
    # BEGIN SOLUTION: sum hidden over the real tokens (mask as hidden's dtype), divide by their count clamped to >= 1
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1): 1 at real tokens, 0 at the padding
    total = (hidden * weights).sum(dim=1)  # (B, H)
    count = weights.sum(dim=1).clamp(min=1)  # (B, 1): an empty row divides 0 by 1, not by 0
    return total / count  # (B, H)
    # END SOLUTION


class SentenceEncoder(nn.Module):
    """A sentence's vector: the token vectors of a BERT encoder, mean-pooled, L2-normalised when `normalize`.

    encoder: any module called as encoder(ids (B, T), mask (B, T)) -> (B, T, H):
    `kata.bert.Encoder(config)`, or `kata.bert.minilm_encoder()` with the real weights.
    Attributes: encoder, normalize. all-MiniLM-L6-v2 is used with normalize=True (its
    vectors have length 1, so a dot product is a cosine); training here uses False.
    """

    def __init__(self, encoder: nn.Module, *, normalize: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids (B, T) int64, 0 at the padding; mask (B, T) bool, True at real tokens. Returns (B, H)."""
        # BEGIN SOLUTION: run self.encoder(ids, mask), mean_pool its output with the mask, L2-normalise when asked
        hidden = self.encoder(ids, mask)  # (B, T, H): the encoder needs the mask too, or it attends to the padding
        x = mean_pool(hidden, mask)  # (B, H)
        if self.normalize:
            x = F.normalize(x, dim=-1)  # (B, H), each row of length 1
        return x
        # END SOLUTION


class SBERT(nn.Module):
    """The siamese network of SBERT (section 3): ONE sentence encoder embeds every branch.

    encoder: the SentenceEncoder shared by the branches (attribute `encoder`): one set of
    parameters, trained by the gradients of every branch. Two branches make the siamese
    structure (pairs: classification, regression), three the triplet structure.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, *branches: tuple[Tensor, Tensor]) -> tuple[Tensor, ...]:
        """branches: one or more (ids (B, T_i), mask (B, T_i)) pairs, the same B, each padded to its own T_i.

        Returns a tuple with one sentence vector (B, H) per branch, in their order, each
        with its gradient path to the shared encoder.
        """
        # BEGIN SOLUTION: embed every (ids, mask) branch with the same self.encoder and return the vectors as a tuple
        return tuple(self.encoder(ids, mask) for ids, mask in branches)  # ((B, H), ...)
        # END SOLUTION


class SoftmaxHead(nn.Module):
    """The classification objective's head (section 3): logits = W [u; v; |u - v|] + b.

    Attribute: classifier, nn.Linear(3 * embed_dim, num_labels); its input is u, v and
    |u - v| concatenated in that order along the last dimension. Natural language
    inference has 3 labels (entailment, contradiction, neutral). Trained with the
    encoder, then thrown away: the sentence vectors are what SBERT keeps.
    """

    def __init__(self, embed_dim: int, num_labels: int = 3) -> None:
        super().__init__()
        # BEGIN SOLUTION: create self.classifier, a linear layer from the 3 * embed_dim features [u; v; |u - v|]
        self.classifier = nn.Linear(3 * embed_dim, num_labels)
        # END SOLUTION

    def forward(self, u: Tensor, v: Tensor) -> Tensor:
        """u, v: sentence vectors (B, H). Returns logits (B, C) (the softmax is in the cross-entropy)."""
        # BEGIN SOLUTION: concatenate u, v and |u - v| along the last dimension and apply self.classifier
        features = torch.cat([u, v, (u - v).abs()], dim=-1)  # (B, 3H): the element-wise difference matters most
        return self.classifier(features)  # (B, C)
        # END SOLUTION


def cosine_loss(u: Tensor, v: Tensor, scores: Tensor) -> Tensor:
    """The regression objective (section 3): the mean over the batch of (cos(u_b, v_b) - scores_b)^2.

    u, v: sentence vectors (B, H); scores: gold similarities (B,) in [-1, 1] (the STS
    benchmark's 0-5 divided by 5). The cosine ignores the vectors' lengths. Returns a scalar.
    """
    # BEGIN SOLUTION: the cosine of each pair (divide the dot product by both lengths), then the MSE against scores
    cos = F.cosine_similarity(u, v, dim=-1)  # (B,)
    return ((cos - scores) ** 2).mean()
    # END SOLUTION


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *, margin: float = 1.0) -> Tensor:
    """The triplet objective (section 3): mean over the batch of max(||a - p|| - ||a - n|| + margin, 0).

    anchor, positive, negative: sentence vectors (B, H); ||.|| is the Euclidean distance
    (not squared) and margin = 1 as in the paper. A triplet whose negative is already
    farther than the positive by the margin adds 0. Returns a scalar.
    """
    # BEGIN SOLUTION: the Euclidean distances anchor-positive and anchor-negative, hinge at the margin, batch mean
    d_positive = (anchor - positive).norm(dim=-1)  # (B,)
    d_negative = (anchor - negative).norm(dim=-1)  # (B,)
    return (d_positive - d_negative + margin).clamp(min=0).mean()
    # END SOLUTION


def search(query_vectors: Tensor, corpus_vectors: Tensor, k: int = 5) -> tuple[Tensor, Tensor]:
    """Semantic search: the k sentences of the corpus with the highest cosine to each query.

    query_vectors: (Q, H); corpus_vectors: (N, H), not necessarily of length 1; 1 <= k <= N.
    Returns scores (Q, k), the cosines in decreasing order, and indices (Q, k) int64, the
    rows of corpus_vectors they belong to.
    """
    if not 1 <= k <= corpus_vectors.shape[0]:
        raise ValueError(f"k must be in 1..{corpus_vectors.shape[0]} (the corpus' sentences), got {k}")
    # BEGIN SOLUTION: normalise both sides to length 1, take every query-sentence cosine (Q, N), keep the top k per row
    cos = F.normalize(query_vectors, dim=-1) @ F.normalize(corpus_vectors, dim=-1).T  # (Q, N)
    scores, indices = cos.topk(k, dim=-1)  # (Q, k) each, largest first
    return scores, indices
    # END SOLUTION


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, ...]) -> float:
    """One update of an SBERT with the triplet objective. Returns the batch's loss as a float.

    batch: (ids_a, mask_a, ids_p, mask_p, ids_n, mask_n): anchors, positives and
    negatives, each (B, T_i) ids with their mask. The loss is triplet_loss of the three
    branches' vectors (margin 1), all three from model(...), so from one encoder.
    """
    ids_a, mask_a, ids_p, mask_p, ids_n, mask_n = batch
    # BEGIN SOLUTION: zero_grad, embed the three branches with model, triplet_loss, backward, step, loss.item()
    optimizer.zero_grad()
    anchor, positive, negative = model((ids_a, mask_a), (ids_p, mask_p), (ids_n, mask_n))  # (B, H) each
    loss = triplet_loss(anchor, positive, negative)
    loss.backward()
    optimizer.step()
    return loss.item()
    # END SOLUTION


def train(model: nn.Module, data: tuple[Tensor, ...], *, epochs: int = 5, lr: float = 1e-3, batch_size: int = 32,
          seed: int = 0, log_every: int = 0, evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on the triplet objective (train_step), in shuffled mini-batches. Returns each epoch's mean loss.

    data: (ids_a, mask_a, ids_p, mask_p, ids_n, mask_n), each (N, T_i), on the model's device.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, data, optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


# ---------------------------------------------------------------- given: data, scores and the script
def triplet_data(triplets: Sequence[tuple[str, str, str]], vocab: Vocab) -> tuple[Tensor, ...]:
    """(anchor, positive, negative) sentences -> (ids_a, mask_a, ids_p, mask_p, ids_n, mask_n), each branch padded."""
    data = []
    for branch in zip(*triplets):
        ids, mask, _ = vocab.encode_batch(branch)  # (N, T_i) each
        data += [ids, mask]
    return tuple(data)


@torch.no_grad()
def ranking_accuracy(model: nn.Module, data: tuple[Tensor, ...], batch_size: int = 500) -> float:
    """The fraction of triplets whose anchor is closer (by cosine) to its positive than to its negative."""
    model.eval()
    device = next(model.parameters()).device
    right = 0
    for start in range(0, data[0].shape[0], batch_size):
        ids_a, mask_a, ids_p, mask_p, ids_n, mask_n = (t[start:start + batch_size].to(device) for t in data)
        a, p, n = model((ids_a, mask_a), (ids_p, mask_p), (ids_n, mask_n))
        right += (F.cosine_similarity(a, p, dim=-1) > F.cosine_similarity(a, n, dim=-1)).sum().item()
    return right / data[0].shape[0]


def bag_of_words_accuracy(triplets: Sequence[tuple[str, str, str]]) -> float:
    """The same ranking by the cosine of word-count vectors: word overlap alone."""
    def cos(x: Counter, y: Counter) -> float:
        dot = sum(count * y[word] for word, count in x.items())
        return dot / (sum(c * c for c in x.values()) * sum(c * c for c in y.values())) ** 0.5

    right = 0
    for a, p, n in triplets:
        a, p, n = (Counter(s.split()) for s in (a, p, n))
        right += cos(a, p) > cos(a, n)
    return right / len(triplets)


SENTENCES = (
    "A man is playing a guitar on the stage.", "A woman plays the violin in an orchestra.",
    "The band performed their new songs last night.", "She is learning to play the piano.",
    "A cat is sleeping on the sofa.", "The dog chased the ball across the park.",
    "My kitten spends the whole day napping in the sun.", "Horses are grazing in the field.",
    "He is cooking pasta with tomato sauce.", "The bakery sells fresh bread every morning.",
    "We had pizza and salad for dinner.", "Boil the eggs for seven minutes.",
    "It will rain heavily tomorrow afternoon.", "The sky is clear and the sun is shining.",
    "A storm is expected to hit the coast this weekend.", "Snow covered the mountains overnight.",
    "The stock market fell sharply today.", "The central bank raised interest rates again.",
    "Prices at the supermarket keep going up.", "The company reported record profits this year.",
    "The team won the championship after a penalty shootout.", "He runs ten kilometres every morning.",
    "The match was cancelled because of the rain.", "She swam across the lake in under an hour.",
    "The new phone has a larger screen and a better camera.", "My laptop battery dies after two hours.",
    "Install the update to fix the security problem.", "The train to Busan leaves at nine.",
    "Our flight was delayed by three hours.", "They travelled through Europe by bus.",
)
QUERIES = ("a pet that sleeps all day", "how to make dinner", "bad weather is coming", "a musician on stage")


@torch.no_grad()
def embed(model: nn.Module, tokenizer, sentences: Sequence[str], *, batch_size: int = 64,
          device: str | torch.device = "cpu") -> Tensor:
    """Sentence vectors (N, H) on the CPU, in batches of sentences tokenized and padded by `tokenizer`."""
    vectors = []
    for start in range(0, len(sentences), batch_size):
        ids, mask = tokenizer.encode_batch(sentences[start:start + batch_size])  # (B, T) each
        vectors.append(model(ids.to(device), mask.to(device)).cpu())  # (B, H)
    return torch.cat(vectors)


def train_demo(args: argparse.Namespace) -> None:
    """Train a small SBERT on generated paraphrase triplets; print the ranking accuracy before and after."""
    vocab = Vocab(WORDS)
    triplets = paraphrases(args.train_size, seed=args.seed)
    test_triplets = paraphrases(args.test_size, seed=args.seed, split="test")
    data, test_data = triplet_data(triplets, vocab), triplet_data(test_triplets, vocab)
    data = tuple(t.to(args.device) for t in data)
    torch.manual_seed(args.seed)
    model = SBERT(SentenceEncoder(Encoder(BertConfig.small(len(vocab))))).to(args.device)
    print(f"paraphrases: {len(triplets)} training and {len(test_triplets)} test triplets, e.g. {test_triplets[0]}")
    print(f"test triplets ranked right: before training {ranking_accuracy(model, test_data):.3f}, "
          f"bag of words {bag_of_words_accuracy(test_triplets):.3f}")
    losses = train(model, data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                   log_every=1, evaluate=lambda: {"test triplets ranked right": ranking_accuracy(model, test_data)})
    print(f"after training: {ranking_accuracy(model, test_data):.3f} of the test triplets ranked right")
    print(f"loss curve: {pictures.curve({'triplet': losses}, '16_loss.png', title='16 SBERT: triplet loss')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Semantic search with a real SBERT (all-MiniLM-L6-v2's weights) and your mean pooling; "
                    "--train trains a small SBERT on generated paraphrases instead.")
    parser.add_argument("--corpus", metavar="FILE", help="your own sentences, one per line, UTF-8 (default: a few "
                                                         "dozen built-in English sentences)")
    parser.add_argument("--query", action="append", help="a query (repeat the flag for several; default: four "
                                                         "built-in queries)")
    parser.add_argument("--k", type=int, default=3, help="hits per query (default %(default)s)")
    parser.add_argument("--max-len", type=int, default=128,
                        help="cut each sentence to its first N WordPiece tokens, [CLS] and [SEP] included "
                             "(default %(default)s; the model was trained with 256)")
    parser.add_argument("--train", action="store_true", help="train a small SBERT on generated paraphrase "
                                                             "triplets (kata.corpus.paraphrases) instead")
    parser.add_argument("--train-size", type=int, default=2000, help="--train: generated training triplets")
    parser.add_argument("--test-size", type=int, default=500, help="--train: generated test triplets")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    if args.train:
        train_demo(args)
        return 0
    try:
        if not 3 <= args.max_len <= 512:
            raise ValueError(f"--max-len must be in 3..512 (BERT's positions), got {args.max_len}")
        sentences = read_corpus(args.corpus) if args.corpus else list(SENTENCES)
        queries = args.query or list(QUERIES)
        if not 1 <= args.k:
            raise ValueError(f"--k must be >= 1, got {args.k}")
        began = time.perf_counter()
        model = SentenceEncoder(minilm_encoder(), normalize=True).to(args.device)
        tokenizer = minilm_tokenizer()
    except WeightsError as exc:  # one sentence: how to install the weights
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    tokenizer.max_len = args.max_len
    loaded = time.perf_counter()
    corpus_vectors = embed(model, tokenizer, sentences, device=args.device)  # (N, 384)
    query_vectors = embed(model, tokenizer, queries, device=args.device)  # (Q, 384)
    scores, indices = search(query_vectors, corpus_vectors, min(args.k, len(sentences)))  # (Q, k) each
    done = time.perf_counter()
    print(f"all-MiniLM-L6-v2 with your mean pooling: {len(sentences)} sentences, {len(queries)} queries")
    for query, row_scores, row in zip(queries, scores.tolist(), indices.tolist()):
        print(f"\nquery: {query}")
        for score, i in zip(row_scores, row):
            print(f"  {score:.3f}  {sentences[i]}")
    print(f"\nloading the model took {loaded - began:.2f} s; embedding and searching {done - loaded:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""ELMo: contextual word vectors from a bidirectional language model over characters.

M. E. Peters, M. Neumann, M. Iyyer, M. Gardner, C. Clark, K. Lee, L. Zettlemoyer, "Deep
contextualized word representations", NAACL 2018 (section 3: the biLM of 3.1, the scalar
mix of equation 1 in 3.2, the character CNN of 3.4); the character encoder follows
Y. Kim, Y. Jernite, D. Sontag, A. M. Rush, "Character-Aware Neural Language Models", AAAI
2016, and its highway layers R. K. Srivastava, K. Greff, J. Schmidhuber, "Highway
Networks", 2015.

A word2vec vector (topic 08) is one vector per word: "bat" the animal and "bat" the tool
share it. ELMo reads the whole sentence first. A character CNN turns each word's spelling
into a token vector x_t (any word, never [UNK]); a forward LSTM language model reads
x_1..x_t and predicts word t+1, a backward one reads x_L..x_t and predicts word t-1; both
share the token encoder and the softmax. Word t's ELMo vector mixes every layer's states
at t, gamma * sum_j softmax(s)_j h_j: the states have read the words around t, so "feeds
the bat" and "uses the bat" give two different vectors.

Each direction must stay causal: if the forward LM's state at t had read word t+1, it
would predict it perfectly and learn nothing (the leak test of the hidden suite).

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/14_elmo
and train a biLM, then tell the senses of "bat", "crane", "kiwi" and "port" apart, with
    uv run python exercises/14_elmo/elmo.py                 (or --corpus FILE for your own text)

Shapes: B sentences, T words (time steps), L characters per word (max_word_len), C
characters' embedding width (char_dim), F filters of the character CNN in all, D the
token vector's width (embed_dim, also each LSTM's hidden size), V the softmax's
vocabulary; a layer of the biLM is (B, T, 2D): the forward half, then the backward half.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device, hold_out
from kata.corpus import SENSES, corpus
from kata.sequences import Stopwatch, add_corpus_arguments, next_token_targets
from kata.text import CHAR_PAD_ID, IGNORE_INDEX, NUM_CHARS, NUM_SPECIAL, Vocab, char_ids, read_corpus, tokenize
from kata.training import fit


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Topic 11's helper, given: reverse each sequence of a padded batch within its own length.

    x: (B, T, ...); lengths: (B,) integers in 1..T. out[b, t] = x[b, lengths[b] - 1 - t]
    for t < lengths[b], and x[b, t] after (the padding stays in place). Reversing twice
    gives x back.
    """
    T = x.shape[1]
    t = torch.arange(T, device=x.device)  # (T,)
    lengths = lengths.to(x.device)[:, None]  # (B, 1)
    source = torch.where(t < lengths, lengths - 1 - t, t)  # (B, T)
    source = source.reshape(*source.shape, *(1,) * (x.dim() - 2)).expand_as(x)  # (B, T, ...)
    return x.gather(1, source)


def encode(sentences: Sequence[str | Sequence[str]], vocab: Vocab, *,
           max_word_len: int = 16) -> tuple[Tensor, Tensor, Tensor]:
    """Sentences as a biLM's batch: chars (B, T, L) int64, ids (B, T) int64 padded with 0, lengths (B,).

    The character CNN reads chars (any word, spelled byte by byte: kata.text.char_ids); the
    softmax predicts ids, the vocabulary's words ([UNK] for the others).
    """
    chars, _, lengths = char_ids(sentences, max_word_len=max_word_len)  # (B, T, L), (B,)
    ids, _, _ = vocab.encode_batch(sentences)  # (B, T)
    return chars, ids, lengths


@dataclass
class ELMoConfig:
    """The biLM's hyperparameters; the defaults train on a laptop CPU in seconds (the paper's in brackets)."""

    vocab_size: int = 120  # the softmax's words; the character CNN reads any word
    char_dim: int = 8  # each character's embedding (16)
    filters: tuple[tuple[int, int], ...] = ((1, 16), (2, 16), (3, 32))  # (width, out_channels) per filter bank
    # (7 banks, widths 1-7, 2048 filters in all)
    num_highway: int = 1  # highway layers after the filters (2)
    embed_dim: int = 32  # the token vector and each LSTM's hidden size (512, LSTMs of 4096 projected to 512)
    num_layers: int = 2  # LSTM layers per direction (2)
    max_word_len: int = 16  # characters per word, with the begin and end marks (50)

    def __post_init__(self) -> None:
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")
        widest = max(width for width, _ in self.filters)
        if widest > self.max_word_len:
            raise ValueError(f"a filter of width {widest} does not fit in max_word_len={self.max_word_len} characters")


class Highway(nn.Module):
    """num_layers highway layers of width `size` (Srivastava et al. 2015).

    Each layer: t = sigmoid(W_T x + b_T) (the transform gate) and
    y = t * relu(W_H x + b_H) + (1 - t) * x, so a closed gate (t = 0) carries x through.
    Attributes: layers, an nn.ModuleList of num_layers nn.Linear(size, 2 * size) whose first
    `size` outputs are W_H x + b_H and last `size` outputs W_T x + b_T. Every gate bias b_T
    starts at gate_bias (negative: the gates start mostly closed, and a deep stack starts
    close to the identity); everything else keeps nn.Linear's initialisation.
    """

    def __init__(self, size: int, num_layers: int = 1, *, gate_bias: float = -1.0) -> None:
        super().__init__()
        self.size = size
        # BEGIN SOLUTION: create self.layers (num_layers nn.Linear(size, 2 * size)) and set each gate bias to gate_bias
        self.layers = nn.ModuleList(nn.Linear(size, 2 * size) for _ in range(num_layers))
        with torch.no_grad():
            for layer in self.layers:
                layer.bias[size:].fill_(gate_bias)  # the second half is the gate's bias b_T
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., size). Returns (..., size), each layer applied in turn."""
        # BEGIN SOLUTION: per layer, split its output into H and the gate, y = t * relu(H) + (1 - t) * x
        for layer in self.layers:
            h, gate = layer(x).chunk(2, dim=-1)  # (..., size) each
            t = torch.sigmoid(gate)
            x = t * F.relu(h) + (1 - t) * x  # (..., size): transform where t is 1, carry where it is 0
        return x
        # END SOLUTION


class CharCNN(nn.Module):
    """A word's vector from its characters: embed, convolve, max over positions, highway, project.

    Attributes: char_embedding (nn.Embedding(num_chars, char_dim, padding_idx=CHAR_PAD_ID):
    the pad character's vector stays 0), convs (an nn.ModuleList with one
    nn.Conv1d(char_dim, out_channels, width) per (width, out_channels) of `filters`),
    highway (Highway(F, num_highway), F the sum of out_channels) and projection
    (nn.Linear(F, embed_dim)). Each filter bank's feature is relu of its maximum over the
    word's positions (the strongest match of the pattern anywhere in the word).
    """

    def __init__(self, embed_dim: int, *, char_dim: int = 8,
                 filters: Sequence[tuple[int, int]] = ((1, 16), (2, 16), (3, 32)), num_highway: int = 1,
                 num_chars: int = NUM_CHARS) -> None:
        super().__init__()
        # BEGIN SOLUTION: create char_embedding (padding_idx=CHAR_PAD_ID), convs (one per filter), highway, projection
        self.char_embedding = nn.Embedding(num_chars, char_dim, padding_idx=CHAR_PAD_ID)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, out_channels, width) for width, out_channels in filters)
        num_filters = sum(out_channels for _, out_channels in filters)
        self.highway = Highway(num_filters, num_highway)
        self.projection = nn.Linear(num_filters, embed_dim)
        # END SOLUTION

    def forward(self, chars: Tensor) -> Tensor:
        """chars: (B, T, L) int64 character ids (kata.text.char_ids). Returns token vectors (B, T, embed_dim)."""
        # BEGIN SOLUTION: embed the (B*T, L) chars, conv each bank, relu(max over L), concatenate, highway, project
        B, T, L = chars.shape
        x = self.char_embedding(chars.reshape(B * T, L))  # (B*T, L, C)
        x = x.transpose(1, 2)  # (B*T, C, L): Conv1d wants the channels first
        # relu(max) = max(relu): relu is monotone, and taking the max first is cheaper.
        features = [F.relu(conv(x).amax(dim=-1)) for conv in self.convs]  # each (B*T, out_channels)
        x = self.highway(torch.cat(features, dim=-1))  # (B*T, F)
        return self.projection(x).reshape(B, T, -1)  # (B, T, D)
        # END SOLUTION


class BiLM(nn.Module):
    """A bidirectional language model over characters (ELMo's biLM, section 3.1).

    Attributes: config; encoder (CharCNN(embed_dim, char_dim=..., filters=...,
    num_highway=...)); forward_lstms and backward_lstms (nn.ModuleLists of num_layers
    nn.LSTM(embed_dim, embed_dim, batch_first=True), one layer each); softmax
    (nn.Linear(embed_dim, vocab_size)): ONE encoder and ONE softmax for both directions.
    From the second LSTM layer on, each layer's input is added to its output (a residual
    connection, as in ELMo).
    """

    def __init__(self, config: ELMoConfig) -> None:
        super().__init__()
        self.config = config
        # BEGIN SOLUTION: create encoder, forward_lstms, backward_lstms (num_layers one-layer LSTMs each) and softmax
        D = config.embed_dim
        self.encoder = CharCNN(D, char_dim=config.char_dim, filters=config.filters, num_highway=config.num_highway)
        self.forward_lstms = nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(config.num_layers))
        self.backward_lstms = nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(config.num_layers))
        # One softmax for both directions: the paper ties the token layer and the softmax across directions.
        self.softmax = nn.Linear(D, config.vocab_size)
        # END SOLUTION

    def forward(self, chars: Tensor, lengths: Tensor | None = None) -> list[Tensor]:
        """chars: (B, T, L) character ids, padded after each sentence; lengths: (B,) integers in 1..T, on the CPU or
        chars' device (None: every sentence has T words).

        Returns num_layers + 1 layers, each (B, T, 2D): layer 0 is the token vector twice,
        [x; x]; layer j is [forward state; backward state] of LSTM layer j. At position t
        of a sentence of length L, the forward half has read words 1..t only and the
        backward half words t..L only (never the padding). Values at the padding are unspecified.
        """
        B, T, _ = chars.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64)  # (B,)
        lengths = torch.as_tensor(lengths)
        if lengths.shape != (B,) or lengths.is_floating_point() or lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must be ({B},) integers in 1..{T}, one per sentence; got "
                             f"{lengths.tolist() if lengths.dim() == 1 else 'shape ' + str(tuple(lengths.shape))}")
        # BEGIN SOLUTION: encode; per layer both LSTMs (backward on reverse_padded x), residual from the 2nd layer
        x = self.encoder(chars)  # (B, T, D)
        layers = [torch.cat([x, x], dim=-1)]  # (B, T, 2D): the token layer, once per direction
        # The backward LM reads each sentence from its own last word: reverse within the lengths, so the
        # padding stays behind the sentence and an ordinary left-to-right LSTM never reaches it too early.
        forward, backward = x, reverse_padded(x, lengths)  # (B, T, D) each; backward in reversed time
        for j, (forward_lstm, backward_lstm) in enumerate(zip(self.forward_lstms, self.backward_lstms)):
            forward_out, _ = forward_lstm(forward)  # (B, T, D)
            backward_out, _ = backward_lstm(backward)  # (B, T, D)
            if j > 0:  # residual connection between LSTM layers
                forward_out, backward_out = forward_out + forward, backward_out + backward
            forward, backward = forward_out, backward_out
            # Back into time order: position t's backward state has read words L..t.
            layers.append(torch.cat([forward, reverse_padded(backward, lengths)], dim=-1))  # (B, T, 2D)
        return layers
        # END SOLUTION

    def lm_logits(self, layers: list[Tensor]) -> tuple[Tensor, Tensor]:
        """The two language models' logits from forward()'s layers, each (B, T, V) from the shared softmax:
        the forward LM's at t (from the top layer's forward half) predict word t+1, the backward LM's (from its
        backward half) word t-1."""
        # BEGIN SOLUTION: apply self.softmax to the top layer's forward half and to its backward half
        D = self.config.embed_dim
        top = layers[-1]  # (B, T, 2D)
        return self.softmax(top[..., :D]), self.softmax(top[..., D:])  # (B, T, V) each
        # END SOLUTION


def train_step(model: BiLM, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor, Tensor]) -> float:
    """One update on a batch: chars (B, T, L), ids (B, T), lengths (B,). Returns the batch's loss as a float.

    The loss is the mean of the two directions' cross-entropies: the forward LM's logits at
    t against ids[t+1], the backward LM's at t against ids[t-1], each averaged over the
    positions that have such a word (not the last word, not the first, not the padding).
    """
    chars, ids, lengths = batch
    # BEGIN SOLUTION: zero_grad, both LMs' cross-entropy (forward vs word t+1, backward vs word t-1), mean, step, item
    optimizer.zero_grad()
    forward_logits, backward_logits = model.lm_logits(model(chars, lengths))  # (B, T, V) each
    next_ids = next_token_targets(ids, lengths)  # (B, T): ids[t+1], -100 at the last word and the padding
    # ids[t-1]: the next word of each sentence read backwards, put back in time order.
    previous_ids = reverse_padded(next_token_targets(reverse_padded(ids, lengths), lengths), lengths)  # (B, T)
    # cross_entropy wants the classes in dimension 1; it skips the targets -100 (IGNORE_INDEX).
    loss = (F.cross_entropy(forward_logits.transpose(1, 2), next_ids, ignore_index=IGNORE_INDEX)
            + F.cross_entropy(backward_logits.transpose(1, 2), previous_ids, ignore_index=IGNORE_INDEX)) / 2
    loss.backward()
    optimizer.step()
    return loss.item()
    # END SOLUTION


def train(model: BiLM, chars: Tensor, ids: Tensor, lengths: Tensor, *, epochs: int = 3, lr: float = 0.01,
          batch_size: int = 64, seed: int = 0, log_every: int = 0,
          evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on the biLM's loss (train_step), in mini-batches shuffled from `seed`. Returns each epoch's mean loss.

    chars (N, T, L), ids (N, T), lengths (N,), on the model's device (encode() makes them).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, (chars, ids, lengths), optimizer, train_step, epochs=epochs, batch_size=batch_size,
               seed=seed, log_every=log_every, evaluate=evaluate)


class ScalarMix(nn.Module):
    """ELMo's task-specific mix of the biLM's layers (equation 1): gamma * sum_j softmax(s)_j h_j.

    num_layers: how many layers it mixes (a BiLM of num_layers LSTM layers gives num_layers + 1).
    Attributes: scalar_parameters (nn.Parameter (num_layers,), zeros: every layer weighs the
    same at the start) and gamma (nn.Parameter of shape (), 1.0), both trained with the task.
    """

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.num_layers = num_layers
        # BEGIN SOLUTION: create scalar_parameters (zeros, one per layer) and gamma (a scalar 1) as nn.Parameters
        self.scalar_parameters = nn.Parameter(torch.zeros(num_layers))
        self.gamma = nn.Parameter(torch.tensor(1.0))
        # END SOLUTION

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        """layers: num_layers tensors of one shape (a list or a tuple). Returns their mix, of that shape.

        The inputs are left unchanged.
        """
        if len(layers) != self.num_layers:
            raise ValueError(f"ScalarMix({self.num_layers}) mixes {self.num_layers} layers, got {len(layers)}")
        # BEGIN SOLUTION: softmax the scalar parameters, sum weight_j * layers[j], multiply by gamma
        weights = torch.softmax(self.scalar_parameters, dim=0)  # (num_layers,): positive, summing to 1
        return self.gamma * sum(w * h for w, h in zip(weights, layers))
        # END SOLUTION


# ---------------------------------------------------------------- telling senses apart (given)
@torch.no_grad()
def word_vectors(model: BiLM, mix: Callable[[list[Tensor]], Tensor], sentences: Sequence[str], vocab: Vocab,
                 positions: Sequence[tuple[int, int]], *, batch_size: int = 500) -> Tensor:
    """The vectors mix(model(...)) gives at (sentence, position) pairs: (N, 2D), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sentences), batch_size):
        chars, _, lengths = encode(sentences[start:start + batch_size], vocab, max_word_len=model.config.max_word_len)
        mixed = mix(model(chars.to(device), lengths))  # (b, T, 2D)
        rows = [(s - start, p) for s, p in positions if start <= s < start + batch_size]
        out += [mixed[s, p] for s, p in rows]
    return torch.stack(out).cpu()  # (N, 2D)


def nearest_centroid_accuracy(X: Tensor, labels: Sequence[str], X_test: Tensor, test_labels: Sequence[str]) -> float:
    """The fraction of X_test's rows whose nearest centroid (mean of X's rows of one label) has their label."""
    names = sorted(set(labels))
    centroids = torch.stack([X[[i for i, label in enumerate(labels) if label == name]].mean(0) for name in names])
    predicted = torch.cdist(X_test, centroids).argmin(1).tolist()  # (N,)
    return sum(names[p] == label for p, label in zip(predicted, test_labels)) / len(test_labels)


@torch.no_grad()
def lm_accuracy(model: BiLM, chars: Tensor, ids: Tensor, lengths: Tensor) -> dict[str, float]:
    """Next-word accuracy of the forward LM and previous-word accuracy of the backward LM, in eval mode."""
    model.eval()
    forward_logits, backward_logits = model.lm_logits(model(chars, lengths))
    next_ids = next_token_targets(ids, lengths)
    previous_ids = reverse_padded(next_token_targets(reverse_padded(ids, lengths), lengths), lengths)
    scores = {}
    for name, logits, y in (("forward", forward_logits, next_ids), ("backward", backward_logits, previous_ids)):
        scored = y != IGNORE_INDEX
        scores[f"{name} LM accuracy"] = (logits.argmax(-1) == y)[scored].float().mean().item()
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train ELMo's biLM, then tell the senses of two-sense words apart with its contextual vectors.")
    add_corpus_arguments(parser, without="the generated corpus (kata.corpus), whose two-sense words bat, crane, kiwi "
                                         "and port are probed after training", max_len=30,
                         max_len_help="cut each sentence to its first N words (default %(default)s)")
    parser.add_argument("--train-size", type=int, default=2000, help="generated sentences to train on")
    parser.add_argument("--test-size", type=int, default=1000, help="generated sentences to test on")
    parser.add_argument("--embed-dim", type=int, default=32)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    try:
        if args.max_len < 2 or args.max_vocab < 1:
            raise ValueError(f"--max-len must be >= 2 and --max-vocab >= 1, got {args.max_len} and {args.max_vocab}")
        if args.corpus:  # a tenth of the file's sentences, drawn from the seed, to test on
            train_text, test_text = hold_out(read_corpus(args.corpus), args.seed, source=args.corpus)
            generated = None
        else:
            generated = corpus(args.train_size, seed=args.seed), corpus(args.test_size, seed=args.seed, split="test")
            train_text, test_text = generated[0].sentences, generated[1].sentences
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    punctuation = not args.drop_punctuation
    train_text, test_text = ([tokenize(s, punctuation=punctuation)[:args.max_len] for s in text]
                             for text in (train_text, test_text))
    train_text, test_text = [s for s in train_text if s], [s for s in test_text if s] or [["."]]
    vocab = Vocab.build(train_text, max_size=args.max_vocab + NUM_SPECIAL)
    config = ELMoConfig(vocab_size=len(vocab), embed_dim=args.embed_dim, num_layers=args.num_layers)
    chars, ids, lengths = (t.to(args.device) for t in encode(train_text, vocab, max_word_len=config.max_word_len))
    test = [t.to(args.device) for t in encode(test_text, vocab, max_word_len=config.max_word_len)]
    print(f"{len(train_text)} training and {len(test_text)} test sentences, {len(vocab)} words in the softmax")

    model = BiLM(config).to(args.device)
    print(f"BiLM: {sum(p.numel() for p in model.parameters()):,} parameters")
    clock = Stopwatch(epochs=args.epochs)
    losses = train(model, chars, ids, lengths, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                   seed=args.seed, log_every=1, evaluate=clock.timed(lambda: lm_accuracy(model, *test)))
    print(clock.total())
    print(f"loss curve: {pictures.curve({'biLM': losses}, '14_loss.png', title='14 ELMo: both LMs, training loss')}")
    scores = lm_accuracy(model, *test)
    print(", ".join(f"test {name} {value:.3f}" for name, value in scores.items()))
    if generated is None:
        return 0

    # Which sense? Centroids of each word's senses from the training sentences, tested on the test sentences.
    # The mix starts with equal weights (a task would train it); layer 0 alone is a static, word2vec-like vector.
    mix = ScalarMix(config.num_layers + 1).to(args.device)
    static = ScalarMix(1).to(args.device)
    for name, how in (("contextual (ScalarMix of every layer)", mix), ("static (the token layer)",
                                                                       lambda layers: static(layers[:1]))):
        correct = total = 0
        for word in SENSES:
            found = []
            for data in generated:
                occurrences = [s for s in data.senses if s.word == word and s.position < args.max_len]
                found.append((word_vectors(model, how, data.sentences, vocab,
                                           [(s.sentence, s.position) for s in occurrences]),
                              [s.sense for s in occurrences]))
            (X, labels), (X_test, test_labels) = found
            correct += nearest_centroid_accuracy(X, labels, X_test, test_labels) * len(test_labels)
            total += len(test_labels)
        print(f"sense of bat, crane, kiwi, port by nearest centroid, {name}: {correct / total:.3f} (chance 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

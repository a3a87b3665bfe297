"""BERT: a Transformer encoder pre-trained to fill in masked words and to tell whether two sentences follow.

J. Devlin, M.-W. Chang, K. Lee, K. Toutanova, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", NAACL 2019: the input (section 3, figure 2:
token + position + segment embeddings of "[CLS] A [SEP] B [SEP]"), the encoder (the
Transformer's encoder of Vaswani et al. 2017, post-LN, GELU), the two pre-training
tasks (section 3.1: the masked language model, 15% of the tokens, 80% [MASK] / 10% a
random token / 10% unchanged; next sentence prediction on [CLS]) and fine-tuning a
classifier on [CLS] (section 3.2). Every layer here takes Hugging Face's `BertModel`
parameter names, so the real weights of a BERT load with `load_state_dict(strict=True)`:
the hidden suite loads all-MiniLM-L6-v2 (a 6-layer BERT) and reproduces the real
model's sentence embeddings, and this file's `WordPiece` reproduces its tokenizer's ids.

The attention and the layer are written by hand: `nn.MultiheadAttention`,
`nn.TransformerEncoderLayer` and `F.scaled_dot_product_attention` are the suite's
references, off limits in your code. Dropout defaults to 0 in `BertConfig` (0.1 in the
paper) so that the suite's short runs are deterministic.

Read the lesson in README.md beside this file. Run the hidden tests with
    uv run pytest exercises/15_bert
and pre-train a small BERT on the generated stories, then fine-tune it, with
    uv run python exercises/15_bert/bert.py                 (or --corpus FILE: one sentence a line, in order)

Shapes: B batch, T tokens (positions), D the model's width (embed_dim), V vocabulary
size, h heads of d = D / h features each, F the feed-forward width (hidden_size).
"""

from __future__ import annotations

import argparse
import math
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kata import pictures
from kata.common import default_device, rng
from kata.corpus import CATEGORIES, WORDS, corpus, next_sentence_pairs
from kata.sequences import Stopwatch
from kata.text import IGNORE_INDEX, MASK_ID, NUM_SPECIAL, PAD_ID, Vocab, read_corpus
from kata.training import fit


# ------------------------------------------------------------------ WordPiece, BERT's tokenizer
def is_punctuation(char: str) -> bool:
    """BERT's rule: every ASCII symbol that is not a letter, digit or space ("$", "^", "`" included), and Unicode P*."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(char: str) -> bool:
    """A CJK ideograph (Chinese characters, also written in Japanese and Korean): each becomes a word of its own.

    Hangul (Korean's alphabet) and kana are not in these blocks: they are written with spaces between words.
    """
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
                                             (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
                                             (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


def basic_tokenize(text: str) -> list[str]:
    """BERT's basic (uncased) tokenizer: text -> words and punctuation marks, before WordPiece.

    In order: drop NUL, U+FFFD and control characters (Unicode C*, except tab, newline and
    carriage return, which are spaces); put spaces around CJK ideographs (is_cjk); split
    on whitespace (str.split, Unicode spaces included); lower-case each word, then strip its
    accents (unicodedata.normalize("NFD") and drop the combining marks, category "Mn"); then
    split every punctuation mark (is_punctuation) off as a token of its own.
    "Héllo, WORLD!" -> ["hello", ",", "world", "!"].
    """
    # BEGIN SOLUTION: drop control chars, space out CJK, split, lower-case, drop Mn accents, split punctuation
    cleaned = []
    for char in text:
        if char in "\t\n\r":
            cleaned.append(" ")  # whitespace, not a control character, for BERT
        elif ord(char) == 0 or ord(char) == 0xFFFD or unicodedata.category(char).startswith("C"):
            continue
        elif is_cjk(char):
            cleaned.append(f" {char} ")  # each ideograph is a word: Chinese has no spaces
        else:
            cleaned.append(char)
    tokens = []
    for word in "".join(cleaned).split():
        # NFD writes "é" as "e" + a combining accent (category Mn), which is dropped.
        word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            if is_punctuation(char):  # "re-tokenized" -> "re", "-", "tokenized"
                if current:
                    tokens.append(current)
                tokens.append(char)
                current = ""
            else:
                current += char
        if current:
            tokens.append(current)
    return tokens
    # END SOLUTION


class WordPiece:
    """BERT's tokenizer over a WordPiece vocabulary (a list of tokens, the id of a token its index).

    A word that is not in the vocabulary is split greedily, longest match first: its
    longest prefix in the vocabulary, then the longest continuation of what is left,
    spelled with "##" ("unbelievably" -> "un", "##bel", "##ie", ...). A word longer than
    `max_chars` characters, or with a part that nothing in the vocabulary matches, is
    one [UNK]. The vocabulary must hold [PAD], [UNK], [CLS], [SEP] and [MASK].
    """

    def __init__(self, vocab: Sequence[str], *, max_chars: int = 100) -> None:
        self.vocab = list(vocab)
        self.stoi = {token: i for i, token in enumerate(self.vocab)}
        self.max_chars = max_chars  # Hugging Face's max_input_chars_per_word
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t not in self.stoi]
        if missing:
            raise ValueError(f"a WordPiece vocabulary needs the special tokens, missing {missing}")
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            self.stoi[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))

    def split_word(self, word: str) -> list[str]:
        """One word of basic_tokenize -> its WordPiece tokens, or ["[UNK]"]."""
        # BEGIN SOLUTION: greedy longest match first, "##" after the first piece; [UNK] if too long or unmatched
        if len(word) > self.max_chars:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:  # the longest piece from `start` that the vocabulary knows
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.stoi:
                    break
                end -= 1
            if end == start:  # nothing matches here: the whole word is unknown, not just this part
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces
        # END SOLUTION

    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece tokens, without [CLS] and [SEP]: basic_tokenize, then split_word on each word."""
        return [piece for word in basic_tokenize(text) for piece in self.split_word(word)]

    def encode(self, text: str) -> list[int]:
        """Text -> ids of [CLS] tokens... [SEP], as BERT reads one sentence."""
        # BEGIN SOLUTION: [CLS], the id of each token of self.tokenize(text), [SEP]
        return [self.cls_id, *(self.stoi[token] for token in self.tokenize(text)), self.sep_id]
        # END SOLUTION

    def encode_batch(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Sentences -> ids (B, T) int64 padded with [PAD], and mask (B, T) bool, True at real tokens."""
        rows = [self.encode(text) for text in texts]
        T = max(len(row) for row in rows)
        ids = torch.tensor([row + [self.pad_id] * (T - len(row)) for row in rows])  # (B, T)
        mask = torch.tensor([[True] * len(row) + [False] * (T - len(row)) for row in rows])  # (B, T)
        return ids, mask


# ------------------------------------------------------------------ the model
@dataclass
class BertConfig:
    """The hyperparameters of a BERT; the defaults pre-train on a laptop CPU in seconds.

    BERT-base: BertConfig(30522, embed_dim=768, num_layers=12, num_heads=12, hidden_size=3072,
    max_len=512). `from_hf` reads a Hugging Face config.json.
    """

    vocab_size: int = 1000
    embed_dim: int = 64  # D, the width of every token's vector (Hugging Face's hidden_size; 768 in BERT-base)
    num_layers: int = 2
    num_heads: int = 4  # embed_dim must divide by it: each head sees embed_dim // num_heads features
    hidden_size: int = 256  # F, the feed-forward layer's width, 4 * embed_dim as in the paper (HF: intermediate_size)
    max_len: int = 64  # positions the learned position embedding covers (the paper: 512)
    type_vocab_size: int = 2  # segments: 0 for [CLS] A [SEP], 1 for B [SEP]
    eps: float = 1e-12  # every LayerNorm's epsilon, as BERT's (PyTorch's default is 1e-5)
    dropout: float = 0.0  # 0.1 in the paper; 0 keeps the hidden suite's runs deterministic and short
    init_std: float = 0.02  # the standard deviation of the initial weights (HF: initializer_range)

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be a multiple of num_heads ({self.num_heads})")

    @classmethod
    def from_hf(cls, config: dict) -> BertConfig:
        """The config of a Hugging Face BERT (its config.json as a dict); dropout 0, as for inference."""
        return cls(vocab_size=config["vocab_size"], embed_dim=config["hidden_size"],
                   num_layers=config["num_hidden_layers"], num_heads=config["num_attention_heads"],
                   hidden_size=config["intermediate_size"], max_len=config["max_position_embeddings"],
                   type_vocab_size=config["type_vocab_size"], eps=config["layer_norm_eps"],
                   init_std=config.get("initializer_range", 0.02))


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation of one module (use it as model.apply(lambda m: init_weights(m, std))).

    nn.Linear: weight from N(0, std^2), bias 0. nn.Embedding: weight from N(0, std^2), and
    the row of its padding_idx (when it has one) 0. nn.LayerNorm: weight 1, bias 0.
    Any other module is left as it is.
    """
    # BEGIN SOLUTION: normal(0, std) Linear/Embedding weights, zero biases and padding row, LayerNorm 1/0
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()  # [PAD]'s vector starts (and, unused, stays) at 0
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    # END SOLUTION


class Embeddings(nn.Module):
    """A token's input vector: its word + its position + its segment embedding, then LayerNorm and dropout.

    Attributes (Hugging Face's names): word_embeddings (nn.Embedding(vocab_size, D,
    padding_idx=PAD_ID)), position_embeddings (nn.Embedding(max_len, D)),
    token_type_embeddings (nn.Embedding(type_vocab_size, D)), LayerNorm (nn.LayerNorm(D,
    eps=config.eps)), dropout (nn.Dropout(config.dropout)).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        # BEGIN SOLUTION: create the word (padding_idx=PAD_ID), position and token type embeddings, LayerNorm, dropout
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=PAD_ID)
        self.position_embeddings = nn.Embedding(config.max_len, config.embed_dim)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embed_dim)
        self.LayerNorm = nn.LayerNorm(config.embed_dim, eps=config.eps)
        self.dropout = nn.Dropout(config.dropout)
        # END SOLUTION

    def forward(self, ids: Tensor, segments: Tensor | None = None) -> Tensor:
        """ids (B, T) int64, segments (B, T) int64 (None: all 0). Returns (B, T, D)."""
        # BEGIN SOLUTION: sum the word, position (0..T-1) and segment embeddings, then LayerNorm and dropout
        T = ids.shape[1]
        positions = torch.arange(T, device=ids.device)  # (T,): the same for every row, broadcast over B
        if segments is None:
            segments = torch.zeros_like(ids)  # (B, T): one sentence, segment A
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(segments)
        return self.dropout(self.LayerNorm(x))  # (B, T, D)
        # END SOLUTION


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention (Hugging Face's BertSelfAttention).

    Attributes: query, key, value (nn.Linear(D, D) each), dropout (nn.Dropout(config.dropout),
    on the attention weights). The heads are the D features cut into num_heads slices of
    d = D // num_heads: head i reads features i*d .. (i+1)*d - 1 of the query, key and value.
    The output projection is not here: it is the layer's attention.output.dense.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.query = nn.Linear(config.embed_dim, config.embed_dim)
        self.key = nn.Linear(config.embed_dim, config.embed_dim)
        self.value = nn.Linear(config.embed_dim, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, T, D); mask (B, T) bool, True at real tokens (None: all real). Returns the heads' outputs,
        concatenated: (B, T, D). A padded position is never attended to: its key gets weight 0."""
        # BEGIN SOLUTION: per head softmax(q k^T / sqrt(d)) v, padded keys masked out; concatenate the heads
        B, T, D = x.shape
        h, d = self.num_heads, D // self.num_heads

        def heads(t: Tensor) -> Tensor:
            return t.view(B, T, h, d).transpose(1, 2)  # (B, h, T, d)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, h, T, T): query t against key s
        if mask is not None:
            # The smallest finite value rather than -inf: a row with no real key then stays finite (uniform).
            scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        weights = self.dropout(scores.softmax(dim=-1))  # (B, h, T, T), each row sums to 1
        return (weights @ v).transpose(1, 2).reshape(B, T, D)  # (B, T, D): the heads side by side
        # END SOLUTION


class BertLayer(nn.Module):
    """One encoder layer, post-LN as in the paper and nn.TransformerEncoderLayer(norm_first=False, activation="gelu"):

        a = LayerNorm(x + dropout(attention.output.dense(attention.self(x, mask))))
        y = LayerNorm(a + dropout(output.dense(gelu(intermediate.dense(a)))))

    Attributes, with Hugging Face's names (so "encoder.layer.0.attention.self.query.weight" loads):
    attention["self"] (SelfAttention), attention["output"]["dense"] (nn.Linear(D, D)),
    attention["output"]["LayerNorm"], intermediate["dense"] (nn.Linear(D, F)), output["dense"]
    (nn.Linear(F, D)), output["LayerNorm"] (LayerNorms with eps=config.eps), dropout.
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        D, F_ = config.embed_dim, config.hidden_size
        # BEGIN SOLUTION: build attention (self, output), intermediate, output and dropout with HF's names
        # nn.ModuleDicts give the state-dict names of Hugging Face's BertAttention, BertIntermediate and BertOutput.
        self.attention = nn.ModuleDict({
            "self": SelfAttention(config),
            "output": nn.ModuleDict({"dense": nn.Linear(D, D), "LayerNorm": nn.LayerNorm(D, eps=config.eps)}),
        })
        self.intermediate = nn.ModuleDict({"dense": nn.Linear(D, F_)})
        self.output = nn.ModuleDict({"dense": nn.Linear(F_, D), "LayerNorm": nn.LayerNorm(D, eps=config.eps)})
        self.dropout = nn.Dropout(config.dropout)
        # END SOLUTION

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """x (B, T, D), mask (B, T) bool (None: all real). Returns (B, T, D)."""
        # BEGIN SOLUTION: attention, projection, residual + LayerNorm; GELU feed-forward, residual + LayerNorm
        attended = self.attention["output"]["dense"](self.attention["self"](x, mask))  # (B, T, D)
        a = self.attention["output"]["LayerNorm"](x + self.dropout(attended))  # (B, T, D): post-LN, after the residual
        hidden = F.gelu(self.intermediate["dense"](a))  # (B, T, F): the exact (erf) GELU, BERT's "gelu"
        return self.output["LayerNorm"](a + self.dropout(self.output["dense"](hidden)))  # (B, T, D)
        # END SOLUTION


class Bert(nn.Module):
    """Hugging Face's BertModel: embeddings, encoder.layer[0 .. num_layers-1] (BertLayer), pooler.

    Attributes: config, embeddings (Embeddings), encoder (nn.ModuleDict with "layer": an
    nn.ModuleList of BertLayers), pooler (nn.ModuleDict with "dense": nn.Linear(D, D)).
    Every weight is initialised with init_weights(module, config.init_std).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        # BEGIN SOLUTION: create embeddings, encoder["layer"] (num_layers BertLayers), pooler; apply init_weights
        self.embeddings = Embeddings(config)
        self.encoder = nn.ModuleDict({"layer": nn.ModuleList(BertLayer(config) for _ in range(config.num_layers))})
        self.pooler = nn.ModuleDict({"dense": nn.Linear(config.embed_dim, config.embed_dim)})
        self.apply(lambda module: init_weights(module, config.init_std))
        # END SOLUTION

    def forward(self, ids: Tensor, mask: Tensor | None = None, segments: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """ids (B, T) int64; mask (B, T) bool, True at real tokens (None: every position is real);
        segments (B, T) (None: all 0). Returns every token's last hidden state (B, T, D), and the
        pooled output (B, D): tanh(pooler.dense(the [CLS] token's, position 0's, last state))."""
        # BEGIN SOLUTION: embed, run every layer with the mask, pool: tanh of pooler.dense of position 0
        x = self.embeddings(ids, segments)  # (B, T, D)
        for layer in self.encoder["layer"]:
            x = layer(x, mask)  # (B, T, D)
        pooled = torch.tanh(self.pooler["dense"](x[:, 0]))  # (B, D): [CLS] stands for the whole input
        return x, pooled
        # END SOLUTION


def load_hf_weights(model: Bert, state_dict: dict[str, Tensor]) -> Bert:
    """Load a Hugging Face BertModel state dict (names without a "bert." prefix) with strict=True.

    Old versions of transformers saved the buffer "embeddings.position_ids" (0..max_len-1),
    which is no parameter: it is dropped here (Embeddings makes the positions with arange).
    """
    state_dict = {name: value for name, value in state_dict.items() if name != "embeddings.position_ids"}
    model.load_state_dict(state_dict, strict=True)
    return model


def sentence_embeddings(model: Bert, ids: Tensor, mask: Tensor) -> Tensor:
    """Sentence-transformers' embedding: the mean of the real tokens' last states, L2-normalised. (B, D)."""
    x, _ = model(ids, mask)  # (B, T, D)
    weights = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    mean = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)  # (B, D): padding excluded
    return F.normalize(mean, dim=-1)


class BertForPreTraining(nn.Module):
    """BERT with the two pre-training heads (Hugging Face's BertForPreTraining names).

    Attributes: bert (Bert(config)); cls["predictions"]: the masked-LM head, transform
    (nn.ModuleDict: dense nn.Linear(D, D), then GELU, then LayerNorm) and decoder (nn.Linear(D, V)
    whose weight IS bert.embeddings.word_embeddings.weight, the same Parameter, and whose bias
    is its own, initialised to 0); cls["seq_relationship"]: the next-sentence head, nn.Linear(D, 2)
    on the pooled output (class 1: B follows A).
    """

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = Bert(config)
        # BEGIN SOLUTION: build cls: predictions (transform, decoder tied to the word embeddings), seq_relationship
        D, V = config.embed_dim, config.vocab_size
        self.cls = nn.ModuleDict({
            "predictions": nn.ModuleDict({
                "transform": nn.ModuleDict({"dense": nn.Linear(D, D), "LayerNorm": nn.LayerNorm(D, eps=config.eps)}),
                "decoder": nn.Linear(D, V),
            }),
            "seq_relationship": nn.Linear(D, 2),
        })
        self.cls.apply(lambda module: init_weights(module, config.init_std))
        # Tied: the output layer scores token v with the same vector that embeds it (one parameter, not a copy).
        self.cls["predictions"]["decoder"].weight = self.bert.embeddings.word_embeddings.weight
        # END SOLUTION

    def forward(self, ids: Tensor, mask: Tensor | None = None, segments: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns the masked-LM logits (B, T, V) at every position and the next-sentence logits (B, 2)."""
        # BEGIN SOLUTION: MLM logits = decoder(LayerNorm(gelu(dense(states)))); NSP = seq_relationship(pooled)
        x, pooled = self.bert(ids, mask, segments)  # (B, T, D), (B, D)
        transform = self.cls["predictions"]["transform"]
        x = transform["LayerNorm"](F.gelu(transform["dense"](x)))  # (B, T, D)
        return self.cls["predictions"]["decoder"](x), self.cls["seq_relationship"](pooled)  # (B, T, V), (B, 2)
        # END SOLUTION


# ------------------------------------------------------------------ pre-training
def mask_tokens(ids: Tensor, *, vocab_size: int, generator: torch.Generator,
                mask_prob: float = 0.15) -> tuple[Tensor, Tensor]:
    """BERT's masking rule on a batch of ids (B, T) int64 (any shape works). Returns (inputs, labels), both like ids.

    Each token that is not special (id >= NUM_SPECIAL: never [PAD], [CLS], [SEP], ...) is
    chosen independently with probability mask_prob. A chosen token's label is its id, and
    its input is [MASK] with probability 0.8, a random word (uniform over the ids
    NUM_SPECIAL .. vocab_size - 1) with probability 0.1, and itself with probability 0.1.
    Every other position keeps its id and gets the label IGNORE_INDEX (-100). All the
    randomness comes from `generator` (on the CPU or on ids' device); ids are not changed.
    """
    # BEGIN SOLUTION: choose words with mask_prob; label them; 80% -> MASK_ID, 10% -> random word, 10% kept
    def uniform() -> Tensor:  # drawn on the generator's device, then moved to the ids'
        return torch.rand(ids.shape, generator=generator, device=generator.device).to(ids.device)

    chosen = (ids >= NUM_SPECIAL) & (uniform() < mask_prob)  # (B, T): special tokens and padding never
    labels = torch.where(chosen, ids, IGNORE_INDEX)  # (B, T)
    masked = chosen & (uniform() < 0.8)
    randomised = chosen & ~masked & (uniform() < 0.5)  # half of the remaining 20%: 10% of the chosen
    words = torch.randint(NUM_SPECIAL, vocab_size, ids.shape, generator=generator,
                          device=generator.device).to(ids.device)  # (B, T)
    inputs = torch.where(masked, MASK_ID, torch.where(randomised, words, ids))  # a new tensor: ids stay as they were
    return inputs, labels
    # END SOLUTION


def pretraining_data(pairs: Sequence[tuple[str, str, bool]], vocab: Vocab, *, generator: torch.Generator,
                     mask_prob: float = 0.15) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Sentence pairs (A, B, is_next) -> ids (N, T) masked, segments (N, T), mask (N, T), labels (N, T), is_next (N,).

    Each pair is "[CLS] A [SEP] B [SEP]" (kata.text.Vocab.encode_pairs), masked once by
    mask_tokens: the original BERT's static masking (RoBERTa masks anew each epoch).
    """
    ids, segments, mask, _ = vocab.encode_pairs([(a, b) for a, b, _ in pairs])  # (N, T) each
    inputs, labels = mask_tokens(ids, vocab_size=len(vocab), generator=generator, mask_prob=mask_prob)
    is_next = torch.tensor([int(nxt) for _, _, nxt in pairs])  # (N,)
    return inputs, segments, mask, labels, is_next


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer,
               batch: tuple[Tensor, Tensor, Tensor, Tensor, Tensor]) -> float:
    """One pre-training update on (ids, segments, mask, labels, is_next). Returns the batch's loss as a float.

    The loss is the masked-LM cross-entropy (averaged over the positions whose label is
    not -100) plus the next-sentence cross-entropy (averaged over the batch).
    """
    ids, segments, mask, labels, is_next = batch
    # BEGIN SOLUTION: zero_grad; MLM cross-entropy (skip -100) + NSP cross-entropy; backward, step
    optimizer.zero_grad()
    mlm_logits, nsp_logits = model(ids, mask, segments)  # (B, T, V), (B, 2)
    mlm = F.cross_entropy(mlm_logits.reshape(-1, mlm_logits.shape[-1]), labels.reshape(-1),
                          ignore_index=IGNORE_INDEX)
    loss = mlm + F.cross_entropy(nsp_logits, is_next)
    loss.backward()
    optimizer.step()
    return loss.item()
    # END SOLUTION


def train(model: nn.Module, data: tuple[Tensor, ...], *, epochs: int = 10, lr: float = 3e-3, batch_size: int = 64,
          seed: int = 0, log_every: int = 0, evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on train_step over `data` (pretraining_data's five tensors, on the model's device): each epoch's loss."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, data, optimizer, train_step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


@torch.no_grad()
def pretraining_accuracy(model: nn.Module, data: tuple[Tensor, ...]) -> dict[str, float]:
    """MLM accuracy over the masked positions (label != -100) and NSP accuracy, in eval mode."""
    ids, segments, mask, labels, is_next = data
    was_training = model.training
    model.eval()
    mlm_logits, nsp_logits = model(ids, mask, segments)
    model.train(was_training)
    chosen = labels != IGNORE_INDEX
    return {"MLM accuracy": (mlm_logits.argmax(-1) == labels)[chosen].float().mean().item(),
            "NSP accuracy": (nsp_logits.argmax(-1) == is_next).float().mean().item()}


# ------------------------------------------------------------------ fine-tuning
class Classifier(nn.Module):
    """A classifier on a (pre-trained) BERT: dropout then nn.Linear(D, num_classes) on the pooled [CLS] output.

    Attributes (Hugging Face's BertForSequenceClassification): bert (the given Bert, not a
    copy: fine-tuning trains it too), dropout (nn.Dropout(dropout)), classifier (nn.Linear(D, num_classes)).
    """

    def __init__(self, bert: Bert, num_classes: int, *, dropout: float = 0.1) -> None:
        super().__init__()
        # BEGIN SOLUTION: keep bert, create dropout and classifier reading the pooled output (D features)
        self.bert = bert
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(bert.config.embed_dim, num_classes)
        # END SOLUTION

    def forward(self, ids: Tensor, mask: Tensor | None = None, segments: Tensor | None = None) -> Tensor:
        """Returns logits (B, num_classes)."""
        # BEGIN SOLUTION: classifier(dropout(the pooled output of bert(ids, mask, segments)))
        _, pooled = self.bert(ids, mask, segments)  # (B, D)
        return self.classifier(self.dropout(pooled))  # (B, C)
        # END SOLUTION


SENSE_CLASSES = tuple(CATEGORIES)  # the categories a two-sense word's occurrence can take


def sense_data(n: int, vocab: Vocab, *, seed: int = 0, split: str = "train") -> tuple[Tensor, Tensor, Tensor]:
    """Sentences with a two-sense word ("the farmer feeds the bat"), labelled with the sense it has there.

    Returns ids (N, T), mask (N, T) and y (N,): the index of the sense's category in
    SENSE_CLASSES. The word alone cannot say ("bat": animals or tools, half the time each);
    only its context can (the verb that takes it): a task for a contextual model.
    """
    text = corpus(n, seed=seed, split=split)
    seen, sentences, y = set(), [], []
    for sense in text.senses:
        if sense.sentence not in seen:  # one label per sentence: its first two-sense word
            seen.add(sense.sentence)
            sentences.append(text.sentences[sense.sentence])
            y.append(SENSE_CLASSES.index(sense.sense))
    ids, mask, _ = vocab.encode_batch([["[CLS]", *s.split(), "[SEP]"] for s in sentences])
    return ids, mask, torch.tensor(y)


def finetune(model: Classifier, ids: Tensor, mask: Tensor, y: Tensor, *, epochs: int = 5, lr: float = 1e-3,
             batch_size: int = 32, seed: int = 0, log_every: int = 0,
             evaluate: Callable[[], dict[str, float]] | None = None) -> list[float]:
    """Adam on the cross-entropy of model(ids, mask) against y, every parameter trained. Each epoch's mean loss."""
    def step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[Tensor, Tensor, Tensor]) -> float:
        ids, mask, y = batch
        optimizer.zero_grad()
        loss = F.cross_entropy(model(ids, mask), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(model, (ids, mask, y), optimizer, step, epochs=epochs, batch_size=batch_size, seed=seed,
               log_every=log_every, evaluate=evaluate)


def _corpus_pairs(sentences: Sequence[str], n: int, generator: torch.Generator) -> list[tuple[str, str, bool]]:
    """NSP pairs from a text file's lines in order: half the next line, half a random line."""
    if len(sentences) < 3:
        raise ValueError("--corpus needs at least 3 sentences for next-sentence pairs")
    pairs = []
    for _ in range(n):
        i = int(torch.randint(len(sentences) - 1, (1,), generator=generator))
        if torch.rand(1, generator=generator).item() < 0.5:
            pairs.append((sentences[i], sentences[i + 1], True))
        else:
            j = int(torch.randint(len(sentences), (1,), generator=generator))
            pairs.append((sentences[i], sentences[j], j == i + 1))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pre-train a small BERT (MLM + NSP), then fine-tune it to tell "
                                                 "a two-sense word's sense from its context.")
    parser.add_argument("--corpus", default=None, metavar="FILE",
                        help="pre-train on a text file, one sentence a line, in order (default: generated stories)")
    parser.add_argument("--max-len", type=int, default=64, metavar="N",
                        help="cut each sentence of --corpus to its first N tokens (default %(default)s)")
    parser.add_argument("--max-vocab", type=int, default=5000, metavar="N",
                        help="--corpus: keep the N most frequent words (default %(default)s)")
    parser.add_argument("--train-size", type=int, default=4000, help="sentence pairs to pre-train on")
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device())
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    generator = rng(args.seed, "train")
    try:
        if args.corpus:
            sentences = [" ".join(s.split()[:args.max_len]) for s in read_corpus(args.corpus)]
            vocab = Vocab.build(sentences, max_size=args.max_vocab + NUM_SPECIAL)
            cut = max(1, len(sentences) * 9 // 10)
            train_pairs = _corpus_pairs(sentences[:cut], args.train_size, generator)
            test_pairs = _corpus_pairs(sentences[cut:] if len(sentences) - cut >= 3 else sentences, args.test_size,
                                       generator)
        else:
            vocab = Vocab(WORDS)
            train_pairs = next_sentence_pairs(args.train_size, seed=args.seed)
            test_pairs = next_sentence_pairs(args.test_size, seed=args.seed, split="test")
        config = BertConfig(len(vocab), embed_dim=args.embed_dim, num_layers=args.num_layers,
                            num_heads=args.num_heads, hidden_size=4 * args.embed_dim, max_len=2 * args.max_len + 3,
                            dropout=args.dropout)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    data = tuple(t.to(args.device) for t in pretraining_data(train_pairs, vocab, generator=generator))
    test = tuple(t.to(args.device) for t in pretraining_data(test_pairs, vocab, generator=generator))
    model = BertForPreTraining(config).to(args.device)
    print(f"{len(train_pairs)} sentence pairs, vocabulary {len(vocab)}; BertForPreTraining: "
          f"{sum(p.numel() for p in model.parameters()):,} parameters")

    clock = Stopwatch(epochs=args.epochs)
    losses = train(model, data, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                   log_every=1, evaluate=clock.timed(lambda: pretraining_accuracy(model, test)))
    print(f"loss curve: {pictures.curve({'MLM + NSP': losses}, '15_pretraining_loss.png', title='15 pre-training')}")
    scores = pretraining_accuracy(model, test)
    print(f"pre-training: {clock.total()}; test MLM accuracy {scores['MLM accuracy']:.3f}, NSP accuracy "
          f"{scores['NSP accuracy']:.3f} (chance: 1/{len(vocab) - NUM_SPECIAL} and 0.5)")
    if args.corpus:
        return 0

    # Fine-tuning: the pre-trained encoder, a new head, every weight trained on a few labelled sentences.
    ids, mask, y = (t.to(args.device) for t in sense_data(1000, vocab, seed=args.seed))
    test_ids, test_mask, test_y = (t.to(args.device) for t in sense_data(1000, vocab, seed=args.seed, split="test"))
    classifier = Classifier(model.bert, len(SENSE_CLASSES), dropout=args.dropout).to(args.device)

    @torch.no_grad()
    def sense_accuracy() -> dict[str, float]:
        classifier.eval()
        accuracy = (classifier(test_ids, test_mask).argmax(-1) == test_y).float().mean().item()
        classifier.train()
        return {"test sense accuracy": accuracy}

    losses = finetune(classifier, ids, mask, y, epochs=3, lr=1e-3, seed=args.seed, log_every=1,
                      evaluate=sense_accuracy)
    print(f"loss curve: {pictures.curve({'sense': losses}, '15_finetuning_loss.png', title='15 fine-tuning')}")
    print(f"fine-tuned on {len(y)} sentences: test sense accuracy {sense_accuracy()['test sense accuracy']:.3f} "
          "(the word alone: 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

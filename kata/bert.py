"""A BERT built from PyTorch's own blocks, and the real tokenizer, for topics 16 and 17.

Topic 15 writes BERT by hand, parameter by parameter. Topics 16 (Sentence-BERT) and 17
(ColBERT) are about what goes on top of it, so they use this one: the same model made
from `nn.Embedding`, `nn.LayerNorm` and `nn.TransformerEncoder` (post-LN, GELU), as a
practitioner would once they have written it themselves.

    from kata.bert import BertConfig, Encoder, minilm_encoder, minilm_tokenizer
    encoder = Encoder(BertConfig.small(vocab_size=len(vocab)))  # a small one to train in seconds
    hidden = encoder(ids, mask)                                 # (B, T, hidden)

    bert, tokenizer = minilm_encoder(), minilm_tokenizer()      # all-MiniLM-L6-v2's real weights
    ids, mask = tokenizer.encode_batch(["A man is playing a guitar."])  # (1, 9), (1, 9)
    hidden = bert(ids, mask)                                    # (1, 9, 384)

`ids` are (B, T) int64 with 0 at padding (the project's [PAD] and BERT's), and `mask` is
(B, T) bool, True at real tokens, as `kata.text.pad_sequences` makes them.

The real weights come with Hugging Face's `BertModel` names (`kata.pretrained`);
`hf_to_encoder` maps them to this module's names, and `hf_layer_to_torch` maps one
`encoder.layer.i` block to `nn.TransformerEncoderLayer`'s (its query, key and value
weights are one `in_proj_weight`, stacked in that order). The pooler ([CLS] through a
dense layer and tanh) is left out: Sentence-BERT and ColBERT do not use it.

`WordPiece` is BERT's uncased tokenizer (what `tokenizer.json` describes): clean the
text, put spaces around CJK ideographs, lower-case, strip accents, split on whitespace
and punctuation, then split each word greedily into the longest pieces the vocabulary
has, continuations marked "##"; a word longer than 100 characters, or one that no
pieces spell, is "[UNK]". It gives the real tokenizer's ids on the sentences of
`kata/minilm_reference.json`, Korean included (Hangul decomposes to its letters).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from kata.text import pad_sequences


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    max_len: int = 512  # positions
    type_vocab: int = 2  # segments: A and B
    eps: float = 1e-12  # LayerNorm's
    dropout: float = 0.1

    @classmethod
    def small(cls, vocab_size: int, *, hidden: int = 64, layers: int = 2, heads: int = 4, max_len: int = 64,
              dropout: float = 0.0) -> BertConfig:
        """A BERT that trains in seconds on one CPU thread (the suites'): hidden 64, 2 layers, 4 heads."""
        return cls(vocab_size, hidden, layers, heads, 4 * hidden, max_len, 2, 1e-12, dropout)

    @classmethod
    def from_hf(cls, config: dict) -> BertConfig:
        """From a Hugging Face config.json (`kata.pretrained.minilm().config`)."""
        kind = (config.get("hidden_act", "gelu"), config.get("position_embedding_type", "absolute"))
        if kind != ("gelu", "absolute"):
            raise ValueError("only BERTs with GELU and absolute positions are supported")
        return cls(config["vocab_size"], config["hidden_size"], config["num_hidden_layers"],
                   config["num_attention_heads"], config["intermediate_size"], config["max_position_embeddings"],
                   config["type_vocab_size"], config["layer_norm_eps"], config["hidden_dropout_prob"])


class Encoder(nn.Module):
    """BERT without its pooler: embeddings (token + position + segment, LayerNorm, dropout), then the layers."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.word = nn.Embedding(config.vocab_size, config.hidden, padding_idx=0)
        self.position = nn.Embedding(config.max_len, config.hidden)
        self.segment = nn.Embedding(config.type_vocab, config.hidden)
        self.norm = nn.LayerNorm(config.hidden, eps=config.eps)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(config.hidden, config.heads, config.intermediate, config.dropout,
                                           activation="gelu", layer_norm_eps=config.eps, batch_first=True)
        self.layers = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)

    def forward(self, ids: Tensor, mask: Tensor, segments: Tensor | None = None) -> Tensor:
        T = ids.shape[1]
        if T > self.config.max_len:
            raise ValueError(f"the batch has {T} positions; this BERT has {self.config.max_len}")
        positions = torch.arange(T, device=ids.device)  # (T,)
        x = self.word(ids) + self.position(positions)  # (B, T, H)
        x = x + (self.segment(segments) if segments is not None else self.segment.weight[0])
        x = self.dropout(self.norm(x))
        return self.layers(x, src_key_padding_mask=~mask)  # (B, T, H); padding never attended to


# ---------------------------------------------------------------- Hugging Face names
_EMBEDDINGS = {"embeddings.word_embeddings.weight": "word.weight",
               "embeddings.position_embeddings.weight": "position.weight",
               "embeddings.token_type_embeddings.weight": "segment.weight",
               "embeddings.LayerNorm.weight": "norm.weight", "embeddings.LayerNorm.bias": "norm.bias"}
_LAYER = {"attention.output.dense": "self_attn.out_proj", "attention.output.LayerNorm": "norm1",
          "intermediate.dense": "linear1", "output.dense": "linear2", "output.LayerNorm": "norm2"}
_UNUSED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def hf_layer_to_torch(layer: dict[str, Tensor]) -> dict[str, Tensor]:
    """One BERT layer's tensors by HF name without its `encoder.layer.i.` prefix -> `nn.TransformerEncoderLayer`'s."""
    out = {}
    for kind in ("weight", "bias"):
        out[f"self_attn.in_proj_{kind}"] = torch.cat([layer[f"attention.self.{n}.{kind}"]
                                                     for n in ("query", "key", "value")])
        for hf, ours in _LAYER.items():
            out[f"{ours}.{kind}"] = layer[f"{hf}.{kind}"]
    return out


def hf_to_encoder(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """A `BertModel` state dict (HF names) -> `Encoder`'s; the pooler and `embeddings.position_ids` are dropped."""
    out = {ours: state_dict[hf] for hf, ours in _EMBEDDINGS.items()}
    layers: dict[int, dict[str, Tensor]] = {}
    for name, tensor in state_dict.items():
        if name.startswith("encoder.layer."):
            index, rest = name[len("encoder.layer."):].split(".", 1)
            layers.setdefault(int(index), {})[rest] = tensor
        elif name not in _EMBEDDINGS and name not in _UNUSED:
            raise KeyError(f"unexpected tensor in a BertModel state dict: {name}")
    for i in sorted(layers):
        out.update({f"layers.layers.{i}.{name}": t for name, t in hf_layer_to_torch(layers[i]).items()})
    return out


def minilm_encoder() -> Encoder:
    """all-MiniLM-L6-v2 as an `Encoder`, its real weights loaded strictly, in eval mode (a fresh model each call).

    Raises kata.pretrained.WeightsError (a one-sentence message) when the weights are not installed.
    """
    from kata.pretrained import minilm

    model = minilm()
    encoder = Encoder(BertConfig.from_hf(model.config))
    encoder.load_state_dict(hf_to_encoder(model.state_dict()), strict=True)
    return encoder.eval()


# ---------------------------------------------------------------- the tokenizer
def _is_punctuation(char: str) -> bool:
    """BERT's rule: the ASCII symbols ("$", "^", "`" are not Unicode punctuation, but split too), or category P*."""
    cp = ord(char)
    return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
        unicodedata.category(char).startswith("P")


_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))  # ideographs: one token each; not Hangul


class WordPiece:
    """BERT's uncased WordPiece tokenizer over a vocabulary (one token per id, in id order)."""

    def __init__(self, vocab: Sequence[str], *, max_chars: int = 100, max_len: int = 256):
        self.vocab = list(vocab)
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        self.max_chars, self.max_len = max_chars, max_len  # max_len: all-MiniLM-L6-v2's max_seq_length
        self.unk_id, self.cls_id, self.sep_id, self.pad_id = (self.ids[t] for t in ("[UNK]", "[CLS]", "[SEP]", "[PAD]"))

    def words(self, text: str) -> list[str]:
        """The basic tokenizer: cleaned, lower-cased, accents stripped, split on whitespace and punctuation."""
        spaced = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(char) in ("Cc", "Cf") and char not in "\t\n\r"):
                continue  # control characters go
            if any(lo <= cp <= hi for lo, hi in _CJK):
                spaced.append(f" {char} ")
            else:
                spaced.append(" " if char.isspace() else char)
        words = []
        for word in "".join(spaced).split():
            word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
            piece = ""
            for char in word:
                if _is_punctuation(char):
                    words += [piece, char] if piece else [char]
                    piece = ""
                else:
                    piece += char
            words += [piece] if piece else []
        return words

    def pieces(self, word: str) -> list[str]:
        """Longest match first: "tokenized" -> ["token", "##ized"]; ["[UNK]"] when it cannot be spelled."""
        if len(word) > self.max_chars:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return ["[UNK]"]
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in self.words(text) for piece in self.pieces(word)]

    def encode(self, text: str) -> list[int]:
        """[CLS] the pieces' ids [SEP], cut to max_len (the [SEP] kept)."""
        ids = [self.ids[piece] for piece in self.tokenize(text)][:self.max_len - 2]
        return [self.cls_id, *ids, self.sep_id]

    def encode_batch(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """ids (B, T) int64 padded with [PAD], mask (B, T) bool True at real tokens."""
        ids, mask, _ = pad_sequences([self.encode(text) for text in texts], pad_id=self.pad_id)
        return ids, mask


def minilm_tokenizer() -> WordPiece:
    """all-MiniLM-L6-v2's tokenizer (its vocab.txt, checked): max_len 256, as the model was trained."""
    from kata.pretrained import minilm

    return WordPiece(minilm().vocab)

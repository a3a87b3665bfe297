"""kata.bert: the BERT made of PyTorch's own blocks and the real WordPiece tokenizer that
topics 16 and 17 build on. With all-MiniLM-L6-v2's real weights they must reproduce the
real model (kata/minilm_reference.json), or the topics above them test nothing real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import kata
from kata import bert

REFERENCE = json.loads((Path(kata.__file__).parent / "minilm_reference.json").read_text(encoding="utf-8"))


def test_the_tokenizer_gives_the_real_tokenizers_ids():
    tokenizer = bert.minilm_tokenizer()
    for sentence in REFERENCE["sentences"]:
        assert tokenizer.encode(sentence["text"]) == sentence["input_ids"], sentence["text"]


def test_wordpiece_rules_on_a_toy_vocabulary():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "cafe", ",", "!", "a", "$", "中"]
    tokenizer = bert.WordPiece(vocab, max_chars=5, max_len=6)
    assert tokenizer.tokenize("UnAffable, Café!") == ["[UNK]", ",", "cafe", "!"]  # 9 letters > max_chars 5
    assert bert.WordPiece(vocab).tokenize("UnAffable, Café!") == ["un", "##aff", "##able", ",", "cafe", "!"]
    assert tokenizer.tokenize("unx a$a\x00 中a") == ["[UNK]", "a", "$", "a", "中", "a"]  # no piece spells "unx"
    assert tokenizer.encode("a a a a a a a") == [2, 11, 11, 11, 11, 3]  # cut to max_len, [SEP] kept
    ids, mask = tokenizer.encode_batch(["a", "a a"])
    assert ids.tolist() == [[2, 11, 3, 0], [2, 11, 11, 3]] and mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_the_encoder_with_the_real_weights_reproduces_the_real_sentence_embeddings():
    encoder, tokenizer = bert.minilm_encoder(), bert.minilm_tokenizer()
    assert not encoder.training
    ids, mask = tokenizer.encode_batch([s["text"] for s in REFERENCE["sentences"]])
    with torch.no_grad():
        hidden = encoder(ids, mask)  # (10, T, 384)
    mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    expected = torch.tensor([s["embedding"] for s in REFERENCE["sentences"]])
    cosine = (F.normalize(mean, dim=-1) * expected).sum(-1)
    assert cosine.min() > 0.99999, cosine  # measured: 0.9999999, max |difference| 2e-7


def test_the_key_maps_cover_every_tensor_and_one_layer_equals_torchs_layer():
    from kata.pretrained import minilm

    weights = minilm().state_dict()
    mapped = bert.hf_to_encoder(weights)
    assert set(mapped) == set(bert.Encoder(bert.BertConfig.from_hf(minilm().config)).state_dict())
    with pytest.raises(KeyError, match="unexpected tensor"):
        bert.hf_to_encoder({**weights, "cls.predictions.bias": torch.zeros(1)})
    layer = {name[len("encoder.layer.3."):]: w for name, w in weights.items() if name.startswith("encoder.layer.3.")}
    torch_layer = nn.TransformerEncoderLayer(384, 12, 1536, 0.0, activation="gelu", layer_norm_eps=1e-12,
                                             batch_first=True)
    torch_layer.load_state_dict(bert.hf_layer_to_torch(layer), strict=True)
    assert torch.equal(torch_layer.self_attn.in_proj_weight[384:768], layer["attention.self.key.weight"])


def test_a_small_encoder_trains_and_padding_changes_no_real_token():
    torch.manual_seed(0)
    encoder = bert.Encoder(bert.BertConfig.small(50))
    ids = torch.randint(5, 50, (3, 7))  # (B, T)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[0, 5:] = False
    encoder(ids, mask, segments=torch.zeros_like(ids)).sum().backward()
    assert all(p.grad is not None for name, p in encoder.named_parameters() if name != "word.weight")
    encoder.eval()
    with torch.no_grad():
        short = encoder(ids[:1, :5], mask[:1, :5])
        padded = encoder(ids[:1], mask[:1])
    torch.testing.assert_close(short, padded[:, :5], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="positions"):
        encoder(torch.zeros(1, 65, dtype=torch.int64), torch.ones(1, 65, dtype=torch.bool))

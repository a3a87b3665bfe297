"""Hidden suite for 15 BERT: BERT's tokenizer against the real one, the embeddings, the attention and
the layer against PyTorch's own (nn.MultiheadAttention, nn.TransformerEncoderLayer with copied
weights), the whole model against the real all-MiniLM-L6-v2 (its weights loaded with strict=True,
its sentence embeddings reproduced), BERT-base's parameter count on the meta device, the tied
MLM head and the NSP head, the masking rule on a large sample, the pre-training step, and
pre-training and fine-tuning on the generated corpus.

Equivalence tests run in float64 on tiny sizes with random weights; padding holds real word
ids, so a model that reads it shows. The real weights are read once per process.
"""

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from grader.checks import assert_at_least, assert_close, assert_equal, calling, check_tensor, fill_uniform, on_meta
from kata.corpus import WORDS, next_sentence_pairs
from kata.text import MASK_ID, NUM_SPECIAL, Vocab
from kata.training import fit

shapes, gradients, accuracy, task = pytest.mark.shapes, pytest.mark.gradients, pytest.mark.accuracy, pytest.mark.task

REFERENCE = json.loads((Path(__file__).resolve().parents[2] / "kata" / "minilm_reference.json").read_text("utf-8"))
LAYER_NAMES = ["attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight",
               "attention.self.key.bias", "attention.self.value.weight", "attention.self.value.bias",
               "attention.output.dense.weight", "attention.output.dense.bias", "attention.output.LayerNorm.weight",
               "attention.output.LayerNorm.bias", "intermediate.dense.weight", "intermediate.dense.bias",
               "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias"]
HEADS_HINT = ("split D into num_heads slices of d = D // num_heads: q.view(B, T, h, d).transpose(1, 2) is (B, h, T, d); "
              "scores = q @ k.transpose(-2, -1) / sqrt(d), softmax over the keys (dim=-1), @ v, then "
              ".transpose(1, 2).reshape(B, T, D)")
MASK_HINT = ("a padded key gets weight 0: scores.masked_fill(~mask[:, None, None, :], a very negative value) before "
             "the softmax; mask is True at real tokens, and masks the keys (the last dimension), not the queries")
TOY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "unbe", "##bel", "##liev", "##ably", "##a", "##b",
             "a", "b", "cafe", ",", ".", "-", "the", "##s", "ab"]


def _config(topic, **kwargs):
    settings = dict(vocab_size=30, embed_dim=8, num_layers=2, num_heads=2, hidden_size=12, max_len=10)
    settings.update(kwargs)
    return topic.BertConfig(**settings)


def _padded(g, lengths, vocab_size=30):
    """ids (B, T) of word ids with real word ids (not [PAD]) in the padding too, and mask (B, T)."""
    lengths = torch.tensor(lengths)
    ids = torch.randint(NUM_SPECIAL, vocab_size, (len(lengths), int(lengths.max())), generator=g)
    mask = torch.arange(ids.shape[1]) < lengths[:, None]  # (B, T)
    return ids, mask


class _CpuTensors(TorchDispatchMode):
    """Records the operators that make a CPU tensor while the code under test runs on meta inputs."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in tree_flatten(out)[0]):
            self.ops.append(str(func))
        return out


def _to_torch_layer(layer, config):
    """nn.TransformerEncoderLayer (post-LN, GELU, batch_first) with the weights of the learner's BertLayer."""
    ref = nn.TransformerEncoderLayer(config.embed_dim, config.num_heads, config.hidden_size, dropout=0.0,
                                     activation="gelu", layer_norm_eps=config.eps, batch_first=True).double()
    sd = layer.state_dict()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([sd[f"attention.self.{n}.weight"] for n in ("query", "key",
                                                                                                  "value")]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([sd[f"attention.self.{n}.bias"] for n in ("query", "key", "value")]))
        for theirs, ours in (("self_attn.out_proj", "attention.output.dense"), ("linear1", "intermediate.dense"),
                             ("linear2", "output.dense"), ("norm1", "attention.output.LayerNorm"),
                             ("norm2", "output.LayerNorm")):
            ref.get_submodule(theirs).weight.copy_(sd[f"{ours}.weight"])
            ref.get_submodule(theirs).bias.copy_(sd[f"{ours}.bias"])
    return ref


# ------------------------------------------------------------------ basic_tokenize
@gradients
@task("basic_tokenize")
def test_basic_tokenize_cleans_lowercases_strips_accents_and_splits_punctuation(topic):
    cases = {
        "Héllo, WORLD!": ["hello", ",", "world", "!"],
        "  tabs\tand\nnew\r\nlines  ": ["tabs", "and", "new", "lines"],
        "no\x00nul\u200bzero\ufffdwidth\x07bell": ["nonulzerowidthbell"],
        "re-tokenized e-mail @ 10:30pm...": ["re", "-", "tokenized", "e", "-", "mail", "@", "10", ":", "30pm",
                                             ".", ".", "."],
        "$5^2`x~y": ["$", "5", "^", "2", "`", "x", "~", "y"],
        "naïve CAFÉ — déjà vu?": ["naive", "cafe", "—", "deja", "vu", "?"],
        "我爱BERT模型": ["我", "爱", "bert", "模", "型"],
        "서울은 좋다": ["서울은", "좋다"],
        "": [],
    }
    for text, expected in cases.items():
        with calling("basic_tokenize raised on this text"):
            got = topic.basic_tokenize(text)
        got = [__import__("unicodedata").normalize("NFC", t) for t in got]
        assert got == expected, (
            f"basic_tokenize({text!r}) should give {expected}, got {got}. Likely cause: "
            "control characters (Unicode category C*, not tab/newline) are dropped and tab/newline are spaces; "
            "each CJK ideograph is a word of its own; words are lower-cased and NFD-normalised with the combining "
            "marks (category Mn) dropped; every punctuation mark (ASCII 33-47, 58-64, 91-96, 123-126, or Unicode P*) "
            "is a token of its own")


# ------------------------------------------------------------------ WordPiece
@gradients
@task("WordPiece")
def test_wordpiece_greedy_longest_match_first_on_a_toy_vocabulary(topic):
    wp = topic.WordPiece(TOY_VOCAB)
    cases = {
        "unbelievably": ["unbe", "##liev", "##ably"],  # longest first: "unbe", not "un"
        "ab": ["ab"],
        "abab": ["ab", "##a", "##b"],
        "unbel": ["[UNK]"],  # "unbe", then nothing matches "l": the whole word is [UNK] (no backtracking to "un")
        "xab": ["[UNK]"],
        "Café, the cafes.": ["cafe", ",", "the", "cafe", "##s", "."],
        "a" * 100: ["a"] + ["##a"] * 99,
        "a" * 101: ["[UNK]"],
    }
    for text, expected in cases.items():
        with calling("WordPiece.tokenize raised on this text"):
            got = wp.tokenize(text)
        assert got == expected, (
            f"WordPiece(toy vocabulary).tokenize({text[:30]!r}{'...' if len(text) > 30 else ''}) should give "
            f"{expected[:6]}{' ...' if len(expected) > 6 else ''}, got {got[:6]}{' ...' if len(got) > 6 else ''}. "
            "Likely cause: take the longest piece from the current position that is in the vocabulary, spelled "
            "'##' + piece after the first; a word with a part nothing matches is one [UNK] (not [UNK] for that "
            "part only); a word of more than max_chars (100) characters is [UNK], a word of exactly 100 is split")
    short = topic.WordPiece(TOY_VOCAB, max_chars=3)
    assert short.tokenize("abab ab") == ["[UNK]", "ab"], (
        f"WordPiece(vocab, max_chars=3).tokenize('abab ab') should give ['[UNK]', 'ab'], got "
        f"{short.tokenize('abab ab')}. Likely cause: the limit is self.max_chars, not the constant 100")
    ids = wp.encode("the abab")
    expected = [2, 18, 20, 10, 11, 3]
    assert ids == expected, (f"WordPiece(toy).encode('the abab') should give {expected} ([CLS] the ab ##a ##b [SEP]), "
                             f"got {ids}. Likely cause: [CLS] first and [SEP] last, each token's index in the vocab")
    assert wp.encode("") == [2, 3], f"encode('') should give [CLS] [SEP] = [2, 3], got {wp.encode('')}"


@gradients
@task("WordPiece")
def test_wordpiece_reproduces_the_real_tokenizers_ids(topic, minilm_weights):
    wp = topic.WordPiece(minilm_weights.vocab)
    for sentence in REFERENCE["sentences"]:
        with calling("WordPiece.encode raised on a sentence of the real model's reference"):
            got = wp.encode(sentence["text"])
        expected = sentence["input_ids"]
        assert got == expected, (
            f"WordPiece(all-MiniLM-L6-v2's vocabulary).encode({sentence['text']!r}) should give the real "
            f"tokenizer's ids {expected}, got {got} (tokens {[wp.vocab[i] for i in got if 0 <= i < len(wp.vocab)]}). "
            "Likely cause: accents are stripped after NFD (Korean syllables decompose into jamo and stay), "
            "punctuation split by BERT's rule, greedy longest match first with '##' continuations")


# ------------------------------------------------------------------ init_weights
@gradients
@task("init_weights")
def test_init_weights_follows_bert(topic):
    torch.manual_seed(0)
    linear, embedding = nn.Linear(400, 300), nn.Embedding(500, 240, padding_idx=3)
    norm, other = nn.LayerNorm(7), nn.Conv1d(2, 2, 3)
    with torch.no_grad():
        norm.weight.fill_(5.0)
        norm.bias.fill_(2.0)
    before = copy.deepcopy(other.state_dict())
    for module in (linear, embedding, norm, other):
        topic.init_weights(module, 0.05)
    for name, w in (("Linear(400, 300).weight", linear.weight), ("Embedding(500, 240).weight", embedding.weight)):
        values = w.detach()[torch.arange(len(w)) != 3] if "Embedding" in name else w.detach()
        std, mean = values.std().item(), values.mean().item()
        assert abs(std - 0.05) < 0.001 and abs(mean) < 0.001 and values.abs().max() > 3.5 * 0.05, (
            f"init_weights({name}, std=0.05): the weights should be drawn from N(0, 0.05^2): mean {mean:.4f} "
            f"(expected 0), std {std:.4f} (expected 0.05). Likely cause: nn.init.normal_(weight, 0.0, std) with the "
            "std given, not PyTorch's default init or a uniform")
    assert_equal(linear.bias, torch.zeros(300), "init_weights(Linear).bias", hint="a Linear's bias starts at 0")
    assert_equal(embedding.weight[3], torch.zeros(240), "init_weights(Embedding(..., padding_idx=3)).weight[3]",
                 hint="the padding_idx row is zeroed after the normal draw (module.weight[padding_idx] = 0)")
    assert_equal(norm.weight, torch.ones(7), "init_weights(LayerNorm).weight", hint="LayerNorm weight 1, bias 0")
    assert_equal(norm.bias, torch.zeros(7), "init_weights(LayerNorm).bias", hint="LayerNorm weight 1, bias 0")
    for name, value in other.state_dict().items():
        assert_equal(value, before[name], f"init_weights(Conv1d).{name}", hint="other modules are left as they are")
    torch.manual_seed(0)
    model = topic.Bert(_config(topic, vocab_size=400, embed_dim=64, hidden_size=256, init_std=0.1))
    weights = torch.cat([p.detach().flatten() for n, p in model.named_parameters()
                         if n.endswith("weight") and "LayerNorm" not in n])
    assert abs(weights.std().item() - 0.1) < 0.003, (
        f"Bert(config with init_std=0.1): the weights' std is {weights.std().item():.4f}, expected 0.1. Likely "
        "cause: Bert.__init__ must apply init_weights(module, config.init_std) to every module (self.apply)")


# ------------------------------------------------------------------ Embeddings
@shapes
@task("Embeddings")
def test_embeddings_layers_and_shapes(topic):
    config = _config(topic, vocab_size=30, embed_dim=8, max_len=10, type_vocab_size=3, eps=1e-3)
    emb = topic.Embeddings(config)
    for name, shape in (("word_embeddings", (30, 8)), ("position_embeddings", (10, 8)),
                        ("token_type_embeddings", (3, 8))):
        layer = getattr(emb, name, None)
        assert isinstance(layer, nn.Embedding), f"Embeddings.{name} should be an nn.Embedding, got {layer!r:.80}"
        check_tensor(layer.weight, f"Embeddings(config).{name}.weight", shape=shape,
                     hint="vocab_size, max_len and type_vocab_size rows of embed_dim features")
    assert emb.word_embeddings.padding_idx == 0, "Embeddings.word_embeddings should have padding_idx=PAD_ID (0)"
    assert isinstance(emb.LayerNorm, nn.LayerNorm) and emb.LayerNorm.eps == 1e-3, (
        f"Embeddings.LayerNorm should be nn.LayerNorm(embed_dim, eps=config.eps) (1e-3 here), got {emb.LayerNorm!r}")
    with torch.device("meta"):
        emb = topic.Embeddings(config)
    with on_meta("Embeddings(config)(ids (2, 5)) on the meta device") as meta:
        out = emb(torch.zeros(2, 5, dtype=torch.int64, device="meta"))
        out2 = emb(torch.zeros(2, 5, dtype=torch.int64, device="meta"),
                   torch.ones(2, 5, dtype=torch.int64, device="meta"))
    if meta.ran:
        check_tensor(out, "Embeddings(config)(ids (2, 5))", shape=(2, 5, 8), device="meta",
                     hint="the positions must be made on the ids' device: torch.arange(T, device=ids.device)")
        check_tensor(out2, "Embeddings(config)(ids, segments)", shape=(2, 5, 8), device="meta")
    with _CpuTensors() as made:  # an index into a meta table may come from the CPU: record what is made there
        emb(torch.zeros(2, 5, dtype=torch.int64, device="meta"))
    assert not made.ops, (
        f"Embeddings(config on meta)(ids on meta) made tensors on the CPU ({', '.join(made.ops[:3])}). Likely cause: "
        "the positions must be made on the ids' device: torch.arange(T, device=ids.device)")


@gradients
@task("Embeddings")
def test_embeddings_sum_word_position_and_segment_then_layernorm(topic):
    g = torch.Generator().manual_seed(1)
    config = _config(topic, eps=0.5)
    emb = fill_uniform(topic.Embeddings(config), g, 1.0).double()
    ids = torch.randint(0, 30, (3, 6), generator=g)
    segments = torch.randint(0, 2, (3, 6), generator=g)
    x = emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[:6] + emb.token_type_embeddings.weight[segments]
    expected = F.layer_norm(x, (8,), emb.LayerNorm.weight, emb.LayerNorm.bias, eps=0.5)
    with calling("Embeddings.forward raised"):
        got = emb(ids, segments)
    assert_close(got, expected, "Embeddings(config with eps=0.5)(ids, segments)", atol=1e-10,
                 hint="word_embeddings(ids) + position_embeddings(0..T-1) + token_type_embeddings(segments), then "
                      "LayerNorm (with eps=config.eps) and dropout")
    zeros = torch.zeros_like(segments)
    assert_close(emb(ids), emb(ids, zeros), "Embeddings(ids) against Embeddings(ids, segments all 0)", atol=1e-12,
                 hint="segments=None means every token is in segment 0 (torch.zeros_like(ids))")
    emb.train()
    assert_close(emb(ids, segments), expected, "Embeddings(config with dropout=0.0)(ids) in train mode", atol=1e-10,
                 hint="dropout=0.0 drops nothing: nn.Dropout(config.dropout), not a default when it is 0")


# ------------------------------------------------------------------ SelfAttention
@gradients
@task("SelfAttention")
def test_self_attention_equals_multihead_attention_with_a_padding_mask(topic):
    g = torch.Generator().manual_seed(2)
    for heads in (1, 4):
        config = _config(topic, embed_dim=8, num_heads=heads)
        attn = fill_uniform(topic.SelfAttention(config), g, 0.6).double()
        mha = nn.MultiheadAttention(8, heads, batch_first=True).double()
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([attn.query.weight, attn.key.weight, attn.value.weight]))
            mha.in_proj_bias.copy_(torch.cat([attn.query.bias, attn.key.bias, attn.value.bias]))
            mha.out_proj.weight.copy_(torch.eye(8, dtype=torch.float64))  # the projection lives in the layer
            mha.out_proj.bias.zero_()
        x = torch.randn(3, 5, 8, generator=g, dtype=torch.float64, requires_grad=True)
        mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4])
        x_pad = x.detach().clone()
        x_pad[~mask] = 100.0  # large values at the padding: a result that reads them shows
        x_pad.requires_grad_(True)
        with calling("SelfAttention.forward raised: " + HEADS_HINT):
            got = attn(x_pad, mask)
        expected, _ = mha(x_pad, x_pad, x_pad, key_padding_mask=~mask, need_weights=False)
        where = f"SelfAttention(num_heads={heads})(x (3, 5, 8), mask)"
        assert_close(got[mask], expected[mask], f"{where} at the real tokens", atol=1e-10,
                     hint=MASK_HINT + "; " + HEADS_HINT)
        assert_close(attn(x.detach()), mha(x.detach(), x.detach(), x.detach(), need_weights=False)[0],
                     f"{where.replace(', mask', '')} with mask=None", atol=1e-10,
                     hint="mask=None means every key is real")
        (grad,) = torch.autograd.grad(got[mask].sum(), x_pad)
        assert grad[~mask].abs().max() == 0, f"{where}: the real tokens' outputs depend on the padding. {MASK_HINT}"


@shapes
@task("SelfAttention")
def test_self_attention_shapes_on_the_input_device(topic):
    config = _config(topic, embed_dim=12, num_heads=3)
    with torch.device("meta"):
        attn = topic.SelfAttention(config)
    with on_meta("SelfAttention(embed_dim=12, num_heads=3)(x (2, 5, 12), mask) on meta") as meta:
        out = attn(torch.zeros(2, 5, 12, device="meta"), torch.ones(2, 5, dtype=torch.bool, device="meta"))
    if meta.ran:
        check_tensor(out, "SelfAttention(...)(x (2, 5, 12), mask) on meta", shape=(2, 5, 12), device="meta",
                     hint=HEADS_HINT)
    attn = fill_uniform(attn.to_empty(device="cpu"), torch.Generator().manual_seed(0), 0.5).double()
    out = attn(torch.randn(1, 4, 12, dtype=torch.float64))
    check_tensor(out, "SelfAttention(...).double()(x float64 (1, 4, 12))", shape=(1, 4, 12), dtype=torch.float64,
                 hint="batch size 1 keeps its dimension (no squeeze()), float64 in gives float64 out")


# ------------------------------------------------------------------ BertLayer
@shapes
@task("BertLayer")
def test_bert_layer_takes_hugging_face_names(topic):
    layer = topic.BertLayer(_config(topic, embed_dim=8, hidden_size=12, eps=1e-3))
    shapes_ = {name: tuple(p.shape) for name, p in layer.state_dict().items()}
    expected = dict(zip(LAYER_NAMES, [(8, 8), (8,)] * 4 + [(8,), (8,), (12, 8), (12,), (8, 12), (8,), (8,), (8,)]))
    assert shapes_ == expected, (
        f"BertLayer's state dict should hold Hugging Face's names and shapes {expected}, got {shapes_}. Likely cause: "
        "attention = nn.ModuleDict({'self': SelfAttention, 'output': nn.ModuleDict({'dense', 'LayerNorm'})}), "
        "intermediate = nn.ModuleDict({'dense': Linear(D, F)}), output = nn.ModuleDict({'dense': Linear(F, D), "
        "'LayerNorm'})")
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        assert layer.get_submodule(name).eps == 1e-3, f"BertLayer.{name} should use eps=config.eps (1e-3 here)"


@gradients
@task("BertLayer")
def test_bert_layer_equals_transformer_encoder_layer(topic):
    g = torch.Generator().manual_seed(3)
    config = _config(topic, embed_dim=8, num_heads=2, hidden_size=12, eps=1e-5)
    layer = fill_uniform(topic.BertLayer(config), g, 0.5).double().eval()
    ref = _to_torch_layer(layer, config).eval()
    x = torch.randn(3, 6, 8, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 2 + [False] * 4])
    x[~mask] = 50.0
    x.requires_grad_(True)  # PyTorch's own layer then takes its plain (not fused) path
    with calling("BertLayer.forward raised"):
        got = layer(x, mask)
    expected = ref(x, src_key_padding_mask=~mask)
    assert_close(got[mask], expected[mask], "BertLayer(x, mask) against nn.TransformerEncoderLayer(post-LN, GELU) "
                 "with the same weights, at the real tokens", atol=1e-10,
                 hint="a = LayerNorm(x + attention.output.dense(attention.self(x, mask))); y = LayerNorm(a + "
                      "output.dense(gelu(intermediate.dense(a)))): the residual is added before each LayerNorm "
                      "(post-LN), the GELU is the exact one (F.gelu)")
    check_tensor(got, "BertLayer(x float64, mask)", shape=(3, 6, 8), dtype=torch.float64)
    with torch.device("meta"):
        layer = topic.BertLayer(config)
    with on_meta("BertLayer(config)(x, mask) on the meta device") as meta:
        out = layer(torch.zeros(2, 3, 8, device="meta"), torch.ones(2, 3, dtype=torch.bool, device="meta"))
    if meta.ran:
        check_tensor(out, "BertLayer(config)(x (2, 3, 8), mask) on meta", shape=(2, 3, 8), device="meta")


# ------------------------------------------------------------------ Bert
@shapes
@task("Bert")
def test_bert_names_and_bert_base_parameter_count_on_meta(topic):
    model = topic.Bert(_config(topic, num_layers=3))
    names = set(model.state_dict())
    expected = {f"embeddings.{n}.weight" for n in ("word_embeddings", "position_embeddings", "token_type_embeddings",
                                                   "LayerNorm")} | {"embeddings.LayerNorm.bias", "pooler.dense.weight",
                                                                    "pooler.dense.bias"}
    expected |= {f"encoder.layer.{i}.{n}" for i in range(3) for n in LAYER_NAMES}
    assert names == expected, (
        f"Bert(config with num_layers=3)'s state dict should hold Hugging Face's BertModel names; missing "
        f"{sorted(expected - names)[:4]}, unexpected {sorted(names - expected)[:4]}. Likely cause: "
        "encoder = nn.ModuleDict({'layer': nn.ModuleList(num_layers BertLayers)}), pooler = "
        "nn.ModuleDict({'dense': nn.Linear(D, D)})")
    base = topic.BertConfig(30522, embed_dim=768, num_layers=12, num_heads=12, hidden_size=3072, max_len=512)
    with torch.device("meta"):
        model = topic.Bert(base)
    count = sum(p.numel() for p in model.parameters())
    assert count == 109_482_240, (
        f"Bert(BERT-base's config) should have 109,482,240 parameters (the embeddings, 12 layers and the pooler), "
        f"got {count:,}. Likely cause: a missing bias or LayerNorm, or the pooler left out")
    with torch.device("meta"):
        model = topic.Bert(_config(topic))
    with on_meta("Bert(config)(ids (2, 5), mask, segments) on the meta device") as meta:
        ids = torch.zeros(2, 5, dtype=torch.int64, device="meta")
        x, pooled = model(ids, torch.ones(2, 5, dtype=torch.bool, device="meta"), torch.zeros_like(ids))
    if meta.ran:
        check_tensor(x, "Bert(config)(ids (2, 5)) hidden states", shape=(2, 5, 8), device="meta")
        check_tensor(pooled, "Bert(config)(ids (2, 5)) pooled output", shape=(2, 8), device="meta",
                     hint="the pooled output is one vector per input: tanh(pooler.dense(x[:, 0]))")


@gradients
@task("Bert")
def test_bert_runs_every_layer_and_pools_cls(topic):
    g = torch.Generator().manual_seed(4)
    config = _config(topic, num_layers=3)
    model = fill_uniform(topic.Bert(config), g, 0.5).double()
    ids, mask = _padded(g, [6, 4])
    segments = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 0, 0]])
    with calling("Bert.forward raised"):
        x, pooled = model(ids, mask, segments)
    expected = model.embeddings(ids, segments)
    for layer in model.encoder["layer"]:
        expected = layer(expected, mask)
    assert_close(x, expected, "Bert(num_layers=3)(ids, mask, segments) hidden states", atol=1e-10,
                 hint="embeddings(ids, segments), then every layer in turn with the mask")
    assert_close(pooled, torch.tanh(F.linear(expected[:, 0], model.pooler["dense"].weight, model.pooler["dense"].bias)),
                 "Bert(...) pooled output", atol=1e-10,
                 hint="pooled = tanh(pooler.dense(x[:, 0])): the [CLS] token's last state, dense, then tanh")
    with_zero = ids.clone()
    with_zero[:, 2] = 0  # a [PAD] id inside the rows: mask=None still means every position is real
    x_none, _ = model(with_zero)
    x_all, _ = model(with_zero, torch.ones_like(mask), torch.zeros_like(ids))
    assert_close(x_none, x_all, "Bert(ids containing 0) with mask=None and segments=None, against an all-True mask "
                 "and segments 0", atol=1e-12,
                 hint="mask=None means every position is real (do not work it out from ids != 0); segments=None is 0")


@gradients
@task("Bert")
def test_padding_never_changes_a_real_tokens_output(topic):
    g = torch.Generator().manual_seed(5)
    model = fill_uniform(topic.Bert(_config(topic)), g, 0.5).double()
    ids, mask = _padded(g, [6, 2, 4])  # real word ids in the padding
    segments = (torch.arange(6) >= 1).long().expand(3, 6).clone()
    x, pooled = model(ids, mask, segments)
    for b, L in enumerate(mask.sum(1).tolist()):
        alone, pooled_alone = model(ids[b:b + 1, :L], None, segments[b:b + 1, :L])
        assert_close(x[b, :L], alone[0], f"Bert's output for sequence {b} (length {L} of 6) of a padded batch", atol=1e-10,
                     hint="each real token must get what it gets without the padding: " + MASK_HINT)
        assert_close(pooled[b], pooled_alone[0], f"Bert's pooled output for sequence {b} of a padded batch", atol=1e-10)


@gradients
@task("Bert")
def test_real_minilm_weights_reproduce_its_sentence_embeddings(topic, minilm_weights):
    config = topic.BertConfig.from_hf(minilm_weights.config)
    model = topic.Bert(config)
    state_dict = {k: v for k, v in minilm_weights.state_dict().items() if k != "embeddings.position_ids"}
    with calling("load_state_dict(all-MiniLM-L6-v2's weights, strict=True) raised: your parameter names or shapes "
                 "differ from Hugging Face's BertModel"):
        model.load_state_dict(state_dict, strict=True)
    model.eval()
    sentences = REFERENCE["sentences"]
    rows = [s["input_ids"] for s in sentences]
    T = max(map(len, rows))
    ids = torch.tensor([r + [0] * (T - len(r)) for r in rows])  # (10, T)
    mask = torch.tensor([[True] * len(r) + [False] * (T - len(r)) for r in rows])
    with torch.no_grad(), calling("Bert.forward raised on the real weights"):
        x, _ = model(ids, mask)
    check_tensor(x, "Bert(all-MiniLM-L6-v2)(ids (10, T), mask)", shape=(10, T, 384))
    mean = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # (10, 384): masked mean pooling
    got = F.normalize(mean, dim=-1)
    expected = torch.tensor([s["embedding"] for s in sentences])
    cosine = (got * F.normalize(expected, dim=-1)).sum(-1)  # (10,)
    worst = int(cosine.argmin())
    assert cosine.min() >= 0.9999, (
        f"the real model's sentence embeddings, reproduced with your Bert and its weights: cosine "
        f"{cosine.min().item():.6f} for {sentences[worst]['text']!r} (the reference solution reaches 0.99999994 "
        "on all ten, max abs diff 2e-7). Likely cause: LayerNorm eps (config.eps, 1e-12 here), the exact GELU, "
        "the attention mask, the order of the residual and the LayerNorm, or the heads split wrongly")
    assert_close(got, expected, "the normalised mean-pooled embeddings of ten sentences", atol=1e-5)


# ------------------------------------------------------------------ BertForPreTraining
@gradients
@task("BertForPreTraining")
def test_mlm_head_is_tied_and_nsp_reads_the_pooled_output(topic):
    g = torch.Generator().manual_seed(6)
    config = _config(topic)
    model = topic.BertForPreTraining(config)
    decoder = model.cls["predictions"]["decoder"]
    assert decoder.weight is model.bert.embeddings.word_embeddings.weight, (
        "BertForPreTraining.cls['predictions']['decoder'].weight should be the same Parameter as "
        "bert.embeddings.word_embeddings.weight (tied: one parameter, not a copy). Likely cause: assign it, "
        "decoder.weight = self.bert.embeddings.word_embeddings.weight, after building the decoder")
    count = sum(p.numel() for p in model.parameters())
    expected = sum(p.numel() for p in model.bert.parameters()) + (8 * 8 + 8) + 2 * 8 + 30 + (8 * 2 + 2)
    assert count == expected, (
        f"BertForPreTraining(vocab 30, D 8) should have {expected} parameters (bert, transform dense and LayerNorm, "
        f"the decoder's own bias, seq_relationship), got {count}. Likely cause: the decoder's weight is a copy")
    assert_equal(decoder.bias, torch.zeros(30), "cls['predictions']['decoder'].bias", hint="the decoder's bias starts at 0")
    dense = model.cls["predictions"]["transform"]["dense"].weight
    assert dense.std().item() < 0.05, "cls's layers are initialised like BERT's (init_weights with config.init_std)"
    model = fill_uniform(model, g, 0.5).double()
    ids, mask = _padded(g, [6, 3])
    segments = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 0, 0]])
    with calling("BertForPreTraining.forward raised"):
        mlm, nsp = model(ids, mask, segments)
    check_tensor(mlm, "BertForPreTraining(...)(ids (2, 6)) MLM logits", shape=(2, 6, 30), dtype=torch.float64,
                 hint="the MLM head scores every token of the vocabulary at every position: (B, T, V)")
    check_tensor(nsp, "BertForPreTraining(...)(ids (2, 6)) NSP logits", shape=(2, 2))
    x, pooled = model.bert(ids, mask, segments)
    transform = model.cls["predictions"]["transform"]
    h = F.layer_norm(F.gelu(F.linear(x, transform["dense"].weight, transform["dense"].bias)), (8,),
                     transform["LayerNorm"].weight, transform["LayerNorm"].bias, eps=config.eps)
    assert_close(mlm, h @ model.bert.embeddings.word_embeddings.weight.T + decoder.bias, "the MLM logits", atol=1e-10,
                 hint="decoder(LayerNorm(gelu(transform.dense(bert's hidden states)))): dense, GELU, then LayerNorm")
    head = model.cls["seq_relationship"]
    assert_close(nsp, F.linear(pooled, head.weight, head.bias), "the NSP logits", atol=1e-10,
                 hint="seq_relationship reads the pooled output (tanh(pooler.dense([CLS]))), not x[:, 0] itself")


# ------------------------------------------------------------------ mask_tokens
def _sample(g, n=400, T=250, vocab_size=40):
    """A padded batch (n, T) of [CLS] words [SEP] [PAD]...: 100k tokens, about 90k of them words."""
    ids = torch.randint(NUM_SPECIAL, vocab_size, (n, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (n,), generator=g)
    ids[:, 0] = 2  # [CLS]
    ids[torch.arange(n), lengths - 1] = 3  # [SEP]
    ids[torch.arange(T) >= lengths[:, None]] = 0  # [PAD]
    ids[:, 5] = 1  # an [UNK] in every row: special too
    return ids


@gradients
@task("mask_tokens")
def test_mask_tokens_follows_the_80_10_10_rule_on_a_large_sample(topic):
    ids = _sample(torch.Generator().manual_seed(7))
    given = ids.clone()
    for mask_prob in (0.15, 0.4):
        g = torch.Generator().manual_seed(8)
        with calling("mask_tokens raised"):
            inputs, labels = topic.mask_tokens(ids, vocab_size=40, generator=g, mask_prob=mask_prob)
        check_tensor(inputs, "mask_tokens(...) inputs", shape=ids.shape, dtype=torch.int64)
        check_tensor(labels, "mask_tokens(...) labels", shape=ids.shape, dtype=torch.int64)
        assert_equal(ids, given, "the caller's ids after mask_tokens", hint="return new tensors: ids stay as they were "
                     "(torch.where(...) or ids.clone() before writing)")
        words = ids >= NUM_SPECIAL
        chosen = labels != -100
        assert_equal(inputs[~words], ids[~words], "mask_tokens' inputs at the special tokens and padding",
                     hint="never choose a special token: only ids >= NUM_SPECIAL (5) are candidates")
        assert not chosen[~words].any(), "mask_tokens labelled a special or padding token: only words are candidates"
        assert_equal(labels[chosen], ids[chosen], "the labels of the chosen tokens", hint="a chosen token's label is "
                     "its original id; every other label is -100")
        assert_equal(inputs[words & ~chosen], ids[words & ~chosen], "the inputs of the tokens that were not chosen",
                     hint="a token that is not chosen keeps its id")
        n = int(words.sum())
        rate = chosen.sum().item() / n
        sd = math.sqrt(mask_prob * (1 - mask_prob) / n)
        assert abs(rate - mask_prob) < 5 * sd, (
            f"mask_tokens(mask_prob={mask_prob}) chose {rate:.4f} of {n} words; expected {mask_prob} within "
            f"{5 * sd:.4f} (5 binomial standard deviations). Likely cause: the rate is mask_prob of the words (not of "
            "every position, padding included), and mask_prob is the argument given")
        m = int(chosen.sum())
        was = {"[MASK]": (inputs[chosen] == MASK_ID).float().mean().item(),
               "kept": (inputs[chosen] == ids[chosen]).float().mean().item()}
        others = inputs[chosen & (inputs != MASK_ID) & (inputs != ids)]
        was["random"] = len(others) / m
        # A random word is the original 1 time in 35: "kept" holds 0.1 + 0.1/35.
        for what, p in (("[MASK]", 0.8), ("random", 0.1 * 34 / 35), ("kept", 0.1 + 0.1 / 35)):
            sd = math.sqrt(p * (1 - p) / m)
            assert abs(was[what] - p) < 5 * sd, (
                f"mask_tokens: of {m} chosen tokens, {was[what]:.4f} became {what}; expected {p:.4f} within "
                f"{5 * sd:.4f}. Likely cause: [MASK] with probability 0.8, a random word 0.1, unchanged 0.1 (of the "
                "remaining 20%, half random: a draw < 0.5)")
        counts = torch.bincount(others, minlength=40)
        assert counts[:NUM_SPECIAL].sum() == 0, (
            f"mask_tokens: the random replacements should be words drawn uniformly from ids 5..vocab_size-1 (39); "
            f"counts per id {counts.tolist()}. Likely cause: torch.randint(NUM_SPECIAL, vocab_size, ...)")
        assert (counts[NUM_SPECIAL:] > 0).all(), (
            f"mask_tokens: some word ids never came up as a random replacement: {counts.tolist()}. Likely cause: "
            "randint's upper bound is vocab_size (exclusive), the vocab_size given")


@gradients
@task("mask_tokens")
def test_mask_tokens_uses_the_given_generator_and_mask_prob(topic):
    ids = _sample(torch.Generator().manual_seed(9), n=20, T=50)
    runs = []
    for global_seed, seed in ((0, 1), (123, 1), (0, 2)):
        torch.manual_seed(global_seed)
        runs.append(topic.mask_tokens(ids, vocab_size=40, generator=torch.Generator().manual_seed(seed)))
    for a, b in zip(runs[0], runs[1]):
        assert_equal(a, b, "mask_tokens with the same generator seed under two global seeds",
                     hint="draw every random number from `generator` (torch.rand(..., generator=generator)), "
                          "never from torch's global generator")
    assert not torch.equal(runs[0][1], runs[2][1]), "two generator seeds gave the same masks: use the generator"
    inputs, labels = topic.mask_tokens(ids, vocab_size=40, generator=torch.Generator().manual_seed(3), mask_prob=0.0)
    assert_equal(inputs, ids, "mask_tokens(mask_prob=0.0) inputs", hint="mask_prob=0.0 chooses nothing: use the "
                 "value given, even 0 (not `mask_prob or 0.15`)")
    assert (labels == -100).all(), "mask_tokens(mask_prob=0.0) should label nothing (every label -100)"
    inputs, labels = topic.mask_tokens(ids, vocab_size=40, generator=torch.Generator().manual_seed(3), mask_prob=1.0)
    assert_equal(labels != -100, ids >= NUM_SPECIAL, "the positions mask_tokens(mask_prob=1.0) chooses",
                 hint="with mask_prob=1.0 every word is chosen, and only the words")
    with on_meta("mask_tokens(ids on the meta device, generator on the CPU)") as meta:
        out = topic.mask_tokens(ids.to("meta"), vocab_size=40, generator=torch.Generator().manual_seed(0))
    if meta.ran:
        check_tensor(out[0], "mask_tokens(ids on meta) inputs", shape=ids.shape, device="meta",
                     hint="draw on the generator's device (device=generator.device), then move to ids.device")
        check_tensor(out[1], "mask_tokens(ids on meta) labels", shape=ids.shape, device="meta")


# ------------------------------------------------------------------ train_step
@gradients
@task("train_step")
def test_train_step_against_hand_written_adam_steps(topic):
    vocab = Vocab(WORDS)
    data = topic.pretraining_data(next_sentence_pairs(8, seed=3), vocab, generator=torch.Generator().manual_seed(3),
                                  mask_prob=0.3)
    torch.manual_seed(0)
    config = _config(topic, vocab_size=len(vocab), embed_dim=8, max_len=40)
    model = topic.BertForPreTraining(config)
    reference = copy.deepcopy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with calling("train_step raised"):
        losses = [topic.train_step(model, optimizer, tuple(t[:4] for t in data)),
                  topic.train_step(model, optimizer, tuple(t[4:] for t in data))]
    assert all(isinstance(loss, float) for loss in losses), (
        f"train_step should return the batch's loss as a Python float (loss.item()), got {losses!r:.200}")
    optimizer = torch.optim.Adam(reference.parameters(), lr=0.01)
    expected = []
    for part in (slice(0, 4), slice(4, 8)):
        ids, segments, mask, labels, is_next = (t[part] for t in data)
        optimizer.zero_grad()
        mlm, nsp = reference(ids, mask, segments)
        loss = F.cross_entropy(mlm.transpose(1, 2), labels) + F.cross_entropy(nsp, is_next)
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    hint = ("each batch: optimizer.zero_grad(); mlm, nsp = model(ids, mask, segments); loss = cross-entropy of mlm "
            "against labels (skipping -100) + cross-entropy of nsp against is_next; loss.backward(); optimizer.step(); "
            "return loss.item(). Pass the mask and the segments, in that order")
    assert_close(torch.tensor(losses), torch.tensor(expected), "the losses of two train_step calls", atol=1e-5,
                 hint=hint)
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert_close(got, want, f"parameter {name} after two train_step calls", atol=1e-5, hint=hint)


@accuracy
@task("train_step")
def test_pretraining_learns_masked_words_far_above_chance(topic, seed, device):
    vocab = Vocab(WORDS)
    g = torch.Generator().manual_seed(seed)
    data = topic.pretraining_data(next_sentence_pairs(1500, seed=seed), vocab, generator=g)
    test = topic.pretraining_data(next_sentence_pairs(500, seed=seed, split="test"), vocab, generator=g)
    torch.manual_seed(seed)
    config = topic.BertConfig(len(vocab), embed_dim=32, num_layers=2, num_heads=2, hidden_size=128, max_len=32)
    model = topic.BertForPreTraining(config).to(device)
    losses = topic.train(model, tuple(t.to(device) for t in data), epochs=3, lr=3e-3, batch_size=64, seed=seed)
    assert len(losses) == 3, f"train(..., epochs=3) should return 3 losses, got {len(losses)}"
    scores = topic.pretraining_accuracy(model, tuple(t.to(device) for t in test))
    assert_at_least(scores["MLM accuracy"], 0.35, "test MLM accuracy after pre-training", chance=1 / (len(vocab) - 5),
                    hint="the solution reaches 0.40-0.46 (seeds 0-9) in 72 Adam steps: check the masking (labels at "
                         "the chosen tokens only), the tied decoder and the loss")


@accuracy
@task("BertForPreTraining")
def test_pretraining_learns_next_sentence_prediction_far_above_chance(topic, seed, device):
    # NSP alone, on unmasked pairs (mask_prob=0.0): B follows A when it names A's person. The model
    # sits at chance for 50-150 steps before its [CLS] learns to compare the two persons, then climbs.
    vocab = Vocab(WORDS)
    g = torch.Generator().manual_seed(seed)
    data = topic.pretraining_data(next_sentence_pairs(3072, seed=seed), vocab, generator=g, mask_prob=0.0)
    test = topic.pretraining_data(next_sentence_pairs(500, seed=seed, split="test"), vocab, generator=g,
                                  mask_prob=0.0)
    torch.manual_seed(seed)
    config = topic.BertConfig(len(vocab), embed_dim=32, num_layers=1, num_heads=4, hidden_size=64, max_len=32,
                              init_std=0.1)
    model = topic.BertForPreTraining(config).to(device)

    def nsp_step(model, optimizer, batch):  # train_step without the MLM loss
        ids, segments, mask, _, is_next = batch
        optimizer.zero_grad()
        _, nsp_logits = model(ids, mask, segments)  # (B, 2)
        loss = F.cross_entropy(nsp_logits, is_next)
        loss.backward()
        optimizer.step()
        return loss.item()

    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(model, data, optimizer, nsp_step, epochs=10, batch_size=128, seed=seed)  # 240 steps
    with torch.no_grad():
        score = topic.pretraining_accuracy(model, tuple(t.to(device) for t in test))["NSP accuracy"]
    assert_at_least(score, 0.65, "test NSP accuracy after 240 steps of next-sentence prediction", chance=0.5,
                    hint="the solution reaches 0.79-0.94 (seeds 0-19) in 240 Adam steps on unmasked pairs: check "
                         "that seq_relationship reads the pooled [CLS] output (tanh(dense(...))), that the "
                         "segments reach the embeddings, and that pretraining_data labels is_next 1 when B follows A")


# ------------------------------------------------------------------ Classifier
@gradients
@task("Classifier")
def test_classifier_reads_the_pooled_output_of_the_given_bert(topic):
    g = torch.Generator().manual_seed(10)
    bert = topic.Bert(_config(topic))
    model = topic.Classifier(bert, 5, dropout=0.0)
    assert model.bert is bert, "Classifier(bert, ...).bert should be the Bert it was given (not a copy): fine-tuning "\
                               "trains the pre-trained encoder"
    check_tensor(model.classifier.weight, "Classifier(bert with D=8, 5).classifier.weight", shape=(5, 8),
                 hint="nn.Linear(bert.config.embed_dim, num_classes)")
    model = fill_uniform(model, g, 0.5).double()
    ids, mask = _padded(g, [6, 3])
    model.train()  # dropout=0.0: train mode changes nothing
    with calling("Classifier.forward raised"):
        logits = model(ids, mask)
    _, pooled = bert(ids, mask)
    assert_close(logits, F.linear(pooled, model.classifier.weight, model.classifier.bias),
                 "Classifier(bert, 5, dropout=0.0)(ids, mask)", atol=1e-10,
                 hint="classifier(dropout(pooled)), pooled the second result of bert(ids, mask, segments); "
                      "nn.Dropout(dropout) with the dropout given (0.0 drops nothing)")
    model.dropout.p = 0.5
    assert not torch.equal(model(ids, mask), model(ids, mask)), (
        "Classifier in train mode with dropout 0.5: two calls gave the same logits. Likely cause: self.dropout is "
        "not applied to the pooled output")


@accuracy
@task("Classifier")
def test_finetuned_classifier_tells_a_words_sense_from_its_context(topic, seed, device):
    vocab = Vocab(WORDS)
    ids, mask, y = topic.sense_data(6000, vocab, seed=seed)  # about 1000 labelled sentences
    test_ids, test_mask, test_y = topic.sense_data(600, vocab, seed=seed, split="test")
    torch.manual_seed(seed)
    config = topic.BertConfig(len(vocab), embed_dim=32, num_layers=1, num_heads=2, hidden_size=64, max_len=16)
    model = topic.Classifier(topic.Bert(config), len(topic.SENSE_CLASSES), dropout=0.0).to(device)
    topic.finetune(model, ids.to(device), mask.to(device), y.to(device), epochs=4, lr=3e-3, batch_size=32, seed=seed)
    model.eval()
    with torch.no_grad():
        predicted = model(test_ids.to(device), test_mask.to(device)).argmax(-1).cpu()
    score = (predicted == test_y).float().mean().item()
    assert_at_least(score, 0.65, "test sense accuracy of the fine-tuned classifier", chance=0.5,
                    hint="the solution reaches 0.74-1.0 (seeds 0-9); the word alone is right half the time: the classifier must "
                         "read the pooled [CLS] output, which attends to the verb")


@shapes
@task("train_step")
def test_main_pretrains_and_finetunes(topic, tmp_path, capsys):
    small = ["--train-size", "40", "--test-size", "20", "--embed-dim", "8", "--num-heads", "2", "--num-layers", "1",
             "--epochs", "1", "--batch-size", "32", "--device", "cpu"]
    assert topic.main(small) == 0, "main() on the generated stories should return 0"
    out = capsys.readouterr().out
    assert "MLM accuracy" in out and "NSP accuracy" in out and "sense accuracy" in out, (
        f"main() should pre-train, print the MLM and NSP accuracy, then fine-tune, printed:\n{out[-600:]}")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["the cat eats the fish", "a dog runs in the park", "the bird sings"] * 6) + "\n",
                      encoding="utf-8")
    assert topic.main(["--corpus", str(corpus), *small]) == 0, "main(['--corpus', FILE, ...]) should return 0"
    assert "MLM accuracy" in capsys.readouterr().out
    assert topic.main(["--corpus", str(tmp_path / "missing.txt"), *small]) == 1, (
        "main(['--corpus', a missing file]) should print an error and return 1")
    assert "error:" in capsys.readouterr().err

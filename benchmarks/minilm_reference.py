"""Expected values for Stage 4's real-weight checks, made once with the real libraries.

    uv run --with sentence-transformers python benchmarks/minilm_reference.py

The project does not depend on sentence-transformers (kata.pretrained reads the weights
with torch alone). This script loads the same checked files (kata.pretrained.minilm())
with sentence-transformers and its fast tokenizer, and writes
kata/minilm_reference.json: for each sentence below, the real tokenizer's ids and
the real model's sentence embedding (masked mean pooling, then L2 normalisation, as
all-MiniLM-L6-v2's modules.json says). It also runs a plain-torch forward pass over
kata.pretrained's state_dict() and prints its cosine with the real embeddings, so a bug
in the safetensors reader shows here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kata.pretrained import REVISION, minilm  # noqa: E402

SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an acoustic guitar on stage!",
    "The cat sat on the mat, and the dog slept.",
    "In 1998, 3.5 million people visited Zürich's museums.",
    "Café crème, naïve résumé — déjà vu?",
    "서울은 한국의 수도입니다.",
    "Photosynthesis converts light energy into chemical energy.",
    "Pneumonoultramicroscopicsilicovolcanoconiosis is a very long word.",
    "unbelievably, she re-tokenized the e-mail @ 10:30pm...",
    "",
]


def plain_forward(weights: dict[str, torch.Tensor], config: dict, ids: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """BERT's encoder by hand over the checked weights: (B, T) ids -> (B, T, H)."""
    w = weights
    T = ids.shape[1]
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T]
         + w["embeddings.token_type_embeddings.weight"][0])
    eps = config["layer_norm_eps"]
    x = F.layer_norm(x, (x.shape[-1],), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    heads = config["num_attention_heads"]
    B, _, H = x.shape
    bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min  # (B, 1, 1, T)
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def linear(name, h):
            return F.linear(h, w[p + name + ".weight"], w[p + name + ".bias"])

        def split(h):
            return h.view(B, T, heads, H // heads).transpose(1, 2)  # (B, heads, T, H / heads)

        q, k, v = (split(linear(f"attention.self.{n}", x)) for n in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(H // heads) + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = F.layer_norm(x + linear("attention.output.dense", context), (H,),
                         w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        h = F.gelu(linear("intermediate.dense", x))
        x = F.layer_norm(x + linear("output.dense", h), (H,), w[p + "output.LayerNorm.weight"],
                         w[p + "output.LayerNorm.bias"], eps)
    return x


def main() -> int:
    from sentence_transformers import SentenceTransformer

    model = minilm()
    real = SentenceTransformer(str(model.folder), device="cpu")
    embeddings = real.encode(SENTENCES, convert_to_tensor=True, normalize_embeddings=True)  # (N, 384)
    tokens = real.tokenizer(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    with torch.no_grad():
        hidden = plain_forward(model.state_dict(), model.config, ids, mask)
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    mine = F.normalize(pooled, dim=-1)
    cosines = F.cosine_similarity(mine, embeddings, dim=-1)
    print("plain torch forward against sentence-transformers, cosine per sentence:",
          [round(c, 6) for c in cosines.tolist()])
    out = {
        "model": f"sentence-transformers/all-MiniLM-L6-v2@{REVISION}",
        "made_by": "benchmarks/minilm_reference.py (sentence-transformers with the model's own fast tokenizer)",
        "sentences": [
            {"text": text, "input_ids": [i for i, m in zip(row.tolist(), row_mask.tolist()) if m],
             "embedding": [float(f"{v:.7g}") for v in vector.tolist()]}
            for text, row, row_mask, vector in zip(SENTENCES, ids, mask, embeddings)
        ],
    }
    path = ROOT / "kata" / "minilm_reference.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}: {len(SENTENCES)} sentences")
    return 0 if cosines.min() > 0.9999 else 1


if __name__ == "__main__":
    raise SystemExit(main())

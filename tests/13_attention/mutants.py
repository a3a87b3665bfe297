"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 13_attention` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ---- masked_softmax
    # The classic: a large negative number instead of -inf. Fine for a row with one real key, but an
    # all-masked row gets uniform weights 1/S instead of 0, and real scores below -1e4 lose to the padding.
    "mask_filled_with_minus_1e4": [
        ("    scores = scores.masked_fill(~mask, float(\"-inf\"))\n",
         "    scores = scores.masked_fill(~mask, -1e4)\n"),
        ("    scores = scores.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n", ""),
        ("return scores.softmax(dim=-1).masked_fill(~mask, 0.0)", "return scores.softmax(dim=-1)"),
    ],
    # -inf without the guard, and nothing zeroed after the softmax: a row that may look nowhere is 0 / 0 = NaN.
    "all_masked_row_is_nan": [
        ("    scores = scores.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n", ""),
        ("return scores.softmax(dim=-1).masked_fill(~mask, 0.0)", "return scores.softmax(dim=-1)"),
    ],
    # Masking after the softmax: the padding gets 0 but the real weights no longer sum to 1.
    "mask_after_the_softmax": [
        ("    scores = scores.masked_fill(~mask, float(\"-inf\"))\n", ""),
    ],
    "mask_polarity_inverted": [
        ("scores = scores.masked_fill(~mask, float(\"-inf\"))", "scores = scores.masked_fill(mask, float(\"-inf\"))"),
        ("return scores.softmax(dim=-1).masked_fill(~mask, 0.0)",
         "return scores.softmax(dim=-1).masked_fill(mask, 0.0)"),
    ],
    # The caller's scores overwritten.
    "masked_softmax_fills_the_scores_in_place": [
        ("scores = scores.masked_fill(~mask, float(\"-inf\"))", "scores = scores.masked_fill_(~mask, float(\"-inf\"))"),
    ],
    # mask=None read as "padding is where the score is 0".
    "mask_none_guessed_from_zero_scores": [
        ("    if mask is None:\n        return scores.softmax(dim=-1)\n",
         "    if mask is None:\n        mask = scores != 0\n"),
    ],
    # ---- causal_mask
    "causal_mask_upper_triangle": [
        ("return torch.ones(L, S, dtype=torch.bool, device=device).tril()",
         "return torch.ones(L, S, dtype=torch.bool, device=device).triu()"),
    ],
    # Strictly below the diagonal: a position may not see itself (and the first row sees nothing).
    "causal_mask_without_the_diagonal": [
        ("return torch.ones(L, S, dtype=torch.bool, device=device).tril()",
         "return torch.ones(L, S, dtype=torch.bool, device=device).tril(-1)"),
    ],
    "causal_mask_ignores_S": [
        ("    S = L if S is None else S\n", "    S = L\n"),
    ],
    "causal_mask_on_the_cpu": [
        ("return torch.ones(L, S, dtype=torch.bool, device=device).tril()",
         "return torch.ones(L, S, dtype=torch.bool).tril()"),
    ],
    # ---- scaled_dot_product_attention
    "sdpa_calls_pytorchs": [
        ("    L, S = query.shape[-2], key.shape[-2]\n    if scale is None:",
         "    L, S = query.shape[-2], key.shape[-2]\n"
          "    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, is_causal=is_causal,\n"
          "                                         scale=scale)\n"
         "    scores = query @ key.transpose(-2, -1) * (query.shape[-1] ** -0.5 if scale is None else scale)\n"
         "    if is_causal:\n        mask = causal_mask(L, S, device=query.device)\n"
         "    return out, masked_softmax(scores, mask)\n"
         "    if scale is None:"),
    ],
    "sdpa_without_the_scale": [
        ("        scale = 1 / math.sqrt(query.shape[-1])", "        scale = 1.0"),
    ],
    "sdpa_scales_by_d_not_its_root": [
        ("        scale = 1 / math.sqrt(query.shape[-1])", "        scale = 1 / query.shape[-1]"),
    ],
    # scale=0.0 read as "not given".
    "sdpa_scale_zero_read_as_not_given": [
        ("    if scale is None:\n        # Dot", "    if not scale:\n        # Dot"),
    ],
    "sdpa_ignores_is_causal": [
        ("    if is_causal:\n        causal", "    if False:\n        causal"),
    ],
    # is_causal replaces the padding mask instead of combining with it.
    "sdpa_causal_replaces_the_mask": [
        ("mask = causal if mask is None else mask & causal", "mask = causal"),
    ],
    "sdpa_causal_mask_on_the_cpu": [
        ("causal = causal_mask(L, S, device=query.device)  # (L, S)", "causal = causal_mask(L, S)  # (L, S)"),
    ],
    # The scores returned as the weights.
    "sdpa_returns_the_scores": [
        ("return weights @ value, weights  # (..., L, Dv), (..., L, S)",
         "return weights @ value, scores  # (..., L, Dv), (..., L, S)"),
    ],
    # ---- AdditiveAttention
    "additive_layers_with_bias": [
        ("self.query_proj = nn.Linear(query_size, hidden_size, bias=False)",
         "self.query_proj = nn.Linear(query_size, hidden_size)"),
    ],
    # squeeze() eats B = 1 and L = 1 too: a decoder's one query.
    "additive_squeeze_eats_the_batch": [
        ("scores = self.v(features).squeeze(-1)  # (B, L, S)", "scores = self.v(features).squeeze()  # (B, L, S)"),
    ],
    "additive_ignores_the_mask": [
        ("weights = masked_softmax(scores, None if mask is None else mask[:, None, :])  # (B, L, S)",
         "weights = masked_softmax(scores)  # (B, L, S)"),
    ],
    # Softmax over the queries instead of the keys.
    "additive_softmax_over_the_queries": [
        ("weights = masked_softmax(scores, None if mask is None else mask[:, None, :])  # (B, L, S)",
          "weights = masked_softmax(scores.transpose(1, 2), None if mask is None else mask[:, :, None])"
          ".transpose(1, 2)"),
    ],
    # No tanh: the score is linear in q and k, and v^T (W_q q) is the same for every key.
    "additive_without_tanh": [
        ("features = torch.tanh(self.query_proj(query)[:, :, None] + self.key_proj(keys)[:, None])",
         "features = self.query_proj(query)[:, :, None] + self.key_proj(keys)[:, None]"),
    ],
    # ---- MultiHeadAttention
    "mha_calls_nn_multihead_attention": [
        ("        B, L, _ = query.shape\n        S = key.shape[1]\n",
         "        B, L, _ = query.shape\n        S = key.shape[1]\n"
          "        reference = nn.MultiheadAttention(self.embed_dim, self.num_heads,\n"
          "                                          bias=self.q_proj.bias is not None,\n"
         "                                          batch_first=True).to(query)\n"
         "        with torch.no_grad():\n"
         "            reference.in_proj_weight.copy_(torch.cat([self.q_proj.weight, self.k_proj.weight,\n"
         "                                                      self.v_proj.weight]))\n"
         "            reference.out_proj.weight.copy_(self.out_proj.weight)\n"
         "            if self.q_proj.bias is not None:\n"
          "                reference.in_proj_bias.copy_(torch.cat([self.q_proj.bias, self.k_proj.bias,\n"
          "                                                        self.v_proj.bias]))\n"
         "                reference.out_proj.bias.copy_(self.out_proj.bias)\n"
         "        causal = torch.ones(L, S, dtype=torch.bool, device=query.device).triu(1) if is_causal else None\n"
         "        return reference(query, key, value, key_padding_mask=None if mask is None else ~mask,\n"
         "                         attn_mask=causal, average_attn_weights=False)\n"),
    ],
    # The heads cut from the wrong axis: view(B, heads, len, head_dim) without the transpose mixes positions.
    "mha_heads_split_without_transpose": [
        ("return x.view(B, length, self.num_heads, self.head_dim).transpose(1, 2)",
         "return x.reshape(B, self.num_heads, length, self.head_dim)"),
    ],
    "mha_merge_without_transpose": [
        ("output = output.transpose(1, 2).reshape(B, L, self.embed_dim)",
         "output = output.reshape(B, L, self.embed_dim)"),
    ],
    # The key padding mask given as nn.MultiheadAttention's key_padding_mask (True = ignore).
    "mha_mask_polarity_of_key_padding_mask": [
        ("mask = mask[:, None, None, :]  # (B, 1, 1, S)", "mask = ~mask[:, None, None, :]  # (B, 1, 1, S)"),
    ],
    "mha_ignores_is_causal": [
        ("output, weights = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)",
         "output, weights = scaled_dot_product_attention(q, k, v, mask)"),
    ],
    "mha_ignores_bias": [
        ("self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)", "self.q_proj = nn.Linear(embed_dim, embed_dim)"),
        ("self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)", "self.k_proj = nn.Linear(embed_dim, embed_dim)"),
        ("self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)", "self.v_proj = nn.Linear(embed_dim, embed_dim)"),
        ("self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)",
         "self.out_proj = nn.Linear(embed_dim, embed_dim)"),
    ],
    # One projection for all three: self-attention still runs, cross-attention and PyTorch's weights do not agree.
    "mha_key_projected_by_q_proj": [
        ("k = heads(self.k_proj(key), S)", "k = heads(self.q_proj(key), S)"),
    ],
    "mha_returns_the_average_weights": [
        ("return self.out_proj(output), weights  # (B, L, E), (B, heads, L, S)",
         "return self.out_proj(output), weights.mean(1)  # (B, L, E), (B, heads, L, S)"),
    ],
    # ---- AttentionDecoder
    # Attending with the new state, after the step (Luong's order), where the docstring asks for Bahdanau's.
    "decoder_attends_after_the_step": [
        ("            context, a = self.attention(h[:, None], memory, mask)  # (B, 1, key_size), (B, 1, S)\n"
         "            context = context[:, 0]  # (B, key_size)\n"
         "            h = self.cell(torch.cat([x[:, t], context], dim=-1), h)  # (B, H)\n",
         "            context, a = self.attention(h[:, None], memory, mask)  # (B, 1, key_size), (B, 1, S)\n"
         "            h = self.cell(torch.cat([x[:, t], context[:, 0]], dim=-1), h)  # (B, H)\n"
         "            context, a = self.attention(h[:, None], memory, mask)\n"
         "            context = context[:, 0]  # (B, key_size)\n"),
    ],
    "decoder_ignores_the_source_mask": [
        ("context, a = self.attention(h[:, None], memory, mask)", "context, a = self.attention(h[:, None], memory)"),
    ],
    # The context is computed, but only the state reaches the output layer.
    "decoder_output_reads_the_state_only": [
        ("self.out = nn.Linear(hidden_size + key_size, vocab_size)", "self.out = nn.Linear(hidden_size, vocab_size)"),
        ("logits.append(self.out(torch.cat([h, context], dim=-1)))", "logits.append(self.out(h))"),
    ],
    # key_size ignored: the keys are assumed to be hidden_size wide.
    "decoder_ignores_key_size": [
        ("        key_size = hidden_size if key_size is None else key_size\n", "        key_size = hidden_size\n"),
    ],
    "decoder_returns_the_first_state": [
        ("return torch.stack(logits, dim=1), h, torch.stack(weights, dim=1)",
         "return torch.stack(logits, dim=1), hx, torch.stack(weights, dim=1)"),
    ],
    # The context thrown away: the decoder is the plain one with more weights.
    "decoder_context_zeroed": [
        ("            context = context[:, 0]  # (B, key_size)\n",
         "            context = torch.zeros_like(context[:, 0])  # (B, key_size)\n"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # exp with the max shifted by hand, normalised by a clamped sum: 0 / tiny = 0 for an empty row.
    "masked_softmax_by_hand": [
        ("    mask = mask.expand_as(scores)  # (..., S)\n",
         "    mask = mask.expand_as(scores)  # (..., S)\n"
         "    masked = scores.masked_fill(~mask, float(\"-inf\"))\n"
         "    top = torch.where(mask.any(-1, keepdim=True), masked.amax(-1, keepdim=True), 0.0).detach()\n"
         "    e = (masked - top).exp()\n"
         "    return e / e.sum(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)\n"),
    ],
    # No guard for an all-masked row: its softmax is NaN, but the masked_fill after it zeroes the whole row,
    # and the gradient of the masked_fill before it is 0 there: right values, right gradient.
    "masked_softmax_without_the_guard": [
        ("    scores = scores.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)\n", ""),
    ],
    # einsum instead of matmul, and the scale applied to the query first.
    "sdpa_with_einsum": [
        ("scores = query @ key.transpose(-2, -1) * scale  # (..., L, S)",
         "scores = torch.einsum(\"...ld,...sd->...ls\", query * scale, key)  # (..., L, S)"),
        ("return weights @ value, weights  # (..., L, Dv), (..., L, S)",
         "return torch.einsum(\"...ls,...sv->...lv\", weights, value), weights"),
    ],
    # A loop over the heads: each head's slice attended on its own, then stacked.
    "mha_loop_over_heads": [
        ("        output, weights = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)"
         "  # (B, heads, L, head_dim)\n",
          "        parts = [scaled_dot_product_attention(q[:, i], k[:, i], v[:, i],\n"
          "                                              None if mask is None else mask[:, 0],\n"
         "                                              is_causal=is_causal) for i in range(self.num_heads)]\n"
         "        output = torch.stack([p[0] for p in parts], dim=1)  # (B, heads, L, head_dim)\n"
         "        weights = torch.stack([p[1] for p in parts], dim=1)  # (B, heads, L, S)\n"),
    ],
    # The additive scores with explicit weight matrices (einsum) instead of calling the layers.
    "additive_with_einsum": [
        ("features = torch.tanh(self.query_proj(query)[:, :, None] + self.key_proj(keys)[:, None])"
         "  # (B, L, S, hidden)\n"
         "        scores = self.v(features).squeeze(-1)  # (B, L, S)",
         "q = torch.einsum(\"bld,hd->blh\", query, self.query_proj.weight)  # (B, L, hidden)\n"
         "        k = torch.einsum(\"bsd,hd->bsh\", keys, self.key_proj.weight)  # (B, S, hidden)\n"
         "        scores = torch.einsum(\"blsh,h->bls\", torch.tanh(q[:, :, None] + k[:, None]), self.v.weight[0])"),
    ],
}

PATTERNS = {
    "builtin": ["sdpa_calls_pytorchs", "mha_calls_nn_multihead_attention"],
    "arguments": ["causal_mask_ignores_S", "sdpa_ignores_is_causal", "mha_ignores_is_causal", "mha_ignores_bias",
                  "decoder_ignores_key_size", "additive_ignores_the_mask", "decoder_ignores_the_source_mask"],
    "returns": ["sdpa_returns_the_scores", "mha_returns_the_average_weights", "decoder_returns_the_first_state"],
    "device": ["causal_mask_on_the_cpu", "sdpa_causal_mask_on_the_cpu"],
    "inputs": ["mask_filled_with_minus_1e4", "all_masked_row_is_nan", "additive_squeeze_eats_the_batch"],
    "falsy": ["sdpa_scale_zero_read_as_not_given", "mha_ignores_bias"],
    "in_place": ["masked_softmax_fills_the_scores_in_place"],
    "constants": ["sdpa_without_the_scale", "sdpa_scales_by_d_not_its_root", "mask_none_guessed_from_zero_scores"],
}
NOT_APPLICABLE: dict[str, str] = {
    "init": "no parameter is initialised by the topic (every layer keeps PyTorch's default) and nothing has a "
            "training mode (no dropout, no BatchNorm); the layers' structure, bias=False included, is checked by "
            "the shape tests (additive_layers_with_bias, mha_ignores_bias)",
    "method_args": "no method takes an argument its object was built with, and no module keeps a state between "
                   "calls: MultiHeadAttention.forward's is_causal and mask, AdditiveAttention's mask and "
                   "AttentionDecoder's hx are given per call only (the decoder test calls one decoder with its own "
                   "hx, and greedy decoding calls it step by step with the state it returned)",
}

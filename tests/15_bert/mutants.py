"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 15_bert` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ---- basic_tokenize
    "accents_kept": [
        ('word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")',
         "word = word.lower()"),
    ],
    "punctuation_ascii_only_by_isalnum": [
        ("            if is_punctuation(char):  # \"re-tokenized\"", "            if char in \",.!?\":  # \"re-tokenized\""),
    ],
    "control_characters_kept": [
        ('elif ord(char) == 0 or ord(char) == 0xFFFD or unicodedata.category(char).startswith("C"):',
         "elif ord(char) == 0:"),
    ],
    "cjk_not_split": [("cleaned.append(f\" {char} \")", "cleaned.append(char)")],
    # ---- WordPiece
    "wordpiece_shortest_match_first": [
        ("            end = len(word)\n            while end > start:",
         "            end = start + 1\n            while end <= len(word):"),
        ("                end -= 1\n            if end == start:", "                end += 1\n            if end > len(word):"),
    ],
    "wordpiece_no_hashes": [('piece = word[start:end] if start == 0 else "##" + word[start:end]',
                             "piece = word[start:end]")],
    "wordpiece_unk_only_the_unmatched_part": [
        ("            if end == start:  # nothing matches here: the whole word is unknown, not just this part\n"
         "                return [\"[UNK]\"]",
         "            if end == start:\n                pieces.append(\"[UNK]\")\n                break"),
    ],
    "wordpiece_max_chars_off_by_one": [("if len(word) > self.max_chars:", "if len(word) >= self.max_chars:")],
    "wordpiece_max_chars_constant": [("if len(word) > self.max_chars:", "if len(word) > 100:")],
    "encode_without_sep": [("self.stoi[token] for token in self.tokenize(text)), self.sep_id]",
                            "self.stoi[token] for token in self.tokenize(text))]")],
    # ---- init_weights
    "init_pytorch_default_std_ignored": [
        ("        nn.init.normal_(module.weight, mean=0.0, std=std)\n        if module.bias is not None:",
         "        nn.init.normal_(module.weight, mean=0.0, std=0.02)\n        if module.bias is not None:"),
    ],
    "init_padding_row_not_zeroed": [("                module.weight[module.padding_idx].zero_()", "                pass")],
    "bert_not_initialised": [("        self.apply(lambda module: init_weights(module, config.init_std))\n        # END",
                              "        # END")],
    # ---- Embeddings
    "embeddings_without_positions": [
        ("x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(segments)",
         "x = self.word_embeddings(ids) + self.token_type_embeddings(segments)"),
    ],
    "positions_on_the_cpu": [("positions = torch.arange(T, device=ids.device)", "positions = torch.arange(T)")],
    "embeddings_layernorm_default_eps": [
        ("        self.LayerNorm = nn.LayerNorm(config.embed_dim, eps=config.eps)\n        self.dropout",
         "        self.LayerNorm = nn.LayerNorm(config.embed_dim)\n        self.dropout"),
    ],
    "dropout_zero_read_as_not_given": [("        self.dropout = nn.Dropout(config.dropout)\n        # END SOLUTION\n\n"
                                        "    def forward(self, ids: Tensor, segments",
                                        "        self.dropout = nn.Dropout(config.dropout or 0.1)\n        # END SOLUTION\n\n"
                                        "    def forward(self, ids: Tensor, segments")],
    # ---- SelfAttention
    "attention_calls_sdpa": [
        ("        scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, h, T, T): query t against key s\n",
         "        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else "
         "mask[:, None, None, :])\n        return out.transpose(1, 2).reshape(B, T, D)\n"
         "        scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, h, T, T): query t against key s\n"),
    ],
    "attention_not_scaled": [("scores = q @ k.transpose(-2, -1) / math.sqrt(d)", "scores = q @ k.transpose(-2, -1)")],
    "attention_scaled_by_embed_dim": [("scores = q @ k.transpose(-2, -1) / math.sqrt(d)",
                                       "scores = q @ k.transpose(-2, -1) / math.sqrt(D)")],
    "attention_mask_on_the_queries": [("scores.masked_fill(~mask[:, None, None, :],",
                                       "scores.masked_fill(~mask[:, None, :, None],")],
    "attention_mask_ignored": [("        if mask is not None:\n            # The smallest",
                                "        if False:\n            # The smallest")],
    "heads_split_without_transpose": [("return t.view(B, T, h, d).transpose(1, 2)  # (B, h, T, d)",
                                       "return t.reshape(B, h, T, d)  # (B, h, T, d)")],
    # ---- BertLayer
    "layer_pre_ln": [
        ("a = self.attention[\"output\"][\"LayerNorm\"](x + self.dropout(attended))",
         "a = x + self.dropout(self.attention[\"output\"][\"dense\"](self.attention[\"self\"]("
         "self.attention[\"output\"][\"LayerNorm\"](x), mask)))"),
    ],
    "layer_relu": [("hidden = F.gelu(self.intermediate[\"dense\"](a))", "hidden = F.relu(self.intermediate[\"dense\"](a))")],
    "layer_second_residual_from_x": [("return self.output[\"LayerNorm\"](a + self.dropout(",
                                      "return self.output[\"LayerNorm\"](x + self.dropout(")],
    "layer_calls_transformer_encoder_layer": [
        ("        attended = self.attention[\"output\"][\"dense\"]",
         "        ref = nn.TransformerEncoderLayer(x.shape[-1], self.attention['self'].num_heads, "
         "self.intermediate['dense'].out_features, 0.0, activation='gelu', batch_first=True, "
         "layer_norm_eps=self.output['LayerNorm'].eps).to(x)\n"
         "        sd = {'self_attn.in_proj_weight': torch.cat([self.attention['self'].query.weight, "
         "self.attention['self'].key.weight, self.attention['self'].value.weight]), "
         "'self_attn.in_proj_bias': torch.cat([self.attention['self'].query.bias, self.attention['self'].key.bias, "
         "self.attention['self'].value.bias])}\n"
         "        for a_, b_ in (('self_attn.out_proj', self.attention['output']['dense']), ('linear1', "
         "self.intermediate['dense']), ('linear2', self.output['dense']), ('norm1', "
         "self.attention['output']['LayerNorm']), ('norm2', self.output['LayerNorm'])):\n"
         "            sd[a_ + '.weight'], sd[a_ + '.bias'] = b_.weight, b_.bias\n"
         "        return torch.func.functional_call(ref, sd, (x,), {'src_key_padding_mask': None if mask is None "
         "else ~mask})\n"
         "        attended = self.attention[\"output\"][\"dense\"]"),
    ],
    # ---- Bert
    "num_layers_ignored": [("nn.ModuleList(BertLayer(config) for _ in range(config.num_layers))",
                            "nn.ModuleList(BertLayer(config) for _ in range(1))")],
    "pooler_without_tanh": [("pooled = torch.tanh(self.pooler[\"dense\"](x[:, 0]))", "pooled = self.pooler[\"dense\"](x[:, 0])")],
    "pooler_reads_the_mean": [("pooled = torch.tanh(self.pooler[\"dense\"](x[:, 0]))",
                               "pooled = torch.tanh(self.pooler[\"dense\"](x.mean(1)))")],
    "bert_mask_none_from_pad_ids": [
        ("        x = self.embeddings(ids, segments)  # (B, T, D)\n",
         "        if mask is None:\n            mask = ids != PAD_ID\n        x = self.embeddings(ids, segments)  # (B, T, D)\n"),
    ],
    "bert_ignores_segments": [("x = self.embeddings(ids, segments)  # (B, T, D)", "x = self.embeddings(ids)  # (B, T, D)")],
    # ---- BertForPreTraining
    "decoder_weight_copied_not_tied": [
        ("self.cls[\"predictions\"][\"decoder\"].weight = self.bert.embeddings.word_embeddings.weight",
         "self.cls[\"predictions\"][\"decoder\"].weight.data.copy_(self.bert.embeddings.word_embeddings.weight)"),
    ],
    "mlm_head_without_transform": [
        ("x = transform[\"LayerNorm\"](F.gelu(transform[\"dense\"](x)))  # (B, T, D)", "pass"),
    ],
    "nsp_reads_cls_state_not_pooled": [("self.cls[\"seq_relationship\"](pooled)  # (B, T, V), (B, 2)",
                                        "self.cls[\"seq_relationship\"](x[:, 0])  # (B, T, V), (B, 2)")],
    # ---- mask_tokens
    "mask_tokens_masks_special_tokens": [("chosen = (ids >= NUM_SPECIAL) & (uniform() < mask_prob)",
                                          "chosen = (ids != PAD_ID) & (uniform() < mask_prob)")],
    "mask_tokens_always_mask": [("masked = chosen & (uniform() < 0.8)", "masked = chosen")],
    "mask_tokens_random_includes_special": [("words = torch.randint(NUM_SPECIAL, vocab_size,",
                                             "words = torch.randint(0, vocab_size,")],
    "mask_tokens_global_generator": [
        ("        return torch.rand(ids.shape, generator=generator, device=generator.device).to(ids.device)",
         "        return torch.rand(ids.shape, device=ids.device)"),
    ],
    "mask_prob_zero_read_as_not_given": [("(uniform() < mask_prob)", "(uniform() < (mask_prob or 0.15))")],
    "mask_prob_ignored": [("(uniform() < mask_prob)", "(uniform() < 0.15)")],
    "mask_tokens_overwrites_ids": [
        ("    inputs = torch.where(masked, MASK_ID, torch.where(randomised, words, ids))",
         "    ids[randomised] = words[randomised]\n    ids[masked] = MASK_ID\n    inputs = ids"),
    ],
    "labels_everywhere": [("labels = torch.where(chosen, ids, IGNORE_INDEX)", "labels = ids.clone()")],
    # ---- train_step
    "train_step_forgets_nsp": [("    loss = mlm + F.cross_entropy(nsp_logits, is_next)", "    loss = mlm")],
    "train_step_swaps_mask_and_segments": [("mlm_logits, nsp_logits = model(ids, mask, segments)  # (B, T, V), (B, 2)",
                                            "mlm_logits, nsp_logits = model(ids, segments, mask)  # (B, T, V), (B, 2)")],
    # ---- Classifier
    "classifier_copies_bert": [("        self.bert = bert\n", "        self.bert = copy.deepcopy(bert)\n"),
                               ("import argparse\nimport math", "import argparse\nimport copy\nimport math")],
    "classifier_without_dropout": [("return self.classifier(self.dropout(pooled))", "return self.classifier(pooled)")],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # One uniform draw per token splits the chosen ones: < 0.8 [MASK], < 0.9 random, else kept.
    "mask_tokens_one_draw": [
        ("    masked = chosen & (uniform() < 0.8)\n    randomised = chosen & ~masked & (uniform() < 0.5)",
         "    u = uniform()\n    masked = chosen & (u < 0.8)\n    randomised = chosen & (u >= 0.8) & (u < 0.9)"),
    ],
    # The attention with einsum and an additive mask of -1e9 (Hugging Face's older way).
    "attention_einsum_additive_mask": [
        ("        scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (B, h, T, T): query t against key s\n"
         "        if mask is not None:\n"
         "            # The smallest finite value rather than -inf: a row with no real key then stays finite (uniform).\n"
         "            scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)",
         "        scores = torch.einsum(\"bhtd,bhsd->bhts\", q, k) / d ** 0.5  # (B, h, T, T)\n"
         "        if mask is not None:\n"
         "            scores = scores + (~mask[:, None, None, :]).to(scores.dtype) * -1e9"),
    ],
    # WordPiece as a recursive longest prefix search.
    "wordpiece_by_prefix_list": [
        ("        pieces, start = [], 0\n        while start < len(word):",
         "        pieces, start = [], 0\n        while False:"),
        ("            start = end\n        return pieces",
         "            start = end\n"
         "        rest, first = word, True\n"
         "        while rest:\n"
         "            found = next((rest[:n] for n in range(len(rest), 0, -1)\n"
         "                          if (rest[:n] if first else \"##\" + rest[:n]) in self.stoi), None)\n"
         "            if found is None:\n"
         "                return [\"[UNK]\"]\n"
         "            pieces.append(found if first else \"##\" + found)\n"
         "            rest, first = rest[len(found):], False\n"
         "        return pieces"),
    ],
}

PATTERNS = {
    "builtin": ["attention_calls_sdpa", "layer_calls_transformer_encoder_layer"],
    "arguments": ["num_layers_ignored", "wordpiece_max_chars_constant", "mask_prob_ignored", "bert_ignores_segments",
                  "embeddings_layernorm_default_eps", "init_pytorch_default_std_ignored",
                  "train_step_swaps_mask_and_segments"],
    "returns": ["pooler_without_tanh", "nsp_reads_cls_state_not_pooled", "train_step_forgets_nsp",
                "labels_everywhere", "encode_without_sep"],
    "device": ["positions_on_the_cpu", "mask_tokens_global_generator"],
    "inputs": ["attention_mask_ignored", "attention_mask_on_the_queries", "accents_kept", "cjk_not_split",
               "control_characters_kept", "wordpiece_unk_only_the_unmatched_part", "heads_split_without_transpose"],
    "init": ["bert_not_initialised", "init_padding_row_not_zeroed", "decoder_weight_copied_not_tied"],
    "falsy": ["mask_prob_zero_read_as_not_given", "dropout_zero_read_as_not_given"],
    "in_place": ["mask_tokens_overwrites_ids"],
    "constants": ["wordpiece_max_chars_off_by_one", "bert_mask_none_from_pad_ids", "attention_scaled_by_embed_dim"],
}
NOT_APPLICABLE: dict[str, str] = {
    "method_args": "no method takes an argument its object was built with, and no module keeps a state between "
                   "calls: forward takes ids, mask and segments, which no constructor holds; WordPiece's max_chars "
                   "is an attribute its methods read (wordpiece_max_chars_constant proves they read it)",
}

"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 14_elmo` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ---- Highway
    # The halves read the other way round: the gate from W_H x, the transform from W_T x.
    "highway_gate_from_the_first_half": [
        ("h, gate = layer(x).chunk(2, dim=-1)", "gate, h = layer(x).chunk(2, dim=-1)"),
    ],
    "highway_carry_and_transform_swapped": [
        ("x = t * F.relu(h) + (1 - t) * x", "x = (1 - t) * F.relu(h) + t * x"),
    ],
    "highway_without_relu": [("x = t * F.relu(h) + (1 - t) * x", "x = t * h + (1 - t) * x")],
    # `if gate_bias:` reads 0.0 as "not given": the gate keeps nn.Linear's random bias.
    "highway_gate_bias_zero_read_as_not_given": [
        ("            for layer in self.layers:\n                layer.bias[size:]",
         "            for layer in (self.layers if gate_bias else []):\n                layer.bias[size:]"),
    ],
    "highway_gate_bias_on_the_first_half": [
        ("layer.bias[size:].fill_(gate_bias)", "layer.bias[:size].fill_(gate_bias)"),
    ],
    "highway_num_layers_ignored": [
        ("nn.Linear(size, 2 * size) for _ in range(num_layers))", "nn.Linear(size, 2 * size) for _ in range(1))"),
    ],
    # ---- CharCNN
    "char_cnn_mean_pool": [("F.relu(conv(x).amax(dim=-1))", "F.relu(conv(x).mean(dim=-1))")],
    "char_cnn_no_relu": [("F.relu(conv(x).amax(dim=-1))", "conv(x).amax(dim=-1)")],
    # Without padding_idx the pad character gets a random, trained vector.
    "char_cnn_no_padding_idx": [
        ("self.char_embedding = nn.Embedding(num_chars, char_dim, padding_idx=CHAR_PAD_ID)",
         "self.char_embedding = nn.Embedding(num_chars, char_dim)"),
    ],
    # Every bank gets the same width: filters read for their channels only.
    "char_cnn_filter_widths_ignored": [
        ("nn.Conv1d(char_dim, out_channels, width) for width", "nn.Conv1d(char_dim, out_channels, 2) for width"),
    ],
    "char_cnn_num_highway_ignored": [("Highway(num_filters, num_highway)", "Highway(num_filters)")],
    "char_cnn_char_dim_ignored": [
        ("self.char_embedding = nn.Embedding(num_chars, char_dim, padding_idx=CHAR_PAD_ID)",
         "self.char_embedding = nn.Embedding(num_chars, 16, padding_idx=0)"),
        ("nn.ModuleList(nn.Conv1d(char_dim, out_channels, width)", "nn.ModuleList(nn.Conv1d(16, out_channels, width)"),
    ],
    # The max taken over the characters' embedding channels instead of the word's positions: reshaped wrongly.
    "char_cnn_words_mixed_with_neighbours": [
        ("x = self.char_embedding(chars.reshape(B * T, L))  # (B*T, L, C)",
         "x = self.char_embedding(chars.transpose(0, 1).reshape(B * T, L))  # (B*T, L, C)"),
    ],
    # ---- BiLM
    # x.flip(1) puts the padding first: the backward LM reads it before the sentence.
    "backward_reads_the_padding_first": [
        ("forward, backward = x, reverse_padded(x, lengths)", "forward, backward = x, x.flip(1)"),
        ("layers.append(torch.cat([forward, reverse_padded(backward, lengths)], dim=-1))",
         "layers.append(torch.cat([forward, backward.flip(1)], dim=-1))"),
    ],
    # The backward states stay in reversed time: position t holds the state of position L - 1 - t (a leak).
    "backward_not_reversed_back": [
        ("layers.append(torch.cat([forward, reverse_padded(backward, lengths)], dim=-1))",
         "layers.append(torch.cat([forward, backward], dim=-1))"),
    ],
    "no_residual": [
        ("                forward_out, backward_out = forward_out + forward, backward_out + backward\n",
         "                pass\n"),
    ],
    "residual_on_the_first_layer_too": [("            if j > 0:  # residual", "            if j >= 0:  # residual")],
    "token_layer_left_out": [
        ("layers = [torch.cat([x, x], dim=-1)]  # (B, T, 2D)", "layers = []  # (B, T, 2D)"),
    ],
    "num_layers_ignored": [
        ("nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(config.num_layers))\n        self.backward",
         "nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(2))\n        self.backward"),
        ("self.backward_lstms = nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(config.num_layers))",
         "self.backward_lstms = nn.ModuleList(nn.LSTM(D, D, batch_first=True) for _ in range(2))"),
    ],
    # The backward LM gets a softmax of its own: the paper ties them.
    "backward_softmax_not_shared": [
        ("        self.softmax = nn.Linear(D, config.vocab_size)\n",
         "        self.softmax = nn.Linear(D, config.vocab_size)\n"
         "        self.backward_softmax = nn.Linear(D, config.vocab_size)\n"),
        ("return self.softmax(top[..., :D]), self.softmax(top[..., D:])",
         "return self.softmax(top[..., :D]), self.backward_softmax(top[..., D:])"),
    ],
    "encoder_ignores_the_config": [
        ("CharCNN(D, char_dim=config.char_dim, filters=config.filters, num_highway=config.num_highway)",
         "CharCNN(D)"),
    ],
    # Each LM scores from the other one's half: the forward logits have read the word they predict.
    "lm_logits_halves_swapped": [
        ("return self.softmax(top[..., :D]), self.softmax(top[..., D:])",
         "return self.softmax(top[..., D:]), self.softmax(top[..., :D])"),
    ],
    # The softmax reads the whole top layer, both directions: each LM sees its answer.
    "softmax_reads_both_halves": [
        ("self.softmax = nn.Linear(D, config.vocab_size)", "self.softmax = nn.Linear(2 * D, config.vocab_size)"),
        ("return self.softmax(top[..., :D]), self.softmax(top[..., D:])",
         "return self.softmax(top), self.softmax(top)"),
    ],
    # ---- train_step
    # The backward LM trained to predict the next word: it has read it (a leak).
    "backward_lm_predicts_the_next_word": [
        ("+ F.cross_entropy(backward_logits.transpose(1, 2), previous_ids, ignore_index=IGNORE_INDEX)",
         "+ F.cross_entropy(backward_logits.transpose(1, 2), next_ids, ignore_index=IGNORE_INDEX)"),
    ],
    # Targets not shifted: each LM predicts the word it is reading.
    "forward_lm_predicts_its_own_word": [
        ("next_ids = next_token_targets(ids, lengths)  # (B, T): ids[t+1]",
         "next_ids = ids.masked_fill(ids == 0, IGNORE_INDEX)  # (B, T): ids[t+1]"),
    ],
    "train_step_forward_loss_only": [
        ("+ F.cross_entropy(backward_logits.transpose(1, 2), previous_ids, ignore_index=IGNORE_INDEX)) / 2",
         ") / 1"),
    ],
    "train_step_sums_the_two_losses": [
        ("+ F.cross_entropy(backward_logits.transpose(1, 2), previous_ids, ignore_index=IGNORE_INDEX)) / 2",
         "+ F.cross_entropy(backward_logits.transpose(1, 2), previous_ids, ignore_index=IGNORE_INDEX))"),
    ],
    # The padding's id 0 scored as a word: no ignore_index, and -100 replaced by 0.
    "train_step_scores_the_padding": [
        ("next_ids = next_token_targets(ids, lengths)  # (B, T): ids[t+1]",
         "next_ids = next_token_targets(ids, lengths).clamp(min=0)  # (B, T): ids[t+1]"),
    ],
    "train_step_ignores_lengths": [
        ("forward_logits, backward_logits = model.lm_logits(model(chars, lengths))  # (B, T, V) each",
         "forward_logits, backward_logits = model.lm_logits(model(chars))  # (B, T, V) each"),
    ],
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    forward_logits", "    forward_logits")],
    # ---- ScalarMix
    "scalar_mix_without_softmax": [
        ("weights = torch.softmax(self.scalar_parameters, dim=0)", "weights = self.scalar_parameters"),
    ],
    "scalar_mix_ignores_gamma": [
        ("return self.gamma * sum(w * h for w, h in zip(weights, layers))",
         "return sum(w * h for w, h in zip(weights, layers))"),
    ],
    "scalar_mix_gamma_starts_random": [("self.gamma = nn.Parameter(torch.tensor(1.0))",
                                        "self.gamma = nn.Parameter(torch.rand(()))")],
    "scalar_mix_weights_start_random": [("self.scalar_parameters = nn.Parameter(torch.zeros(num_layers))",
                                         "self.scalar_parameters = nn.Parameter(torch.randn(num_layers))")],
    # gamma and s as plain tensors: the mix cannot be trained.
    "scalar_mix_parameters_not_trained": [
        ("return self.gamma * sum(w * h for w, h in zip(weights, layers))",
         "return self.gamma.detach() * sum(w.detach() * h for w, h in zip(weights, layers))"),
    ],
    "scalar_mix_sum_on_the_cpu": [
        ("return self.gamma * sum(w * h for w, h in zip(weights, layers))",
         "mixed = torch.zeros(layers[0].shape, dtype=layers[0].dtype)\n"
         "        for w, h in zip(weights, layers):\n            mixed = mixed + w * h\n"
         "        return self.gamma * mixed"),
    ],
    # The sum accumulated into the first layer the caller gave.
    "scalar_mix_accumulates_into_the_first_layer": [
        ("return self.gamma * sum(w * h for w, h in zip(weights, layers))",
         "mixed = layers[0]\n        mixed *= weights[0]\n"
         "        for w, h in zip(weights[1:], layers[1:]):\n            mixed += w * h\n"
         "        return self.gamma * mixed"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # The same convex combination as a lerp: x + t * (relu(h) - x).
    "highway_lerp": [("x = t * F.relu(h) + (1 - t) * x", "x = torch.lerp(x, F.relu(h), t)")],
    # relu before the max: the same, since relu is monotone.
    "char_cnn_relu_then_max": [("F.relu(conv(x).amax(dim=-1))", "conv(x).relu().max(dim=-1).values")],
    # The previous word by shifting the ids right and masking, instead of reversing twice.
    "train_step_previous_by_shift": [
        ("previous_ids = reverse_padded(next_token_targets(reverse_padded(ids, lengths), lengths), lengths)  # (B, T)",
         "previous_ids = torch.full_like(ids, IGNORE_INDEX)  # (B, T)\n"
         "    previous_ids[:, 1:] = ids[:, :-1]\n"
         "    t = torch.arange(ids.shape[1], device=ids.device)\n"
         "    past_the_end = t >= lengths.to(ids.device)[:, None]\n"
         "    previous_ids = previous_ids.masked_fill((t == 0) | past_the_end, IGNORE_INDEX)"),
    ],
    # The layers stacked and contracted with einsum.
    "scalar_mix_einsum": [
        ("return self.gamma * sum(w * h for w, h in zip(weights, layers))",
         "return self.gamma * torch.einsum(\"j,j...->...\", weights, torch.stack(list(layers)))"),
    ],
    # The backward LM on a packed sequence of each sentence reversed (what nn.LSTM does with lengths).
    "backward_by_flipping_each_sentence": [
        ("            backward_out, _ = backward_lstm(backward)  # (B, T, D)\n",
         "            backward_out = torch.stack([torch.cat([backward_lstm(backward[b:b + 1, :L])[0][0],\n"
         "                                                   backward[b, L:]])\n"
         "                                        for b, L in enumerate(lengths.tolist())])\n"),
    ],
}

PATTERNS = {
    "arguments": ["highway_num_layers_ignored", "char_cnn_filter_widths_ignored", "char_cnn_num_highway_ignored",
                  "char_cnn_char_dim_ignored", "num_layers_ignored", "encoder_ignores_the_config",
                  "train_step_ignores_lengths"],
    "returns": ["token_layer_left_out", "lm_logits_halves_swapped", "train_step_forward_loss_only",
                "train_step_sums_the_two_losses"],
    "device": ["scalar_mix_sum_on_the_cpu"],
    "inputs": ["backward_reads_the_padding_first", "char_cnn_words_mixed_with_neighbours",
               "train_step_scores_the_padding"],
    "init": ["highway_gate_bias_on_the_first_half", "scalar_mix_gamma_starts_random",
             "scalar_mix_weights_start_random"],
    "falsy": ["highway_gate_bias_zero_read_as_not_given"],
    "in_place": ["scalar_mix_accumulates_into_the_first_layer"],
    "constants": ["char_cnn_no_padding_idx"],
}
NOT_APPLICABLE: dict[str, str] = {
    "builtin": "no task re-implements a PyTorch built-in: ELMo is built from nn.Embedding, nn.Conv1d, nn.LSTM and "
               "nn.Linear on purpose (topics 10-11 wrote the LSTM and its directions), and PyTorch has no highway "
               "layer, character CNN or scalar mix to call; every task's off_limits list is []",
    "method_args": "no method takes an argument its object was built with, and no module keeps a state between "
                   "calls: forward takes chars and lengths, which no constructor holds, lm_logits takes the layers, "
                   "ScalarMix.forward the layers (the suite calls one BiLM with several lengths in a row)",
}

"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 11_bilstm` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # The shortcut: PyTorch's fused LSTM kernel instead of stepping the cell.
    "unroll_calls_torch_lstm": [
        ("    outputs = []\n    for t in range(T):",
         "    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]\n"
         "    output, h, c = torch.lstm(x, (h[None], c[None]), params, True, 1, 0.0, False, False, True)\n"
         "    return output * mask[..., None], (h[0], c[0])\n"
         "    outputs = []\n    for t in range(T):"),
    ],
    # x.flip(1) reverses the padding too: the backward direction starts at the pad (the classic bug).
    "backward_reads_the_padding_first": [
        ("backward, (h, c) = unroll(self.backward_cells[layer], reverse_padded(x, lengths), mask)",
         "backward, (h, c) = unroll(self.backward_cells[layer], x.flip(1))"),
        ("outputs.append(reverse_padded(backward, lengths))", "outputs.append(backward.flip(1))"),
    ],
    # The backward outputs stay in reversed time: position t holds the state of position L - 1 - t.
    "backward_output_not_reversed_back": [
        ("outputs.append(reverse_padded(backward, lengths))", "outputs.append(backward)"),
    ],
    # Reversal of the whole row, padding included, in the helper itself.
    "reverse_whole_row": [
        ("source = torch.where(t < lengths, lengths - 1 - t, t)", "source = (T - 1 - t).expand(x.shape[0], T)"),
    ],
    # Off by one at the end of each sequence: its first token never moves.
    "reverse_keeps_the_first_token": [
        ("source = torch.where(t < lengths, lengths - 1 - t, t)",
         "source = torch.where(t < lengths - 1, lengths - 1 - t, t)"),
    ],
    # The cell steps over the padding: h_n is the state after the last (padded) step.
    "state_not_frozen_at_padding": [
        ("h = torch.where(real, h_next, h)  # (B, H)", "h = h_next  # (B, H)"),
        ("c = torch.where(real, c_next, c)  # (B, H)", "c = c_next  # (B, H)"),
    ],
    # The frozen state repeated at the padding instead of zeros.
    "output_not_zero_at_padding": [
        ("outputs.append(torch.where(real, h_next, 0.0))", "outputs.append(h)"),
    ],
    "c_n_returns_the_hidden_state": [
        ("return torch.stack(outputs, dim=1), (h, c)", "return torch.stack(outputs, dim=1), (h, h)"),
    ],
    "zero_state_on_the_cpu": [
        ("h = x.new_zeros(B, cell.hidden_size)  # (B, H)", "h = torch.zeros(B, cell.hidden_size)  # (B, H)"),
        ("c = x.new_zeros(B, cell.hidden_size)  # (B, H)", "c = torch.zeros(B, cell.hidden_size)  # (B, H)"),
    ],
    # The rows reversed in place: the caller's x (token ids, embeddings) comes back reversed too.
    "reverse_padded_overwrites_x": [
        ("    T = x.shape[1]\n    t = torch.arange(T, device=x.device)  # (T,)\n",
         "    for b, L in enumerate(lengths.tolist()):\n        x[b, :L] = x[b, :L].flip(0)\n    return x\n"
         "    T = x.shape[1]\n    t = torch.arange(T, device=x.device)  # (T,)\n"),
    ],
    # mask=None guessed from the input: a step whose features are all 0 is taken for padding.
    "unroll_mask_none_skips_zero_inputs": [
        ("mask = torch.ones(B, T, dtype=torch.bool, device=x.device)  # (B, T)",
         "mask = x.ne(0).any(-1)  # (B, T): an all-zero step is padding"),
    ],
    "reverse_index_on_the_cpu": [
        ("t = torch.arange(T, device=x.device)  # (T,)", "t = torch.arange(T)  # (T,)"),
    ],
    "mask_on_the_cpu": [
        ("mask = torch.arange(T, device=x.device) < lengths.to(x.device)[:, None]",
         "mask = torch.arange(T) < lengths[:, None]"),
    ],
    # Only the first layer is built (and run).
    "num_layers_ignored": [
        ("sizes = [input_size] + [directions * hidden_size] * (num_layers - 1)", "sizes = [input_size]"),
        ("for layer in range(self.num_layers):", "for layer in range(1):"),
    ],
    # Layers after the first read only one direction's width: the sizes of a unidirectional stack.
    "upper_layers_sized_for_one_direction": [
        ("sizes = [input_size] + [directions * hidden_size] * (num_layers - 1)",
         "sizes = [input_size] + [hidden_size] * (num_layers - 1)"),
        ("x = torch.cat(outputs, dim=-1)  # (B, T, 2H): the next layer's input",
         "x = torch.cat(outputs, dim=-1)  # (B, T, 2H): the next layer's input\n"
         "            if layer < self.num_layers - 1:\n"
         "                x = x[..., :self.hidden_size]"),
    ],
    # The backward direction reuses the forward cell: one set of weights for both.
    "backward_uses_the_forward_cell": [
        ("unroll(self.backward_cells[layer], reverse_padded(x, lengths), mask)",
         "unroll(self.forward_cells[layer], reverse_padded(x, lengths), mask)"),
    ],
    # Both directions start from the same weights.
    "backward_cells_copy_forward": [
        ("import argparse\nimport sys", "import argparse\nimport copy\nimport sys"),
        ("self.backward_cells = nn.ModuleList(nn.LSTMCell(size, hidden_size) for size in sizes if bidirectional)",
         "self.backward_cells = nn.ModuleList(copy.deepcopy(cell) for cell in self.forward_cells if bidirectional)"),
    ],
    "halves_swapped": [
        ("x = torch.cat(outputs, dim=-1)  # (B, T, 2H)", "x = torch.cat(outputs[::-1], dim=-1)  # (B, T, 2H)"),
    ],
    # h_n as [every layer forward, then every layer backward]: right shape, wrong order for num_layers > 1.
    "h_n_grouped_by_direction": [
        ("return x, (torch.stack(h_n), torch.stack(c_n))",
         "return x, (torch.stack(h_n[0::2] + h_n[1::2]), torch.stack(c_n[0::2] + c_n[1::2]))"),
    ],
    # lengths=None read as "work them out": the [PAD] id 0 taken for padding, where None means all T.
    "lengths_none_skips_padding_id_zero": [
        ("        output, _ = self.lstm(self.embedding(x), lengths)  # (B, T, 2H)\n",
         "        if lengths is None:\n            lengths = (x != 0).sum(1)  # the [PAD] id 0 is not a token\n"
         "        output, _ = self.lstm(self.embedding(x), lengths)  # (B, T, 2H)\n"),
    ],
    # The given lengths replaced by ones worked out from the ids: right only when the padding holds id 0.
    "tagger_lengths_from_the_pad_ids": [
        ("output, _ = self.lstm(self.embedding(x), lengths)", "output, _ = self.lstm(self.embedding(x), (x != 0).sum(1))"),
    ],
    "tagger_ignores_lengths": [
        ("output, _ = self.lstm(self.embedding(x), lengths)", "output, _ = self.lstm(self.embedding(x))"),
    ],
    # bidirectional=False is not passed on: the "unidirectional" tagger reads both ways.
    "tagger_ignores_bidirectional": [
        ("self.lstm = BiLSTM(embed_dim, hidden_size, num_layers, bidirectional=bidirectional)",
         "self.lstm = BiLSTM(embed_dim, hidden_size, num_layers)"),
        ("self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)",
         "self.head = nn.Linear(2 * hidden_size, num_classes)"),
    ],
    "tagger_ignores_num_layers": [
        ("self.lstm = BiLSTM(embed_dim, hidden_size, num_layers, bidirectional=bidirectional)",
         "self.lstm = BiLSTM(embed_dim, hidden_size, bidirectional=bidirectional)"),
    ],
    # The head reads the forward half only: a unidirectional tagger with extra weights.
    "tagger_head_reads_the_forward_half": [
        ("self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)",
         "self.head = nn.Linear(hidden_size, num_classes)"),
        ("return self.head(output)  # (B, T, C)", "return self.head(output[..., :self.lstm.hidden_size])  # (B, T, C)"),
    ],
    # Next-token tagging has vocab_size classes: a head sized by the vocabulary passes there, and nowhere else.
    "tagger_head_to_vocab_size": [
        ("self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_classes)",
         "self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, vocab_size)"),
    ],
    "train_step_ignores_lengths": [("logits = model(ids, lengths)  # (B, T, C)", "logits = model(ids)  # (B, T, C)")],
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    logits", "    logits")],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # A Python loop over the sequences, reading the lengths' values.
    "reverse_padded_loop": [
        ("    T = x.shape[1]\n    t = torch.arange(T, device=x.device)  # (T,)\n",
         "    out = x.clone()\n    for b, L in enumerate(lengths.tolist()):\n        out[b, :L] = x[b, :L].flip(0)\n"
         "    return out\n    T = x.shape[1]\n    t = torch.arange(T, device=x.device)  # (T,)\n"),
    ],
    # Mask arithmetic instead of torch.where: h = m h' + (1 - m) h.
    "unroll_mask_arithmetic": [
        ("h = torch.where(real, h_next, h)  # (B, H)\n        c = torch.where(real, c_next, c)  # (B, H)\n"
         "        outputs.append(torch.where(real, h_next, 0.0))",
         "m = real.to(h.dtype)  # (B, 1) of 0/1\n        h = m * h_next + (1 - m) * h  # (B, H)\n"
         "        c = m * c_next + (1 - m) * c  # (B, H)\n        outputs.append(m * h_next)"),
    ],
    # The whole row flipped, with the mask flipped too: the padding comes first and is skipped from a zero state.
    "backward_by_flip_with_flipped_mask": [
        ("backward, (h, c) = unroll(self.backward_cells[layer], reverse_padded(x, lengths), mask)",
         "backward, (h, c) = unroll(self.backward_cells[layer], x.flip(1), mask.flip(1))"),
        ("outputs.append(reverse_padded(backward, lengths))", "outputs.append(backward.flip(1))"),
    ],
    # Classes in dimension 1, as F.cross_entropy takes (B, V, T) against (B, T).
    "train_step_classes_in_dim_1": [
        ("loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE_INDEX)",
         "loss = F.cross_entropy(logits.transpose(1, 2), y)"),
    ],
}

PATTERNS = {
    "builtin": ["unroll_calls_torch_lstm"],
    "arguments": ["num_layers_ignored", "tagger_ignores_bidirectional", "tagger_ignores_num_layers",
                  "tagger_head_to_vocab_size", "tagger_ignores_lengths", "train_step_ignores_lengths",
                  "tagger_lengths_from_the_pad_ids"],
    "returns": ["h_n_grouped_by_direction", "c_n_returns_the_hidden_state", "output_not_zero_at_padding"],
    "device": ["zero_state_on_the_cpu", "reverse_index_on_the_cpu", "mask_on_the_cpu"],
    "inputs": ["backward_reads_the_padding_first", "state_not_frozen_at_padding", "reverse_keeps_the_first_token"],
    "init": ["backward_cells_copy_forward"],
    "in_place": ["reverse_padded_overwrites_x"],
    "constants": ["lengths_none_skips_padding_id_zero", "unroll_mask_none_skips_zero_inputs"],
}
NOT_APPLICABLE: dict[str, str] = {
    "falsy": "the one argument that takes a falsy value is bidirectional=False, and it is an argument test of its "
             "own (BiLSTM and Tagger with bidirectional=False against nn.LSTM, causality and shapes: "
             "tagger_ignores_bidirectional); lengths and mask are tensors or None, never read for truth (bool() of a "
             "batch raises), lengths are at least 1, and num_layers=0 is refused by given code",
    "method_args": "no method takes an argument its object was built with, and no module keeps a state between "
                   "calls: BiLSTM.forward and Tagger.forward take x and lengths, which no constructor holds, and "
                   "unroll starts from zeros on every call (the suite calls one model with several lengths in a row)",
}

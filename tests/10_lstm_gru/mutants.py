"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 10_lstm_gru`
proves every one is caught and every variant passes.
"""

MUTANTS = {
    # ---------------------------------------------------------------- LSTMCell
    # TensorFlow 1's order read into PyTorch's weights: tf.compat.v1.nn.rnn_cell.LSTMCell splits its kernel
    # into i, j, f, o (j the candidate, PyTorch's g), as tf.raw_ops.LSTMBlockCell's kernel does (layout ICFO,
    # though its documentation writes [i, f, ci, o]). Keras's LSTM keeps PyTorch's i, f, c, o.
    "lstm_gate_order_tensorflow": [
        ("i, f, g, o = gates.chunk(4, dim=1)  # each (B, H), in PyTorch's order",
         "i, g, f, o = gates.chunk(4, dim=1)  # each (B, H), in PyTorch's order"),
    ],
    "lstm_h_without_tanh_of_c": [("h = o * torch.tanh(c)  # (B, H)", "h = o * c  # (B, H)")],
    "lstm_no_input_gate": [("c = f * c + i * g  # (B, H)", "c = f * c + g  # (B, H)")],
    "lstm_one_bias_only": [("gates = gates + self.bias_ih + self.bias_hh", "gates = gates + self.bias_ih")],
    # The memory updated in place: the caller's c (the hx it passed) is written over.
    "lstm_cell_updates_c_in_place": [("c = f * c + i * g  # (B, H)", "c = c.mul_(f).add_(i * g)  # (B, H)")],
    # The shortcut: the fused kernel that nn.LSTMCell calls.
    "lstm_cell_calls_torch_lstm_cell": [
        ("        h, c = hx\n        gates",
         "        return torch.lstm_cell(x, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)\n"
         "        h, c = hx\n        gates"),
    ],
    # torch.zeros(B, H): on the CPU and in float32, whatever x is.
    "lstm_cell_zero_state_on_cpu": [
        ("zeros = x.new_zeros(x.shape[0], self.hidden_size)  # (B, H) on x's device, in x's dtype",
         "zeros = torch.zeros(x.shape[0], self.hidden_size)"),
    ],
    "lstm_cell_ignores_bias_false": [
        ("            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)\n"
         "            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)\n"
         "        else:\n"
         "            # register_parameter(None) keeps the attribute, so `self.bias_ih is None` tells there is none.\n"
         "            self.register_parameter(\"bias_ih\", None)\n"
         "            self.register_parameter(\"bias_hh\", None)\n",
         "            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)\n"
         "            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))  # (4H,)\n"
         "        else:\n"
         "            self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size), requires_grad=False)\n"
         "            self.bias_hh = nn.Parameter(torch.zeros(4 * hidden_size), requires_grad=False)\n"),
    ],
    # nn.Linear's habit: the bound from the fan-in, 1/sqrt(input_size).
    "init_bound_from_input_size": [
        ("bound = 1 / math.sqrt(self.hidden_size)  # PyTorch's rule", "bound = 1 / math.sqrt(self.input_size)  # PyTorch's rule"),
    ],
    "init_normal_not_uniform": [
        ("        for p in self.parameters():\n            nn.init.uniform_(p, -bound, bound)\n        if forget_bias",
         "        for p in self.parameters():\n            nn.init.normal_(p, 0.0, bound)\n        if forget_bias"),
    ],
    # The first slice is the input gate, not the forget gate.
    "forget_bias_on_the_input_gate": [
        ("self.bias_ih[H:2 * H] = forget_bias", "self.bias_ih[:H] = forget_bias"),
        ("self.bias_hh[H:2 * H] = 0.0", "self.bias_hh[:H] = 0.0"),
    ],
    # Both biases set: the gate sees twice the value.
    "forget_bias_in_both_biases": [("self.bias_hh[H:2 * H] = 0.0", "self.bias_hh[H:2 * H] = forget_bias")],
    # Only bias_ih set: bias_hh's random forget slice still adds to it.
    "forget_bias_leaves_bias_hh_random": [("                self.bias_hh[H:2 * H] = 0.0  # the two biases add up: "
                                           "keep the total at forget_bias\n", "")],
    # The complement: zeroing every bias before setting the forget gate's.
    "forget_bias_zeroes_the_other_biases": [
        ("            with torch.no_grad():\n                # The gates are stacked",
         "            with torch.no_grad():\n                self.bias_ih.zero_()\n                self.bias_hh.zero_()\n"
         "                # The gates are stacked"),
    ],
    "forget_bias_ignored": [("        if forget_bias is not None:\n            H = self.hidden_size",
                             "        if False:\n            H = self.hidden_size")],
    # The total right, the split not the docstring's: half in each bias, where bias_ih takes it all and bias_hh 0.
    "forget_bias_split_between_the_biases": [
        ("self.bias_ih[H:2 * H] = forget_bias", "self.bias_ih[H:2 * H] = forget_bias / 2"),
        ("self.bias_hh[H:2 * H] = 0.0", "self.bias_hh[H:2 * H] = forget_bias / 2"),
    ],
    # `if forget_bias:` skips the write for 0.0: the slice keeps its uniform init.
    "forget_bias_zero_read_as_not_given": [("        if forget_bias is not None:\n            H = self.hidden_size",
                                            "        if forget_bias:\n            H = self.hidden_size")],
    # Jozefowicz et al.'s 1.0 as the default: None should keep PyTorch's init.
    "forget_bias_defaults_to_one": [
        ("        if forget_bias is not None:\n            H = self.hidden_size",
         "        if forget_bias is None and self.bias_ih is not None:\n            forget_bias = 1.0\n"
         "        if forget_bias is not None:\n"
         "            H = self.hidden_size"),
    ],
    # The cell keeps its forget_bias and reset_parameters reads it instead of its own argument.
    "reset_parameters_reads_self_forget_bias": [
        ("        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)\n",
         "        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)\n"
         "        self.forget_bias = forget_bias\n"),
        ("        if forget_bias is not None:\n            H = self.hidden_size",
         "        forget_bias = self.forget_bias\n        if forget_bias is not None:\n            H = self.hidden_size"),
    ],
    # The same, only when the call gives none: reset_parameters() goes back to the cell's own forget_bias.
    "reset_parameters_falls_back_to_self_forget_bias": [
        ("        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)\n",
         "        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)\n"
         "        self.forget_bias = forget_bias\n"),
        ("        if forget_bias is not None:\n            H = self.hidden_size",
         "        if forget_bias is None:\n            forget_bias = getattr(self, 'forget_bias', None)\n"
         "        if forget_bias is not None:\n            H = self.hidden_size"),
    ],
    # New nn.Parameters instead of a redraw in place: an optimizer built before holds the old ones.
    "reset_parameters_makes_new_parameters": [
        ("        for p in self.parameters():\n            nn.init.uniform_(p, -bound, bound)\n        if forget_bias",
         "        for name, p in list(self.named_parameters()):\n"
         "            setattr(self, name, nn.Parameter(torch.empty_like(p).uniform_(-bound, bound)))\n        if forget_bias"),
    ],
    # ---------------------------------------------------------------- GRUCell
    # d2l's and the paper's form: the reset gate applied to h before the hidden matmul.
    "gru_reset_gate_before_the_matmul": [
        ("n = torch.tanh(gi_n + r * gh_n)",
         "H = self.hidden_size\n"
         "        b_hn = self.bias_hh[2 * H:] if self.bias_hh is not None else 0.0\n"
         "        n = torch.tanh(gi_n + (r * h) @ self.weight_hh[2 * H:].T + b_hn)"),
    ],
    # The reset gate's bias b_hn added outside r * (...).
    "gru_hidden_bias_outside_the_reset_gate": [
        ("            gi, gh = gi + self.bias_ih, gh + self.bias_hh\n",
         "            gi, gh = gi + self.bias_ih + self.bias_hh, gh\n"),
    ],
    # Chung et al.'s convention, h' = (1 - z) h + z n, with PyTorch's weights.
    "gru_update_gate_swapped": [("return (1 - z) * n + z * h  # (B, H)", "return z * n + (1 - z) * h  # (B, H)")],
    # Keras' order (z, r, h).
    "gru_gate_order_keras": [
        ("gi_r, gi_z, gi_n = gi.chunk(3, dim=1)", "gi_z, gi_r, gi_n = gi.chunk(3, dim=1)"),
        ("gh_r, gh_z, gh_n = gh.chunk(3, dim=1)", "gh_z, gh_r, gh_n = gh.chunk(3, dim=1)"),
    ],
    "gru_cell_calls_torch_gru_cell": [
        ("        gi = x @ self.weight_ih.T  # (B, 3H)",
         "        return torch.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)\n"
         "        gi = x @ self.weight_ih.T  # (B, 3H)"),
    ],
    "gru_init_bound_from_input_size": [
        ("        bound = 1 / math.sqrt(hidden_size)\n", "        bound = 1 / math.sqrt(input_size)\n"),
    ],
    # ---------------------------------------------------------------- LSTM
    # Every layer built like the first: right only when input_size == hidden_size.
    "lstm_upper_layers_read_input_size": [
        ("LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias, forget_bias=forget_bias)",
         "LSTMCell(input_size, hidden_size, bias, forget_bias=forget_bias)"),
    ],
    # nn.LSTM's default layout (T, B, I) in the unpacking, x[:, t] in the loop: right only when B == T.
    "lstm_batch_and_time_swapped": [
        ("        B, T, _ = x.shape\n        if hx is None:", "        T, B, _ = x.shape\n        if hx is None:"),
    ],
    "lstm_every_layer_starts_from_layer_0s_state": [
        ("h, c = h_0[k], c_0[k]  # (B, H) each", "h, c = h_0[0], c_0[0]  # (B, H) each"),
    ],
    "lstm_ignores_hx": [
        ("        if hx is None:\n            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)  # (L, B, H)\n"
         "            hx = (zeros, zeros)",
         "        if True:\n            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)  # (L, B, H)\n"
         "            hx = (zeros, zeros)"),
    ],
    "lstm_returns_c_n_as_h_n": [
        ("return layer_input, (torch.stack(h_n), torch.stack(c_n))", "return layer_input, (torch.stack(c_n), torch.stack(h_n))"),
    ],
    # The first layer's outputs, not the last layer's.
    "lstm_output_of_the_first_layer": [
        ("        h_n, c_n = [], []\n        layer_input = x",
         "        h_n, c_n = [], []\n        first = None\n        layer_input = x"),
        ("            layer_input = torch.stack(outputs, dim=1)  # (B, T, H): the next layer's input\n",
         "            layer_input = torch.stack(outputs, dim=1)  # (B, T, H): the next layer's input\n"
         "            first = layer_input if first is None else first\n"),
        ("return layer_input, (torch.stack(h_n), torch.stack(c_n))", "return first, (torch.stack(h_n), torch.stack(c_n))"),
    ],
    "lstm_zero_state_on_cpu": [
        ("zeros = x.new_zeros(self.num_layers, B, self.hidden_size)  # (L, B, H)",
         "zeros = torch.zeros(self.num_layers, B, self.hidden_size)  # (L, B, H)"),
    ],
    "lstm_forget_bias_not_passed_on": [
        ("LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias, forget_bias=forget_bias)",
         "LSTMCell(input_size if k == 0 else hidden_size, hidden_size, bias)"),
    ],
    "lstm_layer_calls_torch_lstm_cell": [
        ("h, c = cell(layer_input[:, t], (h, c))",
         "h, c = torch.lstm_cell(layer_input[:, t], (h, c), cell.weight_ih, cell.weight_hh, cell.bias_ih, "
         "cell.bias_hh)"),
    ],
    # ---------------------------------------------------------------- GRU
    # Only the last layer's h: h_n of shape (1, B, H).
    "gru_h_n_of_the_last_layer_only": [
        ("return layer_input, torch.stack(h_n)  # (B, T, H), (L, B, H)", "return layer_input, h_n[-1][None]  # (B, T, H), (1, B, H)"),
    ],
    "gru_upper_layers_read_input_size": [
        ("GRUCell(input_size if k == 0 else hidden_size, hidden_size, bias) for k in range(num_layers)",
         "GRUCell(input_size, hidden_size, bias) for k in range(num_layers)"),
    ],
    "gru_ignores_bias_false": [
        ("GRUCell(input_size if k == 0 else hidden_size, hidden_size, bias) for k in range(num_layers)",
         "GRUCell(input_size if k == 0 else hidden_size, hidden_size) for k in range(num_layers)"),
    ],
    "gru_zero_state_float32_on_cpu": [
        ("h_0 = x.new_zeros(self.num_layers, B, self.hidden_size) if hx is None else hx",
         "h_0 = torch.zeros(self.num_layers, B, self.hidden_size) if hx is None else hx"),
    ],
    "gru_layer_calls_nn_gru": [
        ("        h_n = []\n        layer_input = x  # (B, T, I), then (B, T, H)",
         "        reference = nn.GRU(self.input_size, self.hidden_size, self.num_layers, bias=self.cells[0].bias_ih is not None,"
         " batch_first=True).to(x)\n"
         "        with torch.no_grad():\n"
         "            for k, cell in enumerate(self.cells):\n"
         "                for name in ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'):\n"
         "                    if getattr(cell, name) is not None:\n"
         "                        getattr(reference, f'{name}_l{k}').copy_(getattr(cell, name))\n"
         "        return reference(x, h_0)\n"
         "        h_n = []\n        layer_input = x  # (B, T, I), then (B, T, H)"),
    ],
}

# Correct implementations written differently from the reference: each must pass every test.
MUST_PASS = {
    # One matmul on the concatenation [x, h] with the weights side by side.
    "lstm_gates_from_one_matmul_on_x_and_h": [
        ("gates = x @ self.weight_ih.T + h @ self.weight_hh.T  # (B, 4H): all four gates at once",
         "gates = torch.cat([x, h], dim=1) @ torch.cat([self.weight_ih, self.weight_hh], dim=1).T  # (B, 4H)"),
    ],
    # Slices instead of chunk, einsum instead of matmul, torch.lerp for the GRU's mix.
    "gru_by_slices_einsum_and_lerp": [
        ("        gi = x @ self.weight_ih.T  # (B, 3H): the input's part of r, z, n\n"
         "        gh = h @ self.weight_hh.T  # (B, 3H): the state's part\n"
         "        if self.bias_ih is not None:\n"
         "            gi, gh = gi + self.bias_ih, gh + self.bias_hh\n"
         "        gi_r, gi_z, gi_n = gi.chunk(3, dim=1)  # each (B, H)\n"
         "        gh_r, gh_z, gh_n = gh.chunk(3, dim=1)  # each (B, H)\n",
         "        H = self.hidden_size\n"
         "        gi = torch.einsum('bi,gi->bg', x, self.weight_ih)  # (B, 3H)\n"
         "        gh = torch.einsum('bh,gh->bg', h, self.weight_hh)  # (B, 3H)\n"
         "        if self.bias_ih is not None:\n"
         "            gi, gh = gi + self.bias_ih, gh + self.bias_hh\n"
         "        gi_r, gi_z, gi_n = gi[:, :H], gi[:, H:2 * H], gi[:, 2 * H:]\n"
         "        gh_r, gh_z, gh_n = gh[:, :H], gh[:, H:2 * H], gh[:, 2 * H:]\n"),
        ("return (1 - z) * n + z * h  # (B, H)", "return torch.lerp(n, h, z)  # (B, H): n + z * (h - n)"),
    ],
    # Time outside, layers inside: each step climbs the whole stack.
    "lstm_time_outer_layers_inner": [
        ("        h_n, c_n = [], []\n"
         "        layer_input = x  # (B, T, I) for the first layer, (B, T, H) above it\n"
         "        for k, cell in enumerate(self.cells):\n"
         "            h, c = h_0[k], c_0[k]  # (B, H) each: layer k's own initial state\n"
         "            outputs = []\n"
         "            for t in range(T):  # dim 1 is time: batch-first\n"
         "                h, c = cell(layer_input[:, t], (h, c))\n"
         "                outputs.append(h)\n"
         "            layer_input = torch.stack(outputs, dim=1)  # (B, T, H): the next layer's input\n"
         "            h_n.append(h)\n"
         "            c_n.append(c)\n"
         "        return layer_input, (torch.stack(h_n), torch.stack(c_n))",
         "        hs, cs = list(h_0.unbind(0)), list(c_0.unbind(0))\n"
         "        outputs = []\n"
         "        for t in range(T):\n"
         "            inp = x[:, t]\n"
         "            for k, cell in enumerate(self.cells):\n"
         "                hs[k], cs[k] = cell(inp, (hs[k], cs[k]))\n"
         "                inp = hs[k]\n"
         "            outputs.append(inp)\n"
         "        return torch.stack(outputs, dim=1), (torch.stack(hs), torch.stack(cs))"),
    ],
    # The forget gate's slices written through narrow(): fill_ and zero_ on views of the biases. (Before the suite
    # checked each bias, the variant here split forget_bias evenly between them; the docstring gives it all to
    # bias_ih and 0 to bias_hh, so that split is now the mutant forget_bias_split_between_the_biases.)
    "forget_bias_by_narrow_fill_and_zero": [
        ("                self.bias_ih[H:2 * H] = forget_bias\n",
         "                self.bias_ih.narrow(0, H, H).fill_(forget_bias)\n"),
        ("                self.bias_hh[H:2 * H] = 0.0  # the two biases add up: keep the total at forget_bias\n",
         "                self.bias_hh.narrow(0, H, H).zero_()\n"),
    ],
}

PATTERNS = {
    "builtin": ["lstm_cell_calls_torch_lstm_cell", "gru_cell_calls_torch_gru_cell", "lstm_layer_calls_torch_lstm_cell",
                "gru_layer_calls_nn_gru"],
    "arguments": ["lstm_cell_ignores_bias_false", "gru_ignores_bias_false", "lstm_ignores_hx",
                  "lstm_every_layer_starts_from_layer_0s_state", "lstm_forget_bias_not_passed_on"],
    "returns": ["lstm_returns_c_n_as_h_n", "lstm_output_of_the_first_layer", "gru_h_n_of_the_last_layer_only"],
    "device": ["lstm_cell_zero_state_on_cpu", "lstm_zero_state_on_cpu", "gru_zero_state_float32_on_cpu"],
    "inputs": ["lstm_upper_layers_read_input_size", "lstm_batch_and_time_swapped", "gru_upper_layers_read_input_size"],
    "init": ["init_bound_from_input_size", "init_normal_not_uniform", "forget_bias_on_the_input_gate",
             "forget_bias_in_both_biases", "forget_bias_leaves_bias_hh_random", "forget_bias_zeroes_the_other_biases",
             "forget_bias_ignored", "gru_init_bound_from_input_size", "forget_bias_split_between_the_biases"],
    "falsy": ["forget_bias_zero_read_as_not_given"],
    "method_args": ["reset_parameters_reads_self_forget_bias", "reset_parameters_falls_back_to_self_forget_bias"],
    "in_place": ["reset_parameters_makes_new_parameters", "lstm_cell_updates_c_in_place"],
    "constants": ["forget_bias_defaults_to_one"],
}
NOT_APPLICABLE = {}

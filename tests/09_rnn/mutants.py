"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 09_rnn` proves
every one is caught, and that every MUST_PASS variant passes.
"""

_ZERO_STATE = "        h = x.new_zeros(x.shape[0], self.hidden_size) if hx is None else hx  # (B, H): x's device and dtype\n"
_LAYER_LOOP = "        h_n = []\n        for k, cell in enumerate(self.cells):\n"
_CLIP_START = "    if isinstance(parameters, Tensor):\n        parameters = [parameters]\n"

MUTANTS = {
    # ---- shortcuts through the built-ins the tasks re-implement (off limits)
    "cell_calls_torch_rnn_tanh_cell": [
        (_ZERO_STATE, _ZERO_STATE + "        return torch.rnn_tanh_cell(x, h, self.weight_ih, self.weight_hh, "
                                    "self.bias_ih, self.bias_hh)\n"),
    ],
    "layer_calls_torch_rnn_tanh": [
        (_LAYER_LOOP,
         "        if hx is None:\n"
         "            hx = x.new_zeros(self.num_layers, x.shape[0], self.hidden_size)\n"
         "        weights = [w for c in self.cells for w in (c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)]\n"
         "        output, h_n = torch.rnn_tanh(x, hx, weights, True, self.num_layers, 0.0, self.training, False,\n"
         "                                     True)\n"
         "        return output, h_n\n" + _LAYER_LOOP),
    ],
    "clip_calls_torch_clip_grad_norm_": [
        (_CLIP_START, "    return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type)\n" + _CLIP_START),
    ],
    # ---- the cell
    "nonlinearity_ignored": [
        ('return torch.tanh(z) if self.nonlinearity == "tanh" else torch.relu(z)  # (B, H)',
         "return torch.tanh(z)  # (B, H)"),
    ],
    "bias_flag_ignored": [("        if bias:\n            self.bias_ih", "        if True:\n            self.bias_ih")],
    "one_bias_only": [("z = z + self.bias_ih + self.bias_hh", "z = z + self.bias_ih")],
    "hidden_weight_not_transposed": [
        ("z = x @ self.weight_ih.T + h @ self.weight_hh.T", "z = x @ self.weight_ih.T + h @ self.weight_hh"),
    ],
    "zero_state_on_the_cpu": [
        ("h = x.new_zeros(x.shape[0], self.hidden_size)", "h = torch.zeros(x.shape[0], self.hidden_size)"),
    ],
    "init_by_input_size": [("k = 1 / math.sqrt(hidden_size)", "k = 1 / math.sqrt(input_size)")],
    "biases_start_at_zero": [
        ("self.bias_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))",
         "self.bias_ih = nn.Parameter(torch.zeros(hidden_size))"),
        ("self.bias_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))",
         "self.bias_hh = nn.Parameter(torch.zeros(hidden_size))"),
    ],
    # ---- the layer
    "num_layers_ignored": [("for k in range(num_layers)\n", "for k in range(1)\n")],
    "hx_ignored": [("h = None if hx is None else hx[k]", "h = None")],
    "every_layer_starts_from_hx_0": [("h = None if hx is None else hx[k]", "h = None if hx is None else hx[0]")],
    "state_not_carried": [
        ("                h = cell(x[:, t], h)  # (B, H): the same weights at every step\n"
         "                states.append(h)\n",
         "                states.append(cell(x[:, t], h))\n"),
        ("            h_n.append(h)\n", "            h_n.append(states[-1])\n"),
    ],
    "every_layer_reads_the_input": [
        ("x = torch.stack(states, dim=1)  # (B, T, H): this layer's states are the next layer's inputs",
         "output = torch.stack(states, dim=1)  # (B, T, H)"),
        ("return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)",
         "return output, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)"),
    ],
    # hx read as the buffer of h_n: the caller's initial states are written over with the final ones.
    "rnn_writes_h_n_into_hx": [
        (_LAYER_LOOP, "        h_n = hx if hx is not None else x.new_zeros(self.num_layers, x.shape[0], self.hidden_size)\n"
                      "        for k, cell in enumerate(self.cells):\n"),
        ("            h = None if hx is None else hx[k]  # (B, H): layer k's initial state\n", "            h = h_n[k]  # (B, H)\n"),
        ("            h_n.append(h)\n", "            h_n[k] = h\n"),
        ("return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)", "return x, h_n  # (B, T, H), (num_layers, B, H)"),
    ],
    # A stateful layer, as char-RNN tutorials keep self.hidden: hx=None continues from the last call's h_n.
    "rnn_keeps_the_last_state": [
        ("            h = None if hx is None else hx[k]  # (B, H): layer k's initial state\n",
         "            h = hx[k] if hx is not None else getattr(self, \"_h_n\", [None] * self.num_layers)[k]  # (B, H)\n"),
        ("        return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)\n",
         "        self._h_n = [h.detach() for h in h_n]  # kept for the next call\n"
         "        return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)\n"),
    ],
    "output_stacked_time_first": [
        ("x = torch.stack(states, dim=1)  # (B, T, H): this",
         "x = torch.stack(states, dim=0)  # (B, T, H): this"),
    ],
    "h_n_repeats_the_last_layer": [
        ("return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)",
         "return x, torch.stack([h] * len(h_n))  # (B, T, H), (num_layers, B, H)"),
    ],
    # ---- the gradient by lag
    "gradient_of_every_output": [
        ("(grad,) = torch.autograd.grad(output[:, -1].sum(), x)", "(grad,) = torch.autograd.grad(output.sum(), x)"),
    ],
    "gradient_norms_by_backward": [
        ("(grad,) = torch.autograd.grad(output[:, -1].sum(), x)  # (B, T, I)",
         "output[:, -1].sum().backward()\n    grad = x.grad  # (B, T, I)"),
    ],
    "gradient_norm_over_time_and_features": [
        ("torch.linalg.vector_norm(grad, dim=(0, 2))  # (T,)", "torch.linalg.vector_norm(grad, dim=(1, 2))  # (T,)"),
    ],
    # The norms written into a tensor made on the CPU (and in float32).
    "gradient_norms_on_the_cpu": [
        ("    return torch.linalg.vector_norm(grad, dim=(0, 2))  # (T,)\n",
         "    norms = torch.zeros(grad.shape[1])  # (T,)\n    for t in range(grad.shape[1]):\n"
         "        norms[t] = torch.linalg.vector_norm(grad[:, t])\n    return norms\n"),
    ],
    # ---- clipping
    "norm_type_ignored": [
        ("norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])",
         "norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])"),
        ("total = torch.linalg.vector_norm(norms, norm_type)  # ()", "total = torch.linalg.vector_norm(norms)  # ()"),
    ],
    "total_norm_after_clipping": [
        ("        g.mul_(scale)\n    return total\n", "        g.mul_(scale)\n    return total * scale\n"),
    ],
    "total_norm_from_python_floats": [
        ("norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])",
         "norms = torch.tensor([torch.linalg.vector_norm(g, norm_type).item() for g in grads])"),
    ],
    "clip_reads_the_parameters_twice": [
        ("    for g in grads:\n        g.mul_(scale)\n",
         "    for p in parameters:\n        if p.grad is not None:\n            p.grad.mul_(scale)\n"),
    ],
    # p.grad = p.grad * scale: PyTorch keeps the new tensor, but whoever held the old gradient sees no clipping.
    "clip_grad_norm_rebinds_the_gradient": [
        ("    grads = [p.grad for p in parameters if p.grad is not None]  # one pass: a generator cannot be read twice\n",
         "    parameters = [p for p in parameters if p.grad is not None]  # one pass: a generator cannot be read twice\n"
         "    grads = [p.grad for p in parameters]\n"),
        ("    for g in grads:\n        g.mul_(scale)\n", "    for p in parameters:\n        p.grad = p.grad * scale\n"),
    ],
    # The documented 1e-6 left out: max_norm / total, which differs where the norms are tiny.
    "clip_without_the_epsilon": [("scale = (max_norm / (total + 1e-6)).clamp(max=1.0)", "scale = (max_norm / total).clamp(max=1.0)")],
    "clip_scales_up_small_gradients": [("scale = (max_norm / (total + 1e-6)).clamp(max=1.0)",
                                        "scale = max_norm / (total + 1e-6)")],
    # ---- the tagger and the training step
    "tagger_num_layers_ignored": [("self.rnn = RNN(embed_dim, hidden_size, num_layers)",
                                   "self.rnn = RNN(embed_dim, hidden_size)")],
    "tagger_scores_the_final_state": [
        ("output, _ = self.rnn(self.embedding(x))  # (B, T, H): the state at t has read x_0..x_t only\n"
         "        return self.head(output)  # (B, T, C)",
         "output, h_n = self.rnn(self.embedding(x))  # (B, T, H): the state at t has read x_0..x_t only\n"
         "        return self.head(h_n[-1])[:, None].expand(-1, x.shape[1], -1)  # (B, T, C)"),
    ],
    "train_step_clips_at_one": [("clip_grad_norm_(model.parameters(), max_norm)  # after",
                                 "clip_grad_norm_(model.parameters(), 1.0)  # after")],
    # `if max_norm:` reads max_norm = 0.0 as None: no clipping at all.
    "train_step_max_norm_zero_read_as_none": [
        ("    if max_norm is not None:\n        clip_grad_norm_(model.parameters(), max_norm)  # after",
         "    if max_norm:\n        clip_grad_norm_(model.parameters(), max_norm)  # after"),
    ],
    "train_step_clips_after_the_step": [
        ("    if max_norm is not None:\n        clip_grad_norm_(model.parameters(), max_norm)  # after backward (the "
         "gradients exist), before step\n    optimizer.step()\n",
         "    optimizer.step()\n    if max_norm is not None:\n        clip_grad_norm_(model.parameters(), max_norm)\n"),
    ],
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    logits = model(ids)", "    logits = model(ids)")],
    "train_step_sums_the_loss": [("loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())",
                                  "loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction=\"sum\")")],
}

MUST_PASS = {
    # F.linear adds each bias with its own matrix product (and skips a None bias).
    "cell_with_f_linear": [
        ("        z = x @ self.weight_ih.T + h @ self.weight_hh.T  # (B, H)\n"
         "        if self.bias_ih is not None:\n"
         "            z = z + self.bias_ih + self.bias_hh  # two biases, as PyTorch (and cuDNN) keep them\n",
         "        z = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)\n"),
    ],
    # Parameters made first (in another order), drawn afterwards with nn.init, as nn.RNNCell's reset_parameters does.
    "init_with_nn_init": [
        ("        k = 1 / math.sqrt(hidden_size)\n"
         "        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-k, k))  # (H, I)\n"
         "        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-k, k))  # (H, H)\n"
         "        if bias:\n"
         "            self.bias_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))  # (H,)\n"
         "            self.bias_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-k, k))  # (H,)\n"
         "        else:\n"
         "            # Registered as None, as nn.RNNCell does: the attributes exist, the parameters do not.\n"
         "            self.register_parameter(\"bias_ih\", None)\n"
         "            self.register_parameter(\"bias_hh\", None)\n",
         "        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))\n"
         "        self.bias_hh = nn.Parameter(torch.empty(hidden_size)) if bias else None\n"
         "        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))\n"
         "        self.bias_ih = nn.Parameter(torch.empty(hidden_size)) if bias else None\n"
         "        for p in self.parameters():\n"
         "            nn.init.uniform_(p, -hidden_size ** -0.5, hidden_size ** -0.5)\n"),
    ],
    # Time outside, layers inside: every layer advances one step before the next step starts.
    "layer_loop_inside_the_time_loop": [
        ("        h_n = []\n"
         "        for k, cell in enumerate(self.cells):\n"
         "            h = None if hx is None else hx[k]  # (B, H): layer k's initial state\n"
         "            states = []\n"
         "            for t in range(x.shape[1]):\n"
         "                h = cell(x[:, t], h)  # (B, H): the same weights at every step\n"
         "                states.append(h)\n"
         "            x = torch.stack(states, dim=1)  # (B, T, H): this layer's states are the next layer's inputs\n"
         "            h_n.append(h)\n"
         "        return x, torch.stack(h_n)  # (B, T, H), (num_layers, B, H)\n",
         "        hs = [None if hx is None else hx[k] for k in range(self.num_layers)]\n"
         "        outputs = []\n"
         "        for t in range(x.shape[1]):\n"
         "            inp = x[:, t]\n"
         "            for k, cell in enumerate(self.cells):\n"
         "                hs[k] = cell(inp, hs[k])\n"
         "                inp = hs[k]\n"
         "            outputs.append(inp)\n"
         "        return torch.stack(outputs, 1), torch.stack(hs, 0)\n"),
    ],
    # One long vector, and an if instead of a clamp.
    "clip_by_concatenation": [
        ("    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])  # (number of tensors,)\n"
         "    total = torch.linalg.vector_norm(norms, norm_type)  # ()\n",
         "    total = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]), norm_type)\n"),
        ("    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)\n    for g in grads:\n        g.mul_(scale)\n",
         "    if total > max_norm:\n        for g in grads:\n            g.mul_(max_norm / (total + 1e-6))\n"),
    ],
    # The norm written out: squares summed over the features and the batch, then the root.
    "gradient_norms_by_hand_norm": [
        ("    return torch.linalg.vector_norm(grad, dim=(0, 2))  # (T,)\n",
         "    return grad.pow(2).sum(dim=2).sum(dim=0).sqrt()\n"),
    ],
}

PATTERNS = {
    "builtin": ["cell_calls_torch_rnn_tanh_cell", "layer_calls_torch_rnn_tanh", "clip_calls_torch_clip_grad_norm_"],
    "arguments": ["nonlinearity_ignored", "bias_flag_ignored", "num_layers_ignored", "hx_ignored", "norm_type_ignored",
                  "tagger_num_layers_ignored", "train_step_clips_at_one"],
    "returns": ["h_n_repeats_the_last_layer", "total_norm_after_clipping", "gradient_of_every_output",
                "gradient_norms_by_backward"],
    "device": ["zero_state_on_the_cpu", "total_norm_from_python_floats", "gradient_norms_on_the_cpu"],
    "inputs": ["clip_reads_the_parameters_twice", "clip_scales_up_small_gradients", "output_stacked_time_first"],
    "init": ["init_by_input_size", "biases_start_at_zero"],
    "falsy": ["train_step_max_norm_zero_read_as_none"],
    "method_args": ["rnn_keeps_the_last_state"],
    "in_place": ["clip_grad_norm_rebinds_the_gradient", "rnn_writes_h_n_into_hx"],
    "constants": ["clip_without_the_epsilon"],
}
NOT_APPLICABLE = {}

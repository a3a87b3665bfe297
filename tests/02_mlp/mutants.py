"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 02_mlp` proves
every one is caught.
"""

MUTANTS = {
    # Activations.
    "relu_by_maximum_half_gradient_at_zero": [
        ("return torch.where(x > 0, x, torch.zeros_like(x))", "return torch.maximum(x, torch.zeros_like(x))"),
    ],
    "sigmoid_naive_overflows": [
        ("e = torch.exp(torch.where(x >= 0, -x, x))  # (same shape as x), in (0, 1]\n"
         "    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))",
         "return 1 / (1 + torch.exp(-x))"),
    ],
    "sigmoid_abs_kills_gradient_at_zero": [
        ("e = torch.exp(torch.where(x >= 0, -x, x))", "e = torch.exp(-x.abs())"),
    ],
    "tanh_naive_quotient_overflows": [
        ("return 2 * sigmoid(2 * x) - 1", "return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))"),
    ],
    "relu_derivative_one_at_zero": [("return (z > 0).to(z.dtype)", "return (z >= 0).to(z.dtype)")],
    "tanh_derivative_of_the_input": [("return 1 - tanh(z) ** 2", "return 1 - z ** 2")],
    # The model.
    "mlp_never_applies_activation": [("x = act(layer(x))  # (N, hidden_size)", "x = layer(x)  # (N, hidden_size)")],
    "activation_on_the_logits": [
        ("return self.layers[-1](x)  # (N, out_features)", "return act(self.layers[-1](x))  # (N, out_features)"),
    ],
    "layers_in_a_plain_list": [
        ("self.layers = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:]))",
         "self.layers = [nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]"),
    ],
    # Losses.
    "cross_entropy_over_the_batch_dim": [
        ("m = logits.max(dim=1, keepdim=True).values.detach()", "m = logits.max(dim=0, keepdim=True).values.detach()"),
        ("torch.exp(logits - m).sum(dim=1, keepdim=True)", "torch.exp(logits - m).sum(dim=0, keepdim=True)"),
    ],
    "cross_entropy_without_max_shift": [
        ("m = logits.max(dim=1, keepdim=True).values.detach()  # (N, 1); a constant, so detach",
         "m = torch.zeros_like(logits[:, :1])"),
    ],
    "mse_summed_not_averaged": [("return ((pred - y) ** 2).mean()", "return ((pred - y) ** 2).sum()")],
    # Backprop by hand.
    "backprop_softmax_over_the_batch": [
        ("probs = torch.softmax(logits, dim=1)", "probs = torch.softmax(logits, dim=0)"),
    ],
    "backprop_missing_1_over_n": [("d_logits = (probs - one_hot) / N", "d_logits = probs - one_hot")],
    "backprop_missing_activation_derivative": [
        ("dZ = dA * activation_derivative(Z, activation)", "dZ = dA"),
    ],
    "backprop_weight_gradient_transposed": [("dW1 = dZ.T @ X", "dW1 = X.T @ dZ")],
    # Training.
    "forgot_zero_grad": [("        optimizer.zero_grad()  # gradients accumulate across backward() calls otherwise\n", "")],
    # builtin: the shortcut the lesson rules out.
    "relu_calls_torch_relu": [("return torch.where(x > 0, x, torch.zeros_like(x))", "return torch.relu(x)")],
    "cross_entropy_calls_log_softmax": [
        ("log_probs = logits - log_sum_exp  # (N, C)", "log_probs = torch.log_softmax(logits, dim=1)  # (N, C)"),
    ],
    "backprop_by_autograd": [
        ("    N = X.shape[0]\n    # Forward, keeping what the backward pass needs.\n",
         "    leaves = [t.detach().requires_grad_() for t in (W1, b1, W2, b2)]\n"
         "    with torch.enable_grad():\n"
         "        hidden = ACTIVATIONS[activation](X @ leaves[0].T + leaves[1])\n"
         "        loss = cross_entropy(hidden @ leaves[2].T + leaves[3], y)\n"
         "    return dict(zip((\"W1\", \"b1\", \"W2\", \"b2\"), torch.autograd.grad(loss, leaves)))\n"
         "    N = X.shape[0]\n"),
    ],
    # arguments: a Sequence argument called with a tuple; every value of `activation`.
    "hidden_sizes_concatenated_as_a_list": [
        ("sizes = [in_features, *hidden_sizes, out_features]", "sizes = [in_features] + hidden_sizes + [out_features]"),
    ],
    "activation_derivative_silent_on_unknown_names": [
        ("        return 1 - tanh(z) ** 2  # in terms of the output t = tanh(z): 1 - t², so apply tanh first\n"
         "    raise ValueError(f\"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}\")",
         "        return 1 - tanh(z) ** 2  # in terms of the output t = tanh(z): 1 - t², so apply tanh first\n"
         "    return torch.ones_like(z)"),
    ],
    # returns: the losses train() returns are recomputed.
    "train_records_the_loss_after_the_step": [
        ("        optimizer.step()\n        # END SOLUTION\n        losses.append(loss.item())",
         "        optimizer.step()\n        loss = loss_fn(model(X), y)  # the loss to report\n"
         "        # END SOLUTION\n        losses.append(loss.item())"),
    ],
    # device: device and dtype follow the inputs.
    "relu_zeros_made_on_the_cpu": [
        ("return torch.where(x > 0, x, torch.zeros_like(x))", "return torch.where(x > 0, x, torch.zeros(x.shape))"),
    ],
    "relu_derivative_in_float32": [("return (z > 0).to(z.dtype)", "return (z > 0).float()")],
    "backprop_one_hot_made_on_the_cpu": [
        ("one_hot = torch.zeros_like(probs).scatter_(1, y[:, None], 1.0)",
         "one_hot = torch.zeros(N, probs.shape[1]).scatter_(1, y[:, None], 1.0)"),
    ],
    # inputs: rows of very different scales; a label set without its last class.
    "cross_entropy_global_max_shift": [
        ("m = logits.max(dim=1, keepdim=True).values.detach()", "m = logits.max().detach()"),
    ],
    "backprop_one_hot_without_num_classes": [
        ("one_hot = torch.zeros_like(probs).scatter_(1, y[:, None], 1.0)",
         "one_hot = torch.nn.functional.one_hot(y).to(probs.dtype)"),
    ],
    # falsy: an empty hidden_sizes, an empty name and lr=0.0, each read as "not given".
    "hidden_sizes_empty_read_as_not_given": [
        ("sizes = [in_features, *hidden_sizes, out_features]", "sizes = [in_features, *(hidden_sizes or [32]), out_features]"),
    ],
    "activation_derivative_reads_an_empty_name_as_relu": [
        ("    if activation == \"relu\":\n        return (z > 0).to(z.dtype)",
         "    activation = activation or \"relu\"\n    if activation == \"relu\":\n        return (z > 0).to(z.dtype)"),
    ],
    "train_reads_lr_zero_as_not_given": [
        ("optimizer = torch.optim.Adam(model.parameters(), lr=lr)",
         "optimizer = torch.optim.Adam(model.parameters(), lr=lr or 0.01)"),
    ],
    # in_place: right values, but the caller's tensor is overwritten (no task promises to work in place).
    "relu_clamps_x_in_place": [
        ("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.clamp_(min=0)"),
    ],
    "relu_derivative_overwrites_z": [("return (z > 0).to(z.dtype)", "return z.gt_(0)  # 1.0 where z > 0, in z's dtype")],
    "cross_entropy_shifts_the_logits_in_place": [
        ("    log_sum_exp = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))  # (N, 1)\n"
         "    log_probs = logits - log_sum_exp  # (N, C)\n",
         "    logits = logits.sub_(m)  # the shift cancels in log softmax\n"
         "    log_probs = logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))  # (N, C)\n"),
    ],
    "mse_subtracts_y_in_place": [("return ((pred - y) ** 2).mean()", "return (pred.sub_(y) ** 2).mean()")],
    # constants: the documented mean, and the documented default activation="relu" of two_layer_backprop.
    "cross_entropy_summed_not_averaged": [
        ("return -log_probs.gather(1, y[:, None]).mean()", "return -log_probs.gather(1, y[:, None]).sum()"),
    ],
    "backprop_default_activation_not_relu": [
        ("                       activation: str = \"relu\") -> dict[str, Tensor]:",
         "                       activation: str = \"tanh\") -> dict[str, Tensor]:"),
    ],
}

# Which mutants prove each pattern of the suite author's checklist (docs/CHECKLIST.md).
PATTERNS = {
    "builtin": ["relu_calls_torch_relu", "cross_entropy_calls_log_softmax", "backprop_by_autograd"],
    "arguments": ["hidden_sizes_concatenated_as_a_list", "activation_derivative_silent_on_unknown_names"],
    "returns": ["train_records_the_loss_after_the_step"],
    "device": ["relu_zeros_made_on_the_cpu", "relu_derivative_in_float32", "backprop_one_hot_made_on_the_cpu"],
    "inputs": ["cross_entropy_global_max_shift", "backprop_one_hot_without_num_classes"],
    "falsy": ["hidden_sizes_empty_read_as_not_given", "activation_derivative_reads_an_empty_name_as_relu",
              "train_reads_lr_zero_as_not_given"],
    "in_place": ["relu_clamps_x_in_place", "relu_derivative_overwrites_z", "cross_entropy_shifts_the_logits_in_place",
                 "mse_subtracts_y_in_place"],
    "constants": ["cross_entropy_summed_not_averaged", "mse_summed_not_averaged", "relu_derivative_one_at_zero",
                  "backprop_default_activation_not_relu"],
}
NOT_APPLICABLE = {
    "init": "the MLP's layers are nn.Linear with PyTorch's default initialisation, which the lesson does not ask "
            "to change, and nothing has a training mode: no BatchNorm, no dropout",
    "method_args": "no method takes an argument that the object was built with: MLP's only method, forward(x), "
                   "takes the input alone (the sizes and the activation are fixed at construction), and every "
                   "other task is a plain function given all its settings at each call",
}

# Correct implementations written differently from the reference: each must pass every test.
MUST_PASS = {
    "masks_einsum_and_enumerate": [
        ("return torch.where(x > 0, x, torch.zeros_like(x))", "return x * (x > 0)"),
        ("return (z > 0).to(z.dtype)", "return torch.where(z > 0, torch.ones_like(z), torch.zeros_like(z))"),
        ("        for layer in self.layers[:-1]:\n            x = act(layer(x))  # (N, hidden_size)\n"
         "        # No activation on the output: a ReLU here would clip every negative logit to 0.\n"
         "        return self.layers[-1](x)  # (N, out_features)",
         "        for i, layer in enumerate(self.layers):\n            x = layer(x)\n"
         "            if i < len(self.layers) - 1:\n                x = act(x)\n        return x"),
        ("one_hot = torch.zeros_like(probs).scatter_(1, y[:, None], 1.0)",
         "one_hot = torch.nn.functional.one_hot(y, probs.shape[1]).to(probs.dtype)"),
        ("dW2 = d_logits.T @ A", "dW2 = torch.einsum(\"nc,nh->ch\", d_logits, A)"),
        ("dW1 = dZ.T @ X", "dW1 = torch.einsum(\"nh,nd->hd\", dZ, X)"),
    ],
    "clamp_exp_tanh_and_one_hot_loss": [
        ("return torch.where(x > 0, x, torch.zeros_like(x))", "return x.clamp(min=0)  # slope 0 at x = 0, as relu"),
        # tanh(x) = (1 - e) / (1 + e) with e = exp(-2|x|), the sign put back by where()
        ("return 2 * sigmoid(2 * x) - 1",
         "e = torch.exp(torch.where(x >= 0, -2 * x, 2 * x))\n    t = (1 - e) / (1 + e)\n"
         "    return torch.where(x >= 0, t, -t)"),
        ("return 1 - tanh(z) ** 2", "t = tanh(z)\n        return (1 - t) * (1 + t)"),
        ("    m = logits.max(dim=1, keepdim=True).values.detach()  # (N, 1); a constant, so detach\n"
         "    log_sum_exp = m + torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))  # (N, 1)\n"
         "    log_probs = logits - log_sum_exp  # (N, C)\n"
         "    return -log_probs.gather(1, y[:, None]).mean()  # pick log p(y_i) in row i",
         "    shifted = logits - logits.max(dim=1, keepdim=True).values\n"
         "    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))\n"
         "    one_hot = torch.nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype)\n"
         "    return -(one_hot * log_probs).sum() / len(y)"),
        ("return ((pred - y) ** 2).mean()", "return (pred - y).square().sum() / pred.numel()"),
    ],
}

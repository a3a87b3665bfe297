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
}

"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests` proves every one
is caught.
"""

MUTANTS = {
    "sigmoid_naive_overflows": [
        ("e = torch.exp(torch.where(z >= 0, -z, z))\n    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))",
         "return 1 / (1 + torch.exp(-z))"),
    ],
    "sigmoid_abs_kills_gradient_at_zero": [
        ("e = torch.exp(torch.where(z >= 0, -z, z))", "e = torch.exp(-z.abs())"),
    ],
    "softplus_by_clamp_and_abs": [
        ("softplus = torch.where(positive, logits, 0.0) + torch.log1p(torch.exp(torch.where(positive, -logits, logits)))",
         "softplus = logits.clamp(min=0) + torch.log1p(torch.exp(-logits.abs()))"),
    ],
    "bce_from_probabilities": [
        ("softplus = torch.where(positive, logits, 0.0) + torch.log1p(torch.exp(torch.where(positive, -logits, logits)))\n"
         "    return (softplus - y * logits).mean()",
         "p = sigmoid(logits)\n    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()"),
    ],
    "bce_summed_not_averaged": [("return (softplus - y * logits).mean()", "return (softplus - y * logits).sum()")],
    "gradient_missing_1_over_n": [("dw = X.T @ residual / X.shape[0]", "dw = X.T @ residual")],
    "gradient_wrong_sign": [("residual = sigmoid(X @ w + b) - y", "residual = y - sigmoid(X @ w + b)")],
    "forward_returns_probabilities": [
        ("return self.linear(x).squeeze(-1)", "return torch.sigmoid(self.linear(x)).squeeze(-1)"),
    ],
    "squeeze_eats_the_batch": [("return self.linear(x).squeeze(-1)", "return self.linear(x).squeeze()")],
    "predict_thresholds_logits_at_half": [("return (self(x) >= 0).long()", "return (self(x) >= 0.5).long()")],
    "forgot_zero_grad": [("        optimizer.zero_grad()  # gradients accumulate across backward() calls otherwise\n", "")],
    # builtin: the shortcut the lesson rules out, one per task with off-limits calls.
    "sigmoid_calls_torch_sigmoid": [
        ("e = torch.exp(torch.where(z >= 0, -z, z))\n    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))",
         "return torch.sigmoid(z)"),
    ],
    "bce_calls_torch": [
        ("return (softplus - y * logits).mean()",
         "return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)"),
    ],
    "bce_gradients_by_autograd": [
        ("residual = sigmoid(X @ w + b) - y  # (N,)\n    dw = X.T @ residual / X.shape[0]  # (D,)\n"
         "    db = residual.mean()  # ()\n    return dw, db",
         "w, b = w.detach().requires_grad_(), b.detach().requires_grad_()\n"
         "    with torch.enable_grad():\n"
         "        loss = bce_with_logits(X @ w + b, y)\n"
         "    return torch.autograd.grad(loss, (w, b))"),
    ],
    # arguments: each argument set to a non-default value and checked by its effect.
    "in_features_ignored": [("self.linear = nn.Linear(in_features, 1)", "self.linear = nn.Linear(2, 1)")],
    "bce_gradients_ignores_b": [("residual = sigmoid(X @ w + b) - y", "residual = sigmoid(X @ w) - y")],
    # returns: every documented return value recomputed.
    "train_records_the_loss_after_the_step": [
        ("        optimizer.step()\n        # END SOLUTION\n        losses.append(loss.item())",
         "        optimizer.step()\n        loss = bce_with_logits(model(X), y)  # the loss to report\n"
         "        # END SOLUTION\n        losses.append(loss.item())"),
    ],
    "predict_proba_of_class_0": [("return sigmoid(self(x))", "return 1 - sigmoid(self(x))")],
    # device: device and dtype follow the inputs.
    "softplus_zeros_made_on_the_cpu": [
        ("torch.where(positive, logits, 0.0)", "torch.where(positive, logits, torch.zeros(logits.shape))"),
    ],
    "sigmoid_computed_in_float64": [
        ("e = torch.exp(torch.where(z >= 0, -z, z))", "e = torch.exp(torch.where(z >= 0, -z, z).double())"),
    ],
    # falsy: lr=0.0 read as "not given" (the step is then taken at the default rate).
    "train_reads_lr_zero_as_not_given": [
        ("optimizer = torch.optim.SGD(model.parameters(), lr=lr)",
         "optimizer = torch.optim.SGD(model.parameters(), lr=lr or 0.5)"),
    ],
    # in_place: right values, but the caller's tensors are changed (no task promises to work in place).
    "sigmoid_fills_z_itself": [
        ("e = torch.exp(torch.where(z >= 0, -z, z))\n    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))",
         "out = z  # meant as a fresh tensor: torch.empty_like(z)\n    positive = z >= 0\n"
         "    out[positive] = 1 / (1 + torch.exp(-z[positive]))\n"
         "    e = torch.exp(z[~positive])\n    out[~positive] = e / (1 + e)\n    return out"),
    ],
    "bce_multiplies_y_in_place": [
        ("return (softplus - y * logits).mean()", "return (softplus - y.mul_(logits)).mean()"),
    ],
    "bce_gradients_divides_X_in_place": [
        ("dw = X.T @ residual / X.shape[0]", "dw = X.div_(X.shape[0]).T @ residual"),
    ],
    # constants: "at least 0.5" includes p = 0.5 exactly, where the logit is 0.
    "predict_strictly_above_half": [("return (self(x) >= 0).long()", "return (self(x) > 0).long()")],
}

# Which mutants prove each pattern of the suite author's checklist (docs/CHECKLIST.md).
PATTERNS = {
    "builtin": ["sigmoid_calls_torch_sigmoid", "bce_calls_torch", "bce_gradients_by_autograd"],
    "arguments": ["in_features_ignored", "bce_gradients_ignores_b"],
    "returns": ["train_records_the_loss_after_the_step", "predict_proba_of_class_0"],
    "device": ["softplus_zeros_made_on_the_cpu", "sigmoid_computed_in_float64"],
    "inputs": ["sigmoid_naive_overflows", "sigmoid_abs_kills_gradient_at_zero", "softplus_by_clamp_and_abs",
               "bce_from_probabilities", "squeeze_eats_the_batch"],
    "falsy": ["train_reads_lr_zero_as_not_given"],
    "in_place": ["sigmoid_fills_z_itself", "bce_multiplies_y_in_place", "bce_gradients_divides_X_in_place"],
    "constants": ["predict_strictly_above_half", "bce_summed_not_averaged"],
}
NOT_APPLICABLE = {
    "init": "the model is one nn.Linear with PyTorch's default initialisation, which the lesson does not ask to "
            "change (the loss is convex, so any start trains), and nothing has a training mode: no BatchNorm, "
            "no dropout",
    "method_args": "no method takes an argument that the object was built with: LogisticRegression is built with "
                   "in_features alone, and its methods (forward, predict_proba, predict) take only the input x; "
                   "every other task is a plain function given all its settings at each call",
}

# Correct implementations written differently from the reference: each must pass every test.
MUST_PASS = {
    "masks_einsum_and_probabilities": [
        # sigmoid by boolean masks, each half with the form that cannot overflow there
        ("e = torch.exp(torch.where(z >= 0, -z, z))\n    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))",
         "out = torch.empty_like(z)\n    positive = z >= 0\n    out[positive] = 1 / (1 + torch.exp(-z[positive]))\n"
         "    e = torch.exp(z[~positive])\n    out[~positive] = e / (1 + e)\n    return out"),
        ("dw = X.T @ residual / X.shape[0]", "dw = torch.einsum(\"nd,n->d\", X, residual) / len(y)"),
        ("return (self(x) >= 0).long()", "return (self.predict_proba(x) >= 0.5).to(torch.int64)"),
    ],
    "two_softplus_terms_tanh_and_steps_by_hand": [
        # σ(z) = (1 + tanh(z / 2)) / 2: tanh saturates at ±1 and never overflows
        ("e = torch.exp(torch.where(z >= 0, -z, z))\n    return torch.where(z >= 0, 1 / (1 + e), e / (1 + e))",
         "return 0.5 * (1 + torch.tanh(z / 2))"),
        # loss_i = y softplus(-z) + (1 - y) softplus(z)
        ("    positive = logits >= 0\n"
         "    softplus = torch.where(positive, logits, 0.0) + "
         "torch.log1p(torch.exp(torch.where(positive, -logits, logits)))\n"
         "    return (softplus - y * logits).mean()",
         "    def softplus(t: Tensor) -> Tensor:\n"
         "        nonnegative = t >= 0\n"
         "        return torch.where(nonnegative, t, 0.0) + torch.log1p(torch.exp(torch.where(nonnegative, -t, t)))\n\n"
         "    return (y * softplus(-logits) + (1 - y) * softplus(logits)).mean()"),
        # plain gradient descent written out, without optimizer.step()
        ("        optimizer.zero_grad()  # gradients accumulate across backward() calls otherwise\n"
         "        loss = bce_with_logits(model(X), y)\n        loss.backward()\n        optimizer.step()\n",
         "        loss = bce_with_logits(model(X), y)\n"
         "        grads = torch.autograd.grad(loss, list(model.parameters()))\n"
         "        with torch.no_grad():\n"
         "            for parameter, grad in zip(model.parameters(), grads):\n"
         "                parameter -= lr * grad\n"),
    ],
}

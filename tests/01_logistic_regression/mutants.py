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
}

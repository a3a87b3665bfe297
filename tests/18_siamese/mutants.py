"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 18_siamese` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # Two branches, two networks: the second input goes through a copy with its own weights.
    "second_branch_copies_the_encoder": [
        ("import argparse\nimport functools", "import argparse\nimport copy\nimport functools"),
        ("        self.encoder = encoder\n        # END SOLUTION",
         "        self.encoder = encoder\n        self.encoder2 = copy.deepcopy(encoder)\n        # END SOLUTION"),
        ("return self.embed(x1), self.embed(x2)  # (B, D) each",
         "z2 = self.encoder2(x2)\n        return self.embed(x1), F.normalize(z2, dim=1) if self.normalize else z2"),
    ],
    # The second branch sends no gradient: only half the pairs teach the encoder.
    "second_branch_without_gradient": [
        ("return self.embed(x1), self.embed(x2)  # (B, D) each", "return self.embed(x1), self.embed(x2).detach()"),
    ],
    "branches_swapped": [
        ("return self.embed(x1), self.embed(x2)  # (B, D) each", "return self.embed(x2), self.embed(x1)"),
    ],
    # Each feature normalised across the batch instead of each embedding.
    "normalize_over_the_batch": [("z = F.normalize(z, dim=1)  # (B, D)", "z = F.normalize(z, dim=0)  # (B, D)")],
    "normalize_ignored": [("        if self.normalize:\n            z = F.normalize",
                           "        if True:\n            z = F.normalize")],
    # The shortcut: PyTorch's own distance.
    "pairwise_distance_calls_f_pairwise_distance": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return F.pairwise_distance(x1, x2, p=p, eps=eps)"),
    ],
    "pairwise_distance_ignores_p": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return torch.linalg.vector_norm(x1 - x2 + eps, dim=-1)  # (B,)"),
    ],
    "pairwise_distance_without_eps": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return torch.linalg.vector_norm(x1 - x2, ord=p, dim=-1)  # (B,)"),
    ],
    # eps added to the distance, not to the difference: identical rows are eps apart, not eps * D ** (1 / p).
    "pairwise_distance_eps_on_the_distance": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return torch.linalg.vector_norm(x1 - x2, ord=p, dim=-1) + eps  # (B,)"),
    ],
    # eps=0.0 read as "not given".
    "pairwise_distance_eps_zero_read_as_default": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return torch.linalg.vector_norm(x1 - x2 + (eps or 1e-6), ord=p, dim=-1)  # (B,)"),
    ],
    "pairwise_distance_subtracts_in_place": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return torch.linalg.vector_norm(x1.sub_(x2).add_(eps), ord=p, dim=-1)  # (B,)"),
    ],
    "pairwise_distance_sums_the_wrong_dimension": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=1)  # (B,)"),
    ],
    # The other convention: y = 1 for a similar pair.
    "contrastive_label_convention_flipped": [
        ("pull = (1 - y) * distance.pow(2) / 2", "pull = y * distance.pow(2) / 2"),
        ("push = y * (margin - distance).clamp(min=0).pow(2) / 2",
         "push = (1 - y) * (margin - distance).clamp(min=0).pow(2) / 2"),
    ],
    "contrastive_without_the_half": [
        ("return (pull + push).mean()", "return 2 * (pull + push).mean()"),
    ],
    # The hinge on the squared distance: max(0, m - d^2).
    "contrastive_hinge_on_the_squared_distance": [
        ("push = y * (margin - distance).clamp(min=0).pow(2) / 2",
         "push = y * (margin - distance.pow(2)).clamp(min=0) / 2"),
    ],
    "contrastive_sums_over_pairs": [("return (pull + push).mean()", "return (pull + push).sum()")],
    "contrastive_margin_zero_read_as_default": [
        ("push = y * (margin - distance).clamp(min=0)", "push = y * ((margin or 1.0) - distance).clamp(min=0)"),
    ],
    "contrastive_margin_default_two": [
        ("def contrastive_loss(distance: Tensor, y: Tensor, *, margin: float = 1.0)",
         "def contrastive_loss(distance: Tensor, y: Tensor, *, margin: float = 2.0)"),
    ],
    # The shortcut: PyTorch's own triplet loss.
    "triplet_calls_f_triplet_margin_loss": [
        ("    d_positive = pairwise_distance(anchor, positive, p=p, eps=eps)  # (B,)\n",
         "    return F.triplet_margin_loss(anchor, positive, negative, margin=margin, p=p, eps=eps, swap=swap)\n"
         "    d_positive = pairwise_distance(anchor, positive, p=p, eps=eps)  # (B,)\n"),
    ],
    "triplet_ignores_swap": [("    if swap:\n        # The negative", "    if False:\n        # The negative")],
    # The swap takes the easier of the two distances.
    "triplet_swap_takes_the_max": [
        ("d_negative = torch.minimum(d_negative, pairwise_distance(positive, negative, p=p, eps=eps))",
         "d_negative = torch.maximum(d_negative, pairwise_distance(positive, negative, p=p, eps=eps))"),
    ],
    "triplet_ignores_p_and_eps": [
        ("    d_positive = pairwise_distance(anchor, positive, p=p, eps=eps)  # (B,)\n"
         "    d_negative = pairwise_distance(anchor, negative, p=p, eps=eps)  # (B,)",
         "    d_positive = pairwise_distance(anchor, positive)  # (B,)\n"
         "    d_negative = pairwise_distance(anchor, negative)  # (B,)"),
    ],
    # No hinge: triplets already margin apart still push.
    "triplet_without_the_hinge": [
        ("return (d_positive - d_negative + margin).clamp(min=0).mean()",
         "return (d_positive - d_negative + margin).mean()"),
    ],
    # The anchor counts as its own positive: an anchor alone in its class looks valid.
    "mining_anchor_is_its_own_positive": [("is_positive = same & ~itself  # (B, B)", "is_positive = same  # (B, B)")],
    "mining_nearest_positive": [
        ("positive = distances.masked_fill(~is_positive, float(\"-inf\")).argmax(1)",
         "positive = distances.masked_fill(~is_positive, float(\"inf\")).argmin(1)"),
    ],
    # Semi-hard without its fallback: no negative beyond the positive -> argmin of all +inf, index 0.
    "mining_semi_hard_without_fallback": [
        ("negative = torch.where(beyond.any(1), semi, farthest)  # (B,)", "negative = semi  # (B,)"),
    ],
    "mining_ignores_semi_hard": [("    if semi_hard:\n        d_positive", "    if False:\n        d_positive")],
    "mining_mask_on_the_cpu": [
        ("itself = torch.eye(B, dtype=torch.bool, device=embeddings.device)",
         "itself = torch.eye(B, dtype=torch.bool)"),
    ],
    # An anchor without negatives (a batch of one class) kept: its "negative" is of its own class.
    "mining_valid_needs_only_a_positive": [
        ("valid = is_positive.any(1) & is_negative.any(1)  # (B,)", "valid = is_positive.any(1)  # (B,)"),
    ],
    # Ties split: a threshold between equal distances, which no threshold can reach.
    "threshold_splits_ties": [("right = right.masked_fill(~last_of_ties, -1)", "right = right")],
    # A heuristic instead of the best threshold: halfway between the means of the two kinds of pairs.
    "threshold_between_the_means": [
        ("    d, order = distances.sort()  # (P,)\n",
         "    if same.any() and (~same).any():\n"
         "        return ((distances[same].mean() + distances[~same].mean()) / 2).item()\n"
         "    d, order = distances.sort()  # (P,)\n"),
    ],
    "threshold_never_below_every_distance": [
        ("    if (1 - s).sum() > right[best]:", "    if False:"),
    ],
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    z = model.embed(X)", "    z = model.embed(X)")],
    # Mining on embeddings with gradient is fine; building the loss from detached ones is not.
    "train_step_loss_on_detached_embeddings": [
        ("loss = triplet_loss(z[valid], z[positive[valid]], z[negative[valid]], margin=margin)",
         "zd = z.detach().requires_grad_(True)\n"
         "            loss = triplet_loss(zd[valid], zd[positive[valid]], zd[negative[valid]], margin=margin)"
         " + 0 * z.sum()"),
    ],
    "train_step_ignores_margin": [
        ("loss = triplet_loss(z[valid], z[positive[valid]], z[negative[valid]], margin=margin)",
         "loss = triplet_loss(z[valid], z[positive[valid]], z[negative[valid]])"),
        ("loss = contrastive_loss(pairwise_distance(z[i], z[j]), different, margin=margin)",
         "loss = contrastive_loss(pairwise_distance(z[i], z[j]), different)"),
    ],
    # Hadsell's Y the other way round in training: pairs of one class pushed apart.
    "train_step_contrastive_y_is_same": [
        ("different = (y[i] != y[j]).float()", "different = (y[i] == y[j]).float()"),
    ],
    # Batch-hard negatives in training: every embedding collapses to one point.
    "train_step_batch_hard": [
        ("positive, negative, valid = mine_triplets(z.detach(), y)",
         "positive, negative, valid = mine_triplets(z.detach(), y, semi_hard=False)"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # The p-norm written out (p is never infinite here).
    "pairwise_distance_by_hand": [
        ("return torch.linalg.vector_norm(x1 - x2 + eps, ord=p, dim=-1)  # (B,)",
         "return (x1 - x2 + eps).abs().pow(p).sum(-1).pow(1 / p)  # (B,)"),
    ],
    # torch.where and F.relu instead of weights and clamp.
    "contrastive_with_where": [
        ("    pull = (1 - y) * distance.pow(2) / 2  # (P,) similar pairs: any distance costs\n"
         "    push = y * (margin - distance).clamp(min=0).pow(2) / 2  # (P,) dissimilar pairs: only closer than the "
         "margin\n"
         "    return (pull + push).mean()",
         "    return 0.5 * torch.where(y > 0.5, F.relu(margin - distance) ** 2, distance**2).mean()"),
    ],
    # One encoder call on both inputs at once, split afterwards.
    "forward_one_call_on_the_concatenation": [
        ("return self.embed(x1), self.embed(x2)  # (B, D) each",
         "z = self.embed(torch.cat([x1, x2]))  # (2B, D)\n        return z[:len(x1)], z[len(x1):]"),
    ],
    # Mining by loops over the anchors.
    "mining_by_loops": [
        ("    B = len(labels)\n    distances = torch.cdist(embeddings, embeddings)  # (B, B)\n",
         "    B = len(labels)\n    distances = torch.cdist(embeddings, embeddings)  # (B, B)\n"
         "    positive = torch.zeros(B, dtype=torch.int64, device=embeddings.device)\n"
         "    negative = torch.zeros(B, dtype=torch.int64, device=embeddings.device)\n"
         "    valid = torch.zeros(B, dtype=torch.bool, device=embeddings.device)\n"
         "    for i in range(B):\n"
         "        pos = [j for j in range(B) if j != i and labels[j] == labels[i]]\n"
         "        neg = [j for j in range(B) if labels[j] != labels[i]]\n"
         "        if not pos or not neg:\n"
         "            continue\n"
         "        p = max(pos, key=lambda j: distances[i, j].item())\n"
         "        if semi_hard:\n"
         "            far = [j for j in neg if distances[i, j] > distances[i, p]]\n"
         "            n = (min(far, key=lambda j: distances[i, j].item()) if far\n"
         "                 else max(neg, key=lambda j: distances[i, j].item()))\n"
         "        else:\n"
         "            n = min(neg, key=lambda j: distances[i, j].item())\n"
         "        positive[i], negative[i], valid[i] = p, n, True\n"
         "    return positive, negative, valid\n"),
    ],
    # Every candidate threshold tried, one at a time.
    "threshold_by_trying_each": [
        ("    d, order = distances.sort()  # (P,)\n",
         "    candidates = [distances.min().item() - 1.0] + distances.unique().tolist()\n"
         "    return max(candidates, key=lambda t: ((distances <= t) == same).sum().item())\n"
         "    d, order = distances.sort()  # (P,)\n"),
    ],
}

PATTERNS = {
    "builtin": ["pairwise_distance_calls_f_pairwise_distance", "triplet_calls_f_triplet_margin_loss"],
    "arguments": ["pairwise_distance_ignores_p", "triplet_ignores_swap", "triplet_ignores_p_and_eps",
                  "mining_ignores_semi_hard", "normalize_ignored", "train_step_ignores_margin"],
    "returns": ["branches_swapped", "threshold_between_the_means", "mining_valid_needs_only_a_positive",
                "mining_nearest_positive", "contrastive_sums_over_pairs"],
    "device": ["mining_mask_on_the_cpu"],
    "inputs": ["normalize_over_the_batch", "threshold_splits_ties", "mining_anchor_is_its_own_positive",
               "mining_semi_hard_without_fallback", "threshold_never_below_every_distance"],
    "falsy": ["pairwise_distance_eps_zero_read_as_default", "contrastive_margin_zero_read_as_default"],
    "in_place": ["pairwise_distance_subtracts_in_place"],
    "constants": ["pairwise_distance_without_eps", "pairwise_distance_eps_on_the_distance",
                  "contrastive_without_the_half", "contrastive_margin_default_two"],
}
NOT_APPLICABLE: dict[str, str] = {
    "init": "no task initialises a parameter or keeps training-mode state: the Encoder is given (PyTorch's default "
            "initialisation, no BatchNorm), and SiameseNet adds no parameter of its own (the one-parameter-set test "
            "checks that it holds exactly the encoder's)",
    "method_args": "no method takes an argument its object was built with: SiameseNet.embed and forward take images "
                   "only, normalize is read from self, and no module keeps a state between calls",
}

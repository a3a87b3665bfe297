"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 16_sbert` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ---- mean_pool
    # The mean over every position: the padding enters the average.
    "mean_pool_averages_the_padding_too": [
        ("    return total / count  # (B, H)\n", "    return hidden.mean(dim=1)  # (B, H)\n"),
    ],
    # The real tokens summed, but divided by T.
    "mean_pool_divides_by_T": [
        ("    return total / count  # (B, H)\n", "    return total / hidden.shape[1]  # (B, H)\n"),
    ],
    # No clamp: a row without real tokens gives 0/0 = NaN.
    "mean_pool_empty_row_nan": [
        ("count = weights.sum(dim=1).clamp(min=1)", "count = weights.sum(dim=1)"),
    ],
    # "At least 1" made with a CPU tensor of ones.
    "mean_pool_count_on_the_cpu": [
        ("count = weights.sum(dim=1).clamp(min=1)",
         "count = torch.maximum(weights.sum(dim=1), torch.ones(hidden.shape[0], 1, dtype=hidden.dtype))"),
    ],
    # The padding zeroed in the caller's tensor.
    "mean_pool_zeroes_the_callers_padding": [
        ("total = (hidden * weights).sum(dim=1)", "total = hidden.mul_(weights).sum(dim=1)"),
    ],
    # ---- SentenceEncoder
    "encoder_called_without_the_mask": [
        ("hidden = self.encoder(ids, mask)  # (B, T, H)",
         "hidden = self.encoder(ids, torch.ones_like(mask))  # (B, T, H)"),
    ],
    # BERT's [CLS] vector instead of the mean (the paper's CLS strategy, not all-MiniLM-L6-v2's).
    "encoder_pools_the_cls_token": [
        ("x = mean_pool(hidden, mask)  # (B, H)", "x = hidden[:, 0]  # (B, H)"),
    ],
    "normalize_ignored": [
        ("        if self.normalize:\n            x = F.normalize(x, dim=-1)", "        pass"),
    ],
    "normalize_always": [
        ("        if self.normalize:\n            x = F.normalize(x, dim=-1)", "        x = F.normalize(x, dim=-1)"),
    ],
    # Each feature normalised over the batch instead of each sentence's vector.
    "normalize_over_the_batch": [
        ("x = F.normalize(x, dim=-1)  # (B, H), each row of length 1", "x = F.normalize(x, dim=0)  # (B, H)"),
    ],
    # ---- SBERT
    # Two towers: a copy of the encoder for every branch after the first.
    "sbert_copies_the_encoder_for_the_other_branches": [
        ("import argparse\nimport sys", "import argparse\nimport copy\nimport sys"),
        ("        super().__init__()\n        self.encoder = encoder\n\n    def forward(self, *branches",
         "        super().__init__()\n        self.encoder = encoder\n        self.other = copy.deepcopy(encoder)\n\n"
         "    def forward(self, *branches"),
        ("return tuple(self.encoder(ids, mask) for ids, mask in branches)",
         "return tuple((self.encoder if i == 0 else self.other)(ids, mask) for i, (ids, mask) in enumerate(branches))"),
    ],
    # Only the first branch trains the encoder: the others are embedded without their graph.
    "sbert_other_branches_detached": [
        ("return tuple(self.encoder(ids, mask) for ids, mask in branches)",
         "return tuple(self.encoder(ids, mask) if i == 0 else self.encoder(ids, mask).detach()\n"
         "                     for i, (ids, mask) in enumerate(branches))"),
    ],
    # Pairs only: a third branch (the triplet's negative) is dropped.
    "sbert_two_branches_only": [
        ("return tuple(self.encoder(ids, mask) for ids, mask in branches)",
         "return tuple(self.encoder(ids, mask) for ids, mask in branches[:2])"),
    ],
    # ---- SoftmaxHead
    "head_difference_without_abs": [("features = torch.cat([u, v, (u - v).abs()], dim=-1)",
                                     "features = torch.cat([u, v, u - v], dim=-1)")],
    "head_product_instead_of_difference": [("features = torch.cat([u, v, (u - v).abs()], dim=-1)",
                                            "features = torch.cat([u, v, u * v], dim=-1)")],
    "head_difference_first": [("features = torch.cat([u, v, (u - v).abs()], dim=-1)",
                               "features = torch.cat([(u - v).abs(), u, v], dim=-1)")],
    "head_ignores_num_labels": [("self.classifier = nn.Linear(3 * embed_dim, num_labels)",
                                 "self.classifier = nn.Linear(3 * embed_dim, 3)")],
    # ---- cosine_loss
    "cosine_loss_dot_product": [("cos = F.cosine_similarity(u, v, dim=-1)  # (B,)", "cos = (u * v).sum(-1)  # (B,)")],
    "cosine_loss_sums_the_batch": [("return ((cos - scores) ** 2).mean()", "return ((cos - scores) ** 2).sum()")],
    # The cosine distance 1 - cos compared with a similarity score.
    "cosine_loss_distance_against_similarity": [("return ((cos - scores) ** 2).mean()",
                                                 "return ((1 - cos - scores) ** 2).mean()")],
    # ---- triplet_loss
    "triplet_calls_triplet_margin_loss": [
        ("    d_positive = (anchor - positive).norm(dim=-1)  # (B,)\n",
         "    return F.triplet_margin_loss(anchor, positive, negative, margin=margin)\n"
         "    d_positive = (anchor - positive).norm(dim=-1)  # (B,)\n"),
    ],
    "triplet_squared_distances": [
        ("d_positive = (anchor - positive).norm(dim=-1)", "d_positive = (anchor - positive).pow(2).sum(dim=-1)"),
        ("d_negative = (anchor - negative).norm(dim=-1)", "d_negative = (anchor - negative).pow(2).sum(dim=-1)"),
    ],
    # margin=0.0 read as "not given".
    "triplet_margin_zero_read_as_not_given": [
        ("    d_positive = (anchor - positive).norm(dim=-1)  # (B,)\n",
         "    margin = margin or 1.0\n    d_positive = (anchor - positive).norm(dim=-1)  # (B,)\n"),
    ],
    "triplet_margin_ignored": [("return (d_positive - d_negative + margin).clamp(min=0).mean()",
                                "return (d_positive - d_negative + 1.0).clamp(min=0).mean()")],
    # No hinge: triplets already right by more than the margin still pull.
    "triplet_without_the_hinge": [("return (d_positive - d_negative + margin).clamp(min=0).mean()",
                                   "return (d_positive - d_negative + margin).mean()")],
    "triplet_sums_the_batch": [("return (d_positive - d_negative + margin).clamp(min=0).mean()",
                                "return (d_positive - d_negative + margin).clamp(min=0).sum()")],
    # ---- search
    "search_by_dot_product": [
        ("cos = F.normalize(query_vectors, dim=-1) @ F.normalize(corpus_vectors, dim=-1).T",
         "cos = query_vectors @ corpus_vectors.T"),
    ],
    # Only the corpus normalised: the same ranking, but the scores are not cosines.
    "search_queries_not_normalised": [
        ("cos = F.normalize(query_vectors, dim=-1) @ F.normalize(corpus_vectors, dim=-1).T",
         "cos = query_vectors @ F.normalize(corpus_vectors, dim=-1).T"),
    ],
    "search_smallest_first": [("scores, indices = cos.topk(k, dim=-1)",
                               "scores, indices = cos.topk(k, dim=-1, largest=False)")],
    "search_ignores_k": [("scores, indices = cos.topk(k, dim=-1)",
                          "scores, indices = cos.topk(min(5, cos.shape[1]), dim=-1)")],
    # ---- train_step
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    anchor, positive", "    anchor, positive")],
    "train_step_swaps_positive_and_negative": [
        ("loss = triplet_loss(anchor, positive, negative)\n    loss.backward()",
         "loss = triplet_loss(anchor, negative, positive)\n    loss.backward()"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # torch.where on the mask, and the count from the boolean mask.
    "mean_pool_where": [
        ("    weights = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1): 1 at real tokens, 0 at the padding\n"
         "    total = (hidden * weights).sum(dim=1)  # (B, H)\n"
         "    count = weights.sum(dim=1).clamp(min=1)  # (B, 1): an empty row divides 0 by 1, not by 0\n",
         "    total = torch.where(mask.unsqueeze(-1), hidden, 0.0).sum(dim=1)  # (B, H)\n"
         "    count = mask.sum(dim=1, keepdim=True).clamp(min=1).to(hidden.dtype)  # (B, 1)\n"),
    ],
    # All branches in one padded batch, one encoder call, split again (faster on a GPU).
    "sbert_one_batch": [
        ("        return tuple(self.encoder(ids, mask) for ids, mask in branches)  # ((B, H), ...)\n",
         "        T = max(ids.shape[1] for ids, _ in branches)\n"
         "        ids = torch.cat([F.pad(ids, (0, T - ids.shape[1])) for ids, _ in branches])  # (kB, T)\n"
         "        mask = torch.cat([F.pad(mask, (0, T - mask.shape[1])) for _, mask in branches])  # (kB, T)\n"
         "        return tuple(self.encoder(ids, mask).split(branches[0][0].shape[0]))\n"),
    ],
    # The cosine by hand, and the MSE from torch.
    "cosine_loss_by_hand_with_mse_loss": [
        ("    cos = F.cosine_similarity(u, v, dim=-1)  # (B,)\n    return ((cos - scores) ** 2).mean()",
         "    cos = (u * v).sum(-1) / (u.norm(dim=-1) * v.norm(dim=-1))  # (B,)\n    return F.mse_loss(cos, scores)"),
    ],
    # torch.linalg.vector_norm and F.relu.
    "triplet_vector_norm_relu": [
        ("    d_positive = (anchor - positive).norm(dim=-1)  # (B,)\n"
         "    d_negative = (anchor - negative).norm(dim=-1)  # (B,)\n"
         "    return (d_positive - d_negative + margin).clamp(min=0).mean()",
         "    d_positive = torch.linalg.vector_norm(anchor - positive, dim=-1)  # (B,)\n"
         "    d_negative = torch.linalg.vector_norm(anchor - negative, dim=-1)  # (B,)\n"
         "    return F.relu(d_positive - d_negative + margin).mean()"),
    ],
    # Every cosine sorted, the first k kept.
    "search_sort": [
        ("    scores, indices = cos.topk(k, dim=-1)  # (Q, k) each, largest first\n",
         "    scores, indices = cos.sort(dim=-1, descending=True)  # (Q, N) each\n"
         "    scores, indices = scores[:, :k], indices[:, :k]  # (Q, k) each\n"),
    ],
}

PATTERNS = {
    "builtin": ["triplet_calls_triplet_margin_loss"],
    "arguments": ["head_ignores_num_labels", "normalize_ignored", "triplet_margin_ignored", "search_ignores_k",
                  "sbert_two_branches_only", "encoder_called_without_the_mask"],
    "returns": ["cosine_loss_sums_the_batch", "triplet_sums_the_batch", "search_smallest_first",
                "search_queries_not_normalised", "head_difference_first"],
    "device": ["mean_pool_count_on_the_cpu"],
    "inputs": ["mean_pool_averages_the_padding_too", "mean_pool_divides_by_T", "cosine_loss_dot_product",
               "search_by_dot_product", "triplet_without_the_hinge", "triplet_squared_distances",
               "head_difference_without_abs"],
    "falsy": ["triplet_margin_zero_read_as_not_given", "normalize_always"],
    "in_place": ["mean_pool_zeroes_the_callers_padding"],
    "constants": ["mean_pool_empty_row_nan"],
}
NOT_APPLICABLE: dict[str, str] = {
    "init": "the learner initialises nothing: the encoder is kata.bert.Encoder (given), the head is one nn.Linear "
            "with PyTorch's own initialisation, and no task promises a value; the one structural promise (one "
            "parameter set for every branch) is tested as such (sbert_copies_the_encoder_for_the_other_branches)",
    "method_args": "no method takes an argument its object was built with: SentenceEncoder.forward takes ids and "
                   "mask (normalize is the constructor's alone), SBERT.forward the branches, SoftmaxHead.forward "
                   "u and v; no module keeps a state between calls",
}

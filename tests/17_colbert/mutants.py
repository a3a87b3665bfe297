"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 17_colbert` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ------------------------------------------------------------ ColBERTTokenizer
    # Queries padded like any batch: the augmentation is gone (and [PAD] is what the encoder skips).
    "queries_padded_with_pad": [
        ("rows.append(ids + [MASK_ID] * (self.query_len - len(ids)))",
         "rows.append(ids + [0] * (self.query_len - len(ids)))"),
    ],
    "queries_without_the_q_marker": [
        ("ids = [CLS_ID, self.q_id, *self.vocab.encode(text)][:self.query_len]",
         "ids = [CLS_ID, *self.vocab.encode(text)][:self.query_len]"),
    ],
    # The words cut to query_len, then the two markers added: long queries come out query_len + 2 long.
    "query_cut_before_the_markers": [
        ("ids = [CLS_ID, self.q_id, *self.vocab.encode(text)][:self.query_len]",
         "ids = [CLS_ID, self.q_id, *self.vocab.encode(text)[:self.query_len]]"),
    ],
    "query_len_ignored": [
        ("ids = [CLS_ID, self.q_id, *self.vocab.encode(text)][:self.query_len]",
         "ids = [CLS_ID, self.q_id, *self.vocab.encode(text)][:16]"),
        ("rows.append(ids + [MASK_ID] * (self.query_len - len(ids)))",
         "rows.append(ids + [MASK_ID] * (16 - len(ids)))"),
    ],
    # A long document cut after its [SEP] was added: the [SEP] is cut off.
    "document_cut_drops_the_sep": [
        ("rows = [[CLS_ID, self.d_id, *self.vocab.encode(text)[:self.doc_len - 3], SEP_ID] for text in texts]",
         "rows = [[CLS_ID, self.d_id, *self.vocab.encode(text), SEP_ID][:self.doc_len] for text in texts]"),
    ],
    "documents_marked_as_queries": [
        ("rows = [[CLS_ID, self.d_id, *self.vocab.encode(text)[:self.doc_len - 3], SEP_ID] for text in texts]",
         "rows = [[CLS_ID, self.q_id, *self.vocab.encode(text)[:self.doc_len - 3], SEP_ID] for text in texts]"),
    ],
    "doc_len_ignored": [
        ("rows = [[CLS_ID, self.d_id, *self.vocab.encode(text)[:self.doc_len - 3], SEP_ID] for text in texts]",
         "rows = [[CLS_ID, self.d_id, *self.vocab.encode(text), SEP_ID] for text in texts]"),
    ],
    # ------------------------------------------------------------ ColBERT
    "linear_with_a_bias": [
        ("self.linear = nn.Linear(config.hidden, dim, bias=False)", "self.linear = nn.Linear(config.hidden, dim)"),
    ],
    "dim_ignored": [
        ("self.linear = nn.Linear(config.hidden, dim, bias=False)",
         "self.linear = nn.Linear(config.hidden, 32, bias=False)"),
    ],
    # Each feature normalised over the tokens instead of each token's vector.
    "normalised_over_the_tokens": [
        ("return F.normalize(self.linear(x), dim=-1)  # (B, T, dim)",
         "return F.normalize(self.linear(x), dim=1)  # (B, T, dim)"),
    ],
    "vectors_not_normalised": [
        ("return F.normalize(self.linear(x), dim=-1)  # (B, T, dim)", "return self.linear(x)  # (B, T, dim)"),
    ],
    # The encoder reads the padding.
    "embed_ignores_the_mask": [
        ("x = self.encoder(ids, mask)  # (B, T, H)", "x = self.encoder(ids, torch.ones_like(mask))  # (B, T, H)"),
    ],
    # ColBERT's first code: the [MASK]s hidden from attention (the paper reads them).
    "query_masks_not_attended_to": [
        ("mask = torch.ones_like(ids, dtype=torch.bool)  # (B, Lq): the [MASK]s are attended to",
         "mask = ids != MASK_ID  # (B, Lq)"),
    ],
    "query_mask_on_the_cpu": [
        ("mask = torch.ones_like(ids, dtype=torch.bool)  # (B, Lq): the [MASK]s are attended to",
         "mask = torch.ones(ids.shape, dtype=torch.bool)  # (B, Lq)"),
    ],
    # The encoder given d_mask: punctuation is never read, where it should only leave MaxSim.
    "encoder_skips_the_punctuation": [
        ("        D = self.embed(ids, mask)  # (N, T, dim)\n"
         "        d_mask = mask & ~torch.isin(ids, self.skiplist)  # (N, T): padding and punctuation are out\n",
         "        d_mask = mask & ~torch.isin(ids, self.skiplist)  # (N, T)\n"
         "        D = self.embed(ids, d_mask)  # (N, T, dim)\n"),
    ],
    "punctuation_not_masked": [
        ("d_mask = mask & ~torch.isin(ids, self.skiplist)  # (N, T): padding and punctuation are out",
         "d_mask = mask  # (N, T)"),
    ],
    # Only the first id of the skiplist skipped.
    "skiplist_first_id_only": [
        ("d_mask = mask & ~torch.isin(ids, self.skiplist)  # (N, T): padding and punctuation are out",
         "d_mask = mask & (ids != self.skiplist[0])  # (N, T)"),
    ],
    # The caller's mask edited in place: it loses its punctuation too.
    "document_mask_edited_in_place": [
        ("d_mask = mask & ~torch.isin(ids, self.skiplist)  # (N, T): padding and punctuation are out",
         "d_mask = mask\n        d_mask &= ~torch.isin(ids, self.skiplist)  # (N, T)"),
    ],
    # ------------------------------------------------------------ maxsim
    # Masking by multiplication: a padded vector's dot becomes 0, which beats every negative dot.
    "maxsim_masks_by_multiplying": [
        ("sim = sim.masked_fill(~d_mask[None, :, None, :], float(\"-inf\"))  # (B, N, Lq, T)",
         "sim = sim * d_mask[None, :, None, :]  # (B, N, Lq, T)"),
    ],
    "maxsim_ignores_d_mask": [
        ("sim = sim.masked_fill(~d_mask[None, :, None, :], float(\"-inf\"))  # (B, N, Lq, T)",
         "sim = sim  # (B, N, Lq, T)"),
    ],
    "maxsim_mean_over_the_query": [("return best.sum(dim=-1)  # (B, N)", "return best.mean(dim=-1)  # (B, N)")],
    # A sum over the document's tokens where the max belongs.
    "maxsim_sums_over_the_document": [
        ("best = sim.max(dim=-1).values  # (B, N, Lq)",
         "best = sim.masked_fill(sim == float(\"-inf\"), 0.0).sum(dim=-1)  # (B, N, Lq)"),
    ],
    "maxsim_squeezes_a_batch_of_one": [
        ("return best.sum(dim=-1)  # (B, N)", "return best.sum(dim=-1).squeeze()  # (B, N)"),
    ],
    "maxsim_ignores_q_mask": [
        ("    if q_mask is not None:\n        best = torch.where", "    if False:\n        best = torch.where"),
    ],
    # ------------------------------------------------------------ in_batch_loss
    "loss_targets_all_zero": [
        ("targets = torch.arange(scores.shape[0], device=scores.device)",
         "targets = torch.zeros(scores.shape[0], dtype=torch.int64, device=scores.device)"),
    ],
    "loss_targets_on_the_cpu": [
        ("targets = torch.arange(scores.shape[0], device=scores.device)", "targets = torch.arange(scores.shape[0])"),
    ],
    "loss_summed_over_the_queries": [
        ("return F.cross_entropy(scores, targets)", "return F.cross_entropy(scores, targets, reduction=\"sum\")"),
    ],
    # ------------------------------------------------------------ train_step
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    Q = model", "    Q = model")],
    # The padding mask where MaxSim needs d_mask: punctuation wins maxes in training.
    "train_step_scores_with_the_padding_mask": [
        ("loss = in_batch_loss(maxsim(Q, D, d_mask))", "loss = in_batch_loss(maxsim(Q, D, mask))"),
    ],
    # ------------------------------------------------------------ Index
    "index_built_in_train_mode": [
        ("        model.eval()  # dropout off: a document's vectors must not depend on when it was indexed\n", ""),
    ],
    "index_leaves_the_model_in_eval_mode": [
        ("                     for i in range(0, len(ids), batch_size)]\n        model.train(was_training)\n",
         "                     for i in range(0, len(ids), batch_size)]\n"),
    ],
    "index_ignores_batch_size": [
        ("parts = [model.encode_document(ids[i:i + batch_size], mask[i:i + batch_size])\n"
         "                     for i in range(0, len(ids), batch_size)]",
         "parts = [model.encode_document(ids, mask)]"),
    ],
    # Every search encodes every document again: what the index is there to avoid.
    "search_encodes_the_documents_again": [
        ("        self.model = model\n", "        self.model = model\n        self.ids, self.mask = ids, mask\n"),
        ("scores = maxsim(self.model.encode_query(q_ids), self.D, self.d_mask)  # (B, N)",
         "scores = maxsim(self.model.encode_query(q_ids), *self.model.encode_document(self.ids, self.mask))"),
    ],
    "search_ignores_k": [
        ("best = scores.topk(min(k, scores.shape[1]), dim=1)", "best = scores.topk(min(10, scores.shape[1]), dim=1)"),
    ],
    "search_in_train_mode": [
        ("        was_training = self.model.training\n        self.model.eval()\n",
         "        was_training = self.model.training\n"),
    ],
    # ------------------------------------------------------------ metrics
    "mrr_ranks_from_zero": [
        ("ranks = torch.arange(1, hits.shape[1] + 1, device=ranking.device)",
         "ranks = torch.arange(hits.shape[1], device=ranking.device) + 1e-9"),
    ],
    "mrr_ignores_k": [
        ("hits = ranking[:, :k] == relevant[:, None]  # (B, k): at most one True per row",
         "hits = ranking == relevant[:, None]  # (B, K)"),
    ],
    "mrr_default_k_of_five": [
        ("def mrr_at_k(ranking: Tensor, relevant: Tensor, k: int = 10)",
         "def mrr_at_k(ranking: Tensor, relevant: Tensor, k: int = 5)"),
    ],
    "recall_ignores_k": [
        ("return (ranking[:, :k] == relevant[:, None]).any(dim=1).float().mean().item()",
         "return (ranking == relevant[:, None]).any(dim=1).float().mean().item()"),
    ],
    "recall_off_by_one": [
        ("return (ranking[:, :k] == relevant[:, None]).any(dim=1).float().mean().item()",
         "return (ranking[:, :k - 1] == relevant[:, None]).any(dim=1).float().mean().item()"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # A matmul for the dots, the dtype's lowest value for the mask, the q_mask as a product.
    "maxsim_matmul_finfo_min": [
        ("sim = torch.einsum(\"bid,ntd->bnit\", Q, D)", "sim = Q[:, None] @ D[None].transpose(-1, -2)"),
        ("sim = sim.masked_fill(~d_mask[None, :, None, :], float(\"-inf\"))",
         "sim = sim.masked_fill(~d_mask[None, :, None, :], torch.finfo(sim.dtype).min)"),
        ("best = torch.where(q_mask[:, None, :], best, 0.0)  # (B, N, Lq)", "best = best * q_mask[:, None, :]"),
    ],
    # The log-softmax's diagonal: the positive of query b is column b.
    "in_batch_loss_log_softmax_diagonal": [
        ("return F.cross_entropy(scores, targets)", "return -scores.log_softmax(dim=1)[targets, targets].mean()"),
    ],
    # A copy of the mask, then written in place: the caller's mask is untouched.
    "document_mask_clone_then_write": [
        ("d_mask = mask & ~torch.isin(ids, self.skiplist)  # (N, T): padding and punctuation are out",
         "d_mask = mask.clone()\n        d_mask[torch.isin(ids, self.skiplist)] = False  # (N, T)"),
    ],
}

PATTERNS = {
    "arguments": ["query_len_ignored", "doc_len_ignored", "dim_ignored", "maxsim_ignores_q_mask", "search_ignores_k",
                  "index_ignores_batch_size", "mrr_ignores_k", "recall_ignores_k", "skiplist_first_id_only"],
    "returns": ["maxsim_mean_over_the_query", "maxsim_sums_over_the_document", "loss_summed_over_the_queries",
                "loss_targets_all_zero", "mrr_ranks_from_zero", "recall_off_by_one", "train_step_forgets_zero_grad"],
    "device": ["query_mask_on_the_cpu", "loss_targets_on_the_cpu"],
    "inputs": ["maxsim_masks_by_multiplying", "maxsim_squeezes_a_batch_of_one", "document_cut_drops_the_sep",
               "query_cut_before_the_markers"],
    "init": ["index_built_in_train_mode", "index_leaves_the_model_in_eval_mode", "search_in_train_mode",
             "linear_with_a_bias"],
    "in_place": ["document_mask_edited_in_place"],
    "constants": ["mrr_default_k_of_five", "queries_padded_with_pad"],
}
NOT_APPLICABLE: dict[str, str] = {
    "builtin": "no task re-implements a built-in: the encoder is kata.bert.Encoder by design (topic 15 writes BERT), "
               "and F.normalize, F.cross_entropy and torch.topk are the pieces ColBERT is made of, not what it "
               "teaches; the lesson is the markers, the augmentation, the masks, MaxSim and the index",
    "falsy": "no argument is read for truth: skiplist=() is turned into a tensor by given code (and tested: an empty "
             "skiplist keeps every real token), q_mask is a tensor or None (bool() of a tensor raises), and "
             "query_len, doc_len, dim, k and batch_size are sizes whose 0 is meaningless",
    "method_args": "no method takes an argument its object was built with: the tokenizer's lengths are its own, "
                   "search(q_ids, k) takes k alone and Index keeps no state but the documents' vectors",
}

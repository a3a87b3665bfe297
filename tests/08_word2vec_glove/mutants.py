"""Plausible learner bugs that the suite must reject, and correct variants it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 08_word2vec_glove`
proves every one is caught, and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ---- skipgram_pairs
    # The right half of the window one short: offsets -c .. c - 1.
    "pairs_window_one_short_on_the_right": [
        ("offsets = torch.tensor([d for d in range(-window, window + 1) if d != 0])",
         "offsets = torch.tensor([d for d in range(-window, window) if d != 0])"),
    ],
    # The word paired with itself: offset 0 kept, (w, w) for every position.
    "pairs_include_the_centre": [
        ("offsets = torch.tensor([d for d in range(-window, window + 1) if d != 0])",
         "offsets = torch.tensor([d for d in range(-window, window + 1)])"),
    ],
    # Comparing words instead of positions: "the cat the" loses its (the, the) pairs.
    "pairs_skip_a_repeated_word": [
        ("inside &= which[j] == which.unsqueeze(1)", "inside &= (which[j] == which.unsqueeze(1)) & (ids[j] != ids.unsqueeze(1))"),
    ],
    # Pairs by distance d = 1..window, with tensor slices: the right pairs, grouped by distance instead of centre by
    # centre with contexts left to right, the order the docstring promises.
    "pairs_grouped_by_distance": [
        ("    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row",
         "    pairs = [torch.zeros(0, 2, dtype=torch.int64)]\n    for sentence in sentences:\n"
         "        s = torch.tensor(list(sentence), dtype=torch.int64)\n        for d in range(1, window + 1):\n"
         "            if d < len(s):\n                pairs.append(torch.stack([s[:-d], s[d:]], 1))\n"
         "                pairs.append(torch.stack([s[d:], s[:-d]], 1))\n"
         "    return torch.cat(pairs)\n"
         "    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row"),
    ],
    # torch.tensor([]) is float32: with no word at all the pairs come back float, not int64.
    "pairs_ids_without_dtype": [
        ("ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row",
         "ids = torch.tensor([w for sentence in sentences for w in sentence])  # (N,) the corpus in a row"),
    ],
    # The corpus read as one long stream: the window crosses sentence boundaries.
    "pairs_across_sentences": [
        ("    inside &= which[j] == which.unsqueeze(1)\n", ""),
    ],
    # ---- cbow_examples
    "cbow_context_one_short_on_the_right": [
        ("sentence[i + 1:i + 1 + window]", "sentence[i + 1:i + window]"),
    ],
    # Every slot marked real: the padding enters the mean.
    "cbow_mask_all_true": [
        ("mask = torch.arange(2 * window) < lengths[:, None]", "mask = torch.ones(len(contexts), 2 * window, dtype=torch.bool)"),
    ],
    # A one-word sentence still makes an example, with nothing to predict it from.
    "cbow_keeps_words_without_context": [("            if context:  # a word alone", "            if True:  # a word alone")],
    # ---- keep_probability
    "keep_is_the_discard_probability": [
        ("return torch.sqrt(t / frequency).clamp(max=1.0)  # (V,)", "return (1 - torch.sqrt(t / frequency)).clamp(min=0.0)  # (V,)"),
    ],
    # word2vec.c's formula where the lesson asks for the paper's.
    "keep_is_word2vec_c_formula": [
        ("return torch.sqrt(t / frequency).clamp(max=1.0)  # (V,)", "return (torch.sqrt(t / frequency) + t / frequency).clamp(max=1.0)  # (V,)"),
    ],
    "keep_ignores_t": [("return torch.sqrt(t / frequency).clamp(max=1.0)  # (V,)", "return torch.sqrt(1e-3 / frequency).clamp(max=1.0)  # (V,)")],
    # frequency by an in-place division: float64 counts are the caller's own tensor (.to() returns it), now divided.
    "keep_divides_the_counts_in_place": [
        ("frequency = counts / counts.sum()  # (V,)", "frequency = counts.div_(counts.sum())  # (V,)"),
    ],
    "keep_always_float32": [
        ("    if not counts.is_floating_point():\n        counts = counts.to(torch.get_default_dtype())\n    frequency",
         "    counts = counts.float()\n    frequency"),
    ],
    # ---- subsample
    "subsample_ignores_the_generator": [
        ("torch.rand(len(ids), generator=generator, dtype=torch.float64)", "torch.rand(len(ids), dtype=torch.float64)"),
    ],
    # generator None read as "make one": a fresh torch.Generator() always has the same seed, not torch's global stream.
    "subsample_none_makes_a_fresh_generator": [
        ("torch.rand(len(ids), generator=generator, dtype=torch.float64)",
         "torch.rand(len(ids), generator=generator or torch.Generator(), dtype=torch.float64)"),
    ],
    "subsample_keeps_the_dropped": [("dtype=torch.float64) < keep[ids]  # (N,)", "dtype=torch.float64) >= keep[ids]  # (N,)")],
    # One coin per vocabulary word: all occurrences of a word stay or go together.
    "subsample_one_draw_per_word_type": [
        ("kept = torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]  # (N,)",
         "kept = (torch.rand(len(keep), generator=generator, dtype=torch.float64) < keep)[ids]  # (N,)"),
    ],
    # ---- noise_distribution
    "noise_ignores_power": [("counts**power, torch.zeros_like(counts))", "counts**0.75, torch.zeros_like(counts))")],
    # power 0 read as "not given": `power or 0.75`.
    "noise_power_zero_read_as_default": [("counts**power, torch.zeros_like(counts))", "counts**(power or 0.75), torch.zeros_like(counts))")],
    # The power taken in place: float counts are the caller's tensor (the mask counts > 0 is read before it changes).
    "noise_raises_the_counts_in_place": [("counts**power, torch.zeros_like(counts))", "counts.pow_(power), torch.zeros_like(counts))")],
    # 0 ** 0 = 1: with power 0 the special tokens become noise words.
    "noise_unseen_words_drawn_at_power_0": [
        ("weights = torch.where(counts > 0, counts**power, torch.zeros_like(counts))  # (V,)", "weights = counts**power  # (V,)"),
    ],
    "noise_always_float32": [
        ("    if not counts.is_floating_point():\n        counts = counts.to(torch.get_default_dtype())\n    # The power",
         "    counts = counts.float()\n    # The power"),
    ],
    # ---- sample_negatives
    "negatives_ignore_the_generator": [
        ("torch.randint(len(table), (math.prod(shape),), generator=generator)",
         "torch.randint(len(table), (math.prod(shape),))"),
    ],
    "negatives_none_makes_a_fresh_generator": [
        ("torch.randint(len(table), (math.prod(shape),), generator=generator)",
         "torch.randint(len(table), (math.prod(shape),), generator=generator or torch.Generator())"),
    ],
    # reshape(*shape) is reshape() for the empty shape (): one id as a 0-d tensor fails.
    "negatives_empty_shape_unpacked": [
        ("return table.index_select(0, draws).reshape(shape).to(noise.device)",
         "return table.index_select(0, draws).reshape(*shape).to(noise.device)"),
    ],
    # Every word equally likely: one slot per word, the noise distribution not used.
    "negatives_uniform": [
        ("table = torch.repeat_interleave(torch.arange(len(noise)), slots)", "table = torch.arange(len(noise))"),
    ],
    # A table of ten slots per word: a word of probability under 1 / (20 V) gets none and is never drawn.
    "negatives_table_too_small": [
        ("slots = (noise.detach().cpu().double() * UNIGRAM_TABLE_SIZE).round().long()",
         "slots = (noise.detach().cpu().double() * 10 * len(noise)).round().long()"),
    ],
    # ---- sgns_loss
    "sgns_log_of_sigmoid": [
        ("return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()",
         "return (-torch.log(torch.sigmoid(pos)) - torch.log(torch.sigmoid(-neg)).sum(-1)).mean()"),
    ],
    # The noise words pulled toward the centre like the true context.
    "sgns_negatives_not_negated": [("F.logsigmoid(-neg).sum(-1)).mean()", "F.logsigmoid(neg).sum(-1)).mean()")],
    "sgns_negatives_averaged": [("F.logsigmoid(-neg).sum(-1)).mean()", "F.logsigmoid(-neg).mean(-1)).mean()")],
    "sgns_summed_over_the_batch": [("F.logsigmoid(-neg).sum(-1)).mean()", "F.logsigmoid(-neg).sum(-1)).sum()")],
    # squeeze() with K = 1 leaves (B,), and the sum over k then sums the batch.
    "sgns_squeeze_eats_k": [
        ("neg = (u_neg * v.unsqueeze(1)).sum(-1)  # (B, K)\n    # log", "neg = (u_neg @ v.unsqueeze(-1)).squeeze()  # (B, K)\n    # log"),
    ],
    # ---- sgns_gradients
    "gradients_by_autograd": [
        ("    B = v.shape[0]\n",
         "    leaves = [t.detach().requires_grad_() for t in (v, u_pos, u_neg)]\n"
         "    return torch.autograd.grad(sgns_loss(*leaves), leaves)\n    B = v.shape[0]\n"),
    ],
    "gradients_without_1_over_b": [
        ("(torch.sigmoid((u_pos * v).sum(-1)) - 1) / B", "(torch.sigmoid((u_pos * v).sum(-1)) - 1)"),
        ('torch.sigmoid(torch.einsum("bkd,bd->bk", u_neg, v)) / B', 'torch.sigmoid(torch.einsum("bkd,bd->bk", u_neg, v))'),
    ],
    "gradients_positive_sign_flipped": [
        ("(torch.sigmoid((u_pos * v).sum(-1)) - 1) / B", "(1 - torch.sigmoid((u_pos * v).sum(-1))) / B"),
    ],
    # ---- SkipGram
    # Dense tables: correct numbers, but every step of training walks over all V rows of both tables.
    "tables_not_sparse": [
        ("self.in_embed = nn.Embedding(vocab_size, embed_dim, sparse=True)", "self.in_embed = nn.Embedding(vocab_size, embed_dim)"),
        ("self.out_embed = nn.Embedding(vocab_size, embed_dim, sparse=True)", "self.out_embed = nn.Embedding(vocab_size, embed_dim)"),
    ],
    # Rows read by indexing the weight: the same loss, but a dense (V, D) gradient, whatever the table says.
    "skipgram_indexes_the_weight": [
        ("v = self.in_embed(centres)  # (B, D)", "v = self.in_embed.weight[centres]  # (B, D)"),
    ],
    "skipgram_contexts_from_in_embed": [
        ("return sgns_loss(v, u_pos.squeeze(1), u_neg)", "return sgns_loss(v, self.in_embed(contexts), u_neg)"),
    ],
    "output_vectors_left_at_default_init": [("        nn.init.zeros_(self.out_embed.weight)\n", "")],
    "input_vectors_not_scaled_by_dim": [
        ("bound = 0.5 / embed_dim\n        nn.init.uniform_", "bound = 0.5\n        nn.init.uniform_"),
    ],
    "word_vectors_from_out_embed": [("return self.in_embed.weight.detach()  # (V, D)", "return self.out_embed.weight.detach()  # (V, D)")],
    # ---- CBOW
    "cbow_embedding_bag": [
        ("h = (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)",
         'h = F.embedding_bag(contexts, self.in_embed.weight, mode="mean", padding_idx=PAD_ID)  # (B, D)'),
    ],
    # The mean over all 2c slots, padding included.
    "cbow_mean_over_the_padding": [
        ("h = (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)", "h = vectors.mean(1)  # (B, D)"),
    ],
    "cbow_sum_not_mean": [
        ("h = (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)", "h = (vectors * weights).sum(1)  # (B, D)"),
    ],
    # ---- cooccurrence
    "cooccurrence_unweighted": [("weights += [1 / d, 1 / d]", "weights += [1.0, 1.0]")],
    "cooccurrence_one_direction": [
        ("rows += [a, b]\n                    cols += [b, a]\n                    weights += [1 / d, 1 / d]",
         "rows += [a]\n                    cols += [b]\n                    weights += [1 / d]"),
    ],
    # Counted in a dict by assignment: a repeated (a, b) keeps its last weight instead of their sum.
    "cooccurrence_repeats_keep_the_last_value": [
        ("    indices = torch.tensor([rows, cols], dtype=torch.int64).reshape(2, -1)  # (2, P)",
         "    last = dict(zip(zip(rows, cols), weights))\n"
         "    rows, cols, weights = [a for a, _ in last], [b for _, b in last], list(last.values())\n"
         "    indices = torch.tensor([rows, cols], dtype=torch.int64).reshape(2, -1)  # (2, P)"),
    ],
    "cooccurrence_window_one_short": [("for d in range(1, window + 1):", "for d in range(1, window):")],
    # The dense V x V matrix of the first version of this kata: right values, 10 GB at V = 50,000.
    "cooccurrence_dense_matrix": [
        ("    X = torch.sparse_coo_tensor(indices, torch.tensor(weights, dtype=torch.float32), (vocab_size, vocab_size),\n"
         "                                check_invariants=True)\n    return X.coalesce()  # (V, V), nnz <= P",
         "    X = torch.zeros(vocab_size, vocab_size)\n"
         "    X.index_put_((indices[0], indices[1]), torch.tensor(weights, dtype=X.dtype), accumulate=True)\n"
         "    return X"),
    ],
    # Counted sparsely, then handed back dense.
    "cooccurrence_densified": [("return X.coalesce()  # (V, V), nnz <= P", "return X.coalesce().to_dense()  # (V, V), nnz <= P")],
    # The repeats left as they are: a (a, b) stored once per occurrence.
    "cooccurrence_not_coalesced": [("return X.coalesce()  # (V, V), nnz <= P", "return X  # (V, V), nnz <= P")],
    # ---- glove_weight
    "weight_uncapped": [
        ("return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))", "return (x / x_max) ** alpha"),
    ],
    "weight_ignores_alpha": [("(x / x_max) ** alpha, torch.ones_like(x))", "(x / x_max) ** 0.75, torch.ones_like(x))")],
    # alpha 0 read as "not given": `alpha or 0.75`.
    "weight_alpha_zero_read_as_default": [("(x / x_max) ** alpha, torch.ones_like(x))", "(x / x_max) ** (alpha or 0.75), torch.ones_like(x))")],
    # The ratio computed in place: the caller's x is divided by x_max.
    "weight_divides_x_in_place": [("(x / x_max) ** alpha, torch.ones_like(x))", "x.div_(x_max) ** alpha, torch.ones_like(x))")],
    "weight_ones_on_the_cpu": [("(x / x_max) ** alpha, torch.ones_like(x))", "(x / x_max) ** alpha, torch.ones(x.shape))")],
    # ---- GloVe
    "glove_ignores_its_x_max": [
        ("weight = glove_weight(x, x_max=self.x_max, alpha=self.alpha)  # (B,)", "weight = glove_weight(x)  # (B,)"),
    ],
    "glove_without_biases": [
        ("prediction = (self.w[i] * self.w_tilde[j]).sum(-1) + self.b[i] + self.b_tilde[j]  # (B,)",
         "prediction = (self.w[i] * self.w_tilde[j]).sum(-1)  # (B,)"),
    ],
    "glove_log1p": [("(prediction - torch.log(x)) ** 2", "(prediction - torch.log1p(x)) ** 2")],
    "glove_vectors_w_only": [("return (self.w + self.w_tilde).detach()  # (V, D)", "return self.w.detach()  # (V, D)")],
    # The biases started at zero: only the vectors follow glove.c.
    "glove_biases_start_at_zero": [
        ("self.b = nn.Parameter(torch.empty(vocab_size).uniform_(-bound, bound))  # (V,)",
         "self.b = nn.Parameter(torch.zeros(vocab_size))  # (V,)"),
        ("self.b_tilde = nn.Parameter(torch.empty(vocab_size).uniform_(-bound, bound))  # (V,)",
         "self.b_tilde = nn.Parameter(torch.zeros(vocab_size))  # (V,)"),
    ],
    # A normal of the right scale instead of the uniform.
    "glove_normal_init": [
        ("self.w = nn.Parameter(torch.empty(vocab_size, embed_dim).uniform_(-bound, bound))  # (V, D)",
         "self.w = nn.Parameter(torch.randn(vocab_size, embed_dim) * bound / 3**0.5)  # (V, D)"),
    ],
    # ---- RowAdagrad (given: its docstring's rule, proven by the SkipGram step test)
    # Each lookup's square added alone, without the row's count n: "the", looked up hundreds of times in a batch,
    # steps sqrt(n) times too far (on the generated corpus main()'s loss climbs from 4.1 to 38 in three epochs).
    "row_adagrad_without_the_count": [
        ('state["sum"].scatter_add_(0, rows, n * grads.square().mean(1))',
         'state["sum"].scatter_add_(0, rows, grads.square().mean(1))'),
    ],
    # The sums started afresh at every step: plain SGD with each row's step normalised, no memory of its past.
    "row_adagrad_forgets_its_sums": [
        ("                if not state:\n                    state[\"sum\"] = weight.new_zeros(len(weight))  # (V,)",
         "                state[\"sum\"] = weight.new_zeros(len(weight))  # (V,)"),
    ],
}

PATTERNS = {
    "builtin": ["gradients_by_autograd", "cbow_embedding_bag"],
    "arguments": ["keep_ignores_t", "noise_ignores_power", "weight_ignores_alpha", "glove_ignores_its_x_max"],
    "returns": ["sgns_summed_over_the_batch", "word_vectors_from_out_embed", "glove_vectors_w_only",
                "sgns_negatives_averaged", "pairs_grouped_by_distance", "cooccurrence_not_coalesced",
                "skipgram_indexes_the_weight"],
    "device": ["subsample_ignores_the_generator", "negatives_ignore_the_generator", "keep_always_float32",
               "noise_always_float32", "weight_ones_on_the_cpu"],
    "inputs": ["sgns_log_of_sigmoid", "sgns_squeeze_eats_k", "pairs_skip_a_repeated_word", "pairs_ids_without_dtype",
               "cbow_mean_over_the_padding", "cooccurrence_repeats_keep_the_last_value", "weight_uncapped",
               "noise_unseen_words_drawn_at_power_0", "cooccurrence_dense_matrix", "cooccurrence_densified"],
    "init": ["output_vectors_left_at_default_init", "input_vectors_not_scaled_by_dim", "glove_biases_start_at_zero",
             "glove_normal_init", "tables_not_sparse"],
    "falsy": ["weight_alpha_zero_read_as_default", "noise_power_zero_read_as_default", "negatives_empty_shape_unpacked"],
    "in_place": ["keep_divides_the_counts_in_place", "noise_raises_the_counts_in_place", "weight_divides_x_in_place"],
    "constants": ["subsample_none_makes_a_fresh_generator", "negatives_none_makes_a_fresh_generator",
                  "negatives_table_too_small"],
}

NOT_APPLICABLE = {
    "method_args": "no method takes an argument its object was built with: SkipGram's and CBOW's forward take ids, "
                   "GloVe's forward ids and co-occurrences, word_vectors() nothing; GloVe's x_max and alpha belong to "
                   "the constructor alone (glove_ignores_its_x_max proves forward uses them)",
}

MUST_PASS = {
    # Pairs by a loop over the positions (the first reference): slower on a real corpus, the same pairs in the same
    # order.
    "pairs_by_position_loop": [
        ("    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row",
         "    pairs = []\n    for sentence in sentences:\n        sentence = list(sentence)\n"
         "        for i, centre in enumerate(sentence):\n"
         "            for j in range(max(0, i - window), min(len(sentence), i + window + 1)):\n"
         "                if j != i:\n                    pairs.append((centre, sentence[j]))\n"
         "    return torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2)  # (P, 2)\n"
         "    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row"),
    ],
    # Pairs vectorised per sentence: a (n, 2c) grid of context positions, masked where it leaves the sentence;
    # the boolean mask reads the grid row by row, so the order is the promised one.
    "pairs_by_offset_grid_per_sentence": [
        ("    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row",
         "    offsets = torch.tensor([d for d in range(-window, window + 1) if d != 0])  # (2c,) left to right\n"
         "    pairs = [torch.zeros(0, 2, dtype=torch.int64)]\n    for sentence in sentences:\n"
         "        s = torch.tensor(list(sentence), dtype=torch.int64)  # (n,)\n"
         "        j = torch.arange(len(s))[:, None] + offsets  # (n, 2c): each centre's context positions\n"
         "        inside = (j >= 0) & (j < len(s))\n"
         "        centres = s[:, None].expand_as(j)\n"
         "        contexts = s[j.clamp(0, max(len(s) - 1, 0))] if len(s) else j\n"
         "        pairs.append(torch.stack([centres[inside], contexts[inside]], 1))\n"
         "    return torch.cat(pairs)\n"
         "    ids = torch.tensor([w for sentence in sentences for w in sentence], dtype=torch.int64)  # (N,) the corpus in a row"),
    ],
    # CBOW contexts in fixed slots (offset -c .. c), padding where the window leaves the sentence.
    "cbow_examples_in_fixed_slots": [
        ("    contexts, centres = [], []\n    for sentence in sentences:\n        sentence = list(sentence)\n"
         "        for i, centre in enumerate(sentence):\n"
         "            context = sentence[max(0, i - window):i] + sentence[i + 1:i + 1 + window]\n",
         "    rows, masks, centres = [], [], []\n    offsets = [d for d in range(-window, window + 1) if d != 0]\n"
         "    for sentence in sentences:\n        sentence = list(sentence)\n        for i, centre in enumerate(sentence):\n"
         "            inside = [0 <= i + d < len(sentence) for d in offsets]\n"
         "            if any(inside):\n"
         "                rows.append([sentence[i + d] if ok else PAD_ID for d, ok in zip(offsets, inside)])\n"
         "                masks.append(inside)\n                centres.append(centre)\n"
         "    return (torch.tensor(rows, dtype=torch.int64).reshape(-1, 2 * window),\n"
         "            torch.tensor(masks, dtype=torch.bool).reshape(-1, 2 * window), torch.tensor(centres, dtype=torch.int64))\n"
         "    contexts = []\n    for sentence in sentences:\n        for i, centre in enumerate(sentence):\n"
         "            context = sentence[max(0, i - window):i] + sentence[i + 1:i + 1 + window]\n"),
    ],
    # torch.bernoulli with the generator instead of comparing a uniform draw.
    "subsample_by_bernoulli": [
        ("kept = torch.rand(len(ids), generator=generator, dtype=torch.float64) < keep[ids]  # (N,)",
         "kept = torch.bernoulli(keep[ids], generator=generator).bool()  # (N,)"),
    ],
    # The exact probabilities, by torch.multinomial (the first reference): no table, 10x slower on a real corpus.
    "negatives_by_multinomial": [
        ("    slots = (noise.detach().cpu().double() * UNIGRAM_TABLE_SIZE).round().long()  # (V,) each word's share\n",
         "    ids = torch.multinomial(noise.detach().cpu(), math.prod(shape), replacement=True, generator=generator)\n"
         "    return ids.reshape(shape).to(noise.device)\n"),
    ],
    # Inverse-CDF sampling: searchsorted on the cumulative distribution, exact too (and as slow as multinomial).
    "negatives_by_inverse_cdf": [
        ("    slots = (noise.detach().cpu().double() * UNIGRAM_TABLE_SIZE).round().long()  # (V,) each word's share\n",
         "    cdf = noise.detach().cpu().double().cumsum(0)\n"
         "    u = torch.rand(math.prod(shape), generator=generator, dtype=torch.float64) * cdf[-1]\n"
         "    ids = torch.searchsorted(cdf, u, right=True).clamp(max=len(noise) - 1)\n"
         "    return ids.reshape(shape).to(noise.device)\n"),
    ],
    # The table indexed (table[draws]) and built with 32-bit ids: the same draws.
    "negatives_table_indexed": [
        ("table = torch.repeat_interleave(torch.arange(len(noise)), slots)",
         "table = torch.repeat_interleave(torch.arange(len(noise), dtype=torch.int32), slots)"),
        ("return table.index_select(0, draws).reshape(shape).to(noise.device)",
         "return table[draws].long().reshape(shape).to(noise.device)"),
    ],
    # Two lookups in out_embed (the first reference): the same loss and gradients, one more sparse sum in backward.
    "skipgram_two_lookups": [
        ("        ids = torch.cat([contexts.unsqueeze(1), negatives], 1)  # (B, 1 + K)\n"
         "        u_pos, u_neg = self.out_embed(ids).split([1, negatives.shape[1]], 1)  # (B, 1, D), (B, K, D)\n"
         "        return sgns_loss(v, u_pos.squeeze(1), u_neg)",
         "        return sgns_loss(v, self.out_embed(contexts), self.out_embed(negatives))"),
    ],
    "cbow_two_lookups": [
        ("        ids = torch.cat([centres.unsqueeze(1), negatives], 1)  # (B, 1 + K)\n"
         "        u_pos, u_neg = self.out_embed(ids).split([1, negatives.shape[1]], 1)  # (B, 1, D), (B, K, D)\n"
         "        return sgns_loss(h, u_pos.squeeze(1), u_neg)",
         "        return sgns_loss(h, self.out_embed(centres), self.out_embed(negatives))"),
    ],
    # The SGNS loss as two binary cross-entropies: the true word labelled 1, the noise words 0.
    "sgns_as_binary_cross_entropy": [
        ("return (-F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)).mean()",
         "positive = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos), reduction='none')\n"
         "    negative = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction='none')\n"
         "    return (positive + negative.sum(-1)).mean()"),
    ],
    # The context mean by masked_fill and a division by the count of real words.
    "cbow_mean_by_masked_fill": [
        ("h = (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D)",
         "h = vectors.masked_fill(~mask.unsqueeze(-1), 0.0).sum(1) / mask.sum(1, keepdim=True)  # (B, D)"),
    ],
    # Counting in a dict (+=), then one sparse tensor of the distinct pairs, coalesced.
    "cooccurrence_by_dict": [
        ("    rows, cols, weights = [], [], []\n    for sentence in sentences:\n        sentence = list(sentence)\n"
         "        for i, a in enumerate(sentence):\n",
         "    counts = {}\n    for sentence in sentences:\n        sentence = list(sentence)\n"
         "        for i in range(len(sentence)):\n"
         "            for j in range(max(0, i - window), min(len(sentence), i + window + 1)):\n"
         "                if j != i:\n"
         "                    key = (sentence[i], sentence[j])\n"
         "                    counts[key] = counts.get(key, 0.0) + 1 / abs(i - j)\n"
         "    indices = torch.tensor(list(counts), dtype=torch.int64).reshape(-1, 2).T\n"
         "    values = torch.tensor(list(counts.values()), dtype=torch.float32)\n"
         "    return torch.sparse_coo_tensor(indices, values, (vocab_size, vocab_size)).coalesce()\n"
         "    rows, cols, weights = [], [], []\n    for sentence in sentences:\n"
         "        for i, a in enumerate(sentence):\n"),
    ],
    # Vectorised by distance: for each d, the corpus in a row against itself shifted by d, within a sentence.
    "cooccurrence_by_shifted_corpus": [
        ("    rows, cols, weights = [], [], []\n    for sentence in sentences:\n        sentence = list(sentence)\n"
         "        for i, a in enumerate(sentence):\n",
         "    ids = torch.tensor([w for s in sentences for w in s], dtype=torch.int64)\n"
         "    which = torch.repeat_interleave(torch.arange(len(sentences)),\n"
         "                                    torch.tensor([len(s) for s in sentences], dtype=torch.int64))\n"
         "    parts, weights = [torch.zeros(2, 0, dtype=torch.int64)], [torch.zeros(0)]\n"
         "    for d in range(1, window + 1):\n"
         "        same = which[d:] == which[:-d] if d < len(ids) else torch.zeros(0, dtype=torch.bool)\n"
         "        a, b = ids[:-d][same] if d < len(ids) else ids[:0], ids[d:][same] if d < len(ids) else ids[:0]\n"
         "        parts += [torch.stack([a, b]), torch.stack([b, a])]\n"
         "        weights += [torch.full((2 * len(a),), 1 / d)]\n"
         "    X = torch.sparse_coo_tensor(torch.cat(parts, 1), torch.cat(weights), (vocab_size, vocab_size))\n"
         "    return X.coalesce()\n"
         "    rows, cols, weights = [], [], []\n    for sentence in sentences:\n"
         "        for i, a in enumerate(sentence):\n"),
    ],
    # The cap by clamping the ratio: (min(x / x_max, 1)) ** alpha.
    "weight_by_clamp": [
        ("return torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))", "return (x / x_max).clamp(max=1.0) ** alpha"),
    ],
}

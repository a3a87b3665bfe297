"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 12_seq2seq` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

_PACKED = ("        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, "
           "enforce_sorted=False)\n        outputs, h_n = self.rnn(packed)  # h_n (L, B, H)\n"
           "        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])")
_ENCODER_RNN = ("        self.rnn = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True)\n"
                "        # END SOLUTION")
_DECODER_RNN = ("        self.rnn = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True)\n"
                "        self.out")
_TEACHER = "        logits, _ = self.decoder(y, context)  # (B, T, V)\n        return logits"
_LOSS = ("    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), "
         "ignore_index=pad_id)")
_FINISH = "            if token == EOS_ID or step == max_len - 1:"

MUTANTS = {
    # The GRU reads the padding: h_n is the state after the last [PAD], not after the last word.
    "encoder_reads_the_padding": [(_PACKED, "        outputs, h_n = self.rnn(embedded)  # (B, S, H), (L, B, H)")],
    "encoder_ignores_num_layers": [(_ENCODER_RNN, _ENCODER_RNN.replace("num_layers, batch_first", "batch_first"))],
    "encoder_not_batch_first": [(_ENCODER_RNN, _ENCODER_RNN.replace(", batch_first=True", ""))],
    "decoder_ignores_num_layers": [(_DECODER_RNN, _DECODER_RNN.replace("num_layers, batch_first", "batch_first"))],
    # The context vector is dropped: the decoder starts from zeros and never hears of the source.
    "decoder_starts_from_zeros": [("output, h_n = self.rnn(self.embedding(x), hx)",
                                   "output, h_n = self.rnn(self.embedding(x))")],
    # Step-by-step decoding restarts from the initial state at every step.
    "decoder_returns_its_initial_state": [("return self.out(output), h_n  # (B, T, V), (L, B, H)",
                                           "return self.out(output), hx  # (B, T, V), (L, B, H)")],
    "encoder_reads_the_target_vocabulary": [("self.encoder = Encoder(c.src_vocab_size",
                                             "self.encoder = Encoder(c.tgt_vocab_size")],
    "seq2seq_ignores_num_layers": [
        ("self.encoder = Encoder(c.src_vocab_size, c.embed_dim, c.hidden_size, c.num_layers)",
         "self.encoder = Encoder(c.src_vocab_size, c.embed_dim, c.hidden_size)"),
        ("self.decoder = Decoder(c.tgt_vocab_size, c.embed_dim, c.hidden_size, c.num_layers)",
         "self.decoder = Decoder(c.tgt_vocab_size, c.embed_dim, c.hidden_size)"),
    ],
    # No teacher forcing: forward feeds the model's own predictions (free running) in training.
    "forward_feeds_its_own_predictions": [(_TEACHER, (
        "        token, h, steps = y[:, :1], context, []\n"
        "        for _ in range(y.shape[1]):\n"
        "            step, h = self.decoder(token, h)  # (B, 1, V)\n"
        "            steps.append(step)\n"
        "            token = step[:, -1:].argmax(-1)  # (B, 1)\n"
        "        return torch.cat(steps, dim=1)"))],
    "context_vector_detached": [(_TEACHER, _TEACHER.replace("(y, context)", "(y, context.detach())"))],
    # The loss scores the padding too: a batch of short sentences teaches the model to say [PAD].
    "loss_counts_the_padding": [(_LOSS, _LOSS.replace(", ignore_index=pad_id)", ")"))],
    "loss_mean_of_sentence_means": [(_LOSS, (
        "    per_token = F.cross_entropy(logits.transpose(1, 2), labels, reduction='none')  # (B, T)\n"
        "    real = (labels != pad_id).to(per_token.dtype)  # (B, T)\n"
        "    return ((per_token * real).sum(1) / real.sum(1)).mean()"))],
    "loss_ignores_pad_id": [(_LOSS, _LOSS.replace("ignore_index=pad_id", "ignore_index=PAD_ID"))],
    # `pad_id or ...` reads pad_id=0 (the default!) as not given.
    "loss_pad_id_zero_read_as_not_given": [(_LOSS, _LOSS.replace("ignore_index=pad_id",
                                                                 "ignore_index=pad_id or -100"))],
    "greedy_no_padding_after_sep": [
        ("        token = token.masked_fill(done, PAD_ID)  # a finished sentence only pads\n", "")],
    "greedy_no_early_stop": [("        if done.all():\n            break\n", "")],
    # Stops as soon as any sentence has said [SEP].
    "greedy_stops_at_the_first_sep_in_the_batch": [("        if done.all():", "        if done.any():")],
    "greedy_feeds_bos_at_every_step": [("        y = token[:, None]  # (B, 1): the prediction is the next input",
                                        "        y = torch.full_like(y, BOS_ID)")],
    "greedy_drops_the_state": [("        logits, h = model.decoder(y, h)  # (B, 1, V)",
                                "        logits, _ = model.decoder(y, h)  # (B, 1, V)")],
    "greedy_bos_on_the_cpu": [("y = torch.full((B, 1), BOS_ID, dtype=torch.int64, device=src.device)",
                               "y = torch.full((B, 1), BOS_ID, dtype=torch.int64)")],
    "greedy_decodes_at_least_one_token": [("    for _ in range(max_len):", "    for _ in range(max(max_len, 1)):")],
    "greedy_default_max_len_10": [("*, max_len: int = 20) -> Tensor:", "*, max_len: int = 10) -> Tensor:")],
    "beam_without_length_normalisation": [("(t, s / len(t) ** length_penalty)", "(t, s)")],
    "beam_length_penalty_zero_read_as_not_given": [("(t, s / len(t) ** length_penalty)",
                                                    "(t, s / len(t) ** (length_penalty or 1.0))")],
    # Only the best extension survives: greedy under another name.
    "beam_ignores_beam_size": [("topk(min(beam_size, total.numel()))", "topk(1)")],
    # Hypotheses that said [SEP] stay live and keep writing.
    "beam_sep_does_not_finish": [(_FINISH, "            if step == max_len - 1:")],
    # Sentences cut at max_len are dropped: nothing is returned when none said [SEP].
    "beam_drops_sentences_cut_at_max_len": [(_FINISH, "            if token == EOS_ID:")],
    # Every hypothesis continues from the first beam's state, whatever its parent.
    "beam_state_not_reordered": [("h = h[:, [beam for _, _, beam in keep]]", "h = h[:, [0] * len(keep)]")],
    "beam_default_beam_size_1": [("beam_size: int = 4,", "beam_size: int = 1,")],
    "bleu_unclipped_counts": [("min(count, allowed[gram])", "(count if allowed[gram] else 0)")],
    "bleu_without_brevity_penalty": [("brevity = 1.0 if c > r else math.exp(1 - r / c)", "brevity = 1.0")],
    "bleu_brevity_penalty_inverted": [("math.exp(1 - r / c)", "math.exp(1 - c / r)")],
    "bleu_arithmetic_mean_of_precisions": [
        ("log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n",
         "log_precision = math.log(sum(m / t for m, t in zip(matches, totals)) / max_n)")],
    "bleu_ignores_max_n": [("    if c == 0 or min(matches) == 0:",
                            "    max_n = 4\n    if c == 0 or min(matches) == 0:")],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # The sentences cut to their lengths and packed as a list (pack_sequence), not from the padded batch.
    "encoder_pack_sequence_of_sentences": [(_PACKED, (
        "        sentences = [embedded[b, :L] for b, L in enumerate(lengths.tolist())]  # B tensors (L_b, E)\n"
        "        packed = nn.utils.rnn.pack_sequence(sentences, enforce_sorted=False)\n"
        "        outputs, h_n = self.rnn(packed)  # h_n (L, B, H)\n"
        "        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])"))],
    # An explicit mask instead of ignore_index.
    "loss_masked_mean": [(_LOSS, (
        "    per_token = F.cross_entropy(logits.transpose(1, 2), labels, reduction='none')  # (B, T)\n"
        "    real = labels != pad_id  # (B, T)\n"
        "    return per_token[real].sum() / real.sum()"))],
    # Greedy decoding that re-reads the whole prefix from the context vector at every step.
    "greedy_rereads_the_prefix": [
        ("        logits, h = model.decoder(y, h)  # (B, 1, V)",
         "        logits, _ = model.decoder(y, h)  # (B, t, V): the whole prefix from the context vector"),
        ("        y = token[:, None]  # (B, 1): the prediction is the next input",
         "        y = torch.cat([y, token[:, None]], dim=1)  # (B, t + 1)"),
    ],
    # Python sorting instead of topk over the flattened scores.
    "beam_sorted_in_python": [("        best, index = total.flatten().topk(min(beam_size, total.numel()))  # (k',)",
                               "        ranked = sorted(enumerate(total.flatten().tolist()), key=lambda p: -p[1])\n"
                               "        index = torch.tensor([i for i, _ in ranked[:beam_size]])\n"
                               "        best = torch.tensor([s for _, s in ranked[:beam_size]], dtype=torch.float64)")],
    # Counter intersection for the clipped counts.
    "bleu_counter_intersection": [("sum(min(count, allowed[gram]) for gram, count in ngrams.items())",
                                   "sum((ngrams & allowed).values())")],
}

PATTERNS = {
    "arguments": ["encoder_ignores_num_layers", "decoder_ignores_num_layers", "seq2seq_ignores_num_layers",
                  "encoder_reads_the_target_vocabulary", "loss_ignores_pad_id", "beam_ignores_beam_size",
                  "bleu_ignores_max_n", "greedy_decodes_at_least_one_token"],
    "returns": ["decoder_returns_its_initial_state", "loss_mean_of_sentence_means",
                "beam_drops_sentences_cut_at_max_len", "bleu_arithmetic_mean_of_precisions",
                "greedy_no_padding_after_sep"],
    "device": ["greedy_bos_on_the_cpu"],
    "inputs": ["encoder_reads_the_padding", "loss_counts_the_padding", "greedy_stops_at_the_first_sep_in_the_batch",
               "bleu_unclipped_counts", "bleu_brevity_penalty_inverted"],
    "falsy": ["loss_pad_id_zero_read_as_not_given", "beam_length_penalty_zero_read_as_not_given",
              "greedy_decodes_at_least_one_token"],
    "constants": ["greedy_default_max_len_10", "beam_default_beam_size_1"],
}
NOT_APPLICABLE: dict[str, str] = {
    "builtin": "no task re-implements a PyTorch built-in: nn.GRU, nn.Embedding, nn.Linear and F.cross_entropy are "
               "the building blocks (topic 10 writes the cell), and PyTorch has no greedy decoding, beam search or "
               "BLEU to call",
    "init": "every layer keeps PyTorch's own initialisation, which the lesson does not ask to change; there is no "
            "BatchNorm and no training-mode state",
    "method_args": "no module keeps a state between calls and no method takes an argument its constructor took: "
                   "Decoder.forward's hx is given on every call (decoder_starts_from_zeros and "
                   "decoder_returns_its_initial_state are caught by the step-by-step test)",
    "in_place": "no function promises to work in place, and none writes to a tensor it is given (greedy_decode and "
                "beam_search build new tensors under no_grad; the tests reuse src after decoding it)",
}

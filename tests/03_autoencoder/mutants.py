"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 03_autoencoder`
proves every one is caught.
"""

MUTANTS = {
    # mlp
    "mlp_forgets_the_activation": [("            layers.append(activation())\n", "            pass\n")],
    "activation_after_the_last_layer": [
        ("if activation is not None and i < len(sizes) - 2:", "if activation is not None:"),
    ],
    # Autoencoder
    "encoder_left_linear": [
        ("self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)",
         "self.encoder = mlp([in_features, *hidden_sizes, code_size], None)"),
    ],
    "code_size_ignored": [
        ("self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)",
         "self.encoder = mlp([in_features, *hidden_sizes, 2], activation)"),
        ("self.decoder = mlp([code_size, *reversed(hidden_sizes), in_features], activation)",
         "self.decoder = mlp([2, *reversed(hidden_sizes), in_features], activation)"),
    ],
    "decoder_not_mirrored": [
        ("self.decoder = mlp([code_size, *reversed(hidden_sizes), in_features], activation)",
         "self.decoder = mlp([code_size, *hidden_sizes, in_features], activation)"),
    ],
    "decoder_ignores_the_code": [
        ("return self.decoder(z)  # (N, K) -> (N, D)", "return self.decoder(torch.zeros_like(z))  # (N, K) -> (N, D)"),
    ],
    "forward_stays_flat": [
        ("return self.decode(self.encode(x)).reshape(x.shape)", "return self.decode(self.encode(x))"),
    ],
    # corrupt
    "corrupt_in_place": [("return X + noise_std * noise", "return X.add_(noise_std * noise)")],
    "corrupt_uniform_noise": [
        ("noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)",
         "noise = torch.rand(X.shape, generator=generator, device=X.device, dtype=X.dtype)"),
    ],
    # anomaly_score
    "anomaly_score_averaged_over_the_batch": [
        ("return squared.flatten(start_dim=1).mean(dim=1)", "return squared.mean()"),
    ],
    "anomaly_score_wrong_axis": [
        ("return squared.flatten(start_dim=1).mean(dim=1)", "return squared.flatten(start_dim=1).mean(dim=0)"),
    ],
    "anomaly_score_last_axis_only": [
        ("return squared.flatten(start_dim=1).mean(dim=1)", "return squared.mean(dim=-1)"),
    ],
    # train_step
    "denoising_targets_the_noisy_input": [
        ("loss = ((model(inputs) - X) ** 2).mean()", "loss = ((model(inputs) - inputs) ** 2).mean()"),
    ],
    "forgot_zero_grad": [("    optimizer.zero_grad()  # gradients accumulate across backward() calls otherwise\n", "")],
    "noise_never_added": [
        ("inputs = corrupt(X, noise_std, generator=generator) if noise_std > 0 else X", "inputs = X"),
    ],
    # train
    "train_drops_noise_std": [
        ("train_step(model, optimizer, X[order[i:i + batch_size]], noise_std=noise_std)",
         "train_step(model, optimizer, X[order[i:i + batch_size]])"),
    ],
    "train_without_shuffling": [
        ("order = torch.randperm(X.shape[0], device=X.device)", "order = torch.arange(X.shape[0], device=X.device)"),
    ],
}

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
    # arguments: a Sequence argument given as a list (the default is a tuple).
    "hidden_sizes_concatenated_as_tuples": [
        ("self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)",
         "self.encoder = mlp((in_features,) + hidden_sizes + (code_size,), activation)"),
        ("self.decoder = mlp([code_size, *reversed(hidden_sizes), in_features], activation)",
         "self.decoder = mlp((code_size,) + hidden_sizes[::-1] + (in_features,), activation)"),
    ],
    # returns: train() returns each epoch's mean loss, recomputed.
    "train_returns_the_last_batch_loss": [
        ("losses.append(sum(batch_losses) / len(batch_losses))", "losses.append(batch_losses[-1])"),
    ],
    # device: the generator is used, tensors land on the input's device and dtype.
    "train_step_ignores_the_generator": [
        ("inputs = corrupt(X, noise_std, generator=generator) if noise_std > 0 else X",
         "inputs = corrupt(X, noise_std) if noise_std > 0 else X"),
    ],
    "corrupt_noise_made_on_the_cpu": [
        ("noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)",
         "noise = torch.randn(X.shape, generator=generator, dtype=X.dtype)"),
    ],
    "anomaly_score_through_python_floats": [
        ("squared = (model(X) - X) ** 2  # (N, *shape)\n"
         "        return squared.flatten(start_dim=1).mean(dim=1)",
         "return torch.tensor([((model(x[None]) - x[None]) ** 2).mean().item() for x in X])"),
    ],
    # inputs: a batch that is not contiguous in memory (a transposed view of the images).
    "encode_views_instead_of_flattening": [
        ("return self.encoder(x.flatten(start_dim=1))", "return self.encoder(x.view(x.shape[0], -1))"),
    ],
    # falsy: None and () are values here ("no activation", "no hidden layer"), not "not given".
    "activation_none_read_as_not_given": [
        ("self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)\n"
         "        self.decoder = mlp([code_size, *reversed(hidden_sizes), in_features], activation)",
         "self.encoder = mlp([in_features, *hidden_sizes, code_size], activation or nn.ReLU)\n"
         "        self.decoder = mlp([code_size, *reversed(hidden_sizes), in_features], activation or nn.ReLU)"),
    ],
    "mlp_activation_none_read_as_not_given": [
        ("    layers: list[nn.Module] = []\n", "    activation = activation or nn.ReLU\n    layers: list[nn.Module] = []\n"),
    ],
    "hidden_sizes_empty_read_as_not_given": [
        ("        self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)\n",
         "        hidden_sizes = hidden_sizes or (64,)\n"
         "        self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)\n"),
    ],
    "train_reads_lr_zero_as_not_given": [
        ("optimizer = torch.optim.Adam(model.parameters(), lr=lr)",
         "optimizer = torch.optim.Adam(model.parameters(), lr=lr or 1e-2)"),
    ],
    # in_place: corrupt promises a new tensor and to leave X alone; the other tasks promise nothing in place.
    "corrupt_returns_X_itself_for_zero_noise": [
        ("    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)  # same shape as X\n",
         "    if not noise_std:\n        return X  # nothing to add\n"
         "    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)  # same shape as X\n"),
    ],
    "train_step_corrupts_X_in_place": [
        ("inputs = corrupt(X, noise_std, generator=generator) if noise_std > 0 else X",
         "inputs = X.add_(noise_std * torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)) "
         "if noise_std > 0 else X"),
    ],
    "anomaly_score_subtracts_in_place": [
        ("squared = (model(X) - X) ** 2", "squared = X.sub_(model(X)) ** 2"),
    ],
    # constants: corrupt's default generator=None means torch's global generator, not a fixed stream.
    "corrupt_default_generator_fixed": [
        ("noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)",
         "generator = generator or torch.Generator(device=X.device).manual_seed(0)\n"
         "    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)"),
    ],
    "anomaly_score_sums_the_squares": [
        ("return squared.flatten(start_dim=1).mean(dim=1)", "return squared.flatten(start_dim=1).sum(dim=1)"),
    ],
    "autoencoder_default_hidden_sizes_empty": [
        ("hidden_sizes: Sequence[int] = (64,),", "hidden_sizes: Sequence[int] = (),"),
    ],
    # mlp's docstring: activation() makes a *fresh* module for each place; one shared module shares its parameters.
    "mlp_shares_one_activation_module": [
        ("    layers: list[nn.Module] = []\n", "    shared = activation() if activation is not None else None\n"
         "    layers: list[nn.Module] = []\n"),
        ("            layers.append(activation())", "            layers.append(shared)"),
    ],
}

# Which mutants prove each pattern of the suite author's checklist (docs/CHECKLIST.md).
PATTERNS = {
    "arguments": ["hidden_sizes_concatenated_as_tuples"],
    "returns": ["train_returns_the_last_batch_loss"],
    "device": ["train_step_ignores_the_generator", "corrupt_noise_made_on_the_cpu",
               "anomaly_score_through_python_floats"],
    "inputs": ["encode_views_instead_of_flattening", "anomaly_score_last_axis_only"],
    "falsy": ["activation_none_read_as_not_given", "mlp_activation_none_read_as_not_given",
              "hidden_sizes_empty_read_as_not_given", "train_reads_lr_zero_as_not_given"],
    "in_place": ["corrupt_in_place", "corrupt_returns_X_itself_for_zero_noise", "train_step_corrupts_X_in_place",
                 "anomaly_score_subtracts_in_place"],
    "constants": ["corrupt_default_generator_fixed", "anomaly_score_sums_the_squares",
                  "autoencoder_default_hidden_sizes_empty"],
}
NOT_APPLICABLE = {
    "builtin": "no task here rebuilds a PyTorch built-in: mlp and Autoencoder are made of nn.Linear and "
               "nn.Sequential (using them is the lesson), corrupt draws its noise with torch.randn, and "
               "anomaly_score, train_step and train are a few tensor operations and a loop; every task's "
               "off-limits list is empty",
    "init": "the layers are nn.Linear with PyTorch's default initialisation, which the lesson does not ask to "
            "change, and nothing has a training mode: no BatchNorm, no dropout",
    "method_args": "no method takes an argument that the object was built with: Autoencoder's methods (encode, "
                   "decode, forward) take only the data (the sizes and the activation are fixed at construction), "
                   "and corrupt, anomaly_score, train_step and train are plain functions given all their settings "
                   "at each call (train passing noise_std on to train_step is 'arguments': train_drops_noise_std)",
}

# Correct implementations written differently from the reference: each must pass every test.
MUST_PASS = {
    "interleaved_layers_reshape_and_split_batches": [
        ("    layers: list[nn.Module] = []\n"
         "    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
         "        layers.append(nn.Linear(fan_in, fan_out))\n"
         "        # No activation after the last layer: the code may be any real vector, and\n"
         "        # the reconstruction must be able to reach any value the data takes.\n"
         "        if activation is not None and i < len(sizes) - 2:\n"
         "            layers.append(activation())\n"
         "    return nn.Sequential(*layers)\n",
         "    linears = [nn.Linear(fan_in, fan_out) for fan_in, fan_out in zip(sizes, sizes[1:])]\n"
         "    layers: list[nn.Module] = []\n"
         "    for linear in linears[:-1]:\n"
         "        layers += [linear] if activation is None else [linear, activation()]\n"
         "    return nn.Sequential(*layers, linears[-1])\n"),
        ("return self.encoder(x.flatten(start_dim=1))", "return self.encoder(x.reshape(len(x), -1))"),
        ("return self.decode(self.encode(x)).reshape(x.shape)", "return self.decode(self.encode(x)).view(x.shape)"),
        # each epoch's loss as the mean over samples: batch losses weighted by the batch sizes
        ("        order = torch.randperm(X.shape[0], device=X.device)  # a fresh shuffle every epoch\n"
         "        batch_losses = [train_step(model, optimizer, X[order[i:i + batch_size]], noise_std=noise_std)\n"
         "                        for i in range(0, X.shape[0], batch_size)]\n"
         "        losses.append(sum(batch_losses) / len(batch_losses))\n",
         "        total = 0.0\n"
         "        for idx in torch.randperm(len(X), device=X.device).split(batch_size):\n"
         "            total += train_step(model, optimizer, X[idx], noise_std=noise_std) * len(idx)\n"
         "        losses.append(total / len(X))\n"),
    ],
    "list_sizes_and_functional_losses": [
        ("        self.encoder = mlp([in_features, *hidden_sizes, code_size], activation)\n"
         "        self.decoder = mlp([code_size, *reversed(hidden_sizes), in_features], activation)\n",
         "        widths = list(hidden_sizes)\n"
         "        self.encoder = mlp([in_features] + widths + [code_size], activation)\n"
         "        self.decoder = mlp([code_size] + widths[::-1] + [in_features], activation)\n"),
        ("        squared = (model(X) - X) ** 2  # (N, *shape)\n"
         "        return squared.flatten(start_dim=1).mean(dim=1)",
         "        squared = torch.nn.functional.mse_loss(model(X), X, reduction=\"none\")  # (N, *shape)\n"
         "        return squared.mean(dim=tuple(range(1, X.dim())))"),
        ("    loss = ((model(inputs) - X) ** 2).mean()\n"
         "    optimizer.zero_grad()  # gradients accumulate across backward() calls otherwise\n",
         "    optimizer.zero_grad()\n"
         "    loss = torch.nn.functional.mse_loss(model(inputs), X)\n"),
        # the noise drawn in place into a new tensor shaped like X (the same stream as torch.randn)
        ("    noise = torch.randn(X.shape, generator=generator, device=X.device, dtype=X.dtype)  # same shape as X\n"
         "    return X + noise_std * noise",
         "    return X + noise_std * torch.empty_like(X).normal_(generator=generator)"),
    ],
}

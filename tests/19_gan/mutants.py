"""Plausible learner bugs that the suite must reject, and correct rewrites it must accept.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 19_gan` proves
every mutant is caught and every variant in MUST_PASS passes.
"""

MUTANTS = {
    # ---- Generator
    # A Tanh at the end, as DCGAN's generator has: the ring's points reach radius 2, Tanh stops at 1.
    "generator_tanh_output": [
        ("layers.append(nn.Linear(hidden_size, out_features))",
         "layers += [nn.Linear(hidden_size, out_features), nn.Tanh()]"),
    ],
    "generator_ignores_num_layers": [
        ("sizes = [latent_dim] + [hidden_size] * num_layers", "sizes = [latent_dim] + [hidden_size] * 2"),
    ],
    "generator_ignores_hidden_size": [
        ("sizes = [latent_dim] + [hidden_size] * num_layers", "sizes = [latent_dim] + [64] * num_layers"),
        ("layers.append(nn.Linear(hidden_size, out_features))", "layers.append(nn.Linear(64, out_features))"),
    ],
    # ---- Discriminator
    # nn.LeakyReLU() has slope 0.01, not DCGAN's 0.2.
    "discriminator_default_leaky_slope": [
        ("layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(LEAKY_SLOPE)]",
         "layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU()]"),
    ],
    # squeeze() turns a batch of one into a 0-d tensor.
    "discriminator_squeezes_the_batch": [
        ("return self.net(x).squeeze(-1)", "return self.net(x).squeeze()"),
    ],
    # A probability where a logit is promised: value_function applies the sigmoid a second time.
    "discriminator_ends_with_sigmoid": [
        ("layers.append(nn.Linear(hidden_size, 1))", "layers += [nn.Linear(hidden_size, 1), nn.Sigmoid()]"),
    ],
    "discriminator_ignores_num_layers": [
        ("sizes = [in_features] + [hidden_size] * num_layers", "sizes = [in_features] + [hidden_size] * 2"),
    ],
    # ---- value_function
    # log(sigmoid(l)): -inf at l = -200 in float32.
    "value_log_of_sigmoid": [
        ("return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()",
         "return torch.log(torch.sigmoid(real_logits)).mean() + torch.log(1 - torch.sigmoid(fake_logits)).mean()"),
    ],
    # One mean over both batches, doubled: right only when they have the same size.
    "value_one_mean_over_both_batches": [
        ("return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()",
         "return 2 * torch.cat([F.logsigmoid(real_logits), F.logsigmoid(-fake_logits)]).mean()"),
    ],
    # BCE with targets made on the CPU in float32.
    "value_targets_on_the_cpu": [
        ("return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()",
         "return -(F.binary_cross_entropy_with_logits(real_logits, torch.ones(len(real_logits)))\n"
         "             + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros(len(fake_logits))))"),
    ],
    # log D(G(z)) where log(1 - D(G(z))) is meant.
    "value_fake_term_sign": [
        ("return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()",
         "return F.logsigmoid(real_logits).mean() + F.logsigmoid(fake_logits).mean()"),
    ],
    # ---- generator_loss
    "generator_loss_saturating_by_default": [
        ("    if saturating:\n        return F.logsigmoid", "    if not saturating:\n        return F.logsigmoid"),
    ],
    "non_saturating_log_of_sigmoid": [
        ("return -F.logsigmoid(fake_logits).mean()  # -log D",
         "return -torch.log(torch.sigmoid(fake_logits)).mean()  # -log D"),
    ],
    # G maximising log(1 - D): it learns to be rejected.
    "saturating_sign_flipped": [
        ("return F.logsigmoid(-fake_logits).mean()  # log(1 - D)",
         "return -F.logsigmoid(-fake_logits).mean()  # log(1 - D)"),
    ],
    "non_saturating_sums": [
        ("return -F.logsigmoid(fake_logits).mean()  # -log D", "return -F.logsigmoid(fake_logits).sum()  # -log D"),
    ],
    "generator_loss_targets_on_the_cpu": [
        ("return -F.logsigmoid(fake_logits).mean()  # -log D",
         "return F.binary_cross_entropy_with_logits(fake_logits, torch.ones(len(fake_logits)))  # -log D"),
    ],
    # ---- d_step
    # The classic: D's loss sends gradients into G.
    "d_step_without_detach": [("fake = gan.generator(z).detach()  # (B, ...)", "fake = gan.generator(z)  # (B, ...)")],
    # Both optimizers stepped: G applies whatever its .grad holds from the last G step.
    "d_step_steps_both_networks": [("    opt_d.step()\n", "    opt_d.step()\n    opt_g.step()\n")],
    "d_step_returns_v": [
        ("    opt_d.step()\n    return loss.item()", "    opt_d.step()\n    return -loss.item()"),
    ],
    "d_step_forgets_zero_grad": [("    opt_d.zero_grad()\n", "")],
    "d_step_returns_the_loss_after_the_step": [
        ("    opt_d.step()\n    return loss.item()",
         "    opt_d.step()\n    return (-value_function(gan.discriminator(real), gan.discriminator(fake))).item()"),
    ],
    # ---- g_step
    "g_step_steps_the_discriminator_too": [("    opt_g.step()\n", "    opt_g.step()\n    opt_d.step()\n")],
    "g_step_ignores_saturating": [
        ("loss = generator_loss(gan.discriminator(gan.generator(z)), saturating=saturating)",
         "loss = generator_loss(gan.discriminator(gan.generator(z)))"),
    ],
    "g_step_forgets_zero_grad": [("    opt_g.zero_grad()\n", "")],
    # ---- init_weights
    # nn.ConvTranspose2d is not a subclass of nn.Conv2d: the generator keeps PyTorch's initialisation.
    "init_misses_transposed_convolutions": [
        ("isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))", "isinstance(module, nn.Conv2d)"),
    ],
    "init_std_ten_times_too_large": [
        ("nn.init.normal_(module.weight, 0.0, INIT_STD)", "nn.init.normal_(module.weight, 0.0, 10 * INIT_STD)"),
    ],
    # The same standard deviation from the wrong family.
    "init_uniform_of_the_same_spread": [
        ("nn.init.normal_(module.weight, 0.0, INIT_STD)",
         "nn.init.uniform_(module.weight, -math.sqrt(3) * INIT_STD, math.sqrt(3) * INIT_STD)"),
    ],
    "batchnorm_scale_near_zero": [
        ("nn.init.normal_(module.weight, 1.0, INIT_STD)", "nn.init.normal_(module.weight, 0.0, INIT_STD)"),
    ],
    "batchnorm_bias_not_zeroed": [("        nn.init.zeros_(module.bias)\n", "")],
    # A new Parameter: an optimizer built before still holds the old tensor.
    "init_rebinds_the_weight": [
        ("nn.init.normal_(module.weight, 0.0, INIT_STD)",
         "module.weight = nn.Parameter(torch.randn_like(module.weight) * INIT_STD)"),
    ],
    # The complement: a convolution's bias is not DCGAN's to touch.
    "init_zeroes_the_convolution_bias": [
        ("nn.init.normal_(module.weight, 0.0, INIT_STD)",
         "nn.init.normal_(module.weight, 0.0, INIT_STD)\n        if module.bias is not None:\n"
         "            nn.init.zeros_(module.bias)"),
    ],
    # ---- DCGenerator
    "dcgenerator_batchnorm_on_the_output": [
        ("layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]",
         "layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.BatchNorm2d(channels), "
         "nn.Tanh()]"),
    ],
    "dcgenerator_sigmoid_output": [
        ("layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]",
         "layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Sigmoid()]"),
    ],
    "dcgenerator_ignores_width": [
        ("widths = [width * 2**i for i in reversed(range(levels))]",
         "widths = [16 * 2**i for i in reversed(range(levels))]"),
    ],
    # The channels grow towards the image, as in the discriminator.
    "dcgenerator_channels_grow": [
        ("widths = [width * 2**i for i in reversed(range(levels))]", "widths = [width * 2**i for i in range(levels)]"),
    ],
    "dcgenerator_latent_dim_fixed": [
        ("return self.main(z.view(len(z), self.latent_dim, 1, 1))", "return self.main(z.view(len(z), 16, 1, 1))"),
    ],
    # ---- DCDiscriminator
    "dcdiscriminator_batchnorm_on_the_first_block": [
        ("nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(LEAKY_SLOPE)]",
         "nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[0]),\n"
         "                                   nn.LeakyReLU(LEAKY_SLOPE)]"),
    ],
    "dcdiscriminator_ends_with_sigmoid": [
        ("layers.append(nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False))",
         "layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]"),
    ],
    "dcdiscriminator_squeezes_the_batch": [("return self.main(x).view(len(x))", "return self.main(x).squeeze()")],
    "dcdiscriminator_relu": [
        ("layers += [nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=False), nn.BatchNorm2d(fan_out),\n"
         "                       nn.LeakyReLU(LEAKY_SLOPE)]",
         "layers += [nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=False), nn.BatchNorm2d(fan_out), nn.ReLU()]"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # -V is binary cross-entropy with real = 1 and fake = 0, each averaged over its own batch.
    "losses_by_bce_and_softplus": [
        ("return F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean()",
         "return -(F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))\n"
         "             + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))"),
        # -log sigmoid(l) = softplus(-l) and log(1 - sigmoid(l)) = -softplus(l).
        ("return F.logsigmoid(-fake_logits).mean()  # log(1 - D)",
         "return -F.softplus(fake_logits).mean()  # log(1 - D)"),
        ("return -F.logsigmoid(fake_logits).mean()  # -log D", "return F.softplus(-fake_logits).mean()  # -log D"),
    ],
    # The fakes made without a graph at all, and D frozen while G learns (no .grad for D).
    "no_grad_fakes_and_a_frozen_discriminator": [
        ("fake = gan.generator(z).detach()  # (B, ...)",
         "with torch.no_grad():\n        fake = gan.generator(z)  # (B, ...)"),
        ("    loss = generator_loss(gan.discriminator(gan.generator(z)), saturating=saturating)\n    loss.backward()\n",
         "    gan.discriminator.requires_grad_(False)\n"
         "    loss = generator_loss(gan.discriminator(gan.generator(z)), saturating=saturating)\n    loss.backward()\n"
         "    gan.discriminator.requires_grad_(True)\n"),
    ],
    # Indexing instead of view, and the DCGAN layers written out as an explicit list for one level.
    "dcgenerator_unsqueezes_z": [
        ("return self.main(z.view(len(z), self.latent_dim, 1, 1))", "return self.main(z[:, :, None, None])"),
        ("return self.main(x).view(len(x))", "return self.main(x).flatten()"),
    ],
}

PATTERNS = {
    "arguments": ["generator_ignores_num_layers", "generator_ignores_hidden_size", "discriminator_ignores_num_layers",
                  "g_step_ignores_saturating", "dcgenerator_ignores_width", "dcgenerator_latent_dim_fixed"],
    "returns": ["d_step_returns_v", "d_step_returns_the_loss_after_the_step", "non_saturating_sums",
                "value_one_mean_over_both_batches"],
    "device": ["value_targets_on_the_cpu", "generator_loss_targets_on_the_cpu"],
    "inputs": ["value_log_of_sigmoid", "non_saturating_log_of_sigmoid", "discriminator_squeezes_the_batch",
               "dcdiscriminator_squeezes_the_batch"],
    "init": ["init_misses_transposed_convolutions", "init_std_ten_times_too_large", "init_uniform_of_the_same_spread",
             "batchnorm_scale_near_zero", "batchnorm_bias_not_zeroed", "init_zeroes_the_convolution_bias"],
    "in_place": ["init_rebinds_the_weight"],
    "constants": ["discriminator_default_leaky_slope", "generator_loss_saturating_by_default"],
}
NOT_APPLICABLE: dict[str, str] = {
    "builtin": "no task re-implements a built-in: the lesson is the game (which network gets which gradient, which "
               "optimizer steps, which loss keeps a slope), not the kernels. F.logsigmoid and "
               "F.binary_cross_entropy_with_logits are the stable ways to write V and stay allowed, and DCGAN is "
               "built from nn.Conv2d, nn.ConvTranspose2d and nn.BatchNorm2d on purpose",
    "falsy": "the one argument a caller sets to a falsy value is saturating=False, which is also its default: "
             "generator_loss and g_step are called with it given explicitly and left out, against the reference "
             "(g_step_ignores_saturating, generator_loss_saturating_by_default); sizes are at least 1 (num_layers=0 "
             "is refused by given code) and nothing else is read for truth",
    "method_args": "no method takes an argument its object was built with: forward takes z or x only, and no module "
                   "keeps a state between calls (GAN.sample, given, takes its own n and generator)",
}

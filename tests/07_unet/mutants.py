"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 07_unet` proves
every one is caught, and that every MUST_PASS variant passes every test.
"""

PAD = "    return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))  # (B, C, H, W)\n"
# The first lines of dice_score's and iou_score's regions (the same in both; the next line tells them apart).
DICE_P = ("    p = binarize(pred, threshold=threshold, from_logits=from_logits).flatten(1).float()  # (B, H*W)\n"
          "    t = (target > 0.5).flatten(1).float()  # (B, H*W)\n"
          "    inter = (p * t).sum(1)  # (B,)\n")

MUTANTS = {
    # The decoder uses only the upsampled path: the channel count stays right, the skip is gone.
    "skip_dropped": [("x = torch.cat([skip, x], dim=1)  # (B, in, H, W)", "x = torch.cat([x, x], dim=1)  # (B, in, H, W)")],
    # ResNet-style: the skip is added, so the DoubleConv reads half the channels.
    "skip_added_not_concatenated": [
        ("x = torch.cat([skip, x], dim=1)  # (B, in, H, W)", "x = skip + x  # (B, in/2, H, W)"),
        ("self.conv = DoubleConv(in_channels, out_channels, batch_norm=batch_norm)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor, skip: Tensor)",
         "self.conv = DoubleConv(in_channels // 2, out_channels, batch_norm=batch_norm)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor, skip: Tensor)"),
    ],
    # The skips taken from the wrong end of the list: the shallowest skip for the deepest Up.
    "skips_in_encoder_order": [("x = up(x, skips.pop())", "x = up(x, skips.pop(0))")],
    # All the padding after the map (top-left aligned): sizes right, features shifted.
    "pad_misaligned": [("F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))", "F.pad(x, (0, dw, 0, dh))")],
    # F.pad's list read as (top, bottom, left, right).
    "pad_dimensions_swapped": [
        ("F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))", "F.pad(x, (dh // 2, dh - dh // 2, dw // 2, dw - dw // 2))"),
    ],
    "convs_without_padding": [
        ("kernel_size=3, padding=1, bias=not batch_norm)\n        self.bn1", "kernel_size=3, bias=not batch_norm)\n        self.bn1"),
        ("kernel_size=3, padding=1, bias=not batch_norm)\n        self.bn2", "kernel_size=3, bias=not batch_norm)\n        self.bn2"),
    ],
    "no_relu_after_second_conv": [("return F.relu(self.bn2(self.conv2(x)))", "return self.bn2(self.conv2(x))")],
    "average_pooling": [("self.pool = nn.MaxPool2d(kernel_size=2, stride=2)", "self.pool = nn.AvgPool2d(kernel_size=2, stride=2)")],
    "upsample_keeps_channels": [
        ("self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)",
         "self.up = nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2)"),
        ("self.conv = DoubleConv(in_channels, out_channels, batch_norm=batch_norm)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor, skip: Tensor)",
         "self.conv = DoubleConv(in_channels + in_channels // 2, out_channels, batch_norm=batch_norm)\n"
         "        # END SOLUTION\n\n    def forward(self, x: Tensor, skip: Tensor)"),
    ],
    "threshold_logits_at_half": [("return pred >= math.log(threshold / (1 - threshold))", "return pred >= threshold")],
    "dice_without_factor_2": [("2 * inter / total.clamp(min=1)", "inter / total.clamp(min=1)")],
    "dice_of_empty_masks_is_0": [
        ("2 * inter / total.clamp(min=1), torch.ones_like(total))", "2 * inter / total.clamp(min=1), torch.zeros_like(total))"),
    ],
    "iou_union_is_sum_of_areas": [("union = p.sum(1) + t.sum(1) - inter", "union = p.sum(1) + t.sum(1)")],
    "soft_dice_thresholded": [("p = torch.sigmoid(logits).flatten(1)", "p = (logits >= 0).float().flatten(1)")],
    "soft_dice_without_eps": [
        ("dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)",
         "dice = 2 * (p * t).sum(1) / (p.sum(1) + t.sum(1))"),
    ],
    "train_step_bce_only": [
        ("loss = F.binary_cross_entropy_with_logits(logits, masks) + soft_dice_loss(logits, masks)",
         "loss = F.binary_cross_entropy_with_logits(logits, masks)"),
    ],
    "train_step_forgets_zero_grad": [("    optimizer.zero_grad()\n    logits", "    logits")],
    # One soft Dice over the whole batch instead of one per image: an image with a large object outweighs the rest.
    "soft_dice_over_the_whole_batch": [
        ("    p = torch.sigmoid(logits).flatten(1)  # (B, H*W): no threshold, so gradients flow\n"
         "    t = target.flatten(1)  # (B, H*W)\n"
         "    dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)  # (B,)\n",
         "    p = torch.sigmoid(logits).flatten()  # (B * H * W,)\n"
         "    t = target.flatten()\n"
         "    dice = (2 * (p * t).sum() + eps) / (p.sum() + t.sum() + eps)\n"),
    ],
    # builtin: torchvision's centre crop pads as well as crops, and matched every size the suite tried.
    "pad_to_match_calls_center_crop": [
        ("import torch\nimport torch.nn.functional as F\n",
         "import torch\nimport torch.nn.functional as F\nimport torchvision.transforms.functional as TF\n"),
        (PAD, "    return TF.center_crop(x, list(reference.shape[-2:]))  # (B, C, H, W)\n"),
    ],
    # arguments: batch_norm not passed on by Down, Up or UNet's inc; threshold not passed on by the scores;
    # a fixed 1 where soft_dice_loss's eps belongs.
    "down_ignores_batch_norm": [
        ("        self.conv = DoubleConv(in_channels, out_channels, batch_norm=batch_norm)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor) -> Tensor:\n        \"\"\"x: (B, in_channels, H, W). "
         "Returns (B, out_channels, H // 2",
         "        self.conv = DoubleConv(in_channels, out_channels)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor) -> Tensor:\n        \"\"\"x: (B, in_channels, H, W). "
         "Returns (B, out_channels, H // 2"),
    ],
    "up_ignores_batch_norm": [
        ("self.conv = DoubleConv(in_channels, out_channels, batch_norm=batch_norm)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor, skip: Tensor)",
         "self.conv = DoubleConv(in_channels, out_channels)\n        # END SOLUTION\n\n"
         "    def forward(self, x: Tensor, skip: Tensor)"),
    ],
    "unet_inc_ignores_batch_norm": [
        ("self.inc = DoubleConv(in_channels, width, batch_norm=batch_norm)",
         "self.inc = DoubleConv(in_channels, width)"),
    ],
    "dice_ignores_threshold": [
        (DICE_P + "    total", DICE_P.replace("threshold=threshold, ", "") + "    total"),
    ],
    "iou_ignores_threshold": [
        (DICE_P + "    union", DICE_P.replace("threshold=threshold, ", "") + "    union"),
    ],
    "soft_dice_eps_fixed_at_1": [
        ("dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)",
         "dice = (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)"),
    ],
    # returns: binarize promises a bool tensor; 0/1 floats passed a test that converted with .bool().
    "binarize_returns_floats": [
        ("        return pred >= threshold\n", "        return (pred >= threshold).float()\n"),
        ("    return pred >= math.log(threshold / (1 - threshold))",
         "    return (pred >= math.log(threshold / (1 - threshold))).float()"),
    ],
    # device: the "both empty" scores made on the CPU by default: right on the CPU, an error on a GPU.
    "dice_of_empty_masks_made_on_the_cpu": [
        ("2 * inter / total.clamp(min=1), torch.ones_like(total))",
         "2 * inter / total.clamp(min=1), torch.ones(total.shape))"),
    ],
    # inputs: an odd crop split by truncation (int(-3 / 2) = -1, not -2); a score of 1 whenever the target is
    # empty, right only if the prediction is empty too (the hand-made masks had no such image).
    "pad_split_truncates_toward_zero": [
        (PAD, "    return F.pad(x, (int(dw / 2), dw - int(dw / 2), int(dh / 2), dh - int(dh / 2)))  # (B, C, H, W)\n"),
    ],
    "dice_is_1_when_the_target_is_empty": [
        ("torch.where(total > 0, 2 * inter / total.clamp(min=1)",
         "torch.where(t.sum(1) > 0, 2 * inter / total.clamp(min=1)"),
    ],
    "iou_is_1_when_the_target_is_empty": [
        ("torch.where(union > 0, inter / union.clamp(min=1)", "torch.where(t.sum(1) > 0, inter / union.clamp(min=1)"),
    ],
    # init (train mode): Keras's momentum convention (the weight of the old value) in PyTorch's argument:
    # identical in eval mode with loaded statistics, wrong running statistics after training.
    "batchnorm_keras_momentum": [
        ("        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()\n",
         "        self.bn1 = nn.BatchNorm2d(out_channels, momentum=0.9) if batch_norm else nn.Identity()\n"),
    ],
    # falsy: 0 read as "not given" (`x or default`): soft Dice without smoothing becomes eps 1, a threshold of 0
    # (every pixel on) becomes 0.5.
    "soft_dice_eps_zero_read_as_not_given": [
        ("    p = torch.sigmoid(logits).flatten(1)  # (B, H*W): no threshold, so gradients flow\n",
         "    eps = eps or 1.0  # the usual smoothing when none is given\n"
         "    p = torch.sigmoid(logits).flatten(1)  # (B, H*W): no threshold, so gradients flow\n"),
    ],
    "binarize_threshold_zero_read_as_not_given": [
        ("    if not from_logits:\n        return pred >= threshold\n",
         "    threshold = threshold or 0.5\n    if not from_logits:\n        return pred >= threshold\n"),
    ],
    # in_place: sigmoid_ turns the caller's logits into probabilities (binarize promises nothing of the kind).
    "binarize_sigmoid_in_place": [
        ("    return pred >= math.log(threshold / (1 - threshold))", "    return pred.sigmoid_() >= threshold"),
    ],
    # constants: Keras' BatchNorm epsilon (1e-3); the smoothing on one side of the fraction only; > where the
    # docstring says "at least".
    "batchnorm_eps_keras": [
        ("        self.bn1 = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()\n",
         "        self.bn1 = nn.BatchNorm2d(out_channels, eps=1e-3) if batch_norm else nn.Identity()\n"),
    ],
    "soft_dice_eps_only_in_the_denominator": [
        ("dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)",
         "dice = 2 * (p * t).sum(1) / (p.sum(1) + t.sum(1) + eps)"),
    ],
    "binarize_strictly_above_the_threshold": [
        ("        return pred >= threshold\n", "        return pred > threshold\n"),
        ("    return pred >= math.log(threshold / (1 - threshold))",
         "    return pred > math.log(threshold / (1 - threshold))"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # Functional ops and logical masks: torch.relu and F.max_pool2d in forward, pad_to_match by slicing
    # into new zeros, [upsampled, skip] in that order, sigmoid then compare, logical_and/or counts, einsum,
    # and BCE on the probabilities.
    "functional_and_logical_ops": [
        ("        x = F.relu(self.bn1(self.conv1(x)))  # (B, out, H, W)\n"
         "        return F.relu(self.bn2(self.conv2(x)))  # (B, out, H, W)\n",
         "        x = torch.relu(self.bn1(self.conv1(x)))  # (B, out, H, W)\n"
         "        return torch.relu(self.bn2(self.conv2(x)))  # (B, out, H, W)\n"),
        ("        return self.conv(self.pool(x))\n",
         "        return self.conv(F.max_pool2d(x, kernel_size=2, stride=2))\n"),
        (PAD,
         "    H, W = reference.shape[-2:]\n"
         "    top, left = dh // 2, dw // 2  # where x's first row and column land (negative: cut off)\n"
         "    out = x.new_zeros(*x.shape[:-2], H, W)  # (B, C, H, W)\n"
         "    r0, r1 = max(top, 0), min(top + x.shape[-2], H)\n"
         "    c0, c1 = max(left, 0), min(left + x.shape[-1], W)\n"
         "    out[..., r0:r1, c0:c1] = x[..., r0 - top:r1 - top, c0 - left:c1 - left]\n"
         "    return out\n"),
        ("        x = torch.cat([skip, x], dim=1)  # (B, in, H, W)\n",
         "        x = torch.cat((x, skip), 1)  # (B, in, H, W)\n"),
        ("    return pred >= math.log(threshold / (1 - threshold))\n", "    return torch.sigmoid(pred) >= threshold\n"),
        ("    p = binarize(pred, threshold=threshold, from_logits=from_logits).flatten(1).float()  # (B, H*W)\n"
         "    t = (target > 0.5).flatten(1).float()  # (B, H*W)\n"
         "    inter = (p * t).sum(1)  # (B,)\n"
         "    total = p.sum(1) + t.sum(1)  # (B,)\n"
         "    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))\n",
         "    p = binarize(pred, threshold=threshold, from_logits=from_logits).flatten(1)  # (B, H*W) bool\n"
         "    t = target.flatten(1) > 0.5\n"
         "    inter = torch.logical_and(p, t).sum(1).float()  # (B,)\n"
         "    total = (p.sum(1) + t.sum(1)).float()\n"
         "    return torch.where(total == 0, 1.0, 2 * inter / total)  # 0 / 0 is never selected\n"),
        ("    inter = (p * t).sum(1)  # (B,)\n"
         "    union = p.sum(1) + t.sum(1) - inter  # the overlap is counted in both areas: subtract it once\n"
         "    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))\n",
         "    inter = torch.logical_and(p > 0, t > 0).sum(1).float()  # (B,)\n"
         "    union = torch.logical_or(p > 0, t > 0).sum(1).float()\n"
         "    return torch.where(union == 0, 1.0, inter / union)\n"),
        ("    dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)  # (B,)\n",
         "    dice = (2 * torch.einsum(\"bi,bi->b\", p, t) + eps) / (p.sum(1) + t.sum(1) + eps)  # (B,)\n"),
        ("    loss = F.binary_cross_entropy_with_logits(logits, masks) + soft_dice_loss(logits, masks)\n",
         "    loss = F.binary_cross_entropy(torch.sigmoid(logits), masks) + soft_dice_loss(logits, masks)\n"),
    ],
    # Loops where the reference writes lists: a DoubleConv as a loop over its two stages, the padding list
    # built per dimension, the U's blocks appended one level at a time, the training step with model.zero_grad.
    "loops_and_module_lists": [
        ("        x = F.relu(self.bn1(self.conv1(x)))  # (B, out, H, W)\n"
         "        return F.relu(self.bn2(self.conv2(x)))  # (B, out, H, W)\n",
         "        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):\n"
         "            x = F.relu(bn(conv(x)))  # (B, out, H, W)\n"
         "        return x\n"),
        (PAD,
         "    pads = []\n"
         "    for d in (dw, dh):  # F.pad wants the last dimension first\n"
         "        pads += [d // 2, d - d // 2]\n"
         "    return F.pad(x, pads)  # (B, C, H, W)\n"),
        ("        self.downs = nn.ModuleList(\n"
         "            Down(channels[i], channels[i + 1], batch_norm=batch_norm) for i in range(depth)\n"
         "        )\n"
         "        self.ups = nn.ModuleList(\n"
         "            Up(channels[i + 1], channels[i], batch_norm=batch_norm) for i in reversed(range(depth))\n"
         "        )\n",
         "        self.downs, self.ups = nn.ModuleList(), nn.ModuleList()\n"
         "        for i in range(depth):\n"
         "            self.downs.append(Down(channels[i], channels[i + 1], batch_norm=batch_norm))\n"
         "        for i in range(depth - 1, -1, -1):\n"
         "            self.ups.append(Up(channels[i + 1], channels[i], batch_norm=batch_norm))\n"),
        ("        skips = [self.inc(x)]  # [(B, width, H, W)]\n"
         "        for down in self.downs:\n"
         "            skips.append(down(skips[-1]))  # (B, width * 2**i, H / 2**i, W / 2**i)\n"
         "        x = skips.pop()  # the bottom of the \"U\" has no skip of its own\n"
         "        for up in self.ups:\n"
         "            x = up(x, skips.pop())  # the deepest remaining skip has this Up's resolution\n",
         "        x = self.inc(x)\n"
         "        skips = []\n"
         "        for down in self.downs:\n"
         "            skips.insert(0, x)  # the newest first\n"
         "            x = down(x)\n"
         "        for up, skip in zip(self.ups, skips):\n"
         "            x = up(x, skip)\n"),
        ("    optimizer.zero_grad()\n    logits = model(images)  # (B, 1, H, W)\n",
         "    model.zero_grad(set_to_none=True)\n    logits = model(images)  # (B, 1, H, W)\n"),
        ("    return (1 - dice).mean()\n", "    return 1 - dice.mean()\n"),
    ],
}

# The checklist's patterns (docs/CHECKLIST.md), each proved by mutants that the suite before it missed.
PATTERNS = {
    "builtin": ["pad_to_match_calls_center_crop"],
    "arguments": ["down_ignores_batch_norm", "up_ignores_batch_norm", "unet_inc_ignores_batch_norm",
                  "dice_ignores_threshold", "iou_ignores_threshold", "soft_dice_eps_fixed_at_1"],
    "returns": ["binarize_returns_floats"],
    "device": ["dice_of_empty_masks_made_on_the_cpu"],
    "inputs": ["pad_split_truncates_toward_zero", "dice_is_1_when_the_target_is_empty",
               "iou_is_1_when_the_target_is_empty"],
    "init": ["batchnorm_keras_momentum"],
    # Both passed every test (accuracy included) before eps=0.0 and threshold=0.0 were tried.
    "falsy": ["soft_dice_eps_zero_read_as_not_given", "binarize_threshold_zero_read_as_not_given"],
    # Caught before only by accident: a later call on the same logits (now sigmoids) went wrong.
    "in_place": ["binarize_sigmoid_in_place"],
    # batchnorm_eps_keras passed every test (the eval-mode reference read the model's own bn.eps); the other two
    # were caught before, by the soft Dice formula and by a logit of exactly 0 and a probability of exactly 0.7.
    "constants": ["batchnorm_eps_keras", "soft_dice_eps_only_in_the_denominator",
                  "binarize_strictly_above_the_threshold"],
}

NOT_APPLICABLE = {
    "method_args": "no method takes an argument that its object was also built with: DoubleConv, Down and UNet "
                   "forward take only x, Up.forward takes x and the skip (whose size no constructor fixes), "
                   "every constructor argument (channels, depth, width, batch_norm) is fixed at construction and "
                   "never passed again, and the scores and the loss are functions with no object behind them",
}

"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 07_unet` proves
every one is caught.
"""

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
}

"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 06_resnet`
proves every one is caught.
"""

MUTANTS = {
    # The block forgets its skip: y = relu(F(x)), a plain network again.
    "basic_block_missing_skip": [
        ("        out = out + identity  # the skip", "        out = out  # the skip"),
    ],
    "bottleneck_missing_skip": [("return self.relu(out + identity)", "return self.relu(out)")],
    # The paper's v1 layout: it loads torchvision's weights (same shapes) but computes something else.
    "bottleneck_stride_on_the_1x1": [
        ("self.conv1 = conv1x1(inplanes, planes)\n", "self.conv1 = conv1x1(inplanes, planes, stride)\n"),
        ("self.conv2 = conv3x3(planes, planes, stride)\n", "self.conv2 = conv3x3(planes, planes)\n"),
    ],
    # The branch passes through a ReLU before the addition, so it can only add, never subtract.
    "relu_before_the_addition": [
        ("out = self.bn2(self.conv2(out))  # no ReLU yet", "out = self.relu(self.bn2(self.conv2(out)))  # no ReLU yet"),
        ("return self.relu(out)  # the ReLU comes after", "return out  # the ReLU comes after"),
    ],
    "downsample_without_batchnorm": [
        ("downsample = nn.Sequential(conv1x1(self.inplanes, out_channels, stride), nn.BatchNorm2d(out_channels))",
         "downsample = nn.Sequential(conv1x1(self.inplanes, out_channels, stride))"),
    ],
    # Projects only when the stride changes: ResNet-50's layer1 (64 -> 256 channels at stride 1) breaks.
    "downsample_only_on_stride": [
        ("if stride != 1 or self.inplanes != out_channels:", "if stride != 1:"),
    ],
    "bottleneck_expansion_2": [("expansion = 4  # out channels", "expansion = 2  # out channels")],
    "first_block_of_a_stage_keeps_stride_1": [
        ("layers = [block(self.inplanes, planes, stride, downsample)]",
         "layers = [block(self.inplanes, planes, 1, downsample)]"),
    ],
    "stem_without_maxpool": [
        ("            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)",
         "            self.maxpool = nn.Identity()"),
    ],
    "zero_init_the_first_batchnorm": [("nn.init.zeros_(m.bn2.weight)", "nn.init.zeros_(m.bn1.weight)")],
    "zero_init_always": [
        ("        if zero_init_residual:\n            # BEGIN", "        if True:\n            # BEGIN"),
    ],
    "mlp_stack_without_skip": [("h = h + update if self.residual else update", "h = update")],
    "mlp_stack_skip_inside_tanh": [
        ("update = torch.tanh(layer(h))  # (N, hidden_size)\n            h = h + update if self.residual else update",
         "update = layer(h)  # (N, hidden_size)\n            h = torch.tanh(h + update) if self.residual else torch.tanh(update)"),
    ],
    "train_step_forgets_zero_grad": [
        ("    optimizer.zero_grad()  # gradients add up across backward() calls otherwise\n", ""),
    ],
}

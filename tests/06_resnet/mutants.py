"""Plausible learner bugs that the suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 06_resnet`
proves every one is caught, and that every MUST_PASS variant passes every test.
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
    # builtin: torchvision's forward runs on the learner's modules (same attribute names) and passes every
    # equivalence test.
    "basic_block_forward_calls_torchvision": [
        ("import torch\nimport torch.nn.functional as F\n",
         "import torch\nimport torch.nn.functional as F\nimport torchvision\n"),
        ("        identity = x if self.downsample is None else self.downsample(x)  # (B, planes, H', W')\n"
         "        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H', W')\n",
         "        return torchvision.models.resnet.BasicBlock.forward(self, x)\n"
         "        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H', W')\n"),
    ],
    "resnet_forward_calls_torchvision": [
        ("import torch\nimport torch.nn.functional as F\n",
         "import torch\nimport torch.nn.functional as F\nimport torchvision.models\n"),
        ("        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, width, H/4, W/4); "
         "(B, width, H, W) if small_input\n",
         "        return torchvision.models.ResNet.forward(self, x)\n"),
    ],
    # arguments: small_input half done (a 3x3 stride-1 conv1, but the max-pool kept), or not at all. Every
    # output shape stays right: global average pooling hides the lost resolution.
    "small_input_keeps_the_maxpool": [
        ("            self.maxpool = nn.Identity()  # no parameters: the state dict is unchanged",
         "            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)"),
    ],
    "small_input_ignored": [("        if small_input:\n", "        if False:\n")],
    # returns: the loss of a second forward pass, after the step (which also moves BatchNorm's running
    # statistics twice per batch); a cross-entropy with label smoothing, not the one the docstring names.
    "train_step_returns_the_loss_after_the_step": [
        ("    return loss.item()  # a float: the tensor would keep the whole graph alive",
         "    return F.cross_entropy(model(X), y).item()  # a float: the tensor would keep the whole graph alive"),
    ],
    "train_step_with_label_smoothing": [
        ("loss = F.cross_entropy(model(X), y)  # (B", "loss = F.cross_entropy(model(X), y, label_smoothing=0.1)  # (B"),
    ],
    # device: a zero "skip" for the plain stack, made on the CPU by default: fine on the CPU, fails on a GPU.
    "mlp_stack_plain_skip_made_on_the_cpu": [
        ("h = h + update if self.residual else update", "h = (h if self.residual else torch.zeros(h.shape)) + update"),
    ],
    # inputs: squeeze() instead of flatten(x, 1): one image in a batch comes out as (num_classes,).
    "flatten_with_squeeze": [("x = torch.flatten(self.avgpool(x), 1)", "x = self.avgpool(x).squeeze()")],
    # init: zero_init_residual zeroes every BatchNorm (the stem's and the projections' too); each block is still
    # an identity at initialisation, so only the complement check sees it.
    "zero_init_every_batchnorm": [
        ("                if isinstance(m, BasicBlock):\n                    nn.init.zeros_(m.bn2.weight)",
         "                if isinstance(m, nn.BatchNorm2d):\n                    nn.init.zeros_(m.weight)"),
    ],
    # init (train mode): Keras's momentum convention (the weight of the old value) in PyTorch's argument:
    # identical in eval mode with loaded statistics, wrong running statistics after training.
    "batchnorm_keras_momentum": [
        ("        self.bn1 = nn.BatchNorm2d(planes)\n        self.relu = nn.ReLU(inplace=True)\n"
         "        self.conv2 = conv3x3(planes, planes)\n",
         "        self.bn1 = nn.BatchNorm2d(planes, momentum=0.9)\n        self.relu = nn.ReLU(inplace=True)\n"
         "        self.conv2 = conv3x3(planes, planes)\n"),
    ],
    # init (train mode): F.batch_norm with the running statistics normalises with them in train mode too and
    # never updates them.
    "batchnorm_always_uses_running_statistics": [
        ("out = self.bn2(self.conv2(out))  # no ReLU yet",
         "out = F.batch_norm(self.conv2(out), self.bn2.running_mean, self.bn2.running_var, self.bn2.weight, "
         "self.bn2.bias)  # no ReLU yet"),
    ],
    # method_args: _make_layer builds the block the constructor was given (kept as self.block), not the one it
    # is called with; every stage the constructor builds is still right.
    "make_layer_builds_the_constructors_block": [
        ("        if small_input:\n            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3",
         "        self.block = block\n"
         "        if small_input:\n            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3"),
        ("        out_channels = planes * block.expansion\n", "        out_channels = planes * self.block.expansion\n"),
        ("        layers = [block(self.inplanes, planes, stride, downsample)]\n",
         "        layers = [self.block(self.inplanes, planes, stride, downsample)]\n"),
        ("        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]\n",
         "        layers += [self.block(self.inplanes, planes) for _ in range(1, blocks)]\n"),
    ],
    # in_place: the correction added into the shortcut in place; without a projection the shortcut is the
    # caller's x, which the block then overwrites (forward promises nothing of the kind).
    "basic_block_adds_the_branch_into_x": [
        ("        out = out + identity  # the skip: the block learns F(x) = y - x, a correction to x\n"
         "        return self.relu(out)",
         "        identity += out  # the skip: the block learns F(x) = y - x, a correction to x\n"
         "        return self.relu(identity)"),
    ],
    # constants: Keras' BatchNorm epsilon (1e-3) instead of PyTorch's and torchvision's 1e-5.
    "batchnorm_eps_keras": [
        ("        self.bn1 = nn.BatchNorm2d(planes)\n        self.relu = nn.ReLU(inplace=True)\n"
         "        self.conv2 = conv3x3(planes, planes)\n",
         "        self.bn1 = nn.BatchNorm2d(planes, eps=1e-3)\n        self.relu = nn.ReLU(inplace=True)\n"
         "        self.conv2 = conv3x3(planes, planes)\n"),
    ],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # Functional style: F.relu instead of the modules, the branch before the shortcut, a mean over H and W
    # instead of avgpool + flatten, the skip as `+ (h or 0)`, cross-entropy as log-softmax + NLL.
    "functional_style": [
        ("        identity = x if self.downsample is None else self.downsample(x)  # (B, planes, H', W')\n"
         "        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H', W')\n"
         "        out = self.bn2(self.conv2(out))  # no ReLU yet: the branch must be able to output negative "
         "corrections\n"
         "        out = out + identity  # the skip: the block learns F(x) = y - x, a correction to x\n"
         "        return self.relu(out)  # the ReLU comes after the addition (section 3.2, Fig. 2)\n",
         "        branch = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))  # (B, planes, H', W')\n"
         "        shortcut = self.downsample(x) if self.downsample is not None else x\n"
         "        return F.relu(torch.add(branch, shortcut))\n"),
        ("        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H, W)\n"
         "        out = self.relu(self.bn2(self.conv2(out)))  # (B, planes, H', W')\n"
         "        out = self.bn3(self.conv3(out))  # (B, 4 * planes, H', W')\n"
         "        return self.relu(out + identity)\n",
         "        out = F.relu(self.bn1(self.conv1(x)))  # (B, planes, H, W)\n"
         "        out = F.relu(self.bn2(self.conv2(out)))  # (B, planes, H', W')\n"
         "        return F.relu(self.bn3(self.conv3(out)) + identity)\n"),
        ("        x = torch.flatten(self.avgpool(x), 1)  # (B, 8 * width * expansion)\n",
         "        x = x.mean(dim=(2, 3))  # (B, 8 * width * expansion): global average pooling by hand\n"),
        ("            update = torch.tanh(layer(h))  # (N, hidden_size)\n"
         "            h = h + update if self.residual else update\n",
         "            h = torch.tanh(layer(h)) + (h if self.residual else 0)  # (N, hidden_size)\n"),
        ("    loss = F.cross_entropy(model(X), y)  # (B, num_classes) logits: the softmax is inside the loss\n",
         "    loss = F.nll_loss(F.log_softmax(model(X), dim=1), y)  # cross-entropy in two steps\n"),
    ],
    # Loops where the reference writes lists out: the stages, the blocks of a stage and the zero-init, plus an
    # empty nn.Sequential as the identity max-pool, a summed loss divided by the batch, model.zero_grad().
    "loops_and_explicit_zero_init": [
        ("        self.downsample = downsample  # registered as a submodule (downsample.0, downsample.1) when given\n"
         "        self.stride = stride\n", "        self.stride = stride\n"),
        ("        self.conv1 = conv3x3(inplanes, planes, stride)\n",
         "        self.downsample = downsample\n        self.conv1 = conv3x3(inplanes, planes, stride)\n"),
        ("            self.maxpool = nn.Identity()  # no parameters: the state dict is unchanged\n",
         "            self.maxpool = nn.Sequential()  # an empty Sequential returns its input\n"),
        ("        self.layer1 = self._make_layer(block, width, layers[0])\n"
         "        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)\n"
         "        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)\n"
         "        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)\n",
         "        for i, blocks in enumerate(layers):\n"
         "            stage = self._make_layer(block, width * 2**i, blocks, stride=1 if i == 0 else 2)\n"
         "            setattr(self, f\"layer{i + 1}\", stage)\n"),
        ("            for m in self.modules():\n"
         "                if isinstance(m, BasicBlock):\n"
         "                    nn.init.zeros_(m.bn2.weight)  # the branch outputs 0: the block is relu(x + 0) = x\n"
         "                elif isinstance(m, Bottleneck):\n"
         "                    nn.init.zeros_(m.bn3.weight)\n",
         "            for stage in (self.layer1, self.layer2, self.layer3, self.layer4):\n"
         "                for m in stage:\n"
         "                    last = m.bn3 if isinstance(m, Bottleneck) else m.bn2\n"
         "                    with torch.no_grad():\n"
         "                        last.weight.fill_(0.0)\n"),
        ("        layers = [block(self.inplanes, planes, stride, downsample)]\n"
         "        self.inplanes = out_channels\n"
         "        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]\n"
         "        return nn.Sequential(*layers)\n",
         "        stage = nn.Sequential()\n"
         "        for i in range(blocks):\n"
         "            if i == 0:\n"
         "                stage.append(block(self.inplanes, planes, stride, downsample))\n"
         "                self.inplanes = out_channels\n"
         "            else:\n"
         "                stage.append(block(self.inplanes, planes))\n"
         "        return stage\n"),
        ("            update = torch.tanh(layer(h))  # (N, hidden_size)\n"
         "            h = h + update if self.residual else update\n",
         "            if self.residual:\n"
         "                h = h + torch.tanh(layer(h))\n"
         "            else:\n"
         "                h = torch.tanh(layer(h))\n"),
        ("    optimizer.zero_grad()  # gradients add up across backward() calls otherwise\n"
         "    loss = F.cross_entropy(model(X), y)  # (B, num_classes) logits: the softmax is inside the loss\n",
         "    model.zero_grad()\n"
         "    loss = F.cross_entropy(model(X), y, reduction=\"sum\") / len(y)\n"),
    ],
}

# The checklist's patterns (docs/CHECKLIST.md), each proved by mutants that the suite before it missed (or,
# for small_input_ignored and batchnorm_always_uses_running_statistics, caught only by the accuracy bar).
PATTERNS = {
    "builtin": ["basic_block_forward_calls_torchvision", "resnet_forward_calls_torchvision"],
    "arguments": ["small_input_keeps_the_maxpool", "small_input_ignored"],
    "returns": ["train_step_returns_the_loss_after_the_step", "train_step_with_label_smoothing"],
    "device": ["mlp_stack_plain_skip_made_on_the_cpu"],
    "inputs": ["flatten_with_squeeze"],
    "init": ["zero_init_every_batchnorm", "batchnorm_keras_momentum", "batchnorm_always_uses_running_statistics"],
    # Passed every test, accuracy included, before test_make_layer_builds_the_block_it_is_given.
    "method_args": ["make_layer_builds_the_constructors_block"],
    # Caught before only by accident (the stem test's hook kept layer1's input, which the block then
    # overwrote) and by the accuracy test (autograd's error: ReLU's output modified in place); now by the
    # input checks of the shape tests.
    "in_place": ["basic_block_adds_the_branch_into_x"],
    # Caught before too, by the comparisons with torchvision (running variances 0.5-1.5).
    "constants": ["batchnorm_eps_keras"],
}

NOT_APPLICABLE = {
    "falsy": "no argument of a task changes meaning when a falsy value is read as 'not given': the flags "
             "small_input and zero_init_residual default to False (reading False as the default gives False), "
             "zero_init_residual's `if` and MLPStack's self.residual are given code, downsample=None is itself "
             "the 'not given' value (an empty nn.Sequential would be an identity shortcut either way), and "
             "stride, planes, width, layers, num_classes and in_channels have no meaningful zero. The suite "
             "still passes small_input=False, zero_init_residual=False, residual=False and downsample=None "
             "explicitly and checks their effect",
}

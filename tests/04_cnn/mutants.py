"""Plausible learner bugs that the 04 CNN suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 04_cnn` proves
every one is caught.
"""

MUTANTS = {
    # The textbook convolution flips the kernel; PyTorch's conv2d (and every CNN library) does not.
    "flipped_kernel_true_convolution": [
        ("out = weight.reshape(O, -1) @ cols", "out = weight.flip(-2, -1).reshape(O, -1) @ cols"),
    ],
    "padding_ignored_by_unfold": [
        ("cols = F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)",
         "cols = F.unfold(x, (kH, kW), dilation=dilation, stride=stride)"),
    ],
    "stride_and_dilation_swapped": [
        ("cols = F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)",
         "cols = F.unfold(x, (kH, kW), dilation=stride, padding=padding, stride=dilation)"),
    ],
    "dilation_ignored": [
        ("cols = F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)",
         "cols = F.unfold(x, (kH, kW), padding=padding, stride=stride)"),
        ("H_out = conv_output_size(H, kH, stride=stride, padding=padding, dilation=dilation)",
         "H_out = conv_output_size(H, kH, stride=stride, padding=padding)"),
        ("W_out = conv_output_size(W, kW, stride=stride, padding=padding, dilation=dilation)",
         "W_out = conv_output_size(W, kW, stride=stride, padding=padding)"),
    ],
    "bias_missing": [
        ("    if bias is not None:\n        out = out + bias.view(1, O, 1)  # one bias per filter, shared by every position\n",
         ""),
    ],
    # A bias added after the reshape broadcasts along the width, not the channels.
    "bias_added_along_the_width": [
        ("        out = out + bias.view(1, O, 1)  # one bias per filter, shared by every position\n"
         "    return out.view(B, O, H_out, W_out)",
         "        return out.view(B, O, H_out, W_out) + bias\n    return out.view(B, O, H_out, W_out)"),
    ],
    "output_size_rounds_up": [
        ("return (size + 2 * padding - span) // stride + 1", "return -(-(size + 2 * padding - span) // stride) + 1"),
    ],
    "output_size_forgets_dilation": [
        ("span = dilation * (kernel_size - 1) + 1", "span = kernel_size"),
    ],
    "pooling_takes_the_mean": [("return windows.amax(dim=(-2, -1))", "return windows.mean(dim=(-2, -1))")],
    # Zero padding beats every negative input inside a padded window.
    "pooling_pads_with_zeros": [
        ("x = F.pad(x, (padding, padding, padding, padding), value=-math.inf)",
         "x = F.pad(x, (padding, padding, padding, padding), value=0.0)"),
    ],
    "pooling_default_stride_1": [("stride = kernel_size if stride is None else stride", "stride = stride or 1")],
    # Windows always side by side, whatever the stride asked for.
    "pooling_ignores_the_stride": [
        ("windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)",
         "windows = x.unfold(2, kernel_size, kernel_size).unfold(3, kernel_size, kernel_size)"),
    ],
    "weights_from_randn": [
        ("self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-bound, bound))",
         "self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))"),
    ],
    "layer_forgets_its_padding": [
        ("return conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation)",
         "return conv2d(x, self.weight, self.bias, stride=self.stride, dilation=self.dilation)"),
    ],
    "lenet_without_relu": [
        ("x = max_pool2d(torch.relu(self.conv1(x)), 2)", "x = max_pool2d(self.conv1(x), 2)"),
        ("return max_pool2d(torch.relu(self.conv2(x)), 2)", "return max_pool2d(self.conv2(x), 2)"),
    ],
    "lenet_without_pooling": [
        ("x = max_pool2d(torch.relu(self.conv1(x)), 2)", "x = torch.relu(self.conv1(x))"),
        ("return max_pool2d(torch.relu(self.conv2(x)), 2)", "return torch.relu(self.conv2(x))"),
        ("size = conv_output_size(size, 2, stride=2)  # pool\n        size = conv_output_size(size, 5)",
         "size = conv_output_size(size, 5)"),
        ("size = conv_output_size(size, 2, stride=2)  # pool\n        self.fc1", "self.fc1"),
    ],
    "lenet_fc1_sized_for_28_pixels_only": [
        ("self.fc1 = nn.Linear(c2 * size * size, hidden_size)", "self.fc1 = nn.Linear(c2 * 5 * 5, hidden_size)"),
    ],

    # ---------------------------------------------------------------- the checklist's patterns (docs/CHECKLIST.md)
    # builtin: the shortcuts the lesson rules out.
    "conv2d_calls_F_conv2d": [
        ("    H_out = conv_output_size(H, kH, stride=stride, padding=padding, dilation=dilation)\n",
         "    return F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)\n"
         "    H_out = conv_output_size(H, kH, stride=stride, padding=padding, dilation=dilation)\n"),
    ],
    "max_pool2d_calls_F_max_pool2d": [
        ("stride = kernel_size if stride is None else stride",
         "return F.max_pool2d(x, kernel_size, stride, padding)"),
    ],
    "layer_calls_F_conv2d": [
        ("return conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation)",
         "return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation)"),
    ],
    "lenet_pools_with_F_max_pool2d": [
        ("x = max_pool2d(torch.relu(self.conv1(x)), 2)", "x = F.max_pool2d(torch.relu(self.conv1(x)), 2)"),
        ("return max_pool2d(torch.relu(self.conv2(x)), 2)", "return F.max_pool2d(torch.relu(self.conv2(x)), 2)"),
    ],
    # arguments: LeNet's keyword arguments, each left at its default value by the old suite.
    "lenet_ignores_num_classes": [
        ("self.fc2 = nn.Linear(hidden_size, num_classes)", "self.fc2 = nn.Linear(hidden_size, 10)"),
    ],
    "lenet_ignores_channels": [("c1, c2 = channels", "c1, c2 = 6, 16")],
    "lenet_ignores_hidden_size": [
        ("self.fc1 = nn.Linear(c2 * size * size, hidden_size)\n        self.fc2 = nn.Linear(hidden_size, num_classes)",
         "self.fc1 = nn.Linear(c2 * size * size, 84)\n        self.fc2 = nn.Linear(84, num_classes)"),
    ],
    # LeCun's padding of 2, whatever the argument says (sized consistently, so nothing crashes).
    "lenet_ignores_padding": [
        ("self.conv1 = Conv2d(in_channels, c1, 5, padding=padding)",
         "self.conv1 = Conv2d(in_channels, c1, 5, padding=2)"),
        ("size = conv_output_size(image_size, 5, padding=padding)",
         "size = conv_output_size(image_size, 5, padding=2)"),
    ],
    # device: a tensor made on the CPU (torch's default device), whatever the input's device.
    "pooling_pads_on_the_cpu": [
        ("x = F.pad(x, (padding, padding, padding, padding), value=-math.inf)  # (B, C, H + 2p, W + 2p)",
         "padded = torch.full((*x.shape[:2], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding), -math.inf, "
         "dtype=x.dtype)\n"
         "    padded[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]] = x\n"
         "    x = padded"),
    ],
    "conv2d_zero_bias_on_the_cpu": [
        ("    if bias is not None:\n        out = out + bias.view(1, O, 1)",
         "    if bias is None:\n        bias = torch.zeros(O, dtype=x.dtype)\n    if True:\n        out = out + bias.view(1, O, 1)"),
    ],
    # inputs: view() needs a contiguous weight; a channels_last layer's weight is not.
    "weight_flattened_with_view": [
        ("out = weight.reshape(O, -1) @ cols", "out = weight.view(O, -1) @ cols"),
    ],
    # init: He's uniform (bound sqrt(6 / fan_in)) instead of nn.Conv2d's ±1/sqrt(fan_in); zero biases.
    "conv_init_kaiming_uniform": [
        ("self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-bound, bound))",
         "self.weight = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(out_channels, in_channels, kernel_size, kernel_size)))"),
    ],
    "conv_bias_zero_init": [
        ("self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None",
         "self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None"),
    ],
    # falsy: padding=0 read as "not given", consistently (fc1 sized for it too, so nothing crashes).
    "lenet_padding_zero_read_as_not_given": [
        ("        c1, c2 = channels\n", "        c1, c2 = channels\n        padding = padding or 2  # LeCun's padding\n"),
    ],
    # in_place: the -inf padding traded for a shift that makes every value >= 0 (so zero padding never
    # wins), written in place into the caller's x. Values and shapes stay right.
    "pooling_shifts_x_in_place_to_pad_with_zeros": [
        ("    x = F.pad(x, (padding, padding, padding, padding), value=-math.inf)  # (B, C, H + 2p, W + 2p)\n",
         "    shift = x.min()\n"
         "    x -= shift  # every value >= 0 now, so zero padding never wins the max\n"
         "    x = F.pad(x, (padding, padding, padding, padding))  # (B, C, H + 2p, W + 2p)\n"),
        ("    return windows.amax(dim=(-2, -1))  # (B, C, H_out, W_out)\n",
         "    return windows.amax(dim=(-2, -1)) + shift  # (B, C, H_out, W_out)\n"),
    ],
}

# Which mutants prove each pattern of the suite author's checklist (docs/CHECKLIST.md).
PATTERNS = {
    "builtin": ["conv2d_calls_F_conv2d", "max_pool2d_calls_F_max_pool2d", "layer_calls_F_conv2d",
                "lenet_pools_with_F_max_pool2d"],
    "arguments": ["lenet_ignores_num_classes", "lenet_ignores_channels", "lenet_ignores_hidden_size",
                  "lenet_ignores_padding", "dilation_ignored"],
    # Caught only because a test recomputes LeNet's features and logits from its own weights.
    "returns": ["lenet_without_relu"],
    "device": ["pooling_pads_on_the_cpu", "conv2d_zero_bias_on_the_cpu"],
    "inputs": ["weight_flattened_with_view", "pooling_pads_with_zeros", "bias_added_along_the_width"],
    "init": ["conv_init_kaiming_uniform", "conv_bias_zero_init"],
    "falsy": ["lenet_padding_zero_read_as_not_given"],
    "in_place": ["pooling_shifts_x_in_place_to_pad_with_zeros"],
    # max_pool2d's documented default stride=None (= kernel_size); the floor of conv_output_size's formula.
    "constants": ["pooling_default_stride_1", "output_size_rounds_up"],
}
NOT_APPLICABLE = {
    "method_args": "no method takes an argument that the object was built with: Conv2d.forward, LeNet.features "
                   "and LeNet.forward take only the input x, and every setting (stride, padding, dilation, sizes) "
                   "comes from the constructor (layer_forgets_its_padding proves forward reads them); conv2d, "
                   "max_pool2d and conv_output_size are plain functions given all their settings at each call",
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # conv2d without im2col: one einsum per kernel tap over strided slices of the padded input;
    # the output size by math.floor; the layer's init through nn.init.
    "conv_by_kernel_taps": [
        ("    cols = F.unfold(x, (kH, kW), dilation=dilation, padding=padding, stride=stride)  # (B, C*kH*kW, L)\n"
         "    out = weight.reshape(O, -1) @ cols  # (O, C*kH*kW) @ (B, C*kH*kW, L) -> (B, O, L)\n"
         "    if bias is not None:\n"
         "        out = out + bias.view(1, O, 1)  # one bias per filter, shared by every position\n"
         "    return out.view(B, O, H_out, W_out)  # positions come out row by row, as view expects\n",
         "    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H + 2p, W + 2p)\n"
         "    out = x.new_zeros(B, O, H_out, W_out)\n"
         "    for u in range(kH):\n"
         "        for v in range(kW):\n"
         "            top, left = u * dilation, v * dilation  # where tap (u, v) sits in the first window\n"
         "            taps = padded[:, :, top:top + stride * (H_out - 1) + 1:stride,\n"
         "                          left:left + stride * (W_out - 1) + 1:stride]  # (B, C, H_out, W_out)\n"
         "            out = out + torch.einsum(\"oc,bchw->bohw\", weight[:, :, u, v], taps)\n"
         "    if bias is not None:\n"
         "        out = out + bias[None, :, None, None]\n"
         "    return out\n"),
        ("    span = dilation * (kernel_size - 1) + 1\n    return (size + 2 * padding - span) // stride + 1\n",
         "    return math.floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1\n"),
        ("self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size).uniform_(-bound, bound))",
         "self.weight = nn.Parameter(nn.init.uniform_(torch.empty(out_channels, in_channels, kernel_size, kernel_size), -bound, bound))"),
    ],
    # Pooling by F.unfold with the channels folded into the batch; LeNet in functional style, fc1
    # sized by a closed formula, the bias drawn as a scaled torch.rand.
    "pool_by_F_unfold_functional_lenet": [
        ("    windows = x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride)  # (B, C, H_out, W_out, k, k)\n",
         "    B, C, H, W = x.shape  # padded\n"
         "    H_out, W_out = (H - kernel_size) // stride + 1, (W - kernel_size) // stride + 1\n"
         "    cols = F.unfold(x.reshape(B * C, 1, H, W), kernel_size, stride=stride)  # (B*C, k*k, L)\n"),
        ("    return windows.amax(dim=(-2, -1))  # (B, C, H_out, W_out)\n",
         "    return cols.amax(dim=1).reshape(B, C, H_out, W_out)\n"),
        ("self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None",
         "self.bias = nn.Parameter((torch.rand(out_channels) * 2 - 1) * bound) if bias else None"),
        ("        size = conv_output_size(image_size, 5, padding=padding)  # conv1\n"
         "        size = conv_output_size(size, 2, stride=2)  # pool\n"
         "        size = conv_output_size(size, 5)  # conv2\n"
         "        size = conv_output_size(size, 2, stride=2)  # pool\n",
         "        size = (image_size + 2 * padding) // 4 - 3  # ((n + 2p - 4) // 2 - 4) // 2\n"),
        ("x = max_pool2d(torch.relu(self.conv1(x)), 2)",
         "x = max_pool2d(F.relu(self.conv1(x)), kernel_size=2, stride=2)"),
        ("return max_pool2d(torch.relu(self.conv2(x)), 2)",
         "return max_pool2d(F.relu(self.conv2(x)), kernel_size=2, stride=2)"),
        ("x = self.features(x).flatten(1)", "x = self.features(x).view(x.size(0), -1)"),
        ("return self.fc2(torch.relu(self.fc1(x)))", "return self.fc2(F.relu(self.fc1(x)))"),
    ],
}

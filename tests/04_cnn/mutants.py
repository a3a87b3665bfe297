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
        ("    if bias is not None:\n        out = out + bias.view(1, O, 1)  # one bias per filter, shared by every position\n", ""),
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
}

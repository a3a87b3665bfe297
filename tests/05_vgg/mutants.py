"""Plausible learner bugs that the 05 VGG suite must reject.

Each mutant names a bug and the edits that put it into the solution: (old, new)
pairs, each `old` found exactly once. `uv run pytest grader/tests -k 05_vgg` proves
every one is caught.
"""

MUTANTS = {
    # Table 1 copied with one 256 missing in D: 12 convolutions, VGG-15.
    "config_D_missing_conv": [
        ('"D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"', '"D": [64, 64, "M", 128, 128, "M", 256, 256, "M"'),
    ],
    # Normalising after the nonlinearity: same parameters, shifted keys (features.1 is ReLU).
    "batchnorm_after_relu": [
        ("layers += [conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)]",
         "layers += [conv, nn.ReLU(inplace=True), nn.BatchNorm2d(out)]"),
    ],
    # "BatchNorm has its own shift, so the conv needs no bias": true, but not torchvision's keys.
    "conv_bias_off_with_batchnorm": [
        ("conv = nn.Conv2d(channels, out, kernel_size=3, padding=1)",
         "conv = nn.Conv2d(channels, out, kernel_size=3, padding=1, bias=not batch_norm)"),
        ("nn.init.zeros_(m.bias)\n            elif isinstance(m, nn.BatchNorm2d):",
         "if m.bias is not None:\n                    nn.init.zeros_(m.bias)\n            elif isinstance(m, nn.BatchNorm2d):"),
    ],
    # The pools forgotten: the same parameters, keys shift, and no downsampling.
    "max_pools_skipped": [
        ("layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # halves H and W", "pass"),
    ],
    # A pool that does not downsample: keys, shapes and counts all match torchvision's.
    "max_pool_stride_1": [
        ("nn.MaxPool2d(kernel_size=2, stride=2)", "nn.MaxPool2d(kernel_size=2, stride=1)"),
    ],
    # Convolutions without padding: identical weights, but each shrinks the image by 2.
    "conv_without_padding": [
        ("conv = nn.Conv2d(channels, out, kernel_size=3, padding=1)",
         "conv = nn.Conv2d(channels, out, kernel_size=3)"),
    ],
    # The last Dropout left out: the final Linear moves from classifier.6 to classifier.5.
    "classifier_missing_last_dropout": [
        ("nn.ReLU(inplace=True),\n            nn.Dropout(p=dropout),\n            nn.Linear(hidden_size, num_classes)",
         "nn.ReLU(inplace=True),\n            nn.Linear(hidden_size, num_classes)"),
    ],
    # A ReLU after the last Linear: logits can no longer be negative; keys unchanged.
    "relu_after_logits": [
        ("nn.Linear(hidden_size, num_classes),  # logits",
         "nn.Linear(hidden_size, num_classes), nn.ReLU(),  # logits"),
    ],
    # A fixed 7x7 pool: the narrow model's classifier expects 64 * 7 * 7 inputs.
    "avgpool_ignores_pool_size": [
        ("nn.AdaptiveAvgPool2d((pool_size, pool_size))", "nn.AdaptiveAvgPool2d((7, 7))"),
        ("nn.Linear(out_channels * pool_size * pool_size, hidden_size)",
         "nn.Linear(out_channels * 7 * 7, hidden_size)"),
    ],
    # Flattening channels-last: the right shape, but torchvision's weights see shuffled features.
    "flatten_channels_last": [
        ("x = torch.flatten(x, 1)", "x = torch.flatten(x.permute(0, 2, 3, 1), 1)"),
    ],
    # width_divisor forgotten: the "narrow" model is full width.
    "width_divisor_ignored": [("out = v // width_divisor", "out = v")],
    # Linear layers initialised like convolutions would be, std 1.
    "linear_init_std_1": [("nn.init.normal_(m.weight, 0, 0.01)", "nn.init.normal_(m.weight, 0, 1.0)")],

    # ---------------------------------------------------------------- the checklist's patterns (docs/CHECKLIST.md)
    # builtin: torchvision's own builders, which the suite compares with.
    "make_layers_calls_torchvision": [
        ("    layers: list[nn.Module] = []\n    channels = in_channels\n",
         "    from torchvision.models.vgg import make_layers as torchvision_make_layers\n"
         "    layers = torchvision_make_layers([v if v == \"M\" else v // width_divisor for v in cfg], batch_norm)\n"
         "    layers[0] = nn.Conv2d(in_channels, layers[0].out_channels, kernel_size=3, padding=1)\n"
         "    return layers\n"
         "    layers: list[nn.Module] = []\n    channels = in_channels\n"),
    ],
    "forward_calls_torchvision_forward": [
        ("        x = self.features(x)  # (B, 512, H/32, W/32)\n",
         "        import torchvision\n        return torchvision.models.VGG.forward(self, x)\n"
         "        x = self.features(x)  # (B, 512, H/32, W/32)\n"),
    ],
    # arguments: vgg() forgets to pass dropout or init_weights on; VGG always initialises.
    "vgg_ignores_dropout": [
        ("hidden_size=hidden_size,\n               dropout=dropout, init_weights=init_weights)",
         "hidden_size=hidden_size,\n               init_weights=init_weights)"),
    ],
    "vgg_ignores_init_weights": [
        ("hidden_size=hidden_size,\n               dropout=dropout, init_weights=init_weights)",
         "hidden_size=hidden_size,\n               dropout=dropout)"),
    ],
    "VGG_ignores_init_weights": [
        ("        if init_weights:\n            self._init_weights()", "        self._init_weights()"),
    ],
    # device: `x.float()` "for uint8 images" makes a float64 model fail.
    "forward_casts_to_float32": [
        ("x = self.features(x)  # (B, 512, H/32, W/32)", "x = self.features(x.float())  # (B, 512, H/32, W/32)"),
    ],
    # inputs: Caffe's rounding (the paper's original framework) keeps a half window at odd sizes.
    "max_pool_ceil_mode": [
        ("layers.append(nn.MaxPool2d(kernel_size=2, stride=2))",
         "layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))"),
    ],
    # init: He's uniform has the same std as He's normal; Keras' momentum (0.99) weights the batch 0.99 here.
    "conv_init_kaiming_uniform": [
        ('nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")',
         'nn.init.kaiming_uniform_(m.weight, mode="fan_out", nonlinearity="relu")'),
    ],
    "batchnorm_keras_momentum": [
        ("layers += [conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)]",
         "layers += [conv, nn.BatchNorm2d(out, momentum=0.99), nn.ReLU(inplace=True)]"),
    ],

    # falsy: dropout=0.0 read as "not given" (`dropout or 0.5`), in the module or in the builder.
    "VGG_dropout_zero_read_as_not_given": [
        ("        self.features = features\n",
         "        self.features = features\n        dropout = dropout or 0.5  # none given: the paper's\n"),
    ],
    "vgg_dropout_zero_read_as_not_given": [
        ("dropout=dropout, init_weights=init_weights)", "dropout=dropout or 0.5, init_weights=init_weights)"),
    ],
    # method_args: _init_weights asks the constructor's flag instead of doing what it is called to do, so
    # model._init_weights() on a model built with init_weights=False changes nothing.
    "init_weights_checks_the_constructors_flag": [
        ("        if init_weights:\n            self._init_weights()",
         "        self.init_weights = init_weights\n        self._init_weights()"),
        ("        for m in self.modules():\n            if isinstance(m, nn.Conv2d):",
         "        if not self.init_weights:\n            return\n"
         "        for m in self.modules():\n            if isinstance(m, nn.Conv2d):"),
    ],
    # in_place: make_layers narrows the caller's cfg in place (its vgg reads the width before the call, so the
    # model is right); torchvision's module-level table handed out itself; new Linear parameters instead of
    # initialising the ones the model (and any optimizer) holds.
    "make_layers_divides_cfg_in_place": [
        ("    channels = in_channels\n    for v in cfg:\n",
         "    channels = in_channels\n    for i, v in enumerate(cfg):  # narrow the table first\n"
         "        if v != \"M\":\n            cfg[i] = v // width_divisor\n    for v in cfg:\n"),
        ("        out = v // width_divisor\n", "        out = v\n"),
        ("    features = make_layers(layers, batch_norm, in_channels=in_channels, width_divisor=width_divisor)\n"
         "    out_channels = [v for v in layers if v != \"M\"][-1] // width_divisor\n",
         "    out_channels = [v for v in layers if v != \"M\"][-1] // width_divisor\n"
         "    features = make_layers(layers, batch_norm, in_channels=in_channels, width_divisor=width_divisor)\n"),
    ],
    "config_returns_the_shared_table": [
        ("Config = list[int | str]\n",
         "Config = list[int | str]\n"
         "CFGS: dict[str, Config] = {\n"
         "    \"A\": [64, \"M\", 128, \"M\", 256, 256, \"M\", 512, 512, \"M\", 512, 512, \"M\"],\n"
         "    \"B\": [64, 64, \"M\", 128, 128, \"M\", 256, 256, \"M\", 512, 512, \"M\", 512, 512, \"M\"],\n"
         "    \"D\": [64, 64, \"M\", 128, 128, \"M\", 256, 256, 256, \"M\", 512, 512, 512, \"M\",\n"
         "          512, 512, 512, \"M\"],\n"
         "    \"E\": [64, 64, \"M\", 128, 128, \"M\", 256, 256, 256, 256, \"M\", 512, 512, 512, 512, \"M\",\n"
         "          512, 512, 512, 512, \"M\"],\n"
         "}\n"),
        ("    return list(table[name])  # a copy: a caller that edits it cannot change the table\n",
         "    return CFGS[name]  # torchvision's cfgs, kept at module level\n"),
    ],
    "init_weights_rebinds_the_parameters": [
        ("                nn.init.normal_(m.weight, 0, 0.01)\n                nn.init.zeros_(m.bias)\n",
         "                m.weight = nn.Parameter(torch.randn_like(m.weight) * 0.01)\n"
         "                m.bias = nn.Parameter(torch.zeros_like(m.bias))\n"),
    ],
    # constants: Keras' BatchNorm epsilon (1e-3) instead of PyTorch's and torchvision's 1e-5.
    "batchnorm_eps_keras": [
        ("layers += [conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)]",
         "layers += [conv, nn.BatchNorm2d(out, eps=1e-3), nn.ReLU(inplace=True)]"),
    ],
}

# Which mutants prove each pattern of the suite author's checklist (docs/CHECKLIST.md).
PATTERNS = {
    "builtin": ["make_layers_calls_torchvision", "forward_calls_torchvision_forward"],
    # width_divisor_ignored and avgpool_ignores_pool_size: caught by the old suite already; the
    # other two only by the accuracy test, now by direct checks of dropout and init_weights.
    "arguments": ["width_divisor_ignored", "avgpool_ignores_pool_size", "vgg_ignores_dropout",
                  "VGG_ignores_init_weights"],
    # Caught only by recomputing the output from torchvision's layers with the same weights.
    "returns": ["flatten_channels_last", "relu_after_logits"],
    "device": ["forward_casts_to_float32"],
    "inputs": ["max_pool_ceil_mode"],
    "init": ["conv_init_kaiming_uniform", "batchnorm_keras_momentum"],
    # The dropout pair failed only the accuracy test before test_vgg_dropout_zero_keeps_every_unit (dropout
    # 0.5 in a 64-wide head); the other four passed every test, accuracy included, before
    # test_init_weights_called_later_works_in_place and the checks that config and make_layers leave the
    # caller's lists alone.
    "falsy": ["VGG_dropout_zero_read_as_not_given", "vgg_dropout_zero_read_as_not_given"],
    "method_args": ["init_weights_checks_the_constructors_flag"],
    "in_place": ["init_weights_rebinds_the_parameters", "make_layers_divides_cfg_in_place",
                 "config_returns_the_shared_table"],
    # Caught before too, by the comparison with torchvision's layers (running variances 0.5-1.5: eps 1e-3
    # moves every output by about 5e-4).
    "constants": ["batchnorm_eps_keras"],
}

# Correct implementations written differently from the reference: the suite must accept them.
MUST_PASS = {
    # Table 1 generated from its block counts; make_layers with MaxPool2d's default stride and the
    # BatchNorm spliced in by unpacking.
    "table_from_block_counts": [
        ('    table: dict[str, Config] = {\n'
         '        "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],\n'
         '        "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],\n'
         '        "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],\n'
         '        "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",\n'
         '              512, 512, 512, 512, "M"],\n'
         '    }\n'
         '    if name not in table:\n'
         '        raise ValueError(f"unknown VGG configuration {name!r}: choose one of {sorted(table)}")\n'
         '    return list(table[name])  # a copy: a caller that edits it cannot change the table\n',
         '    blocks = {"A": (1, 1, 2, 2, 2), "B": (2, 2, 2, 2, 2), "D": (2, 2, 3, 3, 3), "E": (2, 2, 4, 4, 4)}\n'
         '    if name not in blocks:\n'
         '        raise ValueError(f"unknown VGG configuration {name!r}")\n'
         '    widths = (64, 128, 256, 512, 512)\n'
         '    return [layer for width, count in zip(widths, blocks[name]) for layer in [width] * count + ["M"]]\n'),
        ("layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # halves H and W",
         "layers.append(nn.MaxPool2d(2))  # stride defaults to the kernel size"),
        ("        if batch_norm:\n"
         "            layers += [conv, nn.BatchNorm2d(out), nn.ReLU(inplace=True)]  # normalise, then the nonlinearity\n"
         "        else:\n"
         "            layers += [conv, nn.ReLU(inplace=True)]\n",
         "        layers += [conv, *([nn.BatchNorm2d(out)] if batch_norm else []), nn.ReLU()]\n"),
    ],
    # forward with reshape, the init through the tensors' own methods, and the builder reading the
    # width off the features it built.
    "init_by_tensor_methods": [
        ("x = torch.flatten(x, 1)", "x = x.reshape(x.shape[0], -1)"),
        ('                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")\n'
         '                nn.init.zeros_(m.bias)\n',
         '                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]\n'
         '                m.weight.data.normal_(0, math.sqrt(2 / fan_out))\n'
         '                m.bias.data.zero_()\n'),
        ("                nn.init.ones_(m.weight)\n                nn.init.zeros_(m.bias)\n",
         "                m.weight.data.fill_(1)\n                m.bias.data.zero_()\n"),
        ("                nn.init.normal_(m.weight, 0, 0.01)\n                nn.init.zeros_(m.bias)\n",
         "                m.weight.data.normal_(0, 0.01)\n                m.bias.data.zero_()\n"),
        ('    out_channels = [v for v in layers if v != "M"][-1] // width_divisor\n',
         '    out_channels = [m for m in features if isinstance(m, nn.Conv2d)][-1].out_channels\n'),
    ],
}

"""The off-limits rules hold against every route to the same work (grader/rules.py).

A rule forbids an operation, not a spelling. For every rule of the built topics:

- each ATen operator it stands for fails when the learner's code reaches it by any
  route: torch._VF, torch._C._VariableFunctions, torch._C._nn / _special, torch.ops.aten
  (the packet and an overload), a Tensor method, the public function where the rule
  did not list it, the private operators that do the same work, and from inside other
  operators, TorchScript, inference mode and the meta device;
- each declared callable fails when the learner's module bound it before the test
  started: in a default argument, a closure or a list;
- a rule on autograd also holds against the engine's private doors
  (Variable._execution_engine.run_backward, the unbound _EngineBase.run_backward,
  graph._engine_run_backward), torch.func, torch.autograd.functional and forward-mode AD;
- pure-Python functions fail through their other aliases (a decorator's __wrapped__,
  torchvision's kernel registry, the module that defines them);
- and none of it touches the test's own reference calls, which take the same routes.

The "learner" here is a module written to a temporary file: its `call(f, *args)` is
the learner's code calling f. Most checks drive the guard that the suites' fixture
installs (rules._Guards) directly; the last ones run a topic's real suite on a copy of
its solution that takes a private route, as test_checklist.py does for the shortcuts
the lessons name, and check that it fails with the rule's message.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import threading
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader import mutants, roadmap, rules, runner

ROADMAP = roadmap.load()
TOPICS = ROADMAP.built

# Every task with rules, once per distinct set of declared names: (id, names).
TASKS: dict[tuple[str, ...], str] = {}
for _topic in TOPICS:
    for _task, _names in _topic.off_limits.items():
        if _names:
            TASKS.setdefault(tuple(_names), f"{_topic.slug}-{_task}")
NAMES = sorted({name for names in TASKS for name in names})


def _task_of(slug: str, task: str) -> tuple[str, ...]:
    return tuple(ROADMAP.find(slug).off_limits[task])


# ------------------------------------------------------------------ the learner's file
LEARNER = '''
import warnings

import torch

from grader.rules import resolve


def call(f, *args, **kwargs):
    """The learner's code calls f."""
    return f(*args, **kwargs)


def call_and_hide(f, *args, **kwargs):
    """The learner's code calls f and hides whatever it raises."""
    try:
        return f(*args, **kwargs)
    except Exception:
        return None


def _bind(name):
    """The callable `name` names, bound at import: before any test starts."""
    value = resolve(name)[2]
    held = [value]

    def by_default_argument(*args, _f=value, **kwargs):
        return _f(*args, **kwargs)

    def by_closure(*args, **kwargs):
        return value(*args, **kwargs)

    def from_a_list(*args, **kwargs):
        return held[0](*args, **kwargs)

    return {"default argument": by_default_argument, "closure": by_closure, "list": from_a_list}


BOUND = {name: _bind(name) for name in NAMES}

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # torch.jit.script is deprecated, and still runs

    @torch.jit.script
    def scripted_lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
        return torch.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)


class Square(torch.autograd.Function):
    """A learner's own autograd.Function: its backward runs inside the test's backward pass."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad
'''


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    path = tmp_path_factory.mktemp("learner") / "learner.py"
    path.write_text(f"NAMES = {NAMES!r}\n{LEARNER}", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("kata_test_rules_learner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def guarded(names, learner):
    """What the suites' fixture does while a test of a task with these rules runs."""
    guards = rules._Guards("task", "exercises/NN/README.md", {learner.__file__})
    try:
        guards.install(list(names), learner)
        yield guards
    finally:
        guards.restore()


def assert_caught(guards, run) -> None:
    """`run` (the learner's code at work) fails because of the rule, however the error surfaces."""
    try:
        run()
    except Exception:
        pass
    assert guards.calls, "the learner's call went through: the rule does not hold on this route"
    assert "off limits in this task" in guards.message(guards.calls[0])


# ------------------------------------------------------------------ inputs
def t(*shape, dtype=torch.float32):
    return torch.randn(*shape, dtype=dtype)


def _cell(gates):
    """input (2, 3), state (2, 4) and the weights of a cell with `gates` gates of 4 units."""
    return (t(2, 3), t(2, 4), t(gates * 4, 3), t(gates * 4, 4), t(gates * 4), t(gates * 4))


def _layer(gates):
    return [t(gates * 4, 3), t(gates * 4, 4), t(gates * 4), t(gates * 4)]


_CONV = dict(bias=None, stride=[1, 1], padding=[0, 0], dilation=[1, 1])

# Arguments for each ATen operator the rules of topics 01-11 stand for, where it runs on a CPU.
OPS = {
    "pairwise_distance": lambda: (t(3, 4), t(3, 4)),
    "triplet_margin_loss": lambda: (t(3, 4), t(3, 4), t(3, 4)),
    "sigmoid": lambda: (t(2, 3),),
    "sigmoid_": lambda: (t(2, 3),),
    "_foreach_sigmoid": lambda: ([t(2, 3)],),
    "_foreach_sigmoid_": lambda: ([t(2, 3)],),
    "special_expit": lambda: (t(2, 3),),
    "binary_cross_entropy_with_logits": lambda: (t(4), torch.rand(4)),
    "binary_cross_entropy": lambda: (torch.rand(4), torch.rand(4)),
    "softplus": lambda: (t(4),),
    "log_sigmoid": lambda: (t(4),),
    "log_sigmoid_forward": lambda: (t(4),),
    "logaddexp": lambda: (t(4), t(4)),
    "relu": lambda: (t(2, 3),),
    "relu_": lambda: (t(2, 3),),
    "_add_relu": lambda: (t(2, 3), t(2, 3)),
    "_add_relu_": lambda: (t(2, 3), t(2, 3)),
    "tanh": lambda: (t(2, 3),),
    "tanh_": lambda: (t(2, 3),),
    "_foreach_tanh": lambda: ([t(2, 3)],),
    "_foreach_tanh_": lambda: ([t(2, 3)],),
    "cross_entropy_loss": lambda: (t(2, 3), torch.tensor([0, 2])),
    "log_softmax": lambda: (t(2, 3), 1),
    "_log_softmax": lambda: (t(2, 3), 1, False),
    "special_log_softmax": lambda: (t(2, 3), 1),
    "logsumexp": lambda: (t(2, 3), [1]),
    "special_logsumexp": lambda: (t(2, 3), [1]),
    "mse_loss": lambda: (t(4), t(4)),
    "conv2d": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3)),
    "convolution": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    "_convolution": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, False,
                             False, True, True),
    "_convolution_mode": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), None, [1, 1], "valid", [1, 1], 1),
    "thnn_conv2d": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), [3, 3]),
    "_slow_conv2d_forward": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), [3, 3], None, [1, 1], [0, 0]),
    "slow_conv_dilated2d": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), [3, 3]),
    "slow_conv_transpose2d": lambda: (t(1, 2, 5, 5), t(2, 3, 3, 3), [3, 3]),
    "slow_conv3d": lambda: (t(1, 2, 1, 5, 5), t(3, 2, 1, 3, 3), [1, 3, 3]),
    "slow_conv3d_forward": lambda: (t(1, 2, 1, 5, 5), t(3, 2, 1, 3, 3), [1, 3, 3], None, [1, 1, 1], [0, 0, 0]),
    "slow_conv_dilated3d": lambda: (t(1, 2, 1, 5, 5), t(3, 2, 1, 3, 3), [1, 3, 3]),
    "slow_conv_transpose3d": lambda: (t(1, 2, 1, 5, 5), t(2, 3, 1, 3, 3), [1, 3, 3]),
    "mkldnn_convolution": lambda: (t(1, 2, 5, 5), t(3, 2, 3, 3), None, [0, 0], [1, 1], [1, 1], 1),
    "max_pool2d": lambda: (t(1, 2, 4, 4), [2, 2]),
    "max_pool2d_with_indices": lambda: (t(1, 2, 4, 4), [2, 2]),
    "embedding_bag": lambda: (t(5, 3), torch.tensor([0, 1, 4, 2]), torch.tensor([0, 2])),
    "_embedding_bag": lambda: (t(5, 3), torch.tensor([0, 1, 4, 2]), torch.tensor([0, 2])),
    "_embedding_bag_forward_only": lambda: (t(5, 3), torch.tensor([0, 1, 4, 2]), torch.tensor([0, 2])),
    "rnn_tanh_cell": lambda: _cell(1),
    "rnn_relu_cell": lambda: _cell(1),
    "rnn_tanh": lambda: (t(2, 5, 3), t(1, 2, 4), [t(4, 3), t(4, 4), t(4), t(4)], True, 1, 0.0, False, False, True),
    "rnn_relu": lambda: (t(2, 5, 3), t(1, 2, 4), [t(4, 3), t(4, 4), t(4), t(4)], True, 1, 0.0, False, False, True),
    "lstm_cell": lambda: (lambda x, h, w_ih, w_hh, b_ih, b_hh: (x, (h, t(2, 4)), w_ih, w_hh, b_ih, b_hh))(*_cell(4)),
    "gru_cell": lambda: _cell(3),
    "lstm": lambda: (t(2, 5, 3), (t(1, 2, 4), t(1, 2, 4)), _layer(4), True, 1, 0.0, False, False, True),
    "gru": lambda: (t(2, 5, 3), t(1, 2, 4), _layer(3), True, 1, 0.0, False, False, True),
    "_pack_padded_sequence": lambda: (t(3, 2, 4), torch.tensor([3, 2]), False),
}
# On a CPU-only build, or without MKL-DNN, some private kernels do not run here.
_UNAVAILABLE = {"mkldnn_convolution": not torch.backends.mkldnn.is_available()}


def _spellings(op: str) -> dict[str, object]:
    """Every Python-level route to operator `op`: {spelling: callable}."""
    found = {}
    for prefix, owner in [("torch", torch), ("torch._VF", torch._VF), ("torch._C._VariableFunctions",
                          torch._C._VariableFunctions), ("torch._C._nn", torch._C._nn),
                          ("torch._C._special", torch._C._special), ("torch.Tensor", torch.Tensor)]:
        value = getattr(owner, op, None)
        if value is not None and rules._op_name(value) == op:
            found[f"{prefix}.{op}"] = value
    packet = getattr(torch.ops.aten, op)
    found[f"torch.ops.aten.{op}"] = packet
    overload = "default" if "default" in packet.overloads() else packet.overloads()[0]
    found[f"torch.ops.aten.{op}.{overload}"] = getattr(packet, overload)
    return found


# (task names, operator, spelling): every operator of every rule, by every route the rules did not name.
KERNEL_ROUTES = []
for _names, _id in TASKS.items():
    _ops = {op for name in _names for op in rules.rule(name).ops}
    for _op in sorted(_ops):
        if _op in OPS and not _UNAVAILABLE.get(_op):
            for _spelling in _spellings(_op):
                if _spelling not in _names:
                    KERNEL_ROUTES.append(pytest.param(_names, _op, _spelling, id=f"{_id}-{_spelling}"))


@pytest.mark.parametrize(("names", "op", "spelling"), KERNEL_ROUTES)
def test_a_kernel_is_off_limits_by_every_route_and_the_tests_own_calls_go_through(learner, names, op, spelling):
    with guarded(names, learner) as guards:
        route = _spellings(op)[spelling]  # looked up now, as the learner's code would
        assert_caught(guards, lambda: learner.call(route, *OPS[op]()))
        route(*OPS[op]())  # the test's own call (a reference) by the same route


# ------------------------------------------------------------------ declared callables bound before the test
def _module(cls, *args, **kwargs):
    return cls(*args, **kwargs)


def _params_with_grads():
    params = [nn.Parameter(t(3)), nn.Parameter(t(2, 2))]
    for p in params:
        p.grad = t(*p.shape)
    return (params, 1.0)


def _graph():
    w = t(3).requires_grad_()
    return w, (w * w).sum()


def _vgg():
    import torchvision

    return torchvision.models.VGG(nn.Sequential(nn.Conv2d(3, 512, 1)), num_classes=2, init_weights=False)


def _resnet():
    import torchvision

    return torchvision.models.resnet18(num_classes=2)


def _tv(path):
    return rules.resolve(path)[2]


# Arguments for each declared Python-level callable (builtins use OPS). META: built and run on the meta device.
CALLS = {
    "torch.nn.PairwiseDistance.forward": lambda: (nn.PairwiseDistance(), t(3, 4), t(3, 4)),
    "torch.nn.functional.scaled_dot_product_attention": lambda: (t(1, 2, 3, 4), t(1, 2, 3, 4), t(1, 2, 3, 4)),
    "torch.nn.TransformerEncoderLayer.forward": lambda: (nn.TransformerEncoderLayer(4, 2, 8, 0.0, batch_first=True),
                                                         t(2, 3, 4)),
    "torch.nn.TransformerEncoder.forward": lambda: (
        nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 8, 0.0, batch_first=True), 1,
                              enable_nested_tensor=False), t(2, 3, 4)),
    "torch.nn.functional.triplet_margin_loss": lambda: (t(3, 4), t(3, 4), t(3, 4)),
    "torch.nn.TripletMarginLoss.forward": lambda: (nn.TripletMarginLoss(), t(3, 4), t(3, 4), t(3, 4)),
    "torch.nn.functional.triplet_margin_with_distance_loss": lambda: (t(3, 4), t(3, 4), t(3, 4)),
    "torch.nn.TripletMarginWithDistanceLoss.forward": lambda: (nn.TripletMarginWithDistanceLoss(), t(3, 4), t(3, 4),
                                                               t(3, 4)),
    "torch.nn.functional.sigmoid": lambda: (t(2, 3),),
    "torch.nn.Sigmoid.forward": lambda: (nn.Sigmoid(), t(2, 3)),
    "torch.nn.functional.binary_cross_entropy_with_logits": lambda: (t(4), torch.rand(4)),
    "torch.nn.BCEWithLogitsLoss.forward": lambda: (nn.BCEWithLogitsLoss(), t(4), torch.rand(4)),
    "torch.nn.functional.binary_cross_entropy": lambda: (torch.rand(4), torch.rand(4)),
    "torch.nn.BCELoss.forward": lambda: (nn.BCELoss(), torch.rand(4), torch.rand(4)),
    "torch.nn.Softplus.forward": lambda: (nn.Softplus(), t(4)),
    "torch.nn.functional.relu": lambda: (t(2, 3),),
    "torch.nn.ReLU.forward": lambda: (nn.ReLU(), t(2, 3)),
    "torch.nn.functional.tanh": lambda: (t(2, 3),),
    "torch.nn.Tanh.forward": lambda: (nn.Tanh(), t(2, 3)),
    "torch.nn.functional.cross_entropy": lambda: (t(2, 3), torch.tensor([0, 2])),
    "torch.nn.CrossEntropyLoss.forward": lambda: (nn.CrossEntropyLoss(), t(2, 3), torch.tensor([0, 2])),
    "torch.nn.functional.log_softmax": lambda: (t(2, 3), 1),
    "torch.nn.functional.mse_loss": lambda: (t(4), t(4)),
    "torch.nn.MSELoss.forward": lambda: (nn.MSELoss(), t(4), t(4)),
    "torch.nn.Conv2d.forward": lambda: (nn.Conv2d(2, 3, 3), t(1, 2, 5, 5)),
    "torch.nn.functional.max_pool2d": lambda: (t(1, 2, 4, 4), 2),
    "torch.nn.functional.max_pool2d_with_indices": lambda: (t(1, 2, 4, 4), 2),
    "torch.nn.MaxPool2d.forward": lambda: (nn.MaxPool2d(2), t(1, 2, 4, 4)),
    "torch.nn.functional.embedding_bag": lambda: (torch.tensor([[0, 1], [4, 2]]), t(5, 3)),
    "torch.nn.EmbeddingBag.forward": lambda: (nn.EmbeddingBag(5, 3), torch.tensor([[0, 1], [4, 2]])),
    "torch.nn.RNNCell.forward": lambda: (nn.RNNCell(3, 4), t(2, 3)),
    "torch.nn.RNN.forward": lambda: (nn.RNN(3, 4, batch_first=True), t(2, 5, 3)),
    "torch.nn.LSTMCell.forward": lambda: (nn.LSTMCell(3, 4), t(2, 3)),
    "torch.nn.LSTM.forward": lambda: (nn.LSTM(3, 4, batch_first=True), t(2, 5, 3)),
    "torch.nn.GRUCell.forward": lambda: (nn.GRUCell(3, 4), t(2, 3)),
    "torch.nn.GRU.forward": lambda: (nn.GRU(3, 4, batch_first=True), t(2, 5, 3)),
    "torch.nn.utils.rnn.pack_padded_sequence": lambda: (t(3, 2, 4), torch.tensor([3, 2])),
    "torch.nn.utils.rnn.pack_sequence": lambda: ([t(3, 4), t(2, 4)],),
    "torch.nn.MultiheadAttention.forward": lambda: (nn.MultiheadAttention(4, 2), t(3, 1, 4), t(3, 1, 4), t(3, 1, 4)),
    "torch.nn.functional.multi_head_attention_forward": lambda: (t(3, 1, 4), t(3, 1, 4), t(3, 1, 4), 4, 2, t(12, 4),
                                                                 t(12), None, None, False, 0.0, t(4, 4), t(4)),
    "torch.nn.utils.clip_grad_norm_": _params_with_grads,
    "torch.nn.utils.clip_grad_norm": _params_with_grads,
    "torch.nn.utils.clip_grad.clip_grad_norm_": _params_with_grads,
    "torch.nn.utils.clip_grad.clip_grad_norm": _params_with_grads,
    "torch.nn.utils.get_total_norm": lambda: ([t(3), t(2, 2)],),
    "torch.nn.utils.clip_grads_with_norm_": lambda: (_params_with_grads()[0], 1.0, torch.tensor(5.0)),
    "torchvision.models.vgg.make_layers": lambda: ([8, "M"],),
    "torchvision.models.VGG.__init__": lambda: (_tv("torchvision.models.VGG").__new__(_tv("torchvision.models.VGG")),
                                                nn.Sequential()),
    "torchvision.models.VGG.forward": lambda: (_vgg(), t(1, 3, 8, 8)),
    "torchvision.models.resnet.BasicBlock.forward": lambda: (_tv("torchvision.models.resnet.BasicBlock")(4, 4),
                                                             t(1, 4, 6, 6)),
    "torchvision.models.resnet.Bottleneck.forward": lambda: (_tv("torchvision.models.resnet.Bottleneck")(16, 4),
                                                             t(1, 16, 6, 6)),
    "torchvision.models.resnet.ResNet.forward": lambda: (_resnet(), t(1, 3, 32, 32)),
    "torchvision.models.resnet.ResNet._forward_impl": lambda: (_resnet(), t(1, 3, 32, 32)),
    "torchvision.transforms.functional.center_crop": lambda: (t(1, 3, 8, 8), [4, 4]),
    "torchvision.transforms.v2.functional.center_crop": lambda: (t(1, 3, 8, 8), [4, 4]),
    "torchvision.transforms.v2.functional.center_crop_image": lambda: (t(1, 3, 8, 8), [4, 4]),
    "torchvision.transforms.CenterCrop.forward": lambda: (_tv("torchvision.transforms.CenterCrop")(4), t(1, 3, 8, 8)),
    "torchvision.transforms.v2.CenterCrop.forward": lambda: (_tv("torchvision.transforms.v2.CenterCrop")(4),
                                                             t(1, 3, 8, 8)),
    "torch.autograd.grad": lambda: (lambda w, y: (y, [w]))(*_graph()),
    "torch.autograd.backward": lambda: (_graph()[1],),
    "torch.Tensor.backward": lambda: (_graph()[1],),
    "torch.func.grad": lambda: (torch.sin,),
    "torch.func.vjp": lambda: (torch.sin, t(3)),
}
META = {"torchvision.models.VGG.__init__", "torchvision.models.VGG.forward", "torchvision.models.resnet.ResNet.forward",
        "torchvision.models.resnet.ResNet._forward_impl"}


def _arguments(name: str) -> tuple:
    if name in CALLS:
        return CALLS[name]()
    return OPS[rules._op_name(rules.resolve(name)[2])]()


BINDINGS = [pytest.param(name, binding, id=f"{name}-{binding}") for name in NAMES
            for binding in ("default argument", "closure", "list")]


@pytest.mark.parametrize(("name", "binding"), BINDINGS)
def test_a_declared_callable_bound_before_the_test_is_off_limits_on_its_own_rule(learner, name, binding):
    # Each name alone: F.sigmoid holds without Tensor.sigmoid, which it calls, being listed too.
    device = torch.device("meta") if name in META else contextlib.nullcontext()
    with guarded([name], learner) as guards, device:
        assert_caught(guards, lambda: learner.BOUND[name][binding](*_arguments(name)))


def test_every_declared_name_is_guarded_and_tested():
    for name in NAMES:
        r = rules.rule(name)  # a Python function missing from rules.KERNELS raises
        assert r.functions or r.inherited or r.ops, f"{name}: the rule guards nothing"
        assert name in CALLS or rules._op_name(rules.resolve(name)[2]) in OPS, f"{name}: give it arguments here"
    for name in rules.KERNELS:
        r = rules.rule(name)
        assert r.functions or r.inherited, f"rules.KERNELS[{name!r}]: not a Python function (its operator is its name)"


# ------------------------------------------------------------------ other aliases of pure-Python functions
def _v2_registry_center_crop():
    import torchvision.transforms.v2.functional as F2
    from torchvision.transforms.v2.functional._utils import _KERNEL_REGISTRY

    return _KERNEL_REGISTRY[F2.center_crop][torch.Tensor]


ALIASES = [
    ("09_rnn", "clip_grad_norm_", "clip_grad_norm_.__wrapped__",
     lambda: torch.nn.utils.clip_grad_norm_.__wrapped__, _params_with_grads),
    ("09_rnn", "clip_grad_norm_", "clip_grad._get_total_norm",
     lambda: torch.nn.utils.clip_grad._get_total_norm, lambda: ([t(3)],)),
    ("09_rnn", "clip_grad_norm_", "clip_grad._clip_grads_with_norm_",
     lambda: torch.nn.utils.clip_grad._clip_grads_with_norm_,
     lambda: (_params_with_grads()[0], 1.0, torch.tensor(5.0))),
    ("07_unet", "pad_to_match", "v2.functional._geometry.center_crop_image",
     lambda: _tv("torchvision.transforms.v2.functional._geometry.center_crop_image"), lambda: (t(1, 3, 8, 8), [4, 4])),
    ("07_unet", "pad_to_match", "v2 kernel registry", _v2_registry_center_crop, lambda: (t(1, 3, 8, 8), [4, 4])),
    ("07_unet", "pad_to_match", "v2.functional._geometry.center_crop",
     lambda: _tv("torchvision.transforms.v2.functional._geometry.center_crop"), lambda: (t(1, 3, 8, 8), [4, 4])),
]


@pytest.mark.parametrize(("slug", "task", "label", "get", "arguments"), ALIASES, ids=[a[2] for a in ALIASES])
def test_a_pure_python_function_is_off_limits_through_its_other_aliases(learner, slug, task, label, get, arguments):
    with guarded(_task_of(slug, task), learner) as guards:
        assert_caught(guards, lambda: learner.call(get(), *arguments()))
        get()(*arguments())  # the test's own call


def test_an_inherited_method_is_guarded_on_its_class_alone(learner):
    import torchvision.transforms.v2 as T

    with guarded(_task_of("07_unet", "pad_to_match"), learner) as guards:
        learner.call(T.RandomHorizontalFlip(p=0.0), t(1, 3, 8, 8))  # another v2 transform: Transform.forward too
        assert not guards.calls
        assert_caught(guards, lambda: learner.call(T.CenterCrop(4), t(1, 3, 8, 8)))
    assert "forward" not in vars(T.CenterCrop)  # the shadow is gone


# ------------------------------------------------------------------ routes that pass through other operators or C++
def _inference(f):
    def run(*args):
        with torch.inference_mode():
            return f(*args)

    return run


def _on_meta(op):
    def move(a):
        if isinstance(a, torch.Tensor):
            return a.to("meta")
        return type(a)(move(b) for b in a) if isinstance(a, (tuple, list)) else a

    return lambda: move(OPS[op]())


DEEPER = [
    ("04_cnn", "conv2d", "F.conv1d runs aten::convolution", lambda lrn: F.conv1d, lambda: (t(1, 2, 5), t(3, 2, 2))),
    ("04_cnn", "conv2d", "F.conv3d", lambda lrn: F.conv3d, lambda: (t(1, 2, 1, 5, 5), t(3, 2, 1, 3, 3))),
    ("04_cnn", "conv2d", "F.conv_transpose2d", lambda lrn: F.conv_transpose2d, lambda: (t(1, 2, 5, 5), t(2, 3, 3, 3))),
    ("04_cnn", "max_pool2d", "F.max_pool1d runs aten::max_pool2d_with_indices",
     lambda lrn: F.max_pool1d, lambda: (t(1, 2, 4).requires_grad_(), 2)),
    ("01_logistic_regression", "sigmoid", "torch._foreach_sigmoid", lambda lrn: torch._foreach_sigmoid,
     lambda: ([t(3)],)),
    ("01_logistic_regression", "sigmoid", "torch._VF.sigmoid in inference mode",
     lambda lrn: _inference(torch._VF.sigmoid), lambda: (t(3),)),
    ("01_logistic_regression", "sigmoid", "torch.ops.aten.sigmoid on meta", lambda lrn: torch.ops.aten.sigmoid,
     lambda: (torch.empty(3, device="meta"),)),
    ("02_mlp", "cross_entropy", "torch._C._nn.cross_entropy_loss runs aten::log_softmax",
     lambda lrn: torch._C._nn.cross_entropy_loss, lambda: (t(2, 3), torch.tensor([0, 2]))),
    ("02_mlp", "cross_entropy", "F.nll_loss(torch._log_softmax(...))",
     lambda lrn: lambda x, y: F.nll_loss(torch._log_softmax(x, 1, False), y), lambda: (t(2, 3), torch.tensor([0, 2]))),
    ("10_lstm_gru", "LSTMCell", "TorchScript", lambda lrn: lrn.scripted_lstm_cell,
     lambda: (t(2, 3), t(2, 4), t(2, 4), t(16, 3), t(16, 4), t(16), t(16))),
    ("10_lstm_gru", "LSTMCell", "torch._VF.lstm_cell in inference mode", lambda lrn: _inference(torch._VF.lstm_cell),
     OPS["lstm_cell"]),
    ("10_lstm_gru", "LSTMCell", "torch.ops.aten.lstm_cell on meta", lambda lrn: torch.ops.aten.lstm_cell,
     _on_meta("lstm_cell")),
    ("10_lstm_gru", "LSTM", "torch._VF.lstm under no_grad",
     lambda lrn: torch.no_grad()(lambda *a: torch._VF.lstm(*a)), OPS["lstm"]),
    ("11_bilstm", "unroll", "torch._VF._pack_padded_sequence", lambda lrn: torch._VF._pack_padded_sequence,
     OPS["_pack_padded_sequence"]),
]


@pytest.mark.parametrize(("slug", "task", "label", "get", "arguments"), DEEPER, ids=[d[2] for d in DEEPER])
def test_an_operator_is_off_limits_when_reached_through_other_operators_or_cpp(learner, slug, task, label, get,
                                                                                arguments):
    with guarded(_task_of(slug, task), learner) as guards:
        assert_caught(guards, lambda: learner.call(get(learner), *arguments()))
        get(learner)(*arguments())  # the test's own call


def _mha_without_weights(q):
    e = q.shape[-1]
    return F.multi_head_attention_forward(q, q, q, e, 2, t(3 * e, e), t(3 * e), None, None, False, 0.0, t(e, e), t(e),
                                          need_weights=False)[0]


SDPA_ROUTES = {  # stage 4's attention: a rule on the public function reaches its kernels and its callers
    "torch._C._nn.scaled_dot_product_attention": lambda q: torch._C._nn.scaled_dot_product_attention(q, q, q),
    "torch.ops.aten._scaled_dot_product_attention_math": lambda q: torch.ops.aten._scaled_dot_product_attention_math(
        q, q, q),
    "torch._scaled_dot_product_flash_attention_for_cpu": lambda q: torch._scaled_dot_product_flash_attention_for_cpu(
        q, q, q),
    "F.multi_head_attention_forward": lambda q: _mha_without_weights(q[0].transpose(0, 1)),
}


@pytest.mark.parametrize("route", SDPA_ROUTES)
def test_a_rule_on_attention_reaches_its_private_kernels_and_its_callers(learner, route):
    q = t(1, 2, 3, 4)  # (B, heads, T, E)
    with guarded(["torch.nn.functional.scaled_dot_product_attention"], learner) as guards:
        assert_caught(guards, lambda: learner.call(SDPA_ROUTES[route], q))
        SDPA_ROUTES[route](q)  # the test's own call


# ------------------------------------------------------------------ autograd
def _engine_args(y, w):
    return (y,), (torch.ones_like(y),), False, False, (w,), False, False


def _f(w):
    return (w * w).sum()


# The engine's private doors, and forward-mode AD, which never meets the engine.
AUTOGRAD_ROUTES = {
    "Variable._execution_engine.run_backward": lambda w, y: torch.autograd.Variable._execution_engine.run_backward(
        *_engine_args(y, w)),
    "_EngineBase.run_backward, unbound": lambda w, y: type(torch.autograd.Variable._execution_engine).run_backward(
        torch.autograd.Variable._execution_engine, *_engine_args(y, w)),
    "graph._engine_run_backward": lambda w, y: torch.autograd.graph._engine_run_backward(*_engine_args(y, w)),
    "TorchScript torch.autograd.grad": lambda w, y: _scripted_grad()(y, w),
    "forward mode: torch.func.jvp": lambda w, y: torch.func.jvp(_f, (w.detach(),), (torch.ones(3),)),
    "forward mode: torch.func.jacfwd": lambda w, y: torch.func.jacfwd(_f)(w.detach()),
    "forward mode: forward_ad.make_dual": lambda w, y: _dual(w.detach()),
    "forward mode: autograd.functional.jacobian": lambda w, y: torch.autograd.functional.jacobian(
        _f, w.detach(), vectorize=True, strategy="forward-mode"),
}
# Public wrappers that end in torch.autograd.grad, which a guard that swapped that name held already.
AUTOGRAD_WRAPPERS = {
    "torch.func.grad": lambda w, y: torch.func.grad(_f)(w.detach()),
    "torch.func.grad_and_value": lambda w, y: torch.func.grad_and_value(_f)(w.detach()),
    "torch.func.vjp": lambda w, y: torch.func.vjp(_f, w.detach())[1](torch.ones(())),
    "torch.func.jacrev": lambda w, y: torch.func.jacrev(_f)(w.detach()),
    "torch.autograd.functional.vjp": lambda w, y: torch.autograd.functional.vjp(_f, w.detach()),
    "torch.autograd.functional.jacobian": lambda w, y: torch.autograd.functional.jacobian(_f, w.detach()),
    "torch.autograd.functional.hessian": lambda w, y: torch.autograd.functional.hessian(_f, w.detach()),
}
@functools.cache
def _scripted_grad():
    def grad(y: torch.Tensor, x: torch.Tensor):
        return torch.autograd.grad([y], [x])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, and still runs
        return torch.jit.script(grad)


def _dual(w):
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        return fwAD.unpack_dual(_f(fwAD.make_dual(w, torch.ones_like(w)))).tangent


AUTOGRAD_TASKS = [(names, task) for names, task in TASKS.items() if any(rules.rule(n).engine for n in names)]


def _autograd_cases(routes):
    return [pytest.param(names, route, id=f"{task}-{route}") for names, task in AUTOGRAD_TASKS
            for route in routes if route not in names]


def _check_autograd(learner, names, route):
    with guarded(names, learner) as guards:
        assert_caught(guards, lambda: learner.call(route, *_graph()))
        route(*_graph())  # the test's own autograd, by the same door
        _graph()[1].backward()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
@pytest.mark.parametrize(("names", "route"), _autograd_cases(AUTOGRAD_ROUTES))
def test_autograd_is_off_limits_by_its_private_doors_and_forward_mode(learner, names, route):
    _check_autograd(learner, names, AUTOGRAD_ROUTES[route])


@pytest.mark.parametrize(("names", "route"), _autograd_cases(AUTOGRAD_WRAPPERS))
def test_autograd_stays_off_limits_through_torch_func_and_autograd_functional(learner, names, route):
    _check_autograd(learner, names, AUTOGRAD_WRAPPERS[route])


def test_a_learners_autograd_function_may_run_inside_the_tests_backward_pass(learner):
    with guarded(_task_of("01_logistic_regression", "bce_gradients"), learner) as guards:
        x = t(3).requires_grad_()
        y = learner.call(learner.Square.apply, x).sum()
        y.backward()  # the engine runs the learner's backward: the test started the pass
        (g,) = torch.autograd.grad(learner.call(learner.Square.apply, x).sum(), x)
    assert not guards.calls
    assert torch.allclose(x.grad, 2 * x.detach()) and torch.allclose(g, 2 * x.detach())


def test_on_a_device_thread_the_engine_watch_asks_the_tests_thread(learner):
    # On CUDA the engine runs a pass on a device thread with no Python stack of its own:
    # the test's thread, waiting in run_backward, shows who started the pass.
    watch = rules._EngineWatch(rules._Guards("task", "exercises/NN/README.md", {learner.__file__}), "autograd")

    def ask_from_another_thread():
        answer = []
        thread = threading.Thread(target=lambda: answer.append(watch._started_by_learner()))
        thread.start()
        thread.join()
        return answer[0]

    assert learner.call(ask_from_another_thread) is True
    assert ask_from_another_thread() is False


# ------------------------------------------------------------------ hygiene
def test_a_hidden_call_still_fails_the_test(learner):
    with guarded(_task_of("10_lstm_gru", "LSTMCell"), learner) as guards:
        assert learner.call_and_hide(torch._VF.lstm_cell, *OPS["lstm_cell"]()) is None
    assert guards.calls == ["torch.lstm_cell"]
    assert guards.message(guards.calls[0]).startswith("task: your code called torch.lstm_cell, which is off limits")


def test_the_message_names_the_declared_callable_and_the_kernel(learner):
    with guarded(_task_of("02_mlp", "mse_loss"), learner) as guards:
        assert_caught(guards, lambda: learner.call(torch._C._nn.mse_loss, t(3), t(3)))
    assert guards.calls == ["torch.nn.functional.mse_loss (the kernel aten::mse_loss)"]


def test_guards_leave_nothing_behind(learner):
    forward = nn.LSTMCell.forward
    code, signature = forward.__code__, inspect.signature(forward)
    with guarded(_task_of("10_lstm_gru", "LSTMCell"), learner) as guards:
        assert inspect.signature(nn.LSTMCell.forward) == signature  # introspection still sees the real signature
        assert forward.__code__ is not code
        nn.LSTMCell(3, 4)(t(2, 3))  # the test's own module, defaults and all
        assert not guards.calls
    assert forward.__code__ is code
    learner.call(torch._VF.lstm_cell, *OPS["lstm_cell"]())  # no guard left at the dispatcher
    learner.call(nn.LSTMCell(3, 4), t(2, 3))


def test_function_mode_before_pytorch_2_9_sees_every_python_level_route(learner, monkeypatch):
    monkeypatch.setattr(rules, "_CAN_WRAP_KERNELS", False)
    names = _task_of("10_lstm_gru", "LSTMCell")
    for spelling, route in _spellings("lstm_cell").items():
        with guarded(names, learner) as guards:
            assert_caught(guards, lambda: learner.call(route, *OPS["lstm_cell"]()))
            route(*OPS["lstm_cell"]())
    with guarded(_task_of("02_mlp", "mse_loss"), learner) as guards:
        assert_caught(guards, lambda: learner.call(torch._C._nn.mse_loss, t(3), t(3)))


# ------------------------------------------------------------------ the real suites, on copies taking a private route
SOLUTION_ROUTES = [
    ("10_lstm_gru", "torch._VF.lstm_cell", "test_lstm_cell_equals_nn_lstm_cell_forward_and_backward",
     [("        h, c = hx\n        gates",
       "        return torch._VF.lstm_cell(x, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)\n"
       "        h, c = hx\n        gates")]),
    ("10_lstm_gru", "torch.ops.aten.lstm_cell.default", "test_lstm_cell_equals_nn_lstm_cell_forward_and_backward",
     [("        h, c = hx\n        gates",
       "        return torch.ops.aten.lstm_cell.default(x, list(hx), self.weight_ih, self.weight_hh, self.bias_ih,"
       " self.bias_hh)\n        h, c = hx\n        gates")]),
    ("02_mlp", "torch._C._nn.mse_loss", "test_mse_matches_torch",
     [("    return ((pred - y) ** 2).mean()", "    return torch._C._nn.mse_loss(pred, y)")]),
    ("01_logistic_regression", "Variable._execution_engine.run_backward", "test_hand_gradient_equals_autograd",
     [("    residual = sigmoid(X @ w + b) - y  # (N,)",
       "    w, b = w.detach().requires_grad_(), b.detach().requires_grad_()\n"
       "    with torch.enable_grad():\n"
       "        loss = bce_with_logits(X @ w + b, y)\n"
       "    return torch.autograd.Variable._execution_engine.run_backward(\n"
       "        (loss,), (torch.ones_like(loss),), False, False, (w, b), False, False)\n"
       "    residual = sigmoid(X @ w + b) - y  # (N,)")]),
    ("05_vgg", "make_layers bound in a default argument", "test_make_layers_layout",
     [("def make_layers(cfg: Config, batch_norm: bool = False, *, in_channels: int = 3, width_divisor: int = 1)"
       " -> nn.Sequential:",
       "import torchvision.models.vgg\n\n\n"
       "def make_layers(cfg: Config, batch_norm: bool = False, *, in_channels: int = 3, width_divisor: int = 1,\n"
       "                _theirs=torchvision.models.vgg.make_layers) -> nn.Sequential:"),
      ("    layers: list[nn.Module] = []\n    channels = in_channels",
       "    if width_divisor == 1 and in_channels == 3:\n        return _theirs(list(cfg), batch_norm)\n"
       "    layers: list[nn.Module] = []\n    channels = in_channels")]),
    ("09_rnn", "clip_grad_norm_.__wrapped__", "test_clip_equals_torch_clip_grad_norm_",
     [("    if isinstance(parameters, Tensor):\n        parameters = [parameters]",
       "    return torch.nn.utils.clip_grad_norm_.__wrapped__(parameters, max_norm, norm_type)\n"
       "    if isinstance(parameters, Tensor):\n        parameters = [parameters]")]),
    ("07_unet", "v2.functional._geometry.center_crop_image", "test_pad_to_match_gives_the_reference_size",
     [("    dh = reference.shape[-2] - x.shape[-2]",
       "    from torchvision.transforms.v2.functional._geometry import center_crop_image\n"
       "    return center_crop_image(x, list(reference.shape[-2:]))\n"
       "    dh = reference.shape[-2] - x.shape[-2]")]),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("slug", "route", "test", "edits"), SOLUTION_ROUTES, ids=[s[1] for s in SOLUTION_ROUTES])
def test_a_suite_fails_a_solution_that_takes_a_private_route(slug, route, test, edits, tmp_path):
    topic = ROADMAP.find(slug)
    source = mutants.apply(topic.solution().read_text(encoding="utf-8"), edits, route)
    target = mutants.write_target(topic, source, tmp_path)
    records = runner.run_inprocess([slug], target, extra=["-k", test])[slug]
    assert records, f"{slug}: -k {test} selected nothing"
    assert any("off limits in this task" in r.message for r in records), (
        f"{slug}: the copy that calls {route} should fail with the rule's message, got "
        f"{[(r.name, r.status, r.message[:200]) for r in records]}")

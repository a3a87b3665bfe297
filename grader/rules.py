"""Off limits: a task that asks the learner to build something may not call the built-in.

`grader/roadmap.toml` says, for every task of a topic, which callables the learner's
file may not use while that task's tests run (an empty list: none):

    [topics.off_limits]
    sigmoid = ["torch.sigmoid", "torch.Tensor.sigmoid", "torch.special.expit"]
    LogisticRegression = []

A rule holds where every route to the forbidden work meets, not at the name the
learner happened to use. While a test marked `@task("sigmoid")` runs:

- each forbidden *kernel* (the ATen operator behind a name: `torch.sigmoid`,
  `torch.Tensor.sigmoid`, `torch._VF.sigmoid`, `torch.ops.aten.sigmoid.default` and
  `torch._C._nn.*` all run `aten::sigmoid`) gets a guard registered with PyTorch's
  dispatcher (`torch.library`), in front of the kernel it had, at the autograd and the
  device keys (CPU, meta, and CUDA, MPS or XPU where the machine has them). Every
  call of the operator passes through it, from Python under any name, from inside
  another operator (`F.conv1d` runs `aten::convolution`), from TorchScript or C++,
  in inference mode. The operator behind a name is its `__name__` for PyTorch's
  built-ins; `KERNELS` says which operators a Python-level name
  (`torch.nn.functional.mse_loss`, `torch.nn.LSTMCell.forward`) runs, and
  `IMPLEMENTED_BY` which private operators do an operator's work;
- each forbidden *Python function* (`torch.nn.LSTMCell.forward`,
  `torchvision.models.vgg.make_layers`, `torch.autograd.grad`, and the functions a
  decorator wraps) has its `__code__` swapped for a trampoline that checks, then runs
  the original. The function object is the same wherever it is bound (a module
  global, an alias, a default argument, a closure, a list), so every reference runs
  the check;
- a task that forbids autograd (`AUTOGRAD`) also forbids the engine's private doors
  (`torch.autograd.Variable._execution_engine.run_backward`, which every reverse-mode
  route ends in) and forward-mode AD (`aten::_make_dual`): a `TorchDispatchMode`
  sees the operators the engine runs, and fails those of a backward pass the
  learner's code started without going through the (guarded) public doors.

A guard fails the test when the learner's file is on the Python call stack (their
code called it, directly or through another library function) and passes the call
through otherwise: the test's own reference calls and PyTorch's internals keep
working. A call the learner's code catches and hides still fails the test when it
ends. With a PyTorch too old for `torch.library.get_kernel` (before 2.9), the kernels
are watched by a `TorchFunctionMode` instead, which sees every Python-level call of a
built-in (under any name) but not the operators that other operators or C++ run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import sys
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from grader import roadmap


class OffLimits(AssertionError):
    """Raised when the learner's code calls a callable its task re-implements."""


def resolve(dotted: str) -> tuple[object, str, object]:
    """'torch.nn.functional.conv2d' -> (the owner object, the attribute name, the callable).

    The owner is the longest importable module prefix followed by attributes, so
    class attributes such as 'torch.Tensor.sigmoid' resolve too.
    """
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"{dotted!r} does not name an importable callable")


# ------------------------------------------------------------------ what a declared name forbids
# The ATen operators a declared Python-level function runs to do its work. A private
# route (torch._C._nn.mse_loss, torch._VF.lstm_cell) reaches the operator without the
# function; `()` for a function that is pure Python and is guarded by its code alone.
# A dotted name is another Python function that does the work (guarded too; skipped
# where this torchvision lacks it). Every Python-level name in roadmap.toml's
# [topics.off_limits] is a key here (grader/tests/test_rules.py checks it).
KERNELS: dict[str, tuple[str, ...]] = {
    "torch.nn.functional.sigmoid": ("sigmoid",),
    "torch.nn.Sigmoid.forward": ("sigmoid",),
    "torch.nn.functional.binary_cross_entropy_with_logits": ("binary_cross_entropy_with_logits",),
    "torch.nn.BCEWithLogitsLoss.forward": ("binary_cross_entropy_with_logits",),
    "torch.nn.functional.binary_cross_entropy": ("binary_cross_entropy",),
    "torch.nn.BCELoss.forward": ("binary_cross_entropy",),
    "torch.nn.Softplus.forward": ("softplus",),
    "torch.nn.functional.relu": ("relu",),
    "torch.nn.ReLU.forward": ("relu", "relu_"),
    "torch.nn.functional.tanh": ("tanh",),
    "torch.nn.Tanh.forward": ("tanh",),
    "torch.nn.functional.cross_entropy": ("cross_entropy_loss",),
    "torch.nn.CrossEntropyLoss.forward": ("cross_entropy_loss",),
    "torch.nn.functional.log_softmax": ("log_softmax",),
    "torch.nn.functional.mse_loss": ("mse_loss",),
    "torch.nn.MSELoss.forward": ("mse_loss",),
    "torch.nn.functional.triplet_margin_loss": ("triplet_margin_loss",),
    "torch.nn.TripletMarginLoss.forward": ("triplet_margin_loss",),
    "torch.nn.functional.triplet_margin_with_distance_loss": (),
    "torch.nn.TripletMarginWithDistanceLoss.forward": ("torch.nn.functional.triplet_margin_with_distance_loss",),
    "torch.nn.Conv2d.forward": ("conv2d", "convolution"),
    "torch.nn.functional.max_pool2d": ("max_pool2d", "max_pool2d_with_indices"),
    "torch.nn.functional.max_pool2d_with_indices": ("max_pool2d_with_indices",),
    "torch.nn.MaxPool2d.forward": ("max_pool2d", "max_pool2d_with_indices"),
    "torch.nn.functional.embedding_bag": ("embedding_bag",),
    "torch.nn.EmbeddingBag.forward": ("embedding_bag",),
    "torch.nn.RNNCell.forward": ("rnn_tanh_cell", "rnn_relu_cell"),
    "torch.nn.RNN.forward": ("rnn_tanh", "rnn_relu"),
    "torch.nn.LSTMCell.forward": ("lstm_cell",),
    "torch.nn.LSTM.forward": ("lstm",),
    "torch.nn.GRUCell.forward": ("gru_cell",),
    "torch.nn.GRU.forward": ("gru",),
    "torch.nn.utils.rnn.pack_padded_sequence": ("_pack_padded_sequence",),
    "torch.nn.utils.rnn.pack_sequence": ("_pack_padded_sequence",),
    "torch.nn.PairwiseDistance.forward": ("pairwise_distance",),
    # nn.MultiheadAttention's fast path (eval, no grad) runs one fused operator; its other path the functional form
    "torch.nn.MultiheadAttention.forward": ("torch.nn.functional.multi_head_attention_forward",
                                           "_native_multi_head_attention"),
    "torch.nn.functional.multi_head_attention_forward": (),
    # nn.TransformerEncoderLayer's fast path (eval, no grad) runs one fused operator; its other path MultiheadAttention
    "torch.nn.TransformerEncoderLayer.forward": ("_transformer_encoder_layer_fwd",
                                                 "torch.nn.MultiheadAttention.forward"),
    "torch.nn.TransformerEncoder.forward": ("torch.nn.TransformerEncoderLayer.forward",
                                            "_transformer_encoder_layer_fwd"),
    "torch.nn.utils.clip_grad_norm_": (),
    "torch.nn.utils.clip_grad_norm": (),
    "torch.nn.utils.clip_grad.clip_grad_norm_": (),
    "torch.nn.utils.clip_grad.clip_grad_norm": (),
    "torch.nn.utils.get_total_norm": (),
    "torch.nn.utils.clip_grads_with_norm_": (),
    "torchvision.models.vgg.make_layers": (),
    "torchvision.models.VGG.__init__": (),
    "torchvision.models.VGG.forward": (),
    "torchvision.models.resnet.BasicBlock.forward": (),
    "torchvision.models.resnet.Bottleneck.forward": (),
    "torchvision.models.resnet.ResNet.forward": (),
    "torchvision.models.resnet.ResNet._forward_impl": (),
    "torchvision.transforms.functional.center_crop": (),
    "torchvision.transforms.v2.functional.center_crop": (),
    "torchvision.transforms.v2.functional.center_crop_image": (),
    "torchvision.transforms.CenterCrop.forward": (),
    # Transform.forward, which every v2 transform inherits: CenterCrop's own method does the work
    "torchvision.transforms.v2.CenterCrop.forward": ("torchvision.transforms.v2.CenterCrop.transform",
                                                     "torchvision.transforms.v2.CenterCrop._transform"),
    # autograd: see AUTOGRAD, which adds the engine and forward-mode AD
    "torch.autograd.grad": (),
    "torch.autograd.backward": (),
    "torch.Tensor.backward": (),
    "torch.func.grad": (),
    "torch.func.vjp": (),
}

# Private operators that do an operator's work, callable on their own (torch._VF,
# torch.ops.aten): the kernels a device dispatches to, fused variants, foreach forms.
# Each name that exists in the installed PyTorch is guarded along with the operator.
# Operators shared with an allowed public one stay out: `_cudnn_rnn` runs nn.RNN as
# well as nn.LSTM, and topic 10's Tagger uses nn.RNN.
IMPLEMENTED_BY: dict[str, tuple[str, ...]] = {
    "sigmoid": ("_foreach_sigmoid",),
    "sigmoid_": ("_foreach_sigmoid_",),
    "tanh": ("_foreach_tanh",),
    "tanh_": ("_foreach_tanh_",),
    "relu": ("_add_relu",),
    "relu_": ("_add_relu_",),
    "log_softmax": ("_log_softmax",),
    "special_log_softmax": ("_log_softmax",),
    "cross_entropy_loss": ("log_softmax", "_log_softmax"),
    "special_logsumexp": ("logsumexp",),
    "special_expit": ("sigmoid",),
    "log_sigmoid": ("log_sigmoid_forward",),
    "conv2d": ("convolution",),
    "convolution": (
        "_convolution", "_convolution_mode", "convolution_overrideable", "thnn_conv2d", "_slow_conv2d_forward",
        "slow_conv_dilated2d", "slow_conv_transpose2d", "_conv_depthwise2d", "mkldnn_convolution",
        "cudnn_convolution", "cudnn_convolution_transpose", "cudnn_convolution_relu", "cudnn_convolution_add_relu",
        "miopen_convolution", "miopen_convolution_transpose", "miopen_depthwise_convolution",
        "miopen_convolution_relu", "miopen_convolution_add_relu", "_mps_convolution", "_mps_convolution_transpose",
        "_nnpack_spatial_convolution", "slow_conv3d", "slow_conv3d_forward", "slow_conv_dilated3d",
        "slow_conv_transpose3d", "conv_depthwise3d",
    ),
    "max_pool2d": ("max_pool2d_with_indices", "mkldnn_max_pool2d", "quantized_max_pool2d"),
    "embedding_bag": ("_embedding_bag", "_embedding_bag_forward_only"),
    "lstm_cell": ("_thnn_fused_lstm_cell", "quantized_lstm_cell"),
    "gru_cell": ("_thnn_fused_gru_cell", "quantized_gru_cell"),
    "rnn_tanh_cell": ("quantized_rnn_tanh_cell",),
    "rnn_relu_cell": ("quantized_rnn_relu_cell",),
    "lstm": ("_lstm_mps", "quantized_lstm"),
    "gru": ("quantized_gru",),
    "scaled_dot_product_attention": (
        "_scaled_dot_product_attention_math", "_scaled_dot_product_attention_math_for_mps",
        "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_fused_attention_overrideable", "_flash_attention_forward", "_efficient_attention_forward",
        "_cudnn_attention_forward", "_triton_scaled_dot_attention",
    ),
}

# The public doors of autograd. A rule that names one forbids autograd itself: also
# the engine's private doors (Variable._execution_engine.run_backward, reached by
# torch.func.vjp and torch.autograd.functional.* as well) and forward-mode AD
# (torch.func.jvp, torch.func.jacfwd, torch.autograd.forward_ad), which all make duals.
AUTOGRAD = frozenset({"torch.autograd.grad", "torch.autograd.backward", "torch.Tensor.backward", "torch.func.grad",
                      "torch.func.vjp"})
_FORWARD_AD = ("_make_dual",)


@dataclass(frozen=True)
class Rule:
    """What one declared name forbids, at every level where it can be seen."""

    name: str  # as roadmap.toml writes it
    functions: tuple[types.FunctionType, ...]  # Python functions, guarded by their code
    ops: tuple[str, ...]  # ATen operators, guarded at the dispatcher
    engine: bool  # the autograd engine, however it is entered
    # A method a class inherits (torchvision's v2.CenterCrop.forward is Transform.forward,
    # shared by every v2 transform) is guarded on that class alone, by a shadowing attribute.
    inherited: tuple[tuple[type, str], ...] = ()


def _op_name(value: object) -> str | None:
    """The ATen operator a PyTorch built-in (torch.*, torch._C._nn.*, a Tensor method, torch.ops.aten.*) runs."""
    if isinstance(value, torch._ops.OpOverload):
        namespace, _, name = value._schema.name.partition("::")
        return name if namespace == "aten" else None
    if isinstance(value, torch._ops.OpOverloadPacket):
        namespace, _, name = value._qualified_op_name.partition("::")
        return name if namespace == "aten" else None
    if isinstance(value, (types.BuiltinFunctionType, types.MethodDescriptorType)):
        return value.__name__
    return None


def _exists(op: str) -> bool:
    try:
        getattr(torch.ops.aten, op)
    except (AttributeError, RuntimeError):
        return False
    return True


def _unwrapped(value: object) -> list[types.FunctionType]:
    """The Python functions a callable is made of: itself and those its decorators wrap."""
    found = []
    while isinstance(value, types.FunctionType) and value not in found:
        found.append(value)
        value = getattr(value, "__wrapped__", None)
    return found


@functools.cache
def rule(name: str) -> Rule:
    """The functions, operators and engine that the declared name `name` stands for."""
    owner, attr, value = resolve(name)
    functions = tuple(_unwrapped(value))
    op = _op_name(value)
    inherited = ()
    if functions and isinstance(owner, type) and attr not in vars(owner):
        functions, inherited = (), ((owner, attr),)
    if functions or inherited:
        if name not in KERNELS:
            raise ValueError(f"{name} is a Python function: say in grader/rules.py KERNELS which ATen operators it "
                             "runs (() when it is pure Python)")
        ops = [op for op in KERNELS[name] if "." not in op]
        for other in (item for item in KERNELS[name] if "." in item):
            with contextlib.suppress(AttributeError):
                functions += tuple(_unwrapped(resolve(other)[2]))
    elif op is not None:
        ops = [op]
    else:
        raise ValueError(f"{name} is neither a Python function nor a PyTorch built-in: the rules cannot guard it")
    engine = name in AUTOGRAD
    if engine:
        ops += _FORWARD_AD
    for op in ops:  # and the private operators behind each, transitively
        ops += [o for o in IMPLEMENTED_BY.get(op, ()) if o not in ops]
    return Rule(name, functions, tuple(o for o in ops if _exists(o)), engine, inherited)


# ------------------------------------------------------------------ the guards
@dataclass
class _Guards:
    task: str
    lesson: str
    learner_files: set[str]  # the module's __file__, as given and resolved
    calls: list[str] = field(default_factory=list)  # what the learner's code called, as the message names it
    thread: int = field(default_factory=threading.get_ident)  # the test's thread
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def message(self, name: str) -> str:
        return (f"{self.task}: your code called {name}, which is off limits in this task: the point is to "
                f"build it yourself. The rules are in {self.lesson}.")

    def learner_on_stack(self, frame: types.FrameType | None) -> bool:
        while frame is not None:
            if frame.f_code.co_filename in self.learner_files:
                return True
            frame = frame.f_back
        return False

    def fail(self, name: str) -> None:
        __tracebackhide__ = True
        self.calls.append(name)
        raise OffLimits(self.message(name))

    def check(self, name: str, frame: types.FrameType | None) -> None:
        """Fail when the learner's file is on the stack that starts at `frame`."""
        __tracebackhide__ = True
        if self.learner_on_stack(frame):
            self.fail(name)

    def install(self, names: list[str], module: types.ModuleType | None = None) -> None:
        """Guard what `names` forbid (`module`, the learner's, needs nothing: every route is guarded)."""
        rules = [rule(name) for name in names]
        functions: dict[types.FunctionType, str] = {}
        inherited: dict[tuple[type, str], str] = {}
        ops: dict[str, str] = {}
        engine = None
        for r in rules:
            for f in r.functions:
                functions.setdefault(f, r.name)
            for method in r.inherited:
                inherited.setdefault(method, r.name)
            for op in r.ops:  # a message names an operator by the built-in of its name, if one is declared
                own = op == _last(r.name) and not r.functions
                if op not in ops or (own and ops[op].endswith(")")):
                    ops[op] = r.name if own else f"{r.name} (the kernel aten::{op})"
            if r.engine and engine is None:
                engine = f"{r.name} (the autograd engine)"
        for f, name in functions.items():
            self._guard_function(f, name)
        for (owner, attr), name in inherited.items():
            self._shadow(owner, attr, name)
        if ops:
            self._guard_ops(ops)
        if engine is not None:
            self._enter(_EngineWatch(self, engine))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()

    # A Python function: its code becomes a trampoline, so every reference to it checks.
    def _guard_function(self, f: types.FunctionType, name: str) -> None:
        code = f.__code__
        original = types.FunctionType(code, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
        original.__kwdefaults__ = f.__kwdefaults__
        guards = self

        def check() -> None:
            __tracebackhide__ = True
            guards.check(name, sys._getframe(2))  # the trampoline's caller

        f.__code__ = _trampoline(code, original, check)
        self._undo.append(lambda: setattr(f, "__code__", code))

    def _shadow(self, owner: type, attr: str, name: str) -> None:
        inherited = getattr(owner, attr)
        guards = self

        @functools.wraps(inherited)
        def off_limits(*args, **kwargs):
            __tracebackhide__ = True
            guards.check(name, sys._getframe(1))
            return inherited(*args, **kwargs)

        setattr(owner, attr, off_limits)
        self._undo.append(lambda: delattr(owner, attr))

    # ATen operators: a kernel in front of each, at the dispatcher.
    def _guard_ops(self, ops: dict[str, str]) -> None:
        if _CAN_WRAP_KERNELS:
            library = _kernels(self, ops)
            self._undo.append(library._destroy)
        else:
            self._enter(_OpMode(self, ops))

    def _enter(self, mode: contextlib.AbstractContextManager) -> None:
        mode.__enter__()
        self._undo.append(lambda: mode.__exit__(None, None, None))


def _last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _trampoline(code: types.CodeType, original: Callable, check: Callable) -> types.CodeType:
    """Code with `code`'s signature and free variables that runs check(), then original(...)."""
    plain = types.FunctionType(code, {}, code.co_name, None, tuple(types.CellType() for _ in code.co_freevars))
    signature = inspect.signature(plain)  # parameters only: defaults stay on the function object
    call = []
    for p in signature.parameters.values():
        call.append({p.VAR_POSITIONAL: f"*{p.name}", p.KEYWORD_ONLY: f"{p.name}={p.name}",
                     p.VAR_KEYWORD: f"**{p.name}"}.get(p.kind, p.name))
    free = ", ".join(code.co_freevars)
    source = (f"def __make__({free}):\n"
              f"    def __trampoline__{signature}:\n"
              f"        __tracebackhide__ = True\n"
              f"        '__check__'()\n"
              f"        return '__original__'({', '.join(call)})\n"
              f"        {free}\n"  # never runs: keeps the free variables, and their order, the original's
              f"    return __trampoline__\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "'str' object is not callable": replaced below
        maker = compile(source, code.co_filename, "exec").co_consts[0]
    inner = next(c for c in maker.co_consts if isinstance(c, types.CodeType))
    objects = {"__check__": check, "__original__": original}
    consts = tuple(objects.get(c, c) if isinstance(c, str) else c for c in inner.co_consts)
    new = inner.replace(co_consts=consts, co_firstlineno=code.co_firstlineno, co_name=code.co_name,
                        co_qualname=code.co_qualname)
    if new.co_freevars != code.co_freevars:
        raise RuntimeError(f"cannot guard {code.co_qualname}: free variables {code.co_freevars}")
    return new


# With torch.library.get_kernel (PyTorch 2.9), a guard can sit in front of any kernel.
_CAN_WRAP_KERNELS = hasattr(torch.library, "get_kernel")


@functools.cache
def _keys() -> tuple[str, ...]:
    """The dispatch keys a tensor of this machine can reach: its devices' and the meta device's."""
    devices = ["CPU", "Meta"]
    for device, backend in [("CUDA", torch.cuda), ("MPS", getattr(torch.backends, "mps", None)),
                            ("XPU", getattr(torch, "xpu", None))]:
        with contextlib.suppress(Exception):
            if backend is not None and backend.is_available():
                devices.append(device)
    return tuple(key for device in devices for key in (f"Autograd{device}", device))


def _kernels(guards: _Guards, ops: dict[str, str]) -> torch.library.Library:
    """Register a guard in front of every kernel of `ops` ({operator: the name a message gives it})."""
    plan = []  # every original kernel is taken before any is replaced
    for op_name, name in ops.items():
        packet = getattr(torch.ops.aten, op_name)
        for overload in packet.overloads():
            op = getattr(packet, overload)
            qualified = op.name()
            try:
                composite = torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "CompositeImplicitAutograd")
            except RuntimeError:  # TorchScript's scalar overloads (aten::tanh.int) are not the dispatcher's
                continue
            for key in _keys():
                if key == "Meta" and composite:
                    continue  # torch.library refuses it; AutogradMeta sees the calls
                if torch._C._dispatch_has_computed_kernel_for_dispatch_key(qualified, key):
                    plan.append((op, key, torch.library.get_kernel(op, key), name))
    library = torch.library.Library("aten", "IMPL")
    try:
        for op, key, kernel, name in plan:
            library.impl(op, _kernel_guard(guards, kernel, name), key, with_keyset=True)
    except BaseException:
        library._destroy()
        raise
    return library


def _kernel_guard(guards: _Guards, kernel: torch._C._SafeKernelFunction, name: str) -> Callable:
    def off_limits(keyset, *args, **kwargs):
        __tracebackhide__ = True
        guards.check(name, sys._getframe(1))
        return kernel.call_boxed(keyset, *args, **kwargs)

    return off_limits


class _OpMode(TorchFunctionMode):
    """Before PyTorch 2.9: every Python-level call of a built-in, matched by the operator it runs."""

    def __init__(self, guards: _Guards, ops: dict[str, str]) -> None:
        super().__init__()
        self.guards, self.ops = guards, ops

    def __torch_function__(self, func, types, args=(), kwargs=None):
        __tracebackhide__ = True
        name = self.ops.get(_op_name(func))
        if name is not None:
            self.guards.check(name, sys._getframe(1))
        return func(*args, **(kwargs or {}))


# The engine's public doors: a backward pass entered through one of them was checked at
# its door (a guarded function, when the rule forbids it).
_ENGINE_DOORS = frozenset(
    f.__code__ for f in (getattr(torch.autograd.graph, "_engine_run_backward", None), torch.autograd.grad,
                         torch.autograd.backward) if f is not None
)


class _EngineWatch(TorchDispatchMode):
    """Fails an operator that the autograd engine runs for a backward pass the learner's code started.

    A pass the learner started privately (Variable._execution_engine.run_backward,
    torch._C._EngineBase.run_backward, TorchScript's autograd.grad) has a frame of the
    learner's file below the engine and no public door between them. The operators a
    learner's own autograd.Function runs inside a backward pass the test started have
    the learner's frame above the door, and pass. On a device's engine thread the
    test's thread, which waits in the engine, tells who started the pass.
    """

    def __init__(self, guards: _Guards, name: str) -> None:
        super().__init__()
        self.guards, self.name = guards, name

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        __tracebackhide__ = True
        if torch._C._current_autograd_node() is not None and self._started_by_learner():
            self.guards.fail(self.name)
        return func(*args, **(kwargs or {}))

    def _started_by_learner(self) -> bool:
        if threading.get_ident() == self.guards.thread:
            frame = sys._getframe(2)
        else:
            frame = sys._current_frames().get(self.guards.thread)
        learner = False
        while frame is not None:
            if frame.f_code in _ENGINE_DOORS:  # the pass came in through a door: who called the door?
                return self.guards.learner_on_stack(frame.f_back)
            learner = learner or frame.f_code.co_filename in self.guards.learner_files
            frame = frame.f_back
        return learner  # no door: a private entry, from the learner's code if it is on the stack


# ------------------------------------------------------------------ pytest
def _task_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("task")
    return marker.args[0] if marker and marker.args else None


@pytest.fixture(autouse=True)
def off_limits(request: pytest.FixtureRequest) -> Iterator[None]:
    """While a hidden-suite test runs, its task's off-limits callables fail when the learner's file calls them."""
    task = _task_of(request.node)
    slug = request.path.parent.name
    if task is None or request.path.parent.parent.name != "tests":
        yield
        return
    try:
        entry = roadmap.load().find(slug)
    except KeyError:
        yield
        return
    names = entry.off_limits.get(task, [])
    if not names:
        yield
        return
    module = request.getfixturevalue("topic")
    lesson = entry.lesson().relative_to(roadmap.ROOT).as_posix()
    guards = _Guards(task, lesson, {module.__file__, str(Path(module.__file__).resolve())})
    request.node.stash[_GUARDS] = guards
    try:
        guards.install(names, module)
        yield
    finally:
        guards.restore()


_GUARDS = pytest.StashKey[_Guards]()


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """A test in which the learner's code called (and caught, or lost in another error) a guard fails with the rule."""
    guards = pyfuncitem.stash.get(_GUARDS, None)
    try:
        result = yield
    except OffLimits:
        raise
    except Exception:
        if guards is not None and guards.calls:
            pytest.fail(guards.message(guards.calls[0]), pytrace=False)
        raise
    if guards is not None and guards.calls:
        pytest.fail(guards.message(guards.calls[0]), pytrace=False)
    return result

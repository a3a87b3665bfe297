"""Isolation: one topic's code never reaches another topic's tests.

The suites of several topics run in one process (the grader pays `import torch` once),
so whatever the learner's file of one topic leaves behind in the process would reach
the topics graded after it. The plugin takes a snapshot once the suites are collected
(the state every test starts from) and puts it back:

- before each test, PyTorch's settings (`settings`): default dtype and device, grad
  and anomaly modes, deterministic algorithms, threads, matmul precision, the backend
  flags, print options;
- before the first test of each topic, everything else that is process-global
  (`Snapshot.restore`):
  - PyTorch's global hook registries, as the PyTorch source declares them: every
    `_global_*` registry of `torch.nn.modules.module` (forward, backward and
    registration hooks, `register_module_forward_hook` and friends), the optimizer's
    (`register_optimizer_step_pre_hook`/`_post_hook`) and CUDA graphs';
  - the torch function and dispatch mode stacks and the default saved-tensors hooks
    (a `with` block the learner entered and never left);
  - kernels the learner's code registered with `torch.library.Library`;
  - the random number generators (torch's, Python's and NumPy's), so a topic's result
    does not depend on which topics ran before it;
  - every attribute of the modules and classes of `torch`, `torchvision`, `grader`,
    `kata` and the hidden suites, and the code and defaults of their Python functions,
    so a patched `torch.sigmoid`, `nn.Module.__call__`, `grader.checks.assert_close`
    (or its `__code__`, which every name bound to it shares) is undone (names added to
    `grader`, `kata` and the suites are removed too);
  - the working directory, the warning filters and the recursion limit.
"""

from __future__ import annotations

import os
import random
import sys
import types
import warnings
import weakref
from pathlib import Path

import pytest

from grader.plugin.run import run_of

_MISSING = object()
PREFIXES = ("torch", "torchvision", "grader", "kata")  # the modules whose attributes are put back
OWN = ("grader", "kata")  # ... of which names added later are removed too (and the suites')
# The modules whose globals named _global_* are process-global registries (dicts that
# register_* functions fill), as the PyTorch source declares them.
REGISTRIES = ("torch.nn.modules.module", "torch.optim.optimizer", "torch.cuda.graphs")


# ------------------------------------------------------------------ settings: before each test
def settings() -> dict | None:
    """PyTorch's global settings (None before torch is imported)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    backends = torch.backends
    return {
        "dtype": torch.get_default_dtype(),
        "grad": torch.is_grad_enabled(),
        "anomaly": (torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()),
        "deterministic": (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled()),
        "threads": torch.get_num_threads(),
        "device": torch.get_default_device(),
        "matmul": torch.get_float32_matmul_precision(),
        "cudnn": (backends.cudnn.enabled, backends.cudnn.deterministic, backends.cudnn.benchmark,
                  backends.cudnn.allow_tf32),
        "cuda_matmul": (backends.cuda.matmul.allow_tf32, backends.cuda.matmul.allow_fp16_reduced_precision_reduction),
        "mkldnn": backends.mkldnn.enabled,
        "print": dict(vars(torch._tensor_str.PRINT_OPTS)),
    }


def restore_settings(saved: dict | None) -> None:
    """Put back what `settings` saw; only what changed (some setters import a lot)."""
    now = settings()
    if saved is None or saved == now:
        return
    import torch

    backends = torch.backends

    def cudnn(value):
        backends.cudnn.enabled, backends.cudnn.deterministic, backends.cudnn.benchmark, \
            backends.cudnn.allow_tf32 = value

    def cuda_matmul(value):
        backends.cuda.matmul.allow_tf32, backends.cuda.matmul.allow_fp16_reduced_precision_reduction = value

    setters = {
        "dtype": torch.set_default_dtype,
        "grad": torch.set_grad_enabled,
        "anomaly": lambda value: torch.set_anomaly_enabled(*value),
        "deterministic": lambda value: torch.use_deterministic_algorithms(value[0], warn_only=value[1]),
        "threads": torch.set_num_threads,
        "device": lambda value: torch.set_default_device(None if value == torch.device("cpu") else value),
        "matmul": torch.set_float32_matmul_precision,
        "cudnn": cudnn,
        "cuda_matmul": cuda_matmul,
        "mkldnn": lambda value: setattr(backends.mkldnn, "enabled", value),
        "print": lambda value: vars(torch._tensor_str.PRINT_OPTS).update(value),
    }
    for key, set_value in setters.items():
        if now[key] != saved[key]:
            set_value(saved[key])


# ------------------------------------------------------------------ the rest: before each topic
def _kind(name: str, module: object, tests: str) -> str | None:
    """'own' for grader, kata and the suites (names added later are removed), 'watched' for
    torch and torchvision (changed names are put back), None for the rest."""
    if not isinstance(module, types.ModuleType):
        return None
    if any(name == p or name.startswith(p + ".") for p in OWN):
        return "own"
    file = getattr(module, "__file__", None)
    if isinstance(file, str) and file.startswith(tests):
        return "own"
    return "watched" if any(name == p or name.startswith(p + ".") for p in PREFIXES) else None


class Snapshot:
    """The process-global state every topic starts from."""

    def __init__(self, root: Path, target: Path) -> None:
        import torch

        self.tests = str((root / "tests").resolve()) + os.sep
        self.target = target.resolve()
        self.modules: dict[str, tuple[types.ModuleType, dict, bool]] = {}  # name -> (module, its dict, own)
        self.classes: dict[int, tuple[type, dict]] = {}
        self.functions: dict[int, tuple] = {}  # id -> (function, __code__, __defaults__, __kwdefaults__)
        self.seen: set[str] = set()  # module names already looked at
        self._take_new()
        self.registries = {(name, attr): (value, dict(value)) for name, attr, value in self._registries()}
        self.full_backward = sys.modules["torch.nn.modules.module"]._global_is_full_backward_hook
        self.function_modes = torch._C._len_torch_function_stack()
        self.dispatch_modes = torch._C._len_torch_dispatch_stack()
        self.rng = torch.random.get_rng_state()
        self.python_rng = random.getstate()
        numpy = sys.modules.get("numpy")
        self.numpy_rng = numpy.random.get_state() if numpy is not None else None
        self.cwd = os.getcwd()
        self.warnings = list(warnings.filters)
        self.recursion = sys.getrecursionlimit()
        self.libraries: list[weakref.ref] = []
        self._track_libraries(torch)

    def _take_new(self) -> None:
        """Take the modules imported since the last look (at the start: all of them)."""
        with warnings.catch_warnings():  # a deprecated module attribute warns when looked at
            warnings.simplefilter("ignore")
            for name, module in list(sys.modules.items()):
                if name in self.seen:
                    continue
                self.seen.add(name)
                kind = _kind(name, module, self.tests)
                if kind is None:
                    continue
                self.modules[name] = (module, dict(vars(module)), kind == "own")
                for value in vars(module).values():
                    if isinstance(value, type) and value.__module__ == name and id(value) not in self.classes:
                        self.classes[id(value)] = (value, dict(vars(value)))
                        for member in vars(value).values():
                            self._take_function(member)
                    else:
                        self._take_function(value)

    def _take_function(self, value: object) -> None:
        """A Python function's code and defaults: `f.__code__ = ...` changes every name bound to it."""
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        if isinstance(value, types.FunctionType) and id(value) not in self.functions:
            self.functions[id(value)] = (value, value.__code__, value.__defaults__, value.__kwdefaults__)

    @staticmethod
    def _registries():
        for name in REGISTRIES:
            module = sys.modules.get(name)
            for attr, value in vars(module).items() if module is not None else ():
                if attr.startswith("_global_") and isinstance(value, dict):
                    yield name, attr, value

    def _track_libraries(self, torch) -> None:
        """Remember every torch.library.Library made while the learner's file is on the stack."""
        library = torch.library.Library
        original = library.__init__
        if getattr(original, "_kata_tracked", False):
            return
        snapshot = self

        def tracked_init(self, *args, **kwargs):
            original(self, *args, **kwargs)
            frame = sys._getframe(1)
            while frame is not None:
                if Path(frame.f_code.co_filename).resolve().is_relative_to(snapshot.target):
                    snapshot.libraries.append(weakref.ref(self))
                    break
                frame = frame.f_back

        tracked_init._kata_tracked = True
        library.__init__ = tracked_init
        self.classes[id(library)][1]["__init__"] = tracked_init  # the tracker is part of the state kept

    def restore(self) -> None:
        import torch

        for (_, _), (registry, saved) in self.registries.items():
            if registry != saved:
                registry.clear()
                registry.update(saved)
        sys.modules["torch.nn.modules.module"]._global_is_full_backward_hook = self.full_backward
        while torch._C._len_torch_function_stack() > self.function_modes:
            torch._C._pop_torch_function_stack()
        while torch._C._len_torch_dispatch_stack() > self.dispatch_modes:
            torch._C._pop_torch_dispatch_stack()
        while torch._C._autograd._top_saved_tensors_default_hooks(True) is not None:
            torch._C._autograd._pop_saved_tensors_default_hooks()
        while self.libraries:
            library = self.libraries.pop()()
            if library is not None:
                library._destroy()
        torch.random.set_rng_state(self.rng)
        if torch.cuda.is_initialized():
            torch.cuda.manual_seed_all(torch.initial_seed())
        random.setstate(self.python_rng)
        numpy = sys.modules.get("numpy")
        if numpy is not None and self.numpy_rng is not None:
            numpy.random.set_state(self.numpy_rng)
        for module, saved, own in self.modules.values():
            _put_back(module, saved, remove_added=own)
        for cls, saved in self.classes.values():
            _put_back(cls, saved, remove_added=True)
        for function, code, defaults, kwdefaults in self.functions.values():
            if function.__code__ is not code:
                function.__code__ = code
            if function.__defaults__ is not defaults:
                function.__defaults__ = defaults
            if function.__kwdefaults__ is not kwdefaults:
                function.__kwdefaults__ = kwdefaults
        self._take_new()  # modules imported since (torchvision, inside a test): from now on
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)
        warnings.filters[:] = self.warnings
        sys.setrecursionlimit(self.recursion)


def _put_back(owner: object, saved: dict, *, remove_added: bool) -> None:
    now = vars(owner)
    changed = [k for k, v in saved.items() if now.get(k, _MISSING) is not v]
    added = [k for k in now if k not in saved] if remove_added else []
    for key in changed:
        try:
            setattr(owner, key, saved[key])
        except (AttributeError, TypeError):  # read-only (a C type's slot): it cannot have changed either
            pass
    for key in added:
        if isinstance(now[key], types.ModuleType):
            continue  # a submodule imported since: `import a.b` will not bind it again
        try:
            delattr(owner, key)
        except (AttributeError, TypeError):
            pass


_SNAPSHOT = pytest.StashKey[Snapshot]()
_TOPIC = pytest.StashKey[str]()


def pytest_collection_finish(session: pytest.Session) -> None:
    run = run_of(session.config)
    run.torch_state = settings()  # after the conftests: the state every test starts from
    topics = {item.path.parent for item in session.items}
    if "torch" in sys.modules and len(topics) > 1:  # one topic alone has no other to protect
        config = session.config
        config.stash[_SNAPSHOT] = Snapshot(config.kata_root, config.kata_target)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    checks = sys.modules.get("grader.checks")  # imported by the suites; it imports torch
    if checks is not None:
        checks.measured.clear()
    run = run_of(item.config)
    if run.torch_state is None:
        run.torch_state = settings()
    restore_settings(run.torch_state)
    topic = str(item.path.parent)
    previous = item.config.stash.get(_TOPIC, None)
    item.config.stash[_TOPIC] = topic
    snapshot = item.config.stash.get(_SNAPSHOT, None)
    if snapshot is not None and previous is not None and previous != topic:
        snapshot.restore()

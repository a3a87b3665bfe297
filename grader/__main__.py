import os
import sys

# `python grader` puts grader/ itself first on sys.path; the package needs its parent, the
# project folder. That folder goes last, after the standard library and the installed
# packages, so that a learner's scratch random.py or torch.py there shadows nothing; the
# package `grader` is loaded from this very folder, whatever else sys.path holds.
_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(_here)
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _here:
    del sys.path[0]
if _root not in sys.path:
    sys.path.append(_root)
if "grader" not in sys.modules:
    import importlib.util

    _spec = importlib.util.spec_from_file_location("grader", os.path.join(_here, "__init__.py"),
                                                   submodule_search_locations=[_here])
    sys.modules["grader"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["grader"])

from grader.cli import main  # noqa: E402

raise SystemExit(main())

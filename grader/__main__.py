import sys
from pathlib import Path

# `python grader` puts grader/ itself on sys.path; the package needs its parent.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader.cli import main  # noqa: E402

raise SystemExit(main())

"""`python grader`: where you stand on the roadmap, and the tools around it.

The parser is built from commands.COMMANDS. Expected errors print one sentence to
stderr and exit 1.
"""

from __future__ import annotations

import argparse
import difflib
import sys

from grader import runner
from grader.commands import COMMANDS, UserError, report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python grader",
        description="Your progress along the PyTorch roadmap. With no command: grade every topic.",
    )
    parser.add_argument("--json", action="store_true",
                        help="print results as JSON (exercism results.json v3 plus score/max_score) instead of the report")
    parser.add_argument("--seed", type=int, default=0, help="seed for the accuracy tests' data and training (default 0)")
    parser.add_argument("--device", default="cpu", help="device for training runs (default cpu)")
    parser.add_argument("--time-limit", type=float, default=runner.TOPIC_TIME_LIMIT, metavar="SECONDS",
                        help=f"time a topic's whole suite may take (default {runner.TOPIC_TIME_LIMIT:g} s)")
    parser.add_argument("--memory-limit", default=None, metavar="SIZE",
                        help="memory a test run may use, e.g. 4G (the default), 512M, or 0 for no limit")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name, (summary, fn) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if hasattr(fn, "configure"):  # the command's own arguments
            fn.configure(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        guess = f" Did you mean '{close[0]}'?" if close else ""
        print(f"python grader: unknown command '{argv[0]}'.{guess} See `python grader --help`.", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    func = getattr(args, "func", report)
    try:
        return func(args)
    except UserError as exc:
        print(f"python grader: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `python grader compare 01 | head`
        return 0

"""`python grader`: where you stand on the roadmap, and the tools around it.

The parser is built from commands.COMMANDS. Expected errors print one sentence to
stderr and exit 1.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import difflib
import sys

from grader import processes, runner, text
from grader.commands import COMMANDS, UserError, report

OUTPUT_ERRORS = "kata-output"  # text.output_errors: what an encoding cannot write becomes \udcff or '?'
codecs.register_error(OUTPUT_ERRORS, text.output_errors)
SEED_RANGE = (-(2**63), 2**63 - 1)  # what torch.manual_seed takes, with room for the data's offsets


def _seed(value: str) -> int:
    try:
        seed = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    low, high = SEED_RANGE
    if not low <= seed <= high:
        raise argparse.ArgumentTypeError(f"{value} is out of range: a seed is a whole number from {low} to {high}")
    return seed


def _memory_limit(value: str) -> str:
    from grader.plugin import parse_size  # imports pytest: only when the option is given

    try:
        parse_size(value)
    except Exception as exc:  # noqa: BLE001  (pytest.UsageError, with the sentence to show)
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _device(value: str) -> str:
    """A device PyTorch knows and this machine has (torch is imported only for a device other than cpu)."""
    if value == "cpu":
        return value
    from grader.plugin.routing import check_device

    try:
        check_device(value)
    except Exception as exc:  # noqa: BLE001  (pytest.UsageError, with the sentence to show)
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--kata-device {value}: ")) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python grader",
        description="Your progress along the PyTorch roadmap. With no command: grade every topic.",
    )
    parser.add_argument("--json", action="store_true",
                        help="print results as JSON (exercism results.json v3 plus score/max_score) instead of the report")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for the accuracy tests' data and training (default 0)")
    parser.add_argument("--device", type=_device, default="cpu", help="device for training runs (default cpu)")
    parser.add_argument("--time-limit", type=float, default=runner.TOPIC_TIME_LIMIT, metavar="SECONDS",
                        help=f"time a topic's whole suite may take (default {runner.TOPIC_TIME_LIMIT:g} s)")
    parser.add_argument("--memory-limit", type=_memory_limit, default=None, metavar="SIZE",
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
    with _printable_output(), processes.on_termination():
        try:
            return _main(argv)
        except processes.Terminated as exc:  # SIGTERM, SIGHUP: the test process and temporary files are gone
            return 128 + exc.signum


def _main(argv: list[str]) -> int:
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


@contextlib.contextmanager
def _printable_output():
    """stdout and stderr that write anything: a lone surrogate (from a test's message) as
    its escape, a character the encoding lacks (Korean in cp1252 or ASCII) as '?'."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            changed.append((stream, stream.errors))
            stream.reconfigure(errors=OUTPUT_ERRORS)
    try:
        yield
    finally:
        for stream, errors in changed:
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.reconfigure(errors=errors)

"""A failed == or != of big containers is explained in a few lines, and pytest's own diff
of them is kept short."""

from __future__ import annotations

import os
import reprlib

import pytest

BIG = 200  # items, nested ones counted (characters for a string), past which a failed == or != is explained in short


def _big(value: object) -> bool:
    """Whether `value` holds more than BIG items, counting those of nested containers."""
    seen, stack = 0, [value]
    while stack and seen <= BIG:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            seen += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            seen += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            seen += len(item)
            stack.extend(item.values())
    return seen > BIG


@pytest.hookimpl(wrapper=True)
def pytest_assertrepr_compare(config: pytest.Config, op: str, left: object, right: object):
    """A few lines first, and pytest's diff cut short, when a failed == or != compares big containers.

    pytest's own explanation diffs their pretty-printed forms: quadratic, and never cut
    short when CI (or BUILD_NUMBER) is set, where explaining two lists of twenty sentences
    took longer than a test's time limit. So CI mode is off while pytest explains them.
    """
    if op not in ("==", "!=") or not (_big(left) or _big(right)):
        return (yield)
    saved = {name: os.environ.pop(name) for name in ("CI", "BUILD_NUMBER") if name in os.environ}
    try:
        results = yield
    finally:
        os.environ.update(saved)
    return [_in_short(op, left, right), *results]


def _in_short(op: str, left: object, right: object) -> list[str]:
    short = reprlib.Repr()  # keyword arguments need Python 3.12
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 8
    short.maxstring = short.maxother = 80
    lines = [f"{short.repr(left)} {op} {short.repr(right)}"]
    if op == "!=":
        return [*lines, "the two sides are equal"]
    sized = (list, tuple, str, bytes)
    if isinstance(left, sized) and isinstance(right, sized):
        if len(left) != len(right):
            lines.append(f"the left side has {len(left)} items, the right side {len(right)}")
        for i, (a, b) in enumerate(zip(left, right)):
            try:
                differ = bool(a != b)
            except Exception:  # e.g. tensors of several elements: no single truth value
                break
            if differ:
                lines.append(f"first difference at index {i}: {short.repr(a)} != {short.repr(b)}")
                break
    return lines

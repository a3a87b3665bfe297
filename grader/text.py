"""Text as the learner reads it."""

from __future__ import annotations


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to at most `width` characters between words, with '…' when cut."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def escape_surrogates(text: str) -> str:
    """`text` with each lone surrogate written as its escape (`\\udcff`).

    A lone surrogate is what a byte that is not UTF-8 decodes to under Python's
    "surrogateescape" (a file name, a program's output), or what code can put in a
    string itself (`ValueError("\\udcff")`): no encoding can write it, so it is shown as
    its escape.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def output_errors(exc: UnicodeError) -> tuple[str, int]:
    """A codec error handler for what the grader prints: a lone surrogate as its escape,
    and a character the output's encoding lacks (Korean, ✔ in cp1252) as '?'."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start:exc.end]
    return "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else "?" for c in bad), exc.end


def exception_text(exc: BaseException) -> str:
    """str(exc), or what pytest shows when the exception's own __str__ fails (a learner's
    exception class can raise there)."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001
        return "<exception str() failed>"

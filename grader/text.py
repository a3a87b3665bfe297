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

"""Untrusted text -> DOT: escaping, shortening and fonts for every label.

Names, images, routes, notes and failure reasons come from the engines. Text
reaches DOT only through ``label_text`` (HTML-like labels) or
``attribute_text`` (quoted values), and no URL or link attribute is ever set
from it. Pure; no Graphviz call.
"""

from __future__ import annotations

import html
import re

import graphviz

# Control characters, and the bidirectional marks, embeddings, overrides and
# isolates that would let a name be drawn in another order than it is read
# (U+202E shows "\u202egnp.exe" as "exe.png").
_CONTROL = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"
)
_NEWLINE = re.compile(r"\r\n|\r|\n")
ELLIPSIS = "\u2026"
NEWLINE_MARK = "\u21b5"
ARROW = "\u2192"
# Graphviz rejects a quoted or HTML string longer than 16,384 bytes, and the
# host's picture is then not drawn at all. No single text reaches DOT longer
# than this; escaped, it stays under 12,000 bytes (at most 6 a character, for
# "&quot;").
MAX_TEXT_CHARS = 2000
# DejaVu Sans averages a little under 0.6 em per character in names.
_EM_PER_CHAR = 0.6


def clean(value: str) -> str:
    """Replace line breaks and control characters with visible marks."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    value = _NEWLINE.sub(NEWLINE_MARK, value).replace("\t", " ")
    return _CONTROL.sub("\ufffd", value)


def cap(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    """Cut text longer than ``limit`` characters at the end, with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def shorten(value: str, limit: int) -> str:
    """Shorten in the middle, keeping both ends (``nextcl…app-1``)."""
    if limit < 5 or len(value) <= limit:
        return value
    head = (limit - 1) * 2 // 3
    tail = limit - 1 - head
    return value[:head] + ELLIPSIS + value[-tail:]


def label_text(value: str, limit: int | None = None) -> str:
    """Text for inside an HTML-like label: cleaned, shortened, entity-escaped."""
    value = cap(clean(value))
    if limit is not None:
        value = shorten(value, limit)
    # Graphviz replaces \N, \G, \L ... even inside HTML-like labels, after
    # decoding entities; a doubled backslash is its way to write one.
    return html.escape(value, quote=True).replace("\\", "\\\\")


def attribute_text(value: str) -> str:
    """A quoted DOT attribute value (tooltip) holding plain text.

    Graphviz reads backslash sequences such as ``\\N`` and ``\\l`` in these
    values, so every backslash is doubled; quotes are escaped, and the value
    is never taken for an HTML string even when it looks like ``<b>``. Line
    breaks become Graphviz's own ``\\n``. Text past ``MAX_TEXT_CHARS`` is cut.
    """
    value = cap(value.encode("utf-8", "replace").decode("utf-8"))
    value = value.replace("\\", "\\\\").replace('"', '\\"')
    lines = [_CONTROL.sub("\ufffd", line) for line in _NEWLINE.split(value)]
    return graphviz.nohtml("\\n".join(line.replace("\t", " ") for line in lines))


def font(escaped: str, points: float, color: str = "", bold: bool = False) -> str:
    """Wrap already escaped text in a FONT tag of the given size and colour."""
    colour = f' COLOR="{color}"' if color else ""
    body = f"<B>{escaped}</B>" if bold else escaped
    return f'<FONT POINT-SIZE="{points:g}"{colour}>{body}</FONT>'


def stacked(lines: list[str]) -> str:
    """An HTML-like label of already formatted lines, one under the other."""
    return "<" + "<BR/>".join(lines) + ">"


def text_width_points(text: str, points: float) -> float:
    """Rough width of unescaped ``text`` set in ``points``."""
    return len(text) * points * _EM_PER_CHAR

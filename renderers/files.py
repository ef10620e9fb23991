"""What a picture is on disk: safe file stems, and sizes read back from images.

Pure; no I/O. Host names become file stems that cannot leave the output
folder or overwrite the fleet, legend, page or inventory files. Sizes are read
from what Graphviz wrote, so a picture is measured as it was drawn.
"""

from __future__ import annotations

import re
import struct

from renderers.layout import GraphvizFailed

# Cairo refuses bitmaps wider or taller than this; Graphviz then shrinks them.
CAIRO_MAX_SIDE_PIXELS = 32767
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')
_SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_FLEET_PAGE = re.compile(r"fleet-\d+", re.IGNORECASE)
_RESERVED = {"fleet", "legend", "index", "inventory"}
_MAX_STEM_CHARS = 60


def file_names(hosts: list[str]) -> list[str]:
    """A safe, distinct file stem per host name, in the same order."""
    names: list[str] = []
    taken = set(_RESERVED)
    for host in hosts:
        stem = _SAFE_NAME.sub("_", host).lstrip(".") or "host"
        stem = stem[:_MAX_STEM_CHARS]
        candidate, number = stem, 1
        while candidate.lower() in taken or _FLEET_PAGE.fullmatch(candidate):
            number += 1
            candidate = f"{stem}-host{number}"
        taken.add(candidate.lower())
        names.append(candidate)
    return names


def fleet_file_name(number: int, pages: int) -> str:
    """The file stem of one page of the fleet picture."""
    return "fleet" if pages == 1 else f"fleet-{number}"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise GraphvizFailed("Graphviz did not write a PNG; please report this.")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def svg_size(svg: bytes) -> tuple[float, float]:
    """Width and height in points from the root element of an SVG."""
    match = _SVG_SIZE.search(svg.decode("utf-8", "replace"))
    if match is None:
        raise GraphvizFailed(
            "Graphviz wrote an SVG without a size; please report this."
        )
    return float(match.group(1)), float(match.group(2))


def font_sizes(svg: bytes) -> list[float]:
    """Every font size an SVG uses, in points; Graphviz's default when none."""
    sizes = [float(s) for s in _FONT_SIZE.findall(svg.decode("utf-8", "replace"))]
    return sizes or [14.0]


def with_dpi(packed: str, dpi: float) -> str:
    """Positioned DOT source that draws at ``dpi`` instead of the default 96."""
    if dpi == 96.0:
        return packed
    head, _, rest = packed.partition("{")
    return f"{head}{{\n\tgraph [dpi={dpi:.2f}];{rest}"

"""Run Graphviz's own tools: dot lays out, gvpack packs, neato -n2 draws.

Every picture is a grid of laid-out graphs (hosts, the legend) packed by
``gvpack -array`` with the number of columns that brings the picture closest
to the wanted aspect ratio, then drawn with ``neato -n2``, which keeps the
positions dot computed. Only this module starts Graphviz processes.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import GraphbotError

_BB = re.compile(r'\bbb="([-\d.e]+),([-\d.e]+),([-\d.e]+),([-\d.e]+)"')
PACK_MARGIN_POINTS = 16
# The title drawn above a packed picture: up to four lines of text.
TITLE_HEIGHT_POINTS = 90.0


class GraphvizFailed(GraphbotError):
    """A Graphviz tool failed or is missing."""


@dataclass
class ToolClock:
    """Seconds spent inside Graphviz processes, by tool name."""

    seconds_by_tool: dict[str, float] = field(default_factory=dict)

    def add(self, tool: str, seconds: float) -> None:
        self.seconds_by_tool[tool] = self.seconds_by_tool.get(tool, 0.0) + seconds

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds_by_tool.values())


@dataclass(frozen=True)
class Layout:
    """A graph laid out by dot: positioned DOT text and its size in points."""

    name: str
    dot: str
    width_points: float
    height_points: float

    @property
    def aspect(self) -> float:
        return self.width_points / max(self.height_points, 1.0)


def run_tool(
    args: list[str], source: str, clock: ToolClock, timeout_seconds: float
) -> bytes:
    """Run one Graphviz command on ``source`` and return its standard output.

    Raises:
        GraphvizFailed: the tool is missing, failed, or ran out of time.
    """
    started = time.perf_counter()
    try:
        result = subprocess.run(
            args,
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=timeout_seconds,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GraphvizFailed(
            f"The Graphviz program {args[0]} is not installed; install the "
            "graphviz package (apt-get install graphviz) and render again."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        # The time limit is not a setting: what a user can change is how much
        # one picture holds.
        raise GraphvizFailed(
            f"Graphviz ({args[0]}) took longer than {timeout_seconds:g} s; the "
            "picture was not drawn. Add containers nobody needs to see to the "
            "host's exclude list in settings.toml (names or patterns such as "
            '"test_*"), then render again.'
        ) from exc
    finally:
        clock.add(Path(args[0]).name, time.perf_counter() - started)
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode("utf-8", "replace").strip()[-300:]
        raise GraphvizFailed(
            f"Graphviz ({args[0]}) could not draw the picture: {message}. "
            "Please report this with the inventory.json that caused it."
        )
    return result.stdout


def lay_out(name: str, source: str, clock: ToolClock, timeout_seconds: float) -> Layout:
    """Lay out a graph with dot and measure it."""
    output = run_tool(["dot", "-Tdot"], source, clock, timeout_seconds)
    positioned = output.decode("utf-8")
    width, height = bounding_box(positioned)
    return Layout(name, positioned, width, height)


def bounding_box(positioned: str) -> tuple[float, float]:
    """Width and height in points of the root graph of positioned DOT."""
    match = _BB.search(positioned)
    if match is None:
        raise GraphvizFailed(
            "Graphviz returned a layout without a size; please report this."
        )
    left, bottom, right, top = (float(v) for v in match.groups())
    return right - left, top - bottom


@dataclass(frozen=True)
class Grid:
    """How many columns a packed picture has, and its estimated size."""

    columns: int
    width_points: float
    height_points: float

    @property
    def aspect(self) -> float:
        return self.width_points / max(self.height_points, 1.0)


def grid_size(sizes: list[tuple[float, float]], columns: int) -> Grid:
    """Size of ``gvpack -array_u<columns>``: each column as wide as its widest."""
    widths = [0.0] * columns
    heights: list[float] = []
    for index, (width, height) in enumerate(sizes):
        row, column = divmod(index, columns)
        widths[column] = max(widths[column], width)
        if row == len(heights):
            heights.append(0.0)
        heights[row] = max(heights[row], height)
    gaps = PACK_MARGIN_POINTS
    width = sum(widths) + gaps * (columns - 1)
    height = sum(heights) + gaps * (len(heights) - 1) + TITLE_HEIGHT_POINTS
    return Grid(columns, width, height)


def best_grid(sizes: list[tuple[float, float]], target_aspect: float) -> Grid:
    """The column count whose picture is closest to ``target_aspect``."""
    grids = [grid_size(sizes, columns) for columns in range(1, len(sizes) + 1)]
    return min(grids, key=lambda g: abs(math.log(g.aspect / target_aspect)))


def pack(
    layouts: list[Layout],
    columns: int,
    title_label: str,
    name: str,
    clock: ToolClock,
    timeout_seconds: float,
) -> str:
    """Pack laid-out graphs into a grid and put ``title_label`` above it."""
    joined = "\n".join(layout.dot for layout in layouts)
    args = ["gvpack", f"-m{PACK_MARGIN_POINTS}", f"-array_u{columns}", f"-s{name}"]
    packed = run_tool(args, joined, clock, timeout_seconds).decode("utf-8")
    # gvpack keeps the root graph's attributes empty; the title is set here,
    # and neato -n2 places it and grows the picture to fit it.
    head, _, rest = packed.partition("{")
    attributes = (
        f'graph [label={title_label}, labelloc=t, fontname="DejaVu Sans", '
        "fontsize=14, pad=0.2];"
    )
    return f"{head}{{\n\t{attributes}{rest}"


def draw(positioned: str, fmt: str, clock: ToolClock, timeout_seconds: float) -> bytes:
    """Draw a positioned graph as ``fmt`` (png, svg) without moving anything."""
    return run_tool(["neato", "-n2", f"-T{fmt}"], positioned, clock, timeout_seconds)

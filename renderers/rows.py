"""Wrap the blocks of a host (compose projects, lone containers) into rows.

Dot puts every container of a host on one rank, which is what made the
pictures of the older tool a thin strip. Each block is given a row so that
the host comes out about as wide as ``target_aspect`` times its height; dot
still places everything inside a row. Pure; no Graphviz call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A row is three ranks (networks, containers, volumes) plus the space dot
# leaves between them; measured on pictures from bench/fleetgen.py.
ROW_HEIGHT_POINTS = 190.0
NODE_GAP_POINTS = 14.0
CLUSTER_PAD_POINTS = 16.0


@dataclass(frozen=True)
class Block:
    """A group drawn together: its containers' estimated widths in points."""

    key: str
    container_widths: tuple[float, ...]
    extra_width_points: float = 0.0  # networks and volumes kept inside

    def width_points(self, per_row: int | None = None) -> float:
        """Estimated width when at most ``per_row`` containers share a sub-row."""
        widths = self.container_widths or (60.0,)
        per_row = per_row or len(widths)
        chunks = [widths[i : i + per_row] for i in range(0, len(widths), per_row)]
        widest = max(sum(c) + NODE_GAP_POINTS * (len(c) - 1) for c in chunks)
        return max(widest, self.extra_width_points) + CLUSTER_PAD_POINTS


@dataclass(frozen=True)
class RowPlan:
    """Which blocks share each row, and how many containers per sub-row."""

    rows: tuple[tuple[int, ...], ...]
    per_row_by_block: tuple[int, ...]

    def sub_rows(self, block: int, count: int) -> int:
        """Number of sub-rows block ``block`` of ``count`` containers needs."""
        return max(1, math.ceil(count / self.per_row_by_block[block]))


def default_row_width(blocks: list[Block], target_aspect: float) -> float:
    """Row width that makes the blocks fill a ``target_aspect`` rectangle."""
    total = sum(block.width_points() for block in blocks)
    width = math.sqrt(target_aspect * total * ROW_HEIGHT_POINTS)
    return max(width, 400.0)


def plan_rows(blocks: list[Block], row_width_points: float) -> RowPlan:
    """Fill rows left to right, in the given order, up to the row width."""
    per_row = tuple(_per_row(block, row_width_points) for block in blocks)
    rows: list[list[int]] = []
    used = math.inf
    for index, block in enumerate(blocks):
        width = block.width_points(per_row[index])
        if used + width > row_width_points and used > 0:
            rows.append([])
            used = 0.0
        rows[-1].append(index)
        used += width + NODE_GAP_POINTS
    return RowPlan(tuple(tuple(row) for row in rows), per_row)


def _per_row(block: Block, row_width_points: float) -> int:
    count = len(block.container_widths)
    for per_row in range(count, 1, -1):
        if block.width_points(per_row) <= row_width_points:
            return per_row
    return 1

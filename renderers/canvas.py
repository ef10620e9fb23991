"""What every part of a host's drawing shares: the graph, ids and placement."""

from __future__ import annotations

from dataclasses import dataclass, field

import graphviz

from bot.model import HostInventory
from renderers import style
from renderers.options import RenderOptions
from renderers.picture import new_picture_graph

# Helpers that give dot structure without being seen.
INVISIBLE_NODE = {
    "style": "invis",
    "shape": "point",
    "width": "0",
    "height": "0",
    "label": "",
}
INVISIBLE_EDGE = {"style": "invis", "weight": "0"}
# Which project block draws each (kind, name) resource inside its cluster;
# None for a resource shared between blocks, drawn at the top of the host.
Owners = dict[tuple[str, str], int | None]


@dataclass
class HostCanvas:
    """One host's graph being drawn, the ids handed out and where things sit.

    ``prefix`` makes node ids unique when several hosts share one picture.
    """

    host: HostInventory
    options: RenderOptions
    prefix: str
    graph: graphviz.Digraph = field(init=False)
    palette: style.Palette = field(init=False)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    # Filled while painting rows: where each container and block sits.
    place_by_container: dict[str, tuple[int, int]] = field(default_factory=dict)
    row_by_block: dict[int, int] = field(default_factory=dict)
    # Junction node of each (network, row, sub-row) that has one.
    junctions: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.graph = new_picture_graph(self.prefix)
        self.palette = style.make_palette(self.options)

    @property
    def limit(self) -> int:
        """How many characters of a name a label shows."""
        return self.options.max_label_chars

    def node_id(self, kind: str, key: str) -> str:
        """A DOT id made of the prefix and a counter, never of names."""
        if (kind, key) not in self.ids:
            self.ids[(kind, key)] = f"{self.prefix}{kind}{len(self.ids)}"
        return self.ids[(kind, key)]

    def cluster_name(self, block: int | None = None) -> str:
        """Name of the host's cluster, or of the cluster of project ``block``."""
        suffix = "" if block is None else f"p{block}"
        return f"cluster_{self.prefix}{suffix}"

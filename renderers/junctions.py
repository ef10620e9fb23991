"""Network junctions: how a network reaches containers in rows below its own.

A network drawn above several rows reaches each later row through one small
dot in that row. An edge per container across rows gives dot a chain of
virtual nodes per row crossed: 300 lone containers on one network made dot
run for minutes and the picture 2.5 times wider.
"""

from __future__ import annotations

from collections import defaultdict

import graphviz

from renderers import style
from renderers.canvas import INVISIBLE_EDGE, HostCanvas, Owners
from renderers.containers import HOST_STACK, network_keys
from renderers.labels import attribute_text, font, label_text

# Characters of a network's name written beside its junction dot: enough to
# tell networks apart without widening a row.
_JUNCTION_NAME_CHARS = 14


def paint_junctions(
    canvas: HostCanvas, cluster: graphviz.Digraph, owners: Owners
) -> None:
    """Draw a junction wherever two or more containers of a row share a network.

    The network's own row needs none; junctions are recorded in ``canvas``.
    """
    for (network, row, sub_row), members in _network_groups(canvas).items():
        owner = owners.get(("net", network))
        home_row = 0 if owner is None else canvas.row_by_block[owner]
        if len(members) < 2 or (row, sub_row) == (home_row, 0):
            continue
        junction = canvas.node_id("j", f"{network}\x00{row}\x00{sub_row}")
        canvas.junctions[(network, row, sub_row)] = junction
        if owner is None:
            _paint_junction(canvas, cluster, network, junction)
        else:
            # The same name reopens the project's cluster.
            with cluster.subgraph(name=canvas.cluster_name(owner)) as group:
                _paint_junction(canvas, group, network, junction)
        cluster.edge(
            canvas.node_id("r", str(row)),
            junction,
            minlen=str(1 + 3 * sub_row),
            **INVISIBLE_EDGE,
        )


def _network_groups(canvas: HostCanvas) -> dict[tuple[str, int, int], list[str]]:
    """Containers of each network by row and sub-row, as node ids."""
    groups: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    for container in canvas.host.containers:
        row, sub_row = canvas.place_by_container[container.id]
        node = canvas.node_id("c", container.id)
        for network in network_keys(container):
            groups[(network, row, sub_row)].append(node)
    return groups


def _paint_junction(
    canvas: HostCanvas, graph: graphviz.Digraph, network: str, junction: str
) -> None:
    name = "the host network stack" if network == HOST_STACK else network
    shown = "host stack" if network == HOST_STACK else network
    colour = canvas.palette["network"]
    graph.node(
        junction,
        shape="point",
        width="0.08",
        color=colour,
        xlabel="<"
        + font(label_text(shown, _JUNCTION_NAME_CHARS), style.SMALL_POINTS, colour)
        + ">",
        tooltip=attribute_text(f"network {name}"),
    )

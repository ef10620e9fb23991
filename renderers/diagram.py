"""Inventory -> Graphviz graph of one host: rows of compose projects.

This module assembles a host's picture from its parts: container nodes
(``renderers.containers``), networks and mounts (``renderers.resources``),
junctions (``renderers.junctions``) and edges (``renderers.links``). All
untrusted text is escaped in ``renderers.labels``; node and cluster ids are
generated from counters and never contain such text.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import dataclass, field

import graphviz

from bot.model import Container, HostInventory
from renderers import rows, style
from renderers.canvas import INVISIBLE_EDGE, INVISIBLE_NODE, HostCanvas, Owners
from renderers.containers import (
    container_lines,
    find_proxy,
    is_proxy,
    paint_container,
    shared_stack,
)
from renderers.junctions import paint_junctions
from renderers.labels import (
    attribute_text,
    clean,
    font,
    label_text,
    shorten,
    text_width_points,
)
from renderers.links import draws_route_edges, paint_edges, routed_count
from renderers.notices import failure_graph, not_drawn_graph
from renderers.options import RenderOptions
from renderers.picture import (
    Title,
    format_time,
    host_heading,
    new_picture_graph,
    title_label,
)
from renderers.resources import (
    is_builtin,
    paint_host_stack,
    paint_mount_node,
    paint_network,
    resource_keys,
)

# Names callers have imported from here since before the split.
__all__ = [
    "Title",
    "attribute_text",
    "clean",
    "default_row_width",
    "failure_graph",
    "font",
    "format_time",
    "host_graph",
    "label_text",
    "new_picture_graph",
    "not_drawn_graph",
    "shorten",
    "title_label",
]
_MAX_NOTES = 10


def host_graph(
    host: HostInventory,
    options: RenderOptions,
    prefix: str,
    row_width_points: float | None = None,
) -> graphviz.Digraph:
    """Draw one host as a cluster of its compose projects, wrapped in rows.

    ``prefix`` makes node ids unique when several hosts share one picture;
    ``row_width_points`` overrides the estimated width of a row.
    """
    return _HostPainter(host, options, prefix).paint(row_width_points)


def default_row_width(host: HostInventory, options: RenderOptions) -> float:
    """The row width ``host_graph`` uses when none is given, in points."""
    return _HostPainter(host, options, "h").default_row_width()


@dataclass
class _Block:
    key: str
    project: str  # "" for a container outside compose
    containers: list[Container] = field(default_factory=list)


class _HostPainter:
    """Lays out one host's blocks in rows and has each part drawn."""

    def __init__(self, host: HostInventory, options: RenderOptions, prefix: str):
        self.host = host
        self.options = options
        self.canvas = HostCanvas(host, options, prefix)
        self.blocks = _blocks_of(host.containers)
        self.owners = self._owners()

    def default_row_width(self) -> float:
        sized = [self._sized_block(index) for index in range(len(self.blocks))]
        return rows.default_row_width(sized, self.options.target_aspect)

    def paint(self, row_width_points: float | None) -> graphviz.Digraph:
        sized = [self._sized_block(index) for index in range(len(self.blocks))]
        width = row_width_points or self.default_row_width()
        plan = rows.plan_rows(sized, width)
        canvas = self.canvas
        with canvas.graph.subgraph(name=canvas.cluster_name()) as cluster:
            cluster.attr(
                label=host_heading(self.host.host, self._host_detail()),
                style="filled",
                fillcolor=canvas.palette["host"],
                color="#78909c",
                fontsize=f"{style.HOST_POINTS:g}",
            )
            self._paint_hub(cluster)
            self._paint_rows(cluster, plan)
            paint_junctions(canvas, cluster, self.owners)
        paint_edges(canvas)
        return canvas.graph

    def _host_detail(self) -> str:
        parts = [f"{len(self.host.containers)} containers"]
        if self.host.engine_version:
            parts.append(f"Docker {self.host.engine_version}")
        if self.host.os:
            parts.append(self.host.os)
        return " \u00b7 ".join(parts)

    # Who owns what: a network, volume or host path used by one project only
    # is drawn inside that project's cluster; anything shared sits at the top.

    def _owners(self) -> Owners:
        users: dict[tuple[str, str], set[int]] = defaultdict(set)
        for index, block in enumerate(self.blocks):
            for container in block.containers:
                for key in resource_keys(container):
                    users[key].add(index)
        owners: Owners = {}
        for key, blocks in users.items():
            only = next(iter(blocks)) if len(blocks) == 1 else None
            is_project = only is not None and self.blocks[only].project != ""
            owners[key] = only if is_project else None
        return owners

    def _sized_block(self, index: int) -> rows.Block:
        block = self.blocks[index]
        widths = tuple(self._container_width(c) for c in block.containers)
        inner = [key for key, owner in self.owners.items() if owner == index]
        limit = self.canvas.limit
        extra = sum(
            text_width_points(shorten(k[1], limit), style.SMALL_POINTS) + 40
            for k in inner
        )
        project = text_width_points("compose " + block.project, style.CLUSTER_POINTS)
        return rows.Block(block.key, widths, max(extra / 2, project))

    def _container_width(self, container: Container) -> float:
        lines = container_lines(
            container, self.options, self._is_stack_drawn(container)
        )
        return max(text_width_points(text, points) for text, points in lines) + 16

    def _is_stack_drawn(self, container: Container) -> bool:
        return shared_stack(container, self.host.containers) is not None

    # Top of the host: shared networks, the host's network stack, notes.

    def _paint_hub(self, cluster: graphviz.Digraph) -> None:
        canvas = self.canvas
        with cluster.subgraph() as hub:
            hub.attr(rank="same")
            hub.node(canvas.node_id("r", "0"), **INVISIBLE_NODE)
            for (kind, key), owner in self.owners.items():
                if owner is None and kind == "net":
                    paint_network(canvas, hub, key)
            for network in self.host.networks:
                if ("net", network.name) not in self.owners and not is_builtin(network):
                    paint_network(canvas, hub, network.name)
            if any(c.network_mode == "host" for c in self.host.containers):
                paint_host_stack(canvas, hub)
            self._paint_notes(hub)
        for (kind, key), owner in self.owners.items():
            if owner is None and kind != "net":
                paint_mount_node(canvas, cluster, kind, key)

    def _paint_notes(self, graph: graphviz.Digraph) -> None:
        notes = self._notes()
        if not notes:
            return
        lines = [font("Notes", style.SMALL_POINTS, bold=True)]
        for note in notes[:_MAX_NOTES]:
            for line in textwrap.wrap(clean(note), 60)[:4]:
                lines.append(font(label_text(line), style.SMALL_POINTS))
        if len(notes) > _MAX_NOTES:
            more = len(notes) - _MAX_NOTES
            lines.append(font(f"and {more} more notes", style.SMALL_POINTS))
        graph.node(
            self.canvas.node_id("note", "notes"),
            label="<" + '<BR ALIGN="LEFT"/>'.join(lines) + '<BR ALIGN="LEFT"/>>',
            shape="note",
            style="filled",
            fillcolor="#fffde7",
            color=self.canvas.palette["stopped"],
            tooltip=attribute_text("\n".join(notes)),
        )

    def _notes(self) -> list[str]:
        """The collector's notes, and what this picture leaves out and why."""
        notes = list(self.host.notes)
        used = {key for c in self.host.containers for key in resource_keys(c)}
        unused = [v for v in self.host.volumes if ("vol", v.name) not in used]
        if unused:
            notes.append(f"{len(unused)} volumes not mounted by any container")
        has_proxy = find_proxy(self.host.containers) is not None
        if has_proxy and not draws_route_edges(self.canvas):
            notes.append(
                f"{routed_count(self.canvas)} containers are reached through the "
                "reverse proxy: their URLs are shown in purple inside each "
                "container; route lines are left out to keep the picture readable"
            )
        if not has_proxy and any(c.routes for c in self.host.containers):
            notes.append(
                "URLs are listed in the containers they reach; no Traefik "
                "container was found on this host to draw routes from"
            )
        return notes

    # Rows of blocks: each compose project is a cluster in one row.

    def _paint_rows(self, cluster: graphviz.Digraph, plan: rows.RowPlan) -> None:
        canvas = self.canvas
        anchor = canvas.node_id("r", "0")
        for row_number, row in enumerate(plan.rows):
            depth = 1
            for index in row:
                per_row = plan.per_row_by_block[index]
                self._paint_block(cluster, index, per_row, anchor)
                count = len(self.blocks[index].containers)
                depth = max(depth, plan.sub_rows(index, count))
                self._place_block(index, row_number, per_row)
            if row_number + 1 < len(plan.rows):
                following = canvas.node_id("r", str(row_number + 1))
                cluster.node(following, **INVISIBLE_NODE)
                minlen = str(3 * depth)
                cluster.edge(anchor, following, minlen=minlen, **INVISIBLE_EDGE)
                anchor = following

    def _place_block(self, index: int, row_number: int, per_row: int) -> None:
        self.canvas.row_by_block[index] = row_number
        for position, container in enumerate(self.blocks[index].containers):
            place = (row_number, position // per_row)
            self.canvas.place_by_container[container.id] = place

    def _paint_block(
        self, cluster: graphviz.Digraph, index: int, per_row: int, anchor: str
    ) -> None:
        canvas = self.canvas
        block = self.blocks[index]
        name = canvas.cluster_name(index) if block.project else None
        with cluster.subgraph(name=name) as group:
            if block.project:
                group.attr(**self._project_attributes(block.project))
            places: list[tuple[str, int]] = []
            for position, container in enumerate(block.containers):
                node = canvas.node_id("c", container.id)
                is_drawn = self._is_stack_drawn(container)
                paint_container(group, node, container, self.options, is_drawn)
                places.append((node, 2 + 3 * (position // per_row)))
            places += self._paint_owned(group, index)
        # Declared outside the project's cluster: an edge statement makes both
        # ends members of the subgraph it is written in.
        for node, ranks_below in places:
            cluster.edge(anchor, node, minlen=str(ranks_below), **INVISIBLE_EDGE)

    def _paint_owned(
        self, group: graphviz.Digraph, index: int
    ) -> list[tuple[str, int]]:
        """Draw what only block ``index`` uses; networks go one rank down."""
        places = []
        for (kind, key), owner in self.owners.items():
            if owner != index:
                continue
            if kind == "net":
                paint_network(self.canvas, group, key)
                places.append((self.canvas.node_id("net", key), 1))
            else:
                paint_mount_node(self.canvas, group, kind, key)
        return places

    def _project_attributes(self, project: str) -> dict[str, str]:
        name = label_text(project, self.canvas.limit)
        return {
            "label": "<"
            + font("compose ", style.SMALL_POINTS)
            + font(name, style.CLUSTER_POINTS, bold=True)
            + ">",
            "style": "rounded,filled",
            "fillcolor": "white",
            "color": "#90a4ae",
            "tooltip": attribute_text(f"compose project {project}"),
        }


def _blocks_of(containers: list[Container]) -> list[_Block]:
    """Compose projects first (by name), then lone containers (by name)."""
    by_project: dict[str, _Block] = {}
    lone: list[_Block] = []
    for container in sorted(containers, key=lambda c: (c.compose_project, c.name)):
        if container.compose_project:
            key = container.compose_project
            block = by_project.setdefault(key, _Block(f"p:{key}", key))
            block.containers.append(container)
        else:
            lone.append(_Block(f"c:{container.id}", "", [container]))
    projects = sorted(by_project.values(), key=lambda b: (not _has_proxy(b), b.project))
    return projects + lone


def _has_proxy(block: _Block) -> bool:
    return any(is_proxy(c) for c in block.containers)

"""Inventory -> Graphviz graphs: one per host, a failed host, picture titles.

All escaping of untrusted text happens in this module: names, images, routes,
notes and failure reasons come from the engines. Node and cluster ids are
generated here and never contain such text; text reaches DOT only through
``label_text`` (HTML-like labels) or ``attribute_text`` (quoted values), and
no URL or link attribute is ever set from it.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import graphviz

from bot.model import (
    Container,
    HostFailure,
    HostInventory,
    Mount,
    Network,
    PublishedPort,
)
from renderers import rows, style
from renderers.options import RenderOptions

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NEWLINE = re.compile(r"\r\n|\r|\n")
ELLIPSIS = "\u2026"
NEWLINE_MARK = "\u21b5"
ARROW = "\u2192"
# DejaVu Sans averages a little under 0.6 em per character in names.
_EM_PER_CHAR = 0.6
_PROXY_IMAGES = ("traefik",)


# Escaping -----------------------------------------------------------------


def clean(value: str) -> str:
    """Replace line breaks and control characters with visible marks."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    value = _NEWLINE.sub(NEWLINE_MARK, value).replace("\t", " ")
    return _CONTROL.sub("\ufffd", value)


def shorten(value: str, limit: int) -> str:
    """Shorten in the middle, keeping both ends (``nextcl…app-1``)."""
    if limit < 5 or len(value) <= limit:
        return value
    head = (limit - 1) * 2 // 3
    tail = limit - 1 - head
    return value[:head] + ELLIPSIS + value[-tail:]


def label_text(value: str, limit: int | None = None) -> str:
    """Text for inside an HTML-like label: cleaned, shortened, entity-escaped."""
    value = clean(value)
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
    breaks become Graphviz's own ``\\n``.
    """
    value = value.encode("utf-8", "replace").decode("utf-8")
    value = value.replace("\\", "\\\\").replace('"', '\\"')
    lines = [_CONTROL.sub("\ufffd", line) for line in _NEWLINE.split(value)]
    return graphviz.nohtml("\\n".join(line.replace("\t", " ") for line in lines))


def font(escaped: str, points: float, color: str = "", bold: bool = False) -> str:
    """Wrap already escaped text in a FONT tag of the given size and colour."""
    colour = f' COLOR="{color}"' if color else ""
    body = f"<B>{escaped}</B>" if bold else escaped
    return f'<FONT POINT-SIZE="{points:g}"{colour}>{body}</FONT>'


def text_width_points(text: str, points: float) -> float:
    """Rough width of unescaped ``text`` set in ``points``."""
    return len(text) * points * _EM_PER_CHAR


# Titles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Title:
    """What a picture's title says; every picture carries one."""

    organization: str
    subject: str  # "fleet", "host media", "legend"
    collected_at: datetime
    is_sample: bool = False
    page: int = 0
    pages: int = 0

    def plain(self, timezone: str = "UTC") -> str:
        """The title as one line of plain text."""
        parts = [self.organization or "graphbot", self.subject]
        if self.pages > 1:
            parts.append(f"page {self.page} of {self.pages}")
        parts.append("collected " + format_time(self.collected_at, timezone))
        text = " \u2014 ".join(parts)
        return (
            ("SAMPLE fleet, not real data \u2014 " + text) if self.is_sample else text
        )


def format_time(moment: datetime, timezone: str = "UTC") -> str:
    """Collection time as people read it, in the configured time zone."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or timezone)


def title_label(title: Title, options: RenderOptions) -> str:
    """HTML-like label for the root graph of a picture."""
    lines = []
    if title.is_sample:
        lines.append(
            font("SAMPLE \u2014 not a real fleet", style.TITLE_POINTS, "#c62828", True)
        )
    heading = label_text(title.organization or "graphbot", 60)
    subject = label_text(title.subject, 60)
    lines.append(font(f"{heading} \u2014 {subject}", style.TITLE_POINTS, bold=True))
    if title.pages > 1:
        lines.append(
            font(
                f"page {title.page} of {title.pages}: the fleet is split so that "
                "text stays readable",
                style.BODY_POINTS,
            )
        )
    when = label_text(format_time(title.collected_at, options.timezone))
    lines.append(font(f"collected {when}", style.BODY_POINTS))
    return "<" + "<BR/>".join(lines) + ">"


# Hosts -------------------------------------------------------------------------


def new_picture_graph(name: str) -> graphviz.Digraph:
    """An empty graph with the attributes every picture shares."""
    graph = graphviz.Digraph(name=name)
    graph.attr(
        "graph",
        newrank="true",
        rankdir="TB",
        nodesep="0.15",
        ranksep="0.25",
        fontname=style.FONT,
        fontsize=f"{style.BODY_POINTS:g}",
        outputorder="edgesfirst",
        # Mincross on hundreds of containers is the slow part of dot; fewer
        # passes cost little here because rows already fix the order.
        mclimit="0.5",
    )
    graph.attr("node", fontname=style.FONT, fontsize=f"{style.BODY_POINTS:g}")
    graph.attr("edge", arrowsize="0.6", fontname=style.FONT)
    return graph


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
    painter = _HostPainter(host, options, prefix)
    return painter.paint(row_width_points)


def default_row_width(host: HostInventory, options: RenderOptions) -> float:
    """The row width ``host_graph`` uses when none is given, in points."""
    return _HostPainter(host, options, "h").default_row_width()


def failure_graph(
    failure: HostFailure, options: RenderOptions, prefix: str
) -> graphviz.Digraph:
    """Draw a host that could not be collected, with the reason."""
    when = format_time(failure.failed_at, options.timezone)
    return _notice_graph(
        _Notice(
            host=failure.host,
            detail="not collected",
            heading="NOT COLLECTED",
            kind=failure.kind,
            reason=failure.reason,
            footer=f"failed at {when}",
        ),
        options,
        prefix,
    )


def not_drawn_graph(
    host: HostInventory, reason: str, options: RenderOptions, prefix: str
) -> graphviz.Digraph:
    """Stand in for a host whose picture Graphviz could not draw, with the reason."""
    return _notice_graph(
        _Notice(
            host=host.host,
            detail=f"{len(host.containers)} containers",
            heading="PICTURE NOT DRAWN",
            kind="collected, but Graphviz could not draw it",
            reason=reason,
            footer="inventory.json still lists every container",
        ),
        options,
        prefix,
    )


@dataclass(frozen=True)
class _Notice:
    """What a host drawn as a single notice says."""

    host: str
    detail: str
    heading: str
    kind: str
    reason: str
    footer: str


def _notice_graph(
    notice: _Notice, options: RenderOptions, prefix: str
) -> graphviz.Digraph:
    palette = style.make_palette(options)
    graph = new_picture_graph(prefix)
    with graph.subgraph(name=f"cluster_{prefix}") as cluster:
        cluster.attr(
            label=_host_heading(notice.host, notice.detail),
            style="filled",
            fillcolor=palette["host"],
            color=palette["unhealthy"],
            penwidth="2",
            fontsize=f"{style.HOST_POINTS:g}",
        )
        lines = [font(notice.heading, style.BODY_POINTS, palette["unhealthy"], True)]
        lines.append(font(label_text(notice.kind), style.SMALL_POINTS))
        for line in textwrap.wrap(clean(notice.reason), 48)[:8] or [""]:
            lines.append(font(label_text(line), style.SMALL_POINTS))
        lines.append(font(label_text(notice.footer), style.SMALL_POINTS))
        cluster.node(
            f"{prefix}failed",
            label="<" + "<BR/>".join(lines) + ">",
            shape="octagon",
            style="filled",
            fillcolor=style.tint(palette["unhealthy"]),
            color=palette["unhealthy"],
            tooltip=attribute_text(f"{notice.host}: {notice.reason}"),
        )
    return graph


def _host_heading(name: str, detail: str) -> str:
    return (
        "<"
        + font(label_text(name, 40), style.HOST_POINTS, bold=True)
        + "<BR/>"
        + font(label_text(detail, 60), style.SMALL_POINTS)
        + ">"
    )


@dataclass
class _Block:
    key: str
    project: str  # "" for a container outside compose
    containers: list[Container] = field(default_factory=list)


class _HostPainter:
    """Builds the graph of one host; holds the ids handed out so far."""

    def __init__(self, host: HostInventory, options: RenderOptions, prefix: str):
        self.host = host
        self.options = options
        self.prefix = prefix
        self.palette = style.make_palette(options)
        self.limit = options.max_label_chars
        self.graph = new_picture_graph(prefix)
        self.ids: dict[tuple[str, str], str] = {}
        self.networks_by_name = {n.name: n for n in host.networks}
        self.blocks = _blocks_of(host.containers)
        self.block_of_container = {
            c.id: i for i, b in enumerate(self.blocks) for c in b.containers
        }
        # Filled while painting rows: where each container and block sits.
        self.place_by_container: dict[str, tuple[int, int]] = {}
        self.row_by_block: dict[int, int] = {}
        self.junctions: dict[tuple[str, int, int], str] = {}

    def node_id(self, kind: str, key: str) -> str:
        """A DOT id made of the prefix and a counter, never of names."""
        if (kind, key) not in self.ids:
            self.ids[(kind, key)] = f"{self.prefix}{kind}{len(self.ids)}"
        return self.ids[(kind, key)]

    def default_row_width(self) -> float:
        owners = self._owners()
        sized = [self._sized_block(block, owners) for block in self.blocks]
        return rows.default_row_width(sized, self.options.target_aspect)

    def paint(self, row_width_points: float | None) -> graphviz.Digraph:
        owners = self._owners()
        sized = [self._sized_block(block, owners) for block in self.blocks]
        width = row_width_points or rows.default_row_width(
            sized, self.options.target_aspect
        )
        plan = rows.plan_rows(sized, width)
        with self.graph.subgraph(name=f"cluster_{self.prefix}") as cluster:
            cluster.attr(
                label=_host_heading(self.host.host, self._host_detail()),
                style="filled",
                fillcolor=self.palette["host"],
                color="#78909c",
                fontsize=f"{style.HOST_POINTS:g}",
            )
            self._paint_hub(cluster, owners)
            self._paint_rows(cluster, plan, owners)
            self._paint_junctions(cluster, owners)
        self._paint_edges()
        return self.graph

    def _host_detail(self) -> str:
        parts = [f"{len(self.host.containers)} containers"]
        if self.host.engine_version:
            parts.append(f"Docker {self.host.engine_version}")
        if self.host.os:
            parts.append(self.host.os)
        return " \u00b7 ".join(parts)

    # Who owns what: a network, volume or host path used by one project only
    # is drawn inside that project's cluster; anything shared sits at the top.

    def _owners(self) -> dict[tuple[str, str], int | None]:
        users: dict[tuple[str, str], set[int]] = defaultdict(set)
        for index, block in enumerate(self.blocks):
            for container in block.containers:
                for key in _resource_keys(container):
                    users[key].add(index)
        owners: dict[tuple[str, str], int | None] = {}
        for key, blocks in users.items():
            only = next(iter(blocks)) if len(blocks) == 1 else None
            is_project = only is not None and self.blocks[only].project != ""
            owners[key] = only if is_project else None
        return owners

    def _sized_block(
        self, block: _Block, owners: dict[tuple[str, str], int | None]
    ) -> rows.Block:
        index = self.blocks.index(block)
        widths = tuple(self._container_width(c) for c in block.containers)
        inner = [key for key, owner in owners.items() if owner == index]
        extra = sum(
            text_width_points(shorten(k[1], self.limit), style.SMALL_POINTS) + 40
            for k in inner
        )
        project = text_width_points("compose " + block.project, style.CLUSTER_POINTS)
        return rows.Block(block.key, widths, max(extra / 2, project))

    def _container_width(self, container: Container) -> float:
        widest = max(
            text_width_points(text, points) for text, points in self._lines(container)
        )
        return widest + 16

    # Top of the host: shared networks, the host's network stack, notes.

    def _paint_hub(
        self, cluster: graphviz.Digraph, owners: dict[tuple[str, str], int | None]
    ) -> None:
        with cluster.subgraph() as hub:
            hub.attr(rank="same")
            hub.node(self.node_id("r", "0"), **_INVISIBLE)
            for (kind, key), owner in owners.items():
                if owner is None and kind == "net":
                    self._paint_network(hub, key)
            for network in self.host.networks:
                if ("net", network.name) not in owners and not _is_builtin(network):
                    self._paint_network(hub, network.name)
            if any(c.network_mode == "host" for c in self.host.containers):
                self._paint_host_stack(hub)
            self._paint_notes(hub)
        for (kind, key), owner in owners.items():
            if owner is None and kind != "net":
                self._paint_mount_node(cluster, kind, key)

    def _paint_network(self, graph: graphviz.Digraph, name: str) -> None:
        network = self.networks_by_name.get(name)
        lines = [font(label_text(name, self.limit), style.SMALL_POINTS, bold=True)]
        detail = _network_detail(network)
        if detail:
            lines.append(font(label_text(detail, self.limit + 10), style.SMALL_POINTS))
        colour = self.palette["network"]
        graph.node(
            self.node_id("net", name),
            label="<" + "<BR/>".join(lines) + ">",
            shape="hexagon",
            style="filled",
            fillcolor=style.tint(colour),
            color=colour,
            margin="0.02",
            tooltip=attribute_text(f"network {name}\n{detail}".strip()),
        )

    def _paint_host_stack(self, graph: graphviz.Digraph) -> None:
        colour = self.palette["network"]
        graph.node(
            self.node_id("net", "\x00host"),
            label="<"
            + font("host network stack", style.SMALL_POINTS, bold=True)
            + "<BR/>"
            + font("(--network host)", style.SMALL_POINTS)
            + ">",
            shape="hexagon",
            style="filled,bold",
            fillcolor=style.tint(colour),
            color=colour,
            tooltip=attribute_text("containers using the host's own network stack"),
        )

    def _paint_notes(self, graph: graphviz.Digraph) -> None:
        notes = list(self.host.notes)
        unused = [v for v in self.host.volumes if ("vol", v.name) not in self._used()]
        if unused:
            notes.append(f"{len(unused)} volumes not mounted by any container")
        if self._proxy() is not None and not self._draws_route_edges():
            notes.append(
                f"{self._routed_count()} containers are reached through the "
                "reverse proxy: their URLs are shown in purple inside each "
                "container; route lines are left out to keep the picture readable"
            )
        if self._routes_without_proxy():
            notes.append(
                "URLs are listed in the containers they reach; no Traefik "
                "container was found on this host to draw routes from"
            )
        if not notes:
            return
        lines = [font("Notes", style.SMALL_POINTS, bold=True)]
        for note in notes[:10]:
            for line in textwrap.wrap(clean(note), 60)[:4]:
                lines.append(font(label_text(line), style.SMALL_POINTS))
        if len(notes) > 10:
            lines.append(font(f"and {len(notes) - 10} more notes", style.SMALL_POINTS))
        graph.node(
            self.node_id("note", "notes"),
            label="<" + '<BR ALIGN="LEFT"/>'.join(lines) + '<BR ALIGN="LEFT"/>>',
            shape="note",
            style="filled",
            fillcolor="#fffde7",
            color=self.palette["stopped"],
            tooltip=attribute_text("\n".join(notes)),
        )

    def _used(self) -> set[tuple[str, str]]:
        return {key for c in self.host.containers for key in _resource_keys(c)}

    # Rows of blocks: each compose project is a cluster in one row.

    def _paint_rows(
        self,
        cluster: graphviz.Digraph,
        plan: rows.RowPlan,
        owners: dict[tuple[str, str], int | None],
    ) -> None:
        anchor = self.node_id("r", "0")
        for row_number, row in enumerate(plan.rows):
            depth = 1
            for index in row:
                block = self.blocks[index]
                per_row = plan.per_row_by_block[index]
                self._paint_block(cluster, index, per_row, anchor, owners)
                depth = max(depth, plan.sub_rows(index, len(block.containers)))
                self.row_by_block[index] = row_number
                for position, container in enumerate(block.containers):
                    place = (row_number, position // per_row)
                    self.place_by_container[container.id] = place
            if row_number + 1 < len(plan.rows):
                following = self.node_id("r", str(row_number + 1))
                cluster.node(following, **_INVISIBLE)
                cluster.edge(
                    anchor, following, minlen=str(3 * depth), **_INVISIBLE_EDGE
                )
                anchor = following

    def _paint_block(
        self,
        cluster: graphviz.Digraph,
        index: int,
        per_row: int,
        anchor: str,
        owners: dict[tuple[str, str], int | None],
    ) -> None:
        block = self.blocks[index]
        name = f"cluster_{self.prefix}p{index}" if block.project else ""
        with cluster.subgraph(name=name or None) as group:
            if block.project:
                group.attr(
                    label="<"
                    + font("compose ", style.SMALL_POINTS)
                    + font(
                        label_text(block.project, self.limit),
                        style.CLUSTER_POINTS,
                        bold=True,
                    )
                    + ">",
                    style="rounded,filled",
                    fillcolor="white",
                    color="#90a4ae",
                    tooltip=attribute_text(f"compose project {block.project}"),
                )
            places: list[tuple[str, int]] = []
            for position, container in enumerate(block.containers):
                self._paint_container(group, container)
                sub_row = position // per_row
                places.append((self.node_id("c", container.id), 2 + 3 * sub_row))
            for (kind, key), owner in owners.items():
                if owner != index:
                    continue
                if kind == "net":
                    self._paint_network(group, key)
                    places.append((self.node_id("net", key), 1))
                else:
                    self._paint_mount_node(group, kind, key)
        # Declared outside the project's cluster: an edge statement makes both
        # ends members of the subgraph it is written in.
        for node, ranks_below in places:
            cluster.edge(anchor, node, minlen=str(ranks_below), **_INVISIBLE_EDGE)

    def _paint_mount_node(self, graph: graphviz.Digraph, kind: str, key: str) -> None:
        colour = self.palette["volume"]
        if kind == "vol":
            shown = key[:12] if len(key) == 64 else key
            label = ("anonymous " if len(key) == 64 else "") + "volume"
            shape, tip = "cylinder", f"volume {key}"
        else:
            shown, label, shape, tip = (
                key,
                "host path",
                "folder",
                f"bind mount of {key}",
            )
        graph.node(
            self.node_id(kind, key),
            label="<"
            + font(label_text(shown, self.limit), style.SMALL_POINTS, bold=True)
            + "<BR/>"
            + font(label, style.SMALL_POINTS)
            + ">",
            shape=shape,
            style="filled",
            fillcolor=style.tint(colour),
            color=colour,
            margin="0.04",
            tooltip=attribute_text(tip),
        )

    # Containers.

    def _lines(self, container: Container) -> list[tuple[str, float]]:
        """Plain text of each label line, for sizing and for the label."""
        lines = [(shorten(clean(container.name), self.limit), style.BODY_POINTS)]
        lines.append(
            (shorten(clean(container.image_ref), self.limit + 6), style.SMALL_POINTS)
        )
        lines.append((_state_text(container), style.SMALL_POINTS))
        for text in self._detail_lines(container):
            lines.append((shorten(clean(text), self.limit + 10), style.SMALL_POINTS))
        return lines

    def _detail_lines(self, container: Container) -> list[str]:
        most = self.options.max_rows_per_container
        ports = [_port_text(p) for p in container.ports]
        urls = [u for r in container.routes for u in r.urls]
        broken = [
            f"route {r.router}: rule not understood"
            for r in container.routes
            if not r.is_parsed
        ]
        details = _capped(ports, most, "ports") + _capped(urls, most, "URLs")
        details += _capped(broken, most, "unreadable routes")
        details += _capped(
            [
                f"{m.kind} {m.target}"
                for m in container.mounts
                if m.kind not in ("volume", "bind")
            ],
            most,
            "mounts",
        )
        mode = container.network_mode
        if mode == "none":
            details.append("no network (--network none)")
        elif mode.startswith("container:") and self._shared_stack(container) is None:
            details.append(f"network of container {mode.split(':', 1)[1]}")
        return details

    def _paint_container(self, graph: graphviz.Digraph, container: Container) -> None:
        colour = self.palette[style.state_color_key(container)]
        lines = self._lines(container)
        cells = [
            f'<TR><TD BGCOLOR="{style.tint(colour)}">'
            + font(label_text(lines[0][0]), lines[0][1], bold=True)
            + "</TD></TR>"
        ]
        for number, (text, points) in enumerate(lines[1:], start=1):
            tone = colour if number == 2 else self._line_colour(container, text)
            cells.append(
                '<TR><TD ALIGN="LEFT">'
                + font(label_text(text), points, tone)
                + "</TD></TR>"
            )
        table = (
            f'<TABLE BORDER="2" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2" '
            f'COLOR="{colour}" BGCOLOR="white" STYLE="rounded">'
            + "".join(cells)
            + "</TABLE>"
        )
        graph.node(
            self.node_id("c", container.id),
            label=f"<{table}>",
            shape="plain",
            tooltip=attribute_text(_container_tooltip(container)),
        )

    def _line_colour(self, container: Container, text: str) -> str:
        urls = {
            shorten(clean(u), self.limit + 10) for r in container.routes for u in r.urls
        }
        return self.palette["route"] if text in urls else ""

    # Junctions: a network drawn above several rows reaches each later row
    # through one small dot in that row. An edge per container across rows
    # gives dot a chain of virtual nodes per row crossed: 300 lone containers
    # on one network made dot run for minutes and the picture 2.5 times wider.

    def _paint_junctions(
        self, cluster: graphviz.Digraph, owners: dict[tuple[str, str], int | None]
    ) -> None:
        for (network, row, sub_row), members in self._network_groups().items():
            owner = owners.get(("net", network))
            home_row = 0 if owner is None else self.row_by_block[owner]
            if len(members) < 2 or (row, sub_row) == (home_row, 0):
                continue
            junction = self.node_id("j", f"{network}\x00{row}\x00{sub_row}")
            self.junctions[(network, row, sub_row)] = junction
            if owner is None:
                self._paint_junction(cluster, network, junction)
            else:
                # The same name reopens the project's cluster.
                with cluster.subgraph(name=f"cluster_{self.prefix}p{owner}") as group:
                    self._paint_junction(group, network, junction)
            cluster.edge(
                self.node_id("r", str(row)),
                junction,
                minlen=str(1 + 3 * sub_row),
                **_INVISIBLE_EDGE,
            )

    def _network_groups(self) -> dict[tuple[str, int, int], list[str]]:
        """Containers of each network by row and sub-row, as node ids."""
        groups: dict[tuple[str, int, int], list[str]] = defaultdict(list)
        for container in self.host.containers:
            row, sub_row = self.place_by_container[container.id]
            node = self.node_id("c", container.id)
            for network in _network_keys(container):
                groups[(network, row, sub_row)].append(node)
        return groups

    def _paint_junction(
        self, graph: graphviz.Digraph, network: str, junction: str
    ) -> None:
        name = "the host network stack" if network == "\x00host" else network
        graph.node(
            junction,
            shape="point",
            width="0.08",
            color=self.palette["network"],
            tooltip=attribute_text(f"network {name}"),
        )

    # Edges: networks, mounts, shared network stacks, routes.

    def _paint_edges(self) -> None:
        proxy = self._proxy()
        for (network, _, _), junction in self.junctions.items():
            self._network_edge(network, junction)
        for container in self.host.containers:
            node = self.node_id("c", container.id)
            row, sub_row = self.place_by_container[container.id]
            for network in _network_keys(container):
                junction = self.junctions.get((network, row, sub_row))
                if junction is None:
                    self._network_edge(network, node)
                else:
                    self._network_edge(network, node, tail=junction)
            for mount in container.mounts:
                self._mount_edge(node, mount)
            other = self._shared_stack(container)
            if other is not None:
                self.graph.edge(
                    node,
                    self.node_id("c", other.id),
                    style="dotted",
                    color=self.palette["stopped"],
                    constraint="false",
                    tooltip=attribute_text(
                        f"{container.name} shares the network stack of {other.name}"
                    ),
                )
            if (
                self._draws_route_edges()
                and proxy is not container
                and container.routes
            ):
                self._route_edge(proxy, container)

    def _network_edge(self, network: str, node: str, tail: str = "") -> None:
        self.graph.edge(
            tail or self.node_id("net", network),
            node,
            dir="none",
            color=self.palette["network"],
            weight="2",
        )

    def _mount_edge(self, node: str, mount: Mount) -> None:
        if mount.kind not in ("volume", "bind"):
            return
        kind = "vol" if mount.kind == "volume" else "bind"
        access = " (read-only)" if mount.is_read_only else ""
        self.graph.edge(
            node,
            self.node_id(kind, mount.source),
            dir="none",
            style="dashed",
            color=self.palette["volume"],
            tooltip=attribute_text(f"{mount.source} at {mount.target}{access}"),
        )

    def _routed_count(self) -> int:
        proxy = self._proxy()
        return sum(1 for c in self.host.containers if c.routes and c is not proxy)

    def _draws_route_edges(self) -> bool:
        return self._proxy() is not None and (
            self._routed_count() <= self.options.max_route_edges
        )

    def _route_edge(self, proxy: Container | None, container: Container) -> None:
        assert proxy is not None
        urls = [u for r in container.routes for u in r.urls] or [
            r.rule for r in container.routes
        ]
        self.graph.edge(
            self.node_id("c", proxy.id),
            self.node_id("c", container.id),
            color=self.palette["route"],
            penwidth="1.6",
            constraint="false",
            tooltip=attribute_text("routes " + ", ".join(urls)),
        )

    def _proxy(self) -> Container | None:
        candidates = [
            c
            for c in self.host.containers
            if any(word in c.image_ref.lower() for word in _PROXY_IMAGES)
        ]
        running = [c for c in candidates if c.state == "running"]
        return (running or candidates or [None])[0]

    def _routes_without_proxy(self) -> bool:
        has_routes = any(c.routes for c in self.host.containers)
        return has_routes and self._proxy() is None

    def _shared_stack(self, container: Container) -> Container | None:
        mode = container.network_mode
        if not mode.startswith("container:"):
            return None
        wanted = mode.split(":", 1)[1]
        for other in self.host.containers:
            if other.name == wanted or (
                len(wanted) >= 12 and other.id.startswith(wanted)
            ):
                return other
        return None


_INVISIBLE = {
    "style": "invis",
    "shape": "point",
    "width": "0",
    "height": "0",
    "label": "",
}
_INVISIBLE_EDGE = {"style": "invis", "weight": "0"}


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
    return any(
        word in c.image_ref.lower() for c in block.containers for word in _PROXY_IMAGES
    )


def _network_keys(container: Container) -> list[str]:
    """Keys of the network nodes a container is linked to, the host stack included."""
    keys = [a.network for a in container.networks]
    return keys + (["\x00host"] if container.network_mode == "host" else [])


def _resource_keys(container: Container) -> list[tuple[str, str]]:
    keys = [("net", a.network) for a in container.networks]
    for mount in container.mounts:
        if mount.kind == "volume":
            keys.append(("vol", mount.source))
        elif mount.kind == "bind":
            keys.append(("bind", mount.source))
    return keys


def _is_builtin(network: Network) -> bool:
    return network.name in ("host", "none", "bridge") and network.driver in (
        "host",
        "null",
        "bridge",
        "",
    )


def _network_detail(network: Network | None) -> str:
    if network is None:
        return ""
    parts = [network.driver] if network.driver else []
    parts += network.subnets[:2]
    if network.is_internal:
        parts.append("internal")
    return " ".join(parts)


def _state_text(container: Container) -> str:
    text = "\u25cf " + container.state
    if container.health:
        text += " \u00b7 " + container.health
    return text


def _port_text(port: PublishedPort) -> str:
    host_ip = port.host_ip
    shown_ip = "*" if host_ip in ("", "0.0.0.0", "::") else host_ip
    if ":" in shown_ip:
        shown_ip = f"[{shown_ip}]"
    return f"{shown_ip}:{port.host_port} {ARROW} {port.container_port}/{port.protocol}"


def _capped(items: list[str], most: int, what: str) -> list[str]:
    if len(items) <= most:
        return items
    return items[: most - 1] + [f"and {len(items) - most + 1} more {what}"]


def _container_tooltip(container: Container) -> str:
    lines = [
        f"container {container.name}",
        f"image {container.image_ref}",
        f"state {container.status or container.state}",
    ]
    if container.health:
        lines.append(f"health {container.health}")
    if container.compose_project:
        service = (
            f" service {container.compose_service}" if container.compose_service else ""
        )
        lines.append(f"compose project {container.compose_project}{service}")
    if container.networks:
        lines.append("networks " + ", ".join(a.network for a in container.networks))
    if container.network_mode in ("host", "none") or container.network_mode.startswith(
        "container:"
    ):
        lines.append(f"network mode {container.network_mode}")
    lines += [f"port {_port_text(p)}" for p in container.ports]
    lines += [f"URL {u}" for r in container.routes for u in r.urls]
    lines += [
        f"route {r.router}: {r.problem or r.rule}"
        for r in container.routes
        if not r.is_parsed
    ]
    lines += [
        f"{m.kind} {m.source} at {m.target}".replace("  ", " ")
        for m in container.mounts
    ]
    return "\n".join(lines)

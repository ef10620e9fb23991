"""The legend: every colour, shape and line style of the diagram, explained.

Drawn from the same table (``renderers.style``) the diagram uses, so the two
cannot disagree.
"""

from __future__ import annotations

import graphviz

from renderers import style
from renderers.labels import font, label_text, stacked
from renderers.options import RenderOptions
from renderers.picture import new_picture_graph

LEGEND_PREFIX = "legend"


def legend_graph(
    options: RenderOptions, prefix: str = LEGEND_PREFIX
) -> graphviz.Digraph:
    """Build the legend as a graph of sample nodes and edges."""
    palette = style.make_palette(options)
    hidden = options.hidden
    graph = new_picture_graph(prefix)
    graph.attr("graph", rankdir="LR", nodesep="0.12", ranksep="0.25")
    with graph.subgraph(name=f"cluster_{prefix}") as cluster:
        cluster.attr(label=_heading(hidden), style="rounded", color="#90a4ae")
        cluster.node(
            f"{prefix}states", label=_states_table(palette, hidden), shape="plain"
        )
        with cluster.subgraph() as shapes:
            shapes.attr(rank="same")
            for kind in style.NODE_KINDS[1:]:
                if style.is_shown(kind.key, hidden):
                    _node_sample(shapes, f"{prefix}{kind.key}", kind, palette)
        for key, colour_key, line, meaning in style.EDGE_KINDS:
            if not style.is_shown(key, hidden):
                continue
            tail, head = f"{prefix}{key}_from", f"{prefix}{key}_to"
            for node in (tail, head):
                cluster.node(node, label="", shape="point", width="0.06")
            cluster.edge(
                tail,
                head,
                label="<" + font(label_text(meaning), style.SMALL_POINTS) + ">",
                color=palette[colour_key],
                style=line,
                penwidth="1.6" if key in ("route", "unserved") else "1",
                minlen="2",
            )
    return graph


def hidden_line(hidden: frozenset[str]) -> str:
    """One line naming what the ``hide`` settings leave out, or ""."""
    names = [name for key, name in style.HIDDEN_NAMES if key in hidden]
    return "not shown by choice: " + ", ".join(names) if names else ""


def _heading(hidden: frozenset[str]) -> str:
    lines = [font("Legend", style.CLUSTER_POINTS, bold=True)]
    line = hidden_line(hidden)
    if line:
        lines.append(font(label_text(line), style.SMALL_POINTS))
    return stacked(lines)


def _node_sample(
    graph: graphviz.Digraph, node: str, kind: style.Kind, palette: style.Palette
) -> None:
    colour = palette[kind.color_key]
    graph.node(
        node,
        label="<" + font(label_text(kind.meaning), style.SMALL_POINTS) + ">",
        shape=kind.shape,
        style=kind.style,
        fillcolor=style.tint(colour),
        color=colour,
    )


def _states_table(palette: style.Palette, hidden: frozenset[str]) -> str:
    rows = [
        '<TR><TD COLSPAN="2">' + font("container state", style.SMALL_POINTS, bold=True)
    ]
    rows[0] += "</TD></TR>"
    for text, key in style.STATE_KEYS:
        colour = palette[key]
        rows.append(
            f'<TR><TD BGCOLOR="{style.tint(colour)}" COLOR="{colour}" BORDER="2" '
            'WIDTH="18"> </TD><TD ALIGN="LEFT">'
            + font(label_text(text), style.SMALL_POINTS)
            + "</TD></TR>"
        )
    rows.append(
        '<TR><TD COLSPAN="2" ALIGN="LEFT">'
        + font(label_text(style.container_meaning(hidden)), style.SMALL_POINTS)
        + "</TD></TR>"
    )
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">'
        + "".join(rows)
        + "</TABLE>>"
    )

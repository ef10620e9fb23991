"""A host drawn as a single notice: not collected, or not drawn by Graphviz."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import graphviz

from bot.model import HostFailure, HostInventory
from renderers import style
from renderers.labels import attribute_text, clean, font, label_text, stacked
from renderers.options import RenderOptions
from renderers.picture import format_time, host_heading, new_picture_graph

# Long reasons are wrapped to this many characters a line, at most this many
# lines; the tooltip keeps the whole reason.
_REASON_CHARS = 48
_REASON_LINES = 8


@dataclass(frozen=True)
class Notice:
    """What a host drawn as a single notice says."""

    host: str
    detail: str
    heading: str
    kind: str
    reason: str
    footer: str


def failure_graph(
    failure: HostFailure, options: RenderOptions, prefix: str
) -> graphviz.Digraph:
    """Draw a host that could not be collected, with the reason."""
    when = format_time(failure.failed_at, options.timezone)
    notice = Notice(
        host=failure.host,
        detail="not collected",
        heading="NOT COLLECTED",
        kind=failure.kind,
        reason=failure.reason,
        footer=f"failed at {when}",
    )
    return notice_graph(notice, options, prefix)


def not_drawn_graph(
    host: HostInventory, reason: str, options: RenderOptions, prefix: str
) -> graphviz.Digraph:
    """Stand in for a host whose picture Graphviz could not draw, with the reason."""
    notice = Notice(
        host=host.host,
        detail=f"{len(host.containers)} containers",
        heading="PICTURE NOT DRAWN",
        kind="collected, but Graphviz could not draw it",
        reason=reason,
        footer="inventory.json still lists every container",
    )
    return notice_graph(notice, options, prefix)


def notice_graph(
    notice: Notice, options: RenderOptions, prefix: str
) -> graphviz.Digraph:
    """A picture holding one host cluster with the notice inside."""
    palette = style.make_palette(options)
    graph = new_picture_graph(prefix)
    with graph.subgraph(name=f"cluster_{prefix}") as cluster:
        cluster.attr(
            label=host_heading(notice.host, notice.detail),
            style="filled",
            fillcolor=palette["host"],
            color=palette["unhealthy"],
            penwidth="2",
            fontsize=f"{style.HOST_POINTS:g}",
        )
        cluster.node(
            f"{prefix}failed",
            label=_notice_label(notice, palette),
            shape="octagon",
            style="filled",
            fillcolor=style.tint(palette["unhealthy"]),
            color=palette["unhealthy"],
            tooltip=attribute_text(f"{notice.host}: {notice.reason}"),
        )
    return graph


def _notice_label(notice: Notice, palette: style.Palette) -> str:
    lines = [font(notice.heading, style.BODY_POINTS, palette["unhealthy"], True)]
    lines.append(font(label_text(notice.kind), style.SMALL_POINTS))
    wrapped = textwrap.wrap(clean(notice.reason), _REASON_CHARS)[:_REASON_LINES]
    for line in wrapped or [""]:
        lines.append(font(label_text(line), style.SMALL_POINTS))
    lines.append(font(label_text(notice.footer), style.SMALL_POINTS))
    return stacked(lines)

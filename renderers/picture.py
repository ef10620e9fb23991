"""What every picture shares: the empty graph, its title and the time stamp."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import graphviz

from renderers import style
from renderers.labels import font, label_text, stacked
from renderers.options import RenderOptions


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
    return stacked(lines)


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


def host_heading(name: str, detail: str) -> str:
    """The label of a host's cluster: its name, and a line of detail below."""
    return stacked(
        [
            font(label_text(name, 40), style.HOST_POINTS, bold=True),
            font(label_text(detail, 60), style.SMALL_POINTS),
        ]
    )

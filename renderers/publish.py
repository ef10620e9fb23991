"""Write every picture of a snapshot: per host, the fleet (in pages), legend, page.

The pictures are drawn in parallel (see ``renderers.painter``) and reported in
page order: hosts as the inventory lists them, the fleet's pages by number,
then the legend. When one picture cannot be drawn, every other picture is
still written and the report says why.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.model import Snapshot
from renderers import layout, page
from renderers.options import RenderOptions
from renderers.painter import Painter, Picture, PictureKind

__all__ = [
    "Picture",
    "RenderReport",
    "in_page_order",
    "render_pictures",
    "write_pictures",
]

log = logging.getLogger(__name__)


@dataclass
class RenderReport:
    """Everything written, with measurements and where the time went."""

    pictures: list[Picture] = field(default_factory=list)
    page: Path | None = None
    fleet_pages: int = 1
    clock: layout.ToolClock = field(default_factory=layout.ToolClock)
    total_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # pictures not drawn, why

    @property
    def paths(self) -> list[Path]:
        paths = [p for pic in self.pictures for p in (pic.png, pic.svg, pic.dot) if p]
        return paths + ([self.page] if self.page else [])

    def pngs(self, kind: PictureKind) -> list[Path]:
        """The PNG files of one kind of picture; the fleet's by page number."""
        return [picture.png for picture in self.pictures if picture.kind == kind]

    @property
    def png_by_host(self) -> dict[str, Path]:
        """Each host's own PNG, failed hosts included, by host name."""
        return {
            picture.host: picture.png
            for picture in self.pictures
            if picture.kind == "host"
        }


def write_pictures(
    snapshot: Snapshot, output_dir: Path, options: RenderOptions
) -> list[Path]:
    """Write each host's, the fleet's and the legend's PNG, SVG and DOT, and index.html.

    Returns the paths written. The caller writes inventory.json. A host that
    Graphviz cannot lay out is drawn as a notice giving the reason, and a
    picture that cannot be drawn is left out; both are logged as warnings.

    Raises:
        renderers.layout.GraphvizFailed: Graphviz is missing, or no picture
            at all could be drawn.
    """
    return render_pictures(snapshot, output_dir, options).paths


def render_pictures(
    snapshot: Snapshot,
    output_dir: Path,
    options: RenderOptions,
    *,
    draw_fleet: bool = True,
) -> RenderReport:
    """Like ``write_pictures``, and report measurements and timings.

    With ``draw_fleet`` False no fleet picture is drawn (``fleet_pages`` is 0):
    for a render of a few hosts, whose own pictures already show them.
    """
    started = time.perf_counter()
    report = RenderReport()
    output_dir.mkdir(parents=True, exist_ok=True)
    painter = Painter(snapshot, output_dir, options, report.clock)
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        host_layouts = painter.lay_out_hosts(pool)
        legend_layout = painter.lay_out_legend()
        jobs = painter.host_jobs(host_layouts, legend_layout)
        fleet_jobs = (
            painter.fleet_jobs(host_layouts, legend_layout) if draw_fleet else []
        )
        report.fleet_pages = len(fleet_jobs)
        jobs += fleet_jobs + [painter.legend_job(legend_layout)]
        drawn = list(pool.map(painter.draw_or_report, jobs))
    report.pictures = in_page_order([p for p in drawn if p is not None])
    report.problems = painter.problems
    if not report.pictures:
        raise layout.GraphvizFailed(
            "Graphviz drew none of the pictures: " + " ".join(painter.problems)
        )
    report.page = page.write_page(snapshot, output_dir, _page_parts(report), options)
    report.total_seconds = time.perf_counter() - started
    log.info(
        "Drew %d pictures in %.1f s (%.1f s in Graphviz)",
        len(report.pictures),
        report.total_seconds,
        report.clock.total_seconds,
    )
    return report


def in_page_order(pictures: list[Picture]) -> list[Picture]:
    """Hosts as listed, then the fleet by page number (2 before 10), the legend."""
    rank = {"host": 0, "fleet": 1, "legend": 2}
    return sorted(pictures, key=lambda picture: (rank[picture.kind], picture.page))


def _workers() -> int:
    return max(2, os.cpu_count() or 2)


def _page_parts(report: RenderReport) -> list[page.Part]:
    return [
        page.Part(picture.name, picture.title, picture.kind, picture.svg)
        for picture in report.pictures
    ]



"""Lay out and draw each picture: hosts, the fleet in pages, the legend.

Each picture is measured as it is drawn: its aspect ratio, its size in pixels
and the height of its smallest text. The fleet is split into pages when one
picture cannot hold every host at a readable size. When Graphviz cannot lay
out one host, that host is drawn as a notice saying so.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.model import HostFailure, HostInventory, Snapshot
from renderers import diagram, layout, legend, notices
from renderers.files import (
    CAIRO_MAX_SIDE_PIXELS,
    file_names,
    fleet_file_name,
    font_sizes,
    png_size,
    svg_size,
    with_dpi,
)
from renderers.options import RenderOptions
from renderers.picture import Title, title_label

log = logging.getLogger(__name__)

_PAD_POINTS = 40.0

PictureKind = Literal["host", "fleet", "legend"]


@dataclass(frozen=True)
class Picture:
    """One written picture and what was measured on it."""

    name: str
    title: str
    png: Path
    svg: Path
    dot: Path | None
    width_px: int
    height_px: int
    smallest_text_px: float
    kind: PictureKind = "host"
    host: str = ""  # the host a host picture shows; "" for fleet and legend
    page: int = 0  # the page number of a fleet picture, from 1; 0 for others

    @property
    def pixels(self) -> int:
        return self.width_px * self.height_px

    @property
    def aspect(self) -> float:
        return self.width_px / max(self.height_px, 1)



@dataclass(frozen=True)
class Job:
    name: str  # file stem
    title: Title
    layouts: tuple[layout.Layout, ...]
    columns: int
    kind: PictureKind = "host"
    host: str = ""
    write_dot: bool = True


class Painter:
    """Holds what every step needs: the snapshot, options and the clock."""

    def __init__(
        self,
        snapshot: Snapshot,
        output_dir: Path,
        options: RenderOptions,
        clock: layout.ToolClock,
    ) -> None:
        self.snapshot = snapshot
        self.inventory = snapshot.inventory
        self.output_dir = output_dir
        self.options = options
        self.clock = clock
        self.file_names = file_names(self.inventory.host_names)
        # Appended from worker threads; list.append is atomic.
        self.problems: list[str] = []

    def title(self, subject: str, page_number: int = 0, pages: int = 0) -> Title:
        return Title(
            organization=self.options.organization or self.inventory.organization,
            subject=subject,
            collected_at=self.snapshot.collected_at,
            is_sample=self.inventory.is_sample,
            page=page_number,
            pages=pages,
        )

    # Layout.

    def lay_out_hosts(self, pool: ThreadPoolExecutor) -> list[layout.Layout]:
        """Lay out every collected and every failed host, in that order."""
        hosts = list(enumerate(self.inventory.hosts))
        failures = list(enumerate(self.inventory.failures, start=len(hosts)))
        collected = pool.map(lambda item: self.lay_out_host(*item), hosts)
        failed = pool.map(lambda item: self.lay_out_failure(*item), failures)
        return [*collected, *failed]

    def lay_out_host(self, index: int, host: HostInventory) -> layout.Layout:
        """Lay out a host, or a notice in its place when Graphviz fails on it."""
        prefix = f"h{index}_"
        try:
            return self.lay_out_rows(prefix, host)
        except layout.GraphvizFailed as exc:
            log.warning("Host %s is drawn as a notice: %s", host.host, exc)
            self.problems.append(f'The picture of host "{host.host}": {exc}')
            graph = notices.not_drawn_graph(host, str(exc), self.options, prefix)
            return self._dot(prefix, graph.source)

    def lay_out_rows(self, prefix: str, host: HostInventory) -> layout.Layout:
        """Lay out a host, widening or narrowing its rows towards the target."""
        target = self.options.target_aspect
        width = diagram.default_row_width(host, self.options)
        best: layout.Layout | None = None
        for _ in range(3):
            graph = diagram.host_graph(host, self.options, prefix, width)
            try:
                candidate = self._dot(prefix, graph.source)
            except layout.GraphvizFailed:
                if best is None:
                    raise
                break  # a narrower or wider try failed: keep the best so far
            if best is None or _distance(candidate.aspect, target) < _distance(
                best.aspect, target
            ):
                best = candidate
            if _distance(candidate.aspect, target) < math.log(1.3):
                break
            # Rows of equal area: the aspect grows with the square of the width.
            width *= math.sqrt(target / candidate.aspect)
        assert best is not None
        return best

    def lay_out_failure(self, index: int, failure: HostFailure) -> layout.Layout:
        graph = notices.failure_graph(failure, self.options, f"h{index}_")
        return self._dot(f"h{index}_", graph.source)

    def lay_out_legend(self) -> layout.Layout:
        return self._dot(legend.LEGEND_PREFIX, legend.legend_graph(self.options).source)

    def _dot(self, name: str, source: str) -> layout.Layout:
        timeout = self.options.dot_timeout_seconds
        return layout.lay_out(name, source, self.clock, timeout)

    # Which pictures are drawn.

    def host_jobs(
        self, layouts: list[layout.Layout], legend_layout: layout.Layout
    ) -> list[Job]:
        jobs = []
        named = zip(self.inventory.host_names, self.file_names, layouts)
        for host, file_name, host_layout in named:
            parts = (host_layout, legend_layout)
            grid = layout.best_grid(_sizes(parts), self.options.target_aspect)
            title = self.title(f"host {host}")
            jobs.append(Job(file_name, title, parts, grid.columns, host=host))
        return jobs

    def fleet_jobs(
        self, layouts: list[layout.Layout], legend_layout: layout.Layout
    ) -> list[Job]:
        groups = self.split_fleet(layouts, legend_layout)
        jobs = []
        for number, group in enumerate(groups, start=1):
            parts = (*group, legend_layout)
            grid = layout.best_grid(_sizes(parts), self.options.target_aspect)
            pages = len(groups)
            name = fleet_file_name(number, pages)
            title = self.title("fleet", number, pages)
            jobs.append(Job(name, title, parts, grid.columns, kind="fleet"))
        return jobs

    def split_fleet(
        self, layouts: list[layout.Layout], legend_layout: layout.Layout
    ) -> list[list[layout.Layout]]:
        """Hosts in order, as many to a page as stay readable together."""
        pages: list[list[layout.Layout]] = [[]]
        for host_layout in layouts:
            if pages[-1] and not self.fits([*pages[-1], host_layout, legend_layout]):
                pages.append([])
            pages[-1].append(host_layout)
        return pages

    def fits(self, parts: list[layout.Layout]) -> bool:
        """Tell whether parts packed together fit the pixel limit at full size."""
        grid = layout.best_grid(_sizes(parts), self.options.target_aspect)
        scale = self.options.dpi / 72.0
        # The title's exact height and the picture's padding are only known
        # once drawn; the margins keep the estimate on the safe side.
        width = (grid.width_points + _PAD_POINTS) * scale
        height = (grid.height_points + _PAD_POINTS) * scale
        is_small = width * height <= self.options.max_pixels * 0.97
        is_drawable = max(width, height) <= CAIRO_MAX_SIDE_PIXELS
        return (
            is_small
            and is_drawable
            and _distance(grid.aspect, 1.0) <= math.log(self.options.max_aspect)
        )

    def legend_job(self, legend_layout: layout.Layout) -> Job:
        return Job(
            "legend", self.title("legend"), (legend_layout,), 1, "legend",
            write_dot=False,
        )

    # Drawing and measuring.

    def draw_or_report(self, job: Job) -> Picture | None:
        """Draw one picture; when Graphviz fails, log it and go on without it."""
        try:
            return self.draw(job)
        except layout.GraphvizFailed as exc:
            log.warning("Picture %s was not written: %s", job.name, exc)
            self.problems.append(f"The picture {job.name}: {exc}")
            return None

    def draw(self, job: Job) -> Picture:
        label = title_label(job.title, self.options)
        timeout = self.options.dot_timeout_seconds
        packed = layout.pack(
            list(job.layouts), job.columns, label, "picture", self.clock, timeout
        )
        svg = layout.draw(packed, "svg", self.clock, timeout)
        width_pt, height_pt = svg_size(svg)
        dpi = self._dpi_within_limits(job.name, width_pt, height_pt)
        png = layout.draw(with_dpi(packed, dpi), "png", self.clock, timeout)
        paths = self._write(job, packed, svg, png)
        width_px, height_px = png_size(png)
        smallest = min(font_sizes(svg)) * width_px / width_pt
        return Picture(
            job.name,
            job.title.plain(self.options.timezone),
            paths[0],
            paths[1],
            paths[2],
            width_px,
            height_px,
            smallest,
            job.kind,
            job.host,
            job.title.page,
        )

    def _dpi_within_limits(self, name: str, width_pt: float, height_pt: float) -> float:
        dpi = self.options.dpi
        pixels = width_pt * height_pt * (dpi / 72.0) ** 2
        longest = max(width_pt, height_pt) * dpi / 72.0
        shrink = min(
            1.0,
            math.sqrt(self.options.max_pixels / pixels),
            CAIRO_MAX_SIDE_PIXELS / longest,
        )
        if shrink < 1.0:
            # Only one host too big for any page gets here: a picture that
            # Mattermost refuses helps nobody, so its text gets smaller.
            log.warning(
                "Picture %s is too large for %d pixels at full size; its text is "
                "drawn at %.0f%% of the usual size",
                name,
                self.options.max_pixels,
                shrink * 100,
            )
        return dpi * shrink * 0.995 if shrink < 1.0 else dpi

    def _write(
        self, job: Job, packed: str, svg: bytes, png: bytes
    ) -> tuple[Path, Path, Path | None]:
        base = self.output_dir / job.name
        png_path, svg_path = base.with_suffix(".png"), base.with_suffix(".svg")
        png_path.write_bytes(png)
        svg_path.write_bytes(svg)
        if not job.write_dot:
            return png_path, svg_path, None
        dot_path = base.with_suffix(".dot")
        header = (
            "// Laid out by graphbot; draw it again with: "
            f"neato -n2 -Tsvg {job.name}.dot\n"
        )
        dot_path.write_text(header + packed, encoding="utf-8")
        return png_path, svg_path, dot_path


def _sizes(
    parts: tuple[layout.Layout, ...] | list[layout.Layout],
) -> list[tuple[float, float]]:
    return [(p.width_points, p.height_points) for p in parts]


def _distance(aspect: float, target: float) -> float:
    return abs(math.log(aspect / target))

"""Measure readability at scale (issue 5) on fleets A, B, C and D.

    .venv/bin/python bench/bench_layout.py [A B C D]

Fleet D is one host of 300 lone containers on one shared network, each with
a volume and a route, as bench/bench_collect.py builds on a real engine.

For each fleet, renders every picture the way graphbot does and prints one
line per picture: aspect ratio, pixel size, smallest text height, pages, and
the time graphbot took beside the time spent inside Graphviz. Then draws the
same fleet the naive way (one cluster per host, side by side, a single dot
run) and prints that picture's aspect ratio, so the two can be compared.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleetgen import fleet_snapshot  # noqa: E402

from bot.model import Snapshot  # noqa: E402
from renderers import diagram, layout  # noqa: E402
from renderers.options import RenderOptions  # noqa: E402
from renderers.picture import new_picture_graph  # noqa: E402
from renderers.publish import render_pictures  # noqa: E402


def naive_aspect(snapshot: Snapshot, options: RenderOptions) -> tuple[float, float]:
    """Aspect ratio and dot seconds of all hosts side by side in one dot run.

    Rows are made as wide as the whole host, so every container of a host
    shares one rank, as the older tool draws them.
    """
    graph = new_picture_graph("naive")
    for index, host in enumerate(snapshot.inventory.hosts):
        part = diagram.host_graph(host, options, f"h{index}_", row_width_points=1e9)
        graph.subgraph(part)
    clock = layout.ToolClock()
    laid_out = layout.lay_out("naive", graph.source, clock, 600)
    return laid_out.aspect, clock.total_seconds


def bench(fleet: str) -> list[str]:
    snapshot = fleet_snapshot(fleet)
    options = RenderOptions()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report = render_pictures(snapshot, Path(folder), options)
        seconds = time.perf_counter() - started
    naive, naive_seconds = naive_aspect(snapshot, options)
    lines = []
    for picture in report.pictures:
        if picture.name == "legend":
            continue
        is_fleet = picture.name.startswith("fleet")
        lines.append(
            f"{fleet:5} {picture.name:10} {picture.aspect:6.2f} "
            f"{picture.width_px:>6}x{picture.height_px:<6} "
            f"{picture.pixels / 1e6:6.1f}M {picture.smallest_text_px:6.1f} "
            f"{report.fleet_pages if is_fleet else '':>5}"
        )
    tools = report.clock.seconds_by_tool
    lines.append(
        f"{fleet:5} {'total':10} graphbot {seconds:.1f} s wall; inside Graphviz "
        f"(summed over {len(tools)} tools, run in parallel) "
        + ", ".join(f"{tool} {value:.1f} s" for tool, value in tools.items())
    )
    lines.append(
        f"{fleet:5} {'naive':10} {naive:6.2f}  (one dot run of "
        f"{naive_seconds:.1f} s, hosts side by side)"
    )
    return lines


def main(fleets: list[str]) -> int:
    print(
        "fleet picture    aspect  pixels         Mpx  text px pages\n"
        "----- ---------- ------ ------------- ------- ------- -----"
    )
    for fleet in fleets or ["A", "B", "C", "D"]:
        for line in bench(fleet):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

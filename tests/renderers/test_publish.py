"""Pictures on disk: files, sizes, readability at scale, sample marking."""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import struct
import sys
from pathlib import Path

import pytest

from bot.model import HostFailure, Inventory, Snapshot
from renderers.diagram import host_graph
from renderers.options import RenderOptions
from renderers.publish import in_page_order, render_pictures, write_pictures
from tests.renderers.conftest import (
    WHEN,
    Drawing,
    attached,
    container,
    host,
    svg_texts,
    text_lines,
)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from fleetgen import FLEETS, fleet_snapshot  # noqa: E402

SAMPLE = REPO / "bot" / "data" / "sample-inventory.json"
OPTIONS = RenderOptions()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _sample() -> Snapshot:
    return Snapshot.model_validate_json(SAMPLE.read_text("utf-8"))


def test_sample_inventory_is_a_five_host_sample_with_an_etherpad() -> None:
    """The shipped sample validates, is marked sample and serves pad.<domain>."""
    snapshot = _sample()

    inventory = snapshot.inventory
    assert inventory.is_sample and inventory.organization == "Sample collective"
    assert len(inventory.hosts) == 5
    assert all(8 <= len(h.containers) <= 20 for h in inventory.hosts)
    urls = [
        u
        for h in inventory.hosts
        for c in h.containers
        for r in c.routes
        for u in r.urls
    ]
    assert any(u.startswith("https://pad.") for u in urls)


def test_sample_shows_each_traefik_port_once_and_host_mode_linked_once() -> None:
    """The sample reads like collected data: no doubled port line, one stack link."""
    hosts = {h.host: h for h in _sample().inventory.hosts}

    texts = [
        t
        for h in hosts.values()
        for t in svg_texts(host_graph(h, OPTIONS, "h_").source)
    ]
    media = Drawing(host_graph(hosts["media"], OPTIONS, "h_").source)

    assert texts.count("*:443 \u2192 443/tcp") == len(hosts)
    jellyfin = media.nodes_labelled(">jellyfin-jellyfin-1<")[0]
    (stack,) = media.nodes_labelled("host network stack")
    network_edges = [
        e
        for t, h, e in media.edges
        if jellyfin in (t, h) and e.get("dir") == "none" and e.get("style") != "dashed"
    ]
    assert len(network_edges) == 1 and media.edges_between(jellyfin, stack)


def test_every_host_fleet_and_legend_are_written_as_png_svg_and_dot(
    tmp_path: Path,
) -> None:
    """Each host, the fleet and the legend get their files, and index.html."""
    snapshot = _sample()

    paths = write_pictures(snapshot, tmp_path, OPTIONS)

    names = {p.name for p in paths}
    for stem in [h.host for h in snapshot.inventory.hosts] + ["fleet"]:
        assert {f"{stem}.png", f"{stem}.svg", f"{stem}.dot"} <= names
    assert {"legend.png", "legend.svg", "index.html"} <= names
    for path in tmp_path.glob("*.png"):
        width, height = _png_size(path)
        assert 200 <= width <= 32767 and 200 <= height <= 32767


def test_sample_says_sample_in_every_picture_title(tmp_path: Path) -> None:
    """Every SVG of the sample fleet says SAMPLE at the top."""
    write_pictures(_sample(), tmp_path, OPTIONS)

    for svg in tmp_path.glob("*.svg"):
        assert "SAMPLE" in svg.read_text("utf-8"), svg.name


def test_failed_host_appears_in_fleet_with_its_reason(tmp_path: Path) -> None:
    """A failed host is drawn in the fleet picture, marked and explained."""
    snapshot = _sample()
    failure = HostFailure(
        host="mail",
        kind="timeout",
        reason="the engine did not answer within 15 s",
        failed_at=WHEN,
    )
    inventory = snapshot.inventory.model_copy(update={"failures": [failure]})
    snapshot = snapshot.model_copy(update={"inventory": inventory})

    write_pictures(snapshot, tmp_path, OPTIONS)

    fleet = (tmp_path / "fleet.svg").read_text("utf-8")
    assert "NOT COLLECTED" in fleet and "did not answer within 15 s" in fleet
    assert (tmp_path / "mail.png").exists()


def test_host_names_become_safe_distinct_file_names(tmp_path: Path) -> None:
    """A host named like a path or like the fleet cannot overwrite files."""
    snapshot = _sample()
    hosts = [
        snapshot.inventory.hosts[0].model_copy(update={"host": "../../etc"}),
        snapshot.inventory.hosts[1].model_copy(update={"host": "fleet"}),
    ]
    inventory = snapshot.inventory.model_copy(update={"hosts": hosts})

    paths = write_pictures(
        snapshot.model_copy(update={"inventory": inventory}), tmp_path, OPTIONS
    )

    assert all(p.parent == tmp_path for p in paths)
    assert len({p.name for p in paths}) == len(paths)


def test_report_tells_each_pictures_kind_and_host(tmp_path: Path) -> None:
    """A host named "fleet" is still a host picture, under a safe file name."""
    snapshot = _sample()
    hosts = [snapshot.inventory.hosts[0].model_copy(update={"host": "fleet"})]
    inventory = snapshot.inventory.model_copy(update={"hosts": hosts})

    report = render_pictures(
        snapshot.model_copy(update={"inventory": inventory}), tmp_path, OPTIONS
    )

    assert report.png_by_host == {"fleet": tmp_path / "fleet-host2.png"}
    assert report.pngs("fleet") == [tmp_path / "fleet.png"]
    assert report.pngs("legend") == [tmp_path / "legend.png"]


def test_fleet_pages_follow_page_numbers_past_nine(tmp_path: Path) -> None:
    """With twelve fleet pages, page 2 comes before page 10 in the report and page."""
    hosts = [
        host(f"h{n:02d}", [container(f"app{n}", networks=attached("web"))], ["web"])
        for n in range(12)
    ]
    snapshot = Snapshot(
        collected_at=WHEN, inventory=Inventory(organization="t", hosts=hosts)
    )
    # Room for one small host and the legend per picture, not two hosts.
    options = RenderOptions(max_pixels=600_000)

    report = render_pictures(snapshot, tmp_path, options)

    assert report.fleet_pages == 12
    expected = [tmp_path / f"fleet-{n}.png" for n in range(1, 13)]
    assert report.pngs("fleet") == expected
    by_file_name = sorted(report.pictures, key=lambda picture: picture.name)
    assert in_page_order(by_file_name) == report.pictures
    page = (tmp_path / "index.html").read_text("utf-8")
    sections = [page.index(f"page {n} of 12") for n in range(1, 13)]
    assert sections == sorted(sections)
    second = (tmp_path / "fleet-2.svg").read_text("utf-8")
    assert "page 2 of 12" in second


def test_without_the_fleet_picture_only_hosts_and_legend_are_drawn(
    tmp_path: Path,
) -> None:
    """For a render of a few hosts: no fleet file, and the page still has each host."""
    snapshot = _sample()

    report = render_pictures(snapshot, tmp_path, OPTIONS, draw_fleet=False)

    assert report.fleet_pages == 0 and report.pngs("fleet") == []
    assert not list(tmp_path.glob("fleet*"))
    assert sorted(report.png_by_host) == sorted(snapshot.inventory.host_names)
    assert all(path.is_file() for path in report.png_by_host.values())
    assert report.pngs("legend") == [tmp_path / "legend.png"]
    page = (tmp_path / "index.html").read_text("utf-8")
    assert all(html.escape(h.host) in page for h in snapshot.inventory.hosts)


@pytest.mark.parametrize("fleet", ["A", "B", "C"])
def test_generated_fleet_pictures_stay_readable(fleet: str, tmp_path: Path) -> None:
    """Issue 5: aspect within 1:2.5..2.5:1, at most 7680x4320 pixels, text >= 10 px."""
    report = render_pictures(fleet_snapshot(fleet), tmp_path, OPTIONS)

    for picture in report.pictures:
        width, height = _png_size(picture.png)
        assert (width, height) == (picture.width_px, picture.height_px)
        assert width * height <= OPTIONS.max_pixels, picture.name
        assert picture.smallest_text_px >= 10.0, picture.name
        if picture.name != "legend":
            assert 1 / 2.5 <= width / height <= 2.5, picture.name
    fleet_pictures = [p for p in report.pictures if p.name.startswith("fleet")]
    assert len(fleet_pictures) == report.fleet_pages
    if report.fleet_pages > 1:
        svg = fleet_pictures[0].svg.read_text("utf-8")
        assert re.search(rf"page 1 of {report.fleet_pages}", svg)


def test_flat_host_of_300_lone_containers_is_drawn_within_targets(
    tmp_path: Path,
) -> None:
    """300 containers outside compose on one network, a volume and URL each, fit."""
    snapshot = fleet_snapshot("D")
    host = snapshot.inventory.hosts[0]
    assert FLEETS["D"] == (1, 300) and len(host.containers) == 300
    assert not any(c.compose_project for c in host.containers)
    # Before junctions dot took minutes on this host; a regression now fails
    # here as a picture drawn as a notice instead of hanging the suite.
    options = RenderOptions(dot_timeout_seconds=60)

    report = render_pictures(snapshot, tmp_path, options)

    assert report.problems == []
    picture = next(p for p in report.pictures if p.name == host.host)
    svg = picture.svg.read_text("utf-8")
    assert "PICTURE NOT DRAWN" not in svg
    assert all(f">{c.name}<" in svg for c in host.containers)
    assert picture.pixels <= options.max_pixels
    assert 1 / 2.5 <= picture.aspect <= 2.5
    assert picture.smallest_text_px >= 10.0


def _dot_that_hangs_on(marker: str, folder: Path) -> Path:
    """A ``dot`` on PATH that never finishes on input holding ``marker``."""
    real_dot = shutil.which("dot")
    assert real_dot is not None
    folder.mkdir()
    script = folder / "dot"
    script.write_text(
        "#!/bin/sh\n"
        'input="$(cat)"\n'
        f'case "$input" in *{marker}*) exec sleep 60 ;; esac\n'
        f'printf \'%s\\n\' "$input" | exec {real_dot} "$@"\n',
        "utf-8",
    )
    script.chmod(0o755)
    return folder


def test_host_graphviz_cannot_lay_out_is_a_notice_and_others_are_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A dot timeout on one host leaves a notice in its place; the rest is drawn."""
    snapshot = _sample()
    hosts = list(snapshot.inventory.hosts)
    stuck = hosts[0].containers[0].model_copy(update={"name": "dot-hangs-here"})
    hosts[0] = hosts[0].model_copy(
        update={"containers": [stuck, *hosts[0].containers[1:]]}
    )
    inventory = snapshot.inventory.model_copy(update={"hosts": hosts})
    shim = _dot_that_hangs_on("dot-hangs-here", tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    options = RenderOptions(dot_timeout_seconds=5)
    out = tmp_path / "out"

    with caplog.at_level(logging.WARNING, logger="renderers.painter"):
        report = render_pictures(
            snapshot.model_copy(update={"inventory": inventory}), out, options
        )

    stuck_host = hosts[0].host
    fleet = html.unescape((out / "fleet.svg").read_text("utf-8"))
    assert "PICTURE NOT DRAWN" in fleet and "took longer than" in fleet
    assert "PICTURE NOT DRAWN" in (out / f"{stuck_host}.svg").read_text("utf-8")
    for other in hosts[1:]:
        svg = html.unescape((out / f"{other.host}.svg").read_text("utf-8"))
        assert "PICTURE NOT DRAWN" not in svg
        assert f">{other.containers[0].name}<" in svg
        assert f">{other.containers[0].name}<" in fleet
    assert len(report.problems) == 1 and stuck_host in report.problems[0]
    assert stuck_host in caplog.text and "took longer than" in caplog.text
    advice = " ".join(text_lines((out / "fleet.svg").read_text("utf-8")))
    assert "exclude list in settings.toml" in advice
    assert "raise the limit" not in advice

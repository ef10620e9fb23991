"""Renders asked for in chat: shared between askers, and the pictures attached."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.errors import HostUnreachable
from bot.model import Inventory, Snapshot
from bot.pipeline import RenderResult
from bot.renders import SharedRender, joined_text, pictures

WAIT_SECONDS = 60
OUT = Path("/out")


def _result(
    hosts: dict[str, str],
    fleet: list[str],
    failed: tuple[str, ...] = (),
    legend: bool = True,
) -> RenderResult:
    snapshot = Snapshot(
        collected_at=datetime(2025, 3, 12, tzinfo=timezone.utc),
        inventory=Inventory(),
    )
    return RenderResult(
        snapshot,
        files=[],
        inventory_path=OUT / "inventory.json",
        failed_hosts=list(failed),
        png_by_host={host: OUT / f"{stem}.png" for host, stem in hosts.items()},
        fleet_pngs=[OUT / f"{stem}.png" for stem in fleet],
        legend_png=OUT / "legend.png" if legend else None,
    )


def test_shared_render_joins_a_running_render_and_hands_both_the_result() -> None:
    """Plain values: a second request while one runs waits for the same result."""
    release = threading.Event()
    entered = threading.Event()

    def render(hosts: list[str] | None) -> Any:
        entered.set()
        assert release.wait(WAIT_SECONDS)
        return ("result", hosts)

    shared = SharedRender(render)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(shared.run, ["media"])
        assert entered.wait(WAIT_SECONDS)
        second = pool.submit(shared.run, ["media"])
        # The render is registered before it is entered.
        assert shared.is_running(["media"])
        release.set()

        assert first.result() is second.result()
    assert shared.started_count == 1


def test_shared_render_of_the_fleet_answers_a_request_for_one_host() -> None:
    release = threading.Event()
    entered = threading.Event()

    def render(hosts: list[str] | None) -> Any:
        entered.set()
        return release.wait(WAIT_SECONDS) and ("fleet", hosts)

    shared = SharedRender(render)
    with ThreadPoolExecutor(max_workers=2) as pool:
        fleet_render = pool.submit(shared.run, None)
        assert entered.wait(WAIT_SECONDS)

        assert shared.is_running(None)
        assert shared.is_running(["media"])
        one_host = pool.submit(shared.run, ["media"])
        release.set()
        assert one_host.result() is fleet_render.result()
    assert shared.started_count == 1


def test_failed_render_is_reported_to_every_asker() -> None:
    def render(hosts: list[str] | None) -> Any:
        raise HostUnreachable("media", "refused")

    shared = SharedRender(render)

    with pytest.raises(HostUnreachable):
        shared.run(None)
    assert not shared.is_running(None)


def test_joining_a_render_of_the_same_hosts_names_them() -> None:
    text = joined_text(["web", "media"], ("media", "web"))

    assert text == (
        "A render of `media`, `web` is already running; its pictures follow "
        "here as well."
    )


def test_pictures_put_the_fleet_first_hosts_by_name_and_the_legend_last() -> None:
    result = _result(
        {"web": "web", "Media": "Media", "attic": "attic"},
        fleet=["fleet-1", "fleet-2", "fleet-10"],  # in page order, as drawn
        failed=("attic",),
    )

    names = [path.name for path in pictures(result)]

    assert names == ["fleet-1.png", "fleet-2.png", "fleet-10.png", "Media.png",
                     "web.png", "legend.png"]


def test_pictures_leave_out_a_legend_that_would_be_alone() -> None:
    """Every host asked for failed: the text says why, no picture is attached."""
    result = _result({"attic": "attic"}, fleet=[], failed=("attic",))

    assert pictures(result) == []

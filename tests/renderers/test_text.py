"""Markdown answers: summary table, status, where-results, escaping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.model import (
    Container,
    HostFailure,
    HostInventory,
    Inventory,
    PublishedPort,
    Route,
    Snapshot,
)
from renderers.text import (
    HostStatus,
    WhereAnswer,
    WhereMatch,
    describe_age,
    render_status,
    render_summary,
    render_where,
)

NOW = datetime(2025, 3, 12, 7, 0, tzinfo=timezone.utc)
BERLIN = ZoneInfo("Europe/Berlin")


def _container(name: str, state: str = "running", **fields: object) -> Container:
    return Container(
        id="c" * 64, name=name, image_ref="busybox:1", state=state, **fields
    )


def _snapshot() -> Snapshot:
    media = HostInventory(
        host="media",
        collected_at=NOW,
        containers=[
            _container("a"),
            _container("b"),
            _container("c", "exited"),
            _container("d", "paused"),
        ],
    )
    failure = HostFailure(
        host="far",
        kind="certificate-expired",
        reason="its client certificate expired on 1 March",
        failed_at=NOW,
    )
    inventory = Inventory(organization="Collective", hosts=[media], failures=[failure])
    return Snapshot(collected_at=NOW, inventory=inventory)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (5, "just now"),
        (60, "1 minute ago"),
        (4 * 60 + 59, "4 minutes ago"),
        (3 * 3600, "3 hours ago"),
        (86_400, "1 day ago"),
        (-30, "just now"),
    ],
)
def test_age_is_said_in_words(seconds: int, words: str) -> None:
    assert describe_age(NOW, NOW + timedelta(seconds=seconds)) == words


def test_summary_counts_running_and_not_running_per_host() -> None:
    text = render_summary(_snapshot(), BERLIN)

    assert "| media | 2 | 2 | collected |" in text
    assert "1 of 2 hosts collected, 2 containers running" in text
    assert "12 Mar 08:00 CET" in text


def test_summary_names_failed_host_and_why() -> None:
    """A failed host has its own row with the reason; it is never just missing."""
    text = render_summary(_snapshot(), BERLIN)

    assert (
        "| far | – | – | **failed**: its client certificate expired on 1 March |"
        in text
    )


def test_summary_marks_the_sample_fleet() -> None:
    snapshot = _snapshot()
    sample = snapshot.model_copy(
        update={"inventory": snapshot.inventory.model_copy(update={"is_sample": True})}
    )

    assert "(sample fleet)" in render_summary(sample, BERLIN)


def test_reason_with_pipes_and_markup_cannot_break_the_table() -> None:
    failure = HostFailure(
        host="x|y", kind="api-error", reason="bad | *bold* <b>\nnext", failed_at=NOW
    )
    snapshot = Snapshot(collected_at=NOW, inventory=Inventory(failures=[failure]))

    row = render_summary(snapshot, BERLIN).splitlines()[-1]

    assert row == r"| x\|y | – | – | **failed**: bad \| \*bold\* \<b\> next |"


def test_status_of_host_never_collected_says_never() -> None:
    text = render_status([HostStatus("new")], NOW, timezone.utc)

    assert "| new | never | not tried yet |" in text


def test_status_after_recovery_shows_ok_not_the_old_error() -> None:
    status = HostStatus(
        "media",
        last_success_at=NOW,
        last_error="refused",
        last_error_at=NOW - timedelta(hours=1),
    )

    text = render_status([status], NOW, timezone.utc)

    assert "| ok |" in text
    assert "refused" not in text
    assert text.startswith("1 of 1 host answered")


def test_where_shows_ipv6_port_health_and_unreadable_route() -> None:
    container = _container(
        "pad",
        health="unhealthy",
        network_mode="host",
        ports=[PublishedPort(host_ip="::1", host_port=80, container_port=8080)],
        routes=[
            Route(
                router="odd",
                provider="traefik-v2",
                rule="Foo(`x`)",
                is_parsed=False,
                problem="unknown matcher",
            )
        ],
    )
    answer = WhereAnswer(
        term="pad",
        matches=[WhereMatch("media", container)],
        collected_at=NOW,
        now=NOW + timedelta(hours=2),
    )

    text = render_where(answer)

    assert "`pad`: running, unhealthy" in text
    assert "`[::1]:80→8080/tcp`" in text
    assert "Routes with unreadable rules: `odd`" in text
    assert "Network mode: `host`" in text
    assert "collected 2 hours ago" in text


def test_odd_url_is_shown_as_code_not_as_a_link() -> None:
    route = Route(
        router="r", provider="traefik-v2", urls=["https://{sub:[a-z]+}.x.org"]
    )
    match = WhereMatch("h", _container("r", routes=[route]))
    answer = WhereAnswer(term="r", matches=[match], collected_at=NOW, now=NOW)

    assert "URLs: `https://{sub:[a-z]+}.x.org`" in render_where(answer)

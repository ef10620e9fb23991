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
    LastCollection,
    MatchedField,
    WhereAnswer,
    WhereMatch,
    describe_age,
    render_help,
    render_status,
    render_summary,
    render_where,
    safe_echo,
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


def _summary_of(*containers: Container, host: str = "media") -> str:
    inventory = Inventory(
        hosts=[HostInventory(host=host, collected_at=NOW, containers=list(containers))]
    )
    return render_summary(Snapshot(collected_at=NOW, inventory=inventory), BERLIN)


def _needs_a_look(text: str) -> list[str]:
    lines = text.splitlines()
    if "Needs a look:" not in lines:
        return []
    return lines[lines.index("Needs a look:") + 1:]


# The daily post's "Needs a look"


def test_summary_names_containers_that_need_a_look_and_why() -> None:
    text = _summary_of(
        _container("web", health="unhealthy"),
        _container("worker", "restarting", status="Restarting (1) 4 seconds ago"),
        _container("pad", "paused", health="unhealthy"),
        _container("crashed", "exited", status="Exited (137) 2 hours ago"),
        _container("zombie", "dead"),
        _container("healthy", health="healthy"),
        _container("backup-job", "exited", status="Exited (0) 5 hours ago"),
        _container("fresh", "created"),
    )

    assert _needs_a_look(text) == [
        "- `crashed` on media: exited with code 137",
        "- `pad` on media: unhealthy, paused",
        "- `web` on media: unhealthy",
        "- `worker` on media: restarting",
        "- `zombie` on media: dead",
    ]
    assert text.index("| media |") < text.index("Needs a look:")


def test_summary_without_trouble_has_no_needs_a_look() -> None:
    text = _summary_of(
        _container("web", health="healthy"),
        _container("job", "exited", status="Exited (0) 1 hour ago"),
    )

    assert "Needs a look" not in text


def test_exited_container_without_an_exit_code_is_listed_as_exited() -> None:
    assert _needs_a_look(_summary_of(_container("old", "exited"))) == [
        "- `old` on media: exited"
    ]


def test_needs_a_look_is_capped_with_the_count_of_the_rest() -> None:
    broken = [_container(f"c{n:02}", health="unhealthy") for n in range(14)]

    listed = _needs_a_look(_summary_of(*broken))

    assert len(listed) == 11
    assert listed[0] == "- `c00` on media: unhealthy"
    assert listed[-1] == "- and 4 more; `where <name>` shows each."


def test_host_note_ending_in_a_full_stop_does_not_double_punctuation() -> None:
    inventory = Inventory(hosts=[HostInventory(
        host="old", collected_at=NOW,
        notes=["This engine's API does not list mounts, so volumes are not drawn."],
    )])

    text = render_summary(Snapshot(collected_at=NOW, inventory=inventory), BERLIN)

    assert "| old | 0 | 0 | collected (This engine's API does not list mounts, " \
        "so volumes are not drawn) |" in text


# Where-answers: wording and echoes


def test_where_without_match_on_one_host_says_host_not_hosts() -> None:
    answer = WhereAnswer(
        term="nothing", matches=[], collected_at=NOW, now=NOW, host_count=1
    )

    assert "1 host searched" in render_where(answer)


def test_failure_reason_ending_in_a_full_stop_is_not_doubled() -> None:
    failure = HostFailure(
        host="far", kind="unreachable", failed_at=NOW,
        reason="it refused the connection on that address.",
    )
    answer = WhereAnswer(
        term="x", matches=[], collected_at=NOW, now=NOW, failures=[failure],
        host_count=1,
    )

    text = render_where(answer)

    assert text.splitlines()[-1] == (
        "Host `far` was not searched, as it was not collected: it refused the "
        "connection on that address."
    )


def test_failure_reason_without_a_full_stop_gets_one() -> None:
    failure = HostFailure(host="far", kind="timeout", reason="no answer",
                          failed_at=NOW)
    answer = WhereAnswer(term="x", matches=[], collected_at=NOW, now=NOW,
                         failures=[failure])

    assert render_where(answer).endswith("not collected: no answer.")


def test_where_ends_with_a_note_per_host_answered_from_its_last_collection() -> None:
    """Each note is its own paragraph, after the failures, times in the fleet's zone."""
    failure = HostFailure(host="far", kind="timeout", reason="no answer",
                          failed_at=NOW)
    stand_ins = (
        LastCollection("attic", NOW - timedelta(hours=2), NOW - timedelta(minutes=5)),
        LastCollection("cellar", NOW - timedelta(days=1), NOW),
    )
    answer = WhereAnswer(term="x", matches=[], collected_at=NOW, now=NOW,
                         failures=[failure], stand_ins=stand_ins, zone=BERLIN)

    paragraphs = render_where(answer).split("\n\n")

    assert paragraphs[-3].endswith("not collected: no answer.")
    assert paragraphs[-2] == (
        "Results for host `attic` are from its last successful collection, "
        "2 hours ago (12 Mar 06:00 CET): it was not collected 5 minutes ago. "
        "`status` says why."
    )
    assert paragraphs[-1].startswith(
        "Results for host `cellar` are from its last successful collection, "
        "1 day ago (11 Mar 08:00 CET): it was not collected just now."
    )


def test_where_says_what_matched_besides_the_name() -> None:
    match = WhereMatch(
        "media", _container("db"),
        (MatchedField("volume", "pad_db"), MatchedField("published port", "5432")),
    )
    answer = WhereAnswer(term="pad_db", matches=[match], collected_at=NOW, now=NOW)

    assert "  Matched volume `pad_db`, published port `5432`" in render_where(answer)


def test_echoed_term_is_cut_to_a_line_with_an_ellipsis() -> None:
    answer = WhereAnswer(
        term="word " * 3000, matches=[], collected_at=NOW, now=NOW, host_count=2
    )

    first = render_where(answer).splitlines()[0]

    assert len(first) < 140
    assert "word word…” (inventory collected just now, 2 hosts searched)." in first


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("@channel", "@\u2060channel"), ("hi @all!", "hi @\u2060all!"),
     ("ask@here", "ask@\u2060here"), ("@first.last", "@\u2060first.last"),
     ("mail me: a @ b", "mail me: a @ b")],
)
def test_echo_disarms_every_mention(typed: str, shown: str) -> None:
    assert safe_echo(typed) == shown


def test_echo_keeps_short_text_and_joins_lines() -> None:
    assert safe_echo("  two\nlines  ") == "two lines"
    assert len(safe_echo("x" * 500)) == 70


def test_help_says_where_takes_urls_ports_and_volumes() -> None:
    text = render_help("graphbot")

    assert "URLs, published ports and volume names" in text


def test_urls_of_a_stopped_container_are_marked_not_served() -> None:
    """Traefik drops routes to stopped containers, so the answer says so."""
    route = Route(
        router="pad", provider="traefik-v2", urls=["https://pad.example.org"],
        problem='Router "pad": its URLs leave out the conditions Method(`GET`).',
    )
    match = WhereMatch("h", _container("pad", state="exited", routes=[route]))
    answer = WhereAnswer(term="pad", matches=[match], collected_at=NOW, now=NOW)

    text = render_where(answer)

    assert "https://pad.example.org (not served: container stopped)" in text
    assert "Route notes: Router \"pad\": its URLs leave out the conditions" in text

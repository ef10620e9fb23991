"""Chat commands: parsing, where-answers, render permissions, status, help."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.commands import (
    Asker,
    Command,
    Knowledge,
    handle_text,
    parse,
    strip_mention,
)
from bot.errors import UnknownCommand
from bot.last_collected import StandIn
from bot.model import (
    Container,
    HostFailure,
    HostInventory,
    Inventory,
    Mount,
    NetworkAttachment,
    PublishedPort,
    Route,
    Snapshot,
)
from bot.settings import (
    HostSettings,
    MattermostSettings,
    ScheduleSettings,
    Settings,
)
from renderers.text import HostStatus

NOW = datetime(2025, 3, 12, 9, 0, tzinfo=timezone.utc)
ALICE = Asker(user_name="alice", user_id="u-alice", channel_id="c-ops",
              channel_name="ops")


def _container(name: str, **fields: object) -> Container:
    values: dict[str, object] = {
        "id": f"{name:0<64}"[:64], "image_ref": "busybox:latest", "state": "running"
    }
    values.update(fields)
    return Container(name=name, **values)


def _snapshot() -> Snapshot:
    etherpad = _container(
        "etherpad",
        image_ref="etherpad/etherpad:1.9",
        compose_project="office",
        compose_service="pad",
        networks=[NetworkAttachment(network="web"), NetworkAttachment(network="db")],
        ports=[PublishedPort(host_ip="127.0.0.1", host_port=9001, container_port=9001)],
        routes=[Route(router="pad", provider="traefik-v2",
                      urls=["https://pad.example.org"])],
    )
    media = HostInventory(
        host="media",
        collected_at=NOW - timedelta(minutes=4),
        containers=[
            etherpad,
            _container("jellyfin", ports=[
                PublishedPort(host_port=18096, container_port=8096)
            ]),
        ],
    )
    web = HostInventory(
        host="web",
        collected_at=NOW - timedelta(minutes=4),
        containers=[
            _container("etherpad-db", image_ref="postgres:16", mounts=[
                Mount(kind="volume", source="pad_db", target="/var/lib/postgresql")
            ]),
            _container("nextcloud", image_ref="nextcloud:29",
                       routes=[Route(router="cloud", provider="traefik-v2",
                                     urls=["http://cloud.example.org/"])]),
            _container("traefik", image_ref="traefik:v3.0",
                       routes=[Route(router="wiki", provider="traefik-v2",
                                     urls=["https://wiki.example.org"])]),
        ],
    )
    failure = HostFailure(host="backup", kind="timeout",
                          reason="the engine did not answer within 15 s",
                          failed_at=NOW - timedelta(minutes=4))
    inventory = Inventory(organization="Collective", hosts=[media, web],
                          failures=[failure])
    return Snapshot(collected_at=NOW - timedelta(minutes=4), inventory=inventory)


def _settings(**mattermost: object) -> Settings:
    hosts = [HostSettings(name=name, url=f"unix:///run/{name}.sock")
             for name in ("media", "web", "backup")]
    return Settings(hosts=hosts, mattermost=MattermostSettings(**mattermost))


def _knowledge(settings: Settings | None = None, **fields: object) -> Knowledge:
    values: dict[str, object] = {
        "settings": settings or _settings(), "snapshot": _snapshot(), "now": NOW
    }
    values.update(fields)
    return Knowledge(**values)


@pytest.mark.parametrize(
    "text",
    ["@graphbot where is etherpad", "@GraphBot: where etherpad",
     "where is etherpad?", "  @graphbot,   WHERE   etherpad  "],
)
def test_where_is_read_with_or_without_mention_and_is(text: str) -> None:
    """The mention, its case, a colon and the word "is" do not change the command."""
    assert parse(text) == Command("where", "etherpad")


def test_mention_of_another_bot_is_not_stripped() -> None:
    """Only the bot's own name is removed, not a longer name that starts the same."""
    assert strip_mention("@graphbotter status") == "@graphbotter status"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("render now", Command("render", "")),
     ("render now media", Command("render", "media")),
     ("render web", Command("render", "web")), ("status", Command("status")),
     ("certs", Command("certs")), ("help", Command("help")),
     ("@graphbot", Command("help"))],
)
def test_each_command_is_recognised(text: str, expected: Command) -> None:
    """Every command of the help text parses to its name and argument."""
    assert parse(text) == expected


def test_unknown_command_suggests_closest_and_points_to_help() -> None:
    """A misspelt command is answered with the nearest names and a pointer to help."""
    with pytest.raises(UnknownCommand) as caught:
        parse("@graphbot statsu")

    assert "`status`" in str(caught.value)
    assert '"help"' in str(caught.value)


def test_unknown_command_is_answered_not_raised() -> None:
    reply = handle_text("@graphbot dance", ALICE, _knowledge())

    assert 'I do not know the command "dance"' in reply.text
    assert reply.wants_render is None


def test_where_finds_partial_name_with_host_state_image_urls_ports_networks() -> None:
    """ "pad" finds etherpad and shows everything a person needs to reach it."""
    reply = handle_text("@graphbot where is pad", ALICE, _knowledge())

    assert "**media**" in reply.text
    assert "`etherpad`: running, image `etherpad/etherpad:1.9`" in reply.text
    assert "https://pad.example.org" in reply.text
    assert "`127.0.0.1:9001→9001/tcp`" in reply.text
    assert "Networks: `web`, `db`" in reply.text
    assert "Compose: `office`/`pad`" in reply.text
    assert "collected 4 minutes ago" in reply.text


def test_where_groups_several_matches_by_host() -> None:
    reply = handle_text("where ETHERPAD", ALICE, _knowledge())

    assert "2 containers on 2 hosts" in reply.text
    media, web = reply.text.index("**media**"), reply.text.index("**web**")
    assert media < reply.text.index("`etherpad`:") < web < reply.text.index(
        "`etherpad-db`:"
    )


@pytest.mark.parametrize("term", ["office", "postgres", "wiki.example", "pad office"])
def test_where_matches_compose_names_images_and_urls(term: str) -> None:
    """Compose project, image reference and route URLs are searched too."""
    reply = handle_text(f"where {term}", ALICE, _knowledge())

    assert "matches 1 container " in reply.text


def test_where_without_match_says_so_and_suggests_close_names() -> None:
    reply = handle_text("where jellyfn", ALICE, _knowledge())

    assert "Nothing matches" in reply.text
    assert "`jellyfin`" in reply.text
    assert "collected 4 minutes ago" in reply.text


def test_where_names_hosts_that_were_not_searched() -> None:
    """A failed host is never silently missing from a where-answer."""
    reply = handle_text("where etherpad", ALICE, _knowledge())

    assert (
        "Host `backup` was not searched, as it was not collected: the engine did "
        "not answer within 15 s." in reply.text
    )


def test_where_says_which_hosts_are_searched_as_last_collected() -> None:
    """A host down now is searched as it was; the answer says when, in local time."""
    snapshot = _snapshot()
    media = snapshot.inventory.hosts[0]
    failure = HostFailure(host="media", kind="unreachable", reason="refused",
                          failed_at=NOW - timedelta(minutes=1))
    settings = _settings().model_copy(
        update={"schedule": ScheduleSettings(timezone="Europe/Berlin")}
    )
    knowledge = _knowledge(settings, stand_ins=(StandIn(media, failure),))

    reply = handle_text("where jellyfin", ALICE, knowledge)

    assert "`jellyfin`: running" in reply.text
    assert reply.text.endswith(
        "\n\nResults for host `media` are from its last successful collection, "
        "4 minutes ago (12 Mar 09:56 CET): it was not collected 1 minute ago. "
        "`status` says why."
    )


def test_where_without_stand_ins_says_nothing_of_older_results() -> None:
    reply = handle_text("where jellyfin", ALICE, _knowledge())

    assert "last successful collection" not in reply.text


def test_where_before_first_collection_asks_to_wait() -> None:
    reply = handle_text("where etherpad", ALICE, _knowledge(snapshot=None))

    assert "no inventory yet" in reply.text


def test_where_without_term_gives_an_example() -> None:
    assert "where is etherpad" in handle_text("where", ALICE, _knowledge()).text


def test_render_now_asks_for_a_render_of_the_fleet() -> None:
    reply = handle_text("@graphbot render now", ALICE, _knowledge())

    assert reply.wants_render == []
    assert "the whole fleet" in reply.text


def test_render_of_one_host_asks_for_that_host() -> None:
    assert handle_text("render media", ALICE, _knowledge()).wants_render == ["media"]


def test_render_of_unknown_host_names_the_hosts_and_renders_nothing() -> None:
    reply = handle_text("render now medai", ALICE, _knowledge())

    assert reply.wants_render is None
    assert "Did you mean `media`?" in reply.text
    assert "`backup`" in reply.text


def test_render_now_is_refused_politely_to_unlisted_user() -> None:
    settings = _settings(render_allowed_users=["@bob"])

    reply = handle_text("render now", ALICE, _knowledge(settings))

    assert reply.wants_render is None
    assert reply.text.startswith("Sorry")


def test_render_now_is_allowed_to_listed_user_in_listed_channel() -> None:
    settings = _settings(
        render_allowed_users=["Alice"], render_allowed_channels=["ops"]
    )

    assert handle_text("render now", ALICE, _knowledge(settings)).wants_render == []


def test_render_now_is_refused_outside_listed_channels() -> None:
    settings = _settings(render_allowed_channels=["~ops"])
    town_square = Asker(user_name="alice", channel_id="c-town", channel_name="town")

    reply = handle_text("render now", town_square, _knowledge(settings))

    assert reply.wants_render is None
    assert "~ops" in reply.text


def test_status_shows_last_collection_and_last_error() -> None:
    statuses = [
        HostStatus("media", last_success_at=NOW - timedelta(minutes=4)),
        HostStatus("backup", last_success_at=NOW - timedelta(days=3),
                   last_error="the engine did not answer within 15 s",
                   last_error_at=NOW - timedelta(minutes=4)),
    ]

    reply = handle_text("status", ALICE, _knowledge(load_statuses=lambda: statuses))

    assert "| media | 4 minutes ago (12 Mar 08:56 UTC) | ok |" in reply.text
    assert "| backup | 3 days ago" in reply.text
    assert "**failed** 4 minutes ago: the engine did not answer" in reply.text


def test_certs_shows_the_table_when_a_host_uses_tls(tmp_path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    tls = HostSettings(
        name="far", url="tcp://127.0.0.1:2376", ca_cert=tmp_path / "ca.pem",
        cert=tmp_path / "cert.pem", key=tmp_path / "key.pem",
    )
    knowledge = _knowledge(Settings(hosts=[tls]), load_certificates=lambda: "| table |")

    assert handle_text("certs", ALICE, knowledge).text == "| table |"


def test_certs_without_tls_hosts_says_there_is_nothing_to_check() -> None:
    reply = handle_text("certs", ALICE, _knowledge(load_certificates=lambda: "x"))

    assert "No host uses TLS" in reply.text


def test_help_lists_every_command_with_an_example() -> None:
    text = handle_text("help", ALICE, _knowledge()).text

    for example in ("where is etherpad", "render now media", "@graphbot status",
                    "@graphbot certs", "@graphbot help"):
        assert example in text


# What the bot repeats of the user's text


def test_where_with_a_huge_term_answers_in_a_few_lines() -> None:
    """A pasted wall of text is echoed cut short, so the answer stays one post."""
    reply = handle_text("@graphbot where " + "x" * 16_000, ALICE, _knowledge())

    assert len(reply.text) < 400
    assert "“" + "x" * 60 in reply.text
    assert "…”" in reply.text


def test_unknown_command_with_a_huge_word_is_echoed_cut_short() -> None:
    reply = handle_text("@graphbot " + "y" * 16_000, ALICE, _knowledge())

    assert len(reply.text) < 250
    assert 'I do not know the command "' + "y" * 60 in reply.text


def test_render_of_a_huge_host_name_is_echoed_cut_short() -> None:
    reply = handle_text("render now " + "z" * 16_000, ALICE, _knowledge())

    assert len(reply.text) < 250
    assert reply.wants_render is None


@pytest.mark.parametrize(
    ("text", "mention"),
    [("@graphbot where is @channel", "@channel"),
     ("@graphbot where @alice", "@alice"),
     ("@graphbot @all", "@all"),
     ("@graphbot here@here", "@here"),
     ("@graphbot render now @here", "@here")],
)
def test_mentions_in_echoed_text_notify_nobody(text: str, mention: str) -> None:
    """Echoed @-mentions carry a word joiner after the "@", so Mattermost sees none."""
    reply = handle_text(text, ALICE, _knowledge())

    assert mention not in reply.text
    assert "@\u2060" + mention[1:] in reply.text


def test_markdown_in_an_unknown_command_is_shown_as_typed() -> None:
    reply = handle_text("@graphbot **loud**", ALICE, _knowledge())

    assert 'I do not know the command "\\*\\*loud\\*\\*".' in reply.text


# Where the command starts


@pytest.mark.parametrize(
    "text",
    ["hey @graphbot, where is jellyfin?", "@alice asked @graphbot: where jellyfin",
     "ok so\n@GRAPHBOT where jellyfin"],
)
def test_text_before_the_mention_is_ignored(text: str) -> None:
    assert parse(text) == Command("where", "jellyfin")


def test_text_after_a_second_mention_stays_in_the_argument() -> None:
    assert parse("@graphbot where @graphbot") == Command("where", "@graphbot")


def test_longer_name_with_a_dash_or_dot_is_not_the_bot() -> None:
    assert strip_mention("@graphbot-dev status") == "@graphbot-dev status"
    assert strip_mention("@graphbot.old status") == "@graphbot.old status"


def test_mention_followed_by_a_full_stop_is_the_bot() -> None:
    assert parse("status please, @graphbot.") == Command("help")


# What where finds besides names


@pytest.mark.parametrize(
    "term",
    ["https://cloud.example.org", "http://cloud.example.org/", "CLOUD.example.org/",
     "cloud.example.org"],
)
def test_where_finds_a_url_pasted_with_another_scheme_slash_or_case(
    term: str,
) -> None:
    reply = handle_text(f"where {term}", ALICE, _knowledge())

    assert "matches 1 container " in reply.text
    assert "`nextcloud`: running" in reply.text
    assert "Matched URL `http://cloud.example.org/`" in reply.text


@pytest.mark.parametrize("term", ["18096", "8096", ":18096", "18096/tcp"])
def test_where_finds_a_published_host_or_container_port(term: str) -> None:
    reply = handle_text(f"where {term}", ALICE, _knowledge())

    assert "matches 1 container " in reply.text
    assert "`jellyfin`: running" in reply.text
    assert "Matched published port `18096→8096/tcp`" in reply.text


def test_where_matches_ports_only_as_whole_numbers() -> None:
    reply = handle_text("where 1809", ALICE, _knowledge())

    assert reply.text.startswith("Nothing matches “1809”")


def test_where_finds_a_named_volume_and_says_so() -> None:
    reply = handle_text("where pad_db", ALICE, _knowledge())

    assert "**web**" in reply.text
    assert "`etherpad-db`: running" in reply.text
    assert "Matched volume `pad_db`" in reply.text


def test_where_by_container_name_adds_no_matched_line() -> None:
    reply = handle_text("where jellyfin", ALICE, _knowledge())

    assert "`jellyfin`: running" in reply.text
    assert "Matched" not in reply.text


def test_where_names_each_field_a_word_matched() -> None:
    reply = handle_text("where office pad.example", ALICE, _knowledge())

    assert "Matched compose project `office`, URL `https://pad.example.org`" in (
        reply.text
    )


def test_where_without_match_says_how_many_hosts_were_searched() -> None:
    reply = handle_text("where nothing-like-it", ALICE, _knowledge())

    assert "(inventory collected 4 minutes ago, 2 hosts searched)." in reply.text

"""graphbot run end to end: the test Mattermost server and the real dockerd fleet."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from bot.renders import SharedRender
from bot.scheduler import DAILY_POST, REFRESH
from bot.service import Service
from bot.settings import HostSettings, MattermostSettings, ScheduleSettings, Settings
from tests.bots import WAIT_SECONDS, running_service, wait_until
from tests.conftest import Fleet
from tests.dockerd import Daemon
from tests.mattermost_server import MattermostServer

CHANNEL = "infra"


@pytest.fixture
def service(
    chat_server: MattermostServer, fleet: Fleet, tmp_path: Path
) -> Iterator[Service]:
    with running(_settings(chat_server, fleet.host_list, tmp_path)) as bot:
        yield bot


def _settings(
    chat_server: MattermostServer, hosts: list[HostSettings], tmp_path: Path
) -> Settings:
    return Settings(
        organization="Test collective",
        hosts=hosts,
        output_dir=tmp_path / "output",
        data_dir=tmp_path / "data",
        mattermost=MattermostSettings(
            url=chat_server.url,
            token=chat_server.bot.token,
            team="collective",
            channel=CHANNEL,
        ),
        # No grace: nothing is "missed" at start, so only the tests' own
        # requests make posts.
        schedule=ScheduleSettings(misfire_grace_hours=0),
    )


def running(settings: Settings) -> AbstractContextManager[Service]:
    """A started Service, once it listens and holds an inventory."""
    return running_service(
        settings, lambda bot: bot.latest is not None, "the first inventory refresh"
    )


@pytest.fixture
def vanished_socket() -> Iterator[Path]:
    """Where a host's socket should be; nothing ever listens there."""
    # Short: unix socket paths are limited to 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="gb-gone-", dir="/tmp"))
    yield directory / "docker.sock"
    shutil.rmtree(directory, ignore_errors=True)


def _bot_replies(
    server: MattermostServer, channel: str, root_id: str, count: int = 1
) -> list[dict[str, Any]]:
    """Wait for ``count`` posts of the bot in the thread of ``root_id``."""

    def replies() -> list[dict[str, Any]]:
        return [
            post
            for post in server.posts_in(channel)
            if post["user_id"] == server.bot.id and post.get("root_id") == root_id
        ]

    wait_until(lambda: len(replies()) >= count, f"{count} replies to {root_id}")
    return replies()


def test_where_is_answered_in_the_thread_with_host_and_urls(
    chat_server: MattermostServer, service: Service
) -> None:
    """A user asks where etherpad runs and reads host, state, image and URL."""
    asked = chat_server.user_posts("@graphbot where is etherpad", CHANNEL, "alice")

    reply = _bot_replies(chat_server, CHANNEL, asked["id"])[0]["message"]

    assert "**general**" in reply
    assert "`etherpad`: running, image `etherpad/etherpad:1.9`" in reply
    assert "pad.example.org" in reply
    assert "`frontend`" in reply and "`backend`" in reply
    assert "inventory collected " in reply


def test_reply_to_a_thread_stays_in_that_thread(
    chat_server: MattermostServer, service: Service
) -> None:
    root = chat_server.user_posts("who runs the wiki?", CHANNEL, "bob")
    asked = chat_server.user_posts(
        "@graphbot where jellyfin", CHANNEL, "alice", root_id=root["id"]
    )

    reply = _bot_replies(chat_server, CHANNEL, root["id"])[0]

    assert asked["root_id"] == root["id"]
    assert "**media**" in reply["message"]


def test_direct_message_is_answered_without_mention(
    chat_server: MattermostServer, service: Service
) -> None:
    alice = chat_server.user("alice")
    direct = chat_server.direct_channel(alice, chat_server.bot)
    asked = chat_server.user_posts("status", direct, alice)

    reply = _bot_replies(chat_server, direct, asked["id"])[0]["message"]

    for host in ("general", "media", "ldap"):
        assert f"| {host} |" in reply


def test_other_bots_are_ignored(
    chat_server: MattermostServer, service: Service
) -> None:
    from_bot = chat_server.user_posts("@graphbot help", CHANNEL, "otherbot")
    asked = chat_server.user_posts("@graphbot help", CHANNEL, "alice")

    _bot_replies(chat_server, CHANNEL, asked["id"])

    assert not [
        p for p in chat_server.posts_in(CHANNEL) if p.get("root_id") == from_bot["id"]
    ]


def test_unknown_command_points_to_help(
    chat_server: MattermostServer, service: Service
) -> None:
    asked = chat_server.user_posts("@graphbot wehre etherpad", CHANNEL, "alice")

    reply = _bot_replies(chat_server, CHANNEL, asked["id"])[0]["message"]

    assert "`where`" in reply and '"help"' in reply


def test_daily_post_has_summary_and_pictures(
    chat_server: MattermostServer, service: Service
) -> None:
    """The daily job posts one message: a row per host, every picture as PNG."""
    assert service.scheduler.run_now(DAILY_POST)

    posts = [
        p
        for p in chat_server.posts_in(CHANNEL)
        if p["user_id"] == chat_server.bot.id and not p.get("root_id")
    ]
    assert len(posts) == 1
    message = posts[0]["message"]
    for host in ("general", "media", "ldap"):
        assert f"| {host} | " in message
    assert "3 of 3 hosts collected" in message
    files = chat_server.files_of(posts[0])
    names = [stored.name for stored in files]
    assert len(files) >= 5, names  # merged, one per host, legend
    assert all(stored.mime_type == "image/png" for stored in files)
    assert any("legend" in name for name in names)


def test_render_now_asked_twice_at_once_renders_once_for_both(
    chat_server: MattermostServer, service: Service
) -> None:
    """Two people ask while a render runs; one render, both threads get pictures."""
    gate = threading.Event()
    service.renders = SharedRender(
        lambda hosts: gate.wait(WAIT_SECONDS) and service.render(hosts)
    )
    first = chat_server.user_posts("@graphbot render now", CHANNEL, "alice")
    _bot_replies(chat_server, CHANNEL, first["id"])
    second = chat_server.user_posts("@graphbot render now", CHANNEL, "bob")
    joined = _bot_replies(chat_server, CHANNEL, second["id"])[0]["message"]
    gate.set()

    first_replies = _bot_replies(chat_server, CHANNEL, first["id"], count=2)
    second_replies = _bot_replies(chat_server, CHANNEL, second["id"], count=2)

    assert "already running" in joined
    assert service.renders.started_count == 1
    for replies in (first_replies, second_replies):
        assert chat_server.files_of(replies[-1])
        assert "| general | " in replies[-1]["message"]
    assert first_replies[-1]["file_ids"] != second_replies[-1]["file_ids"]


def test_bot_answers_again_after_the_server_restarts(
    chat_server: MattermostServer, service: Service
) -> None:
    chat_server.restart()
    assert chat_server.wait_for_websockets(1, timeout_seconds=WAIT_SECONDS)

    asked = chat_server.user_posts("@graphbot help", CHANNEL, "alice")

    reply = _bot_replies(chat_server, CHANNEL, asked["id"])[0]["message"]
    assert "render now" in reply


def _ask(server: MattermostServer, text: str, count: int = 1) -> list[dict[str, Any]]:
    """Ask the bot in the channel, as alice, and wait for ``count`` replies."""
    asked = server.user_posts(text, CHANNEL, "alice")
    return _bot_replies(server, CHANNEL, asked["id"], count)


def _channel_posts(server: MattermostServer) -> list[dict[str, Any]]:
    """The bot's own posts in the channel (not thread replies), oldest first."""
    return [
        post for post in server.posts_in(CHANNEL)
        if post["user_id"] == server.bot.id and not post.get("root_id")
    ]


def _file_names(server: MattermostServer, post: dict[str, Any]) -> list[str]:
    return [stored.name for stored in server.files_of(post)]


LAST_COLLECTION = re.compile(
    r"Results for host `attic` are from its last successful collection, "
    r"(just now|\d+ minutes? ago) \(.+\): it was not collected "
)


def test_where_finds_what_a_host_that_went_down_ran_and_says_how_old_it_is(
    chat_server: MattermostServer, fleet: Fleet,
    daemon_factory: Callable[..., Daemon], tmp_path: Path,
) -> None:
    """A host stops answering: its containers are still found, marked as older.

    After a restart the bot still knows them; the pictures show the host failed.
    """
    attic = daemon_factory("attic")
    attic.import_rootfs("photoprism/photoprism:240915")
    attic.docker("network", "create", "photo-net")
    attic.docker("run", "-d", "--name", "photoprism", "--network", "photo-net",
                 "photoprism/photoprism:240915", "sleep", "86400")
    hosts = [fleet.hosts["general"], attic.host_settings("attic")]
    settings = _settings(chat_server, hosts, tmp_path)
    with running(settings) as bot:
        while_up = _ask(chat_server, "@graphbot where photo")[0]["message"]
        attic.stop()
        assert bot.scheduler.run_now(REFRESH)
        while_down = _ask(chat_server, "@graphbot where photo")[0]["message"]
        nothing = _ask(chat_server, "@graphbot where nosuchname")[0]["message"]
        assert bot.scheduler.run_now(DAILY_POST)
    with running(settings):
        after_restart = _ask(chat_server, "@graphbot where photo")[0]["message"]

    assert "`photoprism`: running" in while_up and "last successful" not in while_up
    for reply in (while_down, after_restart):
        assert "**attic**" in reply
        assert "`photoprism`: running, image `photoprism/photoprism:240915`" in reply
        assert LAST_COLLECTION.search(reply), reply
        assert "Not searched: host `attic`" not in reply
    assert nothing.startswith("Nothing matches") and LAST_COLLECTION.search(nothing)
    daily = _channel_posts(chat_server)[-1]
    assert "| attic | – | – | **failed**: " in daily["message"]
    assert "attic.png" not in _file_names(chat_server, daily)
    fleet_dot = (settings.output_dir / "fleet.dot").read_text(encoding="utf-8")
    assert "photoprism" not in fleet_dot and "attic" in fleet_dot


def test_render_now_of_one_host_attaches_its_picture_and_the_legend_only(
    chat_server: MattermostServer, service: Service
) -> None:
    """The fleet picture of one host would repeat that host's own picture."""
    replies = _ask(chat_server, "@graphbot render now media", count=2)

    assert _file_names(chat_server, replies[-1]) == ["media.png", "legend.png"]
    assert "| media | " in replies[-1]["message"]


def test_failed_host_gets_no_picture_of_its_own_and_the_text_says_why(
    chat_server: MattermostServer, fleet: Fleet, tmp_path: Path,
    vanished_socket: Path,
) -> None:
    """Its picture would hold only a "not collected" box; the text has the reason."""
    gone = HostSettings(name="attic", url=f"unix://{vanished_socket}")
    settings = _settings(chat_server, [fleet.hosts["general"], gone], tmp_path)
    with running(settings) as bot:
        render_now = _ask(chat_server, "@graphbot render now attic", count=2)[-1]
        assert bot.scheduler.run_now(DAILY_POST)
    daily = _channel_posts(chat_server)[-1]

    failed_row = "| attic | – | – | **failed**: there is no Docker socket at "
    assert failed_row in render_now["message"]
    assert _file_names(chat_server, render_now) == []
    assert failed_row in daily["message"]
    assert _file_names(chat_server, daily) == [
        "fleet.png", "general.png", "legend.png"
    ]


def test_render_of_one_host_joining_a_fleet_render_says_the_fleet_is_drawn(
    chat_server: MattermostServer, service: Service
) -> None:
    """Asked for media while the fleet renders: told so, then the fleet arrives."""
    gate = threading.Event()
    service.renders = SharedRender(
        lambda hosts: gate.wait(WAIT_SECONDS) and service.render(hosts)
    )
    _ask(chat_server, "@graphbot render now")
    wait_until(lambda: service.renders.is_running(None), "the fleet render")
    asked = chat_server.user_posts("@graphbot render now media", CHANNEL, "bob")
    joined = _bot_replies(chat_server, CHANNEL, asked["id"])[0]["message"]
    gate.set()

    pictures = _bot_replies(chat_server, CHANNEL, asked["id"], count=2)[-1]

    assert joined == (
        "A render of the whole fleet, which includes `media`, is already running; "
        "its pictures follow here as well."
    )
    assert _file_names(chat_server, pictures)[0] == "fleet.png"
    assert "| general | " in pictures["message"]
    assert service.renders.started_count == 1


def _run_command(
    settings_path: Path, token: str
) -> subprocess.Popen[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("GRAPHBOT_")
    }
    environment["GRAPHBOT_MATTERMOST__TOKEN"] = token
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--settings", str(settings_path), "run"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_graphbot_run_refuses_a_second_instance_and_stops_on_sigterm(
    chat_server: MattermostServer, tmp_path: Path
) -> None:
    """Two bots on one data_dir would answer twice; the second one says so."""
    settings_path = tmp_path / "settings.toml"
    settings_path.write_text(
        f'data_dir = "{tmp_path / "data"}"\noutput_dir = "{tmp_path / "out"}"\n'
        f'[[hosts]]\nname = "gone"\nurl = "unix://{tmp_path}/gone.sock"\n'
        f'[mattermost]\nurl = "{chat_server.url}"\nteam = "collective"\n'
        f'channel = "{CHANNEL}"\n'
    )
    first = _run_command(settings_path, chat_server.bot.token)
    try:
        assert chat_server.wait_for_websockets(1, timeout_seconds=WAIT_SECONDS)

        second = _run_command(settings_path, chat_server.bot.token)
        _, second_err = second.communicate(timeout=WAIT_SECONDS)

        assert second.returncode == 2
        assert f"already uses the data_dir {tmp_path / 'data'}" in second_err
        assert str(first.pid) in second_err
    finally:
        first.send_signal(signal.SIGTERM)
        _, first_err = first.communicate(timeout=WAIT_SECONDS)
    assert first.returncode == 0, first_err
    assert chat_server.bot.token not in first_err


def test_graphbot_run_without_a_server_says_what_to_set(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, capture_output=True,
        text=True, timeout=WAIT_SECONDS,
        env={k: v for k, v in os.environ.items() if not k.startswith("GRAPHBOT_")},
    )

    assert result.returncode == 2
    assert "no Mattermost server is configured" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

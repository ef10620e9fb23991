"""Certificate warnings and stale-host alerts end to end, as the team reads them.

Real dockerd daemons serve mutual TLS with certificates made here; a Service
posts to the test Mattermost server; ``graphbot certs`` runs as a subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.mattermost import ChatClient
from bot.scheduler import CERTIFICATE_CHECK, DAILY_POST
from bot.service import Service
from bot.settings import (
    CertificateSettings,
    HostSettings,
    MattermostSettings,
    ScheduleSettings,
    Settings,
)
from bot.state import load_state, updating_state
from tests import certs
from tests.bots import running_service, wait_until
from tests.dockerd import Daemon, TlsFiles, make_tls_files
from tests.mattermost_server import MattermostServer

REPO = Path(__file__).resolve().parent.parent
CHANNEL = "infra"
# 29 February at 03:00: the scheduled jobs never fire on their own while a
# test runs, so every post comes from the test's own requests.
NEVER = "0 3 29 2 *"
# A few hours on top of the whole days, so that the days left the bot counts
# (rounded down) stay the same however long the tests take.
MARGIN_DAYS = 0.25
TLS_FAILURES = ("expired-client", "refused", "wrong-name")
GENERIC_CONNECTION_ERRORS = ("could not be reached", "nothing accepts connections")


@dataclass
class TlsFleet:
    """TLS daemons and hosts that reach them, each with one certificate story."""

    daemons: dict[str, Daemon]
    hosts: dict[str, HostSettings]
    expiring: TlsFiles  # client certificate in 5 days, CA in 20
    expired_client: certs.Issued

    def host_list(self, *names: str) -> list[HostSettings]:
        return [self.hosts[name] for name in names or self.hosts]


@pytest.fixture(scope="module")
def tls_fleet(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> TlsFleet:
    """Three daemons and five hosts, each host with one certificate story."""
    work = tmp_path_factory.mktemp("certificate-alerts")
    expiring = _expiring_tls(work / "expiring")
    good = make_tls_files(work / "good")
    wrong_name = make_tls_files(
        work / "wrong-name", server_names=("elsewhere.example",), server_ips=()
    )
    expired_client = certs.issue(
        good.ca, work / "good", "client-expired", common_name="graphbot-expired",
        is_server=False, days=-2, not_before_days=60,
    )
    foreign_ca = certs.make_ca(work / "foreign", common_name="some other CA")
    foreign_client = certs.issue(
        foreign_ca, work / "foreign", "client", common_name="graphbot-foreign",
        is_server=False,
    )
    daemons = {
        "expiring": Daemon("ca-expiring", tls=expiring),
        "good": Daemon("ca-good", tls=good),
        "wrong-name": Daemon("ca-wrong", tls=wrong_name),
    }
    for daemon in daemons.values():
        request.addfinalizer(daemon.stop)
    with ThreadPoolExecutor(max_workers=len(daemons)) as pool:
        list(pool.map(lambda daemon: daemon.start(), daemons.values()))
    hosts = {
        "expiring": daemons["expiring"].host_settings("expiring"),
        "healthy": daemons["good"].host_settings("healthy"),
        "expired-client": daemons["good"].host_settings(
            "expired-client", cert=expired_client.cert_path,
            key=expired_client.key_path,
        ),
        "refused": daemons["good"].host_settings(
            "refused", cert=foreign_client.cert_path, key=foreign_client.key_path
        ),
        "wrong-name": daemons["wrong-name"].host_settings("wrong-name"),
    }
    return TlsFleet(daemons, hosts, expiring, expired_client)


def _expiring_tls(directory: Path) -> TlsFiles:
    ca = certs.make_ca(directory, days=20 + MARGIN_DAYS, common_name="expiring test CA")
    server = certs.issue(
        ca, directory, "server", common_name="dockerd", is_server=True, days=90,
        dns_names=("localhost",), ip_addresses=("127.0.0.1",),
    )
    client = certs.issue(
        ca, directory, "client", common_name="graphbot-expiring", is_server=False,
        days=5 + MARGIN_DAYS,
    )
    return TlsFiles(directory, ca, server, client)


def _settings(
    hosts: list[HostSettings], data_dir: Path, chat_server: MattermostServer,
    **certificates: Any,
) -> Settings:
    return Settings(
        organization="Test collective",
        hosts=hosts,
        output_dir=data_dir / "output",
        data_dir=data_dir,
        mattermost=MattermostSettings(
            url=chat_server.url, token=chat_server.bot.token, team="collective",
            channel=CHANNEL,
        ),
        schedule=ScheduleSettings(
            daily_post=NEVER, certificate_check=NEVER, misfire_grace_hours=0
        ),
        certificates=CertificateSettings(**certificates),
    )


def running(settings: Settings) -> AbstractContextManager[Service]:
    """A started Service, once it listens and its first refresh is recorded."""
    names = {host.name for host in settings.hosts}
    return running_service(
        settings, lambda bot: names <= _attempted(settings.data_dir),
        "the first refresh",
    )


def _attempted(data_dir: Path) -> set[str]:
    records = load_state(data_dir).hosts
    return {
        name for name, record in records.items()
        if record.last_success_at or record.last_error_at
    }


def _channel_posts(server: MattermostServer) -> list[str]:
    """The bot's own posts in the channel (not thread replies), oldest first."""
    return [
        post["message"]
        for post in server.posts_in(CHANNEL)
        if post["user_id"] == server.bot.id and not post.get("root_id")
    ]


def _reply_to(server: MattermostServer, text: str) -> str:
    """Ask the bot in the channel, as alice, and return its reply in the thread."""
    asked = server.user_posts(text, CHANNEL, "alice")

    def replies() -> list[dict[str, Any]]:
        return [
            post for post in server.posts_in(CHANNEL)
            if post["user_id"] == server.bot.id and post.get("root_id") == asked["id"]
        ]

    wait_until(lambda: bool(replies()), f"the answer to {text!r}")
    return replies()[0]["message"]


def _rows_by_host(message: str) -> dict[str, list[str]]:
    """Markdown table rows of a message, by the host in their first cell."""
    rows: dict[str, list[str]] = {}
    for line in message.splitlines():
        if line.startswith("| ") and not line.startswith(("| Host ", "|---")):
            rows.setdefault(line.split(" | ")[0].removeprefix("| "), []).append(line)
    return rows


def _day(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    return f"{utc.day} {utc:%B %Y}"


def _only(posts: list[str], needle: str) -> str:
    found = [post for post in posts if needle in post]
    assert len(found) == 1, f"{len(found)} posts name {needle}: {posts}"
    return found[0]


# Certificate warnings


def test_expiring_certificates_are_warned_with_subject_expiry_and_what_to_do(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """The 5-day client certificate, the 20-day CA and the expired one are posted."""
    settings = _settings(tls_fleet.host_list(), tmp_path, chat_server)
    client, ca = tls_fleet.expiring.client, tls_fleet.expiring.ca

    with running(settings) as bot:
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
    posts = _channel_posts(chat_server)

    assert len(posts) == 3, posts
    warned = _only(posts, "`graphbot-expiring`")
    assert warned.startswith(
        '**Certificate expires in 5 days:** the client certificate of host "expiring"'
    )
    assert f"expires on {_day(client.certificate.not_valid_after_utc)}" in warned
    assert "Renew it and replace the file that `cert`" in warned
    assert f"`{client.cert_path}`" in warned
    ca_warned = _only(posts, "`expiring test CA`")
    assert ca_warned.startswith(
        '**Certificate expires in 20 days:** the CA certificate of host "expiring"'
    )
    assert f"expires on {_day(ca.certificate.not_valid_after_utc)}" in ca_warned
    assert "Renew the CA, reissue the certificates it signed" in ca_warned
    assert '`ca_cert` of host "expiring"' in ca_warned
    assert f"`{ca.cert_path}`" in ca_warned
    expired = _only(posts, "`graphbot-expired`")
    assert expired.startswith(
        '**Certificate expired:** the client certificate of host "expired-client"'
    )
    expired_on = tls_fleet.expired_client.certificate.not_valid_after_utc
    assert f"expired on {_day(expired_on)}" in expired
    assert "cannot reach expired-client until it is renewed" in expired


def test_each_warning_is_recorded_for_the_smallest_threshold_crossed(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """5 days left is the 7-day warning, 20 days the 30-day one; expired is its own."""
    settings = _settings(tls_fleet.host_list("expiring", "expired-client"), tmp_path,
                         chat_server)

    with running(settings) as bot:
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)

    sent = load_state(tmp_path).certificate_warnings
    assert sorted((w.host, w.kind, w.threshold_days) for w in sent) == [
        ("expired-client", "client", 0),
        ("expiring", "ca", 30),
        ("expiring", "client", 7),
    ]


def test_warnings_are_not_repeated_by_a_second_check_or_after_a_restart(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    settings = _settings(tls_fleet.host_list(), tmp_path, chat_server)
    with running(settings) as bot:
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
        first = _channel_posts(chat_server)
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
        after_second_check = _channel_posts(chat_server)

    with running(settings) as restarted:
        assert restarted.scheduler.run_now(CERTIFICATE_CHECK)
    after_restart = _channel_posts(chat_server)

    assert len(first) == 3
    assert after_second_check == first
    assert after_restart == first


def test_certificate_inside_a_threshold_is_announced_soon_after_the_first_start(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """No scheduled check has run yet: the bot does not wait for it to warn."""
    settings = _settings(tls_fleet.host_list("expiring"), tmp_path, chat_server)

    with running(settings):
        wait_until(
            lambda: len(_channel_posts(chat_server)) >= 2, "the warnings at start"
        )
        answer = _reply_to(chat_server, "@graphbot help")
    posts = _channel_posts(chat_server)

    assert len(posts) == 2, posts
    assert _only(posts, "`graphbot-expiring`").startswith(
        '**Certificate expires in 5 days:** the client certificate of host "expiring"'
    )
    assert _only(posts, "`expiring test CA`").startswith(
        '**Certificate expires in 20 days:** the CA certificate of host "expiring"'
    )
    assert "`where <name>`" in answer


def test_check_caught_up_at_start_announces_each_warning_once(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """The scheduler catches up a missed check at start; nothing is posted twice."""
    now = datetime.now(timezone.utc)
    missed = now - timedelta(minutes=10)
    settings = _settings(tls_fleet.host_list("expiring"), tmp_path, chat_server)
    settings = settings.model_copy(update={"schedule": ScheduleSettings(
        daily_post=NEVER, certificate_check=f"{missed.minute} {missed.hour} * * *",
        timezone="UTC", misfire_grace_hours=1,
    )})
    with updating_state(tmp_path) as state:
        state.record_job_posted(CERTIFICATE_CHECK, now - timedelta(days=1))

    with running(settings):
        wait_until(
            lambda: (load_state(tmp_path).last_posted_at(CERTIFICATE_CHECK) or now)
            > now,
            "the caught-up check",
        )
        wait_until(lambda: len(_channel_posts(chat_server)) >= 2, "the warnings")
    posts = _channel_posts(chat_server)

    assert len(posts) == 2, posts
    _only(posts, "`graphbot-expiring`")
    _only(posts, "`expiring test CA`")


# TLS failures in the daily post and in status


def test_daily_post_names_each_certificate_failure_as_such(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """Expired client, refused handshake and wrong name each say what happened."""
    settings = _settings(tls_fleet.host_list(), tmp_path, chat_server)

    with running(settings) as bot:
        assert bot.scheduler.run_now(DAILY_POST)
    post = _only(_channel_posts(chat_server), "Test collective")
    rows = {host: found[0] for host, found in _rows_by_host(post).items()}

    assert "2 of 5 hosts collected" in post
    assert "| collected" in rows["expiring"] and "| collected" in rows["healthy"]
    _assert_tls_failures_named(rows)


def test_status_answer_names_each_certificate_failure_as_such(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    settings = _settings(tls_fleet.host_list(), tmp_path, chat_server)

    with running(settings):
        reply = _reply_to(chat_server, "@graphbot status")
    rows = {host: found[0] for host, found in _rows_by_host(reply).items()}

    assert reply.startswith("2 of 5 hosts answered on the last attempt.")
    assert rows["expiring"].endswith("| ok |") and rows["healthy"].endswith("| ok |")
    _assert_tls_failures_named(rows)


def _assert_tls_failures_named(rows: dict[str, str]) -> None:
    for host in TLS_FAILURES:
        assert "**failed**" in rows[host], rows[host]
        for generic in GENERIC_CONNECTION_ERRORS:
            assert generic not in rows[host], rows[host]
    assert "client certificate" in rows["expired-client"]
    assert "expired on" in rows["expired-client"]
    assert "refused our client certificate" in rows["refused"]
    assert "server certificate was not issued for the name" in rows["wrong-name"]


# The certificate table, in chat and from the command line


def test_certs_command_answers_with_every_certificate_and_its_days_left(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    settings = _settings(tls_fleet.host_list(), tmp_path, chat_server)

    with running(settings):
        reply = _reply_to(chat_server, "@graphbot certs")
    rows = _rows_by_host(reply)

    assert "| Host | Certificate | Subject | Expires | Days left | Status |" in reply
    _assert_certificate_rows(rows, tls_fleet)


def _assert_certificate_rows(rows: dict[str, list[str]], tls_fleet: TlsFleet) -> None:
    client = tls_fleet.expiring.client.certificate.not_valid_after_utc
    ca = tls_fleet.expiring.ca.certificate.not_valid_after_utc
    assert sorted(rows) == sorted(tls_fleet.hosts)
    assert all(len(found) == 3 for found in rows.values()), rows
    assert (
        f"| expiring | client | graphbot-expiring | {client:%Y-%m-%d} | 5 | warning |"
        in rows["expiring"]
    )
    assert (
        f"| expiring | CA | expiring test CA | {ca:%Y-%m-%d} | 20 | warning |"
        in rows["expiring"]
    )
    assert all(row.endswith("| ok |") for row in rows["healthy"])
    assert any(
        row.startswith("| expired-client | client | graphbot-expired |")
        and row.endswith("| expired |")
        for row in rows["expired-client"]
    )
    assert rows["wrong-name"][2].startswith("| wrong-name | server | dockerd |")
    assert rows["wrong-name"][2].endswith("| wrong-host |")
    assert rows["refused"][2].endswith("| handshake-refused |")


def _settings_file(
    path: Path, hosts: list[HostSettings], warn_days: list[int] | None = None
) -> Path:
    lines = [
        'organization = "Test collective"',
        f"output_dir = {json.dumps(str(path.parent / 'output'))}",
        f"data_dir = {json.dumps(str(path.parent / 'data'))}",
    ]
    if warn_days is not None:
        lines += ["", "[certificates]", f"warn_days = {json.dumps(warn_days)}"]
    for host in hosts:
        lines += ["", "[[hosts]]", f"name = {json.dumps(host.name)}",
                  f"url = {json.dumps(host.url)}"]
        for key in ("ca_cert", "cert", "key"):
            lines.append(f"{key} = {json.dumps(str(getattr(host, key)))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def graphbot_certs(settings_file: Path) -> subprocess.CompletedProcess[str]:
    """Run ``graphbot certs`` as a cron job would, with only the settings file."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "--settings", str(settings_file), "certs"],
        cwd=settings_file.parent, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(settings_file.parent)},
    )


def test_certs_command_line_prints_the_table_and_fails_on_expired_or_refused(
    tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    settings_file = _settings_file(tmp_path / "settings.toml", tls_fleet.host_list())

    finished = graphbot_certs(settings_file)

    assert finished.returncode == 1, finished.stderr
    assert finished.stdout.startswith("Certificates as of ")
    _assert_certificate_rows(_rows_by_host(finished.stdout), tls_fleet)


@pytest.mark.parametrize(
    ("hosts", "warn_days", "exit_status"),
    [
        (("healthy",), None, 0),
        (("expiring",), None, 0),  # 5 days left: warned, but not inside 1 day
        (("expiring",), [30, 7], 1),  # 5 days left is inside the smallest, 7
    ],
)
def test_certs_command_line_exits_nonzero_only_inside_the_smallest_threshold(
    tls_fleet: TlsFleet, tmp_path: Path, hosts: tuple[str, ...],
    warn_days: list[int] | None, exit_status: int,
) -> None:
    settings_file = _settings_file(
        tmp_path / "settings.toml", tls_fleet.host_list(*hosts), warn_days
    )

    finished = graphbot_certs(settings_file)

    assert finished.returncode == exit_status, finished.stdout + finished.stderr
    rows = _rows_by_host(finished.stdout)
    assert sorted(rows) == sorted(hosts) and len(rows[hosts[0]]) == 3


# Stale hosts


@pytest.fixture
def vanished_socket() -> Iterator[Path]:
    """Where a host's socket should be; nothing is there until a test links one."""
    # Short: unix socket paths are limited to 107 bytes.
    directory = Path(tempfile.mkdtemp(prefix="gb-stale-", dir="/tmp"))
    yield directory / "docker.sock"
    shutil.rmtree(directory, ignore_errors=True)


def test_stale_host_is_announced_once_and_its_recovery_once(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path,
    vanished_socket: Path,
) -> None:
    """Last collected two days ago, threshold one hour: stale until it answers.

    The check collects before judging, so the recovery is announced at the
    first check after the host answers again.
    """
    attic = HostSettings(name="attic", url=f"unix://{vanished_socket}")
    settings = _settings([attic], tmp_path, chat_server, stale_after_hours=1)
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2, minutes=5)
    with updating_state(tmp_path) as state:
        state.record_success("attic", two_days_ago)

    with running(settings) as bot:
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
        while_stale = _channel_posts(chat_server)
        vanished_socket.symlink_to(tls_fleet.daemons["good"].socket_path)
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)
    posts = _channel_posts(chat_server)

    assert len(while_stale) == 1, while_stale
    stale = while_stale[0]
    assert stale.startswith('**Host "attic" is stale:** it was last collected 2 days')
    assert f"on {_day(two_days_ago)}" in stale
    assert f"The last error: there is no Docker socket at {vanished_socket}" in stale
    assert len(posts) == 2, posts
    assert posts[1].startswith('**Host "attic" is back:** it was collected again on')


def test_host_removed_from_settings_is_never_announced_stale(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """The state still remembers a retired host; the channel does not hear of it."""
    settings = _settings(tls_fleet.host_list("healthy"), tmp_path, chat_server)
    with updating_state(tmp_path) as state:
        state.record_success("retired", datetime.now(timezone.utc) - timedelta(days=30))

    with running(settings) as bot:
        assert bot.scheduler.run_now(CERTIFICATE_CHECK)

    assert _channel_posts(chat_server) == []


def test_hosts_are_not_announced_stale_when_the_bot_itself_was_down(
    chat_server: MattermostServer, tls_fleet: TlsFleet, tmp_path: Path
) -> None:
    """Back after three days away, the check runs before any refresh: no false alarm.

    That is what happens when the missed daily check is caught up at start.
    """
    settings = _settings(tls_fleet.host_list("healthy"), tmp_path, chat_server)
    with updating_state(tmp_path) as state:
        state.record_success("healthy", datetime.now(timezone.utc) - timedelta(days=3))
    bot = Service(settings, ChatClient(settings.mattermost))
    bot.chat.connect()

    try:
        bot.certificate_check()
    finally:
        bot.chat.close()

    assert _channel_posts(chat_server) == []

"""Certificate checks against real dockerd daemons serving mutual TLS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.alerts import certificate_warnings, record_sent
from bot.certificates import (
    CertificateStatus,
    certs_exit_status,
    check_certificates,
    worst_by_host,
)
from bot.settings import HostSettings
from bot.state import load_state, save_state
from renderers.certificates import certificate_table
from tests import certs
from tests.dockerd import Daemon, TlsFiles, free_tcp_port, make_tls_files

THRESHOLDS = [30, 14, 7, 3, 1]


def _start(name: str, tls: TlsFiles, request: pytest.FixtureRequest) -> Daemon:
    daemon = Daemon(name, tls=tls)
    request.addfinalizer(daemon.stop)
    return daemon.start()


@pytest.fixture(scope="module")
def fleet_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA expiring in 20 days and a client certificate expiring in 5."""
    return make_tls_files(
        tmp_path_factory.mktemp("good-tls"), client_days=5, ca_days=20, server_days=90
    )


@pytest.fixture(scope="module")
def good_daemon(fleet_tls: TlsFiles, request: pytest.FixtureRequest) -> Daemon:
    return _start("certs-good", fleet_tls, request)


@pytest.fixture(scope="module")
def wrong_host_daemon(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Daemon:
    """Its server certificate names elsewhere.example only, not 127.0.0.1."""
    tls = make_tls_files(
        tmp_path_factory.mktemp("wrong-host-tls"),
        server_names=("elsewhere.example",), server_ips=(),
    )
    return _start("certs-wrong", tls, request)


@pytest.fixture(scope="module")
def expired_server_daemon(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Daemon:
    tls = make_tls_files(tmp_path_factory.mktemp("expired-tls"), server_days=-0.5)
    return _start("certs-expired", tls, request)


@pytest.fixture
def expired_client(fleet_tls: TlsFiles, tmp_path: Path) -> certs.Issued:
    return certs.issue(
        fleet_tls.ca, tmp_path, "client-expired", common_name="graphbot old",
        is_server=False, days=-0.5,
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def _by_kind(
    statuses: list[CertificateStatus], host: str
) -> dict[str, CertificateStatus]:
    return {s.kind: s for s in statuses if s.host == host}


# What is read from a healthy host


def test_client_ca_and_server_certificate_are_read_with_days_left(
    good_daemon: Daemon,
) -> None:
    statuses = check_certificates([good_daemon.host_settings("media")])

    found = _by_kind(statuses, "media")
    assert [s.kind for s in statuses] == ["client", "ca", "server"]
    assert (found["client"].subject, found["client"].status) == ("graphbot", "warning")
    assert found["client"].days_left in (4, 5)
    assert found["client"].path == good_daemon.tls.client.cert_path
    assert (found["ca"].subject, found["ca"].status) == ("graphbot test CA", "warning")
    assert found["ca"].days_left in (19, 20)
    assert (found["server"].subject, found["server"].status) == ("dockerd", "ok")
    assert found["server"].days_left in (89, 90)
    assert found["server"].problem == ""


def test_server_fingerprint_is_the_certificate_the_daemon_serves(
    good_daemon: Daemon,
) -> None:
    from cryptography.hazmat.primitives import hashes

    statuses = check_certificates([good_daemon.host_settings("media")])

    served = good_daemon.tls.server.certificate.fingerprint(hashes.SHA256()).hex()
    assert _by_kind(statuses, "media")["server"].fingerprint == served


# Problems, each reported as itself


def test_expired_client_certificate_is_expired_and_refused_by_the_daemon(
    good_daemon: Daemon, expired_client: certs.Issued,
) -> None:
    host = good_daemon.host_settings(
        "media", cert=expired_client.cert_path, key=expired_client.key_path
    )

    found = _by_kind(check_certificates([host]), "media")

    assert found["client"].status == "expired"
    assert "renew it" in found["client"].problem
    assert found["server"].status == "handshake-refused"
    assert found["server"].subject == "dockerd"  # still fetched before the refusal
    assert 'The daemon of host "media" refused the TLS handshake' in (
        found["server"].problem
    )


def test_server_certificate_for_another_name_is_wrong_host(
    wrong_host_daemon: Daemon,
) -> None:
    statuses = check_certificates([wrong_host_daemon.host_settings("web")])

    found = _by_kind(statuses, "web")

    assert found["server"].status == "wrong-host"
    assert "is not made out for 127.0.0.1" in found["server"].problem
    assert found["client"].status == "ok"


def test_expired_server_certificate_is_expired(expired_server_daemon: Daemon) -> None:
    found = _by_kind(
        check_certificates([expired_server_daemon.host_settings("mail")]), "mail"
    )

    assert found["server"].status == "expired"
    assert found["server"].days_left is not None and found["server"].days_left < 0
    assert "--tlscert" in found["server"].problem


def test_server_certificate_from_another_ca_is_untrusted(
    good_daemon: Daemon, tmp_path: Path,
) -> None:
    other_ca = certs.make_ca(tmp_path, common_name="someone else's CA")
    host = good_daemon.host_settings("media", ca_cert=other_ca.cert_path)

    found = _by_kind(check_certificates([host]), "media")

    assert found["server"].status == "untrusted"
    assert "not signed by the CA in `ca_cert`" in found["server"].problem
    assert found["ca"].subject == "someone else's CA"


def test_closed_port_is_unreachable_and_other_hosts_are_still_checked(
    good_daemon: Daemon,
) -> None:
    closed = good_daemon.host_settings(
        "gone", url=f"tcp://127.0.0.1:{free_tcp_port()}"
    )

    statuses = check_certificates([closed, good_daemon.host_settings("media")])

    gone = _by_kind(statuses, "gone")
    assert gone["server"].status == "unreachable"
    assert "refused the connection" in gone["server"].problem
    assert gone["client"].status == "warning"  # files are read all the same
    assert _by_kind(statuses, "media")["server"].status == "ok"


def test_silent_host_times_out_as_unreachable_and_others_are_checked(
    good_daemon: Daemon, silent_port: int,
) -> None:
    silent = good_daemon.host_settings(
        "silent", url=f"tcp://127.0.0.1:{silent_port}", timeout_seconds=0.5
    )

    statuses = check_certificates([silent, good_daemon.host_settings("media")])

    assert _by_kind(statuses, "silent")["server"].status == "unreachable"
    assert "did not answer within 0.5 seconds" in (
        _by_kind(statuses, "silent")["server"].problem
    )
    assert _by_kind(statuses, "media")["server"].status == "ok"


def test_file_without_a_certificate_is_unreadable(
    good_daemon: Daemon, tmp_path: Path,
) -> None:
    not_a_cert = tmp_path / "cert.pem"
    not_a_cert.write_text("this is not PEM\n")
    host = good_daemon.host_settings("media", cert=not_a_cert)

    found = _by_kind(check_certificates([host]), "media")

    assert found["client"].status == "unreadable"
    assert "point `cert` at the certificate" in found["client"].problem
    assert found["server"].status == "unreadable"  # no client pair to present
    assert found["ca"].status == "warning"


def test_client_certificate_valid_only_from_tomorrow_is_not_yet_valid(
    good_daemon: Daemon, tmp_path: Path,
) -> None:
    early = certs.issue(
        good_daemon.tls.ca, tmp_path, "client-early", common_name="graphbot early",
        is_server=False, days=30, not_before_days=-1,
    )
    host = good_daemon.host_settings("media", cert=early.cert_path, key=early.key_path)

    found = _by_kind(check_certificates([host]), "media")

    assert found["client"].status == "not-yet-valid"
    assert "is valid only from" in found["client"].problem


def test_most_pressing_certificate_is_picked_per_host(
    good_daemon: Daemon, expired_client: certs.Issued,
) -> None:
    hosts = [
        good_daemon.host_settings("media"),
        good_daemon.host_settings(
            "mail", cert=expired_client.cert_path, key=expired_client.key_path
        ),
    ]

    worst = worst_by_host(check_certificates(hosts))

    assert (worst["media"].kind, worst["media"].status) == ("client", "warning")
    assert (worst["mail"].kind, worst["mail"].status) == ("client", "expired")


def test_hosts_without_tls_are_not_checked(good_daemon: Daemon) -> None:
    plain = HostSettings(name="local", url=good_daemon.unix_url)

    assert check_certificates([plain]) == []


# The table and the exit status of `graphbot certs`


def test_table_lists_every_certificate_with_days_left_and_status(
    good_daemon: Daemon, wrong_host_daemon: Daemon,
) -> None:
    now = datetime.now(timezone.utc)
    statuses = check_certificates(
        [good_daemon.host_settings("media"), wrong_host_daemon.host_settings("web")],
        now=now,
    )

    table = certificate_table(statuses, now)

    lines = table.splitlines()
    assert lines[2] == "| Host | Certificate | Subject | Expires | Days left | Status |"
    rows = [line.split(" | ") for line in lines[4:10]]
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [
        ("| media", "client", "graphbot", "warning |"),
        ("| media", "CA", "graphbot test CA", "warning |"),
        ("| media", "server", "dockerd", "ok |"),
        ("| web", "client", "graphbot", "ok |"),
        ("| web", "CA", "graphbot test CA", "ok |"),
        ("| web", "server", "dockerd", "wrong-host |"),
    ]
    client_expiry = good_daemon.tls.client.certificate.not_valid_after_utc
    assert rows[0][3] == f"{client_expiry:%Y-%m-%d}"
    assert rows[0][4] == str(statuses[0].days_left)
    assert lines[-1].startswith('- The server certificate of host "web" is not made')


def test_table_escapes_pipes_in_subjects() -> None:
    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    status = CertificateStatus(
        host="media", kind="ca", status="ok", subject="evil | CA\nnext",
        not_after=now + timedelta(days=90), days_left=90,
    )

    table = certificate_table([status], now)

    assert table.splitlines()[-1] == (
        "| media | CA | evil \\| CA next | 2027-03-04 | 90 | ok |"
    )


def test_table_gives_time_and_expiry_in_the_fleet_time_zone() -> None:
    """With Europe/Berlin, the stamp says CET and a late-evening expiry is the
    next day there."""
    now = datetime(2026, 12, 4, 16, 39, tzinfo=timezone.utc)
    status = CertificateStatus(
        host="media", kind="client", status="warning", subject="graphbot",
        not_after=datetime(2026, 12, 9, 23, 30, tzinfo=timezone.utc), days_left=5,
    )

    table = certificate_table([status], now, ZoneInfo("Europe/Berlin"))

    assert table.splitlines()[0] == "Certificates as of 2026-12-04 17:39 CET:"
    assert table.splitlines()[-1] == (
        "| media | client | graphbot | 2026-12-10 | 5 | warning |"
    )


def test_table_is_in_utc_unless_told_otherwise() -> None:
    now = datetime(2026, 12, 4, 16, 39, tzinfo=timezone.utc)

    assert certificate_table([], now).endswith("(2026-12-04 16:39 UTC).")


def test_table_says_so_when_no_host_uses_tls() -> None:
    table = certificate_table([], datetime(2026, 12, 4, tzinfo=timezone.utc))

    assert table.startswith("No host uses TLS")


def test_exit_status_is_zero_when_every_certificate_is_far_from_expiry(
    wrong_host_daemon: Daemon,
) -> None:
    statuses = check_certificates([wrong_host_daemon.host_settings("web")])
    usable = [s for s in statuses if s.kind != "server"]

    assert certs_exit_status(usable, smallest_threshold=1) == 0
    assert certs_exit_status(statuses, smallest_threshold=1) == 1  # wrong host


def test_exit_status_is_nonzero_inside_the_smallest_threshold(
    good_daemon: Daemon,
) -> None:
    statuses = check_certificates([good_daemon.host_settings("media")])

    assert certs_exit_status(statuses, smallest_threshold=1) == 0  # 5 days left
    assert certs_exit_status(statuses, smallest_threshold=7) == 1


def test_exit_status_is_nonzero_for_expired_refused_or_unreachable(
    good_daemon: Daemon, expired_client: certs.Issued,
) -> None:
    expired = good_daemon.host_settings(
        "media", cert=expired_client.cert_path, key=expired_client.key_path
    )
    closed = good_daemon.host_settings("gone", url=f"tcp://127.0.0.1:{free_tcp_port()}")

    assert certs_exit_status(check_certificates([expired]), smallest_threshold=1) == 1
    assert certs_exit_status(check_certificates([closed]), smallest_threshold=1) == 1


# From the real check to the warnings


def test_real_check_warns_each_threshold_once_across_a_restart(
    good_daemon: Daemon, tmp_path: Path,
) -> None:
    """The 5-day client certificate and the 20-day CA are warned once, then never."""
    hosts = [good_daemon.host_settings("media")]
    state = load_state(tmp_path)

    first = certificate_warnings(check_certificates(hosts), THRESHOLDS, state)
    record_sent(state, first, datetime.now(timezone.utc))
    save_state(state, tmp_path)
    after_restart = certificate_warnings(
        check_certificates(hosts), THRESHOLDS, load_state(tmp_path)
    )

    assert sorted((a.certificate_kind, a.threshold_days) for a in first) == [
        ("ca", 30), ("client", 7)
    ]
    assert after_restart == []

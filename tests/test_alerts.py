"""Which certificate warnings and stale-host alerts are posted, and how often."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.alerts import (
    EXPIRED,
    certificate_warnings,
    record_sent,
    stale_hosts,
)
from bot.certificates import CertificateStatus
from bot.state import State, load_state, save_state, state_path

NOW = datetime(2026, 12, 4, 7, 30, tzinfo=timezone.utc)
THRESHOLDS = [30, 14, 7, 3, 1]
STALE_AFTER = timedelta(hours=48)
BERLIN = ZoneInfo("Europe/Berlin")


def _status(
    days_left: float, *, host: str = "media", kind: str = "client",
    fingerprint: str = "aa" * 32, subject: str = "graphbot media",
    path: Path | None = Path("/etc/graphbot/media/cert.pem"),
) -> CertificateStatus:
    not_after = NOW + timedelta(days=days_left)
    whole_days = (not_after - NOW).days
    return CertificateStatus(
        host=host,
        kind=kind,  # type: ignore[arg-type]
        status="expired" if days_left <= 0 else "warning" if days_left < 30 else "ok",
        subject=subject,
        not_after=not_after,
        days_left=whole_days,
        fingerprint=fingerprint,
        path=path if kind != "server" else None,
    )


def _post(statuses: list[CertificateStatus], state: State) -> list[str]:
    """Decide, 'post' and record, as the scheduled check does."""
    alerts = certificate_warnings(statuses, THRESHOLDS, state)
    record_sent(state, alerts, NOW)
    return [alert.text for alert in alerts]


# Certificate warnings


def test_certificate_five_days_from_expiry_is_warned_for_seven_days() -> None:
    alerts = certificate_warnings([_status(5)], THRESHOLDS, State())

    assert [(a.host, a.certificate_kind, a.threshold_days) for a in alerts] == [
        ("media", "client", 7)
    ]


def test_warning_names_host_certificate_subject_expiry_days_and_settings_key() -> None:
    (alert,) = certificate_warnings([_status(5.2)], THRESHOLDS, State())

    assert alert.text == (
        '**Certificate expires in 5 days:** the client certificate of host "media" '
        "(subject `graphbot media`) expires on 9 December 2026 at 12:18 UTC, in 5 "
        "days. Renew it and replace the file that `cert` of host \"media\" names in "
        "the settings (now `/etc/graphbot/media/cert.pem`)."
    )


def test_ca_and_server_warnings_say_what_to_renew_where() -> None:
    statuses = [
        _status(20, kind="ca", fingerprint="ca" * 32, subject="collective CA",
                path=Path("/etc/graphbot/ca.pem")),
        _status(2, kind="server", fingerprint="5e" * 32, subject="media.example"),
    ]

    server, ca = certificate_warnings(statuses, THRESHOLDS, State())

    assert "CA certificate" in ca.text and "`ca_cert`" in ca.text
    assert "reissue the certificates it signed" in ca.text
    assert ca.threshold_days == 30
    assert "server certificate" in server.text and "--tlscert" in server.text
    assert "restart the daemon" in server.text
    assert server.threshold_days == 3


def test_each_threshold_is_announced_once() -> None:
    state = State()

    first = _post([_status(5)], state)
    again = _post([_status(4.5)], state)

    assert len(first) == 1
    assert again == []


def test_next_smaller_threshold_is_announced_when_crossed() -> None:
    state = State()
    _post([_status(10)], state)

    crossings = [
        [a.threshold_days
         for a in certificate_warnings([_status(days)], THRESHOLDS, state)]
        for days in (9, 6)
    ]
    record_sent(state, certificate_warnings([_status(6)], THRESHOLDS, state), NOW)

    assert crossings == [[], [7]]
    assert certificate_warnings([_status(6)], THRESHOLDS, state) == []
    assert [a.threshold_days for a in
            certificate_warnings([_status(0.5)], THRESHOLDS, state)] == [1]


def test_certificate_outside_every_threshold_is_not_warned() -> None:
    assert certificate_warnings([_status(45)], THRESHOLDS, State()) == []


def test_expired_certificate_is_announced_once_as_expired() -> None:
    state = State()

    first = certificate_warnings([_status(-2)], THRESHOLDS, state)
    record_sent(state, first, NOW)
    again = certificate_warnings([_status(-3)], THRESHOLDS, state)

    assert [a.threshold_days for a in first] == [EXPIRED]
    assert first[0].text.startswith(
        '**Certificate expired:** the client certificate of host "media"'
    )
    assert "so graphbot cannot reach media until it is renewed" in first[0].text
    assert again == []


def test_renewed_certificate_is_warned_afresh() -> None:
    """A new certificate has a new fingerprint, so its thresholds start over."""
    state = State()
    _post([_status(5, fingerprint="01" * 32)], state)
    renewed = _status(5, fingerprint="02" * 32)

    alerts = certificate_warnings([renewed], THRESHOLDS, state)

    assert [a.fingerprint for a in alerts] == ["02" * 32]


def test_restart_does_not_repeat_a_warning(tmp_path: Path) -> None:
    """What was posted before a restart is remembered from the state file."""
    state = load_state(tmp_path)
    _post([_status(5)], state)
    save_state(state, tmp_path)

    after_restart = load_state(tmp_path)

    assert certificate_warnings([_status(5)], THRESHOLDS, after_restart) == []


def test_corrupt_state_repeats_a_warning_at_most_once(tmp_path: Path) -> None:
    state = State()
    _post([_status(5)], state)
    save_state(state, tmp_path)
    state_path(tmp_path).write_text('{"certificate_warnings": [{"fingerp')

    recovered = load_state(tmp_path)
    repeated = _post([_status(5)], recovered)
    save_state(recovered, tmp_path)
    after_next_restart = _post([_status(5)], load_state(tmp_path))

    assert len(repeated) == 1
    assert after_next_restart == []


def test_certificate_shared_by_hosts_is_announced_once_naming_them_all() -> None:
    statuses = [
        _status(12, host=name, kind="ca", fingerprint="ca" * 32,
                path=Path("/etc/graphbot/ca.pem"))
        for name in ("media", "mail", "web")
    ]

    alerts = certificate_warnings(statuses, THRESHOLDS, State())

    assert len(alerts) == 1
    assert alerts[0].hosts == ("media", "mail", "web")
    assert 'the CA certificate of hosts "media", "mail" and "web"' in alerts[0].text
    assert alerts[0].text.count("/etc/graphbot/ca.pem") == 1


def test_certificate_that_could_not_be_read_is_not_warned_about_expiry() -> None:
    unreachable = CertificateStatus(
        host="media", kind="server", status="unreachable",
        problem='Host "media" refused the connection.',
    )

    assert certificate_warnings([unreachable], THRESHOLDS, State()) == []


def test_custom_thresholds_are_used() -> None:
    alerts = certificate_warnings([_status(50)], [60, 2], State())

    assert [a.threshold_days for a in alerts] == [60]


# Stale hosts


def test_host_not_collected_for_too_long_is_stale_with_its_last_error() -> None:
    last_success = {"media": NOW - timedelta(days=3), "mail": NOW - timedelta(hours=2)}
    last_error = {"media": 'Host "media" was not collected: it refused the connection.'}

    alerts = stale_hosts(last_success, last_error, NOW, STALE_AFTER, State())

    assert [(a.kind, a.host) for a in alerts] == [("stale", "media")]
    assert alerts[0].text == (
        '**Host "media" is stale:** it was last collected 3 days ago, on 1 December '
        "2026 at 07:30 UTC, so its diagram is out of date. The last error: Host "
        '"media" was not collected: it refused the connection. Check that media '
        "and its Docker daemon are up and reachable."
    )


def test_stale_host_is_announced_once_per_day() -> None:
    state = State()
    last_success = {"media": NOW - timedelta(days=3)}

    today = stale_hosts(last_success, {}, NOW, STALE_AFTER, state)
    record_sent(state, today, NOW)
    later_today = stale_hosts(last_success, {}, NOW + timedelta(hours=6), STALE_AFTER,
                              state)
    tomorrow = stale_hosts(last_success, {}, NOW + timedelta(days=1), STALE_AFTER,
                           state)

    assert len(today) == 1
    assert later_today == []
    assert [a.kind for a in tomorrow] == ["stale"]


def test_recovery_is_announced_once() -> None:
    state = State()
    record_sent(
        state, stale_hosts({"media": NOW - timedelta(days=3)}, {}, NOW, STALE_AFTER,
                           state), NOW,
    )
    back = {"media": NOW + timedelta(hours=1)}

    recovered = stale_hosts(back, {}, NOW + timedelta(hours=1), STALE_AFTER, state)
    record_sent(state, recovered, NOW + timedelta(hours=1))
    afterwards = stale_hosts(back, {}, NOW + timedelta(hours=2), STALE_AFTER, state)

    assert [(a.kind, a.host) for a in recovered] == [("recovered", "media")]
    assert recovered[0].text.startswith('**Host "media" is back:** it was collected')
    assert afterwards == []


def test_host_that_was_never_stale_gets_no_recovery_message() -> None:
    alerts = stale_hosts({"media": NOW}, {}, NOW, STALE_AFTER, State())

    assert alerts == []


def test_host_never_collected_goes_stale_counting_from_the_first_attempt() -> None:
    state = State()
    state.record_failure("mail", "it refused the connection", NOW - timedelta(days=2,
                                                                             hours=1))

    alerts = stale_hosts(state.last_success_by_host(), state.last_error_by_host(),
                         NOW, STALE_AFTER, state)

    assert [a.host for a in alerts] == ["mail"]
    assert "has not been collected once since graphbot first tried" in alerts[0].text
    assert "The last error: it refused the connection." in alerts[0].text


def test_new_host_never_collected_is_not_stale_yet() -> None:
    state = State()
    state.record_failure("mail", "refused", NOW - timedelta(hours=3))

    alerts = stale_hosts(state.last_success_by_host(), state.last_error_by_host(),
                         NOW, STALE_AFTER, state)

    assert alerts == []


def test_stale_announcement_is_not_repeated_after_restart(tmp_path: Path) -> None:
    state = State()
    last_success = {"media": NOW - timedelta(days=3)}
    record_sent(state, stale_hosts(last_success, {}, NOW, STALE_AFTER, state), NOW)
    save_state(state, tmp_path)

    alerts = stale_hosts(last_success, {}, NOW + timedelta(hours=1), STALE_AFTER,
                         load_state(tmp_path))

    assert alerts == []


# Time zone


def test_certificate_warning_gives_the_expiry_in_the_fleet_time_zone() -> None:
    (alert,) = certificate_warnings([_status(5.2)], THRESHOLDS, State(), BERLIN)

    assert "expires on 9 December 2026 at 13:18 CET, in 5 days." in alert.text


def test_expiry_late_in_the_evening_is_the_next_day_in_the_fleet_time_zone() -> None:
    status = _status(5).model_copy(
        update={"not_after": datetime(2026, 12, 9, 23, 30, tzinfo=timezone.utc)}
    )

    (alert,) = certificate_warnings([status], THRESHOLDS, State(), BERLIN)

    assert "expires on 10 December 2026 at 00:30 CET" in alert.text


def test_stale_and_recovered_hosts_are_worded_in_the_fleet_time_zone() -> None:
    state = State()
    last_success = {"media": NOW - timedelta(days=3)}
    stale = stale_hosts(last_success, {}, NOW, STALE_AFTER, state, BERLIN)
    record_sent(state, stale, NOW)
    back = {"media": NOW + timedelta(hours=1)}

    recovered = stale_hosts(back, {}, NOW + timedelta(hours=1), STALE_AFTER, state,
                            BERLIN)

    assert "last collected 3 days ago, on 1 December 2026 at 08:30 CET" in (
        stale[0].text
    )
    assert "collected again on 4 December 2026 at 09:30 CET" in recovered[0].text

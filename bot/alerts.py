"""Which certificate warnings and stale-host alerts to post; pure, no I/O.

The functions here only decide and word the alerts. The caller posts them and
then calls ``record_sent`` and saves the state, so a crash between posting
and saving repeats an alert at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.certificates import SETTINGS_KEY_BY_KIND, CertificateStatus
from bot.state import State

EXPIRED = 0  # the threshold recorded for "announced as expired"
AlertKind = Literal["certificate", "stale", "recovered"]
_LABEL_BY_KIND = {
    "client": "client certificate",
    "ca": "CA certificate",
    "server": "server certificate",
}


class Alert(BaseModel):
    """One message for the channel, with what to remember once it is posted."""

    model_config = ConfigDict(frozen=True)

    kind: AlertKind
    host: str  # the first host it concerns
    hosts: tuple[str, ...] = ()  # every host a shared certificate concerns
    text: str  # Markdown sentences
    certificate_kind: str = ""
    fingerprint: str = ""
    threshold_days: int | None = None  # EXPIRED (0) once expired


def certificate_warnings(
    statuses: Iterable[CertificateStatus],
    thresholds: Iterable[int],
    state: State,
    zone: tzinfo = timezone.utc,
) -> list[Alert]:
    """Warnings for certificates that crossed a threshold not yet announced.

    Only the smallest threshold a certificate has crossed counts, so a
    certificate first seen with 5 days left is announced once, for 7 days,
    and again when it crosses 3. An expired certificate is announced once.
    Expiry times are worded in ``zone``, the fleet's time zone.
    """
    limits = sorted(set(thresholds))
    # One CA (or client certificate) is often shared by several hosts: it is
    # announced once, naming every host that uses it.
    groups: dict[tuple[str, int], list[CertificateStatus]] = {}
    for status in sorted(statuses, key=_days_left_or_max):
        threshold = threshold_crossed(status, limits)
        if threshold is None or not status.fingerprint:
            continue
        if state.has_sent_certificate_warning(status.fingerprint, threshold):
            continue
        groups.setdefault((status.fingerprint, threshold), []).append(status)
    return [
        Alert(
            kind="certificate",
            host=same[0].host,
            hosts=tuple(status.host for status in same),
            text=_certificate_text(same, threshold, zone),
            certificate_kind=same[0].kind,
            fingerprint=fingerprint,
            threshold_days=threshold,
        )
        for (fingerprint, threshold), same in groups.items()
    ]


def threshold_crossed(status: CertificateStatus, thresholds: list[int]) -> int | None:
    """The smallest threshold (in days) this certificate is inside, EXPIRED, or None."""
    if status.days_left is None:
        return None
    if status.status == "expired" or status.days_left < 0:
        return EXPIRED
    # days_left is rounded down, so "fewer than N whole days" is exact.
    inside = [limit for limit in thresholds if status.days_left < limit]
    return min(inside) if inside else None


def stale_hosts(
    last_success_by_host: Mapping[str, datetime | None],
    last_error_by_host: Mapping[str, str],
    now: datetime,
    stale_after: timedelta,
    state: State,
    zone: tzinfo = timezone.utc,
) -> list[Alert]:
    """Stale hosts not yet announced today, and recoveries not yet announced.

    A host never collected counts from the first time graphbot tried it. Times
    are worded in ``zone``, the fleet's time zone.
    """
    alerts = []
    for host in sorted(set(last_success_by_host) | set(last_error_by_host)):
        last_success = last_success_by_host.get(host)
        since = last_success or _first_seen(state, host)
        if since is None:
            continue
        if now - since > stale_after:
            if state.stale_announced_on.get(host) != now.date():
                error = last_error_by_host.get(host, "")
                alerts.append(
                    _stale_alert(host, last_success, since, error, now, zone)
                )
        elif host in state.stale_announced_on and last_success is not None:
            alerts.append(_recovered_alert(host, last_success, zone))
    return alerts


def record_sent(state: State, alerts: Iterable[Alert], now: datetime) -> None:
    """Remember in ``state`` that these alerts were posted at ``now``."""
    for alert in alerts:
        if alert.kind == "certificate" and alert.threshold_days is not None:
            state.record_certificate_warning(
                alert.fingerprint, alert.threshold_days,
                host=alert.host, kind=alert.certificate_kind, at=now,
            )
        elif alert.kind == "stale":
            state.stale_announced_on[alert.host] = now.date()
        elif alert.kind == "recovered":
            state.stale_announced_on.pop(alert.host, None)


# Wording


def _certificate_text(
    same: list[CertificateStatus], threshold: int, zone: tzinfo
) -> str:
    status = same[0]
    label = _LABEL_BY_KIND[status.kind]
    whose = f"the {label} of {_host_names([s.host for s in same])}"
    subject = status.subject.replace("`", "'")
    assert status.not_after is not None  # set whenever days_left is
    expiry = _moment(status.not_after, zone)
    if threshold == EXPIRED:
        reach = " and ".join(dict.fromkeys(s.host for s in same))
        head = f"**Certificate expired:** {whose}"
        when = (
            f"(subject `{subject}`) expired on {expiry}, so graphbot cannot reach "
            f"{reach} until it is renewed."
        )
    else:
        days = _in_days(status.days_left or 0)
        head = f"**Certificate expires {days}:** {whose}"
        when = f"(subject `{subject}`) expires on {expiry}, {days}."
    return f"{head} {when} {_what_to_do(same)}"


def _what_to_do(same: list[CertificateStatus]) -> str:
    status = same[0]
    if status.kind == "server":
        return (
            f"Renew it on {status.host}, point the daemon's `--tlscert` at the new "
            "file and restart the daemon."
        )
    key = SETTINGS_KEY_BY_KIND[status.kind]
    paths = list(dict.fromkeys(str(s.path) for s in same if s.path))
    where = f" (now {', '.join(f'`{p}`' for p in paths)})" if paths else ""
    hosts = _host_names([s.host for s in same])
    if status.kind == "ca":
        return (
            "Renew the CA, reissue the certificates it signed, and replace the file "
            f"that `{key}` of {hosts} names in the settings{where}."
        )
    return (
        f"Renew it and replace the file that `{key}` of {hosts} names in the "
        f"settings{where}."
    )


def _host_names(hosts: list[str]) -> str:
    names = [f'"{host}"' for host in dict.fromkeys(hosts)]
    if len(names) == 1:
        return f"host {names[0]}"
    return "hosts " + ", ".join(names[:-1]) + " and " + names[-1]


def _stale_alert(
    host: str, last_success: datetime | None, since: datetime, error: str,
    now: datetime, zone: tzinfo,
) -> Alert:
    age = _age(now - since)
    if last_success is None:
        seen = f"it has not been collected once since graphbot first tried, {age} ago"
    else:
        seen = f"it was last collected {age} ago, on {_moment(since, zone)}"
    cause = f" The last error: {error.strip()}" if error.strip() else ""
    if cause and not cause.endswith((".", "!", "?")):
        cause += "."
    text = (
        f'**Host "{host}" is stale:** {seen}, so its diagram is out of date.{cause} '
        f"Check that {host} and its Docker daemon are up and reachable."
    )
    return Alert(kind="stale", host=host, text=text)


def _recovered_alert(host: str, last_success: datetime, zone: tzinfo) -> Alert:
    text = (
        f'**Host "{host}" is back:** it was collected again on '
        f"{_moment(last_success, zone)} and is drawn as it is now."
    )
    return Alert(kind="recovered", host=host, text=text)


def _first_seen(state: State, host: str) -> datetime | None:
    record = state.hosts.get(host)
    return record.first_seen_at if record else None


def _days_left_or_max(status: CertificateStatus) -> int:
    return status.days_left if status.days_left is not None else 1 << 30


def _moment(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y} at {local:%H:%M} {local.tzname() or ''}".rstrip()


def _in_days(days_left: int) -> str:
    if days_left < 1:
        return "in less than a day"
    return "in 1 day" if days_left == 1 else f"in {days_left} days"


def _age(elapsed: timedelta) -> str:
    days = elapsed.days
    if days >= 2:
        return f"{days} days"
    hours = int(elapsed.total_seconds() // 3600)
    return "1 hour" if hours == 1 else f"{hours} hours"

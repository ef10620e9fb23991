"""The certificate table shown by ``graphbot certs`` and the chat command ``certs``."""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the shape is used; renderers import no checking code
    from bot.certificates import CertificateStatus

_KIND_LABELS = {"client": "client", "ca": "CA", "server": "server"}
_HEADER = (
    "| Host | Certificate | Subject | Expires | Days left | Status |\n"
    "|---|---|---|---|---|---|"
)


def certificate_table(
    statuses: list[CertificateStatus],
    now: datetime | None = None,
    zone: tzinfo = timezone.utc,
) -> str:
    """A Markdown table of every certificate, then one line per problem.

    Times and expiry dates are given in ``zone``, the fleet's time zone.
    """
    local = (now or datetime.now(timezone.utc)).astimezone(zone)
    stamp = f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()
    if not statuses:
        return (
            f"No host uses TLS, so there are no certificates to check ({stamp})."
        )
    rows = [_row(status, zone) for status in statuses]
    problems = [f"- {status.problem}" for status in statuses if status.problem]
    parts = [f"Certificates as of {stamp}:", "", _HEADER, *rows]
    if problems:
        parts += ["", *problems]
    return "\n".join(parts)


def _row(status: CertificateStatus, zone: tzinfo) -> str:
    expires = (
        f"{status.not_after.astimezone(zone):%Y-%m-%d}" if status.not_after
        else "unknown"
    )
    days_left = str(status.days_left) if status.days_left is not None else "unknown"
    cells = [
        status.host,
        _KIND_LABELS[status.kind],
        status.subject or "unknown",
        expires,
        days_left,
        status.status,
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    # A subject may hold any character; pipes and newlines would break the row.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

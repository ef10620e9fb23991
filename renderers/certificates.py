"""The certificate table shown by ``graphbot certs`` and the chat command ``certs``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only the shape is used; renderers import no checking code
    from bot.certificates import CertificateStatus

_KIND_LABELS = {"client": "client", "ca": "CA", "server": "server"}
_HEADER = (
    "| Host | Certificate | Subject | Expires | Days left | Status |\n"
    "|---|---|---|---|---|---|"
)


def certificate_table(
    statuses: list[CertificateStatus], now: datetime | None = None
) -> str:
    """A Markdown table of every certificate, then one line per problem."""
    now = now or datetime.now(timezone.utc)
    stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if not statuses:
        return (
            f"No host uses TLS, so there are no certificates to check ({stamp})."
        )
    rows = [_row(status) for status in statuses]
    problems = [f"- {status.problem}" for status in statuses if status.problem]
    parts = [f"Certificates as of {stamp}:", "", _HEADER, *rows]
    if problems:
        parts += ["", *problems]
    return "\n".join(parts)


def _row(status: CertificateStatus) -> str:
    expires = f"{status.not_after:%Y-%m-%d}" if status.not_after else "unknown"
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

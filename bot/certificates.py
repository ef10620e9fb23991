"""Client, CA and server certificate of each TLS host -> status and days left.

The only importer of cryptography. The server certificate is fetched by
``bot.tls_handshake``; it is judged here, like the files, against the clock, the
configured CA and the host name in the url.
"""

from __future__ import annotations

import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict

from bot.settings import HostSettings
from bot.tls_handshake import fetch_server_certificate, is_ip_address

log = logging.getLogger(__name__)

CertificateKind = Literal["client", "ca", "server"]
CertificateState = Literal[
    "ok",
    "warning",
    "expired",
    "not-yet-valid",
    "wrong-host",
    "untrusted",
    "handshake-refused",
    "unreachable",
    "unreadable",
]
# The states in which the certificate cannot be used or read at all.
BLOCKING_STATES: frozenset[str] = frozenset(get_args(CertificateState)) - {
    "ok",
    "warning",
}
# From least to most pressing, for picking the one mark to show per host.
_STATE_ORDER: tuple[str, ...] = (
    "ok", "warning", "not-yet-valid", "unreadable", "unreachable", "untrusted",
    "wrong-host", "handshake-refused", "expired",
)
SETTINGS_KEY_BY_KIND: dict[str, str] = {"client": "cert", "ca": "ca_cert"}
_MAX_PARALLEL_HOSTS = 8


class CertificateStatus(BaseModel):
    """One certificate of one TLS host, as checked at one time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    kind: CertificateKind
    status: CertificateState
    subject: str = ""  # the common name, or the whole subject when it has none
    not_after: datetime | None = None
    days_left: int | None = None  # whole days until expiry; negative once expired
    fingerprint: str = ""  # SHA-256 of the DER bytes, lower-case hex
    problem: str = ""  # a sentence saying what is wrong and what to do
    path: Path | None = None  # the configured file, for client and CA

    @property
    def is_blocking(self) -> bool:
        """Tell whether this certificate stops graphbot from reaching its host."""
        return self.status in BLOCKING_STATES


def check_certificates(
    hosts: list[HostSettings],
    *,
    now: datetime | None = None,
    warn_within_days: int = 30,
) -> list[CertificateStatus]:
    """Check the client, CA and server certificate of every TLS host.

    Hosts are checked in parallel, each bounded by its ``timeout_seconds``;
    one host's failure never stops the others. Hosts without TLS are skipped.
    A certificate with fewer than ``warn_within_days`` left is a "warning".
    """
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:  # certificate times are UTC; a naive time is read so
        now = now.replace(tzinfo=timezone.utc)
    tls_hosts = [host for host in hosts if host.has_tls]
    if not tls_hosts:
        return []
    workers = min(_MAX_PARALLEL_HOSTS, len(tls_hosts))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="certs") as pool:
        results = pool.map(
            lambda host: _check_host_safely(host, now, warn_within_days), tls_hosts
        )
        return [status for statuses in results for status in statuses]


def certs_exit_status(
    statuses: list[CertificateStatus], smallest_threshold: int
) -> int:
    """Exit status for ``graphbot certs``: 1 when any certificate needs action now.

    That is one expired, one with fewer than ``smallest_threshold`` days left,
    or one that cannot be read or used; otherwise 0.
    """
    for status in statuses:
        if status.is_blocking:
            return 1
        if status.days_left is not None and status.days_left < smallest_threshold:
            return 1
    return 0


def worst_by_host(statuses: list[CertificateStatus]) -> dict[str, CertificateStatus]:
    """The most pressing certificate of each host, for marks in posts and status."""
    worst: dict[str, CertificateStatus] = {}
    for status in statuses:
        current = worst.get(status.host)
        if current is None or _urgency(status) > _urgency(current):
            worst[status.host] = status
    return worst


def _urgency(status: CertificateStatus) -> tuple[int, int]:
    days_left = status.days_left if status.days_left is not None else 1 << 30
    return (_STATE_ORDER.index(status.status), -days_left)


def _check_host_safely(
    host: HostSettings, now: datetime, warn_within_days: int
) -> list[CertificateStatus]:
    try:
        return _check_host(host, now, warn_within_days)
    except Exception:
        # A bug must not hide the other hosts' certificates: log it once, here,
        # and show the host as unreadable.
        log.exception("Checking the certificates of host %s failed", host.name)
        return [
            CertificateStatus(
                host=host.name,
                kind=kind,
                status="unreadable",
                problem=(
                    f'The certificates of host "{host.name}" could not be checked '
                    "because of an internal error; see graphbot's log."
                ),
            )
            for kind in ("client", "ca", "server")
        ]


def _check_host(
    host: HostSettings, now: datetime, warn_within_days: int
) -> list[CertificateStatus]:
    assert host.cert is not None and host.ca_cert is not None  # has_tls and validated
    client, _ = _check_file(host, "client", host.cert, now, warn_within_days)
    ca, ca_certificates = _check_file(host, "ca", host.ca_cert, now, warn_within_days)
    server = _check_server(host, ca_certificates, now, warn_within_days)
    log.debug(
        "Certificates of host %s: client %s, CA %s, server %s",
        host.name, client.status, ca.status, server.status,
    )
    return [client, ca, server]


# Certificates from files


def _check_file(
    host: HostSettings,
    kind: CertificateKind,
    path: Path,
    now: datetime,
    warn_within_days: int,
) -> tuple[CertificateStatus, list[x509.Certificate]]:
    key = SETTINGS_KEY_BY_KIND[kind]
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        problem = (
            f"The {_label(kind)} file of host \"{host.name}\" cannot be read "
            f"({exc.strerror}); check the `{key}` path and its permissions."
        )
        return _unreadable(host, kind, path, problem), []
    except ValueError:
        problem = (
            f"The {_label(kind)} file of host \"{host.name}\" holds no PEM "
            f"certificate; point `{key}` at the certificate, not the key."
        )
        return _unreadable(host, kind, path, problem), []
    # A file may hold a bundle; the first certificate is the one reported, the
    # others still count when checking who issued the server certificate.
    status = _describe(host, kind, certificates[0], now, warn_within_days, path=path)
    return status, certificates


def _unreadable(
    host: HostSettings, kind: CertificateKind, path: Path, problem: str
) -> CertificateStatus:
    return CertificateStatus(
        host=host.name, kind=kind, status="unreadable", problem=problem, path=path
    )


# The server certificate, fetched by a handshake


def _check_server(
    host: HostSettings,
    ca_certificates: list[x509.Certificate],
    now: datetime,
    warn_within_days: int,
) -> CertificateStatus:
    fetched = fetch_server_certificate(host)
    if fetched.certificate is None:
        state = fetched.state or "unreachable"
        return CertificateStatus(
            host=host.name, kind="server", status=state, problem=fetched.problem
        )
    certificate = x509.load_der_x509_certificate(fetched.certificate)
    status = _describe(host, "server", certificate, now, warn_within_days)
    if status.status in ("expired", "not-yet-valid"):
        return status
    hostname = _url_host(host.url)
    # Without a readable CA file trust cannot be judged; the CA row says why.
    if ca_certificates and not _is_issued_by(certificate, ca_certificates):
        return status.model_copy(
            update={"status": "untrusted", "problem": _untrusted_problem(host)}
        )
    if not _matches_host(certificate, hostname):
        return status.model_copy(
            update={"status": "wrong-host", "problem": _wrong_host_problem(host)}
        )
    if fetched.state is not None:
        return status.model_copy(
            update={"status": fetched.state, "problem": fetched.problem}
        )
    return status


# Judging one certificate


def _describe(
    host: HostSettings,
    kind: CertificateKind,
    certificate: x509.Certificate,
    now: datetime,
    warn_within_days: int,
    *,
    path: Path | None = None,
) -> CertificateStatus:
    not_after = certificate.not_valid_after_utc
    # Whole days as people count them: 1.9 days left is 1; a certificate that
    # expired 1.2 days ago is -1, and one that expired an hour ago is -1 too.
    days_left = int((not_after - now).total_seconds() / 86400)
    if not_after <= now:
        days_left = min(days_left, -1)
    state: CertificateState = "ok"
    problem = ""
    if now < certificate.not_valid_before_utc:
        state = "not-yet-valid"
        problem = _not_yet_valid_problem(host, kind, certificate)
    elif now >= not_after:
        state, problem = "expired", _expired_problem(host, kind, not_after)
    elif days_left < warn_within_days:
        state = "warning"
    return CertificateStatus(
        host=host.name,
        kind=kind,
        status=state,
        subject=subject_name(certificate),
        not_after=not_after,
        days_left=days_left,
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
        problem=problem,
        path=path,
    )


def subject_name(certificate: x509.Certificate) -> str:
    """The certificate's common name, or its whole subject when it has none."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        return str(names[0].value)
    return certificate.subject.rfc4514_string()


def read_expiry(path: Path) -> datetime | None:
    """When the first certificate in a PEM file expires (UTC), or None if unreadable."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return None
    return certificates[0].not_valid_after_utc


def _is_issued_by(
    certificate: x509.Certificate, ca_certificates: list[x509.Certificate]
) -> bool:
    # Only a direct signature is checked: a server that presents an
    # intermediate CA is reported as untrusted, since Python 3.11 does not
    # hand out the unverified chain.
    for ca in ca_certificates:
        try:
            certificate.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return True
    return False


def _matches_host(certificate: x509.Certificate, hostname: str) -> bool:
    # Like Go's crypto/tls, which the Docker clients use, only the subject
    # alternative names count; the common name is ignored.
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return False
    if is_ip_address(hostname):
        wanted = ipaddress.ip_address(hostname)
        return wanted in names.get_values_for_type(x509.IPAddress)
    return any(
        _dns_name_matches(pattern, hostname)
        for pattern in names.get_values_for_type(x509.DNSName)
    )


def _dns_name_matches(pattern: str, hostname: str) -> bool:
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = hostname.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == hostname


def _url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


# Sentences


def _label(kind: CertificateKind) -> str:
    return {"client": "client certificate", "ca": "CA certificate"}.get(
        kind, "server certificate"
    )


def _renew_hint(host: HostSettings, kind: CertificateKind) -> str:
    if kind == "server":
        return (
            f"renew it on {host.name} (the file its daemon gets with --tlscert) "
            "and restart that daemon"
        )
    key = SETTINGS_KEY_BY_KIND[kind]
    return f'renew it and update the file that `{key}` of host "{host.name}" names'


def _expired_problem(
    host: HostSettings, kind: CertificateKind, not_after: datetime
) -> str:
    return (
        f'The {_label(kind)} of host "{host.name}" expired on '
        f"{not_after:%Y-%m-%d}; {_renew_hint(host, kind)}."
    )


def _not_yet_valid_problem(
    host: HostSettings, kind: CertificateKind, certificate: x509.Certificate
) -> str:
    return (
        f'The {_label(kind)} of host "{host.name}" is valid only from '
        f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the clock "
        "of the machine that issued it, or wait."
    )


def _wrong_host_problem(host: HostSettings) -> str:
    hostname = _url_host(host.url)
    return (
        f'The server certificate of host "{host.name}" is not made out for '
        f"{hostname}; issue one that names {hostname} among its subject "
        "alternative names, or change `url` to a name it holds."
    )


def _untrusted_problem(host: HostSettings) -> str:
    return (
        f'The server certificate of host "{host.name}" is not signed by the CA '
        "in `ca_cert`; configure the CA that issued it, or reissue it from yours."
    )

"""Fetch a TLS host's server certificate by a handshake; no judgement of it.

Read-only towards Docker: the only request sent after the handshake is
``GET /_ping``, to learn whether the daemon accepted our client certificate.
What the fetched certificate means is decided in ``bot.certificates``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel

from bot.settings import HostSettings

DEFAULT_TLS_PORT = 2376
_TLS_SCHEMES = ("tcp", "https")

# The certificate states an exchange itself can end in (see bot.certificates).
HandshakeState = Literal["handshake-refused", "unreachable", "unreadable"]


class FetchedCertificate(BaseModel):
    """The server certificate in DER form, and how the exchange went."""

    certificate: bytes | None = None
    state: HandshakeState | None = None  # set when the exchange itself failed
    problem: str = ""  # a sentence saying what failed and what to do


def fetch_server_certificate(host: HostSettings) -> FetchedCertificate:
    """Shake hands with the host's daemon and keep the certificate it presents.

    The server certificate is fetched even when it is expired or foreign; a
    failure is described in ``state`` and ``problem``, never raised.
    """
    parts = urlsplit(host.url)
    if parts.scheme not in _TLS_SCHEMES or not parts.hostname:
        return FetchedCertificate(state="unreachable", problem=(
            f'Host "{host.name}" is not reached over TCP, so its server '
            "certificate cannot be fetched; use a tcp://host:2376 URL for TLS."
        ))
    try:
        context = _client_context(host)
    except (ssl.SSLError, OSError):
        return FetchedCertificate(state="unreadable", problem=(
            f'The client certificate and key of host "{host.name}" cannot be '
            "loaded together; check that `cert` and `key` name a matching pair."
        ))
    address = (parts.hostname, parts.port or DEFAULT_TLS_PORT)
    try:
        return _handshake(host, context, address)
    except TimeoutError:
        return FetchedCertificate(state="unreachable", problem=(
            f'Host "{host.name}" did not answer within '
            f"{host.timeout_seconds:g} seconds; check that its daemon is "
            "running and the port is open."
        ))
    except ssl.SSLError as exc:
        return _refused(host, exc)
    except OSError as exc:
        return FetchedCertificate(
            state="unreachable", problem=_unreachable_problem(host, exc)
        )


def is_ip_address(hostname: str) -> bool:
    """Tell whether a URL's host part is an IP address rather than a name."""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _client_context(host: HostSettings) -> ssl.SSLContext:
    # Verification is off so that an expired or foreign server certificate can
    # still be fetched; bot.certificates checks it against the configured CA.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(str(host.cert), str(host.key))
    return context


def _handshake(
    host: HostSettings, context: ssl.SSLContext, address: tuple[str, int]
) -> FetchedCertificate:
    hostname = address[0]
    with socket.create_connection(address, timeout=host.timeout_seconds) as raw:
        server_name = None if is_ip_address(hostname) else hostname
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            certificate = tls.getpeercert(binary_form=True)
            answer = _ping(host, tls, hostname)
    return answer.model_copy(update={"certificate": certificate})


def _ping(host: HostSettings, tls: ssl.SSLSocket, hostname: str) -> FetchedCertificate:
    """Learn whether the daemon accepted us; ``state`` stays None when it did."""
    # With TLS 1.3 the daemon judges our client certificate after the client
    # has finished its half of the handshake, so a refusal only shows on the
    # first read: one harmless GET is needed to see it.
    request = f"GET /_ping HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n"
    try:
        tls.sendall(request.encode("ascii"))
        answer = tls.recv(16)
    except ssl.SSLError as exc:
        return _refused(host, exc)
    except TimeoutError:
        return FetchedCertificate(state="unreachable", problem=(
            f'The daemon of host "{host.name}" completed the TLS handshake but '
            f"did not answer within {host.timeout_seconds:g} seconds; check "
            "that it is not overloaded or stuck."
        ))
    except (ConnectionResetError, BrokenPipeError):
        answer = b""
    if answer.startswith(b"HTTP/"):
        return FetchedCertificate()
    return FetchedCertificate(state="handshake-refused", problem=(
        f'The daemon of host "{host.name}" closed the TLS connection without '
        "answering; it probably does not accept our client certificate. Check "
        "that `cert` is signed by the CA the daemon trusts (--tlscacert)."
    ))


def _refused(host: HostSettings, exc: ssl.SSLError) -> FetchedCertificate:
    reason = (exc.reason or "").replace("_", " ").lower()
    detail = f" ({reason})" if reason else ""
    return FetchedCertificate(state="handshake-refused", problem=(
        f'The daemon of host "{host.name}" refused the TLS handshake{detail}; '
        "check that `cert` is valid and signed by the CA the daemon trusts "
        "(--tlscacert), and that the daemon serves TLS on that port."
    ))


def _unreachable_problem(host: HostSettings, exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        cause = "refused the connection; nothing listens on that port"
    elif isinstance(exc, socket.gaierror):
        cause = "has a name that cannot be resolved"
    else:
        cause = f"could not be reached ({exc.strerror or exc})"
    return (
        f'Host "{host.name}" {cause}. Check `url` and that its daemon is running; '
        "its server certificate was not checked."
    )

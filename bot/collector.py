"""Collect each host's containers, images, networks and volumes; the only importer
of docker.

Read-only and cheap: five GET requests per host whatever the number of
containers (``/version`` and four list endpoints, never one inspect per
container). Failures are translated here into errors that name the host, the
cause and the fix; ``bot.engine_mapping`` turns the answers into the model.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import docker
import docker.constants
import docker.errors
import docker.tls
import requests.exceptions

from bot.certificates import read_expiry
from bot.engine_mapping import build_host_inventory
from bot.errors import CertificateProblem, HostNotCollected, HostUnreachable
from bot.model import HostFailure, HostInventory, Inventory
from bot.privacy import exclude_containers
from bot.settings import HostSettings

log = logging.getLogger(__name__)

REQUESTS_PER_HOST = 5
# Any API version at or above the minimum answers the unversioned /version;
# the client is then pinned to the lower of the engine's and docker-py's.
_FIRST_API_VERSION = docker.constants.MINIMUM_DOCKER_API_VERSION
# An engine's explanation of an error goes into pictures and chat: one line,
# at most this long.
_MAX_EXPLANATION_CHARS = 160


def collect_fleet(hosts: list[HostSettings], organization: str) -> Inventory:
    """Collect every host at once; a host that fails is reported, not fatal."""
    started = time.monotonic()
    log.info("Collecting hosts: %s", ", ".join(host.name for host in hosts))
    executor = ThreadPoolExecutor(max_workers=max(1, len(hosts)),
                                  thread_name_prefix="collect")
    futures = {host.name: executor.submit(collect_host, host) for host in hosts}
    collected: list[HostInventory] = []
    failures: list[HostFailure] = []
    for host in hosts:
        result = _outcome(host, futures[host.name])
        if isinstance(result, HostInventory):
            collected.append(result)
        else:
            failures.append(result)
    # A host still hanging past its deadline keeps its thread; do not wait for it.
    executor.shutdown(wait=False, cancel_futures=True)
    log.info(
        "Collected %d of %d hosts (%d containers) in %.1f s",
        len(collected), len(hosts),
        sum(len(h.containers) for h in collected), time.monotonic() - started,
    )
    return Inventory(organization=organization, hosts=collected, failures=failures)


def _outcome(
    host: HostSettings, future: Future[HostInventory]
) -> HostInventory | HostFailure:
    # Each request has the host's timeout; this bounds a host that trickles.
    deadline = host.timeout_seconds * (REQUESTS_PER_HOST + 1)
    wait([future], timeout=deadline)
    now = datetime.now(timezone.utc)
    failure: HostNotCollected
    if not future.done():
        reason = (f"it did not finish within {deadline:.0f} seconds. Check that the "
                  "engine is healthy, or raise timeout_seconds for this host.")
        failure = HostUnreachable(host.name, reason, kind="timeout")
    else:
        try:
            return future.result()
        except HostNotCollected as exc:
            failure = exc
        except Exception:
            log.exception("collecting host %s failed unexpectedly", host.name)
            failure = HostNotCollected(
                host.name, "graphbot failed while reading it (a bug; the log has "
                "the details).", kind="api-error")
    log.warning("%s", failure)
    return HostFailure(host=host.name, kind=failure.kind,  # type: ignore[arg-type]
                       reason=failure.reason, failed_at=now)


def collect_host(host: HostSettings, *, now: datetime | None = None) -> HostInventory:
    """Read one host's inventory through its Engine API.

    Raises:
        HostUnreachable: the engine did not answer (refused, timeout, unknown name).
        CertificateProblem: the TLS connection failed because of a certificate.
        HostNotCollected: the engine answered with an error.
    """
    collected_at = now or datetime.now(timezone.utc)
    try:
        client = _connect(host)
        try:
            raw = _read_engine(client)
        finally:
            client.close()
    except HostNotCollected:
        raise
    except Exception as exc:
        translated = _translate(exc, host)
        if translated is None:
            raise
        raise translated from exc
    log.debug("host %s: engine %s, API %s, %d containers", host.name,
              raw["version"].get("Version"), raw["api_version"], len(raw["containers"]))
    return exclude_containers(build_host_inventory(host, raw, collected_at), host)


# Talking to the engine --------------------------------------------------------


class _NotAnEngine(Exception):
    """Something answered HTTP at the host's url, but not as a Docker engine."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail  # e.g. "HTTP 404"; never the answer's own text


def _connect(host: HostSettings) -> docker.APIClient:
    if host.url.startswith("ssh://"):
        _check_ssh_client(host)
    tls: docker.tls.TLSConfig | bool = False
    if host.has_tls:
        _check_tls_files(host)
        tls = docker.tls.TLSConfig(
            client_cert=(str(host.cert), str(host.key)),
            ca_cert=str(host.ca_cert),
            verify=True,
        )
    url = host.url
    if url.startswith("tcp://") and host.has_tls:
        url = "https://" + url.removeprefix("tcp://")
    # A fixed version here means the client makes no request of its own.
    client = docker.APIClient(
        base_url=url, version=_FIRST_API_VERSION, timeout=host.timeout_seconds,
        tls=tls, use_ssh_client=url.startswith("ssh://"),
    )
    # requests lets REQUESTS_CA_BUNDLE (set on many systems) replace the
    # host's ca_cert, which then fails as an untrusted certificate; the
    # engine's URL and CA come from settings only.
    client.trust_env = False
    return client


def _read_engine(client: docker.APIClient) -> dict[str, Any]:
    try:
        version = client.version(api_version=False)
    except requests.exceptions.JSONDecodeError as exc:
        raise _NotAnEngine("its answer to /version is not JSON") from exc
    if not isinstance(version, dict) or "ApiVersion" not in version:
        raise _NotAnEngine("its answer to /version names no API version")
    api_version = _pick_api_version(version.get("ApiVersion", _FIRST_API_VERSION))
    # docker-py's own "auto" negotiation sets this attribute the same way; we
    # do it ourselves so /version is asked once and serves both purposes.
    client._version = api_version
    return {
        "version": version,
        "api_version": api_version,
        "containers": client.containers(all=True) or [],
        "images": client.images() or [],
        "networks": client.networks() or [],
        "volumes": (client.volumes() or {}).get("Volumes") or [],
    }


def _pick_api_version(engine: str) -> str:
    ours = docker.constants.DEFAULT_DOCKER_API_VERSION
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    return min(engine, ours, key=as_tuple)


def _check_ssh_client(host: HostSettings) -> None:
    # docker runs the ssh program for ssh:// urls; without it every attempt
    # fails with a bare "No such file or directory".
    if shutil.which("ssh") is None:
        raise HostUnreachable(host.name, (
            "its url is ssh://, but the ssh client program is not installed on "
            "this machine. Install openssh-client (apt-get install "
            "openssh-client), or reach the engine by tcp:// with TLS."
        ), kind="unreachable")


def _check_tls_files(host: HostSettings) -> None:
    for key in ("ca_cert", "cert", "key"):
        path: Path = getattr(host, key)
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError as exc:
            raise CertificateProblem(host.name, (
                f"the TLS file set as {key} ({path}) cannot be read "
                f"({exc.strerror or exc}). Fix the path or its permissions."
            ), kind="tls-files") from exc
        if "-----BEGIN" not in text:
            raise CertificateProblem(host.name, (
                f"the TLS file set as {key} ({path}) is not a PEM file. "
                "Configure the PEM certificate or key the engine expects."
            ), kind="tls-files")
    _check_key_pair(host)


def _check_key_pair(host: HostSettings) -> None:
    # Told apart here, before any connection: OpenSSL's words for a key that
    # does not belong to its certificate ("key values mismatch") read much
    # like those for a server certificate made out for another name.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        # docker cannot be given a passphrase; the empty one makes a protected
        # key fail here instead of prompting on the terminal.
        context.load_cert_chain(str(host.cert), str(host.key), password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        raise CertificateProblem(host.name, _KEY_PAIR_REASON.format(host=host),
                                 kind="tls-files") from exc


# Translating failures ---------------------------------------------------------


def _translate(exc: BaseException, host: HostSettings) -> HostNotCollected | None:
    text = _chain_text(exc)
    if isinstance(exc, _NotAnEngine):
        return HostUnreachable(host.name, _not_an_engine_reason(host, exc.detail),
                               kind="unreachable")
    if isinstance(exc, docker.errors.APIError):
        return _api_error(host, exc)
    if isinstance(exc, docker.errors.TLSParameterError):
        return CertificateProblem(host.name, (
            "the TLS files cannot be used (" + str(exc).rstrip(".") + "). "
            "Fix ca_cert, cert and key."), kind="tls-files")
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text:
        return HostUnreachable(host.name, (
            f"the engine at {host.url} did not answer within "
            f"{host.timeout_seconds:g} seconds. Check that the host is up and no "
            "firewall drops the connection, or raise timeout_seconds."),
            kind="timeout")
    if _is_tls_failure(exc, text):
        return _certificate_problem(host, text)
    if isinstance(exc, (requests.exceptions.ConnectionError, OSError,
                        docker.errors.DockerException)):
        return HostUnreachable(host.name, _unreachable_reason(host, text),
                               kind="unreachable")
    return None


def _api_error(host: HostSettings, exc: docker.errors.APIError) -> HostNotCollected:
    response = exc.response
    if response is not None and not _is_engine_answer(response):
        # Go's TLS server answers a plain HTTP request with this sentence.
        if "http request to an https server" in response.text.lower():
            return HostUnreachable(host.name, (
                f"the engine at {host.url} serves TLS, but this host has no TLS "
                "settings. Set ca_cert, cert and key for it."), kind="unreachable")
        return HostUnreachable(host.name, _not_an_engine_reason(
            host, f"HTTP {response.status_code}"), kind="unreachable")
    explanation = exc.explanation or f"HTTP {exc.status_code}"
    return HostNotCollected(host.name, (
        f"the engine answered with an error ({_one_short_line(str(explanation))}). "
        "Check the engine's log on that host."), kind="api-error")


def _is_engine_answer(response: requests.Response) -> bool:
    # dockerd names its API version and itself on its answers, errors too; a
    # web server or proxy answering in its place does neither.
    if ("Api-Version" in response.headers
            or response.headers.get("Server", "").startswith("Docker/")):
        return True
    # A path dockerd has no route for is answered without those headers, but
    # like every engine error as JSON with a "message".
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("message"), str)


def _not_an_engine_reason(host: HostSettings, detail: str) -> str:
    # The answer's own text (often a whole HTML page) is never repeated.
    return (f"the service at {host.url} does not answer like a Docker engine "
            f"({detail}). Check the url and port.")


def _one_short_line(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= _MAX_EXPLANATION_CHARS:
        return line
    return line[:_MAX_EXPLANATION_CHARS - 1].rstrip() + "…"


def _chain_text(exc: BaseException) -> str:
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        parts.extend(str(a) for a in getattr(current, "args", ()) if a)
        current = current.__cause__ or current.__context__
    return " | ".join(parts).lower()


def _is_tls_failure(exc: BaseException, text: str) -> bool:
    return (isinstance(exc, requests.exceptions.SSLError) or "ssl" in text
            or "certificate" in text or "tlsv1" in text)


_KEY_PAIR_REASON = (
    "the client certificate ({host.cert}) and key ({host.key}) cannot be loaded "
    "together. Check that the key belongs to the certificate and has no "
    "passphrase."
)
# Words in a failed connection's text (any one selects the row), the failure's
# kind and its reason; the first row that matches wins.
_CERTIFICATE_FAILURES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("key values mismatch", "pem lib", "no start line"), "tls-files",
     _KEY_PAIR_REASON),
    # What OpenSSL makes of a plain HTTP answer read as a TLS record.
    (("wrong version number", "unknown protocol", "packet length too long"),
     "handshake-refused",
     "the port in its url ({host.url}) does not serve TLS. Check that dockerd "
     "serves TLS on that port (--tlsverify with a tcp:// --host), or use a "
     "tcp:// url without TLS settings."),
    (("certificate has expired",), "certificate-expired",
     "the certificate the engine presents has expired. Renew the engine's "
     "server certificate on {host.name} and restart dockerd."),
    (("not yet valid",), "certificate-not-yet-valid",
     "the certificate the engine presents is not valid yet. Check the clock "
     "on {host.name} and on this machine."),
    (("hostname mismatch", "address mismatch", "doesn't match"),
     "certificate-wrong-host",
     "the engine's server certificate was not issued for the name or address "
     "in its url ({host.url}). Use the name the certificate names, or issue "
     "one for this address."),
    # Our side rejected the engine's certificate for another reason: an unknown
    # issuer, a self-signed certificate, or a CA that only shares the name of
    # the one that signed it.
    (("certificate_verify_failed", "certificate verify failed"),
     "certificate-untrusted",
     "the engine's server certificate is not signed by the CA in ca_cert "
     "({host.ca_cert}). Configure the CA that signed the engine's certificate."),
)
# The same for a host that cannot be reached at all; {path} is a unix socket's.
_SOCKET_FAILURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("no such file", "filenotfound"),
     "there is no Docker socket at {path}. Check that dockerd runs there, or fix "
     "the url."),
    (("permission denied",),
     "graphbot may not open the socket {path}. Add its user to the socket's "
     "group (usually docker)."),
)
_NETWORK_FAILURES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("install paramiko",),
     "docker needs the paramiko package for ssh:// urls, and it is missing. "
     "Reinstall graphbot with its dependencies."),
    (("name or service not known", "failed to resolve", "name resolution",
      "nodename nor servname"),
     "the name in its url ({url}) does not resolve. Fix the url or the DNS "
     "entry."),
    (("refused",),
     "nothing accepts connections at {url}. Check that dockerd runs there and "
     "listens on that address."),
)


def _certificate_problem(host: HostSettings, text: str) -> CertificateProblem:
    # OpenSSL says "certificate has expired" for any certificate of the chain;
    # the CA file tells whether it is the CA rather than the engine's own.
    ca_expired_on = _expiry_if_past(host.ca_cert)
    if "certificate has expired" in text and ca_expired_on:
        return CertificateProblem(host.name, (
            f"the CA certificate we trust ({host.ca_cert}) expired on "
            f"{ca_expired_on}. Renew the CA, then the certificates it signed, and "
            "update ca_cert."), kind="certificate-expired")
    for words, kind, reason in _CERTIFICATE_FAILURES:
        if any(word in text for word in words):
            return CertificateProblem(host.name, reason.format(host=host), kind=kind)
    return _handshake_refused(host)


def _handshake_refused(host: HostSettings) -> CertificateProblem:
    expired_on = _expiry_if_past(host.cert)
    if expired_on:
        return CertificateProblem(host.name, (
            f"our client certificate ({host.cert}) expired on {expired_on}, so the "
            "engine refused the connection. Renew it and update cert and key."),
            kind="certificate-expired")
    return CertificateProblem(host.name, (
        f"the engine refused our client certificate ({host.cert}) during the TLS "
        "handshake. Check that it is signed by the CA the engine trusts "
        "(its --tlscacert) and is still valid."), kind="handshake-refused")


def _expiry_if_past(path: Path | None) -> str:
    """A certificate file's expiry date when it lies in the past, else ""."""
    # Without a readable expiry the failure is reported as a refused handshake,
    # which still names the client certificate.
    expires = read_expiry(path) if path is not None else None
    if expires is None or expires > datetime.now(timezone.utc):
        return ""
    return f"{expires:%d %B %Y}"


def _unreachable_reason(host: HostSettings, text: str) -> str:
    failures = _NETWORK_FAILURES
    if host.url.startswith("unix://"):
        failures = _SOCKET_FAILURES + _NETWORK_FAILURES
    for words, reason in failures:
        if any(word in text for word in words):
            return reason.format(url=host.url, path=host.url.removeprefix("unix://"))
    return (f"the engine at {host.url} could not be reached. Check that the host is "
            "up and that the url is right.")

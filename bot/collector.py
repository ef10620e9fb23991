"""Collect each host's containers, images, networks and volumes; the only importer
of docker.

Read-only and cheap: five GET requests per host whatever the number of
containers (``/version`` and four list endpoints, never one inspect per
container). Failures are translated here into errors that name the host, the
cause and the fix; ``bot.engine_mapping`` turns the answers into the model.
"""

from __future__ import annotations

import logging
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
from bot.settings import HostSettings

log = logging.getLogger(__name__)

REQUESTS_PER_HOST = 5
# Any API version at or above the minimum answers the unversioned /version;
# the client is then pinned to the lower of the engine's and docker-py's.
_FIRST_API_VERSION = docker.constants.MINIMUM_DOCKER_API_VERSION


def collect_fleet(hosts: list[HostSettings], organization: str) -> Inventory:
    """Collect every host at once; a host that fails is reported, not fatal."""
    started = time.monotonic()
    log.info("collecting %d hosts", len(hosts))
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
        "collected %d hosts, %d failed, %d containers in %.1f s",
        len(collected), len(failures),
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
    return build_host_inventory(host, raw, collected_at)


# Talking to the engine --------------------------------------------------------


def _connect(host: HostSettings) -> docker.APIClient:
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
    version = client.version(api_version=False)
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


# Translating failures ---------------------------------------------------------


def _translate(exc: BaseException, host: HostSettings) -> HostNotCollected | None:
    text = _chain_text(exc)
    if isinstance(exc, docker.errors.APIError):
        return HostNotCollected(host.name, (
            f"the engine answered with an error ({exc.explanation or exc}). "
            "Check the engine's log on that host."), kind="api-error")
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


# Words in a failed connection's text (any one selects the row), the failure's
# kind and its reason; the first row that matches wins, so "key values mismatch"
# reads as a wrong host, as it always has.
_CERTIFICATE_FAILURES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("certificate has expired",), "certificate-expired",
     "the certificate the engine presents has expired. Renew the engine's "
     "server certificate on {host.name} and restart dockerd."),
    (("not yet valid",), "certificate-not-yet-valid",
     "the certificate the engine presents is not valid yet. Check the clock "
     "on {host.name} and on this machine."),
    (("mismatch", "doesn't match"), "certificate-wrong-host",
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
    (("pem lib", "key values mismatch", "no start line"), "tls-files",
     "the client certificate ({host.cert}) and key ({host.key}) cannot be "
     "loaded together. Check that the key belongs to the certificate."),
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

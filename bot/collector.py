"""Collect each host's containers, images, networks and volumes; the only importer
of docker.

Read-only and cheap: five GET requests per host whatever the number of
containers (``/version`` and four list endpoints, never one inspect per
container). Environment variables, commands and label values other than
Traefik routing rules and compose project/service are never read into the
inventory.
"""

from __future__ import annotations

import logging
import re
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

from bot import traefik
from bot.errors import CertificateProblem, HostNotCollected, HostUnreachable
from bot.model import (
    Container,
    HostFailure,
    HostInventory,
    Image,
    Inventory,
    Mount,
    Network,
    NetworkAttachment,
    PublishedPort,
    Volume,
)
from bot.settings import HostSettings

log = logging.getLogger(__name__)

REQUESTS_PER_HOST = 5
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
ANONYMOUS_VOLUME = "com.docker.volume.anonymous"
_STATES = {"created", "running", "paused", "restarting", "removing", "exited", "dead"}
_HEX_ID = re.compile(r"^[0-9a-f]{64}$")
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
        (collected if isinstance(result, HostInventory) else failures).append(result)
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
    return _inventory(host, raw, collected_at)


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


def _certificate_problem(host: HostSettings, text: str) -> CertificateProblem:
    if "certificate has expired" in text:
        kind, reason = "certificate-expired", (
            "the certificate the engine presents has expired. Renew the engine's "
            f"server certificate on {host.name} and restart dockerd.")
    elif "not yet valid" in text:
        kind, reason = "certificate-not-yet-valid", (
            "the certificate the engine presents is not valid yet. Check the clock "
            f"on {host.name} and on this machine.")
    elif "mismatch" in text or "doesn't match" in text:
        kind, reason = "certificate-wrong-host", (
            "the engine's server certificate was not issued for the name or address "
            f"in its url ({host.url}). Use the name the certificate names, or issue "
            "one for this address.")
    elif "certificate_verify_failed" in text or "certificate verify failed" in text:
        # Our side rejected the engine's certificate for another reason: an
        # unknown issuer, a self-signed certificate, or a CA that only shares
        # the name of the one that signed it.
        kind, reason = "certificate-untrusted", (
            "the engine's server certificate is not signed by the CA in ca_cert "
            f"({host.ca_cert}). Configure the CA that signed the engine's certificate.")
    elif "pem lib" in text or "key values mismatch" in text or "no start line" in text:
        kind, reason = "tls-files", (
            f"the client certificate ({host.cert}) and key ({host.key}) cannot be "
            "loaded together. Check that the key belongs to the certificate.")
    else:
        return _handshake_refused(host)
    return CertificateProblem(host.name, reason, kind=kind)


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
    """The client certificate's expiry date when it lies in the past, else ""."""
    if path is None:
        return ""
    try:
        # The ssl module exposes no public PEM-file decoder; this private one
        # has been stable since Python 3.4. Without it the failure is reported
        # as a refused handshake, which still names the client certificate.
        decoded = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
        expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]),
                                         tz=timezone.utc)
    except (AttributeError, OSError, ValueError, KeyError):
        return ""
    if expires > datetime.now(timezone.utc):
        return ""
    return f"{expires:%d %B %Y}"


def _unreachable_reason(host: HostSettings, text: str) -> str:
    if host.url.startswith("unix://"):
        path = host.url.removeprefix("unix://")
        if "no such file" in text or "filenotfound" in text:
            return (f"there is no Docker socket at {path}. Check that dockerd runs "
                    "there, or fix the url.")
        if "permission denied" in text:
            return (f"graphbot may not open the socket {path}. Add its user to the "
                    "socket's group (usually docker).")
    if "name or service not known" in text or "failed to resolve" in text \
            or "name resolution" in text or "nodename nor servname" in text:
        return (f"the name in its url ({host.url}) does not resolve. Fix the url "
                "or the DNS entry.")
    if "refused" in text:
        return (f"nothing accepts connections at {host.url}. Check that dockerd "
                "runs there and listens on that address.")
    return (f"the engine at {host.url} could not be reached. Check that the host is "
            "up and that the url is right.")


# From Engine API lists to the model -------------------------------------------


def _inventory(host: HostSettings, raw: dict[str, Any], at: datetime) -> HostInventory:
    anonymous = {v["Name"] for v in raw["volumes"]
                 if ANONYMOUS_VOLUME in (v.get("Labels") or {})
                 or _HEX_ID.match(v.get("Name", ""))}
    name_by_id = {c["Id"]: _container_name(c) for c in raw["containers"]}
    excluded = {cid for cid, name in name_by_id.items() if host.is_excluded(name)}
    for cid in excluded:
        log.debug("host %s: container %s excluded by settings", host.name,
                  name_by_id[cid])
    visible = {cid: name for cid, name in name_by_id.items() if cid not in excluded}
    notes = []
    if any("Mounts" not in c for c in raw["containers"]):
        notes.append("This engine's API does not list mounts, so volumes and bind "
                     "mounts are not drawn for its containers.")
    return HostInventory(
        host=host.name,
        collected_at=at,
        engine_version=raw["version"].get("Version", ""),
        api_version=raw["api_version"],
        os=raw["version"].get("Os", ""),
        containers=sorted(
            (_container(c, visible, anonymous) for c in raw["containers"]
             if c["Id"] not in excluded),
            key=lambda c: c.name),
        images=sorted((_image(i) for i in raw["images"]), key=lambda i: i.id),
        networks=sorted((_network(n) for n in raw["networks"]), key=lambda n: n.name),
        volumes=sorted((_volume(v, anonymous) for v in raw["volumes"]),
                       key=lambda v: v.name),
        notes=notes,
    )


def _container_name(raw: dict[str, Any]) -> str:
    names = [n.lstrip("/") for n in raw.get("Names") or []]
    # Legacy links add names such as "/web/db"; the container's own has no "/".
    own = [n for n in names if "/" not in n]
    return (own or names or [raw["Id"][:12]])[0]


def _container(
    raw: dict[str, Any], name_by_id: dict[str, str], anonymous: set[str]
) -> Container:
    labels = raw.get("Labels") or {}
    status = raw.get("Status") or ""
    ports = raw.get("Ports") or []
    return Container(
        id=raw["Id"],
        name=name_by_id[raw["Id"]],
        image_ref=_image_ref(raw.get("Image") or "", raw.get("ImageID") or ""),
        image_id=raw.get("ImageID") or "",
        state=_state(raw.get("State"), status),
        health=_health(status),
        status=status,
        created_at=datetime.fromtimestamp(raw["Created"], tz=timezone.utc)
        if raw.get("Created") else None,
        compose_project=labels.get(COMPOSE_PROJECT, ""),
        compose_service=labels.get(COMPOSE_SERVICE, ""),
        network_mode=_network_mode(raw, name_by_id),
        networks=_attachments(raw),
        ports=_published_ports(ports),
        mounts=[_mount(m, anonymous) for m in raw.get("Mounts") or []],
        routes=traefik.parse_routes(
            traefik.routing_labels(labels),
            exposed_ports=[p["PrivatePort"] for p in ports if "PrivatePort" in p]),
    )


def _image_ref(image: str, image_id: str) -> str:
    # When the tag a container was created from is removed or moved, the engine
    # reports the image id instead; show the short id people know from `docker ps`.
    bare = image.removeprefix("sha256:")
    if not image or image.startswith("sha256:") or _HEX_ID.match(bare):
        return (bare or image_id.removeprefix("sha256:"))[:12]
    return image


def _state(state: str | None, status: str) -> str:
    if state and state.lower() in _STATES:
        return state.lower()
    # Engines before API 1.23 give no State; derive it from the Status text.
    lowered = status.lower()
    for prefix, derived in (("up", "running"), ("exited", "exited"),
                            ("created", "created"), ("restarting", "restarting"),
                            ("removal", "removing"), ("dead", "dead")):
        if lowered.startswith(prefix):
            return "paused" if "(paused)" in lowered else derived
    return "created"


def _health(status: str) -> str | None:
    # The list endpoint has no Health object before API 1.4x; Status carries it.
    lowered = status.lower()
    if "(unhealthy)" in lowered:
        return "unhealthy"
    if "(healthy)" in lowered:
        return "healthy"
    if "(health: starting)" in lowered:
        return "starting"
    return None


def _network_mode(raw: dict[str, Any], name_by_id: dict[str, str]) -> str:
    mode = (raw.get("HostConfig") or {}).get("NetworkMode") or ""
    if mode.startswith("container:"):
        ref = mode.removeprefix("container:")
        matches = [n for cid, n in name_by_id.items() if cid.startswith(ref)]
        # An excluded or vanished container is shown by short id, never by name.
        return "container:" + (matches[0] if matches else ref[:12])
    return "" if mode == "default" else mode


def _attachments(raw: dict[str, Any]) -> list[NetworkAttachment]:
    networks = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    attachments = []
    for name, endpoint in sorted(networks.items()):
        if name == "none":
            continue  # --network none: no network to draw.
        endpoint = endpoint or {}
        # Engines up to API 1.43 leave Aliases empty in the list (only inspect
        # has them), so their aliases are not shown; the docker CLI's own
        # short-id alias is dropped as noise.
        short_id = raw["Id"][:12]
        aliases = [a for a in endpoint.get("Aliases") or [] if a != short_id]
        attachments.append(NetworkAttachment(
            network=name, aliases=aliases,
            ipv4=endpoint.get("IPAddress") or "",
            ipv6=endpoint.get("GlobalIPv6Address") or "",
        ))
    return attachments


def _published_ports(raw_ports: list[dict[str, Any]]) -> list[PublishedPort]:
    ports = {
        PublishedPort(
            host_ip=raw.get("IP") or "", host_port=raw["PublicPort"],
            container_port=raw["PrivatePort"], protocol=raw.get("Type") or "tcp",
        )
        for raw in raw_ports
        if raw.get("PublicPort")  # exposed only: nothing is published on the host
    }
    # Engines report a binding on every address twice, as 0.0.0.0 and as ::;
    # one entry with host_ip "" (every address) stands for the pair.
    for port in list(ports):
        twin = port.model_copy(update={"host_ip": "::"})
        if port.host_ip == "0.0.0.0" and twin in ports:
            ports -= {port, twin}
            ports.add(port.model_copy(update={"host_ip": ""}))
    return sorted(ports, key=lambda p: (p.host_port, p.protocol, p.host_ip))


def _mount(raw: dict[str, Any], anonymous: set[str]) -> Mount:
    kind = (raw.get("Type") or ("volume" if raw.get("Name") else "bind")).lower()
    if kind not in {"volume", "bind", "tmpfs", "npipe", "cluster"}:
        kind = "bind"
    source = raw.get("Name") if kind == "volume" else raw.get("Source")
    return Mount(
        kind=kind,  # type: ignore[arg-type]
        source=(source or "") if kind != "tmpfs" else "",
        target=raw.get("Destination") or "",
        is_anonymous=kind == "volume" and (source in anonymous
                                           or bool(_HEX_ID.match(source or ""))),
        is_read_only=raw.get("RW") is False,
    )


def _image(raw: dict[str, Any]) -> Image:
    tags = [t for t in raw.get("RepoTags") or [] if t != "<none>:<none>"]
    return Image(id=raw["Id"], tags=sorted(tags), size_bytes=raw.get("Size") or 0)


def _network(raw: dict[str, Any]) -> Network:
    configs = (raw.get("IPAM") or {}).get("Config") or []
    subnets = [c["Subnet"] for c in configs if c.get("Subnet")]
    return Network(
        id=raw["Id"], name=raw["Name"], driver=raw.get("Driver") or "",
        scope=raw.get("Scope") or "local", subnets=subnets,
        is_internal=bool(raw.get("Internal")),
        has_ipv6=bool(raw.get("EnableIPv6")) or any(":" in s for s in subnets),
    )


def _volume(raw: dict[str, Any], anonymous: set[str]) -> Volume:
    return Volume(name=raw["Name"], driver=raw.get("Driver") or "local",
                  is_anonymous=raw["Name"] in anonymous)

"""Engine API list answers -> HostInventory; pure, no I/O.

Only the fields the inventory needs are read: environment variables, commands and
label values other than Traefik routing rules and compose project/service never
reach the model. Fields that older or newer Engine API versions omit are
tolerated, and where one changes what is drawn a note says so. Every container
is mapped: leaving out those that settings exclude is the job of
``bot.privacy.exclude_containers``, the one place that does it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, cast, get_args

from bot import traefik
from bot.model import (
    Container,
    ContainerState,
    Health,
    HostInventory,
    Image,
    Mount,
    Network,
    NetworkAttachment,
    PublishedPort,
    Volume,
)
from bot.settings import HostSettings

log = logging.getLogger(__name__)

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
ANONYMOUS_VOLUME = "com.docker.volume.anonymous"
_STATES = set(get_args(ContainerState))
_STATE_BY_STATUS_PREFIX: tuple[tuple[str, ContainerState], ...] = (
    ("up", "running"), ("exited", "exited"), ("created", "created"),
    ("restarting", "restarting"), ("removal", "removing"), ("dead", "dead"),
)
_HEALTH_BY_STATUS_MARKER: tuple[tuple[str, Health], ...] = (
    ("(unhealthy)", "unhealthy"), ("(healthy)", "healthy"),
    ("(health: starting)", "starting"),
)
_MOUNT_KINDS = {"volume", "bind", "tmpfs", "npipe", "cluster"}
_HEX_ID = re.compile(r"^[0-9a-f]{64}$")


def build_host_inventory(
    host: HostSettings, lists: dict[str, Any], collected_at: datetime
) -> HostInventory:
    """Map one host's Engine API answers to its inventory.

    ``lists`` holds the ``/version`` answer under "version", the negotiated
    "api_version", and the "containers", "images", "networks" and "volumes" lists.
    """
    anonymous = _anonymous_volume_names(lists["volumes"])
    name_by_id = {c["Id"]: _container_name(c) for c in lists["containers"]}
    return HostInventory(
        host=host.name,
        collected_at=collected_at,
        engine_version=lists["version"].get("Version", ""),
        api_version=lists["api_version"],
        os=lists["version"].get("Os", ""),
        containers=sorted(
            (_container(c, name_by_id, anonymous) for c in lists["containers"]),
            key=lambda c: c.name),
        images=sorted((_image(i) for i in lists["images"]), key=lambda i: i.id),
        networks=sorted((_network(n) for n in lists["networks"]),
                        key=lambda n: n.name),
        volumes=sorted((_volume(v, anonymous) for v in lists["volumes"]),
                       key=lambda v: v.name),
        notes=_notes(lists["containers"]),
    )


def _anonymous_volume_names(raw_volumes: list[dict[str, Any]]) -> set[str]:
    return {v["Name"] for v in raw_volumes
            if ANONYMOUS_VOLUME in (v.get("Labels") or {})
            or _HEX_ID.match(v.get("Name", ""))}


def _notes(raw_containers: list[dict[str, Any]]) -> list[str]:
    if any("Mounts" not in c for c in raw_containers):
        return ["This engine's API does not list mounts, so volumes and bind "
                "mounts are not drawn for its containers."]
    return []


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
        # The engine lists mounts in a new order on each request; sorted, the
        # same container gives the same inventory and picture every time.
        mounts=sorted((_mount(m, anonymous) for m in raw.get("Mounts") or []),
                      key=lambda m: m.target),
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


def _state(state: str | None, status: str) -> ContainerState:
    if state and state.lower() in _STATES:
        return cast(ContainerState, state.lower())
    # Engines before API 1.23 give no State; derive it from the Status text.
    lowered = status.lower()
    for prefix, derived in _STATE_BY_STATUS_PREFIX:
        if lowered.startswith(prefix):
            return "paused" if "(paused)" in lowered else derived
    return "created"


def _health(status: str) -> Health | None:
    # The list endpoint has no Health object before API 1.4x; Status carries it.
    lowered = status.lower()
    for marker, health in _HEALTH_BY_STATUS_MARKER:
        if marker in lowered:
            return health
    return None


def _network_mode(raw: dict[str, Any], name_by_id: dict[str, str]) -> str:
    mode = (raw.get("HostConfig") or {}).get("NetworkMode") or ""
    if mode.startswith("container:"):
        ref = mode.removeprefix("container:")
        matches = [n for cid, n in name_by_id.items() if cid.startswith(ref)]
        # A container that vanished between the engine's answers is shown by
        # short id; one that settings exclude is masked by bot.privacy.
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
    if kind not in _MOUNT_KINDS:
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

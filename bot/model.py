"""The fleet inventory: what was collected from each host, as plain data.

Everything past the collector sees these models, never Engine API dicts. They
serialise to JSON and back without loss (``Snapshot.model_dump_json`` and
``Snapshot.model_validate_json``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ContainerState = Literal[
    "created", "running", "paused", "restarting", "removing", "exited", "dead"
]
Health = Literal["starting", "healthy", "unhealthy"]
MountKind = Literal["volume", "bind", "tmpfs", "npipe", "cluster"]
Protocol = Literal["tcp", "udp", "sctp"]
FailureKind = Literal[
    "unreachable",
    "timeout",
    "certificate-expired",
    "certificate-not-yet-valid",
    "certificate-wrong-host",
    "certificate-untrusted",
    "handshake-refused",
    "tls-files",
    "api-error",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PublishedPort(_Model):
    """A host IP and port forwarded to a container port."""

    host_ip: str = ""  # "" or "0.0.0.0" or "::" mean every address
    host_port: int
    container_port: int
    protocol: Protocol = "tcp"


class Mount(_Model):
    """A volume, bind mount or tmpfs inside a container."""

    kind: MountKind
    source: str = ""  # volume name, host path, or "" for tmpfs
    target: str
    is_anonymous: bool = False
    is_read_only: bool = False


class NetworkAttachment(_Model):
    """A container's membership of one network."""

    network: str
    aliases: list[str] = Field(default_factory=list)
    ipv4: str = ""
    ipv6: str = ""


class Route(_Model):
    """A reverse-proxy router and the URLs it serves from one container."""

    router: str
    provider: Literal["traefik-v1", "traefik-v2"]
    protocol: Literal["http", "tcp", "udp"] = "http"
    rule: str = ""
    urls: list[str] = Field(default_factory=list)
    backend_port: int | None = None
    entrypoints: list[str] = Field(default_factory=list)
    is_parsed: bool = True
    problem: str = ""  # what the URLs leave out, or why the rule could not be read


class Container(_Model):
    """One container on a host, in any state."""

    id: str
    name: str  # without the leading "/"
    image_ref: str  # "repo:tag" as asked for, or the short image id
    image_id: str = ""
    state: ContainerState
    health: Health | None = None
    status: str = ""  # the engine's own words, e.g. "Up 3 hours"
    created_at: datetime | None = None
    compose_project: str = ""
    compose_service: str = ""
    network_mode: str = ""  # "host", "none", "container:<name>", a network, ""
    networks: list[NetworkAttachment] = Field(default_factory=list)
    ports: list[PublishedPort] = Field(default_factory=list)
    mounts: list[Mount] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def is_stopped(self) -> bool:
        """Not running and not about to: its reverse-proxy routes serve nothing."""
        return self.state in ("created", "exited", "dead")


class Image(_Model):
    """An image on a host: its id and the tags that still point at it."""

    id: str
    tags: list[str] = Field(default_factory=list)
    size_bytes: int = 0

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


class Network(_Model):
    """A Docker network on a host."""

    id: str
    name: str
    driver: str = ""
    scope: str = "local"
    subnets: list[str] = Field(default_factory=list)  # IPv4 and IPv6 CIDRs
    is_internal: bool = False
    has_ipv6: bool = False


class Volume(_Model):
    """A named or anonymous Docker volume."""

    name: str
    driver: str = "local"
    is_anonymous: bool = False


class HostInventory(_Model):
    """What one host runs, at the time it was collected."""

    host: str  # the host's name from settings
    collected_at: datetime
    engine_version: str = ""
    api_version: str = ""
    os: str = ""
    containers: list[Container] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    networks: list[Network] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # what could not be shown, why


class HostFailure(_Model):
    """A host that could not be collected, and why in the user's words."""

    host: str
    kind: FailureKind
    reason: str
    failed_at: datetime


class Inventory(_Model):
    """The fleet: every host collected, and every host that failed."""

    organization: str = ""
    hosts: list[HostInventory] = Field(default_factory=list)
    failures: list[HostFailure] = Field(default_factory=list)
    is_sample: bool = False

    @property
    def host_names(self) -> list[str]:
        return [h.host for h in self.hosts] + [f.host for f in self.failures]


class Snapshot(_Model):
    """An inventory saved with the time its collection finished."""

    collected_at: datetime
    inventory: Inventory

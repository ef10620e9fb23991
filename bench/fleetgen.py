"""Generate inventory snapshots: the shipped sample fleet and issue 5's fleets.

    python bench/fleetgen.py                 rewrite bot/data/sample-inventory.json
    python bench/fleetgen.py A out.json      write fleet A (5 x 60), B (1 x 300),
                                             C (12 x 25) or D (1 x 300, flat) as a
                                             snapshot

Everything is derived from fixed seeds, so the output is the same on every run.
"""

from __future__ import annotations

import hashlib
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.model import (
    Container,
    HostInventory,
    Image,
    Inventory,
    Mount,
    Network,
    NetworkAttachment,
    PublishedPort,
    Route,
    Snapshot,
    Volume,
)

COLLECTED_AT = datetime(2024, 11, 5, 7, 58, 12, tzinfo=timezone.utc)
DOMAIN = "collective.example"
SAMPLE_PATH = (
    Path(__file__).resolve().parent.parent / "bot" / "data" / "sample-inventory.json"
)
FLEETS = {"A": (5, 60), "B": (1, 300), "C": (12, 25), "D": (1, 300)}
# Fleets whose hosts have no compose project at all (see ``flat_host``).
FLAT_FLEETS = {"D"}
# Every engine lists these networks: name, driver, subnets.
_BUILTIN_NETWORKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("bridge", "bridge", ("172.17.0.0/16",)),
    ("host", "host", ()),
    ("none", "null", ()),
)


def _id(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


class HostBuilder:
    """Collects containers, networks and volumes of one generated host."""

    def __init__(self, name: str, engine: str = "24.0.7") -> None:
        self.name = name
        self.engine = engine
        self.containers: list[Container] = []
        self.networks: dict[str, Network] = {}
        self.volumes: dict[str, Volume] = {}
        self.images: dict[str, Image] = {}
        self.notes: list[str] = []
        self._builtin_networks()
        self.network("proxy", subnet_index=1)

    def _builtin_networks(self) -> None:
        """The three networks every engine lists, as the collector reports them."""
        for name, driver, subnets in _BUILTIN_NETWORKS:
            self.networks[name] = Network(
                id=_id(self.name, "net", name),
                name=name,
                driver=driver,
                subnets=list(subnets),
            )

    def network(self, name: str, subnet_index: int = 0, ipv6: bool = False) -> str:
        if name not in self.networks:
            # Built-in networks take no number: subnets stay as they were.
            made = len(self.networks) - len(_BUILTIN_NETWORKS)
            index = subnet_index or made + 20
            subnets = [f"172.{16 + index % 15}.{index // 15}.0/24"]
            if ipv6:
                subnets.append(f"fd00:{index:x}::/64")
            self.networks[name] = Network(
                id=_id(self.name, "net", name),
                name=name,
                driver="bridge",
                subnets=subnets,
                has_ipv6=ipv6,
            )
        return name

    def add(
        self,
        project: str,
        service: str,
        image: str,
        *,
        networks: tuple[str, ...] = ("default",),
        ports: tuple[PublishedPort, ...] = (),
        volumes: tuple[tuple[str, str], ...] = (),
        binds: tuple[tuple[str, str], ...] = (),
        urls: tuple[str, ...] = (),
        backend_port: int = 80,
        state: str = "running",
        health: str | None = None,
        network_mode: str = "",
        name: str = "",
    ) -> Container:
        name = name or (f"{project}-{service}-1" if project else service)
        attachments = []
        for network in networks if not network_mode else ():
            full = f"{project}_default" if network == "default" else network
            self.network(full)
            attachments.append(NetworkAttachment(network=full, aliases=[service]))
        if network_mode == "host":
            # The engine lists the "host" network among the container's networks.
            attachments.append(NetworkAttachment(network="host"))
        mounts = [self._volume_mount(project, v, t) for v, t in volumes]
        mounts += [Mount(kind="bind", source=s, target=t) for s, t in binds]
        routes = [
            Route(
                router=f"{project or service or name}-{i}",
                provider="traefik-v2",
                rule=f"Host(`{url.split('//')[1]}`)",
                urls=[url],
                backend_port=backend_port,
                entrypoints=["websecure"],
            )
            for i, url in enumerate(urls)
        ]
        image_id = "sha256:" + _id("image", image)
        self.images.setdefault(image_id, Image(id=image_id, tags=[image]))
        container = Container(
            id=_id(self.name, name),
            name=name,
            image_ref=image,
            image_id=image_id,
            state=state,  # type: ignore[arg-type]
            health=health,  # type: ignore[arg-type]
            status={"running": "Up 3 days", "exited": "Exited (1) 2 hours ago"}.get(
                state, state.capitalize()
            ),
            created_at=COLLECTED_AT - timedelta(days=12),
            compose_project=project,
            compose_service=service if project else "",
            network_mode=network_mode
            or (attachments[0].network if attachments else ""),
            networks=attachments,
            # Sorted as the collector sorts them; a port published on every
            # address is one entry with host_ip "", as the collector merges
            # the engine's 0.0.0.0 and :: pair.
            ports=sorted(ports, key=lambda p: (p.host_port, p.protocol, p.host_ip)),
            mounts=mounts,
            routes=routes,
        )
        self.containers.append(container)
        return container

    def _volume_mount(self, project: str, volume: str, target: str) -> Mount:
        if volume == "":
            name = _id(self.name, "anon", target, str(len(self.volumes)))
            self.volumes[name] = Volume(name=name, is_anonymous=True)
            return Mount(kind="volume", source=name, target=target, is_anonymous=True)
        name = f"{project}_{volume}" if project else volume
        self.volumes.setdefault(name, Volume(name=name))
        return Mount(kind="volume", source=name, target=target)

    def build(self) -> HostInventory:
        return HostInventory(
            host=self.name,
            collected_at=COLLECTED_AT,
            engine_version=self.engine,
            api_version="1.43",
            os="Debian GNU/Linux 12 (bookworm)",
            containers=self.containers,
            images=list(self.images.values()),
            networks=list(self.networks.values()),
            volumes=list(self.volumes.values()),
            notes=self.notes,
        )


def _traefik(host: HostBuilder) -> None:
    host.add(
        "traefik",
        "traefik",
        "traefik:v2.11",
        networks=("proxy",),
        ports=(
            PublishedPort(host_port=80, container_port=80),
            PublishedPort(host_port=443, container_port=443),
        ),
        binds=(("/var/run/docker.sock", "/var/run/docker.sock"),),
        volumes=(("certificates", "/letsencrypt"),),
    )


def _web_app(
    host: HostBuilder, project: str, image: str, url: str, db: str = ""
) -> None:
    host.add(
        project,
        "app",
        image,
        networks=("default", "proxy"),
        urls=(f"https://{url}.{DOMAIN}",),
        volumes=(("data", "/data"),),
    )
    if db == "postgres":
        host.add(
            project,
            "db",
            "postgres:15-alpine",
            volumes=(("db", "/var/lib/postgresql/data"),),
            health="healthy",
        )
    elif db == "mariadb":
        host.add(project, "db", "mariadb:10.11", volumes=(("db", "/var/lib/mysql"),))


def sample_snapshot() -> Snapshot:
    """The five hosts of a small collective, marked as a sample."""
    alpha = HostBuilder("alpha")
    _traefik(alpha)
    _web_app(alpha, "etherpad", "etherpad/etherpad:1.9.7", "pad", "postgres")
    _web_app(alpha, "nextcloud", "nextcloud:28-apache", "cloud", "mariadb")
    alpha.add("nextcloud", "redis", "redis:7-alpine")
    alpha.add(
        "nextcloud", "cron", "nextcloud:28-apache", volumes=(("data", "/var/www/html"),)
    )
    _web_app(alpha, "website", "wordpress:6.4-php8.2-apache", "www", "mariadb")
    _web_app(alpha, "blog-of-the-gardening-working-group", "ghost:5-alpine", "garden")
    alpha.add(
        "",
        "",
        "containrrr/watchtower:1.7.1",
        name="watchtower",
        networks=("monitoring-agents",),
        binds=(("/var/run/docker.sock", "/var/run/docker.sock"),),
    )

    bravo = HostBuilder("bravo")
    _traefik(bravo)
    _web_app(bravo, "gitea", "gitea/gitea:1.21", "git", "postgres")
    bravo.add(
        "gitea",
        "ssh",
        "gitea/gitea:1.21",
        ports=(PublishedPort(host_port=2222, container_port=22),),
        state="exited",
        name="gitea-ssh-legacy",
    )
    _web_app(
        bravo,
        "mattermost",
        "mattermost/mattermost-team-edition:9.3",
        "chat",
        "postgres",
    )
    _web_app(bravo, "hedgedoc", "quay.io/hedgedoc/hedgedoc:1.9.9", "notes", "postgres")
    _web_app(bravo, "vaultwarden", "vaultwarden/server:1.30.1", "vault")
    bravo.add(
        "backup",
        "borgmatic",
        "ghcr.io/borgmatic-collective/borgmatic:1.8",
        networks=("default",),
        binds=(("/srv", "/mnt/source"), ("/root/.ssh", "/root/.ssh")),
        state="restarting",
    )

    charlie = HostBuilder("charlie")
    _traefik(charlie)
    _web_app(charlie, "discourse", "bitnami/discourse:3.1.3", "forum", "postgres")
    charlie.add("discourse", "sidekiq", "bitnami/discourse:3.1.3")
    charlie.add("discourse", "redis", "redis:7-alpine", volumes=(("redis", "/data"),))
    _web_app(charlie, "keycloak", "quay.io/keycloak/keycloak:23.0", "login", "postgres")
    _web_app(
        charlie, "limesurvey", "martialblog/limesurvey:6-apache", "survey", "mariadb"
    )
    charlie.add("limesurvey", "mailer", "boky/postfix:v4.1", state="paused")
    _web_app(charlie, "collabora", "collabora/code:23.05.6.2.1", "office")

    media = HostBuilder("media")
    _traefik(media)
    _web_app(
        media, "peertube", "chocobozzz/peertube:v6.0.2-bookworm", "video", "postgres"
    )
    media.add("peertube", "redis", "redis:7-alpine", volumes=(("redis", "/data"),))
    media.add(
        "jellyfin",
        "jellyfin",
        "jellyfin/jellyfin:10.8.13",
        network_mode="host",
        binds=(("/srv/media", "/media"),),
        volumes=(("config", "/config"), ("", "/cache")),
    )
    media.add(
        "jellyfin",
        "transcode-worker",
        "linuxserver/ffmpeg:6.1.1",
        network_mode="none",
        binds=(("/srv/media", "/media"),),
        state="exited",
    )
    _web_app(media, "owncast", "owncast/owncast:0.1.2", "live")
    media.containers[-1:] = [
        media.containers[-1].model_copy(
            update={
                "ports": [
                    PublishedPort(
                        host_ip="192.0.2.10", host_port=1935, container_port=1935
                    )
                ],
                "health": "unhealthy",
            }
        )
    ]
    _web_app(media, "navidrome", "deluan/navidrome:0.51.0", "music")
    _web_app(media, "audiobookshelf", "ghcr.io/advplyr/audiobookshelf:2.7.2", "books")
    media.notes.append(
        "Routes from Traefik's file provider are not read; the "
        "Jellyfin URL is set there and is not shown."
    )

    directory = HostBuilder("directory")
    _traefik(directory)
    directory.add(
        "ldap",
        "openldap",
        "osixia/openldap:1.5.0",
        volumes=(("data", "/var/lib/ldap"),),
        ports=(PublishedPort(host_ip="10.0.0.5", host_port=636, container_port=636),),
    )
    _web_app(directory, "ldap", "osixia/phpldapadmin:0.9.0", "directory")
    mail_ports = tuple(
        PublishedPort(host_port=p, container_port=p) for p in (25, 465, 587, 993)
    )
    directory.add(
        "mail",
        "mailserver",
        "ghcr.io/docker-mailserver/docker-mailserver:13.2",
        ports=mail_ports,
        volumes=(("mail-data", "/var/mail"), ("mail-state", "/var/mail-state")),
        health="healthy",
    )
    _web_app(directory, "mail", "roundcube/roundcubemail:1.6.5-apache", "webmail")
    directory.network("monitoring_default", ipv6=True)
    _web_app(directory, "monitoring", "grafana/grafana:10.2.3", "grafana")
    directory.add(
        "monitoring",
        "prometheus",
        "prom/prometheus:v2.48.1",
        volumes=(("prometheus", "/prometheus"),),
        binds=(("/etc/prometheus", "/etc/prometheus"),),
    )
    directory.add("monitoring", "alertmanager", "prom/alertmanager:v0.26.0")
    directory.add(
        "monitoring",
        "node-exporter",
        "prom/node-exporter:v1.7.0",
        network_mode="host",
        binds=(("/", "/host"),),
    )
    directory.add(
        "monitoring",
        "blackbox",
        "prom/blackbox-exporter:v0.24.0",
        network_mode="container:monitoring-prometheus-1",
    )

    hosts = [b.build() for b in (alpha, bravo, charlie, media, directory)]
    return Snapshot(
        collected_at=COLLECTED_AT,
        inventory=Inventory(
            organization="Sample collective", hosts=hosts, is_sample=True
        ),
    )


_APPS = [
    ("etherpad", "etherpad/etherpad:1.9.7", "postgres"),
    ("nextcloud", "nextcloud:28-apache", "mariadb"),
    ("wiki", "requarks/wiki:2.5", "postgres"),
    ("gitea", "gitea/gitea:1.21", "postgres"),
    ("site", "wordpress:6.4-php8.2-apache", "mariadb"),
    ("forms", "martialblog/limesurvey:6-apache", "mariadb"),
    ("static", "nginx:1.25-alpine", ""),
    ("status", "louislam/uptime-kuma:1.23", ""),
]


def generated_host(name: str, count: int, seed: int) -> HostInventory:
    """A host of ``count`` containers in compose projects of one to six."""
    rng = random.Random(seed)
    host = HostBuilder(name)
    _traefik(host)
    number = 0
    while len(host.containers) < count:
        number += 1
        app, image, db = rng.choice(_APPS)
        project = f"{app}-{number:03d}"
        _web_app(host, project, image, f"{app}{number}", db)
        for extra in range(rng.choice([0, 0, 0, 1, 2, 3])):
            state = rng.choice(["running"] * 8 + ["exited", "restarting"])
            host.add(project, f"worker{extra}", image, state=state)
        if rng.random() < 0.08:
            host.add(
                "",
                "",
                "busybox:1.36",
                name=f"{name}-debug-{number}",
                networks=("proxy",),
                state="exited",
            )
    del host.containers[count:]
    return host.build()


def flat_host(name: str, count: int, seed: int) -> HostInventory:
    """A host of ``count`` lone containers, as bench/bench_collect.py builds.

    No compose project, one shared network "net", a named volume and a
    Traefik route each, and no Traefik container; states are mixed.
    """
    rng = random.Random(seed)
    host = HostBuilder(name)
    del host.networks["proxy"]
    for index in range(count):
        state = rng.choice(["created"] * 6 + ["running", "exited", "restarting"])
        host.add(
            "",
            "",
            "app:1",
            name=f"c{index:04d}",
            networks=("net",),
            volumes=((f"vol{index}", "/data"),),
            urls=(f"https://c{index}.example.org",),
            state=state,
        )
    return host.build()


def fleet_snapshot(fleet: str) -> Snapshot:
    """Fleet A, B, C or D of issue 5 as a snapshot."""
    hosts_count, containers = FLEETS[fleet]
    shape = flat_host if fleet in FLAT_FLEETS else generated_host
    hosts = [
        shape(f"{fleet.lower()}host{i + 1:02d}", containers, seed=i * 7919 + ord(fleet))
        for i in range(hosts_count)
    ]
    return Snapshot(
        collected_at=COLLECTED_AT,
        inventory=Inventory(organization=f"Fleet {fleet}", hosts=hosts),
    )


def main(argv: list[str]) -> int:
    if not argv:
        SAMPLE_PATH.write_text(
            sample_snapshot().model_dump_json(indent=1) + "\n", "utf-8"
        )
        print(f"wrote {SAMPLE_PATH}")
        return 0
    snapshot = fleet_snapshot(argv[0])
    Path(argv[1]).write_text(snapshot.model_dump_json(), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

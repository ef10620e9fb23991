"""Shared fixtures: a fleet of three real dockerd daemons built with every case.

``fleet`` is session-scoped: "general" and "media" listen on unix sockets,
"ldap" over TCP on 127.0.0.1 with mutual TLS. Use ``fleet.hosts`` (HostSettings
by name) to point graphbot at them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.settings import HostSettings
from tests.dockerd import (
    Daemon,
    TlsFiles,
    free_tcp_port,
    import_busybox,
    make_tls_files,
)
from tests.mattermost_server import MattermostServer

# A value that looks like a credential; it is set in test containers'
# environments and must never appear in any inventory.
SECRET = "s3cr3t-Hunter2-9f8e7d6c5b4a"
PAD_LABELS = {
    "traefik.enable": "true",
    "traefik.http.routers.pad.rule": "Host(`pad.example.org`)",
    "traefik.http.routers.pad.entrypoints": "websecure",
    "traefik.http.routers.pad.tls.certresolver": "letsencrypt",
    "traefik.http.services.pad.loadbalancer.server.port": "9001",
    # Not a routing label: its value is a password hash and must not be kept.
    "traefik.http.middlewares.padauth.basicauth.users": f"admin:{SECRET}",
    "com.docker.compose.project": "pad",
    "com.docker.compose.service": "etherpad",
    "org.example.backup-password": SECRET,
}
CLOUD_LABELS = {
    "traefik.frontend.rule": "Host:cloud.example.org,files.example.org;PathPrefix:/x",
    "traefik.port": "80",
    "traefik.frontend.entryPoints": "http",
}
LONG_NETWORK = "collective-shared-frontend-network-with-a-name-long-enough-to-distort"
LONG_VOLUME = "nextcloud-user-data-volume-with-a-name-that-goes-on-and-on-and-on-x"
HOSTILE_NAME = 'x"];evil[label="<b>pwn</b>'


@dataclass
class Fleet:
    """The test fleet: daemons and the HostSettings that reach them."""

    daemons: dict[str, Daemon]
    hosts: dict[str, HostSettings]
    tls: TlsFiles
    work: Path
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def host_list(self) -> list[HostSettings]:
        return list(self.hosts.values())


@pytest.fixture
def chat_server() -> Iterator[MattermostServer]:
    """A Mattermost-compatible server; any request off the API reference fails."""
    server = MattermostServer()
    server.start()
    try:
        yield server
        assert server.violations == []
    finally:
        server.close()


@pytest.fixture(scope="session")
def daemon_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    Callable[..., Daemon]
]:
    """Start extra daemons for a test session; all are stopped at the end."""
    started: list[Daemon] = []

    def start(name: str, tls: TlsFiles | None = None) -> Daemon:
        daemon = Daemon(name, tls=tls)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three real daemons at once, holding every case collection must handle."""
    work = tmp_path_factory.mktemp("fleet")
    tls = make_tls_files(work / "ldap-tls")
    daemons = {
        "general": Daemon("general"),
        "media": Daemon("media"),
        "ldap": Daemon("ldap", tls=tls),
    }
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda d: d.start(), daemons.values()))
            facts_by_host = dict(zip(daemons, pool.map(
                lambda item: _BUILDERS[item[0]](item[1], work), daemons.items())))
        yield Fleet(
            daemons=daemons,
            hosts={name: d.host_settings(name) for name, d in daemons.items()},
            tls=tls,
            work=work,
            facts={k: v for facts in facts_by_host.values() for k, v in facts.items()},
        )
    finally:
        for daemon in daemons.values():
            daemon.stop()


def _run(daemon: Daemon, name: str, image: str, *args: str,
         labels: dict[str, str] | None = None, command: tuple[str, ...] = (
             "sleep", "86400")) -> None:
    label_args = [
        part for k, v in (labels or {}).items() for part in ("-l", f"{k}={v}")
    ]
    daemon.docker("run", "-d", "--name", name, "-e", f"API_TOKEN={SECRET}",
                  *label_args, *args, image, *command)


def _build_general(daemon: Daemon, work: Path) -> dict[str, str]:
    daemon.import_rootfs("etherpad/etherpad:1.9", "traefik:v2.11", "traefik:1.7",
                         "nextcloud:28", "postgres:15")
    import_busybox(daemon, "oldapp:1.0", label="old")
    v6 = daemon.slot.subnet_v6(1)  # type: ignore[union-attr]
    daemon.docker("network", "create", "frontend")
    daemon.docker("network", "create", "backend")
    daemon.docker("network", "create", "--ipv6", "--subnet", v6, "dualstack")
    daemon.docker("network", "create", LONG_NETWORK)
    daemon.docker("volume", "create", "pgdata")
    daemon.docker("volume", "create", LONG_VOLUME)
    bind_source = work / "general-bind"
    bind_source.mkdir()
    # Engines reserve published ports on this machine, so pick free ones.
    proxy_port, cloud_port = free_tcp_port(), free_tcp_port()

    _run(daemon, "traefik", "traefik:v2.11", "--network", "frontend",
         "-p", f"127.0.0.1:{proxy_port}:80",
         labels={"com.docker.compose.project": "proxy",
                 "com.docker.compose.service": "traefik"})
    _run(daemon, "etherpad", "etherpad/etherpad:1.9", "--network", "frontend",
         "--network-alias", "pad", "--expose", "9001", labels=PAD_LABELS)
    daemon.docker("network", "connect", "backend", "etherpad")
    _run(daemon, "postgres", "postgres:15", "--network", "backend",
         "-v", "pgdata:/var/lib/postgresql/data", "-v", "/scratch",
         "--health-cmd", "true", "--health-interval", "1s",
         "-e", f"POSTGRES_PASSWORD={SECRET}",
         labels={"traefik.tcp.routers.pg.rule": "HostSNI(`db.example.org`)",
                 "traefik.tcp.routers.pg.tls": "true",
                 "traefik.tcp.services.pg.loadbalancer.server.port": "5432"})
    _run(daemon, "nextcloud", "nextcloud:28", "--network", "dualstack",
         "-v", f"{bind_source}:/srv/config:ro", "-v", f"{LONG_VOLUME}:/var/www",
         "--mount", "type=tmpfs,destination=/cache", "--expose", "80",
         # An IPv6 binding needs an IPv6 network when the userland proxy is off.
         "-p", f"[::1]:{cloud_port}:443",
         labels=CLOUD_LABELS)
    daemon.docker("network", "connect", LONG_NETWORK, "nextcloud")
    _run(daemon, "host-agent", "traefik:1.7", "--network", "host")
    _run(daemon, "offline_job", "postgres:15", "--network", "none")
    _run(daemon, "pad-sidecar", "etherpad/etherpad:1.9", "--network",
         "container:etherpad")
    _run(daemon, "web.frontend-1_a", "nextcloud:28", "--network", "frontend")
    _run(daemon, "legacy.app", "oldapp:1.0", "--network", "backend")
    daemon.docker("rmi", "-f", "oldapp:1.0")
    # Engine names allow only [a-zA-Z0-9_.-]; hostile text arrives in labels.
    _run(daemon, "hostile", "postgres:15", "--network", "backend",
         labels={"traefik.http.routers.evil.rule": HOSTILE_NAME,
                 "com.docker.compose.project": HOSTILE_NAME})
    daemon.docker("create", "--name", "not.started", "--network", "none",
                  "-e", f"API_TOKEN={SECRET}", "postgres:15", "sleep", "60")
    _run(daemon, "batch-job", "postgres:15", "--network", "none", command=("true",))
    _run(daemon, "crashy", "postgres:15", "--network", "none", "--restart", "always",
         command=("false",))
    _run(daemon, "frozen", "postgres:15", "--network", "none")
    daemon.docker("pause", "frozen")
    _run(daemon, "sick", "postgres:15", "--network", "none",
         "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1")
    _wait_for_state(daemon, "batch-job", "exited")
    _wait_for_state(daemon, "postgres", "healthy", "{{.State.Health.Status}}")
    _wait_for_state(daemon, "sick", "unhealthy", "{{.State.Health.Status}}")
    _wait_for_state(daemon, "crashy", "restarting")
    return {
        "dualstack_v6": v6,
        "bind_source": str(bind_source),
        "proxy_port": str(proxy_port),
        "cloud_port": str(cloud_port),
    }


def _build_media(daemon: Daemon, work: Path) -> dict[str, str]:
    daemon.import_rootfs("jellyfin/jellyfin:10.8", "linuxserver/transmission:4")
    daemon.docker("network", "create", "media-net")
    tv_port = free_tcp_port()
    _run(daemon, "jellyfin", "jellyfin/jellyfin:10.8", "--network", "media-net",
         "-p", f"{tv_port}:8096",
         labels={"traefik.http.routers.tv.rule":
                 "Host(`tv.example.org`) || Host(`films.example.org`)",
                 "traefik.http.routers.tv.tls": "true"})
    _run(daemon, "transmission", "linuxserver/transmission:4", "--network",
         "media-net", labels={"com.docker.compose.project": "media",
                              "com.docker.compose.service": "torrent"})
    return {"tv_port": str(tv_port)}


def _build_ldap(daemon: Daemon, work: Path) -> dict[str, str]:
    daemon.import_rootfs("osixia/openldap:1.5")
    daemon.docker("network", "create", "ldap-net")
    ldap_port = free_tcp_port()
    _run(daemon, "openldap", "osixia/openldap:1.5", "--network", "ldap-net",
         "-p", f"127.0.0.1:{ldap_port}:389", "-e", f"LDAP_ADMIN_PASSWORD={SECRET}")
    return {"ldap_port": str(ldap_port)}


_BUILDERS: dict[str, Callable[[Daemon, Path], dict[str, str]]] = {
    "general": _build_general,
    "media": _build_media,
    "ldap": _build_ldap,
}


def _wait_for_state(
    daemon: Daemon, name: str, state: str, template: str = "{{.State.Status}}",
    timeout: float = 30,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = daemon.docker("inspect", "-f", template, name).stdout.strip()
        if found == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"container {name} never reached state {state}")

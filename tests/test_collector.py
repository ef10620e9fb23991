"""Collection against real dockerd daemons: every case of issue 2."""

from __future__ import annotations

import functools
import http.server
import re
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.collector import REQUESTS_PER_HOST, collect_fleet, collect_host
from bot.errors import CertificateProblem, HostNotCollected, HostUnreachable
from bot.model import Container, HostInventory, Inventory, Snapshot
from bot.privacy import EXCLUDED_STACK
from bot.settings import HostSettings
from tests import certs
from tests.conftest import (
    HOSTILE_NAME,
    LONG_NETWORK,
    LONG_VOLUME,
    SECRET,
    Fleet,
)
from tests.dockerd import (
    CountingProxy,
    TlsFiles,
    free_tcp_port,
    import_busybox,
    make_tls_files,
)


@pytest.fixture(scope="module")
def inventory(fleet: Fleet) -> Inventory:
    return collect_fleet(fleet.host_list, "Test collective")


@pytest.fixture(scope="module")
def general(inventory: Inventory) -> HostInventory:
    return next(h for h in inventory.hosts if h.host == "general")


def _container(host: HostInventory, name: str) -> Container:
    return next(c for c in host.containers if c.name == name)


# What is collected --------------------------------------------------------------


def test_all_three_hosts_are_collected_including_mutual_tls(inventory: Inventory):
    """The unix-socket hosts and the TCP host with mutual TLS all answer."""
    assert inventory.failures == []
    assert sorted(h.host for h in inventory.hosts) == ["general", "ldap", "media"]
    ldap = next(h for h in inventory.hosts if h.host == "ldap")
    assert [c.name for c in ldap.containers] == ["openldap"]
    assert ldap.api_version and ldap.engine_version


def test_network_modes_host_none_and_other_container_are_shown(general: HostInventory):
    assert _container(general, "host-agent").network_mode == "host"
    assert _container(general, "offline_job").network_mode == "none"
    assert _container(general, "offline_job").networks == []
    sidecar = _container(general, "pad-sidecar")
    assert sidecar.network_mode == "container:etherpad"


def test_container_on_two_networks_is_attached_to_both(general: HostInventory):
    etherpad = _container(general, "etherpad")

    names = [a.network for a in etherpad.networks]

    assert names == ["backend", "frontend"]
    assert all(a.ipv4 for a in etherpad.networks)


def test_dual_stack_network_has_both_subnets_and_gives_ipv6(
    fleet: Fleet, general: HostInventory
):
    network = next(n for n in general.networks if n.name == "dualstack")
    nextcloud = _container(general, "nextcloud")
    attachment = next(a for a in nextcloud.networks if a.network == "dualstack")

    assert network.has_ipv6
    assert fleet.facts["dualstack_v6"] in network.subnets
    assert any("." in s for s in network.subnets)
    assert attachment.ipv4 and attachment.ipv6.startswith("fd42:6762:")


def test_containers_in_every_state_are_shown_with_their_state(general: HostInventory):
    states = {c.name: c.state for c in general.containers}

    assert states["not.started"] == "created"
    assert states["batch-job"] == "exited"
    assert states["crashy"] == "restarting"
    assert states["frozen"] == "paused"
    assert states["etherpad"] == "running"


def test_health_reported_by_the_engine_is_collected(general: HostInventory):
    """A passing health check reads healthy, a failing one unhealthy, none none."""
    health = {c.name: c.health for c in general.containers}

    assert health["postgres"] == "healthy"
    assert health["sick"] == "unhealthy"
    assert health["etherpad"] is None


def test_container_whose_tag_was_removed_shows_short_image_id(general: HostInventory):
    legacy = _container(general, "legacy.app")
    image = next(i for i in general.images if i.id == legacy.image_id)

    assert legacy.image_ref == image.short_id
    assert len(legacy.image_ref) == 12
    assert image.tags == []


def test_images_list_every_tag_of_the_shared_rootfs(general: HostInventory):
    tags = {tag for image in general.images for tag in image.tags}

    assert {"etherpad/etherpad:1.9", "traefik:v2.11", "postgres:15"} <= tags


def test_named_and_anonymous_volumes_are_told_apart(general: HostInventory):
    mounts = {m.target: m for m in _container(general, "postgres").mounts}
    volumes = {v.name: v for v in general.volumes}

    assert mounts["/var/lib/postgresql/data"].source == "pgdata"
    assert not mounts["/var/lib/postgresql/data"].is_anonymous
    assert mounts["/scratch"].kind == "volume" and mounts["/scratch"].is_anonymous
    assert volumes[mounts["/scratch"].source].is_anonymous
    assert not volumes["pgdata"].is_anonymous


def test_bind_mount_and_tmpfs_are_collected(fleet: Fleet, general: HostInventory):
    mounts = {m.target: m for m in _container(general, "nextcloud").mounts}

    assert mounts["/srv/config"].kind == "bind"
    assert mounts["/srv/config"].source == fleet.facts["bind_source"]
    assert mounts["/srv/config"].is_read_only
    assert mounts["/cache"].kind == "tmpfs" and mounts["/cache"].source == ""
    assert mounts["/var/www"].source == LONG_VOLUME


def test_ports_keep_their_host_ip_for_ipv4_and_ipv6(inventory: Inventory, fleet):
    general = next(h for h in inventory.hosts if h.host == "general")
    media = next(h for h in inventory.hosts if h.host == "media")

    traefik_ports = _container(general, "traefik").ports
    nextcloud_ports = _container(general, "nextcloud").ports
    jellyfin_ports = _container(media, "jellyfin").ports

    assert [(p.host_ip, p.host_port, p.container_port) for p in traefik_ports] == [
        ("127.0.0.1", int(fleet.facts["proxy_port"]), 80)]
    assert [(p.host_ip, p.host_port, p.container_port) for p in nextcloud_ports] == [
        ("::1", int(fleet.facts["cloud_port"]), 443)]
    assert len(jellyfin_ports) == 1
    assert jellyfin_ports[0].host_ip in {"", "0.0.0.0"}


def test_unusual_names_survive_verbatim(general: HostInventory):
    names = {c.name for c in general.containers}

    assert {"web.frontend-1_a", "not.started", "offline_job", "pad-sidecar"} <= names
    assert LONG_NETWORK in {n.name for n in general.networks}
    assert LONG_VOLUME in {v.name for v in general.volumes}
    assert not any(name.startswith("/") for name in names)


def test_etherpad_behind_traefik_is_served_at_its_url(general: HostInventory):
    [route] = _container(general, "etherpad").routes

    assert route.urls == ["https://pad.example.org"]
    assert route.backend_port == 9001
    assert route.provider == "traefik-v2"


def test_traefik_v1_and_tcp_routes_are_collected(inventory: Inventory):
    general = next(h for h in inventory.hosts if h.host == "general")
    media = next(h for h in inventory.hosts if h.host == "media")

    [cloud] = _container(general, "nextcloud").routes
    [database] = _container(general, "postgres").routes
    [tv] = _container(media, "jellyfin").routes

    assert cloud.urls == ["http://cloud.example.org/x", "http://files.example.org/x"]
    assert cloud.backend_port == 80 and cloud.provider == "traefik-v1"
    assert database.protocol == "tcp" and database.urls == ["tcp://db.example.org"]
    assert tv.urls == ["https://tv.example.org", "https://films.example.org"]


def test_compose_project_and_service_are_collected(general: HostInventory):
    etherpad = _container(general, "etherpad")

    assert (etherpad.compose_project, etherpad.compose_service) == ("pad", "etherpad")


def test_hostile_label_text_is_kept_verbatim_and_rule_marked_unreadable(
    general: HostInventory,
):
    hostile = _container(general, "hostile")
    [route] = hostile.routes

    assert hostile.compose_project == HOSTILE_NAME
    assert route.rule == HOSTILE_NAME
    assert not route.is_parsed and "evil" in route.problem


def test_inventory_survives_a_json_round_trip(inventory: Inventory):
    snapshot = Snapshot(collected_at=inventory.hosts[0].collected_at,
                        inventory=inventory)

    again = Snapshot.model_validate_json(snapshot.model_dump_json())

    assert again == snapshot


def test_environment_commands_and_other_labels_never_reach_the_json(
    inventory: Inventory,
):
    """Secret env values, commands and non-routing label values are not collected."""
    text = inventory.model_dump_json()

    assert SECRET not in text
    assert "API_TOKEN" not in text and "POSTGRES_PASSWORD" not in text
    assert "sleep 86400" not in text and "86400" not in text
    assert "backup-password" not in text and "basicauth" not in text


def test_excluded_containers_are_left_out_and_not_named(fleet: Fleet):
    host = fleet.hosts["general"].model_copy(update={"exclude": ["ether*", "*.app"]})
    [etherpad] = fleet.daemons["general"].inspect("etherpad")

    collected = collect_host(host)

    names = {c.name for c in collected.containers}
    assert "etherpad" not in names and "legacy.app" not in names
    sidecar = _container(collected, "pad-sidecar")
    assert sidecar.network_mode == EXCLUDED_STACK
    assert etherpad["Id"][:12] not in collected.model_dump_json()


@pytest.fixture(scope="module")
def private_host(daemon_factory) -> tuple[HostSettings, dict]:
    """A host whose "vault" container is excluded; it alone uses some things."""
    daemon = daemon_factory("excluding")
    daemon.import_rootfs("app:1")
    import_busybox(daemon, "vault:1", label="vault")
    for network in ("shared", "vault-net", "idle-net"):
        daemon.docker("network", "create", network)
    for volume in ("vault-data", "idle-data"):
        daemon.docker("volume", "create", volume)
    daemon.docker("run", "-d", "--name", "vault", "--network", "vault-net",
                  "-v", "vault-data:/data", "-v", "/var/lib/data", "vault:1",
                  "sleep", "86400")
    daemon.docker("run", "-d", "--name", "metrics", "--network", "container:vault",
                  "app:1", "sleep", "86400")
    daemon.docker("run", "-d", "--name", "web", "--network", "shared", "app:1",
                  "sleep", "86400")
    [vault] = daemon.inspect("vault")
    return daemon.host_settings("private", exclude=["vault"]), vault


def test_what_only_an_excluded_container_uses_is_left_out_too(private_host):
    """Its network, volumes and image go; a sidecar's mode does not name it."""
    host, vault = private_host
    anonymous = next(m["Name"] for m in vault["Mounts"]
                     if m["Destination"] == "/var/lib/data")

    collected = collect_host(host)

    text = collected.model_dump_json()
    assert "vault" not in text
    assert vault["Id"][:12] not in text and anonymous not in text
    assert _container(collected, "metrics").network_mode == EXCLUDED_STACK
    assert {c.name for c in collected.containers} == {"metrics", "web"}


def test_networks_and_volumes_no_container_uses_stay_when_excluding(private_host):
    host, _ = private_host

    collected = collect_host(host)

    assert {"shared", "idle-net"} <= {n.name for n in collected.networks}
    assert {v.name for v in collected.volumes} == {"idle-data"}
    assert [i.tags for i in collected.images] == [["app:1"]]


# How it is collected -------------------------------------------------------------


@pytest.fixture()
def counting_host(daemon_factory, tmp_path: Path) -> Iterator[tuple]:
    daemon = daemon_factory("counting")
    daemon.import_rootfs("app:1")
    daemon.docker("network", "create", "net")
    proxy = CountingProxy(daemon.socket_path, daemon.root)
    yield daemon, proxy, HostSettings(name="counting", url=proxy.url)
    proxy.close()


def _create(daemon, count: int, start: int = 0) -> None:
    for index in range(start, start + count):
        daemon.docker("create", "--name", f"c{index:03d}", "--network", "net",
                      "-v", f"vol{index}:/data", "-p", f"{20000 + index}:80", "app:1")


def test_request_count_is_constant_and_read_only(counting_host):
    """Five GET requests per host with 2 containers and with 32 alike."""
    daemon, proxy, host = counting_host
    _create(daemon, 2)
    proxy.reset()
    small = collect_host(host)
    few_requests = list(proxy.requests)

    _create(daemon, 30, start=2)
    proxy.reset()
    large = collect_host(host)
    many_requests = list(proxy.requests)

    assert (len(small.containers), len(large.containers)) == (2, 32)
    assert len(few_requests) == len(many_requests) == REQUESTS_PER_HOST
    assert {method for method, _ in few_requests + many_requests} == {"GET"}
    endpoints = {re.sub(r"^/v[0-9.]+", "", path.split("?")[0])
                 for _, path in many_requests}
    assert endpoints == {"/version", "/containers/json", "/images/json", "/networks",
                         "/volumes"}


def _silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture()
def silent_port() -> Iterator[int]:
    yield from _silent_listener()


def test_failing_hosts_are_reported_and_others_collected(
    fleet: Fleet, silent_port: int, tmp_path: Path
):
    other_ca = certs.make_ca(tmp_path / "other")
    hosts = [
        fleet.hosts["general"],
        HostSettings(name="refusing", url=f"tcp://127.0.0.1:{free_tcp_port()}"),
        HostSettings(name="silent", url=f"tcp://127.0.0.1:{silent_port}",
                     timeout_seconds=1),
        fleet.hosts["ldap"].model_copy(update={"name": "wrong-ca",
                                               "ca_cert": other_ca.cert_path}),
        fleet.hosts["media"],
    ]

    inventory = collect_fleet(hosts, "Test collective")

    assert [h.host for h in inventory.hosts] == ["general", "media"]
    kinds = {f.host: f.kind for f in inventory.failures}
    assert kinds == {"refusing": "unreachable", "silent": "timeout",
                     "wrong-ca": "certificate-untrusted"}
    reasons = {f.host: f.reason for f in inventory.failures}
    assert "dockerd" in reasons["refusing"]
    assert "timeout_seconds" in reasons["silent"]
    assert "ca_cert" in reasons["wrong-ca"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def web_server(tmp_path: Path) -> Iterator[int]:
    """A plain web server on 127.0.0.1 that answers 404 with an HTML page."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def test_web_server_that_is_no_engine_gets_one_short_sentence(web_server: int):
    """The HTML error page is not repeated; the reason says what to check."""
    url = f"tcp://127.0.0.1:{web_server}"

    inventory = collect_fleet([HostSettings(name="web", url=url)], "Test collective")

    [failure] = inventory.failures
    assert failure.kind == "unreachable"
    assert failure.reason == (
        f"the service at {url} does not answer like a Docker engine (HTTP 404). "
        "Check the url and port.")


def test_long_engine_error_is_cut_to_one_short_line(counting_host):
    """A real engine error is kept, on one line and shortened."""
    daemon, _, _ = counting_host
    # Ask for a network that does not exist, named by 300 characters, in
    # place of the network list: the engine says so at length.
    missing = b"x" * 300
    proxy = CountingProxy(daemon.socket_path, daemon.root, rewrite=lambda data: (
        re.sub(rb"(GET /v[0-9.]+/networks)([ ?])", rb"\1/" + missing + rb"\2", data)))
    host = HostSettings(name="erring", url=proxy.url)

    try:
        with pytest.raises(HostNotCollected) as raised:
            collect_host(host)
    finally:
        proxy.close()

    reason = raised.value.reason
    assert raised.value.kind == "api-error"
    assert reason.startswith("the engine answered with an error (network xxxxx")
    assert reason.endswith("…). Check the engine's log on that host.")
    assert len(reason) < 250


def test_missing_unix_socket_is_named_in_the_reason(tmp_path: Path):
    host = HostSettings(name="gone", url=f"unix://{tmp_path}/docker.sock")

    with pytest.raises(HostUnreachable) as raised:
        collect_host(host)

    assert raised.value.kind == "unreachable"
    assert f"{tmp_path}/docker.sock" in str(raised.value)
    assert str(raised.value).startswith('Host "gone" was not collected')


# Certificate failures ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_failure_daemons(daemon_factory, tmp_path_factory) -> dict[str, HostSettings]:
    """A daemon whose server certificate expired, and one issued for another name."""
    expired = make_tls_files(tmp_path_factory.mktemp("expired"), server_days=-1)
    wrong = make_tls_files(tmp_path_factory.mktemp("wrong"),
                           server_names=("docker.elsewhere.example",), server_ips=())
    return {
        "expired": daemon_factory("expired", tls=expired).host_settings("expired"),
        "wrong": daemon_factory("wrong", tls=wrong).host_settings("wrong"),
        "old-ca": daemon_factory("old-ca", tls=_tls_with_expired_ca(
            tmp_path_factory.mktemp("old-ca"))).host_settings("old-ca"),
    }


def _tls_with_expired_ca(directory: Path) -> TlsFiles:
    ca = certs.make_ca(directory, days=-1, not_before_days=60)
    server = certs.issue(ca, directory, "server", common_name="dockerd", is_server=True,
                         not_before_days=30, ip_addresses=("127.0.0.1",))
    client = certs.issue(ca, directory, "client", common_name="graphbot",
                         is_server=False, not_before_days=30)
    return TlsFiles(directory, ca, server, client)


def test_expired_server_certificate_is_reported_as_expired(tls_failure_daemons):
    with pytest.raises(CertificateProblem) as raised:
        collect_host(tls_failure_daemons["expired"])

    assert raised.value.kind == "certificate-expired"
    assert "server certificate" in raised.value.reason


def test_expired_ca_is_named_rather_than_the_server_certificate(tls_failure_daemons):
    """OpenSSL blames "a certificate"; the reason names the CA that expired."""
    with pytest.raises(CertificateProblem) as raised:
        collect_host(tls_failure_daemons["old-ca"])

    assert raised.value.kind == "certificate-expired"
    assert "CA certificate" in raised.value.reason
    assert "server certificate" not in raised.value.reason


def test_server_certificate_for_another_name_is_reported(tls_failure_daemons):
    with pytest.raises(CertificateProblem) as raised:
        collect_host(tls_failure_daemons["wrong"])

    assert raised.value.kind == "certificate-wrong-host"
    assert "127.0.0.1" in raised.value.reason


def test_client_certificate_from_another_ca_is_refused_by_the_engine(
    fleet: Fleet, tmp_path: Path
):
    stranger_ca = certs.make_ca(tmp_path)
    stranger = certs.issue(stranger_ca, tmp_path, "client", common_name="stranger",
                           is_server=False)
    host = fleet.hosts["ldap"].model_copy(
        update={"cert": stranger.cert_path, "key": stranger.key_path})

    with pytest.raises(CertificateProblem) as raised:
        collect_host(host)

    assert raised.value.kind == "handshake-refused"
    assert str(stranger.cert_path) in raised.value.reason


def test_expired_client_certificate_is_reported_as_expired(fleet: Fleet, tmp_path):
    expired = certs.issue(fleet.tls.ca, tmp_path, "client", common_name="old",
                          is_server=False, days=-2, not_before_days=30)
    host = fleet.hosts["ldap"].model_copy(
        update={"cert": expired.cert_path, "key": expired.key_path})

    with pytest.raises(CertificateProblem) as raised:
        collect_host(host)

    assert raised.value.kind == "certificate-expired"
    assert "client certificate" in raised.value.reason


def test_unreadable_tls_file_is_named(fleet: Fleet, tmp_path: Path):
    broken = tmp_path / "client.pem"
    broken.write_text("this is not a certificate\n")
    host = fleet.hosts["ldap"].model_copy(update={"cert": broken})

    with pytest.raises(CertificateProblem) as raised:
        collect_host(host)

    assert raised.value.kind == "tls-files"
    assert str(broken) in raised.value.reason


def test_key_of_another_certificate_is_named_with_its_certificate(
    fleet: Fleet, tmp_path: Path
):
    """Not a wrong server host name: the cert and key files do not match."""
    other = certs.issue(fleet.tls.ca, tmp_path, "other", common_name="other",
                        is_server=False)
    host = fleet.hosts["ldap"].model_copy(update={"key": other.key_path})

    with pytest.raises(CertificateProblem) as raised:
        collect_host(host)

    assert raised.value.kind == "tls-files"
    assert str(fleet.tls.client.cert_path) in raised.value.reason
    assert str(other.key_path) in raised.value.reason


def test_tls_host_whose_port_speaks_plain_http_is_told_it_serves_no_tls(
    fleet: Fleet, web_server: int
):
    """Not "the engine refused our client certificate": there was no TLS at all."""
    host = fleet.hosts["ldap"].model_copy(
        update={"url": f"tcp://127.0.0.1:{web_server}"})

    with pytest.raises(CertificateProblem) as raised:
        collect_host(host)

    assert "does not serve TLS" in raised.value.reason
    assert "without TLS settings" in raised.value.reason
    assert "client certificate" not in raised.value.reason


def test_host_without_tls_settings_at_a_tls_port_is_told_to_set_them(fleet: Fleet):
    host = HostSettings(name="bare", url=fleet.hosts["ldap"].url)

    with pytest.raises(HostUnreachable) as raised:
        collect_host(host)

    assert "serves TLS" in raised.value.reason
    assert "ca_cert, cert and key" in raised.value.reason
    assert "HTTPS server" not in raised.value.reason


def test_ssh_host_without_the_ssh_program_is_told_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no ssh program
    host = HostSettings(name="remote", url="ssh://graphbot@127.0.0.1")

    with pytest.raises(HostUnreachable) as raised:
        collect_host(host)

    assert "ssh client program is not installed" in raised.value.reason
    assert "openssh-client" in raised.value.reason


def test_fields_that_other_api_versions_omit_do_not_break_collection():
    """Lists from engines without State, Mounts, NetworkSettings or HostConfig."""
    from bot.engine_mapping import build_host_inventory  # fed plain lists

    raw = {
        "version": {"Version": "1.12.6"},
        "api_version": "1.24",
        "containers": [
            {"Id": "a" * 64, "Names": ["/old-web", "/proxy/web"], "Image": "web:1",
             "Status": "Up 2 hours (Paused)", "Created": 1, "Labels": None,
             "Ports": None, "HostConfig": None, "NetworkSettings": None},
            {"Id": "b" * 64, "Names": ["/db"], "Image": "sha256:" + "c" * 64,
             "ImageID": "sha256:" + "c" * 64, "Status": "Up 1 hour (unhealthy)",
             "NetworkSettings": {"Networks": {"lan": None}},
             "Mounts": [{"Name": "d" * 64, "Destination": "/var/lib/db"}]},
        ],
        "images": [{"Id": "sha256:" + "c" * 64, "RepoTags": None}],
        "networks": [{"Id": "n1", "Name": "lan", "IPAM": None}],
        "volumes": [{"Name": "d" * 64, "Labels": None}],
    }
    host = HostSettings(name="old", url="unix:///nowhere.sock")

    inventory = build_host_inventory(host, raw, datetime.now(timezone.utc))

    web, db = sorted(inventory.containers, key=lambda c: c.name, reverse=True)
    assert (web.name, web.state, web.networks, web.mounts) == (
        "old-web", "paused", [], [])
    assert (db.state, db.health, db.image_ref) == ("running", "unhealthy", "c" * 12)
    assert db.mounts[0].kind == "volume" and db.mounts[0].is_anonymous
    assert [a.network for a in db.networks] == ["lan"]
    assert any("mounts" in note for note in inventory.notes)

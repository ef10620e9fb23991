"""Collection from a real engine that answers as an older Engine API version.

dockerd 20.10 still serves every API version down to its minimum when asked by
URL prefix (``/v1.24/containers/json``). ``OlderEngineProxy`` sits in front of
the fleet's "general" daemon and makes it look like an older engine: its
unversioned ``/version`` answer names the older version, so the collector
negotiates that one, and any versioned path is sent to the daemon at it. Every
answer is the daemon's own.

What 20.10 really returns (checked with curl on its socket, versions 1.12 to
1.41): the container, image and volume lists are the same at every version,
Mounts, State, HostConfig and NetworkSettings included; the network list of
versions before 1.28 also names each network's containers. So the inventory
must come out the same at every version, with no note claiming something is
missing and no health the engine did not report.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.collector import REQUESTS_PER_HOST, collect_host
from bot.model import HostInventory
from bot.settings import HostSettings
from tests.conftest import Fleet

# "oldest" is the minimum the daemon itself names; 1.24 is docker-py's own
# minimum; 1.30 lies past the change in the network list at 1.28.
OLDER_VERSIONS = ("oldest", "1.24", "1.30")
# Restarted with growing back-off, so between two collections its state moves.
FLAPPING = "crashy"
_VERSION_PREFIX = re.compile(r"^/v[0-9]+\.[0-9]+/")
_VERSION_PATH = re.compile(r"^(/v[0-9]+\.[0-9]+)?/version(\?|$)")


class _UnixConnection(http.client.HTTPConnection):
    """An HTTP connection to a daemon's unix socket."""

    def __init__(self, socket_path: Path) -> None:
        super().__init__("localhost")
        self.socket_path = socket_path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.socket_path))


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _get_json(socket_path: Path, path: str) -> Any:
    connection = _UnixConnection(socket_path)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: OlderEngineProxy

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.server.record(self.command, self.path)
        return parsed

    def do_GET(self) -> None:
        path = _VERSION_PREFIX.sub(f"/v{self.server.api_version}/", self.path, 1)
        connection = _UnixConnection(self.server.upstream)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        if answer.status == 200 and _VERSION_PATH.match(path):
            body = self.server.older_version_answer(body)
        self.send_response(answer.status)
        self.send_header("Content-Type",
                         answer.getheader("Content-Type") or "application/json")
        self.send_header("Api-Version", self.server.api_version)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests print nothing


class OlderEngineProxy(socketserver.ThreadingUnixStreamServer):
    """A unix-socket proxy that makes a real daemon answer as an older API version.

    Only GET is forwarded; any other method is answered 501 by the handler and
    recorded, so a test can tell the collector stayed read-only.
    """

    daemon_threads = True

    def __init__(self, upstream: Path, directory: Path, api_version: str) -> None:
        self.upstream = upstream
        self.api_version = api_version
        self.path = directory / f"older-{api_version}-{id(self):x}.sock"
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        super().__init__(str(self.path), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def older_version_answer(self, body: bytes) -> bytes:
        """The daemon's /version answer, naming the older API version."""
        version = json.loads(body)
        self._make_older(version)
        for component in version.get("Components") or []:
            if component.get("Name") == "Engine":
                self._make_older(component.get("Details") or {})
        return json.dumps(version).encode()

    def _make_older(self, fields: dict[str, Any]) -> None:
        fields["ApiVersion"] = self.api_version
        minimum = fields.get("MinAPIVersion") or self.api_version
        fields["MinAPIVersion"] = min(minimum, self.api_version, key=_as_tuple)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()
        self.path.unlink(missing_ok=True)


# The older version, the proxy that answered as it, and what was collected.
Older = tuple[str, OlderEngineProxy, HostInventory]


# Fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def current(fleet: Fleet) -> HostInventory:
    """"general" collected directly, at the newest version both sides speak."""
    return collect_host(fleet.hosts["general"])


@pytest.fixture(scope="module", params=OLDER_VERSIONS)
def older(
    request: pytest.FixtureRequest, fleet: Fleet
) -> Iterator[Older]:
    """"general" collected through a proxy that answers as an older version."""
    daemon = fleet.daemons["general"]
    version = request.param
    if version == "oldest":
        version = _get_json(daemon.socket_path, "/version")["MinAPIVersion"]
    proxy = OlderEngineProxy(daemon.socket_path, daemon.root, version)
    try:
        inventory = collect_host(HostSettings(name="general", url=proxy.url))
        yield version, proxy, inventory
    finally:
        proxy.close()


def _comparable(host: HostInventory) -> dict[str, Any]:
    data = host.model_dump(exclude={"api_version", "collected_at"})
    for container in data["containers"]:
        # "Up 3 minutes" changes between two collections.
        del container["status"]
        if container["name"] == FLAPPING:
            del container["state"]
    return data


# Tests ---------------------------------------------------------------------------


def test_collector_negotiates_the_older_version_the_engine_names(older: Older):
    """Every list is asked at the older version itself, with GET only."""
    version, proxy, inventory = older

    versioned = [path for _, path in proxy.requests if _VERSION_PREFIX.match(path)]

    assert inventory.api_version == version
    assert len(proxy.requests) == REQUESTS_PER_HOST
    assert {method for method, _ in proxy.requests} == {"GET"}
    assert len(versioned) == REQUESTS_PER_HOST - 1
    assert all(path.startswith(f"/v{version}/") for path in versioned)


def test_older_api_answers_give_the_same_inventory(
    older: Older, current: HostInventory
):
    """Containers, networks, ports, mounts, routes, images and volumes, in order."""
    _, _, inventory = older

    assert inventory.host == current.host
    assert _comparable(inventory) == _comparable(current)


def test_older_api_answers_keep_every_container_state(older: Older):
    """State comes from the older list's State field, as from the newest."""
    _, _, inventory = older

    states = {c.name: c.state for c in inventory.containers}

    assert states["not.started"] == "created"
    assert states["batch-job"] == "exited"
    assert states["frozen"] == "paused"
    assert states["etherpad"] == "running"
    assert states[FLAPPING] in {"restarting", "running", "exited"}


def test_older_api_answers_keep_mounts_and_network_modes(older: Older):
    """The older lists carry Mounts and HostConfig, so nothing is left undrawn."""
    _, _, inventory = older
    by_name = {c.name: c for c in inventory.containers}

    nextcloud_mounts = {m.target: m.kind for m in by_name["nextcloud"].mounts}
    postgres_mounts = {m.target: m for m in by_name["postgres"].mounts}

    assert inventory.notes == []
    assert nextcloud_mounts == {"/srv/config": "bind", "/var/www": "volume",
                                "/cache": "tmpfs"}
    assert postgres_mounts["/scratch"].is_anonymous
    assert postgres_mounts["/var/lib/postgresql/data"].source == "pgdata"
    assert by_name["pad-sidecar"].network_mode == "container:etherpad"
    assert by_name["host-agent"].network_mode == "host"
    assert [a.network for a in by_name["etherpad"].networks] == ["backend", "frontend"]


def test_older_api_answers_invent_no_health(older: Older, fleet: Fleet):
    """Health is what the engine reports for each container, here none at all."""
    _, _, inventory = older
    names = [c.name for c in inventory.containers]

    reported = {
        item["Name"].lstrip("/"): ((item["State"].get("Health") or {}).get("Status"))
        for item in fleet.daemons["general"].inspect(*names)
    }

    assert {c.name: c.health for c in inventory.containers} == reported

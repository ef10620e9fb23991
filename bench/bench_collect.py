"""Collection cost on a real dockerd with N containers, printed as a table.

Run as root from the repository: ``.venv/bin/python -m bench.bench_collect``.
For N = 10, 100 and 300 it shows the time graphbot takes to collect the host,
the number of Engine API requests it made, the time of one raw
``GET /containers/json?all=1`` for comparison, and the time to draw every
picture of the host.
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from bot.collector import collect_host
from bot.model import Inventory, Snapshot
from bot.settings import HostSettings
from renderers.options import RenderOptions
from renderers.publish import write_pictures
from tests.dockerd import CountingProxy, Daemon

SIZES = (10, 100, 300)
REPEATS = 3


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(self.path))


def raw_list_seconds(socket_path: Path) -> float:
    """Time one plain GET /containers/json?all=1, body read in full."""
    connection = _UnixConnection(socket_path)
    started = time.perf_counter()
    connection.request("GET", "/containers/json?all=1")
    connection.getresponse().read()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def grow(daemon: Daemon, first: int, last: int) -> None:
    """Create containers c<first>..c<last-1>, each on a network with a volume."""
    def create(index: int) -> None:
        daemon.docker("create", "--name", f"c{index:04d}", "--network", "net",
                      "-v", f"vol{index}:/data", "-l",
                      f"traefik.http.routers.r{index}.rule="
                      f"Host(`c{index}.example.org`)",
                      "app:1", "sleep", "1")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(first, last)))


def render_seconds(inventory: Inventory, out_dir: Path) -> float:
    """Time drawing every picture of the collected host, as graphbot render does."""
    snapshot = Snapshot(collected_at=datetime.now(timezone.utc), inventory=inventory)
    started = time.perf_counter()
    write_pictures(snapshot, out_dir, RenderOptions())
    return time.perf_counter() - started


def measure(daemon: Daemon, proxy: CountingProxy, host: HostSettings, out_dir: Path,
            size: int) -> dict[str, object]:
    collect_times, raw_times = [], []
    for _ in range(REPEATS):
        proxy.reset()
        started = time.perf_counter()
        collected = collect_host(host)
        collect_times.append(time.perf_counter() - started)
        raw_times.append(raw_list_seconds(daemon.socket_path))
    inventory = Inventory(organization="bench", hosts=[collected])
    return {
        "containers": len(collected.containers),
        "collect_ms": statistics.median(collect_times) * 1000,
        "requests": len(proxy.requests),
        "raw_ms": statistics.median(raw_times) * 1000,
        "render_s": render_seconds(inventory, out_dir / str(size)),
    }


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{'N':>5} {'collect ms':>11} {'requests':>9} {'raw list ms':>12} "
          f"{'render s':>9}")
    for row in rows:
        print(f"{row['containers']:>5} {row['collect_ms']:11.1f} {row['requests']:>9} "
              f"{row['raw_ms']:12.1f} {row['render_s']:9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    daemon = Daemon("bench").start()
    proxy = CountingProxy(daemon.socket_path, daemon.root)
    try:
        daemon.import_rootfs("app:1")
        daemon.docker("network", "create", "net")
        host = HostSettings(name="bench", url=proxy.url, timeout_seconds=120)
        rows, existing = [], 0
        with tempfile.TemporaryDirectory() as out:
            for size in sorted(args.sizes):
                grow(daemon, existing, size)
                existing = size
                rows.append(measure(daemon, proxy, host, Path(out), size))
        print_table(rows)
    finally:
        proxy.close()
        daemon.stop()


if __name__ == "__main__":
    main()

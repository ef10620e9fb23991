"""A real dockerd for tests: private paths and address pool, optional mutual TLS.

Every daemon gets its own data root, exec root, pid file, unix socket and
address pool, so several test processes on one machine can run daemons at the
same time. Address pools are handed out by slot: a slot is an exclusive
``flock`` on a file under ``/tmp/graphbot-dockerd-slots`` held for the
daemon's lifetime, and a slot whose addresses are already on an interface of
this machine is skipped.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import HostSettings
from tests import certs

DOCKER_CLI = shutil.which("docker", path="/usr/local/bin") or "docker"
DOCKERD = shutil.which("dockerd") or "dockerd"
BUSYBOX = Path("/bin/busybox")
SLOT_DIR = Path("/tmp/graphbot-dockerd-slots")
SLOT_COUNT = 64
# 10.100.0.0/16 .. 10.163.0.0/16 for bridge pools, one /16 per slot; IPv6
# subnets for dual-stack test networks come from fd42:6762:<slot>::/48.
_POOL_FIRST_OCTET = 10
_POOL_SECOND_OCTET_BASE = 100


class DaemonError(RuntimeError):
    """The test daemon could not be started or driven."""


@dataclass
class Slot:
    """An exclusive share of addresses for one daemon."""

    number: int
    lock_file: object

    @property
    def pool_v4(self) -> str:
        return f"{_POOL_FIRST_OCTET}.{_POOL_SECOND_OCTET_BASE + self.number}.0.0/16"

    def subnet_v6(self, index: int = 0) -> str:
        return f"fd42:6762:{self.number:x}:{index:x}::/64"

    def release(self) -> None:
        self.lock_file.close()  # type: ignore[attr-defined]


def _addresses_in_use() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False
    ).stdout
    networks = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            cidr = parts[parts.index("inet") + 1]
            networks.append(ipaddress.ip_interface(cidr).network)
    return networks


def allocate_slot() -> Slot:
    """Take the first free slot whose pool does not overlap a live interface."""
    SLOT_DIR.mkdir(parents=True, exist_ok=True)
    in_use = _addresses_in_use()
    for number in range(SLOT_COUNT):
        handle = open(SLOT_DIR / f"slot-{number}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        slot = Slot(number, handle)
        pool = ipaddress.ip_network(slot.pool_v4)
        if any(pool.overlaps(net) for net in in_use):
            slot.release()
            continue
        return slot
    raise DaemonError("every dockerd address slot is taken; stop other test runs")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TlsFiles:
    """CA, server and client certificate files of a TLS daemon."""

    directory: Path
    ca: certs.Issued
    server: certs.Issued
    client: certs.Issued


def make_tls_files(
    directory: Path, *, client_days: float = 90, server_days: float = 90,
    ca_days: float = 365, server_names: tuple[str, ...] = ("localhost",),
    server_ips: tuple[str, ...] = ("127.0.0.1",),
) -> TlsFiles:
    """Generate a CA and a server and client certificate for a test daemon."""
    ca = certs.make_ca(directory, days=ca_days)
    server = certs.issue(
        ca, directory, "server", common_name="dockerd", is_server=True,
        days=server_days, dns_names=server_names, ip_addresses=server_ips,
    )
    client = certs.issue(
        ca, directory, "client", common_name="graphbot", is_server=False,
        days=client_days,
    )
    return TlsFiles(directory, ca, server, client)


@dataclass
class Daemon:
    """One real dockerd with private paths; call ``start`` then ``stop``."""

    name: str
    tls: TlsFiles | None = None
    storage_driver: str = "vfs"
    root: Path = field(init=False)
    slot: Slot | None = field(init=False, default=None)
    tcp_port: int | None = field(init=False, default=None)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Short paths: containerd's socket lives under the exec root and unix
        # socket paths are limited to 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix=f"gbd-{self.name[:8]}-", dir="/tmp"))

    @property
    def socket_path(self) -> Path:
        return self.root / "docker.sock"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def url(self) -> str:
        """The URL graphbot should use: TCP with TLS when configured, else unix."""
        if self.tls is not None and self.tcp_port is not None:
            return f"tcp://127.0.0.1:{self.tcp_port}"
        return self.unix_url

    def host_settings(
        self, name: str | None = None, **overrides: object
    ) -> HostSettings:
        """HostSettings that point graphbot at this daemon."""
        values: dict[str, object] = {"name": name or self.name, "url": self.url}
        if self.tls is not None:
            values |= {
                "ca_cert": self.tls.ca.cert_path,
                "cert": self.tls.client.cert_path,
                "key": self.tls.client.key_path,
            }
        return HostSettings(**(values | overrides))

    def _command(self) -> list[str]:
        exec_root = self.root / "x"
        assert self.slot is not None
        command = [
            DOCKERD,
            f"--data-root={self.root / 'data'}",
            f"--exec-root={exec_root}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.unix_url}",
            f"--default-address-pool=base={self.slot.pool_v4},size=24",
            "--iptables=false",
            "--ip-masq=false",
            "--ip6tables=false",
            "--bridge=none",
            # No docker-proxy processes: published ports are recorded by the
            # engine but bind nothing, so daemons never fight over host ports.
            "--userland-proxy=false",
            f"--storage-driver={self.storage_driver}",
            "--log-level=warn",
            "--experimental",  # enables IPv6 on user-defined networks in 20.10
        ]
        if self.tls is not None:
            self.tcp_port = free_tcp_port()
            command += [
                f"--host=tcp://127.0.0.1:{self.tcp_port}",
                "--tlsverify",
                f"--tlscacert={self.tls.ca.cert_path}",
                f"--tlscert={self.tls.server.cert_path}",
                f"--tlskey={self.tls.server.key_path}",
            ]
        return command

    def start(self, timeout_seconds: float = 60) -> Daemon:
        """Start dockerd and wait until it answers on its unix socket."""
        self.slot = allocate_slot()
        (self.root / "x").mkdir(exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")
        self.process = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_until_ready(timeout_seconds)
        return self

    def _wait_until_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DaemonError(f"dockerd {self.name} exited:\n{self.log_tail()}")
            if self.socket_path.exists():
                probe = self.docker("version", "--format", "{{.Server.APIVersion}}",
                                    check=False)
                if probe.returncode == 0:
                    return
            time.sleep(0.2)
        raise DaemonError(f"dockerd {self.name} did not answer:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "dockerd.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def docker(
        self, *args: str, check: bool = True, input: bytes | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this daemon's unix socket."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "DOCKER_HOST": self.unix_url,
            "DOCKER_CONFIG": str(self.root / "cli"),
        }
        result = subprocess.run(
            [DOCKER_CLI, *args], env=env, capture_output=True, input=input,
            timeout=timeout, check=False,
        )
        completed = subprocess.CompletedProcess(
            result.args, result.returncode,
            result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
        )
        if check and completed.returncode != 0:
            raise DaemonError(
                f"docker {' '.join(args)} failed on {self.name}: {completed.stderr}"
            )
        return completed

    def inspect(self, *names: str) -> list[dict]:
        return json.loads(self.docker("inspect", *names).stdout)

    def import_rootfs(self, *references: str) -> str:
        """Import the busybox rootfs once and tag it under each reference."""
        image_id = import_busybox(self, references[0])
        for reference in references[1:]:
            self.docker("tag", references[0], reference)
        return image_id

    def stop(self) -> None:
        """Stop every container and the daemon, then remove its files."""
        try:
            if self.process is not None and self.process.poll() is None:
                self._remove_containers()
                self._terminate()
        finally:
            _unmount_under(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
            if self.slot is not None:
                self.slot.release()
                self.slot = None

    def _remove_containers(self) -> None:
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, check=False)
        # Networks own the Linux bridges; removing them deletes the bridges.
        names = self.docker("network", "ls", "-q", "--filter", "type=custom",
                            check=False).stdout.split()
        if names:
            self.docker("network", "rm", *names, check=False)

    def _terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def import_busybox(daemon: Daemon, reference: str, *, label: str = "") -> str:
    """``docker import`` a rootfs holding only a static busybox, as ``reference``.

    A ``label`` gives the image a config, hence an id, of its own.
    """
    with tempfile.TemporaryDirectory(dir=daemon.root) as work:
        rootfs = Path(work) / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in ("sh", "sleep", "true", "false", "httpd", "cat", "ls"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        for directory in ("etc", "tmp", "data", "var/lib/data"):
            (rootfs / directory).mkdir(parents=True, exist_ok=True)
        tarball = Path(work) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        changes = ["--change", 'CMD ["/bin/sh"]']
        if label:
            changes += ["--change", f"LABEL variant={label}"]
        result = daemon.docker("import", *changes, str(tarball), reference)
    return result.stdout.strip()


def _unmount_under(root: Path) -> None:
    """Lazily unmount anything a crashed daemon left mounted below ``root``."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for target in sorted(targets, key=len, reverse=True):
        decoded = target.encode().decode("unicode_escape")
        if decoded.startswith(str(root) + "/"):
            subprocess.run(["umount", "-l", decoded], capture_output=True, check=False)


_REQUEST_LINE = re.compile(
    rb"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP/1\.[01]\r\n"
)


class CountingProxy:
    """A unix-socket proxy in front of a daemon that records each HTTP request.

    ``rewrite``, when given, changes each chunk of request bytes on its way to
    the daemon (e.g. to ask for a thing that does not exist); the answers are
    the daemon's own.
    """

    def __init__(
        self, upstream: Path, directory: Path,
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        self.path = directory / f"proxy-{os.getpid()}-{id(self):x}.sock"
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        self._server.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(str(self.upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False),
                             daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, is_request: bool
    ) -> None:
        pending = b""
        try:
            while data := source.recv(65536):
                if is_request:
                    pending = self._record(pending + data)
                    if self.rewrite is not None:
                        data = self.rewrite(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _record(self, buffer: bytes) -> bytes:
        # Requests from the collector are GETs without a body, so every request
        # line in the stream starts a new request.
        last_end = 0
        for match in _REQUEST_LINE.finditer(buffer):
            with self._lock:
                self.requests.append((match[1].decode(), match[2].decode()))
            last_end = match.end()
        return buffer[last_end:][-4096:]

    def close(self) -> None:
        self._server.close()
        self.path.unlink(missing_ok=True)

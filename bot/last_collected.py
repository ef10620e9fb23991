"""The last successful collection of each host, for where-answers while it fails.

Kept in memory and in ``last-collected.json`` under the data directory, so that
after a restart the bot still knows what a host that is now down ran. It holds
inventories already filtered for publication; the pictures never use it (a
failed host is drawn as failed).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from bot.model import HostFailure, HostInventory, Inventory, Snapshot

log = logging.getLogger(__name__)

LAST_COLLECTED_FILE = "last-collected.json"


@dataclass(frozen=True)
class StandIn:
    """A failed host, answered for by its last successful collection."""

    inventory: HostInventory
    failure: HostFailure


class LastCollected:
    """Each host's newest successful inventory, remembered across failures."""

    def __init__(self, data_dir: Path, saved: Snapshot | None = None) -> None:
        self._path = data_dir / LAST_COLLECTED_FILE
        self._lock = threading.Lock()
        self._by_host: dict[str, HostInventory] = {}
        for snapshot in (saved, _load(self._path)):
            if snapshot is not None:
                self._keep(snapshot.inventory.hosts)

    def remember(self, inventory: Inventory) -> None:
        """Keep the hosts ``inventory`` collected, in memory and on disk."""
        with self._lock:
            if not self._keep(inventory.hosts):
                return
            kept = Inventory(
                organization=inventory.organization,
                hosts=sorted(self._by_host.values(), key=lambda h: h.host),
            )
            now = datetime.now(timezone.utc)
            self._save(Snapshot(collected_at=now, inventory=kept))

    def fill_in(self, snapshot: Snapshot) -> tuple[Snapshot, list[StandIn]]:
        """The snapshot with each failed host replaced by its last collection.

        Failed hosts never collected stay failures; the stand-ins say which
        hosts are answered for from older data.
        """
        inventory = snapshot.inventory
        with self._lock:
            stand_ins = [
                StandIn(self._by_host[failure.host], failure)
                for failure in inventory.failures
                if failure.host in self._by_host
            ]
        if not stand_ins:
            return snapshot, []
        replaced = {stand_in.failure.host for stand_in in stand_ins}
        filled = inventory.model_copy(
            update={
                "hosts": [*inventory.hosts, *(s.inventory for s in stand_ins)],
                "failures": [f for f in inventory.failures if f.host not in replaced],
            }
        )
        return snapshot.model_copy(update={"inventory": filled}), stand_ins

    def _keep(self, hosts: list[HostInventory]) -> bool:
        changed = False
        for host in hosts:
            known = self._by_host.get(host.host)
            if known is None or host.collected_at >= known.collected_at:
                self._by_host[host.host] = host
                changed = True
        return changed

    def _save(self, snapshot: Snapshot) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(
                prefix=f".{self._path.name}.", suffix=".tmp", dir=self._path.parent
            )
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(snapshot.model_dump_json())
                os.replace(temporary, self._path)
            finally:
                Path(temporary).unlink(missing_ok=True)
        except OSError as exc:
            log.warning(
                "%s could not be written (%s); after a restart, where-answers "
                "know nothing of hosts that are down. Check that data_dir is "
                "writable.", self._path, exc.strerror,
            )


def _load(path: Path) -> Snapshot | None:
    try:
        return Snapshot.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        # Only where-answers about hosts that are down lose their fallback.
        log.warning("%s is not used for where-answers: %s", path, exc)
        return None

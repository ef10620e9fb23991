"""Removes what must not be published: excluded containers and hidden details.

Applied to every inventory before it is drawn or written for publication, so a
hidden thing is in no PNG, SVG, DOT or JSON file. Pure; no I/O.
"""

from __future__ import annotations

import logging

from bot.model import Container, HostInventory, Image, Inventory, Mount, Network, Volume
from bot.settings import HideSettings, HostSettings

log = logging.getLogger(__name__)


def apply_privacy(
    inventory: Inventory, hosts: list[HostSettings], hide: HideSettings
) -> Inventory:
    """Return the inventory without excluded containers and hidden details."""
    settings_by_name = {host.name: host for host in hosts}
    kept_hosts = [
        _filter_host(host_inventory, settings_by_name.get(host_inventory.host), hide)
        for host_inventory in inventory.hosts
    ]
    return inventory.model_copy(update={"hosts": kept_hosts})


def _filter_host(
    inventory: HostInventory, host: HostSettings | None, hide: HideSettings
) -> HostInventory:
    excluded = [c for c in inventory.containers if host and host.is_excluded(c.name)]
    kept = [_hide_details(c, hide) for c in inventory.containers if c not in excluded]
    if excluded:
        log.debug("Host %s: %d containers excluded", inventory.host, len(excluded))
    return inventory.model_copy(
        update={
            "containers": kept,
            "images": _still_used_images(inventory, excluded, kept),
            "networks": _still_used_networks(inventory, excluded, kept),
            "volumes": _still_used_volumes(inventory, excluded, kept, hide),
        }
    )


def _hide_details(container: Container, hide: HideSettings) -> Container:
    changes: dict[str, object] = {}
    if hide.urls:
        changes["routes"] = []
    if hide.ports:
        changes["ports"] = []
    if hide.volumes or hide.binds:
        changes["mounts"] = [m for m in container.mounts if not _is_hidden(m, hide)]
    return container.model_copy(update=changes) if changes else container


def _is_hidden(mount: Mount, hide: HideSettings) -> bool:
    return (mount.kind == "volume" and hide.volumes) or (
        mount.kind == "bind" and hide.binds
    )


def _still_used_images(
    inventory: HostInventory, excluded: list[Container], kept: list[Container]
) -> list[Image]:
    # An image only an excluded container ran would name what was excluded.
    only_excluded = {c.image_id for c in excluded} - {c.image_id for c in kept}
    return [image for image in inventory.images if image.id not in only_excluded]


def _still_used_networks(
    inventory: HostInventory, excluded: list[Container], kept: list[Container]
) -> list[Network]:
    def names(containers: list[Container]) -> set[str]:
        return {a.network for c in containers for a in c.networks}

    only_excluded = names(excluded) - names(kept)
    return [n for n in inventory.networks if n.name not in only_excluded]


def _still_used_volumes(
    inventory: HostInventory,
    excluded: list[Container],
    kept: list[Container],
    hide: HideSettings,
) -> list[Volume]:
    if hide.volumes:
        return []

    def names(containers: list[Container]) -> set[str]:
        return {m.source for c in containers for m in c.mounts if m.kind == "volume"}

    only_excluded = names(excluded) - names(kept)
    return [v for v in inventory.volumes if v.name not in only_excluded]

"""Removes what must not be published: excluded containers and hidden details.

``exclude_containers`` is the one place where a host's ``exclude`` patterns are
applied: the collector calls it on every host it reads, and ``apply_privacy``
calls it again on every inventory before it is drawn or written for
publication, so an excluded or hidden thing is in no PNG, SVG, DOT or JSON file,
whether the inventory was just collected or read from an older snapshot.
Pure; no I/O.
"""

from __future__ import annotations

import logging

from bot.model import Container, HostInventory, Image, Inventory, Mount, Network, Volume
from bot.settings import HideSettings, HostSettings

log = logging.getLogger(__name__)

# What a container that shares an excluded container's network stack shows as
# its network mode: it says that the stack belongs to someone, never whose.
EXCLUDED_STACK = "container:(excluded)"
# Every engine has these networks whatever runs on it, so keeping them names
# nothing even when only an excluded container used one.
_BUILTIN_NETWORKS = frozenset({"host", "none", "bridge"})


def apply_privacy(
    inventory: Inventory, hosts: list[HostSettings], hide: HideSettings
) -> Inventory:
    """Return the inventory without excluded containers and hidden details."""
    settings_by_name = {host.name: host for host in hosts}
    kept_hosts = [
        _hide_details(exclude_containers(host, settings_by_name.get(host.host)), hide)
        for host in inventory.hosts
    ]
    return inventory.model_copy(update={"hosts": kept_hosts})


def exclude_containers(
    inventory: HostInventory, host: HostSettings | None
) -> HostInventory:
    """Return the host's inventory without the containers its settings exclude.

    Images, networks and volumes that only excluded containers used go with
    them; those no container uses at all stay. A container that shares an
    excluded container's network stack shows ``EXCLUDED_STACK`` instead.
    """
    excluded = [c for c in inventory.containers if host and host.is_excluded(c.name)]
    if not excluded:
        return inventory
    kept = [
        _mask_excluded_stack(c, excluded)
        for c in inventory.containers
        if c not in excluded
    ]
    log.debug("host %s: %d containers excluded by settings", inventory.host,
              len(excluded))
    return inventory.model_copy(
        update={
            "containers": kept,
            "images": _still_used_images(inventory, excluded, kept),
            "networks": _still_used_networks(inventory, excluded, kept),
            "volumes": _still_used_volumes(inventory, excluded, kept),
        }
    )


def _mask_excluded_stack(container: Container, excluded: list[Container]) -> Container:
    mode = container.network_mode
    if not mode.startswith("container:"):
        return container
    ref = mode.removeprefix("container:")
    # The engine's mode holds an id; the collector turns it into a name, and
    # older snapshots hold a short id: any of them would name the excluded one.
    if any(ref == other.name or (len(ref) >= 12 and other.id.startswith(ref))
           for other in excluded):
        return container.model_copy(update={"network_mode": EXCLUDED_STACK})
    return container


def _hide_details(inventory: HostInventory, hide: HideSettings) -> HostInventory:
    changes: dict[str, object] = {
        "containers": [_hide_container_details(c, hide) for c in inventory.containers]
    }
    if hide.volumes:
        changes["volumes"] = []
    return inventory.model_copy(update=changes)


def _hide_container_details(container: Container, hide: HideSettings) -> Container:
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

    only_excluded = names(excluded) - names(kept) - _BUILTIN_NETWORKS
    return [n for n in inventory.networks if n.name not in only_excluded]


def _still_used_volumes(
    inventory: HostInventory, excluded: list[Container], kept: list[Container]
) -> list[Volume]:
    def names(containers: list[Container]) -> set[str]:
        return {m.source for c in containers for m in c.mounts if m.kind == "volume"}

    only_excluded = names(excluded) - names(kept)
    return [v for v in inventory.volumes if v.name not in only_excluded]

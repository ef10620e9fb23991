"""Excluded containers and hidden details never reach published output."""

from __future__ import annotations

from datetime import datetime, timezone

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
    Volume,
)
from bot.privacy import EXCLUDED_STACK, apply_privacy, exclude_containers
from bot.settings import HideSettings, HostSettings

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)


def _container(name: str, image_id: str, network: str, volume: str) -> Container:
    return Container(
        id=name * 8,
        name=name,
        image_ref=f"{name}:1",
        image_id=image_id,
        state="running",
        networks=[NetworkAttachment(network=network)],
        ports=[PublishedPort(host_ip="0.0.0.0", host_port=8080, container_port=80)],
        mounts=[
            Mount(kind="volume", source=volume, target="/data"),
            Mount(kind="bind", source="/srv/secret-path", target="/etc/app"),
        ],
        routes=[
            Route(router="r", provider="traefik-v2", urls=["https://pad.example.org"])
        ],
    )


def _inventory() -> Inventory:
    host = HostInventory(
        host="general",
        collected_at=NOW,
        containers=[
            _container("etherpad", "sha256:aa", "web", "pad-data"),
            _container("backup-secret", "sha256:bb", "hidden-net", "backup-data"),
        ],
        images=[Image(id="sha256:aa"), Image(id="sha256:bb", tags=["backup:1"])],
        networks=[Network(id="1", name="web"), Network(id="2", name="hidden-net")],
        volumes=[Volume(name="pad-data"), Volume(name="backup-data")],
    )
    return Inventory(organization="Tests", hosts=[host])


def test_excluded_container_leaves_no_trace_in_inventory() -> None:
    """An excluded container, and what only it used, are gone from the JSON."""
    hosts = [HostSettings(name="general", url="unix:///x", exclude=["backup-*"])]

    public = apply_privacy(_inventory(), hosts, HideSettings())

    text = public.model_dump_json()
    assert "backup" not in text
    assert "hidden-net" not in text
    assert [c.name for c in public.hosts[0].containers] == ["etherpad"]


def test_hide_removes_urls_ports_volumes_and_binds() -> None:
    hide = HideSettings(urls=True, ports=True, volumes=True, binds=True)

    public = apply_privacy(_inventory(), [], hide)

    text = public.model_dump_json()
    for secret in ("pad.example.org", "8080", "pad-data", "/srv/secret-path"):
        assert secret not in text
    assert len(public.hosts[0].containers) == 2


def test_nothing_hidden_keeps_everything() -> None:
    inventory = _inventory()

    assert apply_privacy(inventory, [], HideSettings()) == inventory


def _sidecar_inventory() -> HostInventory:
    """A host where "metrics" shares the network stack of "vault", and where an
    image, a network and a volume are used by no container at all."""
    base = _inventory().hosts[0]
    vault = _container("vault", "sha256:cc", "vault-net", "vault-data")
    sidecar = _container("metrics", "sha256:aa", "web", "pad-data").model_copy(
        update={"network_mode": "container:vault", "networks": []})
    return base.model_copy(update={
        "containers": [*base.containers, vault, sidecar],
        "images": [*base.images, Image(id="sha256:cc"),
                   Image(id="sha256:dd", tags=["unused:1"])],
        "networks": [*base.networks, Network(id="3", name="vault-net"),
                     Network(id="4", name="idle")],
        "volumes": [*base.volumes, Volume(name="vault-data"), Volume(name="idle-data")],
    })


def test_sidecar_of_excluded_container_does_not_name_it() -> None:
    host = HostSettings(name="general", url="unix:///x", exclude=["vault"])

    kept = exclude_containers(_sidecar_inventory(), host)

    sidecar = next(c for c in kept.containers if c.name == "metrics")
    assert sidecar.network_mode == EXCLUDED_STACK
    assert "vault" not in kept.model_dump_json()


def test_sidecar_named_by_short_id_in_an_old_snapshot_is_masked_too() -> None:
    host = HostSettings(name="general", url="unix:///x", exclude=["vault"])
    inventory = _sidecar_inventory()
    vault = next(c for c in inventory.containers if c.name == "vault")
    by_id = [c.model_copy(update={"network_mode": f"container:{vault.short_id}"})
             if c.name == "metrics" else c for c in inventory.containers]

    kept = exclude_containers(inventory.model_copy(update={"containers": by_id}), host)

    assert vault.short_id not in kept.model_dump_json()


def test_things_no_container_uses_stay_when_excluding() -> None:
    """Dangling images, networks and volumes name no excluded container."""
    host = HostSettings(name="general", url="unix:///x", exclude=["vault"])

    kept = exclude_containers(_sidecar_inventory(), host)

    assert "sha256:dd" in {i.id for i in kept.images}
    assert "idle" in {n.name for n in kept.networks}
    assert "idle-data" in {v.name for v in kept.volumes}


def test_apply_privacy_excludes_exactly_as_the_collector_does() -> None:
    """One code path: publication repeats the collector's exclusion, no more."""
    host = HostSettings(name="general", url="unix:///x", exclude=["vault"])
    inventory = Inventory(organization="Tests", hosts=[_sidecar_inventory()])

    public = apply_privacy(inventory, [host], HideSettings())

    assert public.hosts == [exclude_containers(_sidecar_inventory(), host)]


def test_host_without_exclusions_is_returned_unchanged() -> None:
    host = HostSettings(name="general", url="unix:///x")

    assert exclude_containers(_sidecar_inventory(), host) == _sidecar_inventory()

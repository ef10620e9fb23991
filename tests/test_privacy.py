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
from bot.privacy import apply_privacy
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

"""Edges of a host: networks joined, mounts, shared network stacks, routes."""

from __future__ import annotations

from bot.model import Container, Mount
from renderers.canvas import HostCanvas
from renderers.containers import (
    HOST_STACK,
    NOT_SERVED,
    find_proxy,
    network_keys,
    shared_stack,
)
from renderers.labels import attribute_text


def paint_edges(canvas: HostCanvas) -> None:
    """Draw every edge of the host, after its nodes and junctions."""
    proxy = find_proxy(canvas.host.containers) if draws_route_edges(canvas) else None
    for (network, _, _), junction in canvas.junctions.items():
        _network_edge(canvas, network, junction)
    for container in canvas.host.containers:
        _container_edges(canvas, container)
        if proxy is not None and container is not proxy and container.routes:
            _route_edge(canvas, proxy, container)


def routed_count(canvas: HostCanvas) -> int:
    """How many containers other than the proxy are reached through routes."""
    proxy = find_proxy(canvas.host.containers)
    return sum(1 for c in canvas.host.containers if c.routes and c is not proxy)


def draws_route_edges(canvas: HostCanvas) -> bool:
    """Tell whether route edges are drawn: a proxy, and not too many of them."""
    has_proxy = find_proxy(canvas.host.containers) is not None
    return has_proxy and routed_count(canvas) <= canvas.options.max_route_edges


def _container_edges(canvas: HostCanvas, container: Container) -> None:
    node = canvas.node_id("c", container.id)
    row, sub_row = canvas.place_by_container[container.id]
    for network in network_keys(container):
        junction = canvas.junctions.get((network, row, sub_row), "")
        _network_edge(canvas, network, node, tail=junction)
    for mount in container.mounts:
        _mount_edge(canvas, node, mount)
    other = shared_stack(container, canvas.host.containers)
    if other is not None:
        canvas.graph.edge(
            node,
            canvas.node_id("c", other.id),
            style="dotted",
            color=canvas.palette["stopped"],
            constraint="false",
            tooltip=attribute_text(
                f"{container.name} shares the network stack of {other.name}"
            ),
        )


def _network_edge(canvas: HostCanvas, network: str, node: str, tail: str = "") -> None:
    name = "the host network stack" if network == HOST_STACK else network
    canvas.graph.edge(
        tail or canvas.node_id("net", network),
        node,
        dir="none",
        color=canvas.palette["network"],
        weight="2",
        tooltip=attribute_text(f"network {name}"),
    )


def _mount_edge(canvas: HostCanvas, node: str, mount: Mount) -> None:
    if mount.kind not in ("volume", "bind"):
        return
    kind = "vol" if mount.kind == "volume" else "bind"
    access = " (read-only)" if mount.is_read_only else ""
    canvas.graph.edge(
        node,
        canvas.node_id(kind, mount.source),
        dir="none",
        style="dashed",
        color=canvas.palette["volume"],
        tooltip=attribute_text(f"{mount.source} at {mount.target}{access}"),
    )


def _route_edge(canvas: HostCanvas, proxy: Container, container: Container) -> None:
    urls = [u for r in container.routes for u in r.urls] or [
        r.rule for r in container.routes
    ]
    tooltip = "routes " + ", ".join(urls)
    look = {"color": canvas.palette["route"], "style": "solid"}
    if container.is_stopped:
        # Traefik drops the routes of a stopped container: the URL fails.
        tooltip += f" ({NOT_SERVED})"
        look = {"color": canvas.palette["stopped"], "style": "dashed"}
    canvas.graph.edge(
        canvas.node_id("c", proxy.id),
        canvas.node_id("c", container.id),
        penwidth="1.6",
        constraint="false",
        tooltip=attribute_text(tooltip),
        **look,
    )

"""Nodes of what containers use: networks, the host's stack, volumes, host paths."""

from __future__ import annotations

import graphviz

from bot.model import Container, Network
from renderers import style
from renderers.canvas import HostCanvas
from renderers.containers import HOST_STACK, attached_networks
from renderers.labels import attribute_text, font, label_text, stacked

# Length of a volume name the engine generated for an anonymous volume.
_ANONYMOUS_NAME_CHARS = 64


def resource_keys(container: Container) -> list[tuple[str, str]]:
    """(kind, name) of each network, volume and host path a container uses."""
    keys = [("net", name) for name in attached_networks(container)]
    for mount in container.mounts:
        if mount.kind == "volume":
            keys.append(("vol", mount.source))
        elif mount.kind == "bind":
            keys.append(("bind", mount.source))
    return keys


def is_builtin(network: Network) -> bool:
    """Tell whether a network is one every engine has, drawn only when used."""
    return network.name in ("host", "none", "bridge") and network.driver in (
        "host",
        "null",
        "bridge",
        "",
    )


def paint_network(canvas: HostCanvas, graph: graphviz.Digraph, name: str) -> None:
    """Draw a network as a hexagon with its driver and subnets."""
    network = next((n for n in canvas.host.networks if n.name == name), None)
    lines = [font(label_text(name, canvas.limit), style.SMALL_POINTS, bold=True)]
    detail = _network_detail(network)
    if detail:
        lines.append(font(label_text(detail, canvas.limit + 10), style.SMALL_POINTS))
    colour = canvas.palette["network"]
    graph.node(
        canvas.node_id("net", name),
        label=stacked(lines),
        shape="hexagon",
        style="filled",
        fillcolor=style.tint(colour),
        color=colour,
        margin="0.02",
        tooltip=attribute_text(f"network {name}\n{detail}".strip()),
    )


def paint_host_stack(canvas: HostCanvas, graph: graphviz.Digraph) -> None:
    """Draw the host's own network stack, which --network host containers use."""
    colour = canvas.palette["network"]
    graph.node(
        canvas.node_id("net", HOST_STACK),
        label=stacked(
            [
                font("host network stack", style.SMALL_POINTS, bold=True),
                font("(--network host)", style.SMALL_POINTS),
            ]
        ),
        shape="hexagon",
        style="filled,bold",
        fillcolor=style.tint(colour),
        color=colour,
        tooltip=attribute_text("containers using the host's own network stack"),
    )


def paint_mount_node(
    canvas: HostCanvas, graph: graphviz.Digraph, kind: str, key: str
) -> None:
    """Draw a volume (``kind`` "vol") or a bind-mounted host path ("bind")."""
    colour = canvas.palette["volume"]
    if kind == "vol":
        is_anonymous = len(key) == _ANONYMOUS_NAME_CHARS
        shown = key[:12] if is_anonymous else key
        label = ("anonymous " if is_anonymous else "") + "volume"
        shape, tip = "cylinder", f"volume {key}"
    else:
        shown, label, shape, tip = key, "host path", "folder", f"bind mount of {key}"
    graph.node(
        canvas.node_id(kind, key),
        label=stacked(
            [
                font(label_text(shown, canvas.limit), style.SMALL_POINTS, bold=True),
                font(label, style.SMALL_POINTS),
            ]
        ),
        shape=shape,
        style="filled",
        fillcolor=style.tint(colour),
        color=colour,
        margin="0.04",
        tooltip=attribute_text(tip),
    )


def _network_detail(network: Network | None) -> str:
    if network is None:
        return ""
    parts = [network.driver] if network.driver else []
    parts += network.subnets[:2]
    if network.is_internal:
        parts.append("internal")
    return " ".join(parts)

"""A container's node: its label lines, colours and tooltip; who is the proxy."""

from __future__ import annotations

import re

import graphviz

from bot.model import Container, PublishedPort
from renderers import style
from renderers.labels import ARROW, attribute_text, clean, font, label_text, shorten
from renderers.options import RenderOptions

# Key of the host's own network stack among network names; a NUL byte cannot
# be part of a Docker network name.
HOST_STACK = "\x00host"
_PROXY_IMAGES = ("traefik",)
# Traefik routes only to containers that run: these states serve no URL.
NOT_SERVED = "not served: container stopped"
# The engine's status of a stopped container: "Exited (137) 3 minutes ago".
_EXIT_CODE = re.compile(r"exited \((-?\d+)\)", re.IGNORECASE)


def attached_networks(container: Container) -> list[str]:
    """Networks drawn for a container; --network host is drawn as the stack."""
    names = [a.network for a in container.networks]
    if container.network_mode == "host":
        # The engine lists a "host" attachment too; the stack node stands for it.
        return [name for name in names if name != "host"]
    return names


def network_keys(container: Container) -> list[str]:
    """Keys of the network nodes a container is linked to, the host stack included."""
    stack = [HOST_STACK] if container.network_mode == "host" else []
    return attached_networks(container) + stack


def is_proxy(container: Container) -> bool:
    """Tell whether a container runs a reverse proxy whose routes we draw."""
    return any(word in container.image_ref.lower() for word in _PROXY_IMAGES)


def find_proxy(containers: list[Container]) -> Container | None:
    """The reverse proxy routes are drawn from: a running one if there is one."""
    candidates = [c for c in containers if is_proxy(c)]
    running = [c for c in candidates if c.state == "running"]
    chosen = running or candidates
    return chosen[0] if chosen else None


def shared_stack(container: Container, containers: list[Container]) -> Container | None:
    """The container whose network stack ``container`` uses, when it is drawn."""
    mode = container.network_mode
    if not mode.startswith("container:"):
        return None
    wanted = mode.split(":", 1)[1]
    for other in containers:
        if other.name == wanted or (len(wanted) >= 12 and other.id.startswith(wanted)):
            return other
    return None


def port_lines(container: Container) -> list[str]:
    """Published ports as shown, each shown once even when listed twice."""
    return list(dict.fromkeys(port_text(p) for p in container.ports))


def port_text(port: PublishedPort) -> str:
    """``*:443 → 443/tcp``; a specific IPv6 host address is bracketed."""
    host_ip = port.host_ip
    shown_ip = "*" if host_ip in ("", "0.0.0.0", "::") else host_ip
    if ":" in shown_ip:
        shown_ip = f"[{shown_ip}]"
    return f"{shown_ip}:{port.host_port} {ARROW} {port.container_port}/{port.protocol}"


def container_lines(
    container: Container, options: RenderOptions, is_stack_drawn: bool
) -> list[tuple[str, float]]:
    """Plain text of each label line with its size, for sizing and the label.

    ``is_stack_drawn`` tells whether a shared network stack is drawn as an
    edge, so the label need not name it.
    """
    limit = options.max_label_chars
    lines = [(shorten(clean(container.name), limit), style.BODY_POINTS)]
    lines.append((shorten(clean(container.image_ref), limit + 6), style.SMALL_POINTS))
    lines.append((_state_text(container), style.SMALL_POINTS))
    for text in _detail_lines(container, options, is_stack_drawn):
        lines.append((shorten(clean(text), limit + 10), style.SMALL_POINTS))
    return lines


def paint_container(
    graph: graphviz.Digraph,
    node: str,
    container: Container,
    options: RenderOptions,
    is_stack_drawn: bool,
) -> None:
    """Draw a container as a table: name, image, state, then its details."""
    palette = style.make_palette(options)
    colour = palette[style.state_color_key(container)]
    lines = container_lines(container, options, is_stack_drawn)
    urls = _url_lines(container, options)
    (name, name_points), *rest = lines
    cells = [
        f'<TR><TD BGCOLOR="{style.tint(colour)}">'
        + font(label_text(name), name_points, bold=True)
        + "</TD></TR>"
    ]
    is_served = not container.is_stopped
    for number, (text, points) in enumerate(rest, start=1):
        escaped, tone = label_text(text), ""
        if number == 2:
            tone = colour
        elif text in urls and is_served:
            tone = palette["route"]
        elif text in urls or text == NOT_SERVED:
            tone = palette["stopped"]
            escaped = escaped if text == NOT_SERVED else f"<S>{escaped}</S>"
        cells.append(
            '<TR><TD ALIGN="LEFT">' + font(escaped, points, tone) + "</TD></TR>"
        )
    table = (
        f'<TABLE BORDER="2" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2" '
        f'COLOR="{colour}" BGCOLOR="white" STYLE="rounded">'
        + "".join(cells)
        + "</TABLE>"
    )
    tooltip = attribute_text(_container_tooltip(container))
    graph.node(node, label=f"<{table}>", shape="plain", tooltip=tooltip)


def _url_lines(container: Container, options: RenderOptions) -> set[str]:
    limit = options.max_label_chars + 10
    return {shorten(clean(u), limit) for r in container.routes for u in r.urls}


def _detail_lines(
    container: Container, options: RenderOptions, is_stack_drawn: bool
) -> list[str]:
    most = options.max_rows_per_container
    urls = [u for r in container.routes for u in r.urls]
    broken = [
        f"route {r.router}: rule not understood"
        for r in container.routes
        if not r.is_parsed
    ]
    other_mounts = [
        f"{m.kind} {m.target}"
        for m in container.mounts
        if m.kind not in ("volume", "bind")
    ]
    details = _capped(port_lines(container), most, "ports")
    if urls and container.is_stopped:
        details.append(NOT_SERVED)
    details += _capped(urls, most, "URLs")
    details += _capped(broken, most, "unreadable routes")
    details += _capped(other_mounts, most, "mounts")
    mode = container.network_mode
    if mode == "none":
        details.append("no network (--network none)")
    elif mode.startswith("container:") and not is_stack_drawn:
        details.append(f"network of container {mode.split(':', 1)[1]}")
    return details


def _state_text(container: Container) -> str:
    text = "\u25cf " + container.state
    exit_code = _EXIT_CODE.match(container.status)
    if container.state == "exited" and exit_code:
        text += f" ({exit_code.group(1)})"
    if container.health:
        text += " \u00b7 " + container.health
    return text


def _capped(items: list[str], most: int, what: str) -> list[str]:
    if len(items) <= most:
        return items
    return items[: most - 1] + [f"and {len(items) - most + 1} more {what}"]


def _container_tooltip(container: Container) -> str:
    lines = [
        f"container {container.name}",
        f"image {container.image_ref}",
        f"state {container.status or container.state}",
    ]
    if container.health:
        lines.append(f"health {container.health}")
    if container.compose_project:
        service = container.compose_service
        lines.append(
            f"compose project {container.compose_project}"
            + (f" service {service}" if service else "")
        )
    networks = attached_networks(container)
    if networks:
        lines.append("networks " + ", ".join(networks))
    mode = container.network_mode
    if mode in ("host", "none") or mode.startswith("container:"):
        lines.append(f"network mode {mode}")
    lines += [f"port {text}" for text in port_lines(container)]
    served = f" ({NOT_SERVED})" if container.is_stopped else ""
    lines += [f"URL {u}{served}" for r in container.routes for u in r.urls]
    lines += [
        f"route {r.router}: {r.problem or r.rule}"
        for r in container.routes
        if not r.is_parsed
    ]
    lines += [
        f"{m.kind} {m.source} at {m.target}".replace("  ", " ")
        for m in container.mounts
    ]
    return "\n".join(lines)

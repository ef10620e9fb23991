"""Colours, shapes and fonts shared by the diagram and its legend."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.model import Container
from renderers.options import RenderOptions, _default_colors

FONT = "DejaVu Sans"
# At 96 dpi one point is 4/3 pixel: 8 pt text is 10.7 px high, above the
# 10 px floor of issue 5. Nothing in a picture is drawn smaller than this.
SMALL_POINTS = 8.0
BODY_POINTS = 10.0
CLUSTER_POINTS = 12.0
HOST_POINTS = 16.0
TITLE_POINTS = 20.0

_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}|[A-Za-z]{3,30}")


@dataclass(frozen=True)
class Kind:
    """How one kind of thing is drawn, and how the legend explains it."""

    key: str
    shape: str
    color_key: str
    meaning: str
    style: str = "filled"


@dataclass(frozen=True)
class Palette:
    """Colours resolved from the options, safe to put in DOT as they are."""

    by_key: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.by_key[key]


# What the ``hide`` settings can leave out, in the words of a picture.
HIDDEN_NAMES: tuple[tuple[str, str], ...] = (
    ("urls", "URLs"),
    ("volumes", "volumes"),
    ("binds", "bind mounts"),
    ("ports", "published ports"),
)
# Legend entries drawn only while one of these categories is shown.
_SHOWN_WITH: dict[str, frozenset[str]] = {
    "volume": frozenset({"volumes"}),
    "bind": frozenset({"binds"}),
    "mount": frozenset({"volumes", "binds"}),
    "route": frozenset({"urls"}),
    "unserved": frozenset({"urls"}),
}


def container_meaning(hidden: frozenset[str] = frozenset()) -> str:
    """What a container's box shows, leaving out hidden categories."""
    parts = ["name", "image", "state"]
    parts += [] if "ports" in hidden else ["ports"]
    parts += [] if "urls" in hidden else ["URLs"]
    return "container: " + ", ".join(parts)


def is_shown(key: str, hidden: frozenset[str]) -> bool:
    """Tell whether a node or edge kind can appear when ``hidden`` is left out."""
    needs = _SHOWN_WITH.get(key)
    return needs is None or not needs <= hidden


NODE_KINDS: tuple[Kind, ...] = (
    Kind("container", "plain", "running", container_meaning()),
    Kind("network", "hexagon", "network", "network (driver, subnets)"),
    Kind("volume", "cylinder", "volume", "named or anonymous volume"),
    Kind("bind", "folder", "volume", "bind mount: a host path"),
    Kind("note", "note", "stopped", "note: what could not be shown"),
    Kind("failed", "octagon", "unhealthy", "host not collected, with the reason"),
)

EDGE_KINDS: tuple[tuple[str, str, str, str], ...] = (
    # key, colour key, DOT style, meaning
    ("network", "network", "solid", "container joins network"),
    ("mount", "volume", "dashed", "container mounts volume or host path"),
    ("route", "route", "bold", "reverse proxy routes URL to container"),
    ("unserved", "stopped", "dashed", "route not served: container stopped"),
    ("shares", "stopped", "dotted", "shares the network stack of"),
)

STATE_KEYS: tuple[tuple[str, str], ...] = (
    ("running", "running"),
    ("paused", "paused"),
    ("restarting", "restarting"),
    ("exited (exit code) / created / dead", "stopped"),
    ("unhealthy", "unhealthy"),
)


def make_palette(options: RenderOptions) -> Palette:
    """Resolve colours; a value that is not a colour falls back to the default.

    The settings already check colours; this second check keeps any other
    caller from putting arbitrary text into DOT attributes.
    """
    defaults = _default_colors()
    resolved = {}
    for key, default in defaults.items():
        value = options.colors.get(key, default)
        resolved[key] = value if _COLOUR.fullmatch(value or "") else default
    return Palette(resolved)


def state_color_key(container: Container) -> str:
    """Pick the colour key that tells a container's state at a glance."""
    if container.health == "unhealthy" or container.state == "dead":
        return "unhealthy"
    if container.state in ("running", "paused", "restarting"):
        return container.state
    if container.state == "removing":
        return "restarting"
    return "stopped"


def tint(color: str) -> str:
    """Return a light fill for a #rrggbb colour (names are used as they are)."""
    if not color.startswith("#"):
        return "white"
    channels = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    light = [round(255 - (255 - c) * 0.15) for c in channels]
    return "#" + "".join(f"{c:02x}" for c in light)

"""Plain options for the renderers: colours, organisation and layout limits."""

from __future__ import annotations

from dataclasses import dataclass, field

# Mattermost's default upload limit is 7680 x 4320 pixels.
MATTERMOST_MAX_PIXELS = 7680 * 4320


def _default_colors() -> dict[str, str]:
    return {
        "running": "#2e7d32",
        "stopped": "#9e9e9e",
        "paused": "#f9a825",
        "restarting": "#ef6c00",
        "unhealthy": "#c62828",
        "network": "#1565c0",
        "volume": "#6d4c41",
        "route": "#6a1b9a",
        "host": "#eceff1",
    }


@dataclass(frozen=True)
class RenderOptions:
    """How pictures are drawn; built by the caller from settings.

    ``colors`` takes the keys of ``bot.settings.ColorSettings`` (pass
    ``settings.colors.model_dump()``); missing keys keep their default.
    """

    organization: str = ""  # empty: the inventory's own organisation name
    colors: dict[str, str] = field(default_factory=_default_colors)
    timezone: str = "UTC"
    dpi: float = 96.0
    max_pixels: int = MATTERMOST_MAX_PIXELS
    min_text_px: float = 10.0
    target_aspect: float = 1.4  # width / height aimed at when wrapping rows
    max_aspect: float = 2.5  # neither side longer than this times the other
    max_label_chars: int = 30
    max_rows_per_container: int = 3  # ports, URLs: the rest is summed up
    # Above this many routed containers on a host, route edges are left out
    # (the URLs stay in each container, and a note says so): a hundred edges
    # from one proxy took half of the picture's width in fleet B.
    max_route_edges: int = 30
    dot_timeout_seconds: float = 300.0
    # What the ``hide`` settings took out of the inventory before drawing, as
    # the keys of ``bot.settings.HideSettings`` that are on: "urls",
    # "volumes", "binds", "ports". The legend leaves their shapes out and says
    # that they are not shown.
    hidden: frozenset[str] = frozenset()

    def color(self, key: str) -> str:
        """Return the configured colour for ``key``, else its default."""
        return self.colors.get(key) or _default_colors()[key]

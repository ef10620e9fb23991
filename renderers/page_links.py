"""The page's list of containers with their URLs, linked only when http(s).

Pure; no I/O. A route's URLs come from container labels that anyone who can
start a container may write, so only plain ``http://`` and ``https://``
addresses to a named host become links. Anything else (``javascript:``,
``data:``, ``tcp://``, a rule that could not be read as an address) is shown
as text, never as a link.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from bot.model import Container, Snapshot

# No white space, control characters, quotes, angle brackets or backslashes:
# browsers drop or reinterpret those, so what is linked could differ from
# what is shown.
_LINKABLE = re.compile(r"https?://[^\s\x00-\x1f\x7f\"'<>`\\]+", re.IGNORECASE)
# ``urlsplit`` lowercases the host name and strips IPv6 brackets.
_HOST_NAME = re.compile(r"[a-z0-9.-]+|[0-9a-f:.]+")


def link_target(url: str) -> str | None:
    """The URL when it is safe to link (http or https to a named host), else None."""
    if not _LINKABLE.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # raises on a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url if _HOST_NAME.fullmatch(parts.hostname) else None


def url_list(snapshot: Snapshot) -> str:
    """One hidden list item per container with URLs, for the search to reveal."""
    items = [
        _item(host.host, container)
        for host in snapshot.inventory.hosts
        for container in host.containers
        if _urls(container)
    ]
    return "\n".join(items)


def _item(host: str, container: Container) -> str:
    words = [
        host,
        container.name,
        container.compose_project,
        container.compose_service,
        container.image_ref,
        *_urls(container),
    ]
    search = html.escape(" ".join(w for w in words if w).lower(), quote=True)
    links = " ".join(_address(url) for url in _urls(container))
    return (
        f'<li data-search="{search}" hidden><span class="who"><b>'
        f"{html.escape(container.name)}</b> on {html.escape(host)}</span> {links}</li>"
    )


def _address(url: str) -> str:
    target = link_target(url)
    if target is None:
        return f'<span class="url">{html.escape(url)}</span>'
    return (
        f'<a class="url" href="{html.escape(target, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer">{html.escape(url)}</a>'
    )


def _urls(container: Container) -> list[str]:
    return [url for route in container.routes for url in route.urls]

"""Plain inventory values for the renderer tests."""

from __future__ import annotations

import html
import json
import re
import subprocess
from datetime import datetime, timezone

from bot.model import Container, HostInventory, Mount, Network, NetworkAttachment, Route

WHEN = datetime(2024, 11, 5, 8, 0, tzinfo=timezone.utc)


def container(name: str, **fields: object) -> Container:
    """A running container with sensible defaults for a test."""
    values: dict[str, object] = {
        "id": (name.encode("utf-8").hex() + "0" * 64)[:64],
        "name": name,
        "image_ref": "busybox:1.36",
        "state": "running",
    }
    values.update(fields)
    return Container.model_validate(values)


def attached(*networks: str) -> list[NetworkAttachment]:
    return [NetworkAttachment(network=n) for n in networks]


def host(
    name: str = "alpha",
    containers: list[Container] | None = None,
    networks: list[str] = (),
    notes: list[str] = (),
) -> HostInventory:
    return HostInventory(
        host=name,
        collected_at=WHEN,
        containers=containers or [],
        networks=[Network(id=f"id-{n}", name=n, driver="bridge") for n in networks],
        notes=list(notes),
    )


def traefik_route(url: str) -> Route:
    return Route(
        router="r",
        provider="traefik-v2",
        rule=f"Host(`{url}`)",
        urls=[f"https://{url}"],
        backend_port=80,
    )


def volume(name: str, target: str) -> Mount:
    return Mount(kind="volume", source=name, target=target)


def layout_json(source: str) -> dict:
    """Lay the DOT source out with the real dot and return its JSON form."""
    result = subprocess.run(
        ["dot", "-Tjson"],
        input=source.encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


def svg_of(source: str) -> str:
    result = subprocess.run(
        ["dot", "-Tsvg"],
        input=source.encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=120,
    )
    return result.stdout.decode("utf-8")


def svg_texts(source: str) -> list[str]:
    """Every line of text the SVG drawing of ``source`` shows, unescaped."""
    return text_lines(svg_of(source))


def text_lines(svg: str) -> list[str]:
    """Every line of text an SVG shows, unescaped."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


class Drawing:
    """The nodes, clusters and edges dot saw, by our ids and labels."""

    def __init__(self, source: str) -> None:
        data = layout_json(source)
        objects = data.get("objects", [])
        nodes = [o for o in objects if "pos" in o]
        by_gvid = {o["_gvid"]: o["name"] for o in nodes}
        self.clusters = {
            o["name"]: {by_gvid[g] for g in o.get("nodes", [])}
            for o in objects
            if o["name"].startswith("cluster")
        }
        self.nodes = {o["name"]: o for o in nodes if o.get("style") != "invis"}
        self.edges = [
            (by_gvid[e["tail"]], by_gvid[e["head"]], e)
            for e in data.get("edges", [])
            if e.get("style") != "invis"
        ]

    def nodes_labelled(self, text: str) -> list[str]:
        return [n for n, o in self.nodes.items() if text in o.get("label", "")]

    def edges_between(self, tail: str, head: str) -> list[dict]:
        return [e for t, h, e in self.edges if {t, h} == {tail, head}]

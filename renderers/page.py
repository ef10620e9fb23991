"""Write output/index.html: every picture inline, with pan, zoom and search.

The page makes no network request: its script and style are inline, fonts
are the reader's own, and a Content-Security-Policy forbids anything else.
It works from the file system and from any static web server.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from bot.model import Snapshot
from renderers.options import RenderOptions
from renderers.page_assets import SCRIPT, STYLE
from renderers.page_links import url_list
from renderers.picture import format_time

_PROLOGUE = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", re.DOTALL)
_SVG_SIZE = re.compile(r'<svg width="[\d.]+pt" height="[\d.]+pt"')
_ID = re.compile(r'\bid="')
_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:"
)


@dataclass(frozen=True)
class Part:
    """One picture on the page."""

    name: str
    title: str
    kind: str  # "fleet", "host" or "legend"
    svg: Path


def write_page(
    snapshot: Snapshot, output_dir: Path, parts: list[Part], options: RenderOptions
) -> Path:
    """Write index.html from the SVGs already in ``output_dir``."""
    inventory = snapshot.inventory
    organization = options.organization or inventory.organization or "graphbot"
    when = format_time(snapshot.collected_at, options.timezone)
    sections = [_section(number, part) for number, part in enumerate(parts)]
    document = _TEMPLATE.format(
        policy=_POLICY,
        organization=html.escape(organization),
        when=html.escape(when),
        sample=_SAMPLE if inventory.is_sample else "",
        failures=_failures(snapshot),
        nav=_navigation(parts),
        sections="\n".join(sections),
        urls=url_list(snapshot),
        style=STYLE,
        script=SCRIPT,
    )
    path = output_dir / "index.html"
    path.write_text(document, encoding="utf-8")
    return path


def inline_svg(svg: str, number: int) -> str:
    """An SVG made fit to sit in the page: no prologue, unique ids, fluid size."""
    svg = _PROLOGUE.sub("", svg).strip()
    svg = _ID.sub(f'id="p{number}-', svg)
    return _SVG_SIZE.sub('<svg width="100%" height="100%"', svg, count=1)


def _section(number: int, part: Part) -> str:
    svg = inline_svg(part.svg.read_text(encoding="utf-8"), number)
    return (
        f'<section class="picture {part.kind}" id="picture-{number}">'
        f"<h2>{html.escape(part.title)}</h2>"
        '<div class="tools"><button data-zoom="in" type="button">+</button>'
        '<button data-zoom="out" type="button">\u2212</button>'
        '<button data-zoom="reset" type="button">fit</button>'
        f'<a href="{html.escape(part.svg.name)}">SVG</a></div>'
        f'<div class="viewport">{svg}</div></section>'
    )


def _navigation(parts: list[Part]) -> str:
    links = [
        f'<a href="#picture-{n}">{html.escape(p.name)}</a>' for n, p in enumerate(parts)
    ]
    return " \u00b7 ".join(links)


def _failures(snapshot: Snapshot) -> str:
    failures = snapshot.inventory.failures
    if not failures:
        return ""
    items = "".join(
        f"<li><b>{html.escape(f.host)}</b>: {html.escape(f.reason)}</li>"
        for f in failures
    )
    return f'<div class="failures">Hosts not collected:<ul>{items}</ul></div>'


_SAMPLE = (
    '<p class="sample">SAMPLE: these pictures show the sample fleet shipped '
    "with graphbot, not real hosts.</p>"
)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{organization}: fleet</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{organization}</h1>
<p>Collected <time>{when}</time></p>
{sample}
{failures}
<form id="search" role="search" onsubmit="return false">
<input id="query" type="search" placeholder="Find a container, service or URL"
 aria-label="Find a container, service or URL" autocomplete="off">
<button id="next" type="button">next</button>
<span id="found" aria-live="polite"></span>
</form>
<ul id="results" aria-label="URLs of the containers found" hidden>
{urls}
</ul>
<nav>{nav}</nav>
<p class="help">Drag to move, wheel to zoom; the search centres each match.</p>
</header>
<main>
{sections}
</main>
<script>{script}</script>
</body>
</html>
"""

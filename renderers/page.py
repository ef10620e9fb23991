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
        style=_STYLE,
        script=_SCRIPT,
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

_STYLE = """
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 0; color: #263238; }
header { padding: 0.6em 1em; background: #eceff1; position: sticky; top: 0;
  z-index: 2; border-bottom: 1px solid #b0bec5; }
h1 { font-size: 1.4em; margin: 0; } h2 { font-size: 1.1em; margin: 0.4em 0; }
header p { margin: 0.2em 0; }
.sample { color: #c62828; font-weight: bold; }
.failures { color: #c62828; }
#query { width: 24em; font-size: 1em; padding: 0.2em; }
section.picture { padding: 0.5em 1em; }
.viewport { height: 75vh; border: 1px solid #b0bec5; overflow: hidden;
  cursor: grab; background: white; touch-action: none; }
section.legend .viewport { height: 40vh; }
.viewport.dragging { cursor: grabbing; }
.viewport svg { display: block; user-select: none; }
.tools button { min-width: 2.2em; }
g.hit polygon, g.hit path, g.hit ellipse, g.hit polyline {
  stroke: #ff1744 !important; stroke-width: 4px !important; }
g.hit { filter: drop-shadow(0 0 6px #ff1744); }
g.hit.current polygon, g.hit.current path { stroke-width: 7px !important; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  const XLINK = "http://www.w3.org/1999/xlink";
  const views = Array.from(document.querySelectorAll(".viewport")).map(makeView);
  let hits = [];
  let current = -1;

  function makeView(div) {
    const svg = div.querySelector("svg");
    const box = svg.viewBox.baseVal;
    const home = { x: box.x, y: box.y, w: box.width, h: box.height };
    const view = { div: div, svg: svg, home: home, now: Object.assign({}, home) };
    view.apply = function () {
      const n = view.now;
      svg.setAttribute("viewBox", n.x + " " + n.y + " " + n.w + " " + n.h);
    };
    view.zoom = function (factor, cx, cy) {
      const n = view.now;
      if (cx === undefined) { cx = n.x + n.w / 2; cy = n.y + n.h / 2; }
      n.x = cx - (cx - n.x) * factor; n.y = cy - (cy - n.y) * factor;
      n.w *= factor; n.h *= factor; view.apply();
    };
    view.toUser = function (clientX, clientY) {
      const point = svg.createSVGPoint();
      point.x = clientX; point.y = clientY;
      return point.matrixTransform(svg.getScreenCTM().inverse());
    };
    div.addEventListener("wheel", function (event) {
      event.preventDefault();
      const p = view.toUser(event.clientX, event.clientY);
      view.zoom(event.deltaY < 0 ? 0.8 : 1.25, p.x, p.y);
    }, { passive: false });
    let last = null;
    div.addEventListener("pointerdown", function (event) {
      last = { x: event.clientX, y: event.clientY };
      div.classList.add("dragging"); div.setPointerCapture(event.pointerId);
    });
    div.addEventListener("pointermove", function (event) {
      if (!last) { return; }
      const m = svg.getScreenCTM();
      view.now.x -= (event.clientX - last.x) / m.a;
      view.now.y -= (event.clientY - last.y) / m.d;
      last = { x: event.clientX, y: event.clientY }; view.apply();
    });
    function stop() { last = null; div.classList.remove("dragging"); }
    div.addEventListener("pointerup", stop);
    div.addEventListener("pointercancel", stop);
    const tools = div.parentElement.querySelector(".tools");
    tools.addEventListener("click", function (event) {
      const kind = event.target.getAttribute("data-zoom");
      if (kind === "in") { view.zoom(0.8); }
      if (kind === "out") { view.zoom(1.25); }
      if (kind === "reset") { view.now = Object.assign({}, home); view.apply(); }
    });
    return view;
  }

  function searchableText(group) {
    let text = group.textContent;
    group.querySelectorAll("a").forEach(function (link) {
      const tip = link.getAttributeNS(XLINK, "title") || link.getAttribute("title");
      text += " " + (tip || "");
    });
    return text.toLowerCase();
  }

  function centre(view, element) {
    const box = element.getBBox();
    const m = view.svg.getScreenCTM().inverse().multiply(element.getScreenCTM());
    const corner = view.svg.createSVGPoint();
    corner.x = box.x; corner.y = box.y;
    const a = corner.matrixTransform(m);
    corner.x = box.x + box.width; corner.y = box.y + box.height;
    const b = corner.matrixTransform(m);
    const rect = view.div.getBoundingClientRect();
    const ratio = rect.height / Math.max(rect.width, 1);
    const w = Math.min(view.home.w, Math.max((b.x - a.x) * 5, 600));
    const h = w * ratio;
    view.now = { x: (a.x + b.x) / 2 - w / 2, y: (a.y + b.y) / 2 - h / 2, w: w, h: h };
    view.apply();
  }

  function show(index) {
    hits.forEach(function (hit) { hit.element.classList.remove("current"); });
    if (!hits.length) { return; }
    current = index % hits.length;
    const hit = hits[current];
    hit.element.classList.add("current");
    centre(hit.view, hit.element);
    hit.view.div.scrollIntoView({ block: "center" });
    document.getElementById("found").textContent =
      (current + 1) + " of " + hits.length + " found";
  }

  function search() {
    const query = document.getElementById("query").value.trim().toLowerCase();
    document.querySelectorAll("g.hit").forEach(function (g) {
      g.classList.remove("hit", "current");
    });
    hits = []; current = -1;
    document.getElementById("found").textContent = "";
    if (query.length < 2) { return; }
    views.forEach(function (view) {
      let first = true;
      view.svg.querySelectorAll("g.node").forEach(function (group) {
        if (searchableText(group).indexOf(query) < 0) { return; }
        group.classList.add("hit");
        hits.push({ view: view, element: group, first: first });
        first = false;
      });
      const firstHit = hits.find(function (h) { return h.view === view; });
      if (firstHit) { centre(view, firstHit.element); }
    });
    if (hits.length) { show(0); }
    else { document.getElementById("found").textContent = "nothing found"; }
  }

  document.getElementById("query").addEventListener("input", search);
  document.getElementById("query").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); show(current + 1); }
  });
  document.getElementById("next").addEventListener("click", function () {
    show(current + 1);
  });
})();
"""

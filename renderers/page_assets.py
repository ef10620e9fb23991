"""The page's inline style sheet and script: pan, zoom, search and highlight.

Both are inlined into index.html, which makes no network request; the script
reads only the page itself.
"""

from __future__ import annotations

STYLE = """
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 0; color: #263238; }
header { padding: 0.6em 1em; background: #eceff1; position: sticky; top: 0;
  z-index: 2; border-bottom: 1px solid #b0bec5; }
header, h2 { overflow-wrap: anywhere; }
h1 { font-size: 1.4em; margin: 0; } h2 { font-size: 1.1em; margin: 0.4em 0; }
header p { margin: 0.2em 0; }
.sample { color: #c62828; font-weight: bold; }
.failures { color: #c62828; }
#search { display: flex; flex-wrap: wrap; align-items: center; gap: 0.3em; }
#query { flex: 1 1 12em; max-width: 24em; min-width: 0; box-sizing: border-box;
  font-size: 1em; padding: 0.2em; }
#results { max-height: 30vh; overflow-y: auto; margin: 0.3em 0;
  padding-left: 1.2em; }
#results .url { margin-left: 0.5em; }
section.picture { padding: 0.5em 1em; }
.viewport { height: 75vh; border: 1px solid #b0bec5; overflow: hidden;
  cursor: grab; background: white; touch-action: none; }
section.legend .viewport { height: 40vh; }
.viewport.dragging { cursor: grabbing; }
.viewport svg { display: block; user-select: none; }
.tools button { min-width: 2.2em; }
rect.halo { fill: none; stroke: #ff1744; stroke-width: 5px; stroke-opacity: 0.8;
  pointer-events: none; }
g.current > rect.halo { stroke-width: 8px; stroke-opacity: 1; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  const XLINK = "http://www.w3.org/1999/xlink";
  const SVG = "http://www.w3.org/2000/svg";
  // The halo stays this far outside the node, in picture units: wider than
  // half its stroke, so it never crosses the node's own text.
  const HALO_MARGIN = 8;
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

  function addHalo(group) {
    const box = group.getBBox();
    const halo = document.createElementNS(SVG, "rect");
    halo.setAttribute("class", "halo");
    halo.setAttribute("x", box.x - HALO_MARGIN);
    halo.setAttribute("y", box.y - HALO_MARGIN);
    halo.setAttribute("width", box.width + 2 * HALO_MARGIN);
    halo.setAttribute("height", box.height + 2 * HALO_MARGIN);
    halo.setAttribute("rx", HALO_MARGIN);
    // First in the group, so the node is painted over it.
    group.insertBefore(halo, group.firstChild);
  }

  function showUrls(query) {
    const list = document.getElementById("results");
    let shown = 0;
    list.querySelectorAll("li").forEach(function (item) {
      const words = item.getAttribute("data-search") || "";
      item.hidden = query.length < 2 || words.indexOf(query) < 0;
      if (!item.hidden) { shown += 1; }
    });
    list.hidden = shown === 0;
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
    document.querySelectorAll("rect.halo").forEach(function (halo) {
      halo.remove();
    });
    showUrls(query);
    hits = []; current = -1;
    document.getElementById("found").textContent = "";
    if (query.length < 2) { return; }
    views.forEach(function (view) {
      let first = true;
      view.svg.querySelectorAll("g.node").forEach(function (group) {
        if (searchableText(group).indexOf(query) < 0) { return; }
        group.classList.add("hit");
        addHalo(group);
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

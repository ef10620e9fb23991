"""index.html in real headless Chromium: search, highlight, no network."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.model import Inventory, Route, Snapshot
from renderers.options import RenderOptions
from renderers.publish import write_pictures
from tests.renderers.conftest import WHEN, attached, container, host

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample-inventory.json"
CHROMIUM = "/usr/bin/chromium"
OPTIONS = RenderOptions()
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("output")
    snapshot = Snapshot.model_validate_json(SAMPLE.read_text("utf-8"))
    write_pictures(snapshot, output, OPTIONS)
    return output / "index.html"


HOSTILE_URLS = [
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(2)",
    "data:text/html,<script>alert(3)</script>",
    'https://ok.example/" onclick="alert(4)',
]


@pytest.fixture(scope="module")
def hostile_page_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A page of one container whose labels claim script URLs and one real one."""
    route = Route(
        router="trap",
        provider="traefik-v2",
        rule="Host(`ok.example`)",
        urls=[*HOSTILE_URLS, "https://ok.example/a?b=1&c=2"],
        backend_port=80,
    )
    trap = container("trap-app", networks=attached("web"), routes=[route])
    inventory = Inventory(organization="t", hosts=[host("evil", [trap], ["web"])])
    output = tmp_path_factory.mktemp("hostile")
    write_pictures(Snapshot(collected_at=WHEN, inventory=inventory), output, OPTIONS)
    return output / "index.html"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def test_search_highlights_and_centres_etherpad(
    page_path: Path, browser, tmp_path: Path
) -> None:
    """Typing "etherpad" highlights it and brings it into view."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_path.as_uri())

    page.fill("#query", "etherpad")
    page.wait_for_selector("g.node.hit")

    hits = page.locator("g.node.hit")
    assert hits.count() >= 2  # in the fleet picture and in alpha's
    assert "etherpad" in hits.first.text_content()
    assert "found" in page.text_content("#found")
    box = page.locator("g.node.hit.current").bounding_box()
    viewport = page.locator(".viewport").first.bounding_box()
    assert box is not None and viewport is not None
    centre_x = box["x"] + box["width"] / 2
    assert (
        abs(centre_x - (viewport["x"] + viewport["width"] / 2)) < viewport["width"] / 4
    )
    shot = page.screenshot(path=str(tmp_path / "page.png"))
    assert struct.unpack(">II", shot[16:24]) == (1280, 900)
    page.close()


def test_page_makes_no_external_request(page_path: Path, browser) -> None:
    """Loading and using the page asks for nothing but the file itself."""
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(page_path.as_uri())
    page.fill("#query", "pad.collective")
    page.mouse.wheel(0, -300)

    assert requests == [page_path.as_uri()]
    page.close()


def test_page_says_sample_and_shows_the_collection_time(
    page_path: Path, browser
) -> None:
    """The header says it is the sample and when it was collected."""
    page = browser.new_page()

    page.goto(page_path.as_uri())

    header = page.text_content("header")
    assert "SAMPLE" in header and "2024-11-05 07:58 UTC" in header
    assert page.locator("section.legend svg").count() == 1
    page.close()


def test_search_lists_the_https_url_of_a_match_as_a_link(
    page_path: Path, browser
) -> None:
    """Searching "etherpad" lists pad.collective.example as a link that opens it."""
    page = browser.new_page()
    page.goto(page_path.as_uri())

    page.fill("#query", "etherpad")

    link = page.locator('#results a[href="https://pad.collective.example"]')
    assert link.count() == 1 and link.is_visible()
    assert link.text_content() == "https://pad.collective.example"
    assert set(link.get_attribute("rel").split()) == {"noopener", "noreferrer"}
    assert page.locator("#results li:visible").count() == 1
    page.close()


def test_script_urls_in_the_model_become_no_link(
    hostile_page_path: Path, browser
) -> None:
    """A route URL that is not http(s) is shown as text; only the real one links."""
    page = browser.new_page()
    page.goto(hostile_page_path.as_uri())

    page.fill("#query", "trap-app")

    item = page.locator("#results li:visible")
    assert item.count() == 1
    assert "javascript:alert(document.domain)" in item.text_content()
    hrefs = item.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs == ["https://ok.example/a?b=1&c=2"]
    every_href = page.evaluate(
        """Array.from(document.querySelectorAll("a")).map(a =>
            a.getAttribute("href") ||
            a.getAttributeNS("http://www.w3.org/1999/xlink", "href") || "")"""
    )
    assert not [h for h in every_href if "script" in h.lower() or "data:" in h]
    assert page.locator("[onclick]").count() == 0
    page.close()


@pytest.mark.parametrize("width", [360, 390, 400])
def test_page_fits_a_phone_screen_and_the_picture_still_pans(
    page_path: Path, browser, width: int
) -> None:
    """On a phone-wide screen nothing overflows sideways; a drag still pans."""
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(page_path.as_uri())
    page.fill("#query", "etherpad")

    overflow = page.evaluate(
        "document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0
    viewport = page.locator(".viewport").first
    viewport.scroll_into_view_if_needed()
    box = viewport.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    before = viewport.locator("svg").get_attribute("viewBox")
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 80, y - 40, steps=4)
    page.mouse.up()
    assert viewport.locator("svg").get_attribute("viewBox") != before
    page.close()


def test_highlight_leaves_the_container_name_readable(
    page_path: Path, browser
) -> None:
    """The halo is drawn behind and around the node: the name's pixels are unchanged."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(page_path.as_uri())
    page.fill("#query", "etherpad-app-1")
    page.wait_for_selector("g.node.hit.current")

    current = page.locator("g.node.hit.current")
    name = current.locator("text").filter(has_text="etherpad-app-1").first
    order = current.evaluate(
        """group => {
            const halo = group.querySelector("rect.halo");
            return [
                group.firstElementChild === halo,
                getComputedStyle(halo).fill,
                Array.from(group.querySelectorAll("text")).every(text =>
                    halo.compareDocumentPosition(text) &
                    Node.DOCUMENT_POSITION_FOLLOWING),
            ];
        }"""
    )
    box = name.bounding_box()
    assert box is not None
    highlighted = page.screenshot(clip=box)
    current.evaluate(
        """group => {
            group.querySelector("rect.halo").remove();
            group.classList.remove("hit", "current");
        }"""
    )
    plain = page.screenshot(clip=box)

    assert order == [True, "none", True]
    assert highlighted == plain
    page.close()

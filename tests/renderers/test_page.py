"""index.html in real headless Chromium: search, highlight, no network."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bot.model import Snapshot
from renderers.options import RenderOptions
from renderers.publish import write_pictures

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample-inventory.json"
CHROMIUM = "/usr/bin/chromium"
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
    write_pictures(snapshot, output, RenderOptions())
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

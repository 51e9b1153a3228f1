"""The built site, as a reader's browser sees it (headless Chromium, no network).

For the landing page and every page in ``_toc.yml``: MathJax typeset every equation (no raw
``\\[`` or ``$$`` left), every image loaded, the console is free of errors, nothing was fetched
from outside the site, no code or output box needs a horizontal scroll bar on a 1440-px-wide
screen (so no number hides off its edge), and notebook pages offer "Open in Colab". Screenshots are
saved under ``_build/screenshots/``. Build the site first (``make site`` or ``make book``).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

pytestmark = pytest.mark.site

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RAW_MATH = ("\\[", "\\]", "$$", "\\begin{", "\\frac")


def _pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [
        entry["file"] for part in toc.get("parts", []) for entry in part["chapters"]
    ]
    return [f"{f}.html" for f in files]


PAGES = _pages()


def _chromium() -> str:
    path = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail(
            "The built-site check needs chromium: apt-get install -y chromium (or set CHROMIUM=...)"
        )
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (HTML / "index.html").is_file():
        pytest.fail(f"No built site in {HTML}: run `make site` (or `make book`) first.")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=_chromium(),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1440, "height": 900},  # a common laptop width
        )
        yield context
        context.close()


def _open_offline(browser, url: str):
    """Open ``url`` in a new page that records console errors and blocks (and lists) any request
    that leaves the local site. Returns ``(page, errors, outside)``."""
    page = browser.new_page()
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def only_this_site(route) -> None:
        if urlparse(route.request.url).hostname in ("127.0.0.1", None):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_site)
    page.goto(url, wait_until="load")
    return page, errors, outside


@pytest.mark.parametrize("page_path", PAGES)
def test_page_renders_offline(site: str, browser, page_path: str) -> None:
    assert (HTML / page_path).is_file(), f"{page_path} was not built"
    page, errors, outside = _open_offline(browser, site + page_path)
    if page.locator('script[src*="mathjax"]').count():
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000
        )
        page.evaluate("() => MathJax.startup.promise")
    page.evaluate(
        "() => Promise.all([...document.images].map(img => { img.loading = 'eager';"
        " return img.decode().catch(() => null); }))"
    )

    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if page_path == "chapters/06_training.html":
        assert views, "the training chapter's progress bar (a saved widget) is not in the page"
    if views:
        page.wait_for_selector("main .jupyter-widgets", state="visible", timeout=20_000)

    text = page.inner_text("main")
    raw = [m for m in RAW_MATH if m in text]
    assert not raw, f"{page_path}: untypeset TeX left in the text: {raw}"
    math_nodes = page.locator(".math, span.math, div.math").count()
    if math_nodes:
        assert page.locator("mjx-container").count() >= math_nodes, (
            f"{page_path}: some math was not typeset"
        )

    broken = page.evaluate(
        "() => [...document.images]"
        ".filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert not broken, f"{page_path}: images that did not load: {broken}"

    page.evaluate(  # collapsed asides too: a reader who opens one must not meet a clipped line
        "() => document.querySelectorAll('main details').forEach(d => { d.open = true; })"
    )
    clipped = page.evaluate(
        "() => [...document.querySelectorAll('main pre')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1)"
        ".map(e => e.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a)))"
    )
    assert not clipped, (
        f"{page_path}: code or output wider than the page (shorten the line or wrap it): {clipped}"
    )

    if page_path.startswith("chapters/"):
        colab = page.locator('a[href*="colab.research.google.com"]')
        assert colab.count() > 0, f"{page_path}: no Open in Colab link"
        assert any(
            f"/blob/main/{page_path.removesuffix('.html')}.ipynb"
            in (colab.nth(i).get_attribute("href") or "")
            for i in range(colab.count())
        ), f"{page_path}: the Colab link does not open this notebook"
        assert page.locator("img").count() > 0, f"{page_path}: a chapter without figures"

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(SHOTS / (page_path.replace("/", "_").removesuffix(".html") + ".png")),
        full_page=True,
    )
    page.close()
    assert not outside, (
        f"{page_path}: requests outside the site (the book must work offline): {outside}"
    )
    assert not errors, f"{page_path}: JavaScript console errors: {errors}"


LATENT_PAGE = "chapters/08_latent_space.html"


def test_latent_explorer_works_on_the_built_page(site: str, browser) -> None:
    """Chapter 8's no-kernel explorer: drawn, redrawn by a drag, no inert ipywidgets left."""
    page, errors, outside = _open_offline(browser, site + LATENT_PAGE)
    explorers = page.locator("main .vae-explorer")
    assert explorers.count() == 1, "the chapter's JavaScript explorer is missing"
    root = explorers.first
    root.scroll_into_view_if_needed()
    assert page.evaluate("(e) => typeof e.vaeExplorer === 'object'", root.element_handle())
    digit = root.locator("canvas[data-role=digit]")
    before = digit.evaluate("(c) => c.toDataURL()")
    box = root.locator("canvas[data-role=pad]").bounding_box()
    assert box and box["width"] >= 300, f"the pad is drawn too small: {box}"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.8 * box["height"], steps=4)
    page.mouse.up()
    assert digit.evaluate("(c) => c.toDataURL()") != before, "a drag did not redraw the digit"
    assert "z = (-2.40, -2.40)" in root.locator("[data-role=readout]").inner_text()
    ms = page.evaluate("(e) => e.vaeExplorer.timeRedraw(100)", root.element_handle())
    print(f"built page: one redraw {ms:.2f} ms")
    assert page.locator("main .widget-slider, main .jupyter-widgets").count() == 0, (
        "an ipywidgets explorer was rendered without a kernel: its sliders would do nothing"
    )
    notes = page.locator("main p", has_text="needs a running kernel")
    assert notes.count() == 3, "each ipywidgets explorer needs its one-line kernel note"
    SHOTS.mkdir(parents=True, exist_ok=True)
    root.screenshot(path=str(SHOTS / "chapters_08_latent_space_explorer.png"))
    page.close()
    assert not outside, f"{LATENT_PAGE}: requests outside the site: {outside}"
    assert not errors, f"{LATENT_PAGE}: JavaScript console errors: {errors}"

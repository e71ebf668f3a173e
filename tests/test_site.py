"""The documentation site as a reader gets it: built offline with warnings as errors, then opened page by page in
headless Chromium (Debian's, driven by Playwright) from a local HTTP server. Every page must load with no
console error and no request that leaves the machine; the search finds "SPLADE"; the API page shows
``boltir.load_model``. Screenshots of the landing page and one tutorial go to ``$BOLTIR_ARTIFACTS`` (CI keeps
them; ``.ci/run`` sets it to ``artifacts/``)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.repro,
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning"),  # myst on Sphinx 9
]


def _chromium() -> str:
    browser = next(
        (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        if os.environ.get("BOLTIR_REQUIRE_BROWSER") == "1":
            pytest.fail("no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH")
    return browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built site served on 127.0.0.1; yields its base URL and folder."""
    from sphinx.cmd.build import build_main

    out = tmp_path_factory.mktemp("site")
    assert build_main(["-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(out)]) == 0
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", out
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


def _page(browser, outside: list[str], errors: list[str]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    def route(r):
        if urlparse(r.request.url).hostname not in ("127.0.0.1", None) and not r.request.url.startswith("data:"):
            outside.append(r.request.url)
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return page


def test_every_page_loads_offline_without_a_console_error(site, browser):
    base, folder = site
    pages = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html") if "_static" not in p.parts)
    assert len(pages) > 100  # the hand-written pages and one API page per module
    outside: list[str] = []
    errors: list[str] = []
    page = _page(browser, outside, errors)
    for name in pages:
        response = page.goto(f"{base}/{name}", wait_until="load")
        assert response is not None and response.ok, name
    assert outside == [], outside[:5]
    assert errors == [], errors[:5]
    artifacts = Path(os.environ.get("BOLTIR_ARTIFACTS", folder / "_screenshots"))
    artifacts.mkdir(parents=True, exist_ok=True)
    for name, shot in (("index.html", "docs-landing.png"), ("tutorials/rerank.html", "docs-tutorial-rerank.png")):
        page.goto(f"{base}/{name}", wait_until="load")
        page.screenshot(path=str(artifacts / shot), full_page=True)
        assert (artifacts / shot).stat().st_size > 10_000
    page.close()


def test_search_finds_splade_and_the_api_page_shows_load_model(site, browser):
    base, _ = site
    outside: list[str] = []
    errors: list[str] = []
    page = _page(browser, outside, errors)
    page.goto(f"{base}/search.html?q=SPLADE", wait_until="load")
    page.wait_for_selector("#search-results li", timeout=20_000)
    hits = page.locator("#search-results li").all_inner_texts()
    assert len(hits) >= 3 and any("SPLADE" in h or "splade" in h.lower() for h in hits)
    page.goto(f"{base}/api/index.html", wait_until="load")
    signature = page.locator('dt[id="boltir.load_model"]')
    assert signature.count() == 1 and "load_model" in signature.inner_text()
    assert outside == [] and errors == [], (outside, errors)
    page.close()

"""unembed serve in a real browser: Debian's headless Chromium driven by Playwright (the system
browser through ``executable_path``; no browser is downloaded). The live inversion page, a report
opened from the runs list, an audit started from the page, and a screenshot that is not blank."""
from __future__ import annotations

from urllib.parse import urlsplit

import numpy as np
import pytest

pytest.importorskip("starlette")
playwright = pytest.importorskip("playwright.sync_api")

from unembed.web import create_app  # noqa: E402
from webserver import live_inversion, running, served_folder  # noqa: E402

SENTENCE = "Carol lives in Oslo and works as a pilot."


@pytest.fixture(scope="module")
def site(tmp_path_factory, tiny_run, minilm, vectors):  # noqa: F811
    from unembed import load_inverter

    inverter = load_inverter(tiny_run, embedder=minilm, precision="fp32")
    folder = served_folder(tmp_path_factory.mktemp("served"), inverter, vectors)
    with running(create_app(folder, {"tiny": inverter})) as url:
        yield url, folder


@pytest.fixture(scope="module")
def browser(chromium):
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture()
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    host = urlsplit(site[0]).netloc
    # nothing leaves the machine whatever the page asks for: requests elsewhere are recorded and aborted
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).netloc == host
                  else route.abort())
    pg = context.new_page()
    pg.requested = []
    pg.on("request", lambda r: pg.requested.append(r.url))
    pg.csp_errors = []
    pg.on("console", lambda m: pg.csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield pg
    context.close()


def foreign(urls, base):
    host = urlsplit(base).netloc
    return [u for u in urls if urlsplit(u).netloc != host and not u.startswith(("data:", "about:"))]


def not_blank(png: bytes, tmp_path) -> np.ndarray:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    shot.write_bytes(png)
    img = imread(shot)[..., :3]
    background = np.all(np.abs(img - img[-5, -5]) < 0.02, axis=-1)
    assert background.mean() < 0.95, "the screenshot is (almost) blank"
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 30
    return img


def test_a_typed_sentence_comes_back_step_by_step(page, site, tmp_path):
    url, _ = site
    png = live_inversion(page, url, SENTENCE, steps=4, beam=2)
    steps = page.locator("#steps li:not(.final)")
    assert steps.count() >= 2
    final = page.inner_text("#final .t")
    assert final and final == page.inner_text("#best-text")
    assert page.locator("#strip svg rect").count() > 384  # the vector's strip plot: a bar per value
    assert page.inner_text("#v-dim") == "384" and page.inner_text("#v-embedder").startswith("embedded by minilm")
    assert page.locator("#curve svg circle").count() == steps.count()  # the cosine curve, a point per step
    assert page.locator("#candidates li").count() >= 1 and page.locator("#diff span").count() >= 1
    assert "done in" in page.inner_text("#status")
    assert len(png) < 1_000_000  # small enough to look at
    img = not_blank(png, tmp_path)
    assert img.shape[1] == 1280 and 500 < img.shape[0] < 4000
    assert foreign(page.requested, url) == [] and page.csp_errors == []


def test_recovered_markup_is_shown_as_text(page, site):
    url, _ = site
    page.goto(url + "/")
    page.fill("textarea[name=text]", "<img src=x onerror=document.title='owned'> <b>bold</b>")
    page.fill("input[name=steps]", "1")
    page.click("#invert")
    page.wait_for_selector("body[data-done='1']", timeout=60_000)
    assert page.title() != "owned" and page.locator("#diff b, #diff img, #steps b, #steps img").count() == 0
    html = page.content()
    i = html.find("<b>bold</b>")
    assert i < 0, html[i - 300:i + 50]
    assert "bold" in page.inner_text("#diff")  # the original's words, as text


def test_an_audit_report_opens_from_the_runs_list(page, site):
    url, _ = site
    page.goto(url + "/runs")
    row = page.locator("#runs tr", has_text="runs/first-audit")
    assert "complete" in row.inner_text() and "BLEU" in row.inner_text()
    row.locator("a.open").click()
    page.wait_for_load_state()
    assert page.url.endswith("/runs/runs/first-audit/report.html")
    assert "audit" in page.title().lower() and page.locator("table").count() >= 1
    assert foreign(page.requested, url) == []


def test_an_audit_started_on_the_page_finishes(page, site):
    url, folder = site
    page.goto(url + "/runs")
    page.fill("input[name=store]", (folder / "store_uri.txt").read_text())
    page.fill("input[name=out]", "runs/from-the-page")
    page.fill("input[name=steps]", "1")
    page.fill("input[name=beam]", "2")
    page.click("#start-audit")
    page.wait_for_selector("body[data-audit-done]", timeout=120_000)
    assert page.get_attribute("body", "data-audit-done") == "1", page.inner_text("#audit-status")
    assert "complete" in page.inner_text("#audit-status")
    assert page.get_attribute("#audit-progress", "value") == page.get_attribute("#audit-progress", "max")
    assert "mean cosine" in page.inner_text("#audit-figures")
    page.click("#audit-report-link")
    page.wait_for_load_state()
    assert page.url.endswith("/runs/runs/from-the-page/report.html")
    page.goto(url + "/runs")
    assert "complete" in page.locator("#runs tr", has_text="runs/from-the-page").inner_text()

"""The HTML report, as a person sees it: opened in headless Chromium (Debian's chromium,
driven by Playwright), every section shows, the console stays clean, the images load, and a
county named ``<script>alert(1)</script>`` is text, not a script. A screenshot is saved.

The browser test needs /usr/bin/chromium and the ``playwright`` package; ``.ci/run``
installs both and sets HBR_REQUIRE_BROWSER=1, which turns a missing browser into a failure
instead of a skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hbr
from hbr.errors import OutputExistsError
from hbr.report import SECTIONS, render_report, write_report

HOSTILE = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def hostile(mn: pd.DataFrame) -> tuple[pd.DataFrame, hbr.checks.compare.Comparison]:
    d = mn.copy()
    d.loc[d.county == "AITKIN", "county"] = HOSTILE
    return d, hbr.checks.compare(d, "log_radon ~ floor", group="county", seed=2)


@pytest.fixture(scope="module")
def report_file(hostile, tmp_path_factory) -> Path:
    d, comp = hostile
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(path, comp.fits["partial pooling"], comp, d)
    return path


def test_user_strings_are_escaped(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert "<script" not in text.lower()  # the page has no script of its own either
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("data:image/png;base64,") >= 6  # trace, ppc, funnel, forest, MAP, shrinkage
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text
    # a hostile column name in the formula itself
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(5), 6)
    d = pd.DataFrame({"y": rng.normal(size=30), "<i>x</i>": rng.normal(size=30), "g": g})
    f = hbr.fit("y ~ `<i>x</i>` + (1 | g)", d, seed=1, chains=1, draws=100, tune=100)
    html = render_report(f, figures=False)
    assert "<i>x</i>" not in html and "&lt;i&gt;x&lt;/i&gt;" in html


def test_existing_report_is_kept(report_file: Path, hostile) -> None:
    before = report_file.read_bytes()
    with pytest.raises(OutputExistsError):
        write_report(report_file, hostile[1].fits["complete pooling"])
    assert report_file.read_bytes() == before
    assert oct(report_file.stat().st_mode & 0o777) != "0o600"  # not left private by mkstemp


def _browser():
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package is not installed"
    if missing is None and not os.path.exists(CHROMIUM):
        missing = f"no Chromium at {CHROMIUM} (Debian packages chromium, chromium-driver)"
    if missing:
        if os.environ.get("HBR_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    return sync_playwright


def test_report_in_headless_chromium(report_file: Path, tmp_path: Path) -> None:
    sync_playwright = _browser()
    problems: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: problems.append(f"request: {r.url}")
                    if not r.url.startswith(("file:", "data:")) else None)
            page.goto(report_file.as_uri())
            page.wait_for_load_state("load")
            for sid in SECTIONS:
                assert page.locator(f"section#{sid}").is_visible(), sid
                assert page.locator(f"section#{sid} h2").inner_text().strip()
            assert page.locator("script").count() == 0
            # sections in order, the comparison first, each reachable from the contents
            ids = page.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
            assert ids == ["comparison", "model", "diagnostics", "summary", "figures", "groups"]
            assert page.locator("nav.toc a").count() == len(ids)
            # the group table is collapsed; a person opens it and sees the hostile county,
            # as text
            assert not page.locator("section#groups table").first.is_visible()
            page.locator("section#groups summary").first.click()
            cell = page.locator("section#groups th", has_text=HOSTILE)
            assert cell.count() == 1 and cell.inner_text() == HOSTILE
            widths = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
            assert len(widths) >= 6 and min(widths) > 100
            assert "OK:" in page.locator("section#diagnostics").inner_text()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            out = os.environ.get("HBR_TEST_ARTIFACTS")
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(out) / "report.png")
        finally:
            browser.close()
    assert shot.stat().st_size > 50_000
    assert problems == [] and dialogs == []


def test_sections_in_order_with_a_table_of_contents(report_file: Path, hostile) -> None:
    import re

    text = report_file.read_text(encoding="utf-8")
    order = re.findall(r'<section id="(\w+)">', text)
    assert order == ["comparison", "model", "diagnostics", "summary", "figures", "groups"]
    toc = re.search(r'<nav class="toc">(.*?)</nav>', text).group(1)
    assert re.findall(r'href="#(\w+)"', toc) == order
    assert text.index("<details>") > text.index('<section id="groups">')  # collapsed table
    assert "<h1>hbr: 3 models compared; in detail: log_radon ~ floor + (floor | county)" in text
    # the summary: ESS as integers, R-hat to three decimals
    summary = text[text.index('<section id="summary">'):text.index('<section id="figures">')]
    cells = re.findall(r"<td>([^<]*)</td>", summary)
    row = cells[:8]  # Intercept: mean sd hdi hdi mcse ess_bulk ess_tail r_hat
    assert re.fullmatch(r"\d+", row[5]) and re.fullmatch(r"\d+", row[6])
    assert re.fullmatch(r"\d\.\d{3}", row[7])
    head = text[text.index('<section id="comparison">'):].split("</thead>")[0]
    assert "<th>model</th>" in head and "<th></th>" not in head  # no empty index-name row


def test_groups_are_chosen_and_the_sigma_formula_titled(mn: pd.DataFrame, hostile) -> None:
    d, comp = hostile
    html = render_report(comp.fits["partial pooling"], comp, d, map_vs_mean=False,
                         groups=["CASS", "CROW WING", "FREEBORN"])
    assert "Regression lines of CASS, CROW WING, FREEBORN" in html and "not drawn" not in html
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(6), 8)
    t = pd.DataFrame({"y": rng.normal(size=48), "x": rng.normal(size=48), "g": g})
    f = hbr.fit(["y ~ x + (1 | g)", "sigma ~ 1 + (1 | g)"], t, seed=1, chains=1, draws=60,
                tune=60)
    text = render_report(f, figures=False)
    assert "<h1>hbr: y ~ x + (1 | g); sigma ~ 1 + (1 | g)</h1>" in text

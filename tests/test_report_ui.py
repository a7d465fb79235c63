"""The published reports in a real browser (Debian's chromium driven by Playwright): every
figure renders, the headline shows what the speedup cost, one run is read against its spread
over seeds, the prompts read left-aligned and wrapped at words; the index sorts. Screenshots
of the published pages are kept in reports/screenshots/.

Checked on the published report (reports/aime.html, made by the README's main command; not
kept in git, so skipped on a fresh clone) and on one built from a fresh small run of the
notebook (what the code makes now). Skipped when chromium or Playwright is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import papermill as pm
import pytest

from gepa_lab.lab.report import export_html

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "reports"
SCREENSHOTS = ROOT / "reports" / "screenshots"
FIGURES = 4  # quality over time, the spread, activity, lineage: every figure of the report

pytestmark = pytest.mark.ui
sync_api = pytest.importorskip("playwright.sync_api")


def _run_notebook(out: Path, **parameters: object) -> Path:
    """aime.ipynb, small and on the virtual clock, executed into ``out``."""
    small = {"world": "virtual", "dataset_size": 20, "test_size": 10, "target_quality": 0.5}
    pm.execute_notebook(
        str(ROOT / "notebooks" / "aime.ipynb"),
        str(out),
        parameters={**small, "output_dir": str(out.parent / out.stem), **parameters},
        kernel_name="python3",
        cwd=str(out.parent),
        progress_bar=False,
    )
    return out


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report folder with two reports of small runs of aime.ipynb: one with its spread over
    four seeds, one of another seed."""
    root = tmp_path_factory.mktemp("fresh")
    reports = root / "reports"
    export_html(_run_notebook(root / "aime.ipynb", eval_concurrency=64, spread_seeds=4), reports)
    export_html(_run_notebook(root / "aime_seed2.ipynb", seed=2, spread_seeds=0), reports)
    return reports


def _check_report(page, path: Path, screenshot: Path | None = None) -> None:
    expect = sync_api.expect
    page.goto(path.as_uri())
    assert page.title().endswith("(synthetic, simulated)")
    # No warning or error printed anywhere in it.
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    # Every figure was drawn: no broken or empty image.
    images = page.evaluate(
        "[...document.images].map(i => i.complete && i.naturalWidth > 100 && i.naturalHeight > 100)"
    )
    assert images == [True] * FIGURES, images
    # Next to each time to target, what it cost to get there; and the headline says it.
    table = page.locator("table", has=page.locator("th", has_text="cost to target ($)")).first
    for column in ("time to target (s)", "calls to target", "tokens to target"):
        expect(table.locator("th", has_text=column)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Prices per million tokens: sim-task"))).to_be_visible()
    headline = page.get_by_text(re.compile(r"sooner, spending [\d.]+x the task calls")).first
    expect(headline).to_be_visible()
    expect(headline).to_contain_text(re.compile(r"[\d.]+x the dollars"))
    # The run against its spread: medians with 95% intervals per system.
    expect(page.get_by_role("heading", name="Over many seeds")).to_be_visible()
    spread = page.locator("table", has=page.locator("th", has_text="turbo sooner by (x;"))
    interval = re.compile(r"^\d+\.\d+ \(\d+\.\d+–\d+\.\d+; n=\d+\)$")
    held_out = spread.evaluate(
        "t => { const heads = [...t.querySelectorAll('thead tr:first-child th')]"
        ".map(h => h.textContent.trim()); const k = heads.indexOf('held-out score');"
        " return [...t.querySelectorAll('tbody tr')].map(r => r.children[k].textContent.trim()); }"
    )
    assert len(held_out) == 3 and all(interval.match(c) for c in held_out), held_out
    # The prompts: left-aligned, wrapped at words, what changed from the seed highlighted.
    prompts = page.locator("table.gepa-lab-prompts")
    expect(prompts).to_be_visible()
    styles = prompts.locator("td, th").evaluate_all(
        "cells => cells.map(c => { const s = getComputedStyle(c);"
        " return [s.textAlign, s.wordBreak, s.whiteSpace]; })"
    )
    assert styles and all(s == ["left", "normal", "pre-wrap"] for s in styles), styles
    assert prompts.locator("ins").count() > 0
    box = prompts.bounding_box()
    assert box is not None and box["width"] <= page.viewport_size["width"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)


def test_the_published_report_shows_speed_cost_spread_and_readable_prompts(page):
    report = PUBLISHED / "aime.html"
    if not report.is_file():
        pytest.skip("no published report here: the README's main command writes it")
    _check_report(page, report, SCREENSHOTS / "aime-report.png")


def test_a_fresh_report_shows_the_same(page, fresh):
    _check_report(page, fresh / "aime.html", SCREENSHOTS / "aime-report-small-run.png")


def test_the_index_lists_every_report_and_sorts_by_a_column(page, fresh):
    expect = sync_api.expect
    page.goto((fresh / "index.html").as_uri())
    links = page.locator("tbody tr td:first-child a")
    assert links.count() == 2
    row = page.locator("tr", has=page.locator("a[href='aime.html']"))
    expect(row).to_contain_text("virtual (simulated)")
    expect(row).to_contain_text(re.compile(r"\d+\.\d\dx"))  # speedup and cost ratio
    speedups = page.locator("tbody tr td:nth-child(5)")
    header = page.get_by_text("speedup over GEPA default", exact=True)
    for _ in range(2):  # ascending, then descending
        header.click()
        values = [float(v.rstrip("x")) for v in speedups.all_inner_texts()]
        up = header.get_attribute("data-dir") == "up"
        assert values == sorted(values, reverse=not up)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)

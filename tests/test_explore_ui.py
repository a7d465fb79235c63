"""explore.ipynb in a real browser: JupyterLab on loopback, Debian's chromium driven by Playwright.

Runs every cell, presses Start, sees the counters and the live plot change while the run goes on
(and keeps a screenshot of that moment in reports/screenshots/), presses Cancel and sees the run
stop. Skipped when chromium or Playwright is missing (.ci/run installs both).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gepa_lab.sim.process import stop_process
from gepa_lab.sim.server import free_port

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "reports" / "screenshots" / "explore-mid-run.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.ui
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory: pytest.TempPathFactory):
    if CHROMIUM is None:
        pytest.skip("no chromium: apt-get install chromium")
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "explore.ipynb", root / "explore.ipynb")
    settings = root / ".cfg" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={root}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--LabApp.extension_manager=readonly",
        f"--LabApp.workspaces_dir={root / '.ws'}",
        f"--LabApp.user_settings_dir={root / '.cfg' / 'lab' / 'user-settings'}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".cfg")}
    log = (root / "lab.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        stop_process(proc)
        log.close()


def _counter(page, name: str) -> str:
    return page.locator(f".gl-counter[data-name='{name}'] .gl-value").inner_text()


def _plot_src(page) -> str:
    return page.locator(".jp-OutputArea-output img").last.get_attribute("src") or ""


def test_start_shows_the_run_live_and_cancel_stops_it(lab_url, page):
    expect = sync_api.expect
    page.goto(f"{lab_url}/lab/tree/explore.ipynb?reset")
    expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
    # A fresh Lab may ask which kernel to start: the notebook's own (python3) is preselected.
    select = page.get_by_role("button", name="Select Kernel", exact=True)
    try:
        select.wait_for(timeout=5_000)
        select.click()
    except sync_api.TimeoutError:
        pass
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
        timeout=60_000
    )
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    start = page.get_by_role("button", name="Start", exact=True)
    expect(start).to_be_visible(timeout=90_000)
    expect(page.locator(".gl-counter[data-name='evaluations']")).to_be_visible()
    before = _plot_src(page)
    assert _counter(page, "evaluations") == "0"

    # Slow the run down, and set a target it cannot reach soon, so it is still going when the
    # test looks at it and cancels it.
    page.get_by_label("time limit (real s)").fill("600")
    page.get_by_label("real s per simulated s").fill("0.5")
    page.get_by_label("target quality (0 to 1)").fill("0.99")
    start.click()
    expect(page.get_by_text("running", exact=True)).to_be_visible(timeout=10_000)
    # The counters move while the run goes on, and the plot is redrawn.
    expect(page.locator(".gl-counter[data-name='evaluations'] .gl-value")).not_to_have_text(
        "0", timeout=30_000
    )
    deadline = time.monotonic() + 30
    while _plot_src(page) == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _plot_src(page) != before, "the live plot was not redrawn"
    first = int(_counter(page, "evaluations"))
    expect(page.locator(".gl-counter[data-name='evaluations'] .gl-value")).not_to_have_text(
        str(first), timeout=30_000
    )
    assert int(_counter(page, "in flight")) > 0
    # A first improvement on the full set: the curve climbs, and the run is still going.
    expect(page.locator(".gl-counter[data-name='best'] .gl-value")).to_have_text(
        re.compile(r"0\.\d*[1-9]\d*"), timeout=60_000
    )
    expect(page.get_by_text("running", exact=True)).to_be_visible()
    time.sleep(4)  # a few redraws: the curve climbs
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_text("cancelled", exact=True)).to_be_visible(timeout=30_000)
    expect(start).to_be_enabled()
    stopped = _counter(page, "evaluations")
    time.sleep(2)
    assert _counter(page, "evaluations") == stopped, "the run went on after Cancel"
    assert re.fullmatch(r"\d+", stopped)

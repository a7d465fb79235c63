"""Shared set-up: Ray kept on loopback, a check of the scores a run kept (the Ray tests), and a
chromium page for the browser tests (tests marked ``ui``)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# On these machines Ray binds the machine's external address unless this is set before Ray is
# imported; with it, a local instance and a Cluster's nodes use 127.0.0.1. Tests never leave
# loopback (tests/test_ray*.py check the address before running anything).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"


@pytest.fixture
def kept_right():
    """``kept_right(run_dir, train, check, seed)``: how many scores a run kept in its
    state.json, each asserted equal to what ``check(instruction, example)`` gives in this
    process. Equal to the run's metric_calls, it shows none lost and none counted twice."""
    from gepa_lab.engine.pipeline import example_order

    def count(run_dir: Path, train: list, check, seed: int) -> int:
        state = json.loads((run_dir / "state.json").read_text())
        order = example_order(len(train), seed)  # the positions the scores are kept by
        kept = 0
        for cand in state["candidates"]:
            instruction = cand["components"]["instruction"]
            for pos, score in cand["scores"].items():
                assert score == check(instruction, train[order[int(pos)]])[0]
                kept += 1
        return kept

    return count


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page():
    """A chromium page, with Playwright started and stopped inside the test: a session-wide
    Playwright would leave its event loop installed and break later tests' asyncio.run().
    Skipped when chromium or Playwright is missing (.ci/run installs both)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no chromium: apt-get install chromium")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 1800})
        finally:
            browser.close()

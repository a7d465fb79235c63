"""End to end: the AIME notebook under papermill, then its HTML report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from gepa_lab.report import export_html

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "aime.ipynb"
TINY = {
    "dataset_size": 20,
    "test_size": 10,
    "max_concurrency": 64,
    "target_quality": 0.5,
    "world": "virtual",
}


def _execute(out_dir: Path, **parameters: object) -> Path:
    out = out_dir / "aime.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={**TINY, "output_dir": str(out_dir), **parameters},
        kernel_name="python3",
        cwd=str(out_dir),
        progress_bar=False,
    )
    return out


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _execute(tmp_path_factory.mktemp("aime"))


def _check_result(result: dict, time_mode: str) -> None:
    assert result["simulated"] is True
    assert result["time_mode"] == time_mode
    assert result["parameters"]["dataset_size"] == TINY["dataset_size"]
    assert set(result["runs"]) == set(result["held_out"]) == {"turbo", "gepa"}
    for label, run in result["runs"].items():
        assert 0.0 <= run["best_quality"] <= 1.0
        assert 0.0 <= result["held_out"][label] <= 1.0
        assert run["curve"], "a run with no new best on the full set"
        assert {"time", "quality", "metric_calls", "tokens"} <= set(run["curve"][0])
        assert run["time_to_target_s"] is not None, f"{label} did not reach the tiny target"
        assert run["at_target"]["metric_calls"] <= run["metric_calls"]
    gepa, turbo = result["runs"]["gepa"], result["runs"]["turbo"]
    assert gepa["engine"].startswith("gepa ")  # the real library ran, not a stand-in
    assert gepa["reflection_calls"] > 0 and gepa["candidates"] > 1
    assert turbo["rung_counts"]
    assert result["speedup"] == pytest.approx(
        gepa["time_to_target_s"] / turbo["time_to_target_s"], rel=0.01
    )


@pytest.mark.notebook
def test_notebook_writes_both_runs_to_result_json(executed):
    _check_result(json.loads((executed.parent / "result.json").read_text()), "virtual")


@pytest.mark.notebook
def test_notebook_runs_both_systems_against_the_simulated_http_server(tmp_path):
    out = _execute(tmp_path, world="http", time_scale=0.02)
    result = json.loads((out.parent / "result.json").read_text())
    _check_result(result, "real")
    assert result["runs"]["gepa"]["calls_sent"] >= result["runs"]["gepa"]["metric_calls"]


@pytest.mark.notebook
def test_html_report_shows_results_but_no_code(executed, tmp_path):
    html_path = export_html(executed, tmp_path / "reports")
    assert html_path == tmp_path / "reports" / "aime.html"
    html = html_path.read_text(encoding="utf-8")
    assert "data:image/png;base64" in html
    assert "synthetic_aime(" not in html
    assert "await gl.optimize" not in html
    assert "simulated" in html.lower()
    assert "<title>The real GEPA library vs. gepa_lab on simulated AIME</title>" in html
    assert "What limited each run" in html and "sequential structure" in html
    # Self-contained: nothing is fetched from the network when the page opens.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    # The folder's index links it by title.
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert '<a href="aime.html">The real GEPA library vs. gepa_lab on simulated AIME</a>' in index


@pytest.mark.notebook
def test_explore_runs_headless_and_writes_its_result(tmp_path):
    out = tmp_path / "explore.ipynb"
    parameters = {"interactive": False, "dataset_size": 20, "target_quality": 0.5}
    pm.execute_notebook(
        str(NOTEBOOK.parent / "explore.ipynb"),
        str(out),
        parameters={**parameters, "time_scale": 0.05, "output_dir": str(tmp_path)},
        kernel_name="python3",
        progress_bar=False,
    )
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["simulated"] is True
    assert result["parameters"]["settings"]["time_scale"] == 0.05
    assert result["run"]["stop_reason"] == "target" and result["run"]["best_quality"] >= 0.5
    outputs = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert "image/png" in kinds  # the plot's last frame
    assert "application/vnd.jupyter.widget-view+json" not in kinds  # no widgets headless


@pytest.mark.notebook
def test_invalid_run_parameter_fails_with_its_name(tmp_path):
    with pytest.raises(PapermillExecutionError) as failure:
        _execute(tmp_path, run="nonsense")
    assert failure.value.ename == "ValueError"
    assert "run='nonsense'" in str(failure.value)


def _report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gepa_lab.report", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_report_cli_explains_a_missing_notebook(tmp_path):
    proc = _report_cli(str(tmp_path / "missing.ipynb"), "--out-dir", str(tmp_path))
    assert proc.returncode != 0
    assert "no such notebook" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_cli_refuses_a_notebook_that_never_ran(tmp_path):
    proc = _report_cli(str(NOTEBOOK), "--out-dir", str(tmp_path))
    assert proc.returncode != 0
    assert "not an executed notebook" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_the_index_links_every_report_by_title(tmp_path):
    from gepa_lab.report import write_index

    assert "No reports yet" in write_index(tmp_path).read_text(encoding="utf-8")
    (tmp_path / "b.html").write_text("<html><title>Sweep &amp; co</title></html>")
    (tmp_path / "a.html").write_text("<html><head></head></html>")
    index = write_index(tmp_path).read_text(encoding="utf-8")
    assert index.index('href="a.html">a<') < index.index('href="b.html">Sweep &amp; co<')
    assert "index.html</a>" not in index

"""End to end: the AIME notebook under papermill, then its HTML report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from gepa_lab.lab.output import read_recorded
from gepa_lab.lab.report import export_html

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "aime.ipynb"
TINY = {
    "dataset_size": 20,
    "test_size": 10,
    "eval_concurrency": 64,
    "target_quality": 0.5,
    "world": "virtual",
    "spread_seeds": 4,
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
    # The default run is "all": gepa_lab, GEPA's defaults and GEPA at its fastest.
    assert set(result["runs"]) == set(result["held_out"]) == {"turbo", "gepa", "gepa_parallel"}
    for label, run in result["runs"].items():
        assert 0.0 <= run["best_quality"] <= 1.0
        assert 0.0 <= result["held_out"][label] <= 1.0
        assert run["curve"], "a run with no new best on the full set"
        assert {"time", "quality", "metric_calls", "tokens", "cost_usd"} <= set(run["curve"][0])
        assert 0 < run["at_target"]["cost_usd"] <= run["cost_usd"]
        assert run["time_to_target_s"] is not None, f"{label} did not reach the tiny target"
        assert run["at_target"]["metric_calls"] <= run["metric_calls"]
    gepa, turbo = result["runs"]["gepa"], result["runs"]["turbo"]
    parallel = result["runs"]["gepa_parallel"]
    for run in (gepa, parallel):
        assert run["engine"].startswith("gepa ")  # the real library ran, not a stand-in
        assert run["reflection_calls"] > 0 and run["candidates"] > 1
    # GEPA's parallel proposals may keep as many calls in flight as gepa_lab; its default, 10.
    assert parallel["config"]["eval_concurrency"] == turbo["config"]["eval_concurrency"]
    assert gepa["config"]["eval_concurrency"] == 10
    assert turbo["rung_counts"]
    # at_target keeps the unrounded times (time_to_target_s is rounded to 0.01 s, which is a
    # large error on the HTTP test's sub-second runs).
    assert result["speedup"] == pytest.approx(
        gepa["at_target"]["time"] / turbo["at_target"]["time"], rel=0.01
    )
    assert result["speedup_vs_gepa_parallel"] == pytest.approx(
        parallel["at_target"]["time"] / turbo["at_target"]["time"], rel=0.01
    )
    # The spread: every run again for each seed from the notebook's own, on the virtual clock.
    spread = result["spread"]
    assert sorted((r["seed"], r["system"]) for r in spread) == sorted(
        (s, label) for s in (1, 2, 3, 4) for label in result["runs"]
    )
    if time_mode == "virtual":  # seed 1 of the spread is the report's run, to the call
        again = next(r for r in spread if r["seed"] == 1 and r["system"] == "turbo")
        assert again["time_to_target"] == turbo["at_target"]["time"]
        assert again["held_out"] == result["held_out"]["turbo"]


def _strict_json(path: Path) -> dict:
    """``path`` parsed as standard JSON: NaN or Infinity (which Python writes) fail."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.notebook
def test_notebook_writes_both_runs_to_result_json(executed):
    _check_result(_strict_json(executed.parent / "result.json"), "virtual")


@pytest.mark.notebook
def test_notebook_runs_both_systems_against_the_simulated_http_server(tmp_path):
    out = _execute(tmp_path, world="http", time_scale=0.02)
    result = _strict_json(out.parent / "result.json")
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
    title = "The real GEPA library vs. gepa_lab on AIME-style problems (synthetic, simulated)"
    assert f"<title>{title}</title>" in html
    assert "What limited each run" in html and "sequential structure" in html
    # The headline puts what the speedup cost beside it.
    assert re.search(r"sooner, spending [\d.]+x the task calls, [\d.]+x the tokens, ", html)
    assert "x</strong> the dollars that gepa spent to get there" in html
    assert "Prices per million tokens: sim-task $0.15 in / $0.6 out" in html
    # One run read against its spread, with intervals; prompts readable; lineage as a tree.
    assert "Over many seeds" in html and "turbo sooner by (x; seeds both reached)" in html
    assert re.search(r"<td>\d+\.\d{3} \(\d+\.\d{3}–\d+\.\d{3}; n=4\)</td>", html)
    assert re.search(r"class=[\"']gepa-lab-prompts", html) and "text-align:left" in html
    assert len(re.findall(r"<img [^>]*src=\"data:image/png", html)) == 4  # every figure
    # Self-contained: nothing is fetched from the network when the page opens.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    # The folder's index links it by title, in a table row with its key figures.
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    assert f'<a href="aime.html">{title}</a>' in index
    result = json.loads((executed.parent / "result.json").read_text())
    row = next(line for line in index.splitlines() if 'href="aime.html"' in line)
    runs = result["runs"]
    cost = {k: run["at_target"]["cost_usd"] for k, run in runs.items()}
    for shown in (
        "virtual (simulated)",
        "gepa, gepa_parallel, turbo",
        f"{result['speedup']:.2f}x",
        f"{cost['turbo'] / cost['gepa']:.2f}x",
        f"turbo {result['held_out']['turbo']:.3f}",
        f"gepa {result['held_out']['gepa']:.3f}",
    ):
        assert shown in row, shown
    assert "<th title='click to sort'>speedup over GEPA default</th>" in index


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
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"run": "nonsense"}, "run='nonsense'"),
        ({"world": "moon"}, "world='moon' is invalid"),
        ({"data": "aime"}, "data='aime' needs a real model"),
        ({"world": "http://127.0.0.1:9/v1"}, "set task_model and reflection_model"),
        ({"gepa_parents": 0}, "parameter gepa_parents=0 is invalid: must be >= 1"),
        # Checked before the first run, not after it:
        ({"gepa_concurrency": 0}, "parameter gepa_concurrency=0 is invalid: must be >= 1"),
        ({"seed": "abc"}, "parameter seed='abc' is invalid: must be int, got str"),
        ({"gepa_concurency": 4}, "'gepa_concurency' is not one of this notebook's: did you"),
        ({"eval_concurency": 64}, "did you mean 'eval_concurrency'"),
    ],
)
def test_invalid_parameters_fail_with_their_names(tmp_path, bad, message):
    started = time.monotonic()
    with pytest.raises(PapermillExecutionError) as failure:
        _execute(tmp_path, **bad)
    assert failure.value.ename == "ValueError"
    assert message in str(failure.value)
    assert time.monotonic() - started < 10  # refused before any run


@pytest.mark.notebook
def test_the_plain_papermill_command_leaves_its_results_beside_the_output_notebook(tmp_path):
    # As the design card writes it: no output_dir, no --inject-paths, run from the repository
    # root with the output notebook in another folder.
    root = NOTEBOOK.parents[1]
    before = (root / "result.json").exists()
    out = tmp_path / "out" / "out.ipynb"
    out.parent.mkdir()
    tiny = [x for k, v in TINY.items() for x in ("-p", k, str(v))]
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/aime.ipynb", str(out), *tiny],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((out.parent / "result.json").read_text())
    assert (root / "result.json").exists() == before  # nothing written where it was typed
    assert read_recorded(out) == result  # and the same record inside the executed notebook
    assert result["parameters"]["eval_concurrency"] == TINY["eval_concurrency"]


@pytest.mark.notebook
def test_an_endpoint_url_and_local_aime_files_drive_both_runs(tmp_path):
    """The real-endpoint path, with the simulated server standing in for the endpoint and
    small local files for the AIME data: everything but the network."""
    from gepa_lab.sim.process import SimServerProcess

    def problems(n, start):
        return "".join(
            json.dumps({"problem": f"Find {i} + 0.", "answer": i}) + "\n"
            for i in range(start, start + n)
        )

    (tmp_path / "aime.jsonl").write_text(problems(12, 0))
    (tmp_path / "aime2025.jsonl").write_text(problems(4, 100))
    with SimServerProcess(time_scale=0.01) as url:
        out = _execute(
            tmp_path,
            world=url,
            task_model="sim-task",
            reflection_model="sim-reflect",
            data=str(tmp_path / "aime.jsonl"),
            test_data=str(tmp_path / "aime2025.jsonl"),
            max_metric_calls=150,
        )
    result = json.loads((out.parent / "result.json").read_text())
    assert result["time_mode"] == "real"
    assert result["parameters"]["data"].endswith("aime.jsonl")
    assert set(result["runs"]) == set(result["held_out"]) == {"turbo", "gepa", "gepa_parallel"}
    for run in result["runs"].values():
        assert run["stop_reason"] in ("budget", "target", "exhausted")
        assert run["metric_calls"] >= 6  # the 6 training problems, at least once


@pytest.mark.notebook
def test_sweep_runs_every_point_on_ray_and_plots_time_to_target(tmp_path):
    out = tmp_path / "sweep.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK.parent / "sweep.ipynb"),
        str(out),
        parameters={
            "grid": {"eval_concurrency": [16, 64], "cohort_quantile": [0.5]},
            "seeds": [0],
            "dataset_size": 20,
            "target_quality": 0.5,
            "output_dir": str(tmp_path),
        },
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    result = json.loads((tmp_path / "sweep" / "result.json").read_text())
    assert result["simulated"] is True and result["time_mode"] == "virtual"
    points = {(r["knob"], r["value"]) for r in result["runs"]}
    assert points == {("eval_concurrency", 16), ("eval_concurrency", 64), ("cohort_quantile", 0.5)}
    assert all(r["time_to_target"] is not None for r in result["runs"])
    assert result["failed"] == []
    outputs = [o for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    assert re.search(r"as Ray tasks, \d+ at once", text)  # a local Ray instance, one per CPU
    assert text.count("sweep: ") == 3  # a line as each point finished
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.get("name") == "stderr" for o in outputs), "kernel logs leaked into the report"
    # The summary table shows each knob's values as given (16, not 16.0, beside 0.5).
    table = next(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert "<th>16</th>" in table and "<th>0.5</th>" in table and "<th>16.0</th>" not in table


@pytest.mark.notebook
def test_sweep_names_an_unknown_knob(tmp_path):
    with pytest.raises(PapermillExecutionError) as failure:
        pm.execute_notebook(
            str(NOTEBOOK.parent / "sweep.ipynb"),
            str(tmp_path / "sweep.ipynb"),
            parameters={"grid": {"eval_concurrenc": [16]}, "output_dir": str(tmp_path)},
            kernel_name="python3",
            cwd=str(NOTEBOOK.parent),
            progress_bar=False,
        )
    assert "unknown knob(s) ['eval_concurrenc']" in str(failure.value)


def test_rebuild_all_runs_every_notebook_and_publishes_them(tmp_path):
    from gepa_lab.lab.report import rebuild_all

    source = tmp_path / "notebooks"
    source.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A tiny study"),
        nbformat.v4.new_code_cell('output_dir = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "from pathlib import Path\nPath(output_dir, 'result.json').write_text('{}')\n"
            "print('the answer is', 6 * 7)"
        ),
    ]
    nbformat.write(nb, source / "tiny.ipynb")
    written = rebuild_all(tmp_path / "site", source)
    assert written == [tmp_path / "site" / "tiny.html"]
    assert "the answer is 42" in written[0].read_text(encoding="utf-8")
    assert (tmp_path / "site" / "runs" / "tiny" / "result.json").exists()
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert '<a href="tiny.html">A tiny study</a>' in index


def test_report_cli_wants_a_notebook_or_all(tmp_path):
    proc = _report_cli("--out-dir", str(tmp_path))
    assert proc.returncode != 0 and "give one executed notebook, or --all" in proc.stderr


def _report_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gepa_lab.lab.report", *args],
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
    from gepa_lab.lab.report import write_index

    assert "No reports yet" in write_index(tmp_path).read_text(encoding="utf-8")
    (tmp_path / "b.html").write_text("<html><title>Sweep &amp; co</title></html>")
    (tmp_path / "a.html").write_text("<html><head></head></html>")
    index = write_index(tmp_path).read_text(encoding="utf-8")
    assert index.index('href="a.html">a<') < index.index('href="b.html">Sweep &amp; co<')
    assert "index.html</a>" not in index


YOUR_TASK = NOTEBOOK.parent / "your_task.ipynb"


@pytest.mark.notebook
def test_your_task_runs_offline_with_its_defaults_and_reports_both_systems(tmp_path):
    out = tmp_path / "your_task.ipynb"
    pm.execute_notebook(
        str(YOUR_TASK),
        str(out),
        parameters={"output_dir": str(tmp_path)},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["simulated"] is True and result["time_mode"] == "virtual"
    assert set(result["runs"]) == set(result["held_out"]) == {"turbo", "gepa"}
    assert result["runs"]["gepa"]["engine"].startswith("gepa ")
    for label, run in result["runs"].items():
        assert run["time_to_target_s"] is not None, label
        assert 0.0 <= result["held_out"][label] <= 1.0
    assert result["speedup"] > 1
    html = export_html(out, tmp_path / "reports").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and "held-out" in html
    assert "Simulated results" in html and "gl.optimize" not in html


@pytest.mark.notebook
def test_your_task_names_a_bad_parameter_before_any_run(tmp_path):
    with pytest.raises(PapermillExecutionError) as failure:
        pm.execute_notebook(
            str(YOUR_TASK),
            str(tmp_path / "out.ipynb"),
            parameters={"metric": "bleu", "output_dir": str(tmp_path)},
            kernel_name="python3",
            progress_bar=False,
        )
    assert "parameter metric='bleu' is invalid" in str(failure.value)


@pytest.mark.notebook
@pytest.mark.parametrize(
    ("notebook", "bad", "message"),
    [
        ("explore", {"eval_concurency": 64}, "not one of this notebook's: did you mean 'eval_c"),
        ("explore", {"eval_concurrency": -3}, "eval_concurrency=-3 is invalid: must be >= 1"),
        ("explore", {"seed": "abc"}, "parameter seed='abc' is invalid: must be int, got str"),
        ("sweep", {"ray_address": 3}, "parameter ray_address=3 is invalid: must be str, got int"),
        ("sweep", {"seeds": 3}, "parameter seeds=3 is invalid: must be list, got int"),
    ],
)
def test_explore_and_sweep_check_their_parameters_before_any_run(tmp_path, notebook, bad, message):
    with pytest.raises(PapermillExecutionError) as failure:
        pm.execute_notebook(
            str(NOTEBOOK.parent / f"{notebook}.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"interactive": False, **bad} if notebook == "explore" else bad,
            cwd=str(tmp_path),
            kernel_name="python3",
            progress_bar=False,
        )
    assert failure.value.ename == "ValueError"
    assert message in str(failure.value)

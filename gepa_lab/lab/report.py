"""Turn an executed notebook into a self-contained HTML report.

A report is for readers of results, not of code: inputs and prompts are left out, plots are
inlined as data URIs, and widget state (which needs a live kernel) is dropped. Usage::

    python -m gepa_lab.lab.report reports/runs/aime.ipynb [--out-dir reports]
    python -m gepa_lab.lab.report --all [--out-dir reports]   # run every notebook, publish all
"""

from __future__ import annotations

import argparse
import html
import json
import re
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

from .output import RESULT_MIME, recorded

# Cells papermill reads or writes parameters in: code readers need not see in a report.
PARAMETER_TAGS = frozenset({"parameters", "injected-parameters"})

# nbconvert's template loads require.js and MathJax from a CDN. A report has no widgets and no
# math, and must open offline: those tags go.
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.S)
INDEX = "index.html"
SUMMARY_ID = "gepa-lab-summary"  # a report's key figures, embedded for the index
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# How each notebook runs for publication (papermill parameters); the rest use their defaults.
PUBLISH: dict[str, dict[str, Any]] = {"explore": {"interactive": False}}


def _load_executed(path: Path) -> nbformat.NotebookNode:
    """Read ``path`` and make sure it is a notebook that has been run, not a source notebook."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such notebook")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for unreadable input
        raise ValueError(f"{path}: not a readable Jupyter notebook ({exc})") from exc
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not any(c.get("execution_count") is not None or c.get("outputs") for c in code):
        raise ValueError(
            f"{path}: not an executed notebook (no code cell has run); execute it first, "
            "e.g. with papermill"
        )
    return nb


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading, so the browser tab names the study rather than a file."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return fallback


def export_html(executed_notebook: Path, out_dir: Path = Path("reports")) -> Path:
    """Write ``<out_dir>/<stem>.html`` from an executed notebook, refresh the folder's
    ``index.html``, and return the report's path."""
    path = Path(executed_notebook)
    nb = _load_executed(path)
    nb.metadata.pop("widgets", None)
    payload = recorded(nb)
    qualifier = _qualifier(payload)
    nb.metadata["title"] = _title(nb, path.stem) + qualifier
    _qualify_heading(nb, qualifier)  # the page's own heading says it too
    for cell in nb.cells:
        if PARAMETER_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            cell.source = ""
        # The recorded result is data for the index below, not something to show (nbconvert
        # would warn that it cannot).
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if RESULT_MIME not in o.get("data", {})]
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _resources = exporter.from_notebook_node(nb)
    body = _REMOTE_SCRIPT.sub("", body)
    if payload is not None:  # the index's row, read back by write_index
        row = json.dumps(headline(payload, nb)).replace("</", "<\\/")
        blob = f'<script type="application/json" id="{SUMMARY_ID}">{row}</script>\n'
        body = body.replace("</body>", blob + "</body>", 1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.html"
    out.write_text(body, encoding="utf-8")
    write_index(out_dir)
    return out


def _qualify_heading(nb: nbformat.NotebookNode, qualifier: str) -> None:
    """Append ``qualifier`` to the notebook's first markdown heading."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#"):
                lines[i] = line.rstrip() + qualifier
                cell.source = "\n".join(lines)
                return


def _qualifier(payload: dict[str, Any] | None) -> str:
    """What the title must add so no one mistakes the page for more than it is: the recorded
    ``subject`` ("synthetic, simulated"), else "simulated" for simulated results."""
    if not payload:
        return ""
    subject = payload.get("subject") or ("simulated" if payload.get("simulated") else "")
    return f" ({subject})" if subject else ""


def headline(payload: dict[str, Any], nb: nbformat.NotebookNode) -> dict[str, Any]:
    """What the index shows of a report, from the result its notebook recorded: when, against
    what, which systems, how much sooner than GEPA's default and at what cost (the dollars
    each had spent when it reached the target), and the held-out scores."""
    runs = payload.get("runs") or {}
    if not runs and isinstance(payload.get("run"), dict):
        runs = {payload["run"].get("label", "run"): payload["run"]}
    params = payload.get("parameters", {})
    world = params.get("world") or ("virtual clock" if params.get("virtual") else "real time")
    ended = str(nb.metadata.get("papermill", {}).get("end_time") or "")[:10]
    costs = {k: (r.get("at_target") or {}).get("cost_usd") for k, r in runs.items()}
    cost_ratio = None
    if costs.get("turbo") and costs.get("gepa"):
        cost_ratio = costs["turbo"] / costs["gepa"]
    return {
        "date": ended,
        "world": f"{world}{' (simulated)' if payload.get('simulated') else ''}",
        "systems": sorted(runs),
        "speedup": payload.get("speedup"),
        "speedup_vs_gepa_parallel": payload.get("speedup_vs_gepa_parallel"),
        "cost_ratio": cost_ratio,
        "held_out": payload.get("held_out") or {},
    }


def _page(page: Path) -> tuple[str, dict[str, Any] | None]:
    """A report's title and its embedded key figures (None for a page without them)."""
    text = page.read_text(encoding="utf-8")
    found = re.search(r"<title>(.*?)</title>", text, re.S)
    title = html.unescape(found.group(1).strip()) if found else page.stem
    blob = re.search(rf'<script type="application/json" id="{SUMMARY_ID}">(.*?)</script>', text)
    try:
        return title, json.loads(blob.group(1)) if blob else None
    except ValueError:
        return title, None


def _cell(text: str, sort: object = None) -> str:
    key = "" if sort is None else f' data-sort="{html.escape(str(sort))}"'
    return f"<td{key}>{html.escape(text)}</td>"


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _row(page: Path) -> str:
    title, figures = _page(page)
    link = f'<td><a href="{html.escape(page.name)}">{html.escape(title)}</a></td>'
    if figures is None:
        return f"<tr>{link}" + "<td></td>" * 6 + "</tr>"
    held = figures.get("held_out") or {}
    held_text = ", ".join(f"{k} {v:.3f}" for k, v in held.items() if v is not None)
    cells = [
        _cell(figures.get("date", "")),
        _cell(figures.get("world", "")),
        _cell(", ".join(figures.get("systems", []))),
        _cell(_times(figures.get("speedup")), figures.get("speedup") or ""),
        _cell(_times(figures.get("cost_ratio")), figures.get("cost_ratio") or ""),
        _cell(held_text, held.get("turbo", "")),
    ]
    return f"<tr>{link}{''.join(cells)}</tr>"


# Click a column's header to sort by it (again: the other way). Inline: the site opens offline.
_SORT = """<script>
document.querySelectorAll("th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const key = (tr) => { const td = tr.cells[col];
    const v = td.dataset.sort ?? td.textContent; const n = parseFloat(v);
    return isNaN(n) ? v : n; };
  const up = th.dataset.dir !== "up"; th.dataset.dir = up ? "up" : "down";
  [...body.rows].sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (up ? 1 : -1))
    .forEach((tr) => body.appendChild(tr));
}));
</script>"""


def write_index(out_dir: Path = Path("reports")) -> Path:
    """Write ``<out_dir>/index.html``: every report there in one sortable table, with its date,
    world, systems, speedup and cost ratio over GEPA's default, and held-out scores, so a
    folder of published reports reads as one site. Rewritten whenever a report is
    exported."""
    out_dir = Path(out_dir)
    pages = sorted(p for p in out_dir.glob("*.html") if p.name != INDEX)
    head = "".join(
        f"<th title='click to sort'>{h}</th>"
        for h in (
            "report",
            "date",
            "world",
            "systems",
            "speedup over GEPA default",
            "cost to target over GEPA default",
            "held-out score",
        )
    )
    rows = "\n".join(_row(p) for p in pages) or (
        "<tr><td colspan='7'>No reports yet: export an executed notebook first.</td></tr>"
    )
    index = out_dir / INDEX
    index.write_text(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>gepa_lab reports</title>\n'
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse}th,td{padding:.3em .8em;text-align:left;"
        "border-bottom:1px solid #ddd}th{cursor:pointer}</style>"
        "</head>\n<body>\n<h1>gepa_lab reports</h1>\n<p>Results from the simulated world are "
        "labelled simulated. Speedup: time to the target of GEPA's default over gepa_lab's; "
        "cost: the dollars gepa_lab had spent when it reached the target over GEPA "
        "default's (at the price table's prices).</p>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n"
        f"{_SORT}\n</body></html>\n",
        encoding="utf-8",
    )
    return index


def rebuild_all(
    out_dir: Path = Path("reports"), notebooks: Path = NOTEBOOKS, runs: Path | None = None
) -> list[Path]:
    """Run every notebook in ``notebooks`` headless with papermill (each into
    ``<runs>/<stem>/``, where it writes its result.json), export each report and the index.
    A notebook that fails stops the rebuild with its error; reports already written stay."""
    import papermill as pm

    out_dir = Path(out_dir)
    runs = Path(runs) if runs is not None else out_dir / "runs"
    sources = sorted(Path(notebooks).glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"{notebooks}: no notebooks to publish")
    written = []
    for source in sources:
        run_dir = (runs / source.stem).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        executed = run_dir / source.name
        print(f"running {source.name} -> {executed}", flush=True)
        pm.execute_notebook(
            str(source),
            str(executed),
            parameters={**PUBLISH.get(source.stem, {}), "output_dir": str(run_dir)},
            kernel_name="python3",
            cwd=str(source.parent),
            progress_bar=False,
        )
        written.append(export_html(executed, out_dir))
    return written


def main(argv: list[str] | None = None) -> None:
    """CLI entry point; bad input ends with a one-line message instead of a traceback."""
    parser = argparse.ArgumentParser(
        prog="python -m gepa_lab.lab.report",
        description="Convert an executed notebook into a self-contained HTML report.",
    )
    parser.add_argument(
        "notebook", type=Path, nargs="?", help="executed notebook (.ipynb), e.g. from papermill"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="run every notebook in notebooks/ headless, then publish them all and the index",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=Path("reports"), help="where to write <stem>.html"
    )
    args = parser.parse_args(argv)
    if args.all == (args.notebook is not None):
        parser.error("give one executed notebook, or --all")
    try:
        one = args.notebook
        outs = rebuild_all(args.out_dir) if one is None else [export_html(one, args.out_dir)]
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    for out in outs:
        print(out)
    print(Path(args.out_dir) / INDEX)


if __name__ == "__main__":
    main()

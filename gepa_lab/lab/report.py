"""Turn an executed notebook into a self-contained HTML report.

A report is for readers of results, not of code: inputs and prompts are left out, plots are
inlined as data URIs, and widget state (which needs a live kernel) is dropped. Usage::

    python -m gepa_lab.lab.report reports/runs/aime.ipynb [--out-dir reports]
    python -m gepa_lab.lab.report --all [--out-dir reports]   # run every notebook, publish all
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

# Cells papermill reads or writes parameters in: code readers need not see in a report.
PARAMETER_TAGS = frozenset({"parameters", "injected-parameters"})

# nbconvert's template loads require.js and MathJax from a CDN. A report has no widgets and no
# math, and must open offline: those tags go.
_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.S)
INDEX = "index.html"
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
    nb.metadata["title"] = _title(nb, path.stem)
    for cell in nb.cells:
        if PARAMETER_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            cell.source = ""
    exporter = HTMLExporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _resources = exporter.from_notebook_node(nb)
    body = _REMOTE_SCRIPT.sub("", body)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.html"
    out.write_text(body, encoding="utf-8")
    write_index(out_dir)
    return out


def _html_title(page: Path) -> str:
    found = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.S)
    return html.unescape(found.group(1).strip()) if found else page.stem


def write_index(out_dir: Path = Path("reports")) -> Path:
    """Write ``<out_dir>/index.html``: a link to every report there, by title, so a folder of
    published reports reads as one site. Rewritten whenever a report is exported."""
    out_dir = Path(out_dir)
    pages = sorted(p for p in out_dir.glob("*.html") if p.name != INDEX)
    items = "\n".join(
        f'<li><a href="{html.escape(p.name)}">{html.escape(_html_title(p))}</a>'
        f" <small>({html.escape(p.name)})</small></li>"
        for p in pages
    )
    body = items or "<li>No reports yet: export an executed notebook first.</li>"
    index = out_dir / INDEX
    index.write_text(
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>gepa_lab reports</title>'
        '</head>\n<body style="font-family: sans-serif; max-width: 50em; margin: 2em auto">\n'
        "<h1>gepa_lab reports</h1>\n<p>Results from the simulated world are labelled "
        "simulated in each report.</p>\n<ul>\n" + body + "\n</ul>\n</body></html>\n",
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

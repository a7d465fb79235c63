"""Turn an executed notebook into a self-contained HTML report.

A report is for readers of results, not of code: inputs and prompts are left out, plots are
inlined as data URIs, and widget state (which needs a live kernel) is dropped. Usage::

    python -m gepa_lab.report reports/runs/aime.ipynb [--out-dir reports]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

# Cells papermill reads or writes parameters in: code readers need not see in a report.
PARAMETER_TAGS = frozenset({"parameters", "injected-parameters"})


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
    """Write ``<out_dir>/<stem>.html`` from an executed notebook and return its path."""
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.html"
    out.write_text(body, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> None:
    """CLI entry point; bad input ends with a one-line message instead of a traceback."""
    parser = argparse.ArgumentParser(
        prog="python -m gepa_lab.report",
        description="Convert an executed notebook into a self-contained HTML report.",
    )
    parser.add_argument(
        "notebook", type=Path, help="executed notebook (.ipynb), e.g. from papermill"
    )
    parser.add_argument(
        "--out-dir", type=Path, default=Path("reports"), help="where to write <stem>.html"
    )
    args = parser.parse_args(argv)
    try:
        out = export_html(args.notebook, args.out_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(out)


if __name__ == "__main__":
    main()

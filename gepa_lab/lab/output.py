"""Where a notebook writes its results: beside the executed notebook, as a reader expects.

``papermill in.ipynb out/run.ipynb`` runs the kernel in the caller's directory and tells it
nothing about ``out/`` unless ``--inject-paths`` is given; results written to the current
directory would then land wherever the command happened to be typed. So, in order: the
notebook's own ``output_dir`` parameter; ``PAPERMILL_OUTPUT_PATH`` (``--inject-paths``); the
output path on the command line of the papermill process that started this kernel (read from
``/proc``, so Linux only); else the current directory, which is the notebook's own folder in
JupyterLab.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# A notebook also records its result in its own outputs under this MIME type (displayed raw):
# the executed notebook then carries it, and HTML exports, which skip unknown types, hide it.
RESULT_MIME = "application/x.gepa-lab.result+json"


def read_recorded(notebook: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The result an executed notebook recorded in its outputs (the last one), or None."""
    import nbformat

    return recorded(nbformat.read(notebook, as_version=4))


def recorded(nb: Any) -> dict[str, Any] | None:
    """:func:`read_recorded` for a notebook already read (an ``nbformat`` node)."""
    found = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RESULT_MIME in data:
                found = data[RESULT_MIME]
    return found


def results_dir(output_dir: str = "", injected: str | None = None) -> tuple[Path, str]:
    """The folder for a notebook's results, and how it was found (to print beside it)."""
    if output_dir:
        return Path(output_dir), "the output_dir parameter"
    if injected:
        return Path(injected).parent, "papermill's PAPERMILL_OUTPUT_PATH"
    found = papermill_output(os.getppid())
    if found is not None:
        return found.parent, "the papermill command that runs this notebook"
    return Path.cwd(), "the current directory (no output_dir and no papermill output path)"


def papermill_output(pid: int) -> Path | None:
    """The output notebook of the papermill command running as process ``pid`` (its
    arguments parsed as papermill parses them), or None if ``pid`` is not one."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except (OSError, UnicodeDecodeError):
        return None
    names = [Path(a).name for a in argv[:3]]  # papermill ..., python papermill ..., python -m
    if "papermill" not in names:
        return None
    args = argv[names.index("papermill") + 1 :]
    try:
        from papermill.cli import papermill as command

        context = command.make_context("papermill", args, resilient_parsing=True)
    except Exception:  # an argument list papermill itself would refuse
        return None
    output = context.params.get("output_path")
    if not output or output == "-" or "://" in output:
        return None  # stdout or a remote store: nothing to write beside
    return cwd / output

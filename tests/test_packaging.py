"""What a fresh clone relies on: install files, clean notebooks, CI doing what the README says."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml  # installed with jupyterlab (via jupyter-events)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAIN_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && mkdir -p reports/runs && "
    ".venv/bin/papermill notebooks/aime.ipynb reports/runs/aime.ipynb -k python3 --log-output "
    "--no-progress-bar -p output_dir reports/runs && "
    ".venv/bin/python -m gepa_lab.lab.report reports/runs/aime.ipynb"
)
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/python -m pytest -q"
)


def test_environment_yml_mirrors_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "gepa-lab"
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    assert [d for d in deps if isinstance(d, dict)] == [{"pip": ["-e .[dev]"]}]


def test_notebooks_exist():
    assert ROOT / "notebooks" / "aime.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a code cell has a count"


def test_aime_parameters_are_typed_and_inspectable():
    nb = nbformat.read(ROOT / "notebooks" / "aime.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    params = pm.inspect_notebook(str(ROOT / "notebooks" / "aime.ipynb"))
    expected = {
        "run": "str",
        "world": "str",
        "task_model": "str",
        "reflection_model": "str",
        "data": "str",
        "test_data": "str",
        "time_scale": "float",
        "dataset_size": "int",
        "test_size": "int",
        "seed": "int",
        "target_quality": "float",
        "eval_concurrency": "int",
        "profile": "str",
        "gepa_concurrency": "int",
        "gepa_minibatch": "int",
        "gepa_parents": "int",
        "gepa_children": "int",
        "max_metric_calls": "int",
        "max_wall_time": "float",
        "spread_seeds": "int",
        "output_dir": "str",
    }
    assert {name: p["inferred_type_name"] for name, p in params.items()} == expected
    assert params["run"]["default"] == '"all"'
    assert params["world"]["default"] == '"http"'
    assert all(p["help"] for p in params.values()), "every parameter explains itself"


def test_ci_script_is_executable_and_runs_the_readme_test_command():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    lines = [line.strip() for line in ci.read_text().splitlines()]
    assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines
    commands = [(i, line) for i, line in enumerate(lines) if line and not line.startswith("#")]
    steps = TEST_COMMAND.split(" && ")
    positions = [next(i for i, line in commands if step in line) for step in steps]
    assert positions == sorted(positions), "the README's steps run in the README's order"
    assert TEST_COMMAND in ci.read_text()


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = readme.split("```bash\n")[1:3]
    assert [b.split("\n```")[0].strip() for b in blocks] == [MAIN_COMMAND, TEST_COMMAND]


def _imports(path: Path, package: str) -> set[str]:
    """The gepa_lab modules ``path`` imports when it runs (imports inside ``if TYPE_CHECKING:``
    are type hints only and are left out), relative imports resolved from ``package``."""
    tree = ast.parse(path.read_text())
    hinted = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in hinted:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gepa_lab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("gepa_lab"):
                continue
            for alias in node.names:  # `from pkg import module` imports the module
                sub = f"{module}.{alias.name}"
                found.add(sub if _source(sub) else module)
    return found


def _source(module: str) -> Path | None:
    path = ROOT / Path(*module.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return None


def test_the_engine_imports_nothing_that_knows_what_an_answer_is():
    # Follow every run-time import from the engine's modules through gepa_lab: none reaches the
    # tasks (data, metrics, answer parsing), the adapter or the simulated world.
    forbidden = ("gepa_lab.tasks", "gepa_lab.adapter", "gepa_lab.sim")
    seen: dict[str, str] = {}  # module -> the module that imported it
    todo = [f"gepa_lab.engine.{p.stem}" for p in (ROOT / "gepa_lab" / "engine").glob("*.py")]
    seen.update(dict.fromkeys(todo, "the engine"))
    while todo:
        module = todo.pop()
        source = _source(module)
        assert source is not None, module
        package = module if source.name == "__init__.py" else module.rsplit(".", 1)[0]
        for imported in _imports(source, package):
            if imported not in seen:
                seen[imported] = module
                todo.append(imported)
    reached = {m: by for m, by in seen.items() if m.startswith(forbidden)}
    assert not reached, f"the engine reaches (module: imported by) {reached}"
    assert "gepa_lab.config" in seen and "gepa_lab.protocols" in seen  # the walk works


def test_notebook_parameters_are_checked_by_name_type_and_rule():
    from gepa_lab.lab.parameters import POSITIVE, at_least, check_parameters

    injected = "# Parameters\nseed = 3\nPAPERMILL_OUTPUT_PATH = 'out.ipynb'\n"
    ok = {"__annotations__": {"seed": int, "scale": float}, "seed": 3, "scale": 2, "In": [""]}
    check_parameters({**ok, "In": ["", injected]}, seed=at_least(0), scale=POSITIVE)
    with pytest.raises(ValueError, match=r"'sede' is not one of this notebook's: did you mean"):
        check_parameters({**ok, "In": ["", injected + "sede = 1\n"]})
    with pytest.raises(ValueError, match=r"parameter seed=True is invalid: must be int"):
        check_parameters({**ok, "seed": True})
    with pytest.raises(ValueError, match=r"parameter scale=0 is invalid: must be > 0"):
        check_parameters({**ok, "scale": 0}, scale=POSITIVE)

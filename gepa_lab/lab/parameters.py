"""Notebook parameters checked before any run.

papermill injects values as given: a misspelt name becomes a new variable and the notebook runs
on its defaults, and ``-p seed abc`` makes ``seed`` a string that fails deep inside a run (or
after a first run, losing it). :func:`check_parameters` runs right after the parameters cell:
it refuses a name that is no parameter (with the closest one), a value of the wrong type, and
one a rule refuses, each naming the parameter.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from difflib import get_close_matches
from typing import Any

Rule = tuple[Callable[[Any], bool], str]  # (test, what is allowed)
POSITIVE: Rule = (lambda v: v > 0, "must be > 0")
FRACTION: Rule = (lambda v: 0 < v <= 1, "must be in (0, 1]")


def at_least(n: int) -> Rule:
    return (lambda v: v >= n, f"must be >= {n}")


def check_parameters(namespace: Mapping[str, Any], **rules: Rule) -> None:
    """Check the parameters declared (with type annotations) in the notebook's parameters
    cell, as papermill left them in ``namespace`` (the notebook's ``globals()``); ``rules``
    maps a parameter to (test, what is allowed), e.g. ``seed=(lambda v: v >= 0, ">= 0")``."""
    declared: Mapping[str, type] = namespace.get("__annotations__", {})
    for name in injected_names(namespace.get("In", ())):
        if name not in declared and not name.startswith("PAPERMILL_"):  # --inject-paths
            close = get_close_matches(name, list(declared), n=1)
            hint = f": did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"parameter {name!r} is not one of this notebook's{hint} "
                f"(its parameters: {', '.join(declared)})"
            )
    for name, kind in declared.items():
        value = namespace[name]
        if not _is(value, kind):
            raise ValueError(
                f"parameter {name}={value!r} is invalid: must be {kind.__name__}, "
                f"got {type(value).__name__}"
            )
    for name, (test, allowed) in rules.items():
        if name not in declared:
            raise ValueError(f"check_parameters: {name!r} is no parameter of this notebook")
        if not test(namespace[name]):
            raise ValueError(f"parameter {name}={namespace[name]!r} is invalid: {allowed}")


def injected_names(history: Any) -> list[str]:
    """The names papermill's injected cell (the last ``# Parameters`` cell run, in IPython's
    input history ``In``) assigns; none when the notebook runs without papermill."""
    for source in reversed(list(history)):
        if isinstance(source, str) and source.startswith("# Parameters"):
            return [
                target.id
                for node in ast.parse(source).body
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            ]
    return []


def _is(value: Any, kind: type) -> bool:
    if isinstance(value, bool) and kind is not bool:
        return False  # True is an int to Python, not a count to a person
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)

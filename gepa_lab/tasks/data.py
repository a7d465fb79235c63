"""Your data as examples: rows from a list of dicts, a pandas DataFrame, or a CSV, JSONL, JSON
or Parquet file, with any answer type. Only the AIME task keeps its 0-999 rule
(:func:`gepa_lab.tasks.examples.examples_from_rows`)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .examples import Example, check_encodable

SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")


def load_examples(
    data: Iterable[Mapping[str, Any]] | Any,
    *,
    input: str,
    answer: str | None = "answer",
    id: str | None = None,
    solution: str | None = None,
) -> list[Example]:
    """Examples from ``data``: rows (mappings), a pandas DataFrame, or a path to a file.

    ``input`` names the field a reflection shows as the example's input; ``answer`` the
    reference the metric compares with (None for tasks whose evaluator needs none). Every field
    of a row stays available to message templates (``Example.fields``). Ids come from the
    ``id`` column when given, else from the row's content (stable when rows are reordered).
    Numpy scalars (DataFrame cells) become Python values. A bad row raises ``ValueError``
    naming the source, the row and the field, before any call is made.
    """
    rows, source = _rows(data)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows):
        where = f"{source}[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: expected a mapping of field names to values, got {raw!r}")
        row = {str(k): _plain(v) for k, v in raw.items()}
        for name in (input, answer, id, solution):
            if name is not None and name not in row:
                fields = ", ".join(repr(k) for k in row) or "none"
                raise ValueError(f"{where}: no field {name!r} (fields: {fields})")
        text = row[input]
        if text is None or (isinstance(text, str) and not text.strip()):
            raise ValueError(f"{where}.{input}: must be non-empty, got {text!r}")
        for name, value in row.items():
            if isinstance(value, str):
                check_encodable(value, f"{where}.{name}")
        if answer is not None and _missing(row[answer]):
            raise ValueError(f"{where}.{answer}: missing answer")
        ex_id = str(row[id]) if id is not None else _content_id(row)
        if ex_id in seen:
            what = f"duplicate id {ex_id!r}" if id is not None else "the same row as"
            raise ValueError(f"{where}: {what} {source}[{seen[ex_id]}]")
        seen[ex_id] = i
        sol = row.get(solution) if solution is not None else None
        examples.append(
            Example(
                ex_id,
                text if isinstance(text, str) else json.dumps(text, default=str),
                row[answer] if answer is not None else None,
                str(sol) if sol else None,
                row,
            )
        )
    if not examples:
        raise ValueError(f"{source}: no examples")
    return examples


def _rows(data: Any) -> tuple[list[Any], str]:
    if isinstance(data, str | Path):
        path = Path(data)
        if not path.exists():
            raise ValueError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            with _text(path) as f:
                return list(csv.DictReader(f)), str(path)
        if suffix == ".jsonl":
            with _text(path) as f:
                rows = []
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise ValueError(f"{path}:{n}: not JSON: {exc.msg}") from None
                return rows, str(path)
        if suffix == ".json":
            with _text(path) as f:
                try:
                    loaded = json.load(f)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}: not JSON: {exc}") from None
            if not isinstance(loaded, list):
                raise ValueError(f"{path}: expected a JSON list of rows")
            return loaded, str(path)
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(path).to_dict("records"), str(path)
        raise ValueError(f"{path}: unknown file type {suffix!r}: use one of {SUFFIXES}")
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        return data.to_dict("records"), "DataFrame"
    if isinstance(data, Mapping | str | bytes):
        raise ValueError(f"expected rows (a list of mappings), a DataFrame or a path, got {data!r}")
    return list(data), "rows"


def _text(path: Path):
    """``path`` opened as UTF-8; a file that is not says so, naming it."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {exc.start}): re-save it as UTF-8"
        ) from None
    return path.open(encoding="utf-8", newline="")


def _plain(value: Any) -> Any:
    """Numpy scalars as Python values (``item()``), everything else as it is."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN: an empty DataFrame cell
        return True
    return isinstance(value, str) and not value.strip()


def _content_id(row: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
    return f"row-{digest[:12]}"

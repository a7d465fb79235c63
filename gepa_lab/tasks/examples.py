"""Examples: the rows an optimizer trains and validates on, checked on the way in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Example:
    """One example: ``problem`` is its input as text (what a reflection shows), ``answer`` the
    reference (an integer 0-999 for AIME; any value for a task of your own, see
    :func:`gepa_lab.tasks.load_examples`), ``fields`` the whole row, for message templates."""

    id: str
    problem: str
    answer: Any
    solution: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)


def examples_from_rows(rows: Iterable[Mapping[str, Any]], source: str = "rows") -> list[Example]:
    """Validate raw dataset rows into examples.

    Each row needs ``problem`` (non-empty text) and ``answer`` (an integer 0-999, or a string of
    one); ``id`` defaults to the row number. A bad row raises ``ValueError`` naming the row and
    the field, before any work is done, so a malformed file never wastes LLM calls.
    """
    examples: list[Example] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        where = f"{source}[{i}]"
        if not isinstance(row, Mapping):
            raise ValueError(
                f"{where}: expected a mapping with 'problem' and 'answer', got {row!r}"
            )
        problem = row.get("problem")
        if not isinstance(problem, str) or not problem.strip():
            raise ValueError(f"{where}.problem: must be non-empty text, got {problem!r}")
        check_encodable(problem, f"{where}.problem")
        answer = _parse_answer_field(row.get("answer"), where)
        ex_id = str(row.get("id", i))
        if ex_id in seen:
            raise ValueError(f"{where}.id: duplicate id {ex_id!r}")
        seen.add(ex_id)
        solution = row.get("solution")
        examples.append(Example(ex_id, problem, answer, solution if solution else None))
    if not examples:
        raise ValueError(f"{source}: no examples")
    return examples


def as_examples(
    items: Sequence[Example] | Sequence[Mapping[str, Any]], source: str
) -> list[Example]:
    """``items`` as examples: Example objects as they are, anything else validated as AIME
    rows (:func:`examples_from_rows`). An empty sequence raises ``ValueError`` naming
    ``source``; a row that is not an AIME problem says how to load rows of another task."""
    if not items:
        raise ValueError(f"{source} is empty")
    if all(isinstance(e, Example) for e in items):
        return list(items)  # type: ignore[arg-type]
    try:
        return examples_from_rows(items, source)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(
            f"{exc} (plain rows are read as AIME problems: 'problem' text and an integer "
            "'answer' 0-999; for a task of your own, load them with "
            "gl.load_examples(rows, input=..., answer=...))"
        ) from None


def check_encodable(text: str, where: str) -> None:
    """Refuse text no request can carry (a lone surrogate, say, from a badly decoded file),
    naming the field: it would otherwise pass here and fail every call."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{where}: not valid Unicode text at character {exc.start} "
            f"({text[exc.start]!r}): re-read the source as UTF-8"
        ) from None


def _parse_answer_field(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{where}.answer: must be an integer 0-999, got {value!r}")
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a numpy scalar (DataFrame cell)
        value = value.item()
    digits = value.strip().lstrip("-") if isinstance(value, str) else ""
    if digits.isascii() and digits.isdigit():  # '٣' is a digit, but not an AIME answer
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 999:
        raise ValueError(f"{where}.answer: must be an integer 0-999, got {value!r}")
    return value

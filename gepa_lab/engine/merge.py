"""Merge: combine two candidates that improved the same ancestor in different ways.

GEPA's system-aware merge (Agrawal et al. 2025, arXiv:2507.19457, section 3.3) takes, for each
component, the text from the descendant that changed it since the common ancestor. That does
nothing for a one-component prompt, the common case, so when both sides changed the same
component this module goes one level finer and merges its *lines* three-way: a line either side
deleted goes, a line either side added comes in, at the place it was added. Reflection mostly
adds and drops sentences, so two siblings that each fixed a different failure merge into one
text that fixes both, for no LLM call. This is what lets parallel siblings add up instead of
competing: without it, of many siblings only the best one's improvement survives.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from .candidate import Candidate


def common_ancestor(
    candidates: dict[int, Candidate],
    a: Candidate,
    b: Candidate,
    a_line: set[int] | None = None,
) -> Candidate | None:
    """The nearest candidate both descend from, or None if either descends from the other or
    they share no ancestor (two seeds). ``a_line``, ``a`` and its ancestors' ids, saves the
    walk up from ``a`` when ``a`` is paired with many."""
    seen = a_line if a_line is not None else set()
    cur: int | None = None if a_line is not None else a.id
    while cur is not None:
        seen.add(cur)
        cur = candidates[cur].parent_id
    if b.id in seen:
        return None
    cur = b.parent_id
    while cur is not None:
        if cur == a.id:
            return None
        if cur in seen:
            return candidates[cur]
        cur = candidates[cur].parent_id
    return None


def _edits(base: list[str], side: list[str]) -> tuple[set[int], dict[int, list[str]]]:
    """Base line indices ``side`` deleted, and the lines it inserted before each base index
    (index ``len(base)`` = at the end)."""
    deleted: set[int] = set()
    inserted: dict[int, list[str]] = {}
    matcher = SequenceMatcher(None, base, side, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            deleted.update(range(i1, i2))
        if op in ("insert", "replace"):
            inserted.setdefault(i1, []).extend(side[j1:j2])
    return deleted, inserted


def merge_text(base: str, left: str, right: str) -> str:
    """Three-way line merge of two edits of ``base``. Where both sides inserted at the same
    place, left's lines come first; a line both sides added appears once."""
    base_lines, left_lines, right_lines = base.splitlines(), left.splitlines(), right.splitlines()
    left_del, left_ins = _edits(base_lines, left_lines)
    right_del, right_ins = _edits(base_lines, right_lines)
    out: list[str] = []
    for i in range(len(base_lines) + 1):
        for line in (*left_ins.get(i, ()), *right_ins.get(i, ())):
            if line not in out or not line.strip():
                out.append(line)
        if i < len(base_lines) and i not in left_del and i not in right_del:
            out.append(base_lines[i])
    return "\n".join(out)


def merge_components(
    base: dict[str, str], left: dict[str, str], right: dict[str, str]
) -> dict[str, str] | None:
    """Per component: the side that changed it, or a line merge if both did. None when the
    result equals one of the two sides (nothing to gain)."""
    merged = {}
    for name, text in base.items():
        lt, rt = left.get(name, text), right.get(name, text)
        if lt in (text, rt):
            merged[name] = rt
        elif rt == text:
            merged[name] = lt
        else:
            merged[name] = merge_text(text, lt, rt)
    if merged in (left, right):
        return None
    return merged

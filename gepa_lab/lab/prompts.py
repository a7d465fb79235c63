"""The best prompts side by side, as a reader compares them: left-aligned, wrapped at words,
with what each run changed from the seed highlighted."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from html import escape

from ..runs.telemetry import RunResult

# Inline styles: the report's notebook CSS right-aligns table cells and may break words
# anywhere; these win over it and need no stylesheet.
_CELL = (
    "text-align:left;vertical-align:top;white-space:pre-wrap;word-break:normal;"
    "overflow-wrap:break-word;padding:.5em .8em;border:1px solid #ddd;font-size:0.95em;"
    "line-height:1.45"
)
_ADDED = "background:#c8f0c8;text-decoration:none"
_REMOVED = "color:#a33;text-decoration:line-through"


def diff_html(seed: str, text: str) -> str:
    """``text`` as HTML, word by word against ``seed``: words it added are highlighted, seed
    words it dropped are shown struck through where they were. Whitespace changes alone are
    not differences."""
    old, new = re.findall(r"\S+\s*", seed), re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    matcher = difflib.SequenceMatcher(
        None, [w.strip() for w in old], [w.strip() for w in new], autojunk=False
    )
    parts = [escape(lead)]
    spaced = True  # whether the text so far ends in whitespace (or is empty)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("replace", "delete"):
            dropped = "".join(old[i1:i2]).rstrip()
            gap = "" if spaced else " "
            parts.append(f"{gap}<del style='{_REMOVED}'>{escape(dropped)}</del> ")
            spaced = True
        if op == "equal":
            kept = "".join(new[j1:j2])
            parts.append(escape(kept))
        elif op in ("replace", "insert"):
            kept = "".join(new[j1:j2])
            body = kept.rstrip()
            parts.append(f"<ins style='{_ADDED}'>{escape(body)}</ins>{escape(kept[len(body) :])}")
        else:
            continue
        spaced = kept[-1:].isspace()
    return "".join(parts)


def prompts_html(
    seed: Mapping[str, str],
    results: Mapping[str, RunResult],
    held_out: Mapping[str, float] | None = None,
) -> str:
    """One column per run with its best prompt, each component diffed from ``seed``'s; the
    header gives the run's training quality and, when given, its held-out score."""
    if not results:
        raise ValueError("no runs: pass at least one RunResult to show its best prompt")
    width = f"{100 / len(results):.2f}%"
    head, cells = [], []
    for label, res in results.items():
        score = f"quality {res.best_quality:.3f}"
        if held_out and label in held_out:
            score += f", held-out {held_out[label]:.3f}"
        head.append(f"<th style='{_CELL};width:{width}'>{escape(label)}: {score}</th>")
        parts = []
        for name, text in res.best_candidate.items():
            title = f"<b>{escape(name)}</b>\n" if len(res.best_candidate) > 1 else ""
            parts.append(title + diff_html(seed.get(name, ""), text))
        cells.append(f"<td style='{_CELL}'>{chr(10).join(parts)}</td>")
    legend = (
        f"<p style='text-align:left'><ins style='{_ADDED}'>highlighted</ins>: added to the seed"
        f" prompt; <del style='{_REMOVED}'>struck through</del>: seed text the run dropped.</p>"
    )
    return (
        f"{legend}<table class='gepa-lab-prompts' style='table-layout:fixed;width:100%;"
        f"border-collapse:collapse'><tr>{''.join(head)}</tr><tr>{''.join(cells)}</tr></table>"
    )

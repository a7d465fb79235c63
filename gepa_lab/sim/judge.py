"""The simulated judge model (``sim-judge``): grades a reply against a reference answer.

It reads the request :class:`gepa_lab.tasks.metrics.LLMJudge` writes (the reference after
``Reference answer:``, the reply after ``Response:``) and answers in the format that metric
asks for: a line ``Score: <0-10>`` and a one-line reason. It gives 10 when the reply's last
line names the reference (``Label: positive``, ``### 42``...), 0 when it names something else,
and passes on what the reply said was wrong, so the reason is worth reflecting on.
"""

from __future__ import annotations

import re

_REFERENCE = re.compile(r"^Reference answer:\s*(.*)$", re.MULTILINE)
_RESPONSE = re.compile(r"^Response:\s*\n(.*?)(?:\n\n|\Z)", re.MULTILINE | re.DOTALL)


def judge(request_text: str) -> str:
    found = _REFERENCE.search(request_text)
    reply = _RESPONSE.search(request_text)
    if found is None or reply is None:
        return "Score: 0\nReason: there was no reference answer or response to compare."
    reference = found.group(1).strip().lower()
    lines = [ln.strip() for ln in reply.group(1).strip().splitlines() if ln.strip()]
    last = re.sub(r"^(label|answer|###)\s*:?\s*", "", lines[-1].lower()) if lines else ""
    if last == reference:
        return "Score: 10\nReason: the response gives the reference answer."
    said = " ".join(lines[:-1])
    because = f" The response itself says: {said}" if said else ""
    return f"Score: 0\nReason: it answered {last!r}, not {reference!r}.{because}"

"""Exact integer scoring and validated dataset rows."""

import pytest

from gepa_lab import examples_from_rows
from gepa_lab.scoring import FORMAT_FEEDBACK, parse_answer, score_answer


def test_exact_integer_match_never_substring():
    assert parse_answer("work...\n### 70") == 70
    assert score_answer("work\n### 70", 7).value == 0.0
    assert score_answer("work\n### 7", 7).value == 1.0
    assert parse_answer("so \\boxed{123}.") == 123
    assert parse_answer("### 5\nthen\n### 6") == 6
    assert parse_answer("The answer is 7.") is None
    s = score_answer("The answer is 7.", 7)
    assert (s.value, s.feedback) == (0.0, FORMAT_FEEDBACK)
    assert "correct answer is 7" in score_answer("### 8", 7).feedback


def test_rows_validated_with_row_and_field_named():
    ex = examples_from_rows(
        [{"problem": "p1", "answer": "42"}, {"id": "x", "problem": "p2", "answer": 7.0}]
    )
    assert [(e.id, e.answer) for e in ex] == [("0", 42), ("x", 7)]
    bad = [
        ([{"problem": "", "answer": 1}], r"rows\[0\]\.problem"),
        ([{"problem": "p", "answer": 1000}], r"rows\[0\]\.answer"),
        ([{"problem": "p", "answer": "seven"}], r"rows\[0\]\.answer"),
        ([{"problem": "p", "answer": True}], r"rows\[0\]\.answer"),
        ([{"problem": "p", "answer": 1}, {"id": 0, "problem": "q", "answer": 2}], "duplicate"),
        (["just text"], "expected a mapping"),
        ([], "no examples"),
    ]
    for rows, match in bad:
        with pytest.raises(ValueError, match=match):
            examples_from_rows(rows)

"""Exact integer scoring and validated dataset rows."""

import pytest

import gepa_lab as gl
from gepa_lab import examples_from_rows
from gepa_lab.tasks.aime import FORMAT_FEEDBACK, parse_answer, score_answer


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


def good_prompt() -> str:
    """Every hint the simulated task model responds to: it solves most problems."""
    from gepa_lab.sim.skills import FORMAT, SKILLS

    return "\n".join(["Solve the problem.", *(s.hint for s in SKILLS), FORMAT.hint])


def held_out(prompt, provider=None, **kw):
    import asyncio

    import gepa_lab as gl
    from gepa_lab.sim import synthetic_aime

    test = synthetic_aime(40, seed=9)
    kw.setdefault("time_mode", "virtual")
    score = asyncio.run(gl.score_prompt(prompt, test, provider=provider, **kw))
    return score, test


def test_score_prompt_is_the_mean_exact_integer_score_of_the_simulated_answers():
    from gepa_lab.sim.task_model import answer

    prompt = good_prompt()
    score, test = held_out(prompt)
    expected = sum(score_answer(answer(prompt, e.problem), e.answer).value for e in test)
    assert score == pytest.approx(expected / len(test))
    assert 0.3 < score < 1.0


def test_score_prompt_retries_failed_calls_and_stops_on_a_dead_endpoint():
    from gepa_lab.sim import SimProvider
    from gepa_lab.sim.faults import Faults

    prompt = good_prompt()
    clean, _ = held_out(prompt)
    # A 5xx on 30% of the attempts: the retries recover every call, as in a run.
    flaky = SimProvider(faults=Faults(p_5xx=0.3), seed=1)
    assert held_out(prompt, flaky, task_model="sim-task")[0] == clean
    assert flaky.stats.faults["5xx"] > 5
    # Every attempt fails: the endpoint is down, and that is an error, not a score of 0.
    dead = SimProvider(faults=Faults(p_5xx=1.0))
    with pytest.raises(gl.ProviderUnavailable, match="failed every call"):
        held_out(prompt, dead, task_model="sim-task")


def test_score_prompt_names_a_bad_concurrency():
    with pytest.raises(ValueError, match="concurrency=0 is invalid"):
        held_out("Solve it.", concurrency=0)

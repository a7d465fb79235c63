"""The best prompts side by side: what changed from the seed, readable."""

from __future__ import annotations

import re
from html import unescape

import pytest

import gepa_lab as gl
from gepa_lab.lab.prompts import diff_html, prompts_html
from gepa_lab.sim import synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."


def _marked(html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag} [^>]*>(.*?)</{tag}>", html, re.S)


def test_added_words_are_highlighted_and_dropped_ones_struck_through():
    html = diff_html(SEED, "You are a careful assistant. Solve the math problem.\nCheck 2 < 3.")
    assert _marked(html, "ins") == ["careful", "Check 2 &lt; 3."]  # escaped, not markup
    assert _marked(html, "del") == ["helpful"]
    text = re.sub(r"<del [^>]*>.*?</del> ", "", html)
    assert re.sub(r"<[^>]+>", "", text).replace("&lt;", "<") == (
        "You are a careful assistant. Solve the math problem.\nCheck 2 < 3."
    )


def test_a_dropped_last_word_stays_a_word_of_its_own():
    html = diff_html("Solve the math problem carefully.", "Solve the math problem")
    assert re.sub(r"<[^>]+>", "", html).split() == ["Solve", "the", "math", "problem", "carefully."]


def test_whitespace_alone_is_no_change():
    assert "<ins" not in diff_html(SEED, SEED.replace(" ", "\n  "))
    assert diff_html(SEED, SEED) == SEED


def test_the_table_is_left_aligned_wrapped_at_words_one_column_per_run():
    train = synthetic_aime(20)
    config = gl.adaptive_config(20, "balanced", 64).replace(target_quality=0.5)
    run = gl.optimize_sync(SEED, train, config, time_mode="virtual", label="turbo")
    other = gl.optimize_sync(
        SEED, train, config.replace(seed=2), time_mode="virtual", label="second"
    )
    html = prompts_html({"instruction": SEED}, {"turbo": run, "second": other}, {"turbo": 0.5})
    cells = re.findall(r"<(td|th) style='([^']*)'", html)
    assert len(cells) == 4
    for _, style in cells:
        assert "text-align:left" in style and "word-break:normal" in style
        assert "white-space:pre-wrap" in style
    assert f"turbo: quality {run.best_quality:.3f}, held-out 0.500" in html
    assert f"second: quality {other.best_quality:.3f}</th>" in html
    # Every word the run added is inside a highlight, none of the seed's words is.
    first = re.findall(r"<td [^>]*>(.*?)</td>", html, re.S)[0]  # the turbo run's column
    highlighted = " ".join(_marked(first, "ins")).split()
    seed_words = set(SEED.split())
    best = run.best_candidate["instruction"]
    assert best.startswith(SEED)  # the simulated reflection model appends advice
    added = [unescape(w) for w in best[len(SEED) :].split()]
    assert [unescape(w) for w in highlighted[: len(added)]] == added
    assert len(highlighted) == len(added)
    assert not seed_words & {unescape(w) for w in " ".join(_marked(first, "del")).split()}
    with pytest.raises(ValueError, match="at least one RunResult"):
        prompts_html({"instruction": SEED}, {})

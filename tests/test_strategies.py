"""Mutation strategies, the simulated reflection model's answers to them, and the bandit."""

import random

import pytest

import gepa_lab as gl
from gepa_lab.adapter import LLMAdapter, extract_instruction
from gepa_lab.config import MUTATION_STRATEGIES
from gepa_lab.engine.bandit import StrategyBandit
from gepa_lab.engine.candidate import Trace
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from gepa_lab.sim.reflection_model import reflect
from gepa_lab.sim.skills import FORMAT, NOISE, SKILLS, STEPS, VERIFY
from gepa_lab.strategies import STRATEGIES, Strategy, reflection_prompt, register
from gepa_lab.tasks import AIME

SEED = "You are a helpful assistant. Solve the math problem."


def test_the_default_strategies_are_registered_and_a_new_one_is_one_registration():
    assert set(STRATEGIES) == set(MUTATION_STRATEGIES)
    terse = Strategy("terse", "Shorten this instruction:\n```\n{current}\n```\n{examples}")
    with pytest.raises(ValueError, match="mutation_strategies"):
        gl.Config(mutation_strategies=("terse",))
    register(terse)
    try:
        with pytest.raises(ValueError, match="'terse' is already registered"):
            register(terse)
        asked = []

        class Recording(SimProvider):
            async def complete(self, request):
                if request.purpose == "reflection":
                    asked.append(request.user)
                return await super().complete(request)

        cfg = gl.Config(max_metric_calls=120, mutation_strategies=("terse",))
        res = gl.optimize_sync(
            SEED,
            synthetic_aime(20, seed=1),
            cfg,
            provider=Recording(),
            task_model=TASK_MODEL,
            reflection_model=REFLECTION_MODEL,
            time_mode="virtual",
        )
        assert asked and all(a.startswith("Shorten this instruction:") for a in asked)
        assert set(res.strategies) == {"terse"}
    finally:
        del STRATEGIES["terse"]


def test_induction_shows_answers_not_attempts_and_the_others_show_attempts():
    ex = gl.Example("e1", "Find the remainder when 7^5 + 3 is divided by 1000.", 810, "Use CRT.")
    tr = Trace(0.0, "I reduced the power and got 12.\n### 12", "Incorrect: answered 12.")
    induce = reflection_prompt(SEED, [(ex, tr)], "induce", task=AIME)
    assert "Correct answer: 810" in induce and "Reference solution: Use CRT." in induce
    assert "### 12" not in induce
    for name in ("reflect", "think"):
        shown = reflection_prompt(SEED, [(ex, tr)], name, task=AIME)
        assert "### 12" in shown and "Incorrect: answered 12." in shown


def test_the_simulated_reflection_model_answers_each_strategy_as_asked():
    train = synthetic_aime(12, seed=2)
    # Attempts that fail for reasons the text does not say: reflection has nothing to fix.
    silent = [(ex, Trace(0.0, "### 1", "Incorrect.")) for ex in train[:3]]
    noisy = f"{SEED}\n{NOISE[2].hint}"  # a harmful aside
    skills_needed = {s.key for ex in train[:3] for s in SKILLS if s.signature in ex.problem.lower()}
    assert skills_needed

    reflected = extract_instruction(
        reflect(reflection_prompt(noisy, silent, "reflect", task=AIME), 1)
    )
    induced = extract_instruction(reflect(reflection_prompt(noisy, silent, "induce", task=AIME), 1))
    thought = extract_instruction(reflect(reflection_prompt(noisy, silent, "think", task=AIME), 1))

    def covers(text, item):
        return any(c in text.lower() for c in item.cues)

    # induction sees the skills in the problems and the format, and drops the harmful aside
    by_key = {s.key: s for s in SKILLS}
    assert any(covers(induced, by_key[k]) for k in skills_needed)
    assert covers(induced, FORMAT) and NOISE[2].hint not in induced
    assert not any(covers(reflected, by_key[k]) for k in skills_needed)
    # thinking adds a reasoning protocol and the format, and no domain guidance
    assert covers(thought, STEPS) and covers(thought, FORMAT) and "<think>" in thought
    assert not any(covers(thought, s) for s in SKILLS)
    # a second thinking pass on a text that has the habits adds nothing new
    full = f"{thought}\n{VERIFY.hint}"
    again = extract_instruction(reflect(reflection_prompt(full, silent, "think", task=AIME), 7))
    assert set(again.splitlines()) <= set(full.splitlines())


def test_the_bandit_prefers_what_works_and_follows_a_change():
    bandit = StrategyBandit(("a", "b", "c"), random.Random(0))
    for _ in range(300):
        name = bandit.choose()
        bandit.update(name, name == "b")
    picks = [bandit.choose() for _ in range(200)]
    assert picks.count("b") > 160
    for _ in range(300):  # "b" stops paying, "c" starts
        name = bandit.choose()
        bandit.update(name, name == "c")
    picks = [bandit.choose() for _ in range(200)]
    assert picks.count("c") > 160
    assert sum(s["tries"] for s in bandit.stats().values()) == 600
    assert StrategyBandit(("only",), random.Random(0)).choose() == "only"


def test_runs_use_and_report_the_strategies_and_classic_keeps_gepas():
    train = synthetic_aime(40, seed=3)
    res = gl.optimize_sync(SEED, train, gl.Config(max_metric_calls=3000), time_mode="virtual")
    assert set(res.strategies) == set(MUTATION_STRATEGIES)
    assert all(s["tries"] > 0 for s in res.strategies.values())
    assert sum(s["successes"] for s in res.strategies.values()) > 0
    assert res.summary()["strategies"] == res.strategies
    classic = gl.optimize_sync(
        SEED, train, gl.classic_config(max_metric_calls=900), time_mode="virtual"
    )
    assert list(classic.strategies) == ["reflect"]


def test_strategy_settings_are_validated_and_old_adapters_get_a_clear_error():
    with pytest.raises(ValueError, match=r"mutation_strategies=\('reflect', 'dream'\)"):
        gl.Config(mutation_strategies=("reflect", "dream"))
    with pytest.raises(ValueError, match="each of its strategies once"):
        gl.Config(mutation_strategies=("think", "think"))
    with pytest.raises(ValueError, match="must be a tuple"):
        gl.Config(mutation_strategies="reflect")
    assert gl.Config(mutation_strategies=["induce"]).mutation_strategies == ("induce",)

    class OldAdapter(LLMAdapter):
        async def propose(self, candidate, component, examples, seed):
            return None

    adapter = OldAdapter(SimProvider(), TASK_MODEL, REFLECTION_MODEL)
    with pytest.raises(TypeError, match="propose must accept strategy and temperature_boost="):
        gl.optimize_sync(
            SEED, synthetic_aime(20, seed=1), gl.Config(max_metric_calls=50), adapter=adapter
        )


def test_a_fence_left_open_loses_its_language_tag_and_an_empty_reply_is_no_proposal():
    cut_off = "Here is the improved instruction:\n```python\nBe careful.\nCheck the units."
    assert extract_instruction(cut_off) == "Be careful.\nCheck the units."
    assert extract_instruction("```text\nKeep it short.\n```") == "Keep it short."
    assert extract_instruction("Just do it.") == "Just do it."
    for empty in ("", "   \n", "```\n\n```", "```markdown\n"):
        assert extract_instruction(empty) is None

"""The simulated world is deterministic, and reflection on failures raises quality."""

import asyncio
import random

import pytest

from gepa_lab.adapter import extract_instruction
from gepa_lab.engine.candidate import Trace
from gepa_lab.llm.provider import ChatRequest
from gepa_lab.runs.virtual_time import run_virtual
from gepa_lab.sim import REFLECTION_MODEL, Latency, SimProvider, decode, p_correct, synthetic_aime
from gepa_lab.sim.reflection_model import REFLECTION_MODELS, reflect
from gepa_lab.sim.skills import FORMAT, HABITS, SHORTCUT, SKILLS, STEPS, VERIFY
from gepa_lab.sim.task_model import answer
from gepa_lab.strategies import reflection_prompt
from gepa_lab.tasks import AIME
from gepa_lab.tasks.aime import FORMAT_FEEDBACK, score_answer

SEED = "You are a helpful assistant. Solve the math problem."
ALL_HINTS = "\n".join([SEED, *(h.hint for h in HABITS), *(s.hint for s in SKILLS)])


def quality(instruction, examples, landscape="skills"):
    return sum(
        score_answer(answer(instruction, e.problem, landscape), e.answer).value for e in examples
    ) / len(examples)


def test_dataset_is_deterministic_and_aime_shaped():
    a, b = synthetic_aime(50, seed=7), synthetic_aime(50, seed=7)
    assert a == b and a != synthetic_aime(50, seed=8)
    assert len({e.problem for e in a}) == 50 and len({e.id for e in a}) == 50
    assert all(0 <= e.answer <= 999 and e.answer == decode(e.problem).answer for e in a)
    assert all(1 <= len(decode(e.problem).skills) <= 3 for e in a)
    with pytest.raises(ValueError, match="n=0"):
        synthetic_aime(0)


def test_task_model_depends_on_prompt_content():
    ex = synthetic_aime(200, seed=1)
    assert [answer(SEED, e.problem) for e in ex[:20]] == [answer(SEED, e.problem) for e in ex[:20]]
    seed_q, full_q = quality(SEED, ex), quality(ALL_HINTS, ex)
    assert seed_q < 0.1 and full_q > 0.6
    with_format = f"{SEED}\n{FORMAT.hint}"
    assert all(
        score_answer(answer(with_format, e.problem), e.answer).feedback != FORMAT_FEEDBACK
        for e in ex
    )
    hard = max(ex, key=lambda e: decode(e.problem).difficulty)
    easy = min(ex, key=lambda e: decode(e.problem).difficulty)
    assert p_correct(ALL_HINTS, easy.problem) > p_correct(ALL_HINTS, hard.problem)


def test_wrong_answers_say_what_went_wrong():
    ex = synthetic_aime(100, seed=2)
    for e in ex:
        out = answer(SEED, e.problem)
        if score_answer(out, e.answer).value == 0 and "###" in out:
            skills = decode(e.problem).skills
            assert any(s.failure in out for s in skills)


def test_reflection_adds_what_failures_point_at_and_is_reproducible():
    ex = synthetic_aime(60, seed=4)
    failed = [(e, answer(SEED, e.problem)) for e in ex[:10]]
    traces = [(e, Trace(0.0, out, score_answer(out, e.answer).feedback)) for e, out in failed]
    request = reflection_prompt(SEED, traces[:3], task=AIME)
    assert reflect(request, 1) == reflect(request, 1)
    texts = {extract_instruction(reflect(request, s)) for s in range(20)}
    assert len(texts) > 1  # sampling varies with the seed
    needed = {s.key for e, _ in traces[:3] for s in decode(e.problem).skills}
    new = extract_instruction(reflect(request, 3))
    assert any(s.hint in new for s in SKILLS if s.key in needed)


def test_reflection_on_failures_raises_quality():
    train, held_out = synthetic_aime(60, seed=5), synthetic_aime(100, seed=6)
    rng = random.Random(0)
    current = SEED
    for step in range(12):
        fails = [e for e in train if score_answer(answer(current, e.problem), e.answer).value == 0]
        batch = rng.sample(fails, 3)
        traces = [
            (
                e,
                Trace(
                    0.0,
                    answer(current, e.problem),
                    score_answer(answer(current, e.problem), e.answer).feedback,
                ),
            )
            for e in batch
        ]
        child = extract_instruction(reflect(reflection_prompt(current, traces, task=AIME), step))
        if quality(child, train) >= quality(current, train):
            current = child
    assert quality(current, held_out) > quality(SEED, held_out) + 0.3


def test_latency_distributions():
    uni = Latency("uniform", 1.0, 3.0)
    assert uni.sample(0.0) == 1.0 and uni.sample(0.999) == pytest.approx(2.998)
    logn = Latency("lognormal", 0.1, 5.0, median=1.0, sigma=0.5)
    assert logn.sample(0.5) == pytest.approx(1.0) and 0.1 <= logn.sample(0.001) < 1.0
    assert Latency.fixed(0.5).sample(0.3) == 0.5
    with pytest.raises(ValueError, match="kind"):
        Latency("gamma")
    with pytest.raises(ValueError, match="low"):
        Latency("uniform", 3.0, 1.0)


def test_provider_serves_both_models_with_virtual_latency():
    provider = SimProvider()
    ex = synthetic_aime(3, seed=0)

    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        reqs = [ChatRequest("sim-task", (("system", SEED), ("user", e.problem))) for e in ex]
        outs = await asyncio.gather(*(provider.complete(r) for r in reqs))
        task_time = loop.time() - t0
        refl = await provider.complete(
            ChatRequest("sim-reflect", (("user", "```\nx\n```"),), seed=1)
        )
        with pytest.raises(ValueError, match="unknown model"):
            await provider.complete(ChatRequest("gpt-9", (("user", "hi"),)))
        return outs, task_time, refl

    outs, task_time, refl = run_virtual(main)
    assert 1.0 <= task_time <= 3.0  # concurrent calls: the slowest one, in simulated seconds
    assert all(o.prompt_tokens > 0 and o.completion_tokens > 0 for o in outs)
    assert "```" in refl.text
    assert provider.stats.calls == {"sim-task": 3, "sim-reflect": 1}
    assert provider.stats.max_in_flight == 3 and provider.stats.in_flight == 0


def test_virtual_time_jumps_and_detects_nothing_left_to_wait_for(monkeypatch):
    import gepa_lab.runs.virtual_time as vt

    async def sleeper():
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(asyncio.sleep(s) for s in (5, 60, 3600)))
        return loop.time()

    assert run_virtual(sleeper) == pytest.approx(3600)
    monkeypatch.setattr(vt, "DEADLOCK_SECONDS", 0.05)

    async def stuck():
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="nothing scheduled"):
        run_virtual(stuck)


def test_the_deterministic_reflection_model_answers_an_identical_request_identically():
    ex = synthetic_aime(30, seed=4)
    traces = [
        (e, Trace(0.0, out, score_answer(out, e.answer).feedback))
        for e, out in ((e, answer(SEED, e.problem)) for e in ex[:6])
    ]
    first, other = (
        reflection_prompt(SEED, traces[:3], task=AIME),
        reflection_prompt(SEED, traces[3:], task=AIME),
    )

    async def replies(mode):
        provider = SimProvider(time_scale=0, reflection=mode)
        out = []
        for seed in range(12):
            for prompt in (first, other):
                request = ChatRequest(REFLECTION_MODEL, (("user", prompt),), 1.0, None, seed)
                out.append((prompt, (await provider.complete(request)).text))
        return out

    fixed = asyncio.run(replies("deterministic"))
    assert len({text for prompt, text in fixed if prompt == first}) == 1  # seed ignored
    assert len({text for _, text in fixed}) == 2  # another request, another reply
    sampled = asyncio.run(replies("stochastic"))
    assert len({text for prompt, text in sampled if prompt == first}) > 1
    with pytest.raises(ValueError, match=r"reflection='greedy'.*deterministic"):
        SimProvider(reflection="greedy")


def test_weak_and_strong_reflection_models_differ_as_documented():
    ex = synthetic_aime(30, seed=4)
    traces = [
        (e, Trace(0.0, out, score_answer(out, e.answer).feedback))
        for e, out in ((e, answer(SEED, e.problem)) for e in ex[:3])
    ]
    request = reflection_prompt(SEED, traces, task=AIME)
    needed = {s.hint for e, _ in traces for s in decode(e.problem).skills}

    def replies(name):
        model = REFLECTION_MODELS[name]
        return [extract_instruction(reflect(request, s, model)) or "" for s in range(200)]

    def adopted(texts):
        return sum(sum(h in t for h in needed) for t in texts) / len(texts)

    weak, strong, usual = replies("weak"), replies("strong"), replies("stochastic")
    assert adopted(weak) < adopted(usual) < adopted(strong)
    # A weak model often writes no instruction: the prompt echoed, a worked answer or code.
    junk = sum(t == SEED or "answer is 42" in t or "def solve" in t for t in weak)
    assert 0.2 < junk / len(weak) < 0.45
    assert not any("def solve" in t or "answer is 42" in t for t in strong + usual)


def test_the_noisy_landscape_rewards_wording_more_than_the_skills_one():
    ex = synthetic_aime(200, seed=7)
    full = "\n".join([SEED, *(s.hint for s in SKILLS), *(h.hint for h in HABITS)])
    rewordings = [full + "\n" + "Be careful." * k for k in range(1, 9)]

    def spread(landscape):
        scores = [
            sum(score_answer(answer(r, e.problem, landscape), e.answer).value for e in ex) / len(ex)
            for r in rewordings
        ]
        return max(scores) - min(scores)

    assert spread("noisy") > 2 * spread("skills")
    with pytest.raises(ValueError, match=r"landscape='flat'.*noisy"):
        SimProvider(landscape="flat")


def adopted(request: str, phrase: str) -> int:
    """In how many of 20 replies the strong reflection model writes ``phrase``."""
    strong = REFLECTION_MODELS["strong"]
    return sum(phrase in reflect(request, seed, strong).lower() for seed in range(20))


def test_in_the_phrases_landscape_a_few_habit_phrases_decide():
    ex = synthetic_aime(200, seed=7)
    habits = "\n".join([SEED, *(h.hint for h in HABITS)])
    skills = "\n".join([SEED, FORMAT.hint, *(s.hint for s in SKILLS)])
    # Three habit phrases beat twelve skill hints there; in the skills landscape it is reversed.
    assert quality(habits, ex, "phrases") > quality(skills, ex, "phrases") + 0.2
    assert quality(skills, ex) > quality(habits, ex) + 0.2
    # A wrong answer blames the missing habit first, so reflection finds the phrases.
    wrong = [answer(skills, e.problem, "phrases") for e in ex]
    assert sum(VERIFY.failure in a for a in wrong) > 20
    verified = "\n".join([skills, VERIFY.hint])
    assert sum(STEPS.failure in answer(verified, e.problem, "phrases") for e in ex) > 10
    assert adopted(f"```\n{verified}\n```\n{STEPS.failure}", "step by step") >= 15


def test_the_deceptive_landscape_leads_the_greedy_path_to_a_local_optimum():
    ex = synthetic_aime(200, seed=7)
    seed_fmt = "\n".join([SEED, FORMAT.hint])
    # The shortcut pays at once, and wrong answers ask for it ...
    assert (
        quality(f"{seed_fmt}\n{SHORTCUT.hint}", ex, "deceptive")
        > quality(seed_fmt, ex, "deceptive") + 0.15
    )
    assert sum(SHORTCUT.failure in answer(seed_fmt, e.problem, "deceptive") for e in ex) > 40
    assert adopted(f"```\n{seed_fmt}\n```\n{SHORTCUT.failure}", "standard formula") >= 15
    # ... but while it is there the skill hints count for nothing: every hint plus the shortcut
    # stays far below every hint without it.
    trapped = f"{ALL_HINTS}\n{SHORTCUT.hint}"
    assert quality(ALL_HINTS, ex, "deceptive") > quality(trapped, ex, "deceptive") + 0.15
    # Specification induction keeps only the hints it knows, so it drops the shortcut.
    request = f"Task: write a specification from examples.\n```\n{trapped}\n```\n{ex[0].problem}"
    assert "standard formula" not in reflect(request, 1)
    # Elsewhere the shortcut is just words.
    assert abs(quality(trapped, ex) - quality(ALL_HINTS, ex)) < 0.05

"""A two-step program (planner, then solver) as the task: every call traced for the reflection
model, both components optimized, each one mattering on its own (simulated world)."""

from __future__ import annotations

import asyncio

import pytest

import gepa_lab as gl
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime
from gepa_lab.sim.process import SimServerProcess
from gepa_lab.sim.program import PLAN_REQUEST, two_step
from gepa_lab.sim.skills import HABITS, SKILLS

TRAIN = synthetic_aime(30, seed=4)
TASK = gl.ProgramTask(
    two_step,
    gl.metrics.ExactInt(),
    objective="plans and solves competition math problems",
    input_label="Problem",
)
SEED = {
    "planner": "List the methods this problem needs.",
    "solver": "Solve the math problem, following the plan.",
}
METHODS = "\n".join(s.hint for s in SKILLS)
HABIT_LINES = "\n".join(h.hint for h in HABITS)


def score(candidate) -> float:
    return asyncio.run(gl.score_prompt(candidate, TRAIN, task=TASK, time_mode="virtual"))


def test_each_component_matters_on_its_own():
    both = score({"planner": METHODS, "solver": f"{SEED['solver']}\n{HABIT_LINES}"})
    planner_only = score({"planner": METHODS, "solver": SEED["solver"]})
    # a solver that states every method itself gains nothing without a plan that does
    solver_only = score(
        {"planner": SEED["planner"], "solver": f"{SEED['solver']}\n{HABIT_LINES}\n{METHODS}"}
    )
    assert both >= 0.75 and planner_only < 0.3 and solver_only < 0.3


class Recording(SimProvider):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.reflections: list[str] = []

    async def complete(self, request):
        if request.purpose == "reflection":
            self.reflections.append(request.user)
        return await super().complete(request)


def run(seed: int, provider=None) -> gl.RunResult:
    return gl.optimize_sync(
        SEED,
        TRAIN,
        gl.Config(max_metric_calls=3000, target_quality=0.6, seed=seed),
        provider=provider or SimProvider(reflection="deterministic"),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        task=TASK,
    )


def test_both_components_improve_and_reflections_read_every_call():
    provider = Recording(reflection="deterministic")
    res = run(0, provider)
    assert res.stop_reason == "target"
    assert score(res.best_candidate) >= 0.6  # re-scored
    assert all(res.best_candidate[name] != SEED[name] for name in SEED)
    # a reflection request shows, per example, the plan call and the solve call
    traced = [r for r in provider.reflections if "[plan]" in r and "[solve]" in r]
    assert traced
    request = traced[0]
    assert f"User: {PLAN_REQUEST}" in request and "System: " in request and "[output]" in request
    # and is about the component being mutated: the planner's text or the solver's
    assert any(SEED["planner"] in r.split("```")[1] for r in provider.reflections)
    assert any(SEED["solver"] in r.split("```")[1] for r in provider.reflections)


def test_the_target_is_reached_on_several_seeds():
    assert [run(seed).stop_reason for seed in range(1, 5)] == ["target"] * 4


def test_the_program_over_the_simulated_http_server():
    async def main(url):
        provider = gl.OpenAIProvider(url)
        try:
            return await gl.optimize(
                SEED,
                TRAIN,
                gl.Config(max_metric_calls=3000, target_quality=0.5),
                provider=provider,
                task_model=TASK_MODEL,
                reflection_model=REFLECTION_MODEL,
                task=TASK,
            )
        finally:
            await provider.aclose()

    with SimServerProcess(time_scale=0.005) as url:
        res = asyncio.run(main(url))
    assert res.simulated and res.stop_reason == "target"


def test_a_failing_program_stops_the_run_and_a_failed_call_fails_one_evaluation():
    async def broken(candidate, example, lm):
        await lm("hello", system=candidate["solver"])
        return candidate["missing"]

    with pytest.raises(gl.UserCodeError, match=r"the program failed on example .*KeyError"):
        gl.optimize_sync(
            SEED,
            TRAIN,
            gl.Config(max_metric_calls=100),
            time_mode="virtual",
            task=gl.ProgramTask(broken, gl.metrics.ExactInt()),
        )

    class Flaky(SimProvider):
        calls = 0

        async def complete(self, request):
            Flaky.calls += 1
            if request.purpose == "task" and Flaky.calls % 7 == 0:
                raise gl.llm.provider.RequestRejected("simulated 400")
            return await super().complete(request)

    res = gl.optimize_sync(
        SEED,
        TRAIN,
        gl.Config(max_metric_calls=300),
        provider=Flaky(),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        task=TASK,
    )
    assert res.failed_calls > 0 and res.stop_reason == "budget"


def test_the_readme_program_example_runs_as_written(monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Your own task")[1].split("## The simulated world")[0]
    code = section.split("```python\n")[3].split("```")[0]
    assert len(code.strip().splitlines()) <= 15
    # as written, on the simulated world's virtual clock (the README's runs in real time)
    real = gl.optimize_sync
    monkeypatch.setattr(gl, "optimize_sync", lambda *a, **kw: real(*a, time_mode="virtual", **kw))
    scope = {"gl": gl}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].stop_reason == "target"
    assert all(scope["result"].best_candidate[k] != scope["seed"][k] for k in scope["seed"])

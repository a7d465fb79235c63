"""The streaming pipeline on the simulated world: nested shards, stops, counters, failures."""

import asyncio
import re
import warnings
from collections import Counter

import pytest

import gepa_lab as gl
from gepa_lab.adapter import LLMAdapter
from gepa_lab.engine.pipeline import Pipeline
from gepa_lab.llm.provider import ChatResponse
from gepa_lab.protocols import RunAborted
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(40, seed=3)


class CountingAdapter(LLMAdapter):
    """Records every (candidate, example) evaluated; optionally fails some calls."""

    def __init__(self, provider, fail_every: int = 0):
        super().__init__(provider, TASK_MODEL, REFLECTION_MODEL)
        self.pairs: Counter = Counter()
        self.fail_every = fail_every

    async def evaluate(self, candidate, example):
        self.pairs[(candidate.id, example.id)] += 1
        if self.fail_every and sum(self.pairs.values()) % self.fail_every == 0:
            raise ConnectionError("simulated outage")
        return await super().evaluate(candidate, example)


def turbo(**kw):
    """Throughput settings on a three-rung ladder (8, 16 and 40 examples), so the tests see
    probes, a middle rung and the full set."""
    base = gl.benchmark_overrides(gl.adaptive_config(40, "aggressive", 64), 64)
    return base.replace(**{"max_metric_calls": 20000, "shards": (0.2, 0.4, 1.0), **kw})


def run_with(provider, cfg, **kw):
    """A run on an explicit simulated provider (so tests can read its stats)."""
    return gl.optimize_sync(
        SEED,
        TRAIN,
        cfg,
        provider=provider,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        **kw,
    )


def test_nested_shards_evaluate_each_example_once():
    adapter = CountingAdapter(SimProvider())
    cfg = turbo(cohort_quantile=0.0, target_quality=None, max_metric_calls=3000)
    res = gl.optimize_sync(SEED, TRAIN, cfg, adapter=adapter, time_mode="virtual")
    assert max(adapter.pairs.values()) == 1  # a promotion never re-evaluates an example
    completed = res.events.loc[res.events.event == "eval_end"]
    full = completed.loc[completed.rung == len(res.rung_sizes) - 1, "candidate"]
    assert len(full) > 0
    for cid in full:
        seen = [ex for (c, ex) in adapter.pairs if c == cid]
        assert len(seen) == len(TRAIN)
    # rung 0 is the same prefix for every candidate
    first = [{ex for (c, ex) in adapter.pairs if c == cid} for cid in full[:5]]
    order = {ex for ex in set.intersection(*first)}
    assert len(order) == len(TRAIN)
    assert res.rung_sizes == (8, 16, 40)


def test_auto_stop_on_target_only_on_full_rung():
    provider = SimProvider()
    res = run_with(provider, turbo(target_quality=0.5), time_mode="virtual")
    assert res.stop_reason == "target"
    hit = res.events.loc[res.events.event == "target"].iloc[0]
    assert hit.rung == len(res.rung_sizes) - 1 and hit.score >= 0.5
    assert res.time_to_target == pytest.approx(hit.time)
    assert res.best_quality >= 0.5 and res.wall_time == pytest.approx(res.time_to_target)
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)
    assert provider.stats.in_flight == 0


def test_without_auto_stop_the_budget_ends_the_run():
    res = gl.optimize_sync(
        SEED,
        TRAIN,
        turbo(target_quality=0.4, auto_stop=False, max_metric_calls=4000),
        time_mode="virtual",
    )
    assert res.stop_reason == "budget"
    assert res.time_to_target is not None and res.time_to_target < res.wall_time
    assert res.metric_calls <= 4000
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)


def test_wall_time_stop_in_real_time_returns_counters_to_zero():
    provider = SimProvider(time_scale=0.01)
    res = run_with(provider, turbo(max_wall_time=0.3))
    assert res.stop_reason == "wall_time"
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)
    assert provider.stats.in_flight == 0
    assert (res.events.event == "mutation").any()


def test_a_failed_evaluation_is_tried_again_and_never_scored(monkeypatch):
    # Every 7th call fails. A failure is missing, not wrong: the example is evaluated again,
    # and every score any candidate holds is the one the same text gets on that example when
    # nothing fails (the simulated task model answers a request the same way every time).
    import gepa_lab.api as api

    pipelines = []

    class Kept(Pipeline):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pipelines.append(self)

    monkeypatch.setattr(api, "Pipeline", Kept)

    def scores(adapter):
        res = gl.optimize_sync(
            SEED, TRAIN, turbo(max_metric_calls=1500), adapter=adapter, time_mode="virtual"
        )
        archive = pipelines[-1].archive
        held = {
            (tuple(sorted(c.components.items())), p): t
            for c in archive.candidates.values()
            for p, t in enumerate(c.traces)
            if t is not None
        }
        return res, held

    failing = CountingAdapter(SimProvider(), fail_every=7)
    res, held = scores(failing)
    assert res.failed_calls > 0
    assert res.metric_calls + res.failed_calls == sum(failing.pairs.values())
    assert max(failing.pairs.values()) >= 2  # failed pairs were evaluated again
    assert not any(t.failed_call for t in held.values())
    _, clean = scores(CountingAdapter(SimProvider()))
    shared = held.keys() & clean.keys()
    assert len(shared) > 100
    assert all(held[k].score == clean[k].score for k in shared)
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)
    assert any("were tried again" in w for w in res.warnings)  # 1 in 7 is far above 1%


def test_an_example_that_fails_every_time_stops_the_run_naming_it():
    class Refuses(CountingAdapter):
        """Refuses example 5, or every example with ``everything``."""

        everything = False

        async def evaluate(self, candidate, example):
            if self.everything or example.id == TRAIN[5].id:
                raise ConnectionError("the request is too long")
            return await super().evaluate(candidate, example)

    some, every = Refuses(SimProvider()), Refuses(SimProvider())
    every.everything = True
    for adapter, expected in (
        (some, f"{TRAIN[5].id!r} failed on each"),
        (every, r"no evaluation has succeeded .* every request"),
    ):
        with pytest.raises(RunAborted, match=expected):
            gl.optimize_sync(
                SEED, TRAIN, turbo(max_metric_calls=1500), adapter=adapter, time_mode="virtual"
            )


def test_virtual_runs_repeat_exactly():
    a = gl.optimize_sync(SEED, TRAIN, turbo(target_quality=0.5), time_mode="virtual")
    b = gl.optimize_sync(SEED, TRAIN, turbo(target_quality=0.5), time_mode="virtual")
    assert a.events.equals(b.events) and a.best_candidate == b.best_candidate


def test_turbo_reaches_target_sooner_than_classic():
    turbo_res = gl.optimize_sync(SEED, TRAIN, turbo(target_quality=0.55), time_mode="virtual")
    classic = gl.optimize_sync(
        SEED,
        TRAIN,
        gl.classic_config(target_quality=0.55, max_metric_calls=6000),
        time_mode="virtual",
    )
    assert turbo_res.time_to_target is not None and classic.time_to_target is not None
    assert turbo_res.time_to_target < classic.time_to_target
    # classic: one candidate at a time, whole set, no pruning
    assert classic.rung_sizes == (40,) and classic.rung_counts["pruned"].sum() == 0
    starts = classic.events.loc[classic.events.event == "eval_start", "time"].to_numpy()
    ends = classic.events.loc[classic.events.event == "eval_end", "time"].to_numpy()
    assert all(s >= e for s, e in zip(starts[1:], ends[:-1], strict=False))


def test_result_summary_and_events_frame():
    res = gl.optimize_sync(SEED, TRAIN, turbo(target_quality=0.5), time_mode="virtual")
    s = res.summary()
    assert s["simulated"] is True and s["time_mode"] == "virtual"
    assert 0 < s["utilization"] <= 1 and 0 <= s["pruned_first_rung"] <= 1
    assert set(res.events.columns) == {"time", "event", "candidate", "parent", "rung", "score"}
    assert res.events.time.is_monotonic_increasing
    assert res.lineage[-1] == res.best_id and res.lineage[0] == 0
    curve = res.curve()
    assert curve.quality.is_monotonic_increasing and curve.quality.iloc[-1] == res.best_quality
    assert res.to_json()["best_candidate"] == res.best_candidate


def test_api_validation():
    with pytest.raises(ValueError, match="never stop"):
        gl.optimize_sync(SEED, TRAIN, gl.Config())
    with pytest.raises(ValueError, match="time_mode"):
        gl.optimize_sync(SEED, TRAIN, turbo(), time_mode="fast")
    with pytest.raises(ValueError, match=r"trainset\[1\]\.answer"):
        gl.optimize_sync(
            SEED, [{"problem": "p", "answer": 1}, {"problem": "q", "answer": 1000}], turbo()
        )
    with pytest.raises(ValueError, match="seed"):
        gl.optimize_sync("", TRAIN, turbo())

    class Remote:
        async def complete(self, request):
            raise AssertionError("never called")

    with pytest.raises(ValueError, match="virtual"):
        gl.optimize_sync(
            SEED,
            TRAIN,
            turbo(),
            provider=Remote(),
            task_model="m",
            reflection_model="r",
            time_mode="virtual",
        )


def test_sync_wrapper_refuses_running_loop_and_async_api_works():
    async def main():
        with pytest.raises(RuntimeError, match=r"await gepa_lab\.optimize"):
            gl.optimize_sync(SEED, TRAIN, turbo())
        return await gl.optimize(SEED, TRAIN, turbo(target_quality=0.5), time_mode="virtual")

    res = asyncio.run(main())
    assert res.stop_reason == "target"


def test_progress_printer_reports_throttled_lines():
    import io

    stream = io.StringIO()
    printer = gl.ProgressPrinter(every=0.01, stream=stream, target=0.5, max_time=600)
    provider = SimProvider(time_scale=0.005)
    res = run_with(provider, turbo(target_quality=0.5), on_progress=printer)
    lines = stream.getvalue().splitlines()
    assert res.stop_reason == "target" and lines
    assert all(line.startswith("[turbo] t=") and "in flight=" in line for line in lines)
    assert all("s of at most 600s best=" in line and "(target 0.5)" in line for line in lines)
    with pytest.raises(ValueError, match="every"):
        gl.ProgressPrinter(every=0)


def test_progress_printer_keeps_a_slow_run_from_looking_frozen():
    import io

    async def main():
        stream = io.StringIO()
        printer = gl.ProgressPrinter(every=0.05, stream=stream)
        alive = asyncio.ensure_future(printer.keep_alive())
        report = {"label": "gepa", "time": 3.0, "metric_calls": 45, "in_flight": 0}
        printer(
            {
                **report,
                "mutating": 0,
                "queued": 0,
                "candidates": 1,
                "pruned": 0,
                "best_quality": 0.1,
            }
        )
        await asyncio.sleep(0.3)  # no report meanwhile, as during one long GEPA step
        alive.cancel()
        return stream.getvalue().splitlines()

    lines = asyncio.run(main())
    assert len(lines) >= 3 and all("calls=45" in line for line in lines)
    assert all("still running" in line for line in lines)


def test_llm_call_budget_counts_task_and_reflection_calls():
    adapter = CountingAdapter(SimProvider())
    cfg = turbo(target_quality=None, max_metric_calls=None, max_llm_calls=700)
    res = gl.optimize_sync(SEED, TRAIN, cfg, adapter=adapter, time_mode="virtual")
    assert res.stop_reason == "budget"
    assert adapter.task_calls + adapter.reflection_calls <= 700
    assert adapter.task_calls + adapter.reflection_calls >= 700 - cfg.max_mutations_per_round
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)


class Hopeless:
    """Every answer is wrong; every reflection a new text (so children keep coming, and none
    can beat its parent)."""

    async def complete(self, request):
        if request.purpose == "reflection":
            return ChatResponse(f"```\nTry harder ({request.seed}).\n```", 10, 5)
        return ChatResponse("### 1", 10, 5)


def test_a_ladder_that_prunes_everything_warns_with_what_to_change():
    # No child can pass and there is no escape hatch: every candidate is pruned.
    strict = turbo(
        target_quality=None,
        max_metric_calls=3000,
        cohort_quantile=0.95,
        enable_rung_convergence=False,
        lineage_patience=0,
    )
    data = [{"id": f"p{i}", "problem": f"Problem {i}", "answer": 2} for i in range(40)]
    with pytest.warns(RuntimeWarning, match="was pruned") as caught:
        res = gl.optimize_sync(
            SEED, data, strict, provider=Hopeless(), task_model="m", reflection_model="r"
        )
    assert len(caught) == 1 and res.warnings == [str(caught[0].message)]
    assert "cohort_quantile (now 0.95)" in res.warnings[0]
    assert "enable_rung_convergence=True" in res.warnings[0]
    assert (res.events.event == "warning").sum() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default ladder does not warn
        gl.optimize_sync(SEED, TRAIN, turbo(max_metric_calls=3000), time_mode="virtual")


class RepeatingAdapter(LLMAdapter):
    """A reflection model with one idea: every proposal is the same text."""

    async def propose(self, candidate, component, examples, seed, **kwargs):
        return "Solve the math problem. End with ### <answer>."


def test_a_reflection_model_that_only_repeats_itself_ends_the_run():
    adapter = RepeatingAdapter(SimProvider(), TASK_MODEL, REFLECTION_MODEL)
    cfg = turbo(target_quality=None, max_metric_calls=20000)
    res = gl.optimize_sync(SEED, TRAIN, cfg, adapter=adapter, time_mode="virtual")
    assert res.stop_reason == "exhausted"
    assert res.candidates == 2  # the seed and the one text the model knows
    # Parents rest after a few duplicates, wake on new evidence (a finished rung, a completion)
    # and once more when nothing else is left, each time with up to a round of reflections in
    # flight: a bounded number, where waking without limit would loop forever.
    assert res.reflection_calls <= 12 * cfg.max_mutations_per_round
    assert res.final_counters == dict.fromkeys(res.final_counters, 0)


def test_a_childs_first_rung_is_a_probe_of_its_parents_failures(tmp_path, monkeypatch):
    import json

    from gepa_lab.engine.mutation import MutationPolicy

    # Each plan, with what the parent knew then: planned on a parent scored on everything and
    # holding every failure's texts (not a contender still on its way through the full set,
    # nor a pruned one promoted after all, which forgot them: Candidate.forget_texts).
    plans = []
    plan = MutationPolicy.plan

    def recorded(self, parent):
        made = plan(self, parent)
        traces = [t for t in parent.traces if t is not None]
        whole = len(traces) == len(parent.traces) and all(t.has_text for t in traces if t.score < 1)
        plans.append((made.probe, whole, {p: t.score for p, t in enumerate(parent.traces) if t}))
        return made

    monkeypatch.setattr(MutationPolicy, "plan", recorded)
    cfg = turbo(target_quality=None, max_metric_calls=3000)
    res = gl.optimize_sync(SEED, TRAIN, cfg, time_mode="virtual", run_dir=tmp_path / "r")
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    cands = {c["id"]: c for c in state["candidates"]}
    sizes, n = res.rung_sizes, len(TRAIN)
    ev = res.events
    forced = set(ev[ev.event == "force"].candidate)
    children = [
        c for c in cands.values() if c["origin"] == "mutation" and c["probe"] and c["rung"] >= 0
    ]
    assert len(children) > 20
    failed = shown = 0
    for c in children:
        parent = cands[c["parent"]]
        probe = c["probe"]
        # at least the first rung's size, or every example the parent had been scored on
        assert len(probe) >= min(sizes[0], len(parent["scores"]))
        # the parent was scored on every probe example, and the child too
        assert all(str(p) in parent["scores"] and str(p) in c["scores"] for p in probe)
        failed += sum(parent["scores"][str(p)] < 1 for p in probe)
        shown += len(probe)
        if c["rung"] >= 1 and c["id"] not in forced:
            # promoted on merit: it beat its parent there (GEPA's acceptance test)
            mine = sum(c["scores"][str(p)] for p in probe)
            assert mine > sum(parent["scores"][str(p)] for p in probe)
    # the probes are mostly the parent's failures
    assert failed > shown * 0.8
    # On a parent known whole, a failure from the shared prefixes is taken only once every
    # failure outside them is in.
    whole = [(probe, scores) for probe, known, scores in plans if known]
    for probe, scores in whole:
        outside = {p for p, v in scores.items() if p >= sizes[-2] and v < 1}
        if any(p < sizes[-2] and scores[p] < 1 for p in probe):
            assert outside <= set(probe), (probe, outside)
    assert len(whole) > 20
    assert n > sizes[-2]


class RecordingSim(SimProvider):
    """The simulated world, keeping every reflection request it is sent."""

    def __init__(self):
        super().__init__()
        self.reflections: list[str] = []

    async def complete(self, request):
        if request.purpose == "reflection":
            self.reflections.append(request.messages[-1][1])
        return await super().complete(request)


def test_a_feedback_function_reaches_the_reflection_model():
    provider = RecordingSim()

    def note(example, response, score):
        return None if score.value else f"Hint for {example.id}: check the last step."

    res = run_with(provider, turbo(target_quality=None, max_metric_calls=400), feedback=note)
    assert res.reflection_calls > 0
    # Every request that shows attempts shows their feedback (specification induction shows
    # problems and answers instead).
    attempts = [r for r in provider.reflections if not r.startswith("Task: write a spec")]
    assert attempts and all("Hint for " in r for r in attempts)


def test_solution_feedback_shows_the_reference_solution_on_wrong_answers():
    from gepa_lab.tasks.aime import score_answer

    ex = gl.Example("e1", "What is 2+3?", 5, solution="Add: 2 + 3 = 5.")
    assert gl.solution_feedback(ex, "### 6", score_answer("### 6", 5)) == (
        "Reference solution: Add: 2 + 3 = 5."
    )
    assert gl.solution_feedback(ex, "### 5", score_answer("### 5", 5)) is None
    no_solution = gl.Example("e2", "What is 2+3?", 5)
    assert gl.solution_feedback(no_solution, "### 6", score_answer("### 6", 5)) is None


def test_a_failing_feedback_function_stops_the_run_with_a_clear_error():
    def broken(example, response, score):
        raise KeyError("no such column")

    with pytest.raises(gl.UserCodeError, match=r"feedback function failed on example .*KeyError"):
        gl.optimize_sync(
            SEED, TRAIN, turbo(max_metric_calls=400), time_mode="virtual", feedback=broken
        )
    with pytest.raises(gl.UserCodeError, match="must return a str or None, got int"):
        gl.optimize_sync(
            SEED, TRAIN, turbo(max_metric_calls=400), time_mode="virtual", feedback=lambda *a: 3
        )
    with pytest.raises(TypeError, match="feedback must be a function"):
        gl.optimize_sync(SEED, TRAIN, turbo(max_metric_calls=400), feedback="solution")


def test_a_confidence_bound_on_the_target_asks_for_more_than_the_bare_score():
    from gepa_lab.engine.budget import wilson_lower_bound

    assert wilson_lower_bound(0.8, 45, 0.95) < 0.8 < wilson_lower_bound(0.8, 10_000, 0.95) + 0.01
    assert wilson_lower_bound(0.0, 10, 0.95) + 1e-12 >= 0.0
    # Small reflection minibatches: quality climbs in steps small enough to tell them apart,
    # on most seeds: the first seed whose bare run stops at a score the bound does not allow.
    small = {"target_quality": 0.5, "reflection_minibatch_size": 3}
    for seed in range(4):
        bare = gl.optimize_sync(SEED, TRAIN, turbo(**small, seed=seed), time_mode="virtual")
        assert bare.stop_reason == "target"
        if wilson_lower_bound(bare.best_quality, 40, 0.95) < 0.5:
            break
    else:
        raise AssertionError("every run jumped past the bound at once: nothing to compare")
    bound = gl.optimize_sync(
        SEED, TRAIN, turbo(**small, target_confidence=0.95, seed=seed), time_mode="virtual"
    )
    assert bound.stop_reason == "target"
    assert bound.time_to_target > bare.time_to_target
    assert bound.best_quality >= 0.5 and wilson_lower_bound(bound.best_quality, 40, 0.95) >= 0.5
    assert "lower 95% confidence bound" in gl.performance_report(bound.config)


def below_incumbent_promotions(tmp_path, gate: bool) -> tuple[int, int, int]:
    """Promotions to the full set on merit: (all, those below the incumbent on the shared
    prefix, those not above the incumbent on everything they were tested on, probe included)."""
    import json

    cfg = turbo(target_quality=None, max_metric_calls=4000, incumbent_gate=gate)
    res = gl.optimize_sync(SEED, TRAIN, cfg, time_mode="virtual", run_dir=tmp_path / str(gate))
    state = json.loads((tmp_path / str(gate) / "state.json").read_text())
    scores = {c["id"]: c["scores"] for c in state["candidates"]}
    probes = {c["id"]: c["probe"] for c in state["candidates"]}
    prefix = res.rung_sizes[-2]

    def on_prefix(cand_id: int) -> float:
        return sum(scores[cand_id][str(p)] for p in range(prefix))

    def on_tested(cand_id: int, by: int) -> float:
        tested = {*probes[cand_id], *range(prefix)}
        return sum(scores[by][str(p)] for p in tested)

    best, promoted, below, tied = None, 0, 0, 0
    for ev in res.events.itertuples():
        if ev.event == "new_best":
            best = int(ev.candidate)
        elif ev.event == "promote" and ev.rung == len(res.rung_sizes) - 2 and best is not None:
            promoted += 1
            child = int(ev.candidate)
            below += on_prefix(child) < on_prefix(best)
            tied += on_tested(child, child) <= on_tested(child, best)
    return promoted, below, tied


def test_the_incumbent_gate_keeps_the_full_set_for_candidates_that_could_be_the_best(tmp_path):
    promoted, below, tied = below_incumbent_promotions(tmp_path, gate=True)
    assert promoted > 5 and below == 0 and tied == 0
    promoted, below, tied = below_incumbent_promotions(tmp_path, gate=False)
    assert below > 0  # without the gate, children of outgrown parents take the full set


def test_a_run_keeps_texts_only_where_a_reflection_may_read_them():
    # Memory per candidate must not grow with the run: a pruned candidate keeps the texts of
    # PRUNED_TEXTS evaluations, a completed one of TEXTS_KEPT, failures first (the scores of
    # all), and no reflection is ever shown an example whose texts were dropped.
    from gepa_lab.engine.candidate import Status
    from gepa_lab.engine.mutation import PRUNED_TEXTS, TEXTS_KEPT
    from gepa_lab.runs.virtual_time import run_virtual

    provider = RecordingSim()
    examples = synthetic_aime(150, seed=5)
    cfg = gl.benchmark_overrides(gl.adaptive_config(150, "aggressive", 64), 64)
    cfg = cfg.replace(target_quality=None, max_metric_calls=8000)
    pipe = Pipeline(LLMAdapter(provider, TASK_MODEL, REFLECTION_MODEL), examples, cfg)
    run_virtual(lambda: pipe.run([{"instruction": SEED}]))
    cands = list(pipe.archive.candidates.values())
    pruned = [c for c in cands if c.status is Status.PRUNED]
    assert len(pruned) > 50
    for c in pruned:
        kept = [t for t in c.traces if t is not None and t.has_text]
        failures = sum(t.score < 1 for t in c.traces if t is not None)
        assert len(kept) <= PRUNED_TEXTS
        assert sum(t.score < 1 for t in kept) == min(failures, PRUNED_TEXTS)
    events = pipe.log.frame()
    forced = set(events[events.event == "force"].candidate)  # pruned first: forgot some
    capped = 0
    for c in (c for c in cands if c.status is Status.COMPLETED and c.id not in forced):
        failures = sum(t.score < 1 for t in c.traces)  # type: ignore[union-attr]
        kept = [t for t in c.traces if t.has_text]  # type: ignore[union-attr]
        kept_failures = sum(t.score < 1 for t in kept)
        assert kept_failures == min(failures, TEXTS_KEPT) and len(kept) == TEXTS_KEPT
        capped += failures > TEXTS_KEPT
    assert capped >= 3  # failures beyond the cap were forgotten
    assert len(provider.reflections) > 100
    shown = [r for r in provider.reflections if "Response: " in r]
    assert shown and not any(re.search(r"Response: \nFeedback: (\n|$)", r) for r in shown)

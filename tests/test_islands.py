"""Islands: populations side by side in one loop, sharing the budget, passing elites in a ring."""

import pytest

import gepa_lab as gl
from gepa_lab.engine.islands import island_config
from gepa_lab.sim import synthetic_aime

SEED = "You are a helpful assistant. Solve the math problem."
TRAIN = synthetic_aime(40, seed=3)


def run(**kw):
    cfg = gl.Config(n_islands=3, migration_every=2, **{"max_metric_calls": 4000, **kw})
    return gl.optimize_sync(SEED, TRAIN, cfg, time_mode="virtual")


def test_islands_share_the_budget_and_pass_their_best_around_the_ring():
    res = run()
    ev = res.events
    assert set(ev.island) == {0, 1, 2}
    assert res.metric_calls <= 4000 and res.final_counters == dict.fromkeys(res.final_counters, 0)
    # candidate ids are unique across islands: each id lives on one island only
    made = ev[ev.event.isin(["mutation", "merge", "migrate"])]
    assert not made.candidate.duplicated().any()
    migrations = ev[ev.event == "migrate"]
    assert len(migrations) >= 3
    completed = ev[(ev.event == "eval_end") & (ev.rung == len(res.rung_sizes) - 1)]
    score_of = dict(zip(completed.candidate, completed.score, strict=True))
    score_of.update(zip(migrations.candidate, migrations.score, strict=True))  # passed on again
    island_of = dict(zip(made.candidate, made.island, strict=True))
    island_of.update(dict(zip(completed.candidate, completed.island, strict=True)))
    for _, m in migrations.iterrows():
        # a migrant arrives with the scores it earned where it was evaluated, on the next island
        source = m.parent
        assert m.score == pytest.approx(score_of[source])
        assert m.island == (island_of[source] + 1) % 3
    # the run's best is the best of every island, and its curve only rises
    bests = ev[ev.event == "new_best"]
    assert res.best_quality == pytest.approx(bests.score.max())
    assert res.curve().quality.is_monotonic_increasing
    again = run()
    assert again.best_candidate == res.best_candidate and again.metric_calls == res.metric_calls


def test_an_island_reaching_the_target_stops_them_all():
    res = run(target_quality=0.55, max_metric_calls=20000)
    assert res.stop_reason == "target" and res.time_to_target is not None
    ev = res.events
    work = ev[ev.event.isin(["eval_end", "mutation", "promote", "prune"])]
    assert (work.time <= res.time_to_target + 1e-9).all()
    assert (ev.event == "stop").sum() == 3


def test_island_configs_split_concurrency_and_budgets():
    cfg = gl.Config(eval_concurrency=64, max_metric_calls=1001, max_llm_calls=10, n_islands=3)
    parts = [island_config(cfg, i, 3) for i in range(3)]
    assert [p.eval_concurrency for p in parts] == [22, 22, 22]
    assert sum(p.max_metric_calls for p in parts) == 1001
    assert sum(p.max_llm_calls for p in parts) == 10
    assert all(p.queue_limit >= p.mutation_buffer_min for p in parts)
    with pytest.raises(ValueError, match="n_islands=1"):
        gl.optimize_sync(SEED, TRAIN, cfg, time_mode="virtual", run_dir="/tmp/never-created")

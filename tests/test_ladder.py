"""ASHA decisions on hand-made cohorts."""

import random

import pytest

from gepa_lab.engine.ladder import Ladder


def ladder(q=0.5, eps=0.0, conv=None, lineage=0, rungs=3):
    return Ladder(rungs, q, eps, conv, lineage)


def test_cohort_quantile_on_arrival():
    lad = ladder(q=0.5)
    got = [lad.decide(i, 0, s).promote for i, s in enumerate([0.5, 0.2, 0.8, 0.1, 0.6])]
    # 0.5 first: passes; 0.2 below half of {0.2,0.5}; 0.8 best; 0.1 worst; 0.6 second of five
    assert got == [True, False, True, False, True]
    assert lad.cohort_size(0) == 5


def test_ties_at_the_cut_are_broken_at_random_to_the_quantile():
    # Every score the same (two-example rungs make this common): a deterministic rule would
    # pass or prune the whole tie; random tie-breaking passes 1 - quantile of it.
    for q in (0.5, 0.6, 0.8):
        lad = ladder(q=q)
        passed = sum(lad.decide(i, 0, 0.5).promote for i in range(2000))
        assert abs(passed / 2000 - (1 - q)) < 0.03
    # Coarse scores: the pass fraction is still the quantile's.
    lad = ladder(q=0.6)
    scores = [(i * 7919) % 3 / 2 for i in range(3000)]  # 0, 0.5, 1 in a fixed mix
    assert abs(sum(lad.decide(i, 0, s).promote for i, s in enumerate(scores)) / 3000 - 0.4) < 0.03


def test_ties_clear_of_the_cut_are_decided_without_chance():
    lad = ladder(q=0.5)
    assert lad.decide(0, 0, 1.0).promote  # the first arrival always passes
    assert lad.decide(1, 0, 0.0).promote is False  # 1 better of 2, one place
    assert lad.decide(2, 0, 1.0).promote  # places: 2 of 3; better 0, tied 1: both fit
    assert not lad.decide(3, 0, 0.0).promote  # two strictly better take both places of 4
    # the same decisions whatever the ladder's random state
    for seed in range(20):
        other = Ladder(3, 0.5, 0.0, None, 0, random.Random(seed))
        got = [other.decide(i, 0, s).promote for i, s in enumerate([1.0, 0.0, 1.0, 0.0])]
        assert got == [True, False, True, False]


def test_quantile_zero_promotes_everyone_and_last_rung_completes():
    lad = ladder(q=0.0)
    assert all(lad.decide(i, 1, s).promote for i, s in enumerate([0.9, 0.1, 0.0, 0.3]))
    final = lad.decide(99, 2, 0.0)
    assert not final.promote and final.reason == "completed"


def test_parent_gate_with_eps():
    lad = ladder(q=0.0, eps=0.0)
    d = lad.decide(1, 0, 0.4, parent_id=0, parent_score=0.5)
    assert (d.promote, d.reason) == (False, "parent")
    assert lad.decide(2, 0, 0.5, parent_id=0, parent_score=0.5).promote  # ties pass
    lenient = ladder(q=0.0, eps=0.1)
    assert lenient.decide(1, 0, 0.4, parent_id=0, parent_score=0.5).promote
    # the comparison uses the shared examples when given
    d = lad.decide(3, 1, 0.9, parent_id=0, parent_score=0.5, child_score_same=0.3)
    assert not d.promote and d.reason == "parent"


def test_rung_convergence_promotes_best_waiting():
    lad = ladder(q=0.75, conv=3)
    assert lad.decide(0, 0, 0.9).promote
    decisions = [lad.decide(i, 0, s) for i, s in [(1, 0.1), (2, 0.3), (3, 0.2), (4, 0.15)]]
    assert [d.promote for d in decisions] == [False, False, False, False]
    # Three in a row were pruned after the third, but a quarter of four arrivals is the one
    # already promoted: the rung has no credit until the fifth arrival.
    assert [d.forced for d in decisions] == [(), (), (), ((2, 0),)]  # the best pruned one


def test_lineage_patience_forces_once_until_rearmed():
    lad = ladder(q=0.0, lineage=2)
    parent = 0
    d1 = lad.decide(1, 0, 0.1, parent_id=parent, parent_score=0.5)
    d2 = lad.decide(2, 0, 0.3, parent_id=parent, parent_score=0.5)
    assert d1.forced == () and d2.forced == ((2, 0),)
    d3 = lad.decide(3, 0, 0.2, parent_id=parent, parent_score=0.5)
    d4 = lad.decide(4, 0, 0.2, parent_id=parent, parent_score=0.5)
    assert d3.forced == () and d4.forced == ()  # disarmed
    assert lad.decide(5, 0, 0.6, parent_id=parent, parent_score=0.5).promote  # re-arms
    lad.decide(6, 0, 0.1, parent_id=parent, parent_score=0.5)
    assert lad.decide(7, 0, 0.2, parent_id=parent, parent_score=0.5).forced == ((7, 0),)


def test_promotions_never_exceed_the_quantile_share_even_when_scores_keep_rising():
    # An improving population: every result is the best so far, so ranking alone would promote
    # them all. ASHA's credit keeps promotions (forced ones included) to 1 - quantile.
    lad = ladder(q=0.6, conv=3, lineage=2)
    promoted = 0
    for i in range(1000):
        d = lad.decide(i, 0, i / 1000, parent_id=i % 7, parent_score=0.0)
        promoted += d.promote + len(d.forced)
        assert promoted <= -(-(i + 1) * 4 // 10)  # ceil(0.4 * arrivals)
    assert promoted == 400


def test_a_probe_needs_a_gain_over_the_parent_whatever_eps_allows():
    lad = ladder(q=0.0, eps=0.5)
    tie = lad.decide(1, 0, 0.0, parent_id=0, parent_score=0.0, need_gain=True)
    assert (tie.promote, tie.reason) == (False, "parent")
    assert lad.decide(2, 0, 0.5, parent_id=0, parent_score=0.0, need_gain=True).promote
    # without need_gain the same tie passes, and eps lets a small loss through
    assert lad.decide(3, 0, 0.0, parent_id=0, parent_score=0.0).promote
    assert lad.decide(4, 0, 0.2, parent_id=0, parent_score=0.5).promote


def test_a_small_early_cohort_does_not_decide_and_spends_no_credit():
    lad = Ladder(3, 0.6, 0.0, None, 0, min_cohort=4)
    # The first four are judged against their parents only: lower scores with no parent bar
    # pass, one behind its parent does not.
    assert [lad.decide(i, 0, s).promote for i, s in enumerate([1.0, 0.9, 0.8])] == [True] * 3
    assert lad.decide(3, 0, 0.0, parent_id=0, parent_score=0.5).reason == "parent"
    # Their promotions spent no credit: the fifth result (the first ranked) has its place.
    assert lad.decide(4, 0, 1.0, parent_id=0, parent_score=0.5).promote
    # Without the warm-up a cohort of two decides: the second is pruned at once.
    strict = Ladder(3, 0.6, 0.0, None, 0)
    assert [strict.decide(i, 0, s).promote for i, s in enumerate([1.0, 0.9])] == [True, False]


def test_a_dominant_result_is_promoted_whatever_its_rank_or_the_credit():
    lad = Ladder(3, 0.6, 0.0, None, 0)
    for i in range(10):
        lad.decide(i, 0, 1.0)  # a cohort of perfect scores: the credit is spent
    assert not lad.decide(10, 0, 0.5, parent_id=0, parent_score=0.0).promote
    got = lad.decide(11, 0, 0.5, parent_id=0, parent_score=0.0, dominant=True)
    assert got.promote and got.reason == "dominant"
    with pytest.raises(ValueError, match="min_cohort=-1"):
        Ladder(3, 0.6, 0.0, None, 0, min_cohort=-1)

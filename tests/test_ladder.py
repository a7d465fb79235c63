"""ASHA decisions on hand-made cohorts."""

from gepa_lab.engine.ladder import Ladder


def ladder(q=0.5, eps=0.0, conv=None, lineage=0, rungs=3):
    return Ladder(rungs, q, eps, conv, lineage)


def test_cohort_quantile_on_arrival():
    lad = ladder(q=0.5)
    got = [lad.decide(i, 0, s).promote for i, s in enumerate([0.5, 0.2, 0.8, 0.1, 0.6])]
    # 0.5 first: passes; 0.2 below half of {0.2,0.5}; 0.8 best; 0.1 worst; 0.6 second of five
    assert got == [True, False, True, False, True]
    assert lad.cohort_size(0) == 5


def test_ties_use_mid_rank():
    lad = ladder(q=0.5)
    for i in range(3):
        assert lad.decide(i, 0, 1.0).promote
    assert not lad.decide(10, 0, 0.5).promote  # three strictly better out of four
    lad2 = ladder(q=0.75)  # top quarter only
    assert lad2.decide(0, 0, 1.0).promote
    assert not lad2.decide(1, 0, 1.0).promote  # mid-rank 0.5 of 2 is not in the top quarter


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
    decisions = [lad.decide(i, 0, s) for i, s in [(1, 0.1), (2, 0.3), (3, 0.2)]]
    assert [d.promote for d in decisions] == [False, False, False]
    assert decisions[-1].forced == ((2, 0),)  # best of the pruned, after three in a row
    assert decisions[0].forced == () and decisions[1].forced == ()


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

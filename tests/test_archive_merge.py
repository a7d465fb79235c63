"""GEPA's per-instance Pareto parent selection and the merge of two front members."""

import random
from collections import Counter

import gepa_lab as gl
from gepa_lab.engine.archive import Archive
from gepa_lab.engine.candidate import Candidate, Status, Trace
from gepa_lab.engine.merge import common_ancestor, merge_components, merge_text
from gepa_lab.sim import synthetic_aime


def cand(cid, scores, parent=None, text=None, rung=0, status=Status.COMPLETED):
    c = Candidate(cid, {"system": text or f"prompt {cid}"}, parent)
    c.traces = [Trace(float(s), "", "") for s in scores]
    c.rung, c.status = rung, status
    return c


def archive_of(*cands, n=4):
    arc = Archive(n)
    for c in cands:
        arc.add(c)
        if c.status is Status.COMPLETED:
            arc.rung_finished(c, full=True)
    return arc


def test_front_counts_wins_and_drops_dominated_candidates():
    a = cand(0, [1, 1, 0, 0])
    b = cand(1, [0, 0, 1, 0])
    c = cand(2, [1, 0, 0, 0])  # its one win is also a's: dominated
    arc = archive_of(a, b, c)
    assert arc.pareto_front() == {0: 2, 1: 1}
    assert arc.best is a and arc.best_quality == 0.5


def test_parents_are_drawn_in_proportion_to_their_wins():
    arc = archive_of(cand(0, [1, 1, 0, 0]), cand(1, [0, 0, 1, 0]))
    rng = random.Random(0)
    drawn = Counter(arc.select_parent(rng).id for _ in range(3000))
    assert abs(drawn[0] / 3000 - 2 / 3) < 0.03


def test_nobody_solving_anything_puts_every_completed_candidate_on_the_front():
    arc = archive_of(cand(0, [0, 0, 0, 0]), cand(1, [0, 0, 0, 0]))
    assert arc.pareto_front() == {0: 1, 1: 1}


def test_resting_and_perfect_candidates_are_not_parents():
    a, b = cand(0, [1, 1, 1, 1]), cand(1, [0, 0, 0, 1])
    arc = archive_of(a, b)
    assert arc.pareto_front() == {0: 4}  # b's only win is a's too
    assert arc.select_parent(random.Random(0)) is None  # a has nothing left to fix
    c = cand(2, [0, 1, 0, 1], parent=1)
    d = cand(3, [1, 0, 0, 0], parent=1)
    arc = archive_of(c, d)
    assert arc.rest(c) and not arc.rest(c)
    assert {arc.select_parent(random.Random(i)).id for i in range(20)} == {3}
    arc.wake()
    assert {arc.select_parent(random.Random(i)).id for i in range(40)} == {2, 3}


def test_before_any_completion_parents_come_from_the_highest_live_rung():
    seed = cand(0, [1, 0], rung=0, status=Status.PROMOTED)
    up = cand(1, [1, 0, 0], parent=0, rung=1, status=Status.PROMOTED)
    gone = cand(2, [0, 1, 0], parent=0, rung=1, status=Status.PRUNED)
    arc = archive_of(seed, up, gone)
    assert {arc.select_parent(random.Random(i)).id for i in range(20)} == {1}


def test_a_new_completion_wakes_resting_parents():
    a = cand(0, [1, 0, 0, 0])
    arc = archive_of(a)
    arc.rest(a)
    assert arc.select_parent(random.Random(0)) is None
    b = cand(1, [0, 1, 0, 0], parent=0)
    arc.add(b)
    arc.rung_finished(b, full=True)
    assert not arc.resting


def test_merge_partner_needs_a_common_ancestor_and_each_pair_merges_once():
    root = cand(0, [1, 0, 0, 0])
    left = cand(1, [1, 1, 0, 0], parent=0)
    right = cand(2, [1, 0, 1, 0], parent=0)
    stranger = cand(3, [0, 0, 0, 1])  # another seed: nothing in common
    arc = archive_of(root, left, right, stranger)
    assert set(arc.pareto_front()) == {1, 2, 3}
    other, ancestor = arc.merge_partner(left, random.Random(0))
    assert (other.id, ancestor.id) == (2, 0)
    assert arc.merge_partner(left, random.Random(0)) is None  # already merged
    assert arc.merge_partner(stranger, random.Random(0)) is None
    assert common_ancestor(arc.candidates, root, left) is None  # a line, not two branches


def test_line_merge_keeps_both_sides_insertions_and_deletions():
    base = "Solve the problem.\nShow your work.\nEnd with ### <answer>."
    left = "Solve the problem.\nCheck modular arithmetic twice.\nEnd with ### <answer>."
    right = "Solve the problem.\nShow your work.\nEnd with ### <answer>.\nCount cases carefully."
    assert merge_text(base, left, right).splitlines() == [
        "Solve the problem.",
        "Check modular arithmetic twice.",
        "End with ### <answer>.",
        "Count cases carefully.",
    ]
    # a line both sides added appears once
    both = merge_text("a", "a\nx\ny", "a\nx\nz")
    assert both.splitlines() == ["a", "x", "y", "z"]


def test_components_come_from_the_side_that_changed_them():
    base = {"system": "s", "format": "f"}
    left = {"system": "s2", "format": "f"}
    right = {"system": "s", "format": "f2"}
    assert merge_components(base, left, right) == {"system": "s2", "format": "f2"}
    assert merge_components(base, left, base) is None  # nothing to gain over left
    assert merge_components(base, left, left) is None


def test_runs_merge_front_members_and_merges_climb_the_ladder():
    train = synthetic_aime(40, seed=3)
    cfg = gl.benchmark_overrides(gl.adaptive_config(40, "aggressive", 64), 64).replace(
        max_metric_calls=6000, target_quality=None
    )
    res = gl.optimize_sync("Solve the math problem.", train, cfg, time_mode="virtual")
    merges = res.events[res.events.event == "merge"]
    assert len(merges) > 0
    merged_ids = set(merges.candidate)
    assert merged_ids & set(res.events[res.events.event == "eval_end"].candidate)
    off = gl.optimize_sync(
        "Solve the math problem.", train, cfg.replace(use_merge=False), time_mode="virtual"
    )
    assert (off.events.event == "merge").sum() == 0


def rescanned_front(completed, n):
    """The front by its definition, from scratch: per example the best score (above 0) and
    who holds it; a candidate drops out when another holds a superset of its examples
    (ties: the earlier candidate stays); most examples first, then the earlier."""
    top = [max(c.traces[p].score for c in completed) for p in range(n)]
    wins = {
        c.id: frozenset(p for p in range(n) if top[p] > 0 and c.traces[p].score == top[p])
        for c in completed
    }
    wins = {i: w for i, w in wins.items() if w}

    def covered(i):
        return any(j != i and wins[i] <= w and (w != wins[i] or j < i) for j, w in wins.items())

    kept = [i for i in wins if not covered(i)]
    return {i: len(wins[i]) for i in sorted(kept, key=lambda i: (-len(wins[i]), i))}


def test_the_front_kept_up_to_date_equals_a_rescan_after_every_completion():
    # Scores from a few levels, so examples are taken over (holders lose them), tied and
    # shared; candidates complete in an order other than their ids, as contenders do.
    for seed in range(30):
        rng = random.Random(seed)
        n = rng.choice([3, 6, 12])
        levels = rng.choice([[0, 1], [0, 0.5, 1], [0, 0.25, 0.5, 0.75, 1]])
        arc, done = Archive(n), []
        ids = list(range(40))
        rng.shuffle(ids)
        for cid in ids:
            c = cand(cid, [rng.choice(levels) for _ in range(n)])
            arc.add(c)
            arc.rung_finished(c, full=True)
            done.append(c)
            expected = rescanned_front(done, n) or {c.id: 1 for c in done}
            assert arc.pareto_front() == expected, (seed, cid)
            assert list(arc.pareto_front()) == list(expected)  # the same order


def test_a_resting_front_member_is_never_drawn_and_the_others_keep_their_odds():
    # Eight front members each best on their own examples (weights 1 to 8); six rest.
    n = 36
    members, start = [], 0
    for k in range(1, 9):
        members.append(cand(k, [1 if start <= p < start + k else 0 for p in range(n)]))
        start += k
    arc = archive_of(*members, n=n)
    for c in members[:6]:
        arc.rest(c)
    rng = random.Random(1)
    drawn = Counter(arc.select_parent(rng).id for _ in range(3000))
    assert set(drawn) == {7, 8}
    assert abs(drawn[8] / 3000 - 8 / 15) < 0.03

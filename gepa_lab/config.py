"""Optimizer configuration: every knob in one validated, immutable object.

Validating at construction time means a typo in a notebook cell fails immediately with a message
naming the field, instead of surfacing minutes later as a stalled or silently degraded run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any, Literal

from gepa_lab.llm import limits
from gepa_lab.strategies import STRATEGIES

PROFILES = ("conservative", "balanced", "aggressive")


def _fail(name: str, value: object, allowed: str) -> ValueError:
    return ValueError(f"Config.{name}={value!r} is invalid: {allowed}")


def _check_int(name: str, value: object, minimum: int | None = None) -> None:
    # bool is a subclass of int; True where a count is expected is almost always a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, value, "must be an int")
    if minimum is not None and value < minimum:
        raise _fail(name, value, f"must be >= {minimum}")


def check_count(name: str, value: object) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an int >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is invalid: must be an int >= 1")


def _check_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, value, "must be a number")
    return float(value)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _fail(name, value, "must be a bool (True or False)")


# Fewest examples on a partial rung; a smaller one is dropped, not enlarged. A partial rung costs
# every generation one more round trip (probe, then the rest of the set) to save the calls of the
# children it prunes, and below 8 examples it prunes on too little evidence to be worth that: with
# probes of 3 to 6 examples (8 to 30 in all) the rung made the simulated worlds of
# benchmarks/world_suite.py 10-60% slower to their targets and, at 8 and 12 examples, no cheaper
# in calls; from 9 examples (45 in all) on, it pays for itself.
MIN_RUNG_EXAMPLES = 8


def _distinct_rungs(shards: Sequence[float], n_examples: int) -> list[tuple[float, int]]:
    """(fraction, example count) per rung: partial rungs under MIN_RUNG_EXAMPLES are dropped, and
    so is a rung the same size as the one before.

    Two rungs with the same example count would evaluate the same examples twice and add a
    promotion decision that carries no new information.
    """
    rungs: list[tuple[float, int]] = []
    for fraction in shards:
        count = min(n_examples, round(fraction * n_examples))
        if fraction < 1.0 and count < MIN_RUNG_EXAMPLES:
            continue
        if rungs and count == rungs[-1][1]:
            continue
        rungs.append((fraction, count))
    return rungs


MUTATION_STRATEGIES = ("reflect", "induce", "think")
# A small budget affords few speculative children: "auto" keeps at most one candidate in flight
# per this many full evaluations of the budget. At 150-600 task calls, 2 in flight instead of 4
# turned a held-out deficit against GEPA's defaults at equal calls (down to -0.08 on the
# strong-reflection world) into a gain on every world tried (+0.015 to +0.20); budgets of the
# world suite (2,000-10,000 calls) keep the concurrency rule.
FULL_SETS_PER_CANDIDATE = 8


@dataclass(frozen=True)
class Config:
    """All optimizer knobs, checked once so the engine can trust them.

    Candidates climb a ladder of rungs, each evaluating them on a larger shard of the training
    set; promotion between rungs follows asynchronous successive halving (ASHA; Li et al. 2018,
    "Massively Parallel Hyperparameter Tuning", arXiv:1810.05934), which decides per arrival
    instead of waiting for a full cohort, so no evaluator idles behind a slow one.
    """

    # Max task-model calls (example evaluations) in flight; the main throughput knob.
    eval_concurrency: int = 64
    # Max reflection (mutation) calls in flight at once; reflection is slower and pricier.
    max_mutations_per_round: int = 16
    # Keep at least this many new candidates queued or being generated so evaluators never starve.
    mutation_buffer_min: int = 8
    # Max candidate evaluations waiting in the queue; bounds memory and stale work.
    queue_limit: int = 128
    # Finished rung evaluations between telemetry snapshots and convergence checks.
    batch_size: int = 8
    # Rung sizes as fractions of the training set; cheap early rungs weed out weak candidates.
    # Two by default: a child's first rung (its probe: the examples it was made from, then more
    # of its parent's failures) and the full set. Across the simulated worlds a third rung in
    # between, (0.05, 0.2, 1.0), took a quarter longer to the target for a tenth fewer calls
    # (benchmarks/world_suite.py); past about 100 examples it saves calls at no cost in time.
    shards: tuple[float, ...] = (0.2, 1.0)
    # Promote only results reaching this quantile of their rung's cohort so far
    # (0.5 promotes the top half, 0 disables the cohort cut).
    cohort_quantile: float = 0.6
    # The cohort a result is ranked in: the last `cohort_window` results on its rung (None = all
    # of them). The population improves as the run goes on; ranking against the whole history
    # would compare late children with early, weaker ones and promote far more than intended.
    cohort_window: int | None = 32
    # A child may score at most this much below its parent on the same examples and still be
    # promoted; tolerates evaluation noise on small shards.
    eps_improve: float = 0.0
    # Promote to the full set only a candidate above the best fully evaluated candidate (and
    # its parent) on the examples they share; a child of the best itself needs only match it.
    # The full rung costs most of a candidate's calls, and a child of a parent the run has
    # since outgrown rarely earns them back.
    incumbent_gate: bool = True
    # A rung whose last `convergence_patience` arrivals were all pruned promotes its best waiting
    # candidate, so a too-strict cut cannot freeze the ladder.
    enable_rung_convergence: bool = True
    # Consecutive pruned arrivals that count as a converged rung.
    convergence_patience: int = 8
    # After this many pruned children of one parent, that lineage's best pruned child is forced
    # to the next rung, so a promising line is not lost to small-shard noise (0 = off).
    lineage_patience: int = 3
    # Merge front members that improved a common ancestor differently (GEPA's merge, extended
    # to lines within a component; see gepa_lab.engine.merge). Costs no LLM call.
    use_merge: bool = True
    # Ways to ask for a new instruction (gepa_lab.strategies); with several, a bandit learns
    # during the run which one makes children that pass their first rung.
    mutation_strategies: tuple[str, ...] = MUTATION_STRATEGIES
    # Populations evolving side by side in one event loop, sharing the provider, its limiter
    # and the budgets; concurrency, buffers and call budgets are split between them.
    n_islands: int = 1
    # After every `migration_every` full evaluations on an island, its best `migration_k`
    # candidates are copied (with their scores: no re-evaluation) to the next island (a ring).
    migration_every: int = 4
    migration_k: int = 2
    # Quality on the full final rung that counts as success (None = no target).
    target_quality: float | None = None
    # With a confidence level (e.g. 0.95), the target counts only when the lower confidence
    # bound of the full-set score reaches it, so a lucky score on a small set does not end the
    # run (Wilson score bound, one-sided). None = the score itself.
    target_confidence: float | None = None
    # Stop as soon as target_quality is reached on the full final rung.
    auto_stop: bool = True
    # Budget of task-model calls (example evaluations); None = unlimited.
    max_metric_calls: int | None = None
    # Budget of LLM calls launched, task and reflection together (retries not counted).
    max_llm_calls: int | None = None
    # Budget of wall-clock seconds; None = unlimited.
    max_wall_time: float | None = None
    # Budget of LLM tokens (prompt + completion, task and reflection calls); None = unlimited.
    max_total_tokens: int | None = None
    # Budget of US dollars at the provider's prices (see gepa_lab.llm.usage); None = unlimited.
    max_cost_usd: float | None = None
    # Extra tries for a call that failed transiently (5xx, timeout, bad body) before it is
    # recorded as a failed evaluation.
    max_retries: int = 4
    # Seconds an endpoint may fail every call (its circuit breaker open, see
    # gepa_lab.llm.breaker) before the run stops with an error naming it; resumable.
    max_outage: float = 45.0
    # Candidates being generated, queued or evaluated at once; 1 reproduces classic GEPA's
    # one-candidate-at-a-time loop, None bounds them only by the other limits. "auto" =
    # max(4, eval_concurrency // 16): every child started before the results it would have
    # learned from arrive is a guess from stale evidence, and past this depth those guesses
    # cost more calls than the wall-clock time they save (benchmarks/evaluations_to_best.py:
    # at 64 in flight, 4 instead of 8 took a third fewer calls and a third more time); a
    # small budget lowers it further (see FULL_SETS_PER_CANDIDATE).
    max_candidates_in_flight: int | Literal["auto"] | None = "auto"
    # Examples shown to the reflection model per mutation, failures first (GEPA shows 3).
    reflection_minibatch_size: int = 4
    # Seed for every random choice, so runs are reproducible.
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("eval_concurrency", self.eval_concurrency, 1)
        _check_int("max_mutations_per_round", self.max_mutations_per_round, 1)
        _check_int("mutation_buffer_min", self.mutation_buffer_min, 0)
        _check_int("queue_limit", self.queue_limit, 1)
        if self.queue_limit < self.mutation_buffer_min:
            raise _fail(
                "queue_limit",
                self.queue_limit,
                f"must be >= Config.mutation_buffer_min={self.mutation_buffer_min}, "
                "or buffered candidates could never be queued",
            )
        _check_int("batch_size", self.batch_size, 1)
        self._validate_shards()
        self._set_float("cohort_quantile", lambda v: 0.0 <= v < 1.0, "must be in [0, 1)")
        if self.cohort_window is not None:
            _check_int("cohort_window", self.cohort_window, 1)
        self._set_float("eps_improve", lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")
        _check_bool("incumbent_gate", self.incumbent_gate)
        _check_bool("enable_rung_convergence", self.enable_rung_convergence)
        _check_int("convergence_patience", self.convergence_patience, 1)
        _check_int("lineage_patience", self.lineage_patience, 0)
        _check_bool("use_merge", self.use_merge)
        self._validate_strategies()
        _check_int("n_islands", self.n_islands, 1)
        _check_int("migration_every", self.migration_every, 1)
        _check_int("migration_k", self.migration_k, 1)
        if self.target_quality is not None:
            self._set_float("target_quality", lambda v: 0.0 < v <= 1.0, "must be None or in (0, 1]")
        if self.target_confidence is not None:
            self._set_float(
                "target_confidence", lambda v: 0.5 <= v < 1.0, "must be None or in [0.5, 1)"
            )
        _check_bool("auto_stop", self.auto_stop)
        if self.max_metric_calls is not None:
            _check_int("max_metric_calls", self.max_metric_calls, 1)
        if self.max_wall_time is not None:
            self._set_float("max_wall_time", lambda v: v > 0.0, "must be None or > 0 seconds")
        if self.max_llm_calls is not None:
            _check_int("max_llm_calls", self.max_llm_calls, 1)
        if self.max_total_tokens is not None:
            _check_int("max_total_tokens", self.max_total_tokens, 1)
        if self.max_cost_usd is not None:
            self._set_float("max_cost_usd", lambda v: v > 0.0, "must be None or > 0 dollars")
        _check_int("max_retries", self.max_retries, 0)
        self._set_float("max_outage", lambda v: v > 0.0, "must be > 0 seconds")
        cap = self.max_candidates_in_flight
        if cap not in (None, "auto"):
            if isinstance(cap, bool) or not isinstance(cap, int):
                raise _fail("max_candidates_in_flight", cap, 'must be an int, "auto" or None')
            _check_int("max_candidates_in_flight", cap, 1)
        _check_int("reflection_minibatch_size", self.reflection_minibatch_size, 1)
        _check_int("seed", self.seed)

    def _set_float(self, name: str, in_range: Callable[[float], bool], allowed: str) -> None:
        """Check a numeric field and store it as a float, so downstream code sees one type."""
        value = _check_number(name, getattr(self, name))
        if not in_range(value):
            raise _fail(name, getattr(self, name), allowed)
        object.__setattr__(self, name, value)

    def candidate_cap(self, n_examples: int | None = None) -> int | None:
        """``max_candidates_in_flight`` as a number (None = no cap), "auto" resolved: for
        ``n_examples`` and a task-call budget, also at most one candidate per
        ``FULL_SETS_PER_CANDIDATE`` full evaluations the budget buys (never below 2)."""
        if self.max_candidates_in_flight != "auto":
            return self.max_candidates_in_flight  # type: ignore[return-value]
        cap = max(4, self.eval_concurrency // 16)
        if n_examples and self.max_metric_calls is not None:
            affordable = self.max_metric_calls // (FULL_SETS_PER_CANDIDATE * n_examples)
            cap = min(cap, max(2, affordable))
        return cap

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def _validate_strategies(self) -> None:
        names, known = self.mutation_strategies, tuple(STRATEGIES)
        if isinstance(names, str) or not isinstance(names, tuple | list):
            raise _fail("mutation_strategies", names, f"must be a tuple of names from {known}")
        unknown = [n for n in names if n not in STRATEGIES]
        if not names or unknown or len(set(names)) != len(names):
            raise _fail(
                "mutation_strategies",
                names,
                f"must name each of its strategies once, from {known} (a new one registers "
                "itself in a module of gepa_lab/strategies/)",
            )
        object.__setattr__(self, "mutation_strategies", tuple(names))

    def _validate_shards(self) -> None:
        shards = self.shards
        if isinstance(shards, str) or not isinstance(shards, Sequence) or not shards:
            raise _fail("shards", shards, "must be a non-empty sequence of fractions")
        values = tuple(_check_number("shards", f) for f in shards)
        if any(not 0.0 < f <= 1.0 for f in values):
            raise _fail("shards", shards, "each fraction must be in (0, 1]")
        if any(b <= a for a, b in pairwise(values)):
            raise _fail("shards", shards, "fractions must be strictly increasing")
        if values[-1] != 1.0:
            raise _fail("shards", shards, "the last fraction must be exactly 1.0 (the full set)")
        object.__setattr__(self, "shards", values)

    def rung_sizes(self, n_examples: int) -> tuple[int, ...]:
        """Example counts per rung for a training set of ``n_examples``.

        Counts are rounded, at least one, strictly increasing and end at the full set, so
        a small data set gets fewer but still meaningful rungs.
        """
        check_count("n_examples", n_examples)
        return tuple(count for _, count in _distinct_rungs(self.shards, n_examples))

    def replace(self, **changes: Any) -> Config:
        """Copy with ``changes`` applied; validation runs again on the result."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown Config field(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)


def adaptive_config(
    dataset_size: int, profile: str = "balanced", max_concurrency: int | None = None
) -> Config:
    """A Config sized to the data set and the machine.

    ``profile`` trades safety for speed: "conservative" uses two rungs and modest concurrency,
    "aggressive" a three-rung ladder at full concurrency with a stricter cut. ``max_concurrency``
    defaults to what the file-descriptor limit can sustain. Small data sets need no special
    case: a partial rung under ``MIN_RUNG_EXAMPLES`` examples is dropped, so up to 37 examples
    the balanced profile evaluates every child on the full set at once, and from 38 on it
    probes a fifth of them (the parent's failures first) before the rest.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is invalid: must be one of {', '.join(PROFILES)}")
    check_count("dataset_size", dataset_size)
    if max_concurrency is None:
        max_concurrency = limits.max_concurrency_from_fd_limit()
    check_count("max_concurrency", max_concurrency)

    # Failed examples shown per reflection: one more than GEPA's 3. Across the simulated worlds
    # (benchmarks/world_suite.py) it cut time to target by a tenth and calls by 7%.
    minibatch = 4
    if profile == "conservative":
        base: tuple[float, ...] = (0.25, 1.0)
        eval_concurrency = min(32, max_concurrency)
        quantile = 0.5
    elif profile == "balanced":
        # Config's defaults; past 100 examples a cheap first rung pays for itself in calls.
        base = (0.2, 1.0) if dataset_size < 100 else (0.05, 0.2, 1.0)
        eval_concurrency = min(256, max_concurrency)
        quantile = 0.6
    else:
        base = (0.05, 0.2, 1.0)
        eval_concurrency = max_concurrency
        quantile = 0.7
        # More failures per reflection: fewer generations to a target, for a longer prompt.
        # On the simulated world, 8 instead of 3 cuts time to 0.7 by about a third.
        minibatch = 8
    # A rung below one example would round up to one anyway; store the fraction it really is.
    floored = [max(fraction, 1.0 / dataset_size) for fraction in base]
    # The last rung holds the full set, whichever fraction reached it first.
    partial = _distinct_rungs(floored, dataset_size)[:-1]
    shards = (*(fraction for fraction, _count in partial), 1.0)
    return Config(
        eval_concurrency=eval_concurrency,
        max_mutations_per_round=max(4, eval_concurrency // 8),
        mutation_buffer_min=max(4, eval_concurrency // 8),
        queue_limit=max(32, 2 * eval_concurrency),
        batch_size=max(4, eval_concurrency // 16),
        shards=shards,
        cohort_quantile=quantile,
        reflection_minibatch_size=minibatch,
    )


def benchmark_overrides(config: Config, max_concurrency: int) -> Config:
    """``config`` retuned for throughput benchmarks at ``max_concurrency``.

    Pipelines are kept deep enough that evaluators never wait on mutations (no cap on the
    candidates in flight: throughput over calls per improvement), and pruning is set
    to a fixed, comparable policy (top half, no slack) so runs differ only in what is measured.
    """
    return config.replace(
        eval_concurrency=max_concurrency,
        max_mutations_per_round=max(32, config.max_mutations_per_round),
        mutation_buffer_min=max(16, max_concurrency // 4),
        queue_limit=max(256, max_concurrency * 2),
        batch_size=max(8, max_concurrency // 8),
        eps_improve=0.0,
        cohort_quantile=0.5,
        max_candidates_in_flight=None,
        enable_rung_convergence=True,
        lineage_patience=2,
        n_islands=1,
        auto_stop=True,
    )


def classic_config(eval_concurrency: int = 10, **overrides: Any) -> Config:
    """Classic GEPA as a baseline: one candidate at a time on the full set, no pruning.

    GEPA keeps about 10 task-model calls in flight, hence the default. ``overrides`` (e.g.
    target_quality, seed, max_metric_calls) are applied on top and validated.
    """
    return Config(
        eval_concurrency=eval_concurrency,
        max_mutations_per_round=1,
        mutation_buffer_min=1,
        queue_limit=1,
        shards=(1.0,),
        cohort_quantile=0.0,
        enable_rung_convergence=False,
        lineage_patience=0,
        max_candidates_in_flight=1,
        use_merge=False,
        mutation_strategies=("reflect",),
        reflection_minibatch_size=3,  # GEPA's
    ).replace(**overrides)


def _fraction(value: float) -> str:
    return repr(round(value, 4))


def performance_report(config: Config, dataset_size: int | None = None) -> str:
    """A printable summary of the settings that drive speed and pruning.

    Meant for the top of a notebook run, so a reader can tell at a glance how hard the run
    pushes the API and how aggressively it prunes.
    """
    shards = repr(tuple(round(f, 4) for f in config.shards))
    if dataset_size is not None:
        shards += " -> " + "/".join(map(str, config.rung_sizes(dataset_size))) + " examples"
    if config.cohort_quantile == 0.0:
        quantile = "0.0 (cohort cut off: every result may be promoted)"
    else:
        top = 1.0 - config.cohort_quantile
        quantile = f"{_fraction(config.cohort_quantile)} (promotes the top {top:.0%} of each rung)"
        if config.cohort_window is not None:
            quantile += f", ranked among its last {config.cohort_window} results"
    convergence = (
        f"on (patience {config.convergence_patience})" if config.enable_rung_convergence else "off"
    )
    lineage = str(config.lineage_patience) if config.lineage_patience else "off"
    if config.target_quality is None:
        target = "none"
    else:
        auto_stop = "on" if config.auto_stop else "off"
        target = f"{_fraction(config.target_quality)} (auto-stop {auto_stop})"
        if config.target_confidence is not None:
            target += f", lower {config.target_confidence:.0%} confidence bound"

    rows = [
        ("concurrency", f"{config.eval_concurrency} task-model calls in flight"),
        (
            "mutations",
            f"{config.max_mutations_per_round} per round, buffer min {config.mutation_buffer_min}",
        ),
        ("batch size", str(config.batch_size)),
        ("queue limit", str(config.queue_limit)),
        ("shards", shards),
        ("ASHA quantile", quantile),
        ("eps_improve", _fraction(config.eps_improve)),
        ("rung convergence", convergence),
        ("lineage patience", lineage),
        ("mutation", ", ".join(config.mutation_strategies) + (" + merge" * config.use_merge)),
    ]
    cap = config.candidate_cap(dataset_size)
    in_flight = "no cap" if cap is None else f"{cap} candidate(s)"
    if config.max_candidates_in_flight == "auto":
        in_flight += " (auto)"
    rows.append(("max in flight", in_flight))
    rows.append(("incumbent gate", "on" if config.incumbent_gate else "off"))
    rows.append(("target quality", target))
    if config.max_metric_calls is not None:
        rows.append(("metric-call budget", f"{config.max_metric_calls} calls"))
    if config.max_wall_time is not None:
        rows.append(("wall-time budget", f"{config.max_wall_time:g} s"))
    if config.max_llm_calls is not None:
        rows.append(("LLM-call budget", f"{config.max_llm_calls} calls"))
    if config.max_total_tokens is not None:
        rows.append(("token budget", f"{config.max_total_tokens} tokens"))
    if config.max_cost_usd is not None:
        rows.append(("cost budget", f"${config.max_cost_usd:g}"))

    width = max(len(label) for label, _value in rows)
    lines = ["PERFORMANCE CONFIGURATION"]
    lines += [f"  {label:<{width}} : {value}" for label, value in rows]
    return "\n".join(lines)

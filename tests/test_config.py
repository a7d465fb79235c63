"""Tests for gepa_lab.config and gepa_lab.llm.limits."""

from __future__ import annotations

import dataclasses
import resource
from collections.abc import Callable
from itertools import pairwise

import pytest

from gepa_lab.config import (
    Config,
    adaptive_config,
    benchmark_overrides,
    classic_config,
    performance_report,
)
from gepa_lab.llm import limits

# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("eval_concurrency", -1, ">= 1"),
        ("eval_concurrency", 0, ">= 1"),
        ("eval_concurrency", True, "must be an int"),
        ("eval_concurrency", 8.0, "must be an int"),
        ("max_mutations_per_round", 0, ">= 1"),
        ("mutation_buffer_min", -1, ">= 0"),
        ("batch_size", False, "must be an int"),
        ("cohort_quantile", 1.0, "[0, 1)"),
        ("cohort_quantile", 1.5, "[0, 1)"),
        ("cohort_quantile", -0.1, "[0, 1)"),
        ("cohort_quantile", True, "must be a number"),
        ("eps_improve", 1.5, "[0, 1]"),
        ("shards", (0.2, 0.1, 1.0), "strictly increasing"),
        ("shards", (0.2, 0.2, 1.0), "strictly increasing"),
        ("shards", (0.1, 0.5), "exactly 1.0"),
        ("shards", (), "non-empty"),
        ("shards", (0.0, 1.0), "(0, 1]"),
        ("shards", (0.5, 1.5), "(0, 1]"),
        ("enable_rung_convergence", 1, "bool"),
        ("auto_stop", "yes", "bool"),
        ("convergence_patience", 0, ">= 1"),
        ("lineage_patience", -1, ">= 0"),
        ("cohort_window", 0, ">= 1"),
        ("target_confidence", 1.0, "[0.5, 1)"),
        ("target_confidence", 0.3, "[0.5, 1)"),
        ("cohort_window", 2.5, "must be an int"),
        ("use_merge", 1, "must be a bool"),
        ("migration_every", 0, ">= 1"),
        ("migration_k", 0, ">= 1"),
        ("n_islands", 0, ">= 1"),
        ("target_quality", 0, "(0, 1]"),
        ("target_quality", 1.5, "(0, 1]"),
        ("max_metric_calls", 0, ">= 1"),
        ("max_wall_time", 0, "> 0"),
        ("max_candidates_in_flight", 0, ">= 1"),
        ("max_candidates_in_flight", "Auto", 'an int, "auto" or None'),
        ("max_candidates_in_flight", True, 'an int, "auto" or None'),
        ("incumbent_gate", 1, "must be a bool"),
        ("reflection_minibatch_size", 0, ">= 1"),
        ("seed", 1.5, "must be an int"),
    ],
)
def test_bad_value_names_field_value_and_rule(field: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        Config(**{field: value})
    message = str(excinfo.value)
    assert f"Config.{field}={value!r} is invalid" in message
    assert allowed in message


def test_example_message_is_exact() -> None:
    with pytest.raises(
        ValueError, match=r"^Config\.cohort_quantile=1\.5 is invalid: must be in \[0, 1\)$"
    ):
        Config(cohort_quantile=1.5)


def test_queue_limit_below_buffer_names_both_fields() -> None:
    with pytest.raises(ValueError) as excinfo:
        Config(queue_limit=4, mutation_buffer_min=8)
    message = str(excinfo.value)
    assert "queue_limit=4" in message
    assert "mutation_buffer_min=8" in message
    # Equal values are allowed.
    assert Config(queue_limit=8, mutation_buffer_min=8).queue_limit == 8


def test_defaults_are_valid_and_documented_values() -> None:
    config = Config()
    assert config.eval_concurrency == 64
    assert config.shards == (0.2, 1.0)
    assert config.reflection_minibatch_size == 4
    assert config.cohort_quantile == 0.6
    assert config.target_quality is None
    assert config.n_islands == 1


def test_shards_list_is_stored_as_tuple_and_config_is_frozen() -> None:
    config = Config(shards=[0.5, 1])
    assert config.shards == (0.5, 1.0)
    assert isinstance(config.shards, tuple)
    assert all(isinstance(f, float) for f in config.shards)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.eval_concurrency = 2  # type: ignore[misc]


def test_int_is_accepted_for_float_fields() -> None:
    config = Config(cohort_quantile=0, target_quality=1, max_wall_time=30)
    assert config.cohort_quantile == 0.0
    assert isinstance(config.cohort_quantile, float)
    assert config.target_quality == 1.0
    assert config.max_wall_time == 30.0


def test_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="cohort_quantile=nan"):
        Config(cohort_quantile=float("nan"))


# --- replace ----------------------------------------------------------------------------------


def test_replace_applies_changes_and_keeps_the_rest() -> None:
    base = Config(seed=7)
    changed = base.replace(eval_concurrency=8, shards=[0.5, 1.0])
    assert changed.eval_concurrency == 8
    assert changed.shards == (0.5, 1.0)
    assert changed.seed == 7
    assert base.eval_concurrency == 64


def test_replace_revalidates() -> None:
    with pytest.raises(ValueError, match=r"Config\.cohort_quantile=1\.0"):
        Config().replace(cohort_quantile=1.0)
    with pytest.raises(ValueError, match="queue_limit"):
        Config().replace(mutation_buffer_min=500)


def test_replace_rejects_unknown_names() -> None:
    with pytest.raises(ValueError) as excinfo:
        Config().replace(concurrency=8, n_island=2)
    assert "concurrency" in str(excinfo.value)
    assert "n_island" in str(excinfo.value)


# --- rung sizes -------------------------------------------------------------------------------


def test_rung_sizes_default_shards() -> None:
    assert Config().rung_sizes(60) == (12, 60)
    assert Config(shards=(0.05, 0.2, 1.0)).rung_sizes(200) == (10, 40, 200)


@pytest.mark.parametrize("n", [1, 2, 5, 7, 13])
def test_rung_sizes_small_sets_are_distinct_positive_and_end_at_n(n: int) -> None:
    sizes = Config().rung_sizes(n)
    assert sizes[-1] == n
    assert all(size >= 1 for size in sizes)
    assert all(a < b for a, b in pairwise(sizes))


def test_partial_rungs_under_eight_examples_are_dropped_not_enlarged() -> None:
    # A probe that small costs each generation a round trip and separates too little.
    assert Config().rung_sizes(5) == (5,)
    assert Config().rung_sizes(30) == (30,)
    assert Config().rung_sizes(37) == (37,)  # 7.4 examples
    assert Config().rung_sizes(38) == (8, 38)
    assert Config(shards=(0.05, 0.2, 1.0)).rung_sizes(60) == (12, 60)


def test_rung_sizes_drops_rung_equal_to_the_full_set() -> None:
    assert Config(shards=(0.99, 1.0)).rung_sizes(10) == (10,)


@pytest.mark.parametrize("n", [0, -3])
def test_rung_sizes_rejects_empty_training_set(n: int) -> None:
    with pytest.raises(ValueError, match="n_examples"):
        Config().rung_sizes(n)


# --- limits -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("soft", "expected"),
    [(256, 64), (10_000, 1000), (1_000_000, 2048), (resource.RLIM_INFINITY, 2048)],
)
def test_max_concurrency_from_fd_limit(
    monkeypatch: pytest.MonkeyPatch, soft: int, expected: int
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _kind: (soft, resource.RLIM_INFINITY))
    assert limits.max_concurrency_from_fd_limit() == expected


class FakeRlimit:
    """Stands in for the process limit so tests never touch the real one."""

    def __init__(self, soft: int, hard: int, *, fail: bool = False) -> None:
        self.soft = soft
        self.hard = hard
        self.fail = fail
        self.set_calls: list[tuple[int, int]] = []
        self.hooks: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    def getrlimit(self, kind: int) -> tuple[int, int]:
        assert kind == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def setrlimit(self, kind: int, limits_: tuple[int, int]) -> None:
        assert kind == resource.RLIMIT_NOFILE
        if self.fail:
            raise ValueError("not allowed")
        self.set_calls.append(limits_)
        self.soft, self.hard = limits_

    def register(self, func: Callable[..., object], *args: object) -> Callable[..., object]:
        self.hooks.append((func, args))
        return func

    def run_hooks(self) -> None:
        for func, args in self.hooks:
            func(*args)


@pytest.fixture
def fake_rlimit(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeRlimit]:
    def install(soft: int, hard: int, *, fail: bool = False) -> FakeRlimit:
        fake = FakeRlimit(soft, hard, fail=fail)
        monkeypatch.setattr(limits, "_restore_registered", False)
        monkeypatch.setattr(resource, "getrlimit", fake.getrlimit)
        monkeypatch.setattr(resource, "setrlimit", fake.setrlimit)
        monkeypatch.setattr(limits.atexit, "register", fake.register)
        return fake

    return install


def test_raise_fd_limit_raises_to_target_and_restores_at_exit(
    fake_rlimit: Callable[..., FakeRlimit],
) -> None:
    fake = fake_rlimit(256, 10_000)
    assert limits.raise_fd_limit() == 4096
    assert fake.soft == 4096
    assert fake.hard == 10_000
    assert len(fake.hooks) == 1
    fake.run_hooks()
    assert fake.soft == 256
    assert fake.hard == 10_000


def test_raise_fd_limit_is_capped_by_hard_limit(fake_rlimit: Callable[..., FakeRlimit]) -> None:
    fake = fake_rlimit(256, 1024)
    assert limits.raise_fd_limit(4096) == 1024
    assert fake.soft == 1024


def test_raise_fd_limit_with_unlimited_hard(fake_rlimit: Callable[..., FakeRlimit]) -> None:
    fake = fake_rlimit(1024, resource.RLIM_INFINITY)
    assert limits.raise_fd_limit(8192) == 8192
    assert fake.set_calls == [(8192, resource.RLIM_INFINITY)]


def test_raise_fd_limit_never_lowers(fake_rlimit: Callable[..., FakeRlimit]) -> None:
    fake = fake_rlimit(65_536, resource.RLIM_INFINITY)
    assert limits.raise_fd_limit(4096) == 65_536
    assert fake.set_calls == []


def test_raise_fd_limit_tolerates_setrlimit_failure(fake_rlimit: Callable[..., FakeRlimit]) -> None:
    fake = fake_rlimit(256, 10_000, fail=True)
    assert limits.raise_fd_limit() == 256
    assert fake.soft == 256


def test_raise_fd_limit_registers_once_and_restores_first_value(
    fake_rlimit: Callable[..., FakeRlimit],
) -> None:
    fake = fake_rlimit(256, 10_000)
    limits.raise_fd_limit(1024)
    limits.raise_fd_limit(4096)
    limits.raise_fd_limit(8192)
    assert fake.soft == 8192
    assert len(fake.hooks) == 1
    fake.run_hooks()
    assert fake.soft == 256


# --- adaptive_config --------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["conservative", "balanced", "aggressive"])
def test_adaptive_small_data_goes_straight_to_the_full_set(profile: str) -> None:
    # A probe under 8 examples is dropped: small sets evaluate every child on all examples at
    # once; larger ones probe at least 8 first.
    for n in (1, 3, 8, 12, 20):
        assert adaptive_config(n, profile, max_concurrency=64).rung_sizes(n) == (n,)
    assert adaptive_config(45, profile, max_concurrency=64).rung_sizes(45)[0] >= 8
    if profile == "balanced":
        assert adaptive_config(37, profile, max_concurrency=64).rung_sizes(37) == (37,)
        assert adaptive_config(38, profile, max_concurrency=64).rung_sizes(38) == (8, 38)


def test_adaptive_aggressive_three_rungs_for_200() -> None:
    config = adaptive_config(200, "aggressive", max_concurrency=512)
    assert config.shards == (0.05, 0.2, 1.0)
    assert config.rung_sizes(200) == (10, 40, 200)
    assert config.eval_concurrency == 512
    assert config.max_mutations_per_round == 64
    assert config.mutation_buffer_min == 64
    assert config.queue_limit == 1024
    assert config.batch_size == 32
    assert config.cohort_quantile == 0.7


def test_adaptive_aggressive_small_set_has_no_rung_below_one_example() -> None:
    config = adaptive_config(12, "aggressive", max_concurrency=64)
    sizes = config.rung_sizes(12)
    assert all(size >= 1 for size in sizes)
    assert all(a < b for a, b in pairwise(sizes))
    assert len(sizes) == len(config.shards)
    assert min(config.shards) * 12 >= 1 - 1e-9
    assert config.shards[-1] == 1.0


@pytest.mark.parametrize("n", range(10, 60))
@pytest.mark.parametrize("profile", ["conservative", "balanced", "aggressive"])
def test_adaptive_shards_match_distinct_rungs(n: int, profile: str) -> None:
    config = adaptive_config(n, profile, max_concurrency=64)
    sizes = config.rung_sizes(n)
    assert len(sizes) == len(config.shards)
    assert sizes[-1] == n


@pytest.mark.parametrize(
    ("profile", "n", "shards", "concurrency", "quantile"),
    [
        ("conservative", 100, (0.25, 1.0), 32, 0.5),
        ("balanced", 200, (0.05, 0.2, 1.0), 256, 0.6),
        ("balanced", 100, (0.2, 1.0), 256, 0.6),  # a 5% rung of 5 examples is dropped
        ("balanced", 20, (1.0,), 256, 0.6),
    ],
)
def test_adaptive_profiles(
    profile: str, n: int, shards: tuple[float, ...], concurrency: int, quantile: float
) -> None:
    config = adaptive_config(n, profile, max_concurrency=1000)
    assert config.shards == shards
    assert config.eval_concurrency == concurrency
    assert config.cohort_quantile == quantile
    assert config.mutation_buffer_min == max(4, concurrency // 8)
    assert config.queue_limit == max(32, 2 * concurrency)
    assert config.batch_size == max(4, concurrency // 16)


def test_adaptive_derived_values_follow_small_concurrency() -> None:
    config = adaptive_config(100, "balanced", max_concurrency=16)
    assert config.eval_concurrency == 16
    assert config.max_mutations_per_round == 4
    assert config.mutation_buffer_min == 4
    assert config.queue_limit == 32
    assert config.batch_size == 4


def test_adaptive_defaults_to_fd_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "max_concurrency_from_fd_limit", lambda: 100)
    assert adaptive_config(1000, "aggressive").eval_concurrency == 100


def test_adaptive_unknown_profile_lists_profiles() -> None:
    with pytest.raises(ValueError) as excinfo:
        adaptive_config(100, "turbo")
    message = str(excinfo.value)
    assert "'turbo'" in message
    for profile in ("conservative", "balanced", "aggressive"):
        assert profile in message


@pytest.mark.parametrize("bad", [0, -5])
def test_adaptive_rejects_empty_dataset(bad: int) -> None:
    with pytest.raises(ValueError, match="dataset_size"):
        adaptive_config(bad, max_concurrency=8)


# --- benchmark_overrides ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mc", "mutations", "buffer", "queue", "batch"),
    [
        (64, 32, 16, 256, 8),
        (256, 32, 64, 512, 32),
        (1024, 32, 256, 2048, 128),
    ],
)
def test_benchmark_overrides_exact_values(
    mc: int, mutations: int, buffer: int, queue: int, batch: int
) -> None:
    base = Config(
        shards=(0.1, 0.5, 1.0),
        target_quality=0.85,
        eps_improve=0.1,
        cohort_quantile=0.8,
        enable_rung_convergence=False,
        lineage_patience=0,
        auto_stop=False,
        seed=3,
        max_metric_calls=5000,
    )
    config = benchmark_overrides(base, mc)
    assert config.eval_concurrency == mc
    assert config.max_mutations_per_round == mutations
    assert config.mutation_buffer_min == buffer
    assert config.queue_limit == queue
    assert config.batch_size == batch
    assert config.eps_improve == 0.0
    assert config.cohort_quantile == 0.5
    assert config.enable_rung_convergence is True
    assert config.lineage_patience == 2
    assert config.n_islands == 1
    assert config.auto_stop is True
    # Untouched fields are preserved.
    assert config.shards == (0.1, 0.5, 1.0)
    assert config.target_quality == 0.85
    assert config.seed == 3
    assert config.max_metric_calls == 5000
    assert config.convergence_patience == base.convergence_patience


def test_benchmark_overrides_keeps_larger_mutation_count() -> None:
    assert (
        benchmark_overrides(Config(max_mutations_per_round=100), 64).max_mutations_per_round == 100
    )


# --- classic_config ---------------------------------------------------------------------------


def test_classic_config_is_one_candidate_full_shard_no_pruning() -> None:
    config = classic_config()
    assert config.eval_concurrency == 10
    assert config.shards == (1.0,)
    assert config.max_candidates_in_flight == 1
    assert config.max_mutations_per_round == 1
    assert config.mutation_buffer_min == 1
    assert config.queue_limit == 1
    assert config.cohort_quantile == 0.0
    assert config.enable_rung_convergence is False
    assert config.lineage_patience == 0


def test_classic_config_overrides() -> None:
    config = classic_config(eval_concurrency=20, target_quality=0.9, seed=5, max_metric_calls=300)
    assert config.eval_concurrency == 20
    assert config.target_quality == 0.9
    assert config.seed == 5
    assert config.max_metric_calls == 300
    assert config.shards == (1.0,)
    with pytest.raises(ValueError, match="bogus"):
        classic_config(bogus=1)
    with pytest.raises(ValueError, match="target_quality"):
        classic_config(target_quality=2.0)


# --- performance_report -----------------------------------------------------------------------


def test_performance_report_contains_key_figures() -> None:
    config = Config(
        eval_concurrency=96,
        max_mutations_per_round=12,
        mutation_buffer_min=6,
        queue_limit=200,
        batch_size=5,
        eps_improve=0.02,
        convergence_patience=7,
        lineage_patience=4,
        target_quality=0.9,
        max_metric_calls=5000,
        max_wall_time=600,
        max_candidates_in_flight=3,
    )
    report = performance_report(config, dataset_size=60)
    lines = report.splitlines()
    assert lines[0] == "PERFORMANCE CONFIGURATION"
    # Values line up in one column.
    assert len({line.index(" : ") for line in lines[1:]}) == 1
    rows = dict(line.strip().split(" : ", 1) for line in lines[1:])
    rows = {label.strip(): value for label, value in rows.items()}
    assert rows["concurrency"].startswith("96 ")
    assert rows["mutations"] == "12 per round, buffer min 6"
    assert rows["batch size"] == "5"
    assert rows["queue limit"] == "200"
    assert rows["shards"] == "(0.2, 1.0) -> 12/60 examples"
    assert rows["ASHA quantile"].startswith("0.6 ")
    assert "top 40%" in rows["ASHA quantile"]
    assert rows["eps_improve"] == "0.02"
    assert rows["rung convergence"] == "on (patience 7)"
    assert rows["lineage patience"] == "4"
    assert rows["mutation"] == "reflect, induce, think + merge"
    assert "last 32 results" in rows["ASHA quantile"]
    assert rows["max in flight"].startswith("3 ")
    assert rows["target quality"] == "0.9 (auto-stop on)"
    assert "5000" in rows["metric-call budget"]
    assert "600" in rows["wall-time budget"]


def test_performance_report_optional_lines() -> None:
    report = performance_report(classic_config(auto_stop=False, target_quality=0.8))
    assert report.startswith("PERFORMANCE CONFIGURATION\n")
    assert "(1.0,)" in report
    assert "examples" not in report
    assert "budget" not in report
    assert "rung convergence : off" in report
    assert "lineage patience : off" in report
    assert "auto-stop off" in report
    assert "cohort cut off" in report
    assert "max in flight" in report
    assert "mutation         : reflect\n" in report
    default_report = performance_report(Config())
    assert "max in flight    : 4 candidate(s) (auto)" in default_report
    assert "incumbent gate   : on" in default_report
    assert "max in flight    : no cap" in performance_report(benchmark_overrides(Config(), 64))
    assert "target quality" in default_report and "none" in default_report


def test_candidate_cap_auto_scales_with_concurrency() -> None:
    assert Config().max_candidates_in_flight == "auto"
    assert Config(eval_concurrency=16).candidate_cap() == 4  # never below 4
    assert Config(eval_concurrency=64).candidate_cap() == 4
    assert Config(eval_concurrency=256).candidate_cap() == 16
    assert Config(eval_concurrency=2048).candidate_cap() == 128
    assert Config(max_candidates_in_flight=3).candidate_cap() == 3
    assert Config(max_candidates_in_flight=None).candidate_cap() is None


def test_candidate_cap_auto_shrinks_with_a_small_budget() -> None:
    # One candidate in flight per 8 full evaluations the budget buys, never below 2.
    small = Config(max_metric_calls=600)
    assert small.candidate_cap(45) == 2 and small.candidate_cap(12) == 4
    assert Config(max_metric_calls=150).candidate_cap(45) == 2
    assert Config(max_metric_calls=2000).candidate_cap(45) == 4  # the concurrency rule
    assert Config(max_metric_calls=600, max_candidates_in_flight=6).candidate_cap(45) == 6
    assert small.candidate_cap() == 4  # no data size, no budget rule
    assert benchmark_overrides(Config(), 512).candidate_cap() is None

"""The suite of simulated worlds: targets derived, not chosen; the same world in process and
over HTTP."""

from __future__ import annotations

import asyncio
import math

import pytest

import gepa_lab as gl
from gepa_lab.sim import TASK_MODEL
from gepa_lab.sim.process import SimServerProcess
from gepa_lab.sim.skills import SHORTCUT
from gepa_lab.sim.worlds import REFERENCE, SEED_PROMPT, SUITE, WORLD_BY_NAME, WORLDS, World
from gepa_lab.sim.worlds import SUITE_BY_NAME as WORLD_SUITE

TASK_SUITE = [w for w in SUITE if w not in WORLDS]


@pytest.mark.parametrize("world", WORLDS, ids=lambda w: w.name)
def test_a_worlds_target_is_what_a_well_written_instruction_reaches(world):
    reference = world.score(REFERENCE, world.train)
    assert world.target == math.floor(reference * 20 + 1e-9) / 20
    assert 0.5 <= world.target <= reference
    assert world.score(SEED_PROMPT, world.train) < world.target - 0.3
    assert {e.id for e in world.train}.isdisjoint(e.id for e in world.held_out)
    assert 8 <= len(world.train) <= 300 and len(world.held_out) == 100


@pytest.mark.parametrize(
    "name", ["noisy45-deterministic", "phrases30-stochastic", "deceptive45-deterministic"]
)
def test_a_world_answers_the_same_over_http_as_in_process(name):
    world = WORLD_BY_NAME[name]
    args = ["--reflection", world.reflection, "--landscape", world.landscape]
    text = f"{REFERENCE}\n{SHORTCUT.hint}"  # every hint, and the deceptive world's shortcut
    with SimServerProcess(time_scale=0.01, args=args) as url:
        over_http = asyncio.run(
            gl.score_prompt(
                text, world.train, provider=gl.OpenAIProvider(url), task_model=TASK_MODEL
            )
        )
    assert over_http == world.score(text, world.train)
    # ... and the landscape matters: the default one scores the same text differently.
    skills = World(name, "skills", world.reflection, world.n, world.data_seed)
    assert skills.train == world.train and skills.score(text, skills.train) != over_http


@pytest.mark.parametrize("world", TASK_SUITE, ids=lambda w: w.name)
def test_the_task_worlds_targets_are_derived_too(world):
    reference = world.score(world.reference, world.train)
    assert world.target == math.floor(reference * 20 + 1e-9) / 20 >= 0.5
    assert world.score(world.seed, world.train) < world.target - 0.3
    assert {e.problem for e in world.train}.isdisjoint(e.problem for e in world.held_out)
    assert world.provider().reflection == world.name.rsplit("-", 1)[1]


def test_a_task_world_scores_the_same_over_http():
    world = WORLD_SUITE["reviews45-deterministic"]
    with SimServerProcess(time_scale=0.01) as url:
        over_http = asyncio.run(
            gl.score_prompt(
                world.reference,
                world.held_out,
                provider=gl.OpenAIProvider(url),
                task_model=TASK_MODEL,
                task=world.task,
            )
        )
    assert over_http == world.score(world.reference, world.held_out) == 1.0

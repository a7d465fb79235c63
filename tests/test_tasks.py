"""Your own task: data from rows and files, built-in metrics, message templates, and the
simulated review-labelling task end to end (deterministic reflection model)."""

from __future__ import annotations

import asyncio
import csv
import json
import threading
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import gepa_lab as gl
from gepa_lab.engine.candidate import Trace
from gepa_lab.sim import REFLECTION_MODEL, TASK_MODEL, SimProvider, sentiment
from gepa_lab.sim.process import SimServerProcess
from gepa_lab.sim.sentiment import synthetic_reviews
from gepa_lab.strategies import reflection_prompt
from gepa_lab.tasks import AIME, LLMTask, load_examples, metrics
from gepa_lab.tasks.examples import Example

LABELS = metrics.LabelAccuracy(["positive", "negative"])
REVIEWS = LLMTask(
    user="{text}", metric=LABELS, objective="labels product reviews as positive or negative"
)


def ex(answer, **fields) -> Example:
    return Example("e1", "input text", answer, None, fields)


# --- metrics ----------------------------------------------------------------------------------


def test_label_accuracy_names_the_confusion_and_asks_for_a_label():
    assert LABELS(ex("positive"), "Fine.\nLabel: Positive") == (1.0, "Correct: 'positive'.")
    score, feedback = LABELS(ex("negative"), "Label: positive")
    assert (
        score == 0.0
        and feedback == "Incorrect: labelled 'positive', the correct label is 'negative'."
    )
    # the last label named counts, as a whole word
    assert LABELS(ex("negative"), "Not positive at all. Label: negative")[0] == 1.0
    assert LABELS(ex("negative"), "Label: negatives")[1].startswith("No label found")
    with pytest.raises(ValueError, match="is not one of the labels"):
        LABELS(ex("neutral"), "Label: positive")
    for bad in (["positive"], ["a", "A"], ["a", ""]):
        with pytest.raises(ValueError, match="labels="):
            metrics.LabelAccuracy(bad)


def test_exact_match_numeric_contains_and_exact_int():
    assert metrics.ExactMatch()(ex("The Eiffel Tower"), "Answer: eiffel tower!")[0] == 1.0
    assert metrics.ExactMatch(normalized=False)(ex("Paris"), "Answer: paris")[0] == 0.0
    assert metrics.Numeric(0.01)(ex(-3.5), "so about -3.504")[0] == 1.0
    assert metrics.Numeric(0.01)(ex(1200), "it is 1,210")[0] == 0.0
    assert metrics.Numeric(0.01, relative=True)(ex(1200), "it is 1,210")[0] == 1.0
    assert metrics.Numeric()(ex(2), "no idea")[1].startswith("No number found")
    assert metrics.Contains()(ex("blue"), "The sky is BLUE.")[0] == 1.0
    assert (
        metrics.Contains(r"^answer: {answer}$")(ex("4"), "x\nanswer: 4")[0] == 0.0
    )  # no MULTILINE
    with pytest.raises(ValueError, match="pattern="):
        metrics.Contains("(unclosed")
    with pytest.raises(ValueError, match="tolerance="):
        metrics.Numeric(-1)
    assert metrics.ExactInt()(ex(7), "### 70") == (
        0.0,
        "Incorrect: answered 70, the correct answer is 7.",
    )


def test_token_f1_gives_partial_credit_and_says_what_is_missing():
    f1 = metrics.TokenF1()
    score, feedback = f1(ex("the red brick house"), "Answer: a red house")
    assert score == pytest.approx(0.8) and "missing 'brick'" in feedback
    assert not metrics.is_binary(f1) and metrics.is_binary(LABELS)


def test_a_broken_metric_is_named():
    with pytest.raises(ValueError, match="scores must be numbers in"):
        metrics.checked(lambda e, o: 1.5, ex(1), "x")
    with pytest.raises(ValueError, match="feedback must be text"):
        metrics.checked(lambda e, o: (1.0, 3), ex(1), "x")
    assert metrics.checked(lambda e, o: 1, ex(1), "x") == (1.0, "")


# --- data -------------------------------------------------------------------------------------


def test_rows_from_csv_jsonl_and_dataframes_with_any_answer_type(tmp_path):
    rows = [{"q": "capital of France?", "a": "Paris"}, {"q": "2 - 5?", "a": -3}]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    from_file = load_examples(path, input="q", answer="a")
    assert [e.answer for e in from_file] == ["Paris", -3]
    assert from_file[0].fields == rows[0] and from_file[0].problem == "capital of France?"
    # ids from content: the same whatever the order
    again = load_examples(list(reversed(rows)), input="q", answer="a")
    assert {e.id for e in again} == {e.id for e in from_file}
    frame = pd.DataFrame({"text": ["a", "b"], "label": np.array([3, 1200]), "k": ["x", "y"]})
    got = load_examples(frame, input="text", answer="label", id="k")
    assert [e.answer for e in got] == [3, 1200] and type(got[0].answer) is int
    assert [e.id for e in got] == ["x", "y"]
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("text,label\nhi,positive\n")
    assert load_examples(csv_path, input="text", answer="label")[0].answer == "positive"


def test_bad_rows_are_named_before_any_call(tmp_path):
    with pytest.raises(ValueError, match=r"rows\[1\]: no field 'label' \(fields: 'text'\)"):
        load_examples([{"text": "a", "label": "x"}, {"text": "b"}], input="text", answer="label")
    with pytest.raises(ValueError, match=r"rows\[0\]\.text: must be non-empty"):
        load_examples([{"text": " ", "label": "x"}], input="text", answer="label")
    with pytest.raises(ValueError, match=r"DataFrame\[1\]\.label: missing answer"):
        load_examples(
            pd.DataFrame({"t": ["a", "b"], "label": [1.0, np.nan]}), input="t", answer="label"
        )
    with pytest.raises(ValueError, match=r"rows\[1\]: duplicate id '1' rows\[0\]"):
        load_examples([{"t": "a", "i": 1}, {"t": "b", "i": 1}], input="t", answer=None, id="i")
    with pytest.raises(ValueError, match=r"rows\[1\]: the same row as rows\[0\]"):
        load_examples([{"t": "a"}, {"t": "a"}], input="t", answer=None)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncaf\xe9,positive\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv: not UTF-8 text"):
        load_examples(latin, input="text", answer="label")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ValueError, match=r"unknown file type '\.txt'"):
        load_examples(tmp_path / "d.txt", input="text")
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"t": "a"}\n{oops\n')
    with pytest.raises(ValueError, match=r"b.jsonl:2: not JSON"):
        load_examples(broken, input="t", answer=None)


# --- templates --------------------------------------------------------------------------------


def test_templates_fill_from_the_candidate_then_the_example():
    task = LLMTask(
        metric=metrics.ExactMatch(),
        system="{style}\nAnswer in {language}.",
        user="Question ({topic}): {problem}",
    )
    e = Example(
        "e", "Why is the sky blue?", "scattering", None, {"topic": "physics", "language": "en"}
    )
    assert task.messages({"style": "Be brief."}, e) == (
        ("system", "Be brief.\nAnswer in en."),
        ("user", "Question (physics): Why is the sky blue?"),
    )
    with pytest.raises(ValueError, match=r"\{tone\} is neither a component"):
        LLMTask(metric=LABELS, system="{tone}").check({"style": "x"}, e)
    with pytest.raises(ValueError, match="'topic' is both a component"):
        task.check({"style": "x", "topic": "y"}, e)
    with pytest.raises(ValueError, match=r"user=.*literal braces"):
        LLMTask(metric=LABELS, user='{"json": {text}}')
    with pytest.raises(ValueError, match="metric="):
        LLMTask(metric="label accuracy")  # type: ignore[arg-type]


def test_the_aime_task_sends_and_asks_what_it_always_did():
    e = Example("e", "Find x.", 7)
    assert AIME.messages({"a": "One.", "b": "Two."}, e) == (
        ("system", "One.\n\nTwo."),
        ("user", "Find x."),
    )
    trace = Trace(0.0, "### 3", "Incorrect")
    prompt = reflection_prompt("Solve it.", [(e, trace)], task=AIME)
    assert prompt.startswith(
        "You are improving the instruction given to an assistant that solves competition math "
        "problems.\n\nCurrent instruction:"
    )
    assert "\nProblem: Find x.\n" in prompt
    review = reflection_prompt(
        "Label it.",
        [(e, trace)],
        task=LLMTask(metric=LABELS, objective="labels reviews", background="Shop reviews."),
    )
    assert review.startswith(
        "You are improving the instruction given to an assistant that labels reviews.\n\n"
        "Background:\nShop reviews.\n\nCurrent instruction:"
    )
    assert "\nInput: Find x.\n" in review


# --- end to end on the simulated review task --------------------------------------------------


def reviews_csv(tmp_path, n=12, seed=0):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["id", "text", "label"])
        writer.writeheader()
        writer.writerows(synthetic_reviews(n, seed))
    return path


def test_a_12_row_review_csv_reaches_1_on_every_seed(tmp_path):
    train = load_examples(reviews_csv(tmp_path), input="text", answer="label", id="id")
    seed_score = asyncio.run(
        gl.score_prompt("Label the review.", train, task=REVIEWS, time_mode="virtual")
    )
    assert seed_score < 0.5
    for seed in range(16):
        res = gl.optimize_sync(
            "Label the review.",
            train,
            gl.Config(max_metric_calls=2000, target_quality=1.0, seed=seed),
            provider=SimProvider(reflection="deterministic"),
            task_model=TASK_MODEL,
            reflection_model=REFLECTION_MODEL,
            time_mode="virtual",
            task=REVIEWS,
        )
        assert res.stop_reason == "target", (seed, res.stop_reason, res.best_quality)
        rescored = asyncio.run(
            gl.score_prompt(res.best_candidate, train, task=REVIEWS, time_mode="virtual")
        )
        assert rescored == 1.0


def test_the_review_task_over_the_simulated_http_server(tmp_path):
    train = load_examples(reviews_csv(tmp_path, 8, seed=1), input="text", answer="label")

    async def run(url):
        provider = gl.OpenAIProvider(url)
        try:
            return await gl.optimize(
                "Label the review.",
                train,
                gl.Config(max_metric_calls=600, target_quality=1.0, eval_concurrency=16),
                provider=provider,
                task_model=TASK_MODEL,
                reflection_model=REFLECTION_MODEL,
                task=REVIEWS,
            )
        finally:
            await provider.aclose()

    with SimServerProcess(time_scale=0.01) as url:
        res = asyncio.run(run(url))
    assert res.simulated and res.stop_reason == "target" and res.best_quality == 1.0


def test_a_fractional_metric_refuses_a_wilson_bound_and_an_adapter_with_a_task():
    train = load_examples(synthetic_reviews(8), input="text", answer="label")
    f1 = LLMTask(user="{text}", metric=metrics.TokenF1())
    cfg = gl.Config(max_metric_calls=100, target_quality=0.9, target_confidence=0.95)
    with pytest.raises(ValueError, match=r"target_confidence=0\.95 needs a task scored only"):
        gl.optimize_sync("Label it.", train, cfg, time_mode="virtual", task=f1)
    adapter = gl.LLMAdapter(SimProvider(), TASK_MODEL, REFLECTION_MODEL)
    with pytest.raises(ValueError, match="task= or max_tokens= with adapter="):
        gl.optimize_sync("x", train, cfg, adapter=adapter, task=f1)


def test_gepa_runs_the_same_review_task():
    pytest.importorskip("gepa")
    train = load_examples(synthetic_reviews(12), input="text", answer="label")
    res = asyncio.run(
        gl.optimize_gepa(
            "Label the review.",
            train,
            max_metric_calls=400,
            time_mode="virtual",
            task=REVIEWS,
        )
    )
    seed_score = asyncio.run(
        gl.score_prompt("Label the review.", train, task=REVIEWS, time_mode="virtual")
    )
    assert res.best_quality > seed_score
    rescored = asyncio.run(
        gl.score_prompt(res.best_candidate, train, task=REVIEWS, time_mode="virtual")
    )
    assert rescored == pytest.approx(res.best_quality)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("## Your own task")[1].split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) <= 15
    reviews_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # real time: about 15 s of simulated calls
    assert scope["result"].best_quality == 1.0


def test_reply_caps_reach_every_request_and_bad_ones_are_named():
    seen = []

    class Recording(SimProvider):
        async def complete(self, request):
            seen.append((request.purpose, request.max_tokens))
            return await super().complete(request)

    train = load_examples(synthetic_reviews(8), input="text", answer="label")
    cfg = gl.Config(max_metric_calls=40)
    gl.optimize_sync(
        "Label it.",
        train,
        cfg,
        provider=Recording(),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        task=REVIEWS,
        max_tokens=64,
        reflection_max_tokens=512,
    )
    assert {("task", 64), ("reflection", 512)} == set(seen)
    with pytest.raises(ValueError, match="reflection_max_tokens"):
        gl.optimize_sync("x", train, cfg, time_mode="virtual", reflection_max_tokens=0)
    with pytest.raises(ValueError, match="max_tokens"):
        asyncio.run(gl.score_prompt("x", train, task=REVIEWS, max_tokens=-5))


# --- your own evaluator -----------------------------------------------------------------------


def local_classifier(candidate: str, example: Example) -> tuple[float, dict]:
    """A program of the user's own, scored without any LLM call: here the simulated world's
    review classifier run locally."""
    reply = sentiment.classify(candidate, example.problem)
    score, verdict = LABELS(example, reply)
    return score, {"output": reply, "verdict": verdict}


def run_evaluator(evaluator, **kw) -> gl.RunResult:
    train = load_examples(synthetic_reviews(12, seed=3), input="text", answer="label")
    task = gl.EvaluatorTask(evaluator, objective="labels product reviews", binary=True, **kw)
    return gl.optimize_sync(
        "Label the review.",
        train,
        gl.Config(max_metric_calls=1500, target_quality=1.0),
        time_mode="virtual",
        task=task,
    )


def test_sync_and_async_evaluators_improve_on_the_seed():
    threads = set()

    def sync_eval(candidate, example):
        threads.add(threading.current_thread().name)
        return local_classifier(candidate, example)

    async def async_eval(candidate, example):
        await asyncio.sleep(0)
        return local_classifier(candidate, example)

    train = load_examples(synthetic_reviews(12, seed=3), input="text", answer="label")
    seed_score = sum(local_classifier("Label the review.", e)[0] for e in train) / len(train)
    for evaluator in (sync_eval, async_eval):
        res = run_evaluator(evaluator)
        assert res.best_quality > seed_score and res.stop_reason == "target"
    assert threads and all(name.startswith("evaluator") for name in threads)


def test_a_broken_evaluator_stops_the_run_naming_the_example():
    def boom(candidate, example):
        raise KeyError("label")

    with pytest.raises(gl.UserCodeError, match=r"evaluator failed on example 'row-\w+': KeyError"):
        run_evaluator(boom)
    with pytest.raises(gl.UserCodeError, match=r"give a score in \[0, 1\]"):
        run_evaluator(lambda c, e: 2.0)
    with pytest.raises(gl.UserCodeError, match="give text or a dict"):
        run_evaluator(lambda c, e: (1.0, 3))
    with pytest.raises(ValueError, match="threads="):
        gl.EvaluatorTask(boom, threads=0)


def test_the_readme_evaluator_example_runs_as_written(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = readme.split("## Your own task")[1].split("## The simulated world")[0]
    code = blocks.split("```python\n")[2].split("```")[0]
    assert len(code.strip().splitlines()) <= 15

    def my_program(candidate, text):  # the user's own program: here the simulated classifier
        return LABELS.predicted(sentiment.classify(candidate, text))

    train = load_examples(synthetic_reviews(12, seed=3), input="text", answer="label")
    scope = {
        "gl": gl,
        "my_program": my_program,
        "train": train,
        "config": gl.Config(max_metric_calls=1500, target_quality=1.0),
    }
    seed_score = sum(my_program("Label the review.", e.problem) == e.answer for e in train) / 12
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["result"].best_quality > seed_score


# --- fractional scores and the perfect score --------------------------------------------------


def half_credit(candidate: str, example: Example) -> tuple[float, str]:
    """Fractional scores: half for the right label, half for asking for one label."""
    label = LABELS.predicted(sentiment.classify(candidate, example.problem))
    asks = "exactly one label" in candidate.lower()
    reply = sentiment.classify(candidate, example.problem)
    return 0.5 * (label == example.answer) + 0.5 * asks, reply


def test_fractional_scores_go_through_the_ladder_the_front_and_the_target():
    from gepa_lab.lab.plots import comparison_table

    train = load_examples(synthetic_reviews(40, seed=5), input="text", answer="label")
    res = gl.optimize_sync(
        "Label the review.",
        train,
        gl.Config(max_metric_calls=4000, target_quality=1.0, seed=1),
        time_mode="virtual",
        task=gl.EvaluatorTask(half_credit, objective="labels product reviews"),
    )
    assert res.rung_sizes == (8, 40)  # a probe, then the full set
    ev = res.events
    probes = ev[(ev.event == "eval_end") & (ev.rung == 0)].score
    assert any(round(s * 8 * 2) % 2 for s in probes)  # an odd number of half credits on 8
    assert res.stop_reason == "target" and res.best_quality == 1.0
    assert (res.rung_counts["pruned"].sum()) > 0
    table = comparison_table([res])
    assert table.loc["turbo", "best quality"] == 1.0


def test_a_perfect_score_below_1_counts_as_solved():
    train = load_examples(synthetic_reviews(12), input="text", answer="label")

    def capped(candidate, example):
        return 0.9, "as good as it gets"

    runs = {}
    for perfect in (0.9, 1.0):
        runs[perfect] = gl.optimize_sync(
            "Label the review.",
            train,
            gl.Config(max_metric_calls=600),
            time_mode="virtual",
            task=gl.EvaluatorTask(capped, perfect_score=perfect),
        )
    # at 0.9 there is nothing to reflect on; at 1.0 every example is a failure to work on
    assert runs[0.9].reflection_calls == 0 and runs[0.9].stop_reason == "exhausted"
    assert any("no candidate has a failure left" in w for w in runs[0.9].warnings)
    assert runs[1.0].reflection_calls > 0
    with pytest.raises(ValueError, match="perfect_score="):
        gl.EvaluatorTask(capped, perfect_score=0)


def test_json_schema_metric_names_the_violation():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"],
    }
    valid = metrics.JsonSchema(schema)
    assert valid(ex(None), 'Here:\n```json\n{"name": "Ada", "age": 36}\n```') == (
        1.0,
        "Valid JSON that satisfies the schema.",
    )
    score, feedback = valid(ex(None), '{"name": "Ada", "age": -1}')
    assert score == 0.0 and feedback.startswith("Invalid at age: -1 is less than the minimum")
    assert valid(ex(None), '{"name": "Ada"')[1].startswith("Not valid JSON")
    assert "'age' is a required property" in valid(ex(None), '{"name": "Ada"}')[1]
    with pytest.raises(ValueError, match="schema is invalid"):
        metrics.JsonSchema({"type": "banana"})


def test_one_artifact_with_no_data_is_scored_as_a_whole():
    reviews = load_examples(synthetic_reviews(12, seed=7), input="text", answer="label")
    calls = []

    def whole(candidate: str) -> tuple[float, str]:
        """Every review at once: the share labelled right, and what went wrong."""
        calls.append(candidate)
        replies = [sentiment.classify(candidate, e.problem) for e in reviews]
        verdicts = [LABELS(e, r) for e, r in zip(reviews, replies, strict=True)]
        wrong = [f"{r}\n{v[1]}" for r, v in zip(replies, verdicts, strict=True) if not v[0]]
        return sum(v[0] for v in verdicts) / len(reviews), "\n\n".join(wrong)

    res = gl.optimize_sync(
        "Label the review.",
        None,
        gl.Config(max_metric_calls=300, target_quality=1.0),
        time_mode="virtual",
        task=gl.EvaluatorTask(whole, objective="labels product reviews"),
    )
    assert res.rung_sizes == (1,) and res.stop_reason == "target"
    assert whole(res.best_candidate["instruction"])[0] == 1.0 > whole("Label the review.")[0]
    assert all(isinstance(c, str) for c in calls)
    with pytest.raises(ValueError, match=r"trainset=None \(one artifact, no data\) needs"):
        gl.optimize_sync("x", None, gl.Config(max_metric_calls=10), task=REVIEWS)


def test_an_llm_judge_grades_through_the_run_and_its_reason_is_the_feedback():
    from gepa_lab.sim.provider import JUDGE_MODEL

    judged = LLMTask(
        user="{text}",
        metric=metrics.LLMJudge(JUDGE_MODEL, objective="label the review"),
        objective="labels product reviews",
    )
    train = load_examples(synthetic_reviews(12, seed=2), input="text", answer="label")
    provider = SimProvider(reflection="deterministic")
    res = gl.optimize_sync(
        "Label the review.",
        train,
        gl.Config(max_metric_calls=600),
        provider=provider,
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        task=judged,
    )
    seed_score = asyncio.run(
        gl.score_prompt("Label the review.", train, task=judged, time_mode="virtual")
    )
    assert res.best_quality > seed_score
    # one judge call per task call, through the same provider
    assert provider.stats.calls[JUDGE_MODEL] == provider.stats.calls[TASK_MODEL]
    e = train[0]
    score, feedback = asyncio.run(
        judged.evaluate(
            gl.LLMAdapter(SimProvider(), TASK_MODEL, REFLECTION_MODEL), {"instruction": "x"}, e
        )
    )[1:]
    assert feedback.startswith(f"Judge: {score * 10:g}/10.")
    with pytest.raises(ValueError, match="model="):
        metrics.LLMJudge("")


# --- a validation set apart from the training set ---------------------------------------------


def test_with_a_valset_reflections_show_only_training_rows_and_the_valset_judges():
    rows = synthetic_reviews(70, seed=11)
    train = load_examples(rows[:20], input="text", answer="label")
    val = load_examples(rows[20:60], input="text", answer="label")
    held = load_examples(rows[60:], input="text", answer="label")
    seen: list[str] = []

    class Recording(SimProvider):
        async def complete(self, request):
            if request.purpose == "reflection":
                seen.append(request.user)
            return await super().complete(request)

    res = gl.optimize_sync(
        "Label the review.",
        train,
        gl.Config(max_metric_calls=3000, target_quality=1.0),
        provider=Recording(reflection="deterministic"),
        task_model=TASK_MODEL,
        reflection_model=REFLECTION_MODEL,
        time_mode="virtual",
        task=REVIEWS,
        valset=val,
    )
    assert res.rung_sizes == (8, 40)  # the ladder runs on the 40 validation rows
    assert res.stop_reason == "target"

    def score(c, data):
        return asyncio.run(gl.score_prompt(c, data, task=REVIEWS, time_mode="virtual"))

    assert score(res.best_candidate, val) == 1.0 == res.best_quality
    assert score(res.best_candidate, held) > score("Label the review.", held)
    assert seen
    shown = "\n".join(seen)
    assert any(e.problem in shown for e in train)
    assert not any(e.problem in shown for e in val + held)  # nothing leaks into a prompt
    with pytest.raises(ValueError, match="valset= is not supported yet with islands"):
        gl.optimize_sync(
            "x", train, gl.Config(max_metric_calls=10, n_islands=2), task=REVIEWS, valset=val
        )


def test_the_readme_examples_run_over_the_simulated_http_server(tmp_path, monkeypatch):
    """The first and third README blocks, as written, with the run pointed at the simulated
    server (a provider and model names added to the call)."""
    from pathlib import Path

    section = (Path(__file__).parents[1] / "README.md").read_text()
    section = section.split("## Your own task")[1].split("## The simulated world")[0]
    blocks = [b.split("```")[0] for b in section.split("```python\n")[1:]]
    reviews_csv(tmp_path)
    monkeypatch.chdir(tmp_path)
    with SimServerProcess(time_scale=0.002) as url:

        def over_http(*args, **kw):
            async def main():
                provider = gl.OpenAIProvider(url)
                try:
                    return await gl.optimize(
                        *args,
                        provider=provider,
                        task_model=TASK_MODEL,
                        reflection_model=REFLECTION_MODEL,
                        **kw,
                    )
                finally:
                    await provider.aclose()

            return asyncio.run(main())

        monkeypatch.setattr(gl, "optimize_sync", over_http)
        results = []
        for code in (blocks[0], blocks[2]):
            scope: dict = {"gl": gl}
            exec(compile(code, "README.md", "exec"), scope)
            results.append(scope["result"])
    assert all(r.simulated and r.time_mode == "real" for r in results)
    assert results[0].best_quality == 1.0 and results[1].stop_reason == "target"


def test_plain_rows_of_another_task_say_how_to_load_them():
    rows = [{"text": "Not bad at all.", "label": "positive"}]
    with pytest.raises(ValueError, match=r"trainset\[0\]\.problem.*gl\.load_examples\(rows"):
        gl.optimize_sync("x", rows, gl.Config(max_metric_calls=10), task=REVIEWS)


def test_a_run_of_your_own_task_resumes_as_if_it_had_never_stopped(tmp_path):
    train = load_examples(synthetic_reviews(12), input="text", answer="label")

    def run(budget: int, **kw) -> gl.RunResult:
        return gl.optimize_sync(
            "Label it.",
            train,
            gl.Config(max_metric_calls=budget, seed=1),
            provider=SimProvider(reflection="deterministic"),
            task_model=TASK_MODEL,
            reflection_model=REFLECTION_MODEL,
            time_mode="virtual",
            task=REVIEWS,
            **kw,
        )

    first = run(60, run_dir=tmp_path / "run")
    assert first.stop_reason == "budget"
    resumed = run(200, resume=tmp_path / "run")
    straight = run(200)
    assert resumed.provider_stats["cache_hits"] >= first.metric_calls
    assert (resumed.best_candidate, resumed.metric_calls) == (
        straight.best_candidate,
        straight.metric_calls,
    )


async def label_both(candidate, example, lm):
    """A program that labels a pair of reviews, one call each, answering
    'first <label> second <label>': token F1 gives 3/4 for one label wrong."""
    labels = []
    for key in ("first", "second"):
        reply = await lm(example.fields[key], system=candidate["instruction"], step=key)
        labels.append(reply.rsplit("Label:", 1)[-1].strip())
    return f"first {labels[0]} second {labels[1]}"


class FrontWatch:
    """Records, at every full evaluation, the Pareto front with every completed candidate's
    full-set scores."""

    fronts: ClassVar[list] = []

    @staticmethod
    def on_completed(pipe, cand):
        archive = pipe.archive
        scores = {c.id: [t.score for t in c.traces] for c in archive.completed}
        FrontWatch.fronts.append((dict(archive.pareto_front()), scores))


def test_token_f1_goes_through_the_ladder_the_front_the_target_and_the_report(monkeypatch):
    import gepa_lab.api as api
    from gepa_lab.engine.pipeline import Pipeline
    from gepa_lab.lab.plots import comparison_table, plot_quality_over_time

    class Watched(Pipeline):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, on_completed=FrontWatch.on_completed)

    monkeypatch.setattr(api, "Pipeline", Watched)
    FrontWatch.fronts = []
    reviews = synthetic_reviews(90, seed=7)
    rows = [
        {
            "first": a["text"],
            "second": b["text"],
            "labels": f"first {a['label']} second {b['label']}",
        }
        for a, b in zip(reviews[::2], reviews[1::2], strict=True)
    ]
    train = load_examples(rows, input="first", answer="labels")
    task = gl.ProgramTask(label_both, metrics.TokenF1(), objective="labels pairs of reviews")
    assert not task.binary
    res = gl.optimize_sync(
        "Label the review.",
        train,
        gl.Config(max_metric_calls=3000, target_quality=1.0, seed=0),
        time_mode="virtual",
        task=task,
    )
    # The ladder: a probe of 9, then the full set, judged on fractional scores.
    assert res.rung_sizes == (9, 45)
    ev = res.events
    probes = ev[(ev.event == "eval_end") & (ev.rung == 0)].score
    assert any(abs(s * 9 - round(s * 9)) > 1e-9 for s in probes)  # not whole examples
    assert res.rung_counts["pruned"].sum() > 0
    # The front: each member weighs the number of examples it is best on, fractional bests
    # included, and that is at least one.
    fractional_wins = 0
    for front, scores in FrontWatch.fronts:
        tops = [max(col) for col in zip(*scores.values(), strict=True)]
        for member, weight in front.items():
            wins = [p for p, s in enumerate(scores[member]) if s == tops[p] and s > 0]
            assert weight == len(wins) > 0, (member, front)
            fractional_wins += sum(tops[p] < 1 for p in wins)
    assert fractional_wins
    # The target, re-scored; and the figures a report is made of.
    assert res.stop_reason == "target" and res.best_quality == 1.0
    rescored = asyncio.run(
        gl.score_prompt(res.best_candidate, train, task=task, time_mode="virtual")
    )
    assert rescored == 1.0
    assert any(0 < q < 1 for _, q, *_ in res.trace)  # the best improved through F1 values
    assert comparison_table([res]).loc["turbo", "best quality"] == 1.0
    line = plot_quality_over_time([res], target=1.0).axes[0].lines[0]
    assert any(0 < y < 1 for y in line.get_ydata())

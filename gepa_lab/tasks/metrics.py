"""Built-in metrics: how a model's output is scored against an example's reference answer.

A metric is any callable ``metric(example, output) -> float | (float, feedback)`` with the
score in [0, 1]; the feedback text reaches the reflection model, so a good metric says *why*
an output lost points. Each built-in is a small frozen dataclass: its settings are checked
when it is made, and ``binary`` tells the engine whether scores are only 0 or 1 (a Wilson
bound on the target only means something then).

Outputs are free text: the answer is read from its last line (``Answer: x`` and
``Label: x`` prefixes dropped) unless a metric says otherwise.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..llm.provider import ProviderError
from ..protocols import RunAborted, UserCodeError
from .aime import score_answer
from .examples import Example

MetricResult = float | tuple[float, str]


class Metric(Protocol):
    def __call__(self, example: Example, output: str) -> MetricResult: ...


_PREFIX = re.compile(r"^\s*(?:final\s+)?(?:answer|label)\s*[:=-]\s*", re.IGNORECASE)


def final_line(output: str) -> str:
    """The last non-empty line of ``output``, without an ``Answer:``/``Label:`` prefix."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return _PREFIX.sub("", lines[-1]).strip() if lines else ""


def normalize(text: str) -> str:
    """Lower case, punctuation and articles dropped, whitespace collapsed (SQuAD's rule)."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


@dataclass(frozen=True)
class ExactInt:
    """AIME scoring: the last ``### n`` line (else ``\\boxed{n}``) must equal the integer."""

    binary = True

    def __call__(self, example: Example, output: str) -> MetricResult:
        scored = score_answer(output, int(example.answer))
        return scored.value, scored.feedback


@dataclass(frozen=True)
class ExactMatch:
    """The final line equals the reference, after :func:`normalize` (unless ``normalized``
    is False)."""

    normalized: bool = True
    binary = True

    def __call__(self, example: Example, output: str) -> MetricResult:
        got, want = final_line(output), str(example.answer).strip()
        same = normalize(got) == normalize(want) if self.normalized else got == want
        if same:
            return 1.0, f"Correct: {want!r}."
        return 0.0, f"Incorrect: answered {got!r}, expected {want!r}."


@dataclass(frozen=True)
class LabelAccuracy:
    """The label named in the output (the last of ``labels`` it mentions, as a whole word,
    case ignored) must be the reference. Feedback names the confusion, or asks for a label
    when none was given."""

    labels: Sequence[str]
    binary = True

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        if len(labels) < 2 or any(not isinstance(x, str) or not x.strip() for x in labels):
            raise ValueError(f"labels={self.labels!r} is invalid: give at least two label names")
        if len({x.lower() for x in labels}) != len(labels):
            raise ValueError(f"labels={self.labels!r} is invalid: labels must differ")
        object.__setattr__(self, "labels", labels)

    def predicted(self, output: str) -> str | None:
        best, where = None, -1
        for label in self.labels:
            for m in re.finditer(rf"\b{re.escape(label.lower())}\b", output.lower()):
                if m.start() > where:
                    best, where = label, m.start()
        return best

    def __call__(self, example: Example, output: str) -> MetricResult:
        want = str(example.answer)
        if want.lower() not in {x.lower() for x in self.labels}:
            raise ValueError(
                f"example {example.id!r}: answer {want!r} is not one of the labels {self.labels}"
            )
        got = self.predicted(output)
        if got is None:
            names = ", ".join(repr(x) for x in self.labels)
            return 0.0, f"No label found: answer with exactly one of {names}."
        if got.lower() == want.lower():
            return 1.0, f"Correct: {want!r}."
        return 0.0, f"Incorrect: labelled {got!r}, the correct label is {want!r}."


@dataclass(frozen=True)
class Numeric:
    """The last number in the output is within ``tolerance`` of the reference (absolute, or
    relative to it with ``relative=True``)."""

    tolerance: float = 1e-6
    relative: bool = False
    binary = True

    def __post_init__(self) -> None:
        if not isinstance(self.tolerance, int | float) or not self.tolerance >= 0:
            raise ValueError(f"tolerance={self.tolerance!r} is invalid: must be a number >= 0")

    def __call__(self, example: Example, output: str) -> MetricResult:
        want = float(example.answer)
        found = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", output.replace(",", ""))
        if not found:
            return 0.0, f"No number found: the expected answer is {want:g}."
        got = float(found[-1])
        bound = self.tolerance * (abs(want) if self.relative else 1.0)
        if math.isclose(got, want, abs_tol=bound, rel_tol=0.0):
            return 1.0, f"Correct: {got:g}."
        return 0.0, f"Incorrect: answered {got:g}, expected {want:g}."


@dataclass(frozen=True)
class Contains:
    """The output contains the reference (``pattern=None``) or matches ``pattern``, a regular
    expression that may use ``{answer}`` for the escaped reference."""

    pattern: str | None = None
    ignore_case: bool = True
    binary = True

    def __post_init__(self) -> None:
        if self.pattern is not None:
            try:
                re.compile(self.pattern.replace("{answer}", "x"))
            except re.error as exc:
                raise ValueError(f"pattern={self.pattern!r} is invalid: {exc}") from None

    def __call__(self, example: Example, output: str) -> MetricResult:
        answer = re.escape(str(example.answer))
        pattern = answer if self.pattern is None else self.pattern.replace("{answer}", answer)
        flags = re.IGNORECASE if self.ignore_case else 0
        if re.search(pattern, output, flags):
            return 1.0, "Correct: the output has the expected answer."
        return 0.0, f"Incorrect: the output does not contain {str(example.answer)!r}."


@dataclass(frozen=True)
class TokenF1:
    """Token-level F1 between the final line and the reference, both normalized: partial
    credit, so scores are fractional."""

    binary = False

    def __call__(self, example: Example, output: str) -> MetricResult:
        got, want = normalize(final_line(output)).split(), normalize(str(example.answer)).split()
        common = sum((Counter(got) & Counter(want)).values())
        if not got or not want or not common:
            return 0.0, f"No overlap with the expected answer {str(example.answer)!r}."
        precision, recall = common / len(got), common / len(want)
        f1 = 2 * precision * recall / (precision + recall)
        missing = [w for w in want if w not in got]
        extra = [w for w in got if w not in want]
        detail = "; ".join(
            part
            for part in (
                f"missing {' '.join(missing)!r}" if missing else "",
                f"extra {' '.join(extra)!r}" if extra else "",
            )
            if part
        )
        return f1, f"F1 {f1:.2f} against {str(example.answer)!r}" + (
            f": {detail}." if detail else "."
        )


_JSON_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class JsonSchema:
    """The output is valid JSON (the last fenced block if it has one, else the whole output)
    that validates against ``schema`` (JSON Schema, draft 2020-12); feedback names the first
    violation and where it is."""

    schema: Mapping[str, Any]
    binary = True

    def __post_init__(self) -> None:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"schema is invalid: {exc.message}") from None

    def __call__(self, example: Example, output: str) -> MetricResult:
        import jsonschema

        blocks = _JSON_FENCE.findall(output)
        text = (blocks[-1] if blocks else output).strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return 0.0, f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        errors = sorted(
            jsonschema.Draft202012Validator(self.schema).iter_errors(value),
            key=lambda e: list(e.absolute_path),
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "the top level"
            return 0.0, f"Invalid at {where}: {errors[0].message}."
        return 1.0, "Valid JSON that satisfies the schema."


JUDGE_PROMPT = """\
You are grading a response. Task: {objective}

{input_label}: {input}

Reference answer: {answer}

Response:
{output}

Criteria: {rubric}
Reply with a line 'Score: <an integer from 0 to 10>', then a line 'Reason: <one sentence>'."""
_SCORE = re.compile(r"score\s*[:=]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class LLMJudge:
    """A judge model grades each reply from 0 to 10 against the reference, following
    ``rubric``; the score is divided by 10 and the judge's reason is the feedback. The call goes
    through the run's provider stack (limiter, retries, cache, usage, budgets, clock) like every
    other. Use it in an :class:`~gepa_lab.tasks.LLMTask` or a program task."""

    model: str
    rubric: str = "The response must give the reference answer; wording may differ."
    objective: str = "answer the input"
    input_label: str = "Input"
    binary = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model={self.model!r} is invalid: name the judge model")

    def __call__(self, example: Example, output: str) -> MetricResult:
        raise TypeError("LLMJudge calls a model: it is awaited by the task, with judge()")

    async def judge(self, example: Example, output: str, llm: Any) -> tuple[float, str]:
        """The judge's (score in [0, 1], reason); an unreadable verdict scores 0, saying so."""
        prompt = JUDGE_PROMPT.format(
            objective=self.objective,
            input_label=self.input_label,
            input=example.problem,
            answer=example.answer,
            output=output,
            rubric=self.rubric,
        )
        verdict = await llm.chat((("user", prompt),), example.id, model=self.model)
        found = _SCORE.search(verdict)
        if found is None:
            return 0.0, f"The judge gave no score: {verdict.strip()[:200]!r}"
        score = min(10.0, float(found.group(1))) / 10
        reason = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in verdict.splitlines()
                if ln.lower().startswith("reason")
            ),
            verdict.strip(),
        )
        return score, f"Judge: {score * 10:g}/10. {reason}"


def checked(metric: Metric, example: Example, output: str) -> tuple[float, str]:
    """``metric``'s verdict as (score, feedback), with its contract checked: a score in
    [0, 1] and feedback text. A broken metric raises ``ValueError`` naming the example."""
    got: Any = metric(example, output)
    score, feedback = got if isinstance(got, tuple) else (got, "")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ValueError(
            f"the metric returned {score!r} for example {example.id!r}: "
            "scores must be numbers in [0, 1]"
        )
    if not isinstance(feedback, str):
        raise ValueError(
            f"the metric returned feedback of type {type(feedback).__name__} for example "
            f"{example.id!r}: feedback must be text"
        )
    return float(score), feedback


def is_binary(metric: Metric) -> bool:
    """True if ``metric`` declares scores of only 0 and 1 (a user's function is assumed not to)."""
    return bool(getattr(metric, "binary", False))


async def verdict(metric: Metric, example: Example, output: str, llm: Any) -> tuple[float, str]:
    """``metric``'s (score, feedback) on ``output``: awaited through ``llm`` (the run's model
    client) for a judge, checked (:func:`checked`) for any other metric. A metric that fails
    stops the run (:class:`UserCodeError`, naming the example); a judge call that fails fails
    this evaluation only, as any failed call does."""
    try:
        if isinstance(metric, LLMJudge):
            return await metric.judge(example, output, llm)
        return checked(metric, example, output)
    except (ProviderError, RunAborted):
        raise  # a failed call fails this evaluation; an endpoint that is down stops the run
    except Exception as exc:
        raise UserCodeError(
            f"the metric failed on example {example.id!r}: {type(exc).__name__}: {exc}"
        ) from exc

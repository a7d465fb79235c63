"""A simulated text-classification task: product reviews labelled 'positive' or 'negative'.

Most reviews are plain, and the simulated task model labels them right. The rest turn on one
of a few *labelling rules* (sarcasm, a negated complaint, a turn after "but", a returned
product, a buyer who would buy again): without the rule in its instruction the model mostly
reads them literally and gets them wrong, saying why in a sentence the reflection model can
read back (as a skill's failure sentence in the AIME-style world); with it, it gets them
right. An instruction that does not ask for one label sometimes gets the non-answer "mixed",
which the label-accuracy metric's feedback reports. Everything is a function of the review
text and the instruction, so the model behaves the same in process and over HTTP.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache

from .hashing import unit
from .skills import Habit

LABELS = ("positive", "negative")
WRONG_WITHOUT_RULE = 0.8  # a review that turns on a rule the instruction lacks, read literally
NON_ANSWER = 0.3  # without a one-label instruction, the share of replies that say "mixed"
WORDING = 0.3  # share of each draw that depends on the instruction's exact wording


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    signature: str  # lower-case phrase in every review that turns on the rule
    clauses: tuple[tuple[str, str], ...]  # (review text, its label)
    hint: str
    cues: tuple[str, ...]  # lower-case phrases; any of them in an instruction states the rule
    failure: str


RULES: tuple[Rule, ...] = (
    Rule(
        "sarcasm",
        "yeah, right",
        (
            ("'Built to last.' Yeah, right: the handle snapped in a week.", "negative"),
            (
                "Oh sure, 'easy setup'. Yeah, right, three hours and it still won't connect.",
                "negative",
            ),
        ),
        "Sarcastic praise (such as 'yeah, right') means the opposite: the review is negative.",
        ("sarcas",),
        "I took the praise at face value and missed the sarcasm.",
    ),
    Rule(
        "negation",
        "not bad",
        (
            ("Not bad at all: it does exactly what it says.", "positive"),
            ("Honestly not bad, and the battery lasts for days.", "positive"),
        ),
        "A negated complaint such as 'not bad' is praise: the review is positive.",
        ("negated complaint",),
        "I saw a complaint word and ignored the negation in front of it.",
    ),
    Rule(
        "contrast",
        "but in the end",
        (
            ("Setup was a pain, but in the end it works beautifully.", "positive"),
            ("It looked lovely in the photos, but in the end it stopped working.", "negative"),
            ("The first week was rough, but in the end it won me over.", "positive"),
        ),
        "When a review turns with 'but', the part after the turn decides the label.",
        ("after the turn",),
        "I went by the opening of the review, not by what came after the turn.",
    ),
    Rule(
        "returned",
        "returned it",
        (
            ("Gorgeous design and a great price, and I returned it the next day.", "negative"),
            ("Five stars for the packaging; returned it after one use.", "negative"),
        ),
        "A reviewer who returned the product is unhappy, whatever the praise: negative.",
        ("returned the product",),
        "I counted the compliments and overlooked that the reviewer sent it back.",
    ),
    Rule(
        "rebuy",
        "would buy again",
        (
            ("The box arrived dented and the manual is useless; would buy again.", "positive"),
            ("Loud, heavy and ugly, and I would buy again tomorrow.", "positive"),
        ),
        "A reviewer who would buy again is satisfied, whatever the complaints: positive.",
        ("would buy again",),
        "I counted the complaints and overlooked that the reviewer would buy it again.",
    ),
)
PLAIN: tuple[tuple[str, str], ...] = (
    ("I love it, it works perfectly.", "positive"),
    ("Great value and very comfortable.", "positive"),
    ("Terrible quality: it broke at once.", "negative"),
    ("Awful customer service and a flimsy build.", "negative"),
)
PRODUCTS = ("kettle", "lamp", "backpack", "headset", "blender", "chair", "tent", "keyboard")
REVIEW_PREFIX = "Review of the"  # every review opens so: "Review of the kettle: ..."
LABEL_FORMAT = Habit(
    "one-label",
    "Answer with exactly one label, on the last line, as 'Label: positive' or 'Label: negative'.",
    ("exactly one label",),
    0.0,
    "No label found",  # the start of gepa_lab.tasks.metrics.LabelAccuracy's feedback
)


@dataclass(frozen=True, slots=True)
class Review:
    """What the simulated task model knows about a review from its text."""

    rule: Rule | None
    label: str


def shows_reviews(text: str) -> bool:
    """True if ``text`` (a reflection request, say) shows reviews of this world."""
    return REVIEW_PREFIX.lower() in text.lower()


@lru_cache(maxsize=65536)
def decode(text: str) -> Review | None:
    """The review in ``text`` (a user message), or None if it holds none of this world's."""
    low = text.lower()
    for rule in RULES:
        for clause, label in rule.clauses:
            if clause.lower() in low:
                return Review(rule, label)
    for clause, label in PLAIN:
        if clause.lower() in low:
            return Review(None, label)
    return None


def classify(instruction: str, text: str) -> str:
    """The task model's reply to a review: a sentence, then ``Label: <label>``."""
    review = decode(text)
    assert review is not None, "not a review of the simulated world"
    low = instruction.lower()
    draw = (1 - WORDING) * unit("classify", text) + WORDING * unit("classify", text, instruction)
    if (
        not any(c in low for c in LABEL_FORMAT.cues)
        and unit("mixed", text, instruction) < NON_ANSWER
    ):
        return "There is praise and criticism here.\nLabel: mixed"
    rule = review.rule
    if rule is not None and not any(c in low for c in rule.cues) and draw < WRONG_WITHOUT_RULE:
        wrong = LABELS[1 - LABELS.index(review.label)]
        return f"{rule.failure}\nLabel: {wrong}"
    return f"Read as a whole, the reviewer's verdict is clear.\nLabel: {review.label}"


def synthetic_reviews(
    n: int, seed: int = 0, plain_share: float = 0.3, exclude: Collection[str] = ()
) -> list[dict[str, str]]:
    """``n`` reviews as rows ``{"id", "text", "label"}``, the same for the same arguments:
    about ``plain_share`` plain ones, the rest spread over the labelling rules. Texts are
    unique and none is in ``exclude`` (a training set's texts, for a held-out set); at most
    ``len(PRODUCTS)`` times the number of clauses (128) exist."""
    clauses = [c for rule in RULES for c in rule.clauses]
    limit = len(PRODUCTS) * (len(clauses) + len(PLAIN)) - len(set(exclude))
    if not 1 <= n <= limit:
        raise ValueError(f"synthetic_reviews: n={n} is invalid: must be in 1..{limit}")
    rng = random.Random(f"gepa_lab.sim.sentiment/{seed}")
    rows: list[dict[str, str]] = []
    seen: set[str] = set(exclude)
    while len(rows) < n:
        clause, label = rng.choice(PLAIN if rng.random() < plain_share else clauses)
        text = f"{REVIEW_PREFIX} {rng.choice(PRODUCTS)}: {clause}"
        if text in seen:
            continue
        seen.add(text)
        rows.append({"id": f"review-{seed}-{len(rows):03d}", "text": text, "label": label})
    return rows

"""The simulated world's vocabulary: the skills AIME-style problems need, and how text shows them.

Each skill has four faces, which is what makes reflection meaningful in the simulation:
problem clauses (a problem that needs the skill reads like one), a hint (what a good instruction
says), cues (words in an instruction that count as covering the skill) and a failure sentence
(what the task model writes when it fails for lack of the skill, which the reflection model can
read back).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Skill:
    key: str
    clauses: tuple[str, ...]  # templates; {a} {b} {c} are filled with integers
    signature: str  # lower-case phrase present in every clause (how a problem is recognised)
    hint: str
    cues: tuple[str, ...]  # lower-case phrases; any of them in an instruction covers the skill
    failure: str


SKILLS: tuple[Skill, ...] = (
    Skill(
        "modular",
        (
            "Find the remainder when {a}^{b} + {c} is divided by 1000.",
            "Find the remainder when the product of the first {a} odd numbers is divided by 1000.",
        ),
        "remainder when",
        "For remainders modulo 1000, work modulo 8 and modulo 125 separately and combine them "
        "with the Chinese Remainder Theorem.",
        ("chinese remainder", "modulo 8 and modulo 125"),
        "I reduced the large power directly modulo 1000 and lost track of the residues.",
    ),
    Skill(
        "counting",
        (
            "How many ordered triples of positive integers (x, y, z) satisfy x + y + z = {a}?",
            "How many ordered pairs of subsets of a {a}-element set are disjoint?",
        ),
        "how many ordered",
        "When counting arrangements, use stars and bars or complementary counting, and check "
        "for overcounting.",
        ("overcount", "stars and bars"),
        "I counted the cases one by one and probably overcounted the symmetric arrangements.",
    ),
    Skill(
        "probability",
        (
            "The probability that {a} fair coins show more heads than tails is m/n.",
            "A point is chosen at random; the probability that it lies within {a} units of a "
            "vertex is m/n.",
        ),
        "the probability",
        "For a probability written as m/n, reduce the fraction to lowest terms before computing "
        "m + n.",
        ("lowest terms",),
        "I found the probability but did not reduce the fraction to lowest terms before adding.",
    ),
    Skill(
        "geometry",
        (
            "In triangle ABC, AB = {a}, BC = {b} and CA = {c}; point D on BC makes AD bisect "
            "angle A.",
            "A circle is inscribed in triangle PQR with PQ = {a} and QR = {b}.",
        ),
        "triangle",
        "In geometry problems, look for similar triangles and use the angle bisector theorem or "
        "the power of a point.",
        ("similar triangles", "power of a point"),
        "I set up coordinates for the triangle but missed the similar triangles that give the key "
        "ratio.",
    ),
    Skill(
        "complex",
        (
            "Let z be a complex number with |z| = {a} and z^{b} real.",
            "The complex number w satisfies w^{a} = 1 and w is not {b}.",
        ),
        "complex number",
        "For complex numbers, write them in polar form and use roots of unity.",
        ("polar form", "roots of unity"),
        "I expanded the complex number algebraically instead of using polar form, and the "
        "algebra went wrong.",
    ),
    Skill(
        "polynomial",
        (
            "The polynomial x^3 - {a}x^2 + {b}x - {c} has three real roots r, s and t.",
            "The polynomial P(x) = x^4 + {a}x + {b} has roots whose squares sum to {c}.",
        ),
        "the polynomial",
        "For polynomial roots, use Vieta's formulas instead of solving for the roots.",
        ("vieta",),
        "I tried to solve for the roots of the polynomial explicitly instead of using Vieta's "
        "relations.",
    ),
    Skill(
        "sequence",
        (
            "A sequence has a_1 = {a} and a_(n+1) = a_n^2 - {b} a_n + {c}.",
            "The terms of a sequence satisfy a_n = a_(n-1) + a_(n-2) mod {a}, starting from {b} "
            "and {c}.",
        ),
        "a sequence",
        "For recursive sequences, compute the first several terms and look for a pattern or a "
        "period.",
        ("first several terms", "look for a period"),
        "I guessed a closed form for the sequence without computing early terms to check the "
        "pattern.",
    ),
    Skill(
        "logarithm",
        (
            "Positive reals x and y satisfy log_{a}(x) + log_{b}(y) = {c}.",
            "The equation log_{a}(x) = log_{b}(x + {c}) has a positive solution x.",
        ),
        "log_",
        "For logarithm equations, convert everything to a common base with the change-of-base "
        "formula.",
        ("change-of-base", "common base"),
        "I combined logarithms with different bases without converting them first.",
    ),
    Skill(
        "divisors",
        (
            "Consider the positive divisors of {a}{b}{c} that are perfect squares.",
            "Count the positive divisors of {a}! that are multiples of {b}.",
        ),
        "divisors of",
        "For divisor questions, write the prime factorization first and count with the exponents.",
        ("prime factorization",),
        "I listed the divisors by hand instead of factoring, and missed some of them.",
    ),
    Skill(
        "extremal",
        (
            "Find the maximum possible value of xy + yz + zx given x + y + z = {a}.",
            "Find the minimum possible value of x^2 + {a}/x over positive reals x.",
        ),
        "possible value of",
        "For maximum or minimum values, use AM-GM or Cauchy-Schwarz and check when equality holds.",
        ("am-gm", "cauchy-schwarz", "equality holds"),
        "I found a bound but never checked that equality can hold, so the extremum is off.",
    ),
    Skill(
        "digits",
        (
            "Consider positive integers below {a}000 whose digits are strictly increasing.",
            "Consider integers whose base-{a} digits sum to {b}.",
        ),
        "digits",
        "For digit problems, do careful casework on the number of digits and the leading digit.",
        ("casework",),
        "I skipped the casework on the leading digit and miscounted the numbers.",
    ),
    Skill(
        "functional",
        (
            "The function f satisfies f(x) + {a} f(1 - x) = x^2 for all real x.",
            "The function g satisfies g(x) + g(1/x) = {a} for all nonzero x.",
        ),
        "the function",
        "For functional equations, substitute paired values such as x and 1 - x and solve the "
        "resulting system.",
        ("paired values", "solve the resulting system"),
        "I plugged arbitrary numbers into the function instead of substituting paired values.",
    ),
)

SKILL_BY_KEY = {s.key: s for s in SKILLS}


@dataclass(frozen=True, slots=True)
class Habit:
    """A general instruction habit: not tied to a skill, it shifts accuracy for every problem."""

    key: str
    hint: str
    cues: tuple[str, ...]
    effect: float  # added to the probability of a right answer
    failure: str = ""  # what a wrong answer says when the habit was missing (if it matters)


FORMAT = Habit(
    "format",
    "End your response with a final line of the form '### <answer>', where <answer> is an "
    "integer from 0 to 999.",
    ("###",),
    0.0,
)
VERIFY = Habit(
    "verify",
    "Before answering, double-check the arithmetic and verify that the answer satisfies every "
    "condition.",
    ("double-check", "verify"),
    0.08,
    "The computation got long and I may have made an arithmetic slip that I did not double-check.",
)
STEPS = Habit(
    "steps",
    "Reason step by step.",
    ("step by step",),
    0.04,
    "I jumped to the answer without writing out my reasoning.",
)
HABITS: tuple[Habit, ...] = (FORMAT, VERIFY, STEPS)

# The AIME-style worlds' seed instruction, and the reference that states every hint and habit
# the simulated task model knows: what a well-written instruction reaches sets their targets.
SEED_PROMPT = "You are a helpful assistant. Solve the math problem."
REFERENCE = "\n".join([SEED_PROMPT, *(s.hint for s in SKILLS), *(h.hint for h in HABITS)])

# The shortcut of the "deceptive" landscape: its phrase lifts every problem at once, but while it
# is there the model answers from memory and the skill hints stop counting (a local optimum).
SHORTCUT = Habit(
    "shortcut",
    "Recall the standard formula for this type of problem and apply it directly.",
    ("standard formula",),
    0.0,  # its effect is the landscape's ``shortcut``
    "I worked it all out from scratch, where the standard formula would have been quicker.",
)

# Sentences a reflection model sometimes adds on its own. Harmful ones lower accuracy.
NOISE: tuple[Habit, ...] = (
    Habit("concise", "Be concise.", ("be concise",), 0.0),
    Habit("clear", "Write clearly and define your variables.", ("define your variables",), 0.0),
    Habit(
        "hasty",
        "Answer as quickly as possible without showing work.",
        ("as quickly as possible",),
        -0.15,
    ),
    Habit("instinct", "Trust your first instinct.", ("first instinct",), -0.08),
    Habit("guess", "If unsure, guess a round number.", ("round number",), -0.10),
)

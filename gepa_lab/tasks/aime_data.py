"""Real AIME problems, split the way GEPA's AIME example splits them.

GEPA's example uses the 90 problems of ``AI-MO/aimo-validation-aime`` (AIME 2022-2024),
shuffled with a fixed seed and halved into 45 training and 45 validation problems, and AIME 2025
(``MathArena/aime_2025``, 30 problems) as the held-out test. :func:`load_aime` gives the same
three sets, from the Hugging Face hub (through the optional ``datasets`` package, which caches
what it downloads) or from local JSONL, CSV or Parquet files with ``problem`` and ``answer``
columns (``solution`` optional). Offline with no cache, it says so and how to get the data,
instead of hanging or failing deep inside a download.

Real problems need a real model: the simulated world answers from its own synthetic problems'
hidden structure and would score these at chance.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .examples import Example, examples_from_rows

TRAIN_VAL_DATASET = "AI-MO/aimo-validation-aime"
TEST_DATASET = "MathArena/aime_2025"
SPLIT_SEED = 0  # GEPA's example shuffles with this seed before halving


class AimeDataUnavailable(RuntimeError):
    """The AIME data cannot be loaded here; the message says what to do."""


@dataclass(frozen=True)
class AimeSplits:
    train: list[Example]
    val: list[Example]
    test: list[Example]
    source: str  # where the problems came from, for reports


def halve(examples: list[Example], seed: int = SPLIT_SEED) -> tuple[list[Example], list[Example]]:
    """Shuffle with ``seed`` and cut in two halves (the first one larger when odd): GEPA's
    45/45 train/validation split of the 90 AIME 2022-2024 problems."""
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    cut = (len(shuffled) + 1) // 2
    return shuffled[:cut], shuffled[cut:]


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a local ``.jsonl``, ``.json``, ``.csv`` or ``.parquet`` file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such data file: {p}")
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{p}:{n}: not a JSON object: {exc.msg}") from None
        return rows
    if suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError(f"{p}: expected a JSON list of rows")
        return data
    if suffix == ".csv":
        return pd.read_csv(p, dtype=str, keep_default_na=False).to_dict(orient="records")
    if suffix == ".parquet":
        try:
            frame = pd.read_parquet(p)
        except ImportError as exc:
            raise AimeDataUnavailable(
                f"reading {p} needs pyarrow: pip install pyarrow (or convert it to JSONL/CSV)"
            ) from exc
        return frame.to_dict(orient="records")
    raise ValueError(f"{p}: unknown data format {suffix!r}: use .jsonl, .json, .csv or .parquet")


def _from_hub(name: str, split: str) -> list[dict[str, Any]]:
    try:
        import datasets
    except ImportError as exc:
        raise AimeDataUnavailable(
            f"loading {name} from the Hugging Face hub needs the datasets package: "
            "pip install 'gepa-lab[aime]', or pass local files (path=..., test_path=...)"
        ) from exc
    try:
        return list(datasets.load_dataset(name, split=split))
    except Exception as exc:  # offline, no cache, hub errors: all end the same way for the user
        raise AimeDataUnavailable(
            f"could not load {name} (split {split!r}) from the Hugging Face hub or its cache "
            f"({type(exc).__name__}: {exc}). Offline, load it once on a connected machine "
            "(the cache is reused), or pass local JSONL/CSV/Parquet files with 'problem' and "
            "'answer' columns (path=..., test_path=...)."
        ) from exc


def load_aime(path: str | Path | None = None, test_path: str | Path | None = None) -> AimeSplits:
    """The 45/45 AIME 2022-2024 train/validation split and the AIME 2025 test.

    ``path`` (the 90 problems) and ``test_path`` (AIME 2025) are local files; each one not given
    comes from the hub (or the ``datasets`` cache). Rows are validated like any data set: a
    malformed row is named before any call is made.
    """
    rows = read_rows(path) if path is not None else _from_hub(TRAIN_VAL_DATASET, "train")
    test_rows = read_rows(test_path) if test_path is not None else _from_hub(TEST_DATASET, "train")
    train, val = halve(examples_from_rows(rows, str(path or TRAIN_VAL_DATASET)))
    test = examples_from_rows(test_rows, str(test_path or TEST_DATASET))
    source = f"{path or TRAIN_VAL_DATASET} (45/45 split) and {test_path or TEST_DATASET}"
    return AimeSplits(train, val, test, source)

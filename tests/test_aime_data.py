"""Real AIME data: GEPA's 45/45 split, local files, and a clear message offline."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pandas as pd
import pytest

from gepa_lab.tasks.aime_data import halve, load_aime, read_rows
from gepa_lab.tasks.examples import Example


def rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"p{i}", "problem": f"Problem {i}?", "answer": str(i % 1000), "solution": "..."}
        for i in range(start, start + n)
    ]


def write(path, data: list[dict]):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
    elif path.suffix == ".csv":
        pd.DataFrame(data).to_csv(path, index=False)
    else:
        pd.DataFrame(data).to_parquet(path)
    return path


def test_halve_is_gepas_seeded_shuffle_cut_in_two():
    examples = [Example(f"p{i}", f"q{i}", i) for i in range(90)]
    train, val = halve(examples)
    assert len(train) == len(val) == 45
    expected = list(examples)
    random.Random(0).shuffle(expected)
    assert train + val == expected
    assert halve(examples) == (train, val)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_local_files_give_the_three_sets(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    main = write(tmp_path / f"aime{suffix}", rows(90))
    test = write(tmp_path / f"aime2025{suffix}", rows(30, start=500))
    splits = load_aime(main, test)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (45, 45, 30)
    assert {e.id for e in splits.train}.isdisjoint(e.id for e in splits.val)
    assert splits.test[0] == Example("p500", "Problem 500?", 500, "...")
    assert str(main) in splits.source and "45/45" in splits.source


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data file"):
        read_rows(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "x", "answer": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a JSON object"):
        read_rows(bad)
    (tmp_path / "a.txt").write_text("")
    with pytest.raises(ValueError, match=r"unknown data format '\.txt'"):
        read_rows(tmp_path / "a.txt")
    broken = write(tmp_path / "broken.jsonl", [*rows(3), {"problem": "no answer"}])
    with pytest.raises(ValueError, match=r"broken.jsonl\[3\].answer"):
        load_aime(broken, write(tmp_path / "t.jsonl", rows(2)))


def test_offline_without_a_cache_says_what_to_do(tmp_path):
    pytest.importorskip("datasets")
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    code = (
        "from gepa_lab.tasks.aime_data import AimeDataUnavailable, load_aime\n"
        "try:\n    load_aime()\nexcept AimeDataUnavailable as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert "could not load AI-MO/aimo-validation-aime" in out.stdout
    assert "Offline, load it once on a connected machine" in out.stdout
    assert "path=..., test_path=..." in out.stdout

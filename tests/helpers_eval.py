"""Shared fixtures data for the suite, report and CLI tests (tests/data/eval).

The fixture run: 30 OCR-VQA-style questions about 6 covers (6 title, 6 author, 6 genre,
12 yes/no), gold answers in ``test.ids.jsonl`` (the layout ``vqaft prepare`` writes), and two
models' predictions without gold answers. Hand-counted exact-match results:

=========  ========  ========  =======================================
group      ft        base      paired (ft right & base wrong / reverse)
=========  ========  ========  =======================================
All        25 / 30   20 / 30   7 / 2   -> McNemar p = 2·46/512 = 0.1796875
Title      4 / 6     3 / 6     2 / 1
Author     5 / 6     4 / 6     1 / 0
Genre      5 / 6     5 / 6     1 / 1
Yes/No     11 / 12   8 / 12    3 / 0   -> McNemar p = 2/8 = 0.25
=========  ========  ========  =======================================

``seed_ft.jsonl`` / ``seed_base.jsonl`` are in the cookbook's own result format (integer ids,
no question): 10 lines each, ft 8/10 exact, base 3/10, discordant 5 / 0 -> p = 0.0625.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "eval"
FT = DATA / "ft.jsonl"
BASE = DATA / "base.jsonl"
GOLD = DATA / "test.ids.jsonl"
SEED_FT = DATA / "seed_ft.jsonl"
SEED_BASE = DATA / "seed_base.jsonl"

MCNEMAR_ALL = 92 / 512
MCNEMAR_YES_NO = 0.25


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Write rows (objects, or raw strings written as they are) one per line."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

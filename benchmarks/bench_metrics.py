"""Benchmark: score (prediction, gold) pairs with exact + lenient + normalized + fuzzy + anls.

Ours: each built-in evaluator's vectorised ``score_batch`` over all pairs.
Baseline: a straightforward per-pair Python loop over the same five metrics (the same rules,
called once per pair: ``str.strip``/``lower``, ``normalize_answer``, ``fuzz.ratio``,
``Levenshtein.normalized_distance``), and the per-item ``Evaluator.score`` API in a loop. The
loops are timed on a subsample and extrapolated linearly to the full size (they are linear in
the number of pairs); the output says so.

The data imitate an OCR-VQA prediction set: 40% yes/no, 20% genres, 20% titles, 20% authors;
about two thirds of the predictions equal the gold answer, the rest differ in case or
punctuation, carry typos, are verbose, or are wrong.

Run: ``python benchmarks/bench_metrics.py [--pairs 1000000] [--loop-sample 100000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Sequence

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein
from rapidfuzz.utils import default_process

from vqaft.datasets.ocr_vqa_questions import CATEGORIES
from vqaft.evaluate import create_evaluator, normalize_answer, score_batch

METRICS = ("exact", "lenient", "normalized", "fuzzy", "anls")

_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "time wrinkle garden secret history river night ocean guide complete kitchen travel "
    "modern art science love war house stone light dark silent winter summer city road "
    "journey mountain forest island children family cooking world america england paris "
    "programming python data design music photography body mind spirit healing prayer "
    "law business money investing leadership story stories tales poems mystery murder "
    "dragon kingdom empire lost found last first little big great new old golden red "
    "blue"
).split()
_FIRST = (  # noqa: SIM905 - a word list reads better as text
    "John Mary James Patricia Robert Jennifer Michael Linda William Elizabeth David "
    "Susan Richard Jessica Joseph Sarah Thomas Karen Charles Nancy Daniel Lisa Matthew "
    "Betty"
).split()
_LAST = (  # noqa: SIM905 - a word list reads better as text
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez "
    "Thompson White"
).split()


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    words = np.array([w.capitalize() for w in _WORDS], dtype=object)
    lengths = rng.integers(2, 9, size=n)
    picks = words[rng.integers(0, len(words), size=(n, 8))]
    titles = [" ".join(row[:k]) for row, k in zip(picks, lengths, strict=True)]
    extras = rng.random((n, 3))
    for i in np.flatnonzero(extras[:, 0] < 0.3):
        titles[i] = "The " + titles[i]
    for i in np.flatnonzero(extras[:, 1] < 0.25):
        titles[i] += f": A {words[i % len(words)]} Guide"
    for i in np.flatnonzero(extras[:, 2] < 0.1):
        titles[i] += f" ({i % 11 + 1}th Edition)"
    return titles


def _authors(rng: np.random.Generator, n: int) -> list[str]:
    first = rng.choice(_FIRST, size=n)
    last = rng.choice(_LAST, size=n)
    middle = rng.choice([f" {c}." for c in "ABCDEFGHJKLMNPRSTW"], size=n)
    use_middle = rng.random(n) < 0.3
    return [
        f"{f}{m if u else ''} {la}"
        for f, m, u, la in zip(first, middle, use_middle, last, strict=True)
    ]


def _typo(text: str, rng: np.random.Generator) -> str:
    chars = list(text)
    for _ in range(int(rng.integers(1, 3))):
        if not chars:
            break
        i = int(rng.integers(0, len(chars)))
        op = rng.integers(0, 3)
        if op == 0:
            del chars[i]
        elif op == 1:
            chars[i] = chr(int(rng.integers(97, 123)))
        else:
            chars.insert(i, chr(int(rng.integers(97, 123))))
    return "".join(chars)


def make_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` (prediction, gold) pairs that look like an OCR-VQA prediction set."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(4, size=n, p=[0.4, 0.2, 0.2, 0.2])
    fates = rng.choice(5, size=n, p=[0.66, 0.1, 0.08, 0.08, 0.08])
    golds = np.empty(n, dtype=object)
    yes_no = kinds == 0
    golds[yes_no] = np.where(rng.random(int(yes_no.sum())) < 0.5, "Yes", "No")
    genre = kinds == 1
    golds[genre] = rng.choice(np.array(CATEGORIES, dtype=object), size=int(genre.sum()))
    title = kinds == 2
    golds[title] = _titles(rng, int(title.sum()))
    author = kinds == 3
    golds[author] = _authors(rng, int(author.sum()))
    gold_list: list[str] = golds.tolist()
    predictions = list(gold_list)
    wrong_titles = _titles(rng, int((fates == 4).sum()))
    for k, i in enumerate(np.flatnonzero(fates == 4)):
        g = gold_list[i]
        predictions[i] = "No" if g == "Yes" else ("Yes" if g == "No" else wrong_titles[k])
    for i in np.flatnonzero(fates == 1):
        predictions[i] = gold_list[i].lower() + ("." if i % 2 else "")
    for i in np.flatnonzero(fates == 2):
        predictions[i] = _typo(gold_list[i], rng)
    for i in np.flatnonzero(fates == 3):
        predictions[i] = f"**Answer:** {gold_list[i]}.\n\nThe cover shows it clearly."
    return predictions, gold_list


def plain_loop(predictions: Sequence[str], golds: Sequence[str]) -> np.ndarray:
    """The five metrics, one pair at a time, written the straightforward way."""
    out = np.empty((len(predictions), 5), dtype=np.float64)
    for i, (p, g) in enumerate(zip(predictions, golds, strict=True)):
        exact = p.strip() == g.strip()
        pl, gl = p.strip().lower(), g.strip().lower()
        lenient = pl == gl or (bool(gl) and gl in pl)
        normalized = normalize_answer(p) == normalize_answer(g)
        similarity = fuzz.ratio(p, g, processor=default_process)
        pa, ga = " ".join(p.split()).lower(), " ".join(g.split()).lower()
        distance = Levenshtein.normalized_distance(pa, ga)
        anls = 1.0 - distance if distance < 0.5 else 0.0
        out[i] = (exact, lenient, normalized, similarity / 100.0, anls)
    return out


def api_loop(predictions: Sequence[str], golds: Sequence[str]) -> np.ndarray:
    """The five metrics through the per-item ``Evaluator.score`` API."""
    evaluators = [create_evaluator(name) for name in METRICS]
    out = np.empty((len(predictions), 5), dtype=np.float64)
    for i, (p, g) in enumerate(zip(predictions, golds, strict=True)):
        out[i] = [e.score(p, [g]).value for e in evaluators]
    return out


def vectorised(
    predictions: Sequence[str], golds: Sequence[str], timings: dict[str, float] | None = None
) -> np.ndarray:
    """The five metrics through each evaluator's ``score_batch``."""
    columns = []
    for name in METRICS:
        evaluator = create_evaluator(name)
        start = time.perf_counter()
        columns.append(score_batch(evaluator, predictions, golds).values)
        if timings is not None:
            timings[name] = time.perf_counter() - start
    return np.column_stack(columns)


def _timed(function: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--loop-sample", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    start = time.perf_counter()
    predictions, golds = make_pairs(args.pairs, args.seed)
    print(
        f"generated {args.pairs:,} pairs in {time.perf_counter() - start:.1f} s "
        f"({len(set(predictions)):,} distinct predictions, {len(set(golds)):,} distinct golds)"
    )

    timings: dict[str, float] = {}
    ours_s, ours = _timed(lambda: vectorised(predictions, golds, timings))
    print(f"ours (score_batch, 5 metrics): {ours_s:.2f} s for {args.pairs:,} pairs")
    for name in METRICS:
        print(f"    {name:<10} {timings[name]:.2f} s")

    sample = min(args.loop_sample, args.pairs)
    scale = args.pairs / sample
    sub_p, sub_g = predictions[:sample], golds[:sample]
    plain_s, plain = _timed(lambda: plain_loop(sub_p, sub_g))
    api_s, api = _timed(lambda: api_loop(sub_p, sub_g))
    note = "" if sample == args.pairs else f", timed on {sample:,} pairs and scaled x{scale:g}"
    print(f"baseline plain per-pair loop: {plain_s * scale:.1f} s{note}")
    print(f"baseline per-item Evaluator.score loop: {api_s * scale:.1f} s{note}")
    print(f"ratio plain loop / ours: {plain_s * scale / ours_s:.1f}x")
    print(f"ratio per-item API / ours: {api_s * scale / ours_s:.1f}x")

    same_plain = np.array_equal(plain, ours[:sample])
    same_api = np.array_equal(api, ours[:sample])
    print(f"identical results on the sample: plain loop {same_plain}, per-item API {same_api}")
    means = ", ".join(f"{n} {m:.3f}" for n, m in zip(METRICS, ours.mean(axis=0), strict=True))
    print(f"means: {means}")
    if not (same_plain and same_api):
        raise SystemExit("results differ between the vectorised and the per-pair paths")


if __name__ == "__main__":
    main()

"""Benchmark: judge economy -- requests to judge 1,000 answers, ours against the seed's way.

The seed (the cookbook) sends one judge request per answer. ``llm_judge`` decides exact
matches and yes/no questions in code, sends the rest ``batch_size`` at a time, and keeps a
cache. Both run against the same local fake OpenAI server (``vqaft.testing.FakeOpenAI``)
through the real ``openai`` SDK, whose request log does the counting.

The prediction set imitates a seed run on OCR-VQA: real titles, authors and genres from the
catalogue shipped with vqaft; a quarter each of title, author, genre and yes/no questions;
about two thirds of the answers equal to the gold answer; the rest drop a subtitle or a
middle initial, change case or punctuation, give the surname only, name another book, author
or genre, or flip a yes/no.

The fake judge rates each item with a fixed string-similarity rule (rapidfuzz ``ratio`` in
four bands), so a second run with ``batch_size=1`` must give the items sent to the judge the
same ratings as the batched run; the script checks that.

Run: ``python benchmarks/bench_judge.py [--answers 1000] [--batch-size 20] [--latency 0.02]``
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from vqaft.datasets.ocr_vqa_questions import (
    AUTHOR_QUESTIONS,
    CATEGORIES,
    GENRE_QUESTIONS,
    TITLE_QUESTION,
    related_question,
)
from vqaft.datasets.synthetic_catalogue import load_catalogue, parse_title
from vqaft.evaluate.judge import LLMJudge
from vqaft.evaluate.judge_prompt import DEFAULT_PROMPT, JudgeItem, build_messages, response_format
from vqaft.testing import ChatRequest, FakeOpenAI

MODEL = "gpt-4o"


# -- the fake judge -------------------------------------------------------------------------


def rule_rating(answer: str, gold: Sequence[str]) -> str:
    """A deterministic judge: best ``fuzz.ratio`` to a gold answer, in four bands."""
    best = max(fuzz.ratio(answer.lower(), g.lower()) for g in gold)
    if best >= 90:
        return "Very Similar"
    if best >= 70:
        return "Mostly Similar"
    if best >= 50:
        return "Somewhat Similar"
    return "Incorrect"


def judge_responder(request: ChatRequest) -> dict[str, Any]:
    """Rate every item of a judge request with :func:`rule_rating`."""
    items = json.loads(request.last_user_text)["items"]
    return {
        "ratings": [
            {"index": it["index"], "rating": rule_rating(it["answer"], it["gold"])} for it in items
        ]
    }


# -- a seed-like prediction set -------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    question: str
    gold: str
    prediction: str
    kind: str


def _drop_middle(name: str) -> str:
    parts = name.split()
    return " ".join([parts[0], parts[-1]]) if len(parts) > 2 else name.upper()


def make_answers(n: int, seed: int = 0) -> list[Answer]:
    """``n`` seed-like answers (see the module docstring)."""
    rng = random.Random(seed)
    books = [b for b in load_catalogue() if b.author]
    answers: list[Answer] = []
    for i in range(n):
        book = rng.choice(books)
        other = rng.choice(books)
        kind = ("title", "author", "genre", "yes/no")[i % 4]
        roll = rng.random()
        if kind == "title":
            parts = parse_title(book.title)
            if roll < 0.62:
                prediction = book.title
            elif roll < 0.77:
                prediction = parts.main
            elif roll < 0.85:
                prediction = book.title.lower().replace(":", "")
            elif roll < 0.93:
                prediction = other.title
            else:
                prediction = " ".join(parts.main.split()[:2])
            answers.append(Answer(TITLE_QUESTION, book.title, prediction, kind))
        elif kind == "author":
            if roll < 0.62:
                prediction = book.author
            elif roll < 0.77:
                prediction = _drop_middle(book.author)
            elif roll < 0.87:
                prediction = book.author.split()[-1]
            else:
                prediction = other.author
            question = AUTHOR_QUESTIONS[rng.randrange(2)]
            answers.append(Answer(question, book.author, prediction, kind))
        elif kind == "genre":
            prediction = book.genre if roll < 0.6 else rng.choice(CATEGORIES)
            question = GENRE_QUESTIONS[rng.randrange(2)]
            answers.append(Answer(question, book.genre, prediction, kind))
        else:
            category = book.genre if rng.random() < 0.5 else rng.choice(CATEGORIES)
            gold = "Yes" if category == book.genre else "No"
            flipped = "No" if gold == "Yes" else "Yes"
            if roll < 0.88:
                prediction = gold
            elif roll < 0.96:
                prediction = flipped
            else:
                prediction = f"{gold}, it is." if gold == "Yes" else "No, it is not."
            answers.append(Answer(related_question(category), gold, prediction, kind))
    return answers


# -- the two ways to judge ------------------------------------------------------------------


def seed_way(fake: FakeOpenAI, answers: Sequence[Answer], workers: int) -> tuple[list[str], int]:
    """One request per answer, from a thread pool (the cookbook's shape, our payload).

    Returns the ratings and the prompt tokens the fake counted.
    """
    client = fake.client(api_key="sk-bench")

    def one(answer: Answer) -> tuple[str, int]:
        item = JudgeItem(
            index=1,
            question=answer.question,
            type="open",
            gold=[answer.gold],
            answer=answer.prediction,
        )
        request: dict[str, Any] = {
            "model": MODEL,
            "messages": build_messages(DEFAULT_PROMPT, [item]),
            "response_format": response_format(),
            "temperature": 0,
        }
        reply = client.chat.completions.create(**request)
        content = reply.choices[0].message.content or "{}"
        tokens = reply.usage.prompt_tokens if reply.usage else 0
        return str(json.loads(content)["ratings"][0]["rating"]), tokens

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, answers))
    return [rating for rating, _ in results], sum(tokens for _, tokens in results)


def ours(fake: FakeOpenAI, answers: Sequence[Answer], batch_size: int, cache: Path | None) -> Any:
    judge = LLMJudge(
        MODEL,
        base_url=fake.base_url,
        api_key="sk-bench",
        batch_size=batch_size,
        cache=cache,
        progress=False,
    )
    return judge.judge(
        [a.prediction for a in answers],
        [[a.gold] for a in answers],
        [a.question for a in answers],
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.02, help="fake latency per request")
    parser.add_argument("--workers", type=int, default=8, help="seed-way thread pool size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    answers = make_answers(args.answers, args.seed)
    strict_exact = sum(a.prediction.strip() == a.gold.strip() for a in answers)
    kinds = Counter(a.kind for a in answers)
    print(
        f"{len(answers):,} answers: "
        + ", ".join(f"{k} {v}" for k, v in kinds.items())
        + f"; exact (seed's strict rule) {strict_exact} ({strict_exact / len(answers):.1%})"
    )
    print(f"python {platform.python_version()}, fake latency {args.latency * 1000:.0f} ms")

    with (
        FakeOpenAI(responder=judge_responder, latency=args.latency) as fake,
        tempfile.TemporaryDirectory() as tmp,
    ):
        start = time.perf_counter()
        seed_ratings, seed_tokens = seed_way(fake, answers, args.workers)
        seed_s = time.perf_counter() - start
        seed_requests = fake.log.count("chat.completions")
        fake.reset_log()

        cache = Path(tmp) / "judge-cache.jsonl"
        start = time.perf_counter()
        run = ours(fake, answers, args.batch_size, cache)
        ours_s = time.perf_counter() - start
        ours_requests = fake.log.count("chat.completions")
        fake.reset_log()

        rerun = ours(fake, answers, args.batch_size, cache)
        rerun_requests = fake.log.count("chat.completions")
        fake.reset_log()

        single = ours(fake, answers, 1, None)
        single_requests = fake.log.count("chat.completions")

    sources = run.sources()
    judged = [i for i, j in enumerate(run) if j.source == "judge"]
    agree = sum(run[i].rating == single[i].rating for i in judged)
    seed_agree = sum(run[i].rating == seed_ratings[i] for i in judged)
    print()
    print(f"{'':<34}{'requests':>10}{'time':>10}")
    print(f"{'seed way (one request per answer)':<34}{seed_requests:>10,}{seed_s:>9.1f}s")
    print(f"{f'llm_judge (batch_size={args.batch_size})':<34}{ours_requests:>10,}{ours_s:>9.1f}s")
    print(
        f"{'llm_judge rerun (disk cache)':<34}{rerun_requests:>10,}"
        f"   ({rerun.sources()['cache']} items from the cache)"
    )
    print(f"{'llm_judge (batch_size=1)':<34}{single_requests:>10,}")
    print()
    print(
        f"ratio ours / seed: {ours_requests / seed_requests:.4f} "
        f"({seed_requests / max(ours_requests, 1):.0f}x fewer requests; target <= 0.1)"
    )
    print("where ours' ratings came from: " + ", ".join(f"{k} {v}" for k, v in sources.items()))
    print(
        f"items sent to the judge: {len(judged)}; same rating batched and one by one: "
        f"{agree}/{len(judged)}; same as the seed way: {seed_agree}/{len(judged)}"
    )
    print(
        f"prompt tokens (the fake's estimate): seed way {seed_tokens:,}, "
        f"ours {run.prompt_tokens:,} ({run.prompt_tokens / max(seed_tokens, 1):.3f})"
    )
    print("rating distribution (ours): " + json.dumps(run.distribution()))
    if agree != len(judged) or ours_requests * 10 > seed_requests or rerun_requests:
        raise SystemExit("FAILED: see the figures above")


if __name__ == "__main__":
    main()

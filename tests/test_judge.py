"""The ``llm_judge`` evaluator, against a real local HTTP server through the real openai SDK.

The fake server (``vqaft.testing.FakeOpenAI``) answers with a responder that plays a judge: it
reads the items from the request and rates each with a fixed string-similarity rule, so every
expected rating is known in advance.
"""

from __future__ import annotations

import asyncio
import doctest
import importlib
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rapidfuzz import fuzz

from vqaft.errors import ConfigError, EvaluationError
from vqaft.evaluate import PredictionSet, create_evaluator, evaluator_info, score_predictions
from vqaft.evaluate import judge as judge_module
from vqaft.evaluate.judge import LLMJudge, yes_no_meaning
from vqaft.evaluate.judge_cache import CacheEntry, JudgeCache, cache_key
from vqaft.evaluate.judge_prompt import (
    PROMPT_VERSION,
    RATINGS,
    JudgePrompt,
    check_reply,
    response_format,
)
from vqaft.testing import ChatRequest, FakeOpenAI, Fault, Reply

TITLE_Q = "What is the title of this book?"
AUTHOR_Q = "Who wrote this book?"
GENRE_Q = "What type of book is this?"
YES_NO_Q = "Is this book related to Travel?"


# -- a fake judge ---------------------------------------------------------------------------


def rule_rating(answer: str, gold: list[str]) -> str:
    """The fake judge's rule: best similarity to a gold answer, in four bands."""
    best = max(fuzz.ratio(answer.lower(), g.lower()) for g in gold)
    if best >= 90:
        return "Very Similar"
    if best >= 70:
        return "Mostly Similar"
    if best >= 50:
        return "Somewhat Similar"
    return "Incorrect"


def request_items(request: ChatRequest) -> list[dict[str, Any]]:
    """The items a judge request carries."""
    items: list[dict[str, Any]] = json.loads(request.last_user_text)["items"]
    return items


def judge_responder(request: ChatRequest) -> dict[str, Any]:
    """Rate every item of the request with :func:`rule_rating`."""
    return {
        "ratings": [
            {"index": it["index"], "rating": rule_rating(it["answer"], it["gold"])}
            for it in request_items(request)
        ]
    }


class Scripted:
    """A judge responder that breaks its first replies as scripted, then answers properly.

    ``script`` holds, per request (1-based in arrival order), a function turning the proper
    reply into the broken one; requests beyond the script get the proper reply.
    """

    def __init__(self, script: list[Callable[[dict[str, Any]], Any]]) -> None:
        self.script = script
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, request: ChatRequest) -> Any:
        with self.lock:
            self.calls += 1
            n = self.calls
        reply = judge_responder(request)
        if n <= len(self.script):
            return self.script[n - 1](reply)
        return reply


def open_items(n: int, offset: int = 0) -> tuple[list[str], list[list[str]], list[str]]:
    """``n`` distinct open items that never match exactly (so each needs the judge).

    Under :func:`rule_rating` they cycle through Very, Mostly and Somewhat Similar and
    Incorrect.
    """
    answers = (
        "Garden Secret, Volume {i}: A Complete Guide",
        "Garden Secrets, Volume {i}: A Guide",
        "Garden Secrets Vol {i}",
        "Secret Gardens",
    )
    predictions, golds, questions = [], [], []
    for i in range(offset, offset + n):
        predictions.append(answers[i % 4].format(i=i))
        golds.append([f"The Garden Secrets, Volume {i}: A Complete Guide"])
        questions.append(TITLE_Q)
    return predictions, golds, questions


def chat_bodies(fake: FakeOpenAI) -> list[Mapping[str, Any]]:
    return [r.body for r in fake.log.records("chat.completions")]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=judge_responder, api_key="sk-test-judge-key-0001") as server:
        yield server


def make_judge(fake: FakeOpenAI, **kwargs: Any) -> LLMJudge:
    kwargs.setdefault("cache", None)
    kwargs.setdefault("api_key", "sk-test-judge-key-0001")
    return LLMJudge("gpt-4o-mini", base_url=fake.base_url, **kwargs)


# -- short-circuits -------------------------------------------------------------------------


def test_exact_matches_and_yes_no_make_no_request(fake: FakeOpenAI) -> None:
    judge = make_judge(fake)
    predictions = ["the hobbit", "Cookshack Inc.", "Yes, it is.", "no", "Yes", "I think so", "No"]
    golds = [["The Hobbit"], ["Cookshack, Inc"], ["Yes"], ["Yes"], ["No"], ["Yes"], ["No"]]
    questions = [TITLE_Q, AUTHOR_Q, YES_NO_Q, YES_NO_Q, YES_NO_Q, YES_NO_Q, None]
    run = judge.judge(predictions, golds, questions)
    assert [(j.rating, j.source) for j in run] == [
        ("Very Similar", "exact"),
        ("Very Similar", "exact"),
        ("Very Similar", "yes/no rule"),
        ("Incorrect", "yes/no rule"),
        ("Incorrect", "yes/no rule"),
        ("Incorrect", "yes/no rule"),  # no yes/no meaning at all
        ("Very Similar", "exact"),  # typed Yes/No from its gold, no question needed
    ]
    assert [j.closed for j in run] == [False, False, True, True, True, True, True]
    assert run.requests == 0
    assert fake.log.count("chat.completions") == 0


def test_yes_no_meaning_needs_one_unambiguous_word() -> None:
    assert yes_no_meaning("yes it is") == "yes"
    assert yes_no_meaning("answer is no") == "no"
    assert yes_no_meaning("yes and no") is None
    assert yes_no_meaning("") is None
    assert yes_no_meaning("yesterday") is None


def test_open_closed_type_is_decided_in_code(fake: FakeOpenAI) -> None:
    # A closed question whose gold is not yes/no cannot be ruled in code: the judge gets it,
    # told that it is closed; an open question is sent as open.
    judge = make_judge(fake)
    run = judge.judge(
        ["Travel guides", "Lonely Planet"],
        [["Travel"], ["Lonely Planet Publications"]],
        ["Is this a travel book?", AUTHOR_Q],
    )
    (body,) = chat_bodies(fake)
    items = json.loads(body["messages"][1]["content"])["items"]
    assert [(it["index"], it["type"]) for it in items] == [(1, "closed"), (2, "open")]
    assert [j.closed for j in run] == [True, False]
    assert [j.question_type for j in run] == ["Yes/No", "Author"]
    assert all(j.source == "judge" for j in run)


# -- batching -------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size"), [(45, 20), (20, 20), (7, 3), (5, 1)])
def test_requests_are_batched(fake: FakeOpenAI, n: int, batch_size: int) -> None:
    judge = make_judge(fake, batch_size=batch_size)
    predictions, golds, questions = open_items(n)
    run = judge.judge(predictions, golds, questions)
    assert run.requests == math.ceil(n / batch_size)
    assert fake.log.count("chat.completions") == math.ceil(n / batch_size)
    sizes = []
    for body in chat_bodies(fake):
        items = json.loads(body["messages"][1]["content"])["items"]
        assert [it["index"] for it in items] == list(range(1, len(items) + 1))
        sizes.append(len(items))
    assert sorted(sizes, reverse=True)[0] == min(batch_size, n)
    assert sum(sizes) == n
    assert [j.rating for j in run] == [
        rule_rating(p, g) for p, g in zip(predictions, golds, strict=True)
    ]
    assert {j.source for j in run} == {"judge"}


def test_request_uses_structured_outputs(fake: FakeOpenAI) -> None:
    make_judge(fake).judge(*open_items(2))
    (body,) = chat_bodies(fake)
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["messages"][0]["role"] == "system"
    assert "exactly once" in body["messages"][0]["content"]


def test_identical_items_are_judged_once(fake: FakeOpenAI) -> None:
    predictions, golds, questions = open_items(3)
    run = make_judge(fake).judge(predictions * 4, golds * 4, questions * 4)
    (body,) = chat_bodies(fake)
    assert len(json.loads(body["messages"][1]["content"])["items"]) == 3
    assert len(run) == 12
    assert [j.rating for j in run[:3]] == [j.rating for j in run[9:]]


def test_batched_ratings_match_one_by_one(fake: FakeOpenAI) -> None:
    predictions, golds, questions = open_items(30)
    batched = make_judge(fake, batch_size=20).judge(predictions, golds, questions)
    single = make_judge(fake, batch_size=1).judge(predictions, golds, questions)
    assert [j.rating for j in batched] == [j.rating for j in single]
    assert (batched.requests, single.requests) == (2, 30)
    assert {j.rating for j in batched} == set(RATINGS)


def test_concurrency_is_bounded() -> None:
    with FakeOpenAI(responder=judge_responder, latency=0.05) as server:
        judge = make_judge(server, batch_size=2, concurrency=2, api_key="any")
        run = judge.judge(*open_items(12))
        assert run.requests == 6
        assert server.log.counters().max_in_flight <= 2


# -- the cache ------------------------------------------------------------------------------


def test_rerun_is_served_from_the_cache(fake: FakeOpenAI, tmp_path: Path) -> None:
    path = tmp_path / "judge.jsonl"
    predictions, golds, questions = open_items(25)
    predictions += ["the hobbit"]
    golds += [["The Hobbit"]]
    questions += [TITLE_Q]
    first = make_judge(fake, cache=path).judge(predictions, golds, questions)
    assert first.requests == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 25  # exact matches are not cached: they cost nothing
    assert {line["model"] for line in lines} == {"gpt-4o-mini"}
    assert {line["prompt_version"] for line in lines} == {PROMPT_VERSION}
    assert lines[0]["question"] == TITLE_Q
    fake.reset_log()

    again = make_judge(fake, cache=path).judge(predictions, golds, questions)
    assert again.requests == 0
    assert fake.log.count("chat.completions") == 0
    assert [j.rating for j in again] == [j.rating for j in first]
    assert again.sources()["cache"] == 25
    assert again.sources()["exact"] == 1

    # Another judge model or prompt version does not reuse those ratings.
    other = LLMJudge("gpt-4o", base_url=fake.base_url, api_key="sk-test-judge-key-0001", cache=path)
    assert other.judge(predictions, golds, questions).requests == 2
    prompt = JudgePrompt(instructions="Rate the items.", version="custom-1")
    custom = make_judge(fake, cache=path, prompt=prompt)
    assert custom.judge(predictions, golds, questions).requests == 2


def test_cache_key_covers_what_the_judge_saw() -> None:
    base = cache_key("m", "v", "q", ["a", "b"], "p", closed=False)
    assert cache_key("m", "v", "q", ["b", "a"], "p", closed=False) == base  # gold order
    variants = [
        cache_key("m2", "v", "q", ["a", "b"], "p", closed=False),
        cache_key("m", "v2", "q", ["a", "b"], "p", closed=False),
        cache_key("m", "v", "q2", ["a", "b"], "p", closed=False),
        cache_key("m", "v", None, ["a", "b"], "p", closed=False),
        cache_key("m", "v", "q", ["a"], "p", closed=False),
        cache_key("m", "v", "q", ["a", "b"], "p2", closed=False),
        cache_key("m", "v", "q", ["a", "b"], "p", closed=True),
    ]
    assert len({base, *variants}) == 8


def test_cache_skips_unreadable_lines_and_keeps_appending(
    fake: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "judge.jsonl"
    predictions, golds, questions = open_items(4)
    make_judge(fake, cache=path).judge(predictions, golds, questions)
    good = path.read_text()
    # A hand edit with an unknown rating, then a line cut short by an interrupted write.
    first = json.loads(good.splitlines()[0])
    path.write_text(
        json.dumps({**first, "rating": "Brilliant"}) + "\n" + good + '{"key": "abc", "mod'
    )
    fake.reset_log()
    cache = JudgeCache(path)
    with caplog.at_level(logging.WARNING):
        run = make_judge(fake, cache=cache).judge(*open_items(6))
    assert [s.line for s in cache.skipped] == [1, 6]
    assert "rating" in cache.skipped[0].reason
    assert "skipped 2 unreadable lines" in caplog.text
    assert run.requests == 1  # items 4 and 5 only
    assert (run.sources()["cache"], run.sources()["judge"]) == (4, 2)
    # The new entries start on a fresh line: a fresh cache reads all six ratings.
    assert len(JudgeCache(path)) == 6


def test_cache_entries_with_line_separator_characters_read_back(tmp_path: Path) -> None:
    """JSON leaves U+2028, U+2029 and U+0085 unescaped; the file is split at newlines only."""
    path = tmp_path / "judge.jsonl"
    texts = ["first\u2028second", "para\u2029graph", "next\x85line", "sep\x1c\x1d\x1e"]
    entries = [
        CacheEntry.make(
            model="m",
            prompt_version="v",
            question=f"q{n} {text}",
            closed=False,
            gold=[text],
            prediction=text,
            rating="Very Similar",
        )
        for n, text in enumerate(texts)
    ]
    JudgeCache(path).put(entries)
    reread = JudgeCache(path)
    assert reread.skipped == []
    assert len(reread) == len(texts)
    assert [reread.get(entry.key) for entry in entries] == ["Very Similar"] * len(texts)


def test_threads_sharing_a_cache_file_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "judge.jsonl"
    cache = JudgeCache(path)
    with FakeOpenAI(responder=judge_responder, latency=0.01) as server:
        judges = [
            LLMJudge(base_url=server.base_url, api_key="k", cache=cache, batch_size=3)
            for _ in range(4)
        ]
        runs: list[Any] = [None] * 4

        def work(n: int) -> None:
            runs[n] = judges[n].judge(*open_items(15, offset=100 * n))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [run.requests for run in runs] == [5, 5, 5, 5]
    reread = JudgeCache(path)
    assert len(reread) == 60
    assert reread.skipped == []


def test_memory_cache_serves_repeat_calls(fake: FakeOpenAI) -> None:
    judge = make_judge(fake)
    judge.judge(*open_items(3))
    assert judge.judge(*open_items(3)).requests == 0


# -- malformed replies ----------------------------------------------------------------------


def test_invalid_json_is_retried(fake: FakeOpenAI) -> None:
    fake.responder = Scripted([lambda reply: Reply(content='{"ratings": [{"index": 1, "ra')])
    run = make_judge(fake).judge(*open_items(5))
    assert run.requests == 2
    assert run.n_unjudged == 0
    assert {j.source for j in run} == {"judge"}


def test_only_the_bad_indices_are_retried(fake: FakeOpenAI) -> None:
    def break_reply(reply: dict[str, Any]) -> dict[str, Any]:
        ratings = reply["ratings"]
        ratings = [r for r in ratings if r["index"] != 2]  # missing
        ratings.append(dict(ratings[1]))  # index 3 twice
        ratings[2] = {"index": 4, "rating": "Brilliant"}  # unknown rating
        ratings.append({"index": 99, "rating": "Incorrect"})  # not asked for
        return {"ratings": ratings}

    fake.responder = Scripted([break_reply])
    predictions, golds, questions = open_items(6)
    run = make_judge(fake).judge(predictions, golds, questions)
    _first, retry = chat_bodies(fake)
    retried = [it["answer"] for it in json.loads(retry["messages"][1]["content"])["items"]]
    assert retried == [predictions[1], predictions[2], predictions[3]]
    assert run.requests == 2
    assert [j.rating for j in run] == [
        rule_rating(p, g) for p, g in zip(predictions, golds, strict=True)
    ]


def test_persistently_malformed_items_are_unjudged_not_a_crash(fake: FakeOpenAI) -> None:
    fake.responder = lambda request: "this is not JSON"
    judge = make_judge(fake, max_retries=2)
    predictions, golds, questions = open_items(4)
    predictions.append("the hobbit")
    golds.append(["The Hobbit"])
    questions.append(TITLE_Q)
    run = judge.judge(predictions, golds, questions)
    # Whole batch, the same group again, then each half once more.
    assert run.requests == 4
    sizes = [len(json.loads(b["messages"][1]["content"])["items"]) for b in chat_bodies(fake)]
    assert sorted(sizes) == [2, 2, 4, 4]
    assert run.distribution() == {
        "Very Similar": 1,
        "Mostly Similar": 0,
        "Somewhat Similar": 0,
        "Incorrect": 0,
        "unjudged": 4,
    }
    unjudged = run[0]
    assert (unjudged.rating, unjudged.value, unjudged.passed) == (None, None, None)
    assert unjudged.source == "unjudged"
    assert "malformed judge reply after 3 attempts" in str(unjudged.reason)
    assert "not valid JSON" in str(unjudged.reason)

    outcomes = judge.score_items(predictions, golds, questions)
    assert all(isinstance(o, EvaluationError) for o in outcomes[:4])
    assert "unjudged" in str(outcomes[0])
    assert not isinstance(outcomes[4], EvaluationError)
    assert outcomes[4].details["rating"] == "Very Similar"
    with pytest.raises(EvaluationError, match="4 of 5 items could not be judged"):
        judge.score_batch(predictions, golds, questions)
    with pytest.raises(EvaluationError, match="unjudged"):
        judge.score(predictions[0], golds[0], question=questions[0])


def test_truncated_and_refused_replies_are_retried(fake: FakeOpenAI) -> None:
    fake.responder = Scripted(
        [
            lambda reply: Reply(content='{"ratings": [', finish_reason="length"),
            lambda reply: Reply(refusal="I can't help with that."),
        ]
    )
    judge = make_judge(fake, max_retries=3)
    run = judge.judge(*open_items(4))
    assert run.n_unjudged == 0
    assert run.requests == 4  # batch, batch again, then two halves


def test_unjudged_reason_names_the_problem(fake: FakeOpenAI) -> None:
    fake.responder = lambda request: {"ratings": [{"index": 1, "rating": "Great"}]}
    run = make_judge(fake, max_retries=0).judge(*open_items(1))
    assert run.requests == 1
    assert "unknown rating 'Great'" in str(run[0].reason)


def test_check_reply_reports_every_problem() -> None:
    content = json.dumps(
        {
            "ratings": [
                {"index": 1, "rating": "very similar"},
                {"index": 2, "rating": "Incorrect"},
                {"index": 2, "rating": "Incorrect"},
                {"index": 3, "rating": "Wrong"},
                {"index": 7, "rating": "Incorrect"},
            ]
        }
    )
    check = check_reply(content, [1, 2, 3, 4])
    assert check.ratings == {1: "Very Similar"}
    assert set(check.problems) == {
        "index 2: rated 2 times",
        "index 3: unknown rating 'Wrong'",
        "index 4: missing",
        "index 7: not in the request",
    }
    assert check_reply("", [1]).problems == ["empty reply"]
    assert check_reply("[1, 2]", [1]).problems == ['reply has no "ratings" list']


def test_reply_schema_is_strict() -> None:
    schema = response_format()["json_schema"]["schema"]
    objects = [schema, *schema["$defs"].values()]
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])
    rating = schema["$defs"]["JudgeRating"]["properties"]["rating"]
    assert tuple(rating["enum"]) == RATINGS


# -- HTTP errors ----------------------------------------------------------------------------


def test_server_errors_are_retried_by_the_sdk(fake: FakeOpenAI) -> None:
    fake.faults.add(Fault.server_error(503), "chat.completions", on=[1])
    fake.faults.add(Fault.rate_limit(retry_after=0.01), "chat.completions", on=[2])
    run = make_judge(fake, http_retries=3).judge(*open_items(3))
    assert run.n_unjudged == 0
    assert run.requests == 1
    assert [r.status for r in fake.log.records("chat.completions")] == [503, 429, 200]


def test_server_errors_after_retries_leave_items_unjudged(fake: FakeOpenAI) -> None:
    fake.faults.add(Fault.server_error(503), "chat.completions")
    run = make_judge(fake, http_retries=0).judge(*open_items(3))
    assert run.n_unjudged == 3
    assert "HTTP 503" in str(run[0].reason)
    fake.faults.clear()
    assert make_judge(fake).judge(*open_items(3)).n_unjudged == 0  # not cached as failures


def test_wrong_key_fails_fast_with_a_clear_error(fake: FakeOpenAI, tmp_path: Path) -> None:
    secret = "sk-wrong-key-that-must-not-leak-42"
    judge = make_judge(fake, api_key=secret, concurrency=1, batch_size=2, cache=tmp_path / "c")
    with pytest.raises(EvaluationError) as caught:
        judge.judge(*open_items(10))
    message = str(caught.value)
    assert "refused the credentials (HTTP 401)" in message
    assert "OPENAI_API_KEY" in message
    assert secret not in message
    assert fake.log.count("chat.completions") == 1  # no more batches after the refusal
    assert not (tmp_path / "c").exists()
    # The judge remembers the refusal: no further request, the same clear error.
    with pytest.raises(EvaluationError, match="refused the credentials"):
        judge.judge(*open_items(1))
    assert fake.log.count("chat.completions") == 1
    assert judge.judge(["Yes"], [["Yes"]], [YES_NO_Q])[0].rating == "Very Similar"


def test_refused_key_costs_one_request_in_per_item_fallbacks(fake: FakeOpenAI) -> None:
    # score_predictions retries a failing score_batch item by item; after the refusal none
    # of those retries reaches the endpoint, and every item records the clear error.
    predictions, golds, questions = open_items(6)
    records = [
        {"example_id": i, "predicted_answer": p, "actual_answer": g, "question": q}
        for i, (p, g, q) in enumerate(zip(predictions, golds, questions, strict=True))
    ]
    judge = make_judge(fake, api_key="sk-wrong-0000")
    result = score_predictions(PredictionSet.from_records(records), [judge])
    assert fake.log.count("chat.completions") == 1
    assert result.groups["All"].n_errors["llm_judge"] == 6
    assert all("refused the credentials" in it.errors["llm_judge"] for it in result.items)


def test_unknown_model_fails_fast() -> None:
    with FakeOpenAI(responder=judge_responder) as server:
        judge = LLMJudge("ft:gpt-4o:acme::nope", base_url=server.base_url, api_key="x", cache=None)
        with pytest.raises(ConfigError, match="no model 'ft:gpt-4o:acme::nope'"):
            judge.judge(*open_items(2))


def test_exhausted_quota_fails_fast(fake: FakeOpenAI) -> None:
    fake.faults.add(Fault.insufficient_quota(), "chat.completions")
    with pytest.raises(EvaluationError, match="no quota left"):
        make_judge(fake, http_retries=0).judge(*open_items(2))


def test_missing_key_is_a_config_error_only_when_a_request_is_needed(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUDGE_KEY", raising=False)
    judge = LLMJudge(base_url=fake.base_url, api_key_env="JUDGE_KEY", cache=None)
    assert judge.judge(["Yes"], [["Yes"]], [YES_NO_Q])[0].rating == "Very Similar"
    with pytest.raises(ConfigError, match="JUDGE_KEY is not set"):
        judge.judge(*open_items(1))
    monkeypatch.setenv("JUDGE_KEY", "sk-test-judge-key-0001")
    assert judge.judge(*open_items(1)).n_unjudged == 0


# -- secrets --------------------------------------------------------------------------------


def test_api_key_is_never_stored_or_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-live-very-secret-0123456789"
    env_secret = "sk-env-very-secret-9876543210"
    path = tmp_path / "judge.jsonl"
    with FakeOpenAI(responder=judge_responder, api_key=secret) as server:
        judge = LLMJudge(
            "gpt-4o-mini",
            base_url=server.base_url.replace("http://", f"http://user:{secret}@") + "?k=" + secret,
            api_key=secret,
            cache=path,
        )
        judge.base_url = server.base_url  # the credentials in the URL are only for the check
        server.responder = Scripted([lambda reply: "garbage"])
        with caplog.at_level(logging.DEBUG):
            run = judge.judge(*open_items(3))
        assert run.n_unjudged == 0
        texts = [
            repr(judge),
            str(judge.settings),
            evaluator_info(judge).model_dump_json(),
            repr(vars(judge)),
            path.read_text(),
            caplog.text,
            repr(run),
        ]
        assert judge.settings["base_url"] == server.base_url.split("?")[0]
        for text in texts:
            assert secret not in text

        monkeypatch.setenv("OPENAI_API_KEY", env_secret)
        from_env = LLMJudge("gpt-4o-mini", base_url=server.base_url, cache=None)
        with pytest.raises(EvaluationError) as caught:  # the server wants the other key
            from_env.judge(*open_items(2))
        for text in (str(caught.value), repr(from_env), repr(vars(from_env)), caplog.text):
            assert env_secret not in text


def test_keys_echoed_by_the_server_are_redacted(fake: FakeOpenAI) -> None:
    # OpenAI echoes a masked key in its 401 message; a careless proxy might echo it whole.
    secret = "sk-test-judge-key-0001"
    echo = f"Incorrect API key provided: {secret}; also tried sk-proj-ABCDEF***7890."
    fake.faults.add(Fault.http_error(401, echo, code="invalid_api_key"), "chat.completions")
    with pytest.raises(EvaluationError) as caught:
        make_judge(fake).judge(*open_items(1))
    message = str(caught.value)
    assert "Incorrect API key provided" in message
    assert secret not in message
    assert "ABCDEF" not in message
    fake.faults.clear()
    fake.faults.add(Fault.http_error(422, f"cannot process {secret}"), "chat.completions")
    run = make_judge(fake).judge(*open_items(1))
    assert "HTTP 422" in str(run[0].reason)
    assert secret not in str(run[0].reason)


# -- clients and event loops ----------------------------------------------------------------


def test_injected_sync_and_async_clients(fake: FakeOpenAI) -> None:
    sync_judge = LLMJudge("gpt-4o-mini", client=fake.client(), cache=None)
    assert sync_judge.judge(*open_items(3)).requests == 1
    assert sync_judge.judge(*open_items(3, offset=10)).requests == 1

    async def main() -> list[int]:
        async with fake.async_client() as client:
            judge = LLMJudge("gpt-4o-mini", client=client, cache=None)
            first = await judge.ajudge(*open_items(3, offset=20))
            second = await judge.ajudge(*open_items(3, offset=30))
            return [first.requests, second.requests]

    assert asyncio.run(main()) == [1, 1]
    assert fake.log.count("chat.completions", status=200) == 4


def test_injected_async_client_serves_repeated_sync_calls(fake: FakeOpenAI) -> None:
    # Every sync call runs on the same background loop, so the client's connections live on.
    client = fake.async_client()
    judge = LLMJudge("gpt-4o-mini", client=client, cache=None)
    try:
        assert judge.judge(*open_items(3)).requests == 1
        assert judge.judge(*open_items(3, offset=10)).requests == 1
    finally:
        judge_module._LOOP.run(client.close())
    assert fake.log.count("chat.completions", status=200) == 2


def test_async_entry_points(fake: FakeOpenAI) -> None:
    judge = make_judge(fake)
    predictions, golds, questions = open_items(3)

    async def main() -> tuple[Any, Any, Any]:
        run = await judge.ajudge(predictions, golds, questions)
        one = await judge.ascore("Hobbit", ["The Hobbit"], question=TITLE_Q)
        # A sync call from inside a running loop (a notebook cell) works too.
        inner = judge.judge(*open_items(2, offset=50))
        return run, one, inner

    run, one, inner = asyncio.run(main())
    assert run.requests == 1
    assert run.n_unjudged == 0
    assert one.details == {
        "rating": "Very Similar",
        "source": "exact",
        "question_type": "Title",
        "closed": False,
    }
    assert inner.requests == 1


# -- evaluator identity and integration -----------------------------------------------------


def test_registered_with_settings_version_and_scores() -> None:
    judge = create_evaluator(
        "llm_judge",
        model="gpt-4o-mini",
        batch_size=10,
        scores={"Mostly Similar": 0.8},
        pass_threshold=0.5,
        cache=None,
    )
    assert isinstance(judge, LLMJudge)
    info = evaluator_info(judge)
    assert info.name == "llm_judge"
    assert info.version == "1"
    assert info.settings["prompt_version"] == PROMPT_VERSION
    assert info.settings["scores"] == {
        "Very Similar": 1.0,
        "Mostly Similar": 0.8,
        "Somewhat Similar": 0.5,
        "Incorrect": 0.0,
    }
    assert info.settings["batch_size"] == 10
    assert judge.ratings == RATINGS
    with pytest.raises(ConfigError, match="no rating named 'Good'"):
        LLMJudge(scores={"Good": 1.0}, cache=None)
    with pytest.raises(ConfigError, match="batch_size"):
        LLMJudge(batch_size=0, cache=None)
    with pytest.raises(ConfigError, match="pass_threshold"):
        LLMJudge(pass_threshold=2, cache=None)


def test_scores_and_threshold_apply(fake: FakeOpenAI) -> None:
    judge = make_judge(fake, scores={"Somewhat Similar": 0.4}, pass_threshold=0.4)
    run = judge.judge(["Secret Gardens", "Hobbit"], [["The Garden Secrets"], ["The Hobbit"]])
    assert [j.rating for j in run] == ["Somewhat Similar", "Very Similar"]
    assert [j.value for j in run] == [0.4, 1.0]
    assert [j.passed for j in run] == [True, True]
    batch = judge.score_batch(["Secret Gardens"], [["The Garden Secrets"]])
    assert batch.values.tolist() == [0.4]
    assert batch.passed is not None
    assert batch.passed.tolist() == [True]


def test_score_predictions_with_the_judge(fake: FakeOpenAI) -> None:
    records = [
        {
            "example_id": "a",
            "predicted_answer": "Yes",
            "actual_answer": "Yes",
            "question": YES_NO_Q,
        },
        {"example_id": "b", "predicted_answer": "No", "actual_answer": "Yes", "question": YES_NO_Q},
        {
            "example_id": "c",
            "predicted_answer": "Secret Gardens",
            "actual_answer": "The Garden Secrets",
            "question": TITLE_Q,
        },
        {
            "example_id": "d",
            "predicted_answer": "Travel",
            "actual_answer": "Travel",
            "question": GENRE_Q,
        },
    ]
    result = score_predictions(PredictionSet.from_records(records), [make_judge(fake)])
    assert result.groups["All"].summaries["llm_judge"].mean == pytest.approx(2.5 / 4)
    assert result.groups["Yes/No"].summaries["llm_judge"].mean == 0.5
    assert fake.log.count("chat.completions") == 1


def test_suite_reports_the_rating_distribution(fake: FakeOpenAI) -> None:
    suite_module = pytest.importorskip("vqaft.evaluate.suite")
    fake.responder = Scripted([lambda reply: "garbage"] * 3)  # item c ends unjudged
    records = [
        {
            "example_id": "a",
            "predicted_answer": "Yes",
            "actual_answer": "Yes",
            "question": YES_NO_Q,
        },
        {"example_id": "b", "predicted_answer": "No", "actual_answer": "Yes", "question": YES_NO_Q},
        {
            "example_id": "c",
            "predicted_answer": "Secret Gardens",
            "actual_answer": "The Garden Secrets",
            "question": TITLE_Q,
        },
    ]
    suite = suite_module.EvaluationSuite(["exact", make_judge(fake)])
    result = suite.run({"m": PredictionSet.from_records(records)})
    distribution = result.models["m"].ratings["llm_judge"]["All"]
    assert distribution.counts["Very Similar"] == 1
    assert distribution.counts["Incorrect"] == 1
    assert distribution.unjudged == 1
    item_c = result.models["m"].items[2]
    assert "malformed judge reply" in item_c.errors["llm_judge"]


# -- docstrings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["vqaft.evaluate.judge", "vqaft.evaluate.judge_prompt", "vqaft.evaluate.judge_cache"],
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

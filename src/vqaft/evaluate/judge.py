"""``llm_judge``: rate answers with an LLM, cheaply and reproducibly.

Each answer gets one of four ratings -- Very Similar, Mostly Similar, Somewhat Similar,
Incorrect -- and the score of that rating (1.0 / 0.75 / 0.5 / 0.0 by default; it passes at
0.75, i.e. Very or Mostly Similar). Most answers never reach the model:

1. **exact** -- a prediction equal to a gold answer after VQA normalisation
   (:mod:`vqaft.evaluate.normalize`) is Very Similar;
2. **yes/no rule** -- when the gold answers are yes/no (a closed question, or a yes/no gold
   without a question), the answer's yes/no meaning decides in code: the same meaning is Very
   Similar, the opposite (or none, or both) Incorrect;
3. **cache** -- an item judged before by the same model with the same prompt version (the
   on-disk :class:`~vqaft.evaluate.judge_cache.JudgeCache`) is not judged again;
4. **judge** -- the rest, deduplicated, go to the model ``batch_size`` at a time (one request
   for up to 20 items by default), with structured outputs (a strict JSON schema) through the
   ``openai`` SDK, ``concurrency`` requests at a time.

Whether a question is open or closed comes from the question classifier
(:mod:`vqaft.evaluate.question_types`), never from the model. A reply that is not valid JSON,
misses or repeats an index, or uses an unknown rating is retried for the items it failed
(``max_retries`` times: the same group once, then split in halves); items still without a
rating are *unjudged* -- recorded with the reason, never a crash. Rate limits and server
errors are retried by the SDK (``http_retries``); a rejected API key or an unknown model
stops the run at once with a clear error. The API key never appears in settings, reprs,
logs, errors or the cache.

>>> judge = LLMJudge("gpt-4o-mini", cache=None)
>>> run = judge.judge(["the hobbit", "Yes, it is."], [["The Hobbit"], ["Yes"]],
...                   ["What is the title of this book?", "Is this a fantasy book?"])
>>> [(j.rating, j.source) for j in run]
[('Very Similar', 'exact'), ('Very Similar', 'yes/no rule')]
>>> run.requests
0

Works on any OpenAI-compatible endpoint: ``LLMJudge("my-model", base_url="http://localhost:
8000/v1", api_key="EMPTY")``, or pass a ready ``client=`` (``openai.AsyncOpenAI`` or
``openai.OpenAI``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args, overload

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, SecretStr
from tqdm.auto import tqdm

from vqaft._secrets import redact
from vqaft.errors import ConfigError, EvaluationError, VqaftError
from vqaft.evaluate.base import BaseEvaluator, BatchScores, Golds, ItemScore, evaluator, gold_tuple
from vqaft.evaluate.judge_cache import CacheEntry, JudgeCache, cache_key, default_cache_path
from vqaft.evaluate.judge_prompt import (
    DEFAULT_PROMPT,
    DEFAULT_SCORES,
    RATINGS,
    JudgeItem,
    JudgePrompt,
    Rating,
    ReplyCheck,
    build_messages,
    check_reply,
    response_format,
)
from vqaft.evaluate.normalize import normalize_answers
from vqaft.evaluate.question_types import QuestionClassifier, question_classifier
from vqaft.predict.connection import public_url

if TYPE_CHECKING:
    import openai

__all__ = ["SOURCES", "JudgeRun", "Judgement", "LLMJudge", "Source", "yes_no_meaning"]

log = logging.getLogger(__name__)

T = TypeVar("T")

Source = Literal["cache", "judge", "exact", "yes/no rule", "unjudged"]
"""Where an item's rating came from."""

SOURCES: tuple[Source, ...] = get_args(Source)

_YES_NO = frozenset({"yes", "no"})


def yes_no_meaning(normalized: str) -> str | None:
    """``"yes"`` or ``"no"`` when a normalised answer says exactly one of them as a word.

    >>> yes_no_meaning("yes it is"), yes_no_meaning("no"), yes_no_meaning("yes and no")
    ('yes', 'no', None)
    >>> yes_no_meaning("it is about cooking") is None
    True
    """
    said = _YES_NO.intersection(normalized.split())
    return next(iter(said)) if len(said) == 1 else None


# -- results ------------------------------------------------------------------------------


class Judgement(BaseModel):
    """The judge's verdict on one item.

    Attributes:
        rating: one of the four ratings, or ``None`` when the item is unjudged.
        value: the rating's score (``None`` when unjudged).
        passed: ``value >= pass_threshold`` (``None`` when unjudged).
        source: ``"exact"``, ``"yes/no rule"``, ``"cache"``, ``"judge"`` or ``"unjudged"``.
        question_type: the item's question type (from the question classifier).
        closed: whether that type is closed (yes/no), decided in code.
        reason: why the item is unjudged (``None`` otherwise).
    """

    model_config = ConfigDict(frozen=True)

    rating: Rating | None
    value: float | None
    passed: bool | None
    source: Source
    question_type: str
    closed: bool
    reason: str | None = None

    @property
    def judged(self) -> bool:
        """Whether the item received a rating."""
        return self.rating is not None

    def item_score(self) -> ItemScore:
        """The item as an :class:`ItemScore` (``details``: rating, source, type, closed).

        Raises:
            EvaluationError: the item is unjudged (the message says why).
        """
        if self.rating is None or self.value is None:
            raise EvaluationError(
                f"unjudged: {self.reason or 'no rating'}",
                hint="run the judge again: judged items are cached, only these are retried",
            )
        return ItemScore(
            value=self.value,
            passed=self.passed,
            details={
                "rating": self.rating,
                "source": self.source,
                "question_type": self.question_type,
                "closed": self.closed,
            },
        )


@dataclass(frozen=True)
class JudgeRun(Sequence[Judgement]):
    """What one :meth:`LLMJudge.judge` call produced: a judgement per item, in input order.

    A sequence of :class:`Judgement` (``run[0]``, ``len(run)``, ``for j in run``).

    Attributes:
        judgements: per item, its :class:`Judgement`.
        requests: chat requests sent (retries of malformed replies included; the SDK's own
            HTTP retries of rate limits and server errors are not).
        prompt_tokens, completion_tokens: token usage reported by the endpoint.
    """

    judgements: tuple[Judgement, ...]
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __len__(self) -> int:
        return len(self.judgements)

    @overload
    def __getitem__(self, index: int) -> Judgement: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Judgement, ...]: ...

    def __getitem__(self, index: int | slice) -> Judgement | tuple[Judgement, ...]:
        return self.judgements[index]

    def __iter__(self) -> Iterator[Judgement]:
        return iter(self.judgements)

    @property
    def n_unjudged(self) -> int:
        """Items without a rating."""
        return sum(1 for j in self.judgements if j.rating is None)

    def distribution(self) -> dict[str, int]:
        """Items per rating (best first, zeros included), then ``"unjudged"``.

        >>> JudgeRun(judgements=()).distribution()["Incorrect"]
        0
        """
        counts: dict[str, int] = dict.fromkeys(RATINGS, 0)
        unjudged = 0
        for j in self.judgements:
            if j.rating is None:
                unjudged += 1
            else:
                counts[j.rating] += 1
        counts["unjudged"] = unjudged
        return counts

    def sources(self) -> dict[str, int]:
        """Items per source (``exact``, ``yes/no rule``, ``cache``, ``judge``, ``unjudged``)."""
        counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        for j in self.judgements:
            counts[j.source] += 1
        return counts

    def values(self) -> NDArray[np.float64]:
        """Per item, its score (NaN where unjudged)."""
        return np.array(
            [math.nan if j.value is None else j.value for j in self.judgements], dtype=np.float64
        )


# -- the evaluator --------------------------------------------------------------------------


@dataclass
class _Pending:
    """One distinct item for the model (duplicates share it)."""

    key: str
    question: str | None
    closed: bool
    gold: tuple[str, ...]
    prediction: str


@dataclass
class _Session:
    """The state of one ``ajudge`` call's requests."""

    semaphore: asyncio.Semaphore
    client: Any = None
    own_client: bool = False
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ratings: dict[str, Rating] = field(default_factory=dict)
    unjudged: dict[str, str] = field(default_factory=dict)
    bar: Any = None
    fatal: _Fatal | None = None

    def done(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)


class _Fatal(Exception):
    """Wraps an error that must stop the whole run (bad key, unknown model).

    ``refusal``: the endpoint refused (credentials, model, quota); the judge remembers it and
    sends no further requests (see :meth:`LLMJudge.ajudge`).
    """

    def __init__(self, error: VqaftError, *, refusal: bool = True) -> None:
        super().__init__(str(error))
        self.error = error
        self.refusal = refusal


@evaluator("llm_judge", version="1")
class LLMJudge(BaseEvaluator):
    """Rate predictions against gold answers with an LLM (see the module docstring).

    Args:
        model: the judge model (any chat model with structured outputs).
        base_url: an OpenAI-compatible endpoint (default: ``OPENAI_BASE_URL`` or OpenAI).
        api_key: the API key (default: the ``api_key_env`` environment variable). Never
            recorded anywhere.
        api_key_env: the environment variable holding the key.
        client: a ready ``openai.AsyncOpenAI`` or ``openai.OpenAI`` client (then ``base_url``,
            ``api_key``, ``http_retries`` and ``timeout`` are the client's business). An
            ``AsyncOpenAI`` client is bound to the event loop it is first used on: use it
            either through the sync methods or from one loop of your own.
        scores: the score of each rating, overriding :data:`DEFAULT_SCORES` (values in
            ``[0, 1]``).
        pass_threshold: an item passes when its score is at least this.
        batch_size: items per request.
        concurrency: requests in flight at once.
        max_retries: extra attempts for items whose reply was malformed.
        http_retries: the SDK's retries of rate limits, server errors and dropped
            connections (own client only).
        timeout: seconds per request (own client only).
        temperature: sampling temperature (``None``: leave it to the endpoint; reasoning
            models reject a temperature).
        prompt: a custom :class:`JudgePrompt` (default: vqaft's, :data:`PROMPT_VERSION`).
        classifier: question typing (default: OCR-VQA); decides which questions are closed.
            Pass the same one as your suite's.
        cache: a JSONL file, a :class:`JudgeCache`, ``"auto"`` (default:
            :func:`~vqaft.evaluate.judge_cache.default_cache_path`) or ``None`` (memory only,
            for the life of this object).
        progress: show a progress bar (on a terminal) when more than one request is needed.

    Once the endpoint has refused this judge (credentials, unknown model, no quota), every
    later call that needs the endpoint raises the same error at once, without a request:
    callers that retry item by item would otherwise send one doomed request per item. Build
    a new judge after fixing the cause. Calls that need no request keep working.

    Raises:
        ConfigError: a setting is out of range or a score is given for an unknown rating.
    """

    ratings: tuple[str, ...] = RATINGS

    def __init__(
        self,
        model: str = "gpt-4o",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        client: openai.AsyncOpenAI | openai.OpenAI | None = None,
        scores: Mapping[str, float] | None = None,
        pass_threshold: float = 0.75,
        batch_size: int = 20,
        concurrency: int = 8,
        max_retries: int = 2,
        http_retries: int = 4,
        timeout: float = 120.0,
        temperature: float | None = 0.0,
        prompt: JudgePrompt | None = None,
        classifier: QuestionClassifier | Mapping[str, str] | Callable[[str], str] | None = None,
        cache: str | Path | JudgeCache | None = "auto",
        progress: bool = True,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError("the judge model must be a non-empty string", hint="e.g. 'gpt-4o'")
        for name, number, low in (
            ("batch_size", batch_size, 1),
            ("concurrency", concurrency, 1),
            ("max_retries", max_retries, 0),
            ("http_retries", http_retries, 0),
        ):
            if not isinstance(number, int) or isinstance(number, bool) or number < low:
                raise ConfigError(f"{name} must be an integer >= {low}, not {number!r}")
        if not 0.0 <= float(pass_threshold) <= 1.0:
            raise ConfigError(f"pass_threshold must lie in [0, 1], not {pass_threshold!r}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.client = client
        self.scores: dict[Rating, float] = _rating_scores(scores)
        self.pass_threshold = float(pass_threshold)
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.http_retries = http_retries
        self.timeout = float(timeout)
        self.temperature = temperature
        self.prompt = prompt or DEFAULT_PROMPT
        self.classifier = question_classifier(classifier)
        if isinstance(cache, JudgeCache):
            self.cache = cache
        elif cache is None:
            self.cache = JudgeCache(None)
        else:
            self.cache = JudgeCache(default_cache_path() if cache == "auto" else cache)
        self.progress = progress
        self._api_key = None if api_key is None else SecretStr(api_key)
        self._refusal: VqaftError | None = None
        self.settings = {
            "model": model,
            "base_url": public_url(base_url),
            "prompt_version": self.prompt.version,
            "scores": dict(self.scores),
            "pass_threshold": self.pass_threshold,
            "batch_size": batch_size,
            "temperature": temperature,
            "classifier": self.classifier.name,
        }

    # -- the Evaluator protocol -----------------------------------------------------------

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Judge one item (prefer :meth:`score_items` or :meth:`judge` for many: they batch).

        Raises:
            EvaluationError: the item could not be judged (the message says why).
        """
        return self.judge([prediction], [gold], [question])[0].item_score()

    async def ascore(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        """Judge one item without blocking the event loop."""
        run = await self.ajudge([prediction], [gold], [question])
        return run[0].item_score()

    def score_batch(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> BatchScores:
        """Judge many items in batched requests; values and verdicts as arrays.

        Raises:
            EvaluationError: some items could not be judged (use :meth:`score_items` or
                :meth:`judge` to keep the others; a rerun only retries those).
        """
        run = self.judge(predictions, golds, questions)
        missing = [i for i, j in enumerate(run) if j.rating is None]
        if missing:
            first = run[missing[0]]
            raise EvaluationError(
                f"{len(missing)} of {len(run)} items could not be judged (first: {first.reason})",
                row=missing[0],
                hint="use score_items() or judge() to keep the judged items; "
                "a rerun retries only the unjudged ones (the rest are cached)",
            )
        values = run.values()
        return BatchScores(values, values >= self.pass_threshold)

    def score_items(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> list[ItemScore | EvaluationError]:
        """Per item, its :class:`ItemScore`, or an :class:`EvaluationError` saying why it is
        unjudged (what :class:`~vqaft.evaluate.suite.EvaluationSuite` calls)."""
        outcomes: list[ItemScore | EvaluationError] = []
        for judgement in self.judge(predictions, golds, questions):
            try:
                outcomes.append(judgement.item_score())
            except EvaluationError as exc:
                outcomes.append(exc)
        return outcomes

    # -- judging --------------------------------------------------------------------------

    def judge(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> JudgeRun:
        """Judge many items (sync; also works inside a running event loop, e.g. Jupyter).

        Args:
            predictions: the model's answers.
            golds: per item, one gold answer or a sequence of acceptable ones.
            questions: per item, the question text (``None`` entries allowed).

        Raises:
            EvaluationError: mismatched lengths, a missing or non-string answer, or the
                endpoint refused the API key; ConfigError: no API key, unknown model.
        """
        return _LOOP.run(self.ajudge(predictions, golds, questions))

    async def ajudge(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None = None,
    ) -> JudgeRun:
        """Judge many items asynchronously (see :meth:`judge`)."""
        items = self._prepare(predictions, golds, questions)
        slots: list[Judgement | str] = []  # per item: its verdict, or its cache key
        pending: dict[str, _Pending] = {}
        from_cache: dict[str, Rating] = {}
        for item in items:
            rule = item.rule_verdict()
            if rule is not None:
                slots.append(self._judgement(*rule, item))
                continue
            key = cache_key(
                self.model,
                self.prompt.version,
                item.question,
                item.gold,
                item.prediction,
                closed=item.closed,
            )
            slots.append(key)
            if key in pending or key in from_cache:
                continue
            cached = self.cache.get(key)
            if cached is not None:
                from_cache[key] = cached
            else:
                pending[key] = _Pending(key, item.question, item.closed, item.gold, item.prediction)
        session = _Session(asyncio.Semaphore(self.concurrency))
        if pending:
            await self._judge_pending(session, list(pending.values()))
        judgements: list[Judgement] = []
        for item, slot in zip(items, slots, strict=True):
            if isinstance(slot, Judgement):
                judgements.append(slot)
            elif slot in from_cache:
                judgements.append(self._judgement(from_cache[slot], "cache", item))
            elif slot in session.ratings:
                judgements.append(self._judgement(session.ratings[slot], "judge", item))
            else:
                judgements.append(
                    Judgement(
                        rating=None,
                        value=None,
                        passed=None,
                        source="unjudged",
                        question_type=item.question_type,
                        closed=item.closed,
                        reason=session.unjudged.get(slot, "not judged"),
                    )
                )
        return JudgeRun(
            judgements=tuple(judgements),
            requests=session.requests,
            prompt_tokens=session.prompt_tokens,
            completion_tokens=session.completion_tokens,
        )

    def _judgement(self, rating: Rating, source: Source, item: _Item) -> Judgement:
        value = self.scores[rating]
        return Judgement(
            rating=rating,
            value=value,
            passed=value >= self.pass_threshold,
            source=source,
            question_type=item.question_type,
            closed=item.closed,
        )

    def _prepare(
        self,
        predictions: Sequence[str],
        golds: Golds,
        questions: Sequence[str | None] | None,
    ) -> list[_Item]:
        n = len(predictions)
        if len(golds) != n or (questions is not None and len(questions) != n):
            counts = f"{n} predictions, {len(golds)} gold entries"
            if questions is not None:
                counts += f", {len(questions)} questions"
            raise EvaluationError(
                f"the judge needs one entry per item, got {counts}",
                hint="pass predictions, golds and questions of the same length",
            )
        qs: Sequence[str | None] = questions if questions is not None else [None] * n
        gold_lists: list[tuple[str, ...]] = []
        for row, (p, g, q) in enumerate(zip(predictions, golds, qs, strict=True)):
            if not isinstance(p, str):
                raise EvaluationError(
                    f"the prediction is {type(p).__name__}, not a string",
                    row=row,
                    hint="predictions must be text",
                )
            if q is not None and not isinstance(q, str):
                raise EvaluationError(
                    f"the question is {type(q).__name__}, not a string or None", row=row
                )
            try:
                gold_lists.append(tuple(x.strip() for x in gold_tuple(g)))
            except EvaluationError as exc:
                raise EvaluationError(exc.message, row=row, hint=exc.hint) from None
        texts = list(dict.fromkeys([*predictions, *(x for g in gold_lists for x in g)]))
        normalized = dict(zip(texts, normalize_answers(texts), strict=True))
        items: list[_Item] = []
        for p, g, q in zip(predictions, gold_lists, qs, strict=True):
            question_type = self.classifier(q, g)
            items.append(
                _Item(
                    question=None if q is None else q.strip(),
                    gold=g,
                    prediction=p.strip(),
                    question_type=question_type,
                    closed=self.classifier.is_closed(question_type),
                    normalized_prediction=normalized[p],
                    normalized_gold=tuple(normalized[x] for x in g),
                )
            )
        return items

    async def _judge_pending(self, session: _Session, pending: list[_Pending]) -> None:
        if self._refusal is not None:
            # The endpoint refused this judge before: asking again would only be refused again
            # (callers that retry item by item would otherwise send one request per item).
            refusal = self._refusal
            raise type(refusal)(refusal.message, hint=refusal.hint)
        groups = [pending[i : i + self.batch_size] for i in range(0, len(pending), self.batch_size)]
        if len(groups) > 1 and self.progress:
            session.bar = tqdm(total=len(pending), desc="judging", unit="item", disable=None)
        tasks = [asyncio.ensure_future(self._judge_group(session, g, 0)) for g in groups]
        try:
            await asyncio.gather(*tasks)
        except _Fatal as fatal:
            if fatal.refusal:
                self._refusal = fatal.error
            raise fatal.error from None
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if session.bar is not None:
                session.bar.close()
            if session.own_client and session.client is not None:
                await session.client.close()

    async def _judge_group(self, session: _Session, group: list[_Pending], attempt: int) -> None:
        check, failure = await self._request(session, group)
        entries: list[CacheEntry] = []
        remaining: list[_Pending] = []
        for index, item in enumerate(group, 1):
            rating = check.ratings.get(index) if failure is None else None
            if rating is None:
                remaining.append(item)
                continue
            session.ratings[item.key] = rating
            entries.append(
                CacheEntry.make(
                    model=self.model,
                    prompt_version=self.prompt.version,
                    question=item.question,
                    closed=item.closed,
                    gold=item.gold,
                    prediction=item.prediction,
                    rating=rating,
                )
            )
        self.cache.put(entries)
        session.done(len(entries))
        if not remaining:
            return
        if failure is None and attempt < self.max_retries:
            log.info(
                "judge reply for %d items was malformed (%s); retrying %d",
                len(group),
                check.reason(),
                len(remaining),
            )
            if attempt == 0 or len(remaining) == 1:
                await self._judge_group(session, remaining, attempt + 1)
            else:
                half = (len(remaining) + 1) // 2
                await asyncio.gather(
                    self._judge_group(session, remaining[:half], attempt + 1),
                    self._judge_group(session, remaining[half:], attempt + 1),
                )
            return
        if failure is None:
            reason = f"malformed judge reply after {attempt + 1} attempts: {check.reason()}"
        else:
            reason = failure
        log.warning("%d items left unjudged: %s", len(remaining), reason)
        for item in remaining:
            session.unjudged[item.key] = reason
        session.done(len(remaining))

    async def _request(
        self, session: _Session, group: list[_Pending]
    ) -> tuple[ReplyCheck, str | None]:
        """Send one request; the reply's check, or (empty check, reason) when it failed."""
        items = [
            JudgeItem(
                index=i,
                question=p.question,
                type="closed" if p.closed else "open",
                gold=list(p.gold),
                answer=p.prediction,
            )
            for i, p in enumerate(group, 1)
        ]
        request: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(self.prompt, items),
            "response_format": response_format(),
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        async with session.semaphore:
            if session.fatal is not None:  # another request failed for good: send no more
                raise session.fatal
            try:
                completion = await self._send(session, request)
            except _Fatal as fatal:
                session.fatal = fatal
                raise
        if isinstance(completion, tuple):
            return completion
        usage = getattr(completion, "usage", None)
        if usage is not None:
            session.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
            session.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        return _check_completion(completion, len(group)), None

    async def _send(
        self, session: _Session, request: dict[str, Any]
    ) -> Any | tuple[ReplyCheck, str | None]:
        """The chat completion, or (check, reason) for a failed request.

        Raises:
            _Fatal: the failure must stop the run (credentials, model, quota).
        """
        import openai

        client = self._client(session)
        session.requests += 1
        try:
            if isinstance(client, openai.OpenAI):
                sync_client = client

                def call() -> Any:
                    return sync_client.chat.completions.create(**request)

                return await asyncio.to_thread(call)
            return await client.chat.completions.create(**request)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise _Fatal(
                EvaluationError(
                    f"the judge endpoint refused the credentials (HTTP {exc.status_code}): "
                    f"{self._redact(_server_message(exc))}",
                    hint=f"check the API key (the {self.api_key_env} environment variable, "
                    f"api_key= or client=) and that it may use model {self.model!r}",
                )
            ) from None
        except openai.NotFoundError as exc:
            raise _Fatal(
                ConfigError(
                    f"the judge endpoint has no model {self.model!r} (HTTP 404): "
                    f"{self._redact(_server_message(exc))}",
                    hint="check the model name and base_url",
                )
            ) from None
        except openai.RateLimitError as exc:
            if exc.code == "insufficient_quota":
                raise _Fatal(
                    EvaluationError(
                        "the judge account has no quota left (HTTP 429 insufficient_quota)",
                        hint="add credit or use another key; judged items are cached",
                    )
                ) from None
            return ReplyCheck(), self._http_failure(exc)
        except openai.APIStatusError as exc:
            return ReplyCheck(), self._http_failure(exc)
        except openai.APIConnectionError as exc:  # timeouts included
            return ReplyCheck(), f"no answer from the judge endpoint ({type(exc).__name__})"
        except json.JSONDecodeError as exc:  # a 200 whose body is not JSON
            return ReplyCheck(problems=[f"response body is not JSON ({exc.msg})"]), None

    def _client(self, session: _Session) -> Any:
        if self.client is not None:
            return self.client
        if session.client is None:
            import openai

            key = self._api_key.get_secret_value() if self._api_key else None
            if key is None:
                key = os.environ.get(self.api_key_env) or None
            if key is None:
                raise _Fatal(
                    ConfigError(
                        f"no API key for the judge: {self.api_key_env} is not set",
                        hint=f"set {self.api_key_env}, or pass api_key= or client= "
                        "(a local endpoint that needs no key accepts any, e.g. 'EMPTY')",
                    ),
                    refusal=False,
                )
            session.client = openai.AsyncOpenAI(
                api_key=key,
                base_url=self.base_url,
                max_retries=self.http_retries,
                timeout=self.timeout,
            )
            session.own_client = True
        return session.client

    def _redact(self, text: str) -> str:
        if self._api_key is not None:
            text = redact(text, self._api_key.get_secret_value())
        return redact(text, os.environ.get(self.api_key_env))

    def _http_failure(self, exc: openai.APIStatusError) -> str:
        return (
            f"HTTP {exc.status_code} from the judge endpoint: {self._redact(_server_message(exc))}"
        )


@dataclass(frozen=True)
class _Item:
    """One input item, prepared."""

    question: str | None
    gold: tuple[str, ...]
    prediction: str
    question_type: str
    closed: bool
    normalized_prediction: str
    normalized_gold: tuple[str, ...]

    def rule_verdict(self) -> tuple[Rating, Source] | None:
        """The rating decided in code (exact match, yes/no rule), if any."""
        if self.normalized_prediction in self.normalized_gold:
            return "Very Similar", "exact"
        if all(g in _YES_NO for g in self.normalized_gold):
            meaning = yes_no_meaning(self.normalized_prediction)
            right = meaning is not None and meaning in self.normalized_gold
            return ("Very Similar" if right else "Incorrect"), "yes/no rule"
        return None


def _server_message(exc: openai.APIStatusError) -> str:
    """The error message the server sent (without the SDK's "Error code: ..." prefix)."""
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, Mapping) else None
        if isinstance(message, str) and message:
            return message
    return exc.message


def _check_completion(completion: Any, n: int) -> ReplyCheck:
    indices = range(1, n + 1)
    choices = getattr(completion, "choices", None) or []
    if not choices:
        return ReplyCheck(problems=["reply has no choices"])
    choice = choices[0]
    message = choice.message
    refusal = getattr(message, "refusal", None)
    if refusal:
        return ReplyCheck(problems=[f"the judge refused: {str(refusal)[:200]}"])
    check = check_reply(message.content, indices)
    if check.problems and choice.finish_reason == "length":
        check.problems.insert(0, "reply cut off (finish_reason=length)")
    return check


def _rating_scores(scores: Mapping[str, float] | None) -> dict[Rating, float]:
    merged: dict[Rating, float] = dict(DEFAULT_SCORES)
    for name, value in (scores or {}).items():
        rating = next((r for r in RATINGS if r == name), None)
        if rating is None:
            raise ConfigError(
                f"no rating named {name!r} in the judge's scores",
                hint="ratings: " + ", ".join(RATINGS),
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"the score of {name!r} must be a number, not {value!r}")
        if not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"the score of {name!r} must lie in [0, 1], not {value!r}")
        merged[rating] = float(value)
    return merged


# -- the sync entry point -------------------------------------------------------------------


class _BackgroundLoop:
    """One event loop on a daemon thread that runs the sync entry points.

    Running every sync call on the same loop lets an injected ``AsyncOpenAI`` client (whose
    connections belong to one loop) serve many calls, and works inside notebooks, whose own
    loop is already running.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="vqaft-judge-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise EvaluationError(
                "the sync judge was called from inside its own event loop",
                hint="await ajudge() / ascore() instead",
            )
        future = asyncio.run_coroutine_threadsafe(coroutine, self._start())
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


_LOOP = _BackgroundLoop()

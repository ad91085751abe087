"""Run a predictor over a test file: bounded concurrency, a resumable store, progress.

::

    from vqaft.predict import OpenAIPredictor, predict_file

    summary = predict_file("runs/demo/data/test.jsonl", OpenAIPredictor("gpt-4o"),
                           concurrency=32, progress=True)
    print(summary.format_text())

* Examples already in the store are not sent again (a rerun after a crash or Ctrl-C sends only
  the rest); with ``retry_failed=True`` the failed ones are sent again too.
* Every answer is appended to the store the moment it arrives; a failure becomes an error
  record, and the run goes on. Only a :class:`~vqaft.errors.PredictionError` (bad key, no
  quota, unknown model) stops it, after keeping everything answered so far.
* At the end the store is compacted to one line per example in test-file order, ready for
  :func:`vqaft.evaluate.load_predictions`.

:func:`apredict_file` is the coroutine; :func:`predict_file` runs it on a private event loop
(in a helper thread when called from a running loop, e.g. a notebook).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from tqdm.auto import tqdm

from vqaft.errors import ConfigError, VqaftError
from vqaft.predict.base import PredictionRequest, Predictor, RequestFailed
from vqaft.predict.records import answer_record, failure_record
from vqaft.predict.retry import redact
from vqaft.predict.store import PredictionStore
from vqaft.predict.testfile import ExampleRef, default_output_path, iter_requests, read_test_ids

__all__ = ["PredictionSummary", "apredict_file", "open_store", "predict_file", "run_sync"]

log = logging.getLogger("vqaft.predict")
T = TypeVar("T")

DEFAULT_CONCURRENCY = 16


class PredictionSummary(BaseModel):
    """What a prediction run did, and where the store stands afterwards.

    Attributes:
        out: the predictions file.
        model: the model.
        mode: ``"online"`` or ``"batch"``.
        examples: examples in the test file.
        skipped: examples not sent because the store already had them.
        sent: examples sent in this run.
        answered: examples answered in this run.
        failed: examples that failed in this run.
        requests: HTTP requests in this run (retries included; batch mode: batch lines).
        prompt_tokens, completion_tokens: token usage of this run's answers.
        seconds: wall time of this run.
        answered_total, failed_total, missing: the store afterwards, over the test file.
        repaired_bytes: bytes of a torn last line cut off when the store was opened.
        batches: Batch API batch ids of this run (batch mode).
        pending_batches: batches still running (batch mode without waiting).
    """

    model_config = ConfigDict(frozen=True)

    out: str
    model: str
    mode: str = "online"
    examples: int
    skipped: int
    sent: int
    answered: int
    failed: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    answered_total: int
    failed_total: int
    missing: int
    repaired_bytes: int = 0
    batches: tuple[str, ...] = ()
    pending_batches: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every example of the test file has an answer."""
        return self.failed_total == 0 and self.missing == 0

    def format_text(self) -> str:
        """A short human-readable account of the run."""
        lines = [
            f"{self.model}: {self.answered} answered, {self.failed} failed, "
            f"{self.skipped} already done, {self.requests} requests, "
            f"{self.prompt_tokens + self.completion_tokens} tokens in {self.seconds:.1f} s",
            f"{self.out}: {self.answered_total}/{self.examples} answered, "
            f"{self.failed_total} failed, {self.missing} missing",
        ]
        if self.repaired_bytes:
            lines.append(f"(cut off a torn last line of {self.repaired_bytes} bytes)")
        if self.pending_batches:
            lines.append(
                f"batches still running: {', '.join(self.pending_batches)} "
                "(run the same command again to collect them)"
            )
        if self.failed_total:
            lines.append("rerun with --retry-failed to ask the failed examples again")
        return "\n".join(lines)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vqaft-predict") as pool:
        return pool.submit(asyncio.run, coro).result()


def open_store(
    out: str | os.PathLike[str], model: str, refs: Sequence[ExampleRef], *, fsync_interval: float
) -> PredictionStore:
    """Open the store ``out`` for ``model`` and check it belongs to this test file and model.

    Raises:
        ConfigError: the store holds another model's predictions, or example ids the test file
            does not have.
    """
    store = PredictionStore.open(out, fsync_interval=fsync_interval)
    try:
        others = store.models() - {model}
        if others:
            raise ConfigError(
                "the predictions file holds answers of another model "
                f"({', '.join(sorted(others))})",
                file=str(out),
                hint="choose another --out for this model (default: predictions/<model>.jsonl)",
            )
        known = {ref.example_id for ref in refs}
        strangers = [r["example_id"] for r in store if str(r["example_id"]) not in known]
        if strangers:
            shown = ", ".join(map(repr, strangers[:3])) + (" ..." if len(strangers) > 3 else "")
            raise ConfigError(
                f"the predictions file has {len(strangers)} example id(s) the test file does not "
                f"have ({shown})",
                file=str(out),
                hint="it belongs to another test file: choose another --out",
            )
    except BaseException:
        store.close()
        raise
    return store


def to_do(store: PredictionStore, refs: Sequence[ExampleRef], retry_failed: bool) -> set[str]:
    """Ids to send: those without a record, plus the failed ones with ``retry_failed``."""
    failed = store.failed() if retry_failed else set()
    return {r.example_id for r in refs if r.example_id not in store or r.example_id in failed}


@dataclass
class _Tally:
    sent: int = 0
    answered: int = 0
    failed: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batches: list[str] = field(default_factory=list)
    pending_batches: list[str] = field(default_factory=list)

    def add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for key in ("prompt_tokens", "completion_tokens"):
                value = usage.get(key)
                if isinstance(value, int):
                    setattr(self, key, getattr(self, key) + value)


def summarize(
    *,
    out: Path,
    model: str,
    mode: str,
    refs: Sequence[ExampleRef],
    store: PredictionStore,
    skipped: int,
    tally: _Tally,
    started: float,
) -> PredictionSummary:
    """Build the :class:`PredictionSummary` of a run from its tally and the store."""
    ids = [r.example_id for r in refs]
    answered = store.answered()
    failed = store.failed()
    return PredictionSummary(
        out=str(out),
        model=model,
        mode=mode,
        examples=len(refs),
        skipped=skipped,
        sent=tally.sent,
        answered=tally.answered,
        failed=tally.failed,
        requests=tally.requests,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        seconds=round(time.perf_counter() - started, 3),
        answered_total=sum(i in answered for i in ids),
        failed_total=sum(i in failed for i in ids),
        missing=sum(i not in store for i in ids),
        repaired_bytes=store.repaired_bytes,
        batches=tuple(tally.batches),
        pending_batches=tuple(tally.pending_batches),
    )


def _resolve_predictor(predictor: Predictor | str) -> tuple[Predictor, bool]:
    if isinstance(predictor, str):
        from vqaft.predict.openai_backend import OpenAIPredictor

        return OpenAIPredictor(predictor), True
    if not isinstance(predictor, Predictor):
        raise ConfigError(
            f"{type(predictor).__name__} is not a predictor",
            hint="pass a model name, an OpenAIPredictor, or an object with 'model' and "
            "'async apredict(request)'",
        )
    return predictor, False


async def apredict_file(
    test_file: str | os.PathLike[str],
    predictor: Predictor | str,
    *,
    out: str | os.PathLike[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry_failed: bool = False,
    progress: bool = False,
    fsync_interval: float = 1.0,
    close_predictor: bool | None = None,
) -> PredictionSummary:
    """Answer every example of ``test_file`` not yet in the store ``out``.

    Args:
        test_file: a chat JSONL test file with its ``<stem>.ids.jsonl`` side file.
        predictor: a :class:`~vqaft.predict.Predictor`, or a model name for an
            :class:`~vqaft.predict.OpenAIPredictor` with default settings.
        out: the predictions file (default ``predictions/<model>.jsonl`` in the run folder,
            see :func:`~vqaft.predict.testfile.default_output_path`).
        concurrency: requests in flight at most.
        retry_failed: send the examples whose latest record is a failure again.
        progress: show a progress bar.
        fsync_interval: seconds between ``fsync`` calls on the store.
        close_predictor: call the predictor's ``aclose()`` at the end (default: only when
            ``predictor`` was a model name).

    Raises:
        PredictionError: the run had to stop (authentication, quota, unknown model); what was
            answered is kept.
        DatasetError: the test file or its side file is unreadable.
        ConfigError: bad arguments, or ``out`` belongs to another model or test file.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    started = time.perf_counter()
    resolved, owned = _resolve_predictor(predictor)
    close = owned if close_predictor is None else close_predictor
    try:
        model = str(resolved.model)
        refs = read_test_ids(test_file)
        target = Path(out) if out is not None else default_output_path(test_file, model)
        with open_store(target, model, refs, fsync_interval=fsync_interval) as store:
            wanted = to_do(store, refs, retry_failed)
            skipped = len(refs) - len(wanted)
            tally = _Tally()
            log.info("predict %s: %d to send, %d already done", model, len(wanted), skipped)
            try:
                if wanted:
                    await _run(
                        test_file, refs, wanted, resolved, store, tally, concurrency, progress
                    )
            finally:
                store.compact([r.example_id for r in refs])
            return summarize(
                out=target,
                model=model,
                mode="online",
                refs=refs,
                store=store,
                skipped=skipped,
                tally=tally,
                started=started,
            )
    finally:
        aclose = getattr(resolved, "aclose", None)
        if close and aclose is not None:
            await aclose()


async def _run(
    test_file: str | os.PathLike[str],
    refs: Sequence[ExampleRef],
    wanted: set[str],
    predictor: Predictor,
    store: PredictionStore,
    tally: _Tally,
    concurrency: int,
    progress: bool,
) -> None:
    model = str(predictor.model)
    queue: asyncio.Queue[tuple[ExampleRef, PredictionRequest | RequestFailed] | None]
    queue = asyncio.Queue(maxsize=2 * concurrency)
    workers = min(concurrency, len(wanted))
    bar = tqdm(total=len(wanted), desc=f"predict {model}", unit="ex", disable=not progress)

    async def produce() -> None:
        for item in iter_requests(test_file, refs, wanted):
            await queue.put(item)
        for _ in range(workers):
            await queue.put(None)

    async def work() -> None:
        while (item := await queue.get()) is not None:
            ref, request = item
            tally.sent += 1
            if isinstance(request, RequestFailed):
                record = failure_record(ref, model, request)
            else:
                record = await _answer(predictor, ref, request, model)
            if record["error"] is None:
                tally.answered += 1
                tally.add_usage(record["usage"])
            else:
                tally.failed += 1
                bar.set_postfix(failed=tally.failed, refresh=False)
            tally.requests += int(record.get("attempts") or 0)
            store.append(record)
            bar.update()

    tasks = [asyncio.ensure_future(produce())]
    tasks += [asyncio.ensure_future(work()) for _ in range(workers)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()


async def _answer(
    predictor: Predictor, ref: ExampleRef, request: PredictionRequest, model: str
) -> dict[str, Any]:
    try:
        completion = await predictor.apredict(request)
    except RequestFailed as failure:
        return failure_record(ref, model, failure)
    except VqaftError:
        raise  # PredictionError, ConfigError: the run cannot go on
    except Exception as exc:  # a backend bug must not lose the rest of the run
        log.warning("predictor raised %s for %s", type(exc).__name__, ref.example_id)
        unexpected = RequestFailed(
            redact(f"{type(exc).__name__}: {exc}"), kind="unexpected", example_id=ref.example_id
        )
        return failure_record(ref, model, unexpected)
    return answer_record(ref, model, completion)


def predict_file(
    test_file: str | os.PathLike[str],
    predictor: Predictor | str,
    *,
    out: str | os.PathLike[str] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry_failed: bool = False,
    progress: bool = False,
    fsync_interval: float = 1.0,
) -> PredictionSummary:
    """Synchronous :func:`apredict_file` (the predictor's connections are closed at the end;
    an :class:`~vqaft.predict.OpenAIPredictor` reopens them when used again).

    >>> summary = predict_file("runs/demo/data/test.jsonl", "gpt-4o")  # doctest: +SKIP
    >>> summary.answered_total == summary.examples  # doctest: +SKIP
    True
    """
    return run_sync(
        apredict_file(
            test_file,
            predictor,
            out=out,
            concurrency=concurrency,
            retry_failed=retry_failed,
            progress=progress,
            fsync_interval=fsync_interval,
            close_predictor=True,
        )
    )

"""Helpers for the experiment tests: a local OCR-VQA copy and a fake model that knows the gold.

``write_ocr_vqa(folder, images)`` writes synthetic covers in the Hugging Face OCR-VQA layout
(``data/<split>-00000-of-00001.parquet``), so the ``ocr-vqa`` adapter reads it exactly as it
reads the Hub copy.

``GoldModel(run_dir)`` is a FakeOpenAI responder that answers a run's test questions from the
run's own ``data/test.jsonl`` and ``test.ids.jsonl`` (matched by the image in the request and the
question text): a fine-tuned model (``ft:...``) is right 90% of the time and answers in the
gold format; the base model is right half of the time and wraps its answers in a sentence.
Which examples are right is a fixed function of the example id, so a test can compute the
expected scores (``expected_lenient``) without running anything twice. Judge requests (with a
JSON schema) are rated by a string-similarity rule.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rapidfuzz import fuzz

from vqaft.datasets.synthetic import SyntheticCoversAdapter
from vqaft.errors import PredictionError
from vqaft.evaluate.strings import LenientMatch
from vqaft.finetune import FineTuneConfig, FineTuneJob, FineTuneResult, JobStatus, finetuners
from vqaft.predict import BasePredictor, Completion, PredictionRequest, predictors
from vqaft.testing import ChatRequest

BASE_RIGHT = 0.5
FT_RIGHT = 0.9
SECRET = "sk-test-pipeline-Vb7Qx2Lm9Rt4"  # the API key the experiment tests must never leak
IMAGES = {"train": 12, "validation": 4, "test": 8}  # images per split of the OCR-VQA copy


def write_ocr_vqa(folder: Path, images: dict[str, int], seed: int = 0) -> Path:
    """Synthetic covers as a local OCR-VQA copy in hub layout; returns ``folder``."""
    SyntheticCoversAdapter(seed=seed, images=images).write_parquet(folder)
    return folder


def sigkill_when(
    process: subprocess.Popen[bytes],
    reached: Callable[[], bool],
    what: str,
    log: Callable[[], str],
    *,
    timeout: float = 120,
) -> None:
    """SIGKILL ``process`` as soon as ``reached()`` is true; fail the test (showing ``log()``)
    if the process ends first or ``timeout`` seconds pass. The process never outlives the
    call."""
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None and not reached():
            assert time.monotonic() < deadline, f"{what} not reached in {timeout} s:\n{log()}"
            time.sleep(0.002)
        assert process.poll() is None, f"the run ended before {what}:\n{log()}"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _unit(*parts: str) -> float:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def answer(model: str, example_id: str, gold: Sequence[str]) -> str:
    """The fake model's answer to ``example_id``."""
    fine_tuned = model.startswith("ft:")
    right = _unit(example_id, "ft" if fine_tuned else "base") < (
        FT_RIGHT if fine_tuned else BASE_RIGHT
    )
    first = gold[0]
    if right:
        return first if fine_tuned else f"I believe the answer is {first}."
    if first in ("Yes", "No"):
        return "No" if first == "Yes" else "Yes"
    return "@@@ unreadable @@@"


def judge_rating(prediction: str, gold: Sequence[str]) -> str:
    """The fake judge's rule: best similarity to a gold answer, in four bands."""
    best = max(fuzz.partial_ratio(prediction.lower(), g.lower()) for g in gold)
    if best >= 90:
        return "Very Similar"
    if best >= 70:
        return "Mostly Similar"
    if best >= 50:
        return "Somewhat Similar"
    return "Incorrect"


def _main_image(record: dict[str, Any]) -> str:
    urls = [
        part["image_url"]["url"]
        for message in record["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    return urls[-1]


class GoldModel:
    """A thread-safe responder answering a run's test questions (see the module docstring).

    Attributes:
        calls: chat requests answered per (model, example id), judge requests excluded.
        judge_requests: judge requests answered.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._index: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        self.calls: dict[tuple[str, str], int] = {}
        self.judge_requests = 0
        self.before_answer: Callable[[str, str], None] | None = None

    def _load(self) -> None:
        data = self.run_dir / "data"
        index: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        with (
            open(data / "test.jsonl", encoding="utf-8") as records,
            open(data / "test.ids.jsonl", encoding="utf-8") as ids,
        ):
            for line, side in zip(records, ids, strict=True):
                record, entry = json.loads(line), json.loads(side)
                url = _main_image(record)
                key = (hashlib.sha256(url.encode()).hexdigest(), entry["question"])
                index.setdefault(key, (entry["example_id"], tuple(entry["answers"])))
        self._index = index

    def lookup(self, url: str, question: str) -> tuple[str, tuple[str, ...]]:
        """(example id, gold answers) of the test question about the image at ``url``."""
        key = (hashlib.sha256(url.encode()).hexdigest(), question)
        with self._lock:
            if key not in self._index:
                self._load()
            return self._index[key]

    def __call__(self, request: ChatRequest) -> Any:
        if request.json_schema is not None:
            items = json.loads(request.last_user_text)["items"]
            with self._lock:
                self.judge_requests += 1
            return {
                "ratings": [
                    {"index": it["index"], "rating": judge_rating(it["answer"], it["gold"])}
                    for it in items
                ]
            }
        example_id, gold = self.lookup(request.image_urls[-1], request.last_user_text)
        if self.before_answer is not None:
            self.before_answer(request.model, example_id)
        with self._lock:
            key = (request.model, example_id)
            self.calls[key] = self.calls.get(key, 0) + 1
        return answer(request.model, example_id, gold)

    def expected_lenient(self, model: str) -> float:
        """The lenient accuracy ``model`` must get over the run's test file."""
        metric = LenientMatch()
        data = self.run_dir / "data"
        with self._lock:
            self._load()
            index = dict(self._index)
        passed = []
        with (
            open(data / "test.jsonl", encoding="utf-8") as records,
            open(data / "test.ids.jsonl", encoding="utf-8") as ids,
        ):
            for line, side in zip(records, ids, strict=True):
                entry = json.loads(side)
                url = _main_image(json.loads(line))
                key = (hashlib.sha256(url.encode()).hexdigest(), entry["question"])
                example_id, gold = index[key]  # what the responder answers for this request
                reply = answer(model, example_id, gold)
                passed.append(bool(metric.score(reply, entry["answers"]).passed))
        return sum(passed) / len(passed)


# -- in-process backends for the runner tests -------------------------------------------------


class RecordingTuner:
    """A fine-tuner that "trains" instantly and records every call (registered by tests).

    The model id depends on the request (model, hyperparameters, files), as a real job's would.
    """

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, run_dir: str | Path | None = None, **options: Any) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.options = options

    def _job(self, train: Any, validation: Any, config: FineTuneConfig | None) -> FineTuneJob:
        config = config or FineTuneConfig()
        train_sha = hashlib.sha256(Path(train).read_bytes()).hexdigest()
        val_sha = (
            None
            if validation is None
            else hashlib.sha256(Path(validation).read_bytes()).hexdigest()
        )
        fingerprint = config.fingerprint(train_sha, val_sha)
        return FineTuneJob(
            id=f"job-{fingerprint[:6]}",
            status=JobStatus.SUCCEEDED,
            model=config.model,
            fine_tuned_model=f"ft:{config.model}:test:{fingerprint[:8]}",
        )

    def start(
        self,
        train: Any,
        validation: Any = None,
        *,
        config: Any = None,
        resume: Any = None,
        new_job: bool = False,
    ) -> FineTuneJob:
        return self._job(train, validation, config)

    def wait(self, job_id: str | None = None, *, timeout: float | None = None) -> FineTuneJob:
        raise NotImplementedError

    def status(self, job_id: str | None = None) -> FineTuneJob:
        raise NotImplementedError

    def cancel(self, job_id: str | None = None) -> FineTuneJob:
        raise NotImplementedError

    def fine_tune(
        self,
        train: Any,
        validation: Any = None,
        *,
        config: Any = None,
        resume: Any = None,
        new_job: bool = False,
        timeout: float | None = None,
    ) -> FineTuneResult:
        job = self._job(train, validation, config)
        RecordingTuner.calls.append(
            {"run_dir": self.run_dir, "model": job.fine_tuned_model, "options": self.options}
        )
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "job.json").write_text(json.dumps({"job_id": job.id}))
        return FineTuneResult(job=job, run_dir=None if self.run_dir is None else str(self.run_dir))


class GoldPredictor(BasePredictor):
    """Answers from the request's gold answers: an ``ft:`` model is right 90% of the time, any
    other model half of the time (a fixed function of the example id). Counts every call;
    ``fail_after`` (class attribute) makes the run stop with a PredictionError after that many
    answers, as a revoked API key would."""

    calls: ClassVar[Counter[tuple[str, str]]] = Counter()
    fail_after: ClassVar[int | None] = None

    def __init__(self, model: str, *, style: str = "plain") -> None:
        self.model = model
        self.style = style

    def predict(self, request: PredictionRequest) -> Completion:
        if GoldPredictor.fail_after is not None and sum(self.calls.values()) >= self.fail_after:
            raise PredictionError("the key was revoked", hint="test")
        GoldPredictor.calls[(self.model, request.example_id)] += 1
        reply = answer(self.model, request.example_id, request.gold or ("?",))
        return Completion(text=reply if self.style == "plain" else f"{self.style}: {reply}")


def register_test_backends() -> None:
    """Register ``pipeline-test`` as a fine-tuner and a predictor (idempotent)."""
    finetuners.register("pipeline-test", RecordingTuner)
    predictors.register("pipeline-test", GoldPredictor)


def unregister_test_backends() -> None:
    finetuners.unregister("pipeline-test")
    predictors.unregister("pipeline-test")
    RecordingTuner.calls.clear()
    GoldPredictor.calls.clear()
    GoldPredictor.fail_after = None


SYNTHETIC_EXPERIMENT = """
name = "tiny"
[dataset]
adapter = "synthetic-covers"
args = { seed = 3, images = { train = 12, validation = 3, test = 6 } }
splits.train = { images = "all" }
splits.validation = { images = "all" }
splits.test = { images = "all" }
[messages]
workers = 1
[finetune]
backend = "pipeline-test"
model = "gpt-4o-2024-08-06"
hyperparameters = { n_epochs = 2 }
[[predict.models]]
name = "base"
backend = "pipeline-test"
model = "gpt-4o-2024-08-06"
concurrency = 4
[[predict.models]]
name = "fine-tuned"
backend = "pipeline-test"
model = "@finetune"
concurrency = 4
[evaluate]
evaluators = ["exact", "lenient", "fuzzy"]
n_resamples = 200
[report]
charts = false
"""

"""Fine-tuning: the FineTuner protocol, its registry, and the ``openai`` backend.

>>> from vqaft.finetune import FineTuneConfig, Hyperparameters, load_finetuner
>>> tuner = load_finetuner("openai", run_dir="runs/covers/finetune")  # doctest: +SKIP
>>> result = tuner.fine_tune(  # doctest: +SKIP
...     "runs/covers/data/train.jsonl", "runs/covers/data/validation.jsonl",
...     config=FineTuneConfig(hyperparameters=Hyperparameters(n_epochs=2), max_cost_usd=25))
>>> print(result.summary())  # doctest: +SKIP

See docs/finetune.md. ``OpenAIFineTuner`` is imported lazily (it needs the ``openai`` SDK).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vqaft.finetune.base import (
    DEFAULT_MODEL,
    BaseFineTuner,
    Checkpoint,
    FineTuneConfig,
    FineTuneJob,
    FineTuneProgress,
    FineTuner,
    FineTuneResult,
    Hyperparameters,
    JobErrorInfo,
    JobEvent,
    JobStatus,
    LoggingProgress,
    ModerationReport,
    finetuners,
    load_finetuner,
    register_finetuner,
)
from vqaft.finetune.metrics import MetricsRow, ResultMetrics

if TYPE_CHECKING:
    from vqaft.finetune.openai_backend import OpenAIFineTuner

__all__ = [
    "DEFAULT_MODEL",
    "BaseFineTuner",
    "Checkpoint",
    "FineTuneConfig",
    "FineTuneJob",
    "FineTuneProgress",
    "FineTuneResult",
    "FineTuner",
    "Hyperparameters",
    "JobErrorInfo",
    "JobEvent",
    "JobStatus",
    "LoggingProgress",
    "MetricsRow",
    "ModerationReport",
    "OpenAIFineTuner",
    "ResultMetrics",
    "finetuners",
    "load_finetuner",
    "register_finetuner",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIFineTuner":
        from vqaft.finetune.openai_backend import OpenAIFineTuner

        return OpenAIFineTuner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

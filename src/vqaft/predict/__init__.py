"""Predict: answer a test file's questions with a model, resumably, at full speed.

The pieces:

* :class:`Predictor` -- the protocol a backend implements (``model`` and
  ``async apredict(request) -> Completion``); :class:`BasePredictor` adapts a synchronous
  ``predict``; backends register in :data:`predictors` (entry-point group
  ``vqaft.predictors``).
* :class:`OpenAIPredictor` -- the ``openai`` backend, for OpenAI, Azure OpenAI and local
  OpenAI-compatible servers (vLLM, Ollama, LM Studio).
* :func:`predict_file` / :func:`apredict_file` -- run a predictor over ``test.jsonl`` with
  bounded concurrency into a resumable :class:`PredictionStore`.
* :func:`predict_batch` -- the same through OpenAI's Batch API (half the price, within 24 h).

>>> from vqaft.predict import OpenAIPredictor, predict_file
>>> summary = predict_file("runs/demo/data/test.jsonl",
...                        OpenAIPredictor("gpt-4o", temperature=0))  # doctest: +SKIP

See docs/predict.md.
"""

from __future__ import annotations

from vqaft.predict.base import (
    BasePredictor,
    Completion,
    PredictionRequest,
    Predictor,
    RequestFailed,
    create_predictor,
    predictors,
    register_predictor,
)
from vqaft.predict.batch import BatchLimits, predict_batch
from vqaft.predict.chat_format import RequestOptions
from vqaft.predict.connection import OpenAIConnection
from vqaft.predict.openai_backend import OpenAIPredictor
from vqaft.predict.retry import RetryPolicy
from vqaft.predict.runner import PredictionSummary, apredict_file, predict_file
from vqaft.predict.store import PredictionStore
from vqaft.predict.testfile import ExampleRef, default_output_path, read_test_ids

__all__ = [
    "BasePredictor",
    "BatchLimits",
    "Completion",
    "ExampleRef",
    "OpenAIConnection",
    "OpenAIPredictor",
    "PredictionRequest",
    "PredictionStore",
    "PredictionSummary",
    "Predictor",
    "RequestFailed",
    "RequestOptions",
    "RetryPolicy",
    "apredict_file",
    "create_predictor",
    "default_output_path",
    "predict_batch",
    "predict_file",
    "predictors",
    "read_test_ids",
    "register_predictor",
]

"""The local backend: an offline OCR-based model that can be "fine-tuned" on 2 CPU cores.

Install with ``pip install 'vqaft[local]'`` (rapidocr-onnxruntime, which ships its PP-OCR
ONNX models: nothing is downloaded at run time).

>>> from vqaft.local import LocalModel, OcrService, fit_local_model
>>> result = fit_local_model("data/train.jsonl", "data/validation.jsonl",
...                          out="model.json")                         # doctest: +SKIP
>>> result.model.id, result.report.validation_accuracy["all"]          # doctest: +SKIP
('local/ft-3f2a9c01b7de', 0.59)
>>> with OcrService() as ocr:                                          # doctest: +SKIP
...     LocalModel.load("model.json").answer("Who wrote this book?", jpeg_bytes, ocr)

The registered backends (``local`` fine-tuner and predictor) are
:class:`~vqaft.local.backends.LocalFineTuner` and
:class:`~vqaft.local.backends.LocalPredictor`. See docs/backends-local.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vqaft.local.learner import FitReport, FitResult, fit_local_model
from vqaft.local.model import BASE_ID, LocalModel
from vqaft.local.ocr import CoverOcr, OcrLine, OcrService, rapidocr_available

if TYPE_CHECKING:
    from vqaft.local.backends import LocalFineTuner, LocalPredictor

__all__ = [
    "BASE_ID",
    "CoverOcr",
    "FitReport",
    "FitResult",
    "LocalFineTuner",
    "LocalModel",
    "LocalPredictor",
    "OcrLine",
    "OcrService",
    "fit_local_model",
    "rapidocr_available",
]


def __getattr__(name: str) -> Any:
    if name in ("LocalFineTuner", "LocalPredictor"):
        from vqaft.local import backends

        return getattr(backends, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

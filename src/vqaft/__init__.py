"""vqaft: fine-tune vision-language models on image+text tasks and measure whether it helped.

The pipeline, each step usable alone::

    DatasetAdapter -> Example stream -> MessageBuilder -> chat-format JSONL
        -> validate / estimate -> FineTuner -> Predictor -> Evaluators -> report
"""

from __future__ import annotations

from vqaft.datasets.base import (
    DatasetAdapter,
    SkippedItem,
    dataset_adapters,
    load_adapter,
    register_dataset,
    sample_rows,
)
from vqaft.errors import (
    ComponentClashError,
    ConfigError,
    DatasetError,
    EvaluationError,
    FineTuneJobError,
    ImageError,
    PluginLoadError,
    PredictionError,
    PredictionsFileError,
    RegistryError,
    TrainingFileError,
    UnknownComponentError,
    VqaftError,
)
from vqaft.types import Example, ImageRef

__version__ = "0.1.0"

__all__ = [
    "ComponentClashError",
    "ConfigError",
    "DatasetAdapter",
    "DatasetError",
    "EvaluationError",
    "Example",
    "FineTuneJobError",
    "ImageError",
    "ImageRef",
    "PluginLoadError",
    "PredictionError",
    "PredictionsFileError",
    "RegistryError",
    "SkippedItem",
    "TrainingFileError",
    "UnknownComponentError",
    "VqaftError",
    "__version__",
    "dataset_adapters",
    "load_adapter",
    "register_dataset",
    "sample_rows",
]

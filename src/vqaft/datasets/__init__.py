"""Dataset adapters: OCR-VQA, generic HF/parquet/JSONL, and synthetic book covers.

Adapters are looked up by name (``load_adapter("ocr-vqa", source=...)``) through the
``vqaft.datasets`` registry; the classes below are the built-ins.
"""

from vqaft.datasets.base import (
    DatasetAdapter,
    OnError,
    SamplingMixin,
    SkippedItem,
    dataset_adapters,
    load_adapter,
    register_dataset,
    sample_rows,
)
from vqaft.datasets.generic import HFDatasetAdapter, JsonlAdapter, ParquetAdapter
from vqaft.datasets.ocr_vqa import OcrVqaAdapter
from vqaft.datasets.synthetic import SyntheticCoversAdapter

__all__ = [
    "DatasetAdapter",
    "HFDatasetAdapter",
    "JsonlAdapter",
    "OcrVqaAdapter",
    "OnError",
    "ParquetAdapter",
    "SamplingMixin",
    "SkippedItem",
    "SyntheticCoversAdapter",
    "dataset_adapters",
    "load_adapter",
    "register_dataset",
    "sample_rows",
]

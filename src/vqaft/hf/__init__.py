"""Open VLMs: LoRA fine-tuning with TRL (``trl``) and predictions with transformers (``hf``).

* :class:`TRLFineTuner` -- the ``trl`` fine-tuner (``vqaft.finetuners``): LoRA / QLoRA on the
  same chat-format JSONL files as the ``openai`` backend; writes an adapter, its metadata
  file and the loss per step.
* :class:`HFPredictor` -- the ``hf`` predictor (``vqaft.predictors``): batched generation
  from a base model or base + adapter.
* :mod:`vqaft.hf.data` -- chat JSONL -> prompt/completion messages and PIL images.
* :mod:`vqaft.hf.metadata` -- the adapter's ``vqaft_adapter.json``.
* :mod:`vqaft.hf.tiny` -- a tiny random Qwen2-VL built offline, for tests and dry runs.
* ``python -m vqaft.hf.train`` -- train from the command line (also under
  ``accelerate launch`` for several GPUs).

Everything that needs torch is imported lazily: ``import vqaft.hf`` works without the
``[hf]`` extra, and using a backend without it raises a
:class:`~vqaft.errors.ConfigError` saying ``pip install 'vqaft[hf]'``.

>>> from vqaft.finetune import load_finetuner
>>> tuner = load_finetuner("trl", run_dir="runs/x/finetune", lora_r=16)  # doctest: +SKIP

See docs/open-models.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vqaft.hf.data import ChatExample, convert_messages, read_chat_jsonl, training_dataset
from vqaft.hf.metadata import AdapterMetadata, DataFile, read_adapter_metadata

if TYPE_CHECKING:
    from vqaft.hf.hf_predictor import HFPredictor
    from vqaft.hf.trl_finetuner import TRLFineTuner, TRLSettings

__all__ = [
    "AdapterMetadata",
    "ChatExample",
    "DataFile",
    "HFPredictor",
    "TRLFineTuner",
    "TRLSettings",
    "convert_messages",
    "read_adapter_metadata",
    "read_chat_jsonl",
    "training_dataset",
]

_LAZY = {
    "HFPredictor": "vqaft.hf.hf_predictor",
    "TRLFineTuner": "vqaft.hf.trl_finetuner",
    "TRLSettings": "vqaft.hf.trl_finetuner",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

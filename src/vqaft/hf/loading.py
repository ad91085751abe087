"""Loading open VLMs: the processor, the model (optionally quantized), the precision.

Shared by the ``trl`` fine-tuner and the ``hf`` predictor. Models and processors load through
transformers' Auto classes (``AutoModelForImageTextToText``, ``AutoProcessor``) unless a
``"module:Class"`` names another class (e.g. :data:`vqaft.hf.tiny.TINY_PROCESSOR_CLASS`).

>>> resolve_precision("fp32", cuda=False)
'fp32'
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Literal

from vqaft.errors import ConfigError

__all__ = [
    "HF_EXTRA_HINT",
    "Precision",
    "Quantization",
    "cuda_available",
    "describe_device",
    "import_object",
    "load_model",
    "load_processor",
    "require_hf",
    "resolve_precision",
    "torch_dtype",
]

Precision = Literal["auto", "bf16", "fp16", "fp32"]
"""Training/inference precision; ``auto``: bf16 on a GPU that has it, else fp16 on a GPU, else
fp32 (CPU)."""

Quantization = Literal["none", "4bit", "8bit"]
"""Base-model quantization with bitsandbytes (``4bit``: QLoRA, NF4 with double quantization)."""

HF_EXTRA_HINT = "pip install 'vqaft[hf]' (torch, transformers, peft, trl, accelerate)"
_REQUIRED = ("torch", "transformers", "peft")


def require_hf(*extra: str) -> None:
    """Raise :class:`~vqaft.errors.ConfigError` unless torch, transformers, peft (and
    ``extra``) are importable."""
    missing = [m for m in (*_REQUIRED, *extra) if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"the open-model backends need {', '.join(missing)}, which is not installed",
            hint=HF_EXTRA_HINT,
        )


def import_object(spec: str, what: str) -> Any:
    """The object named by ``"package.module:attr"``.

    Raises:
        ConfigError: malformed spec, module not importable, or no such attribute.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"{what} {spec!r} must look like 'package.module:Class'",
            hint="e.g. vqaft.hf.tiny:TinyQwen2VLProcessor",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {spec!r}: cannot import {module_name}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{what} {spec!r}: {module_name} has no attribute {attr!r}") from None


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def describe_device() -> str:
    """``"cuda:<name> x<count>"`` or ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    return "cpu"


def resolve_precision(precision: Precision, *, cuda: bool | None = None) -> str:
    """``bf16``, ``fp16`` or ``fp32`` for ``precision`` on this machine.

    Raises:
        ConfigError: ``bf16``/``fp16`` asked for without a GPU.
    """
    on_gpu = cuda_available() if cuda is None else cuda
    if precision == "auto":
        if not on_gpu:
            return "fp32"
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision in ("bf16", "fp16") and not on_gpu:
        raise ConfigError(
            f"precision {precision!r} needs a GPU, and torch sees none",
            hint="use precision='auto' (fp32 on a CPU) or run on a GPU machine",
        )
    return precision


def torch_dtype(precision: str) -> Any:
    """The torch dtype of a resolved precision."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def load_processor(model: str, processor_class: str | None = None) -> Any:
    """The processor of ``model`` (a hub id or a folder).

    Raises:
        ConfigError: the processor cannot be loaded, or what loads is a bare tokenizer (the
            model is not a vision-language model, or its processor class is unknown to
            transformers: name it with ``processor_class``).
    """
    from transformers import AutoProcessor, ProcessorMixin

    loader = (
        AutoProcessor
        if processor_class is None
        else import_object(processor_class, "processor_class")
    )
    try:
        processor = loader.from_pretrained(model)
    except (OSError, ValueError, ImportError) as exc:
        raise ConfigError(
            f"cannot load the processor of {model!r}: {exc}",
            hint="check the model id (downloads need network unless HF_HUB_OFFLINE is unset) "
            "or name the class with processor_class='package.module:Class'",
        ) from None
    if not isinstance(processor, ProcessorMixin):
        raise ConfigError(
            f"{model!r} loads a {type(processor).__name__}, not a multimodal processor",
            hint="use a vision-language model, or name its processor class with "
            "processor_class='package.module:Class'",
        )
    return processor


def _quantization_config(quantization: Quantization, precision: str) -> Any:
    if quantization == "none":
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            f"quantization {quantization!r} needs bitsandbytes, which is not installed",
            hint="pip install bitsandbytes (Linux with an NVIDIA GPU), or quantization='none'",
        )
    if not cuda_available():
        raise ConfigError(
            f"quantization {quantization!r} needs a CUDA GPU", hint="use quantization='none'"
        )
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch_dtype(precision),
    )


def load_model(
    model: str,
    *,
    model_class: str | None = None,
    precision: str = "fp32",
    quantization: Quantization = "none",
    device_map: Any = None,
) -> Any:
    """Load the base model ``model`` in ``precision`` (resolved), optionally quantized.

    Raises:
        ConfigError: the model cannot be loaded.
    """
    from transformers import AutoModelForImageTextToText

    loader = (
        AutoModelForImageTextToText
        if model_class is None
        else import_object(model_class, "model_class")
    )
    kwargs: dict[str, Any] = {"dtype": torch_dtype(precision)}
    quantization_config = _quantization_config(quantization, precision)
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        if device_map is None:
            from accelerate import PartialState

            device_map = {"": PartialState().local_process_index}
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        return loader.from_pretrained(model, **kwargs)
    except (OSError, ValueError, ImportError) as exc:
        raise ConfigError(
            f"cannot load model {model!r}: {exc}",
            hint="check the model id (downloads need network unless HF_HUB_OFFLINE is unset) "
            "or name the class with model_class='package.module:Class'",
        ) from None

"""A tiny, randomly initialised Qwen2-VL built offline: for tests, benchmarks and dry runs.

:func:`build_tiny_vlm` writes a complete model folder -- weights, config, a byte-level BPE
tokenizer trained on the spot, an image processor and a chat template -- without downloading
anything, so the whole open-model path (LoRA training with the ``trl`` fine-tuner, the ``hf``
predictor) can be exercised on a CPU in seconds::

    from vqaft.hf.tiny import TINY_PROCESSOR_CLASS, build_tiny_vlm

    path = build_tiny_vlm("tmp/tiny-vlm")
    tuner = TRLFineTuner("tmp/run", processor_class=TINY_PROCESSOR_CLASS, ...)

The model has about 0.2 M parameters (text: hidden 64, 2 layers; vision: depth 1) and answers
nonsense until it is trained. Its processor is :class:`TinyQwen2VLProcessor`: the stock
``Qwen2VLProcessor`` insists on a video processor, which needs torchvision; this one takes only
an image processor and a tokenizer (the PIL image processor needs no torchvision). Load it with
its own ``from_pretrained`` (``AutoProcessor`` does not know it), which is what
``processor_class=TINY_PROCESSOR_CLASS`` tells vqaft's loaders.

Needs the ``[hf]`` extra (torch, transformers) plus ``tokenizers``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import (
    PreTrainedTokenizerFast,
    ProcessorMixin,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
    Qwen2VLImageProcessorPil,
)
from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "TINY_PROCESSOR_CLASS",
    "TinyQwen2VLProcessor",
    "build_tiny_vlm",
]

TINY_PROCESSOR_CLASS = "vqaft.hf.tiny:TinyQwen2VLProcessor"
"""The ``processor_class`` to give vqaft's loaders for a model built by :func:`build_tiny_vlm`."""

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen-style: every part of an OpenAI message (text, image, image_url) is rendered; the
# assistant's text and <|im_end|> sit inside {% generation %} so that
# return_assistant_tokens_mask works too. Newlines are emitted as {{- '\n' -}}: a literal newline
# before a {%- tag would be stripped.
CHAT_TEMPLATE = (
    "{%- macro content(message) -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- elif part['type'] in ['image', 'image_url'] -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}{{- '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{ content(message) }}<|im_end|>{%- endgeneration -%}"
    "{%- else -%}{{ content(message) }}<|im_end|>{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{- '\\n' -}}{%- endif -%}"
)

_CORPUS = (
    "You answer questions about book covers in a few words.",
    "Who wrote this book? What is the title of this book? What is the genre of this book?",
    "Is this a cookbook? Is this book related to history? Yes No",
    "Jane Doe John Smith Mary Major Travel Romance Cookbooks History Science Fiction",
    "The Quiet Garden A Short History of Time Mockingjay Practical Python 0123456789",
)


class TinyQwen2VLProcessor(Qwen2VLProcessor):  # type: ignore[misc]
    """A Qwen2-VL processor with an image processor and a tokenizer only (no video).

    >>> processor = TinyQwen2VLProcessor.from_pretrained("tmp/tiny-vlm")  # doctest: +SKIP
    """

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.image_token = "<|image_pad|>"  # noqa: S105 - a vocabulary token, not a secret
        self.video_token = "<|video_pad|>"  # noqa: S105
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def _train_tokenizer(corpus: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",  # noqa: S106 - vocabulary tokens, not secrets
        pad_token="<|endoftext|>",  # noqa: S106
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_vlm(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    corpus: Sequence[str] = (),
    vocab_size: int = 400,
) -> Path:
    """Write a tiny random Qwen2-VL (model, tokenizer, processor) to ``path``; return it.

    Args:
        path: the folder to write (created; files in it are overwritten).
        seed: the random seed of the weights.
        corpus: extra sentences for the tokenizer (e.g. the answers a test trains on), so that
            they take few tokens.
        vocab_size: the tokenizer's vocabulary size (at most).

    32x32-pixel images become 4 image tokens (patch 8, merge 2).

    >>> build_tiny_vlm("tmp/tiny-vlm")  # doctest: +SKIP
    PosixPath('tmp/tiny-vlm')
    """
    import torch

    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer([*_CORPUS, *corpus], vocab_size)
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=8,
        temporal_patch_size=2,
        merge_size=2,
        size={"shortest_edge": 1024, "longest_edge": 1024},
    )
    processor = TinyQwen2VLProcessor(image_processor, tokenizer, chat_template=CHAT_TEMPLATE)

    def token(text: str) -> int:
        return int(tokenizer.convert_tokens_to_ids(text))

    head_dim = 16
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],  # sums to head_dim / 2
            },
            "bos_token_id": token("<|endoftext|>"),
            "eos_token_id": token("<|im_end|>"),
            "pad_token_id": token("<|endoftext|>"),
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 64,  # the text hidden size
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 8,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
    )
    if head_dim != 64 // 4:  # pragma: no cover - a guard for whoever edits the sizes above
        raise ValueError("mrope_section must sum to head_dim / 2")
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = token("<|im_end|>")
    model.generation_config.pad_token_id = token("<|endoftext|>")
    model.generation_config.bos_token_id = token("<|endoftext|>")
    model.save_pretrained(target)
    processor.save_pretrained(target)
    return target

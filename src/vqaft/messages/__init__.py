"""Chat-format training files: message building, image encoding, validation, cost estimate.

>>> from vqaft.messages import prepare, validate, estimate  # doctest: +SKIP
"""

from vqaft.messages.builder import DEFAULT_SYSTEM_PROMPT, MessageBuilder
from vqaft.messages.estimate import CostEstimate, estimate
from vqaft.messages.images import EncodedImage, ImagePolicy, encode_image
from vqaft.messages.validate import (
    Finding,
    MultiValidationReport,
    ValidationReport,
    validate,
    validate_many,
)
from vqaft.messages.vision_tokens import billed_size, image_tokens
from vqaft.messages.writer import PrepareManifest, SplitManifest, prepare, write_split

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "CostEstimate",
    "EncodedImage",
    "Finding",
    "ImagePolicy",
    "MessageBuilder",
    "MultiValidationReport",
    "PrepareManifest",
    "SplitManifest",
    "ValidationReport",
    "billed_size",
    "encode_image",
    "estimate",
    "image_tokens",
    "prepare",
    "validate",
    "validate_many",
    "write_split",
]

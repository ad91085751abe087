"""The column layout of the Hugging Face copy of OCR-VQA (``howard-hou/OCR-VQA``).

Shared by the ``ocr-vqa`` adapter (which reads it) and the synthetic-covers generator (which
writes it), so a synthetic dataset reads exactly like the real one.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["HUB_ID", "OCR_VQA_SCHEMA", "REQUIRED_COLUMNS", "SPLITS"]

HUB_ID = "howard-hou/OCR-VQA"
SPLITS = ("train", "validation", "test")

OCR_VQA_SCHEMA = pa.schema(
    [
        pa.field(
            "image", pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
        ),
        pa.field("image_id", pa.string()),
        pa.field("questions", pa.list_(pa.string())),
        pa.field("answers", pa.list_(pa.string())),
        pa.field("ocr_tokens", pa.list_(pa.string())),
        pa.field(
            "ocr_info",
            pa.list_(
                pa.struct(
                    [
                        pa.field("word", pa.string()),
                        pa.field(
                            "bounding_box",
                            pa.struct(
                                [
                                    pa.field("width", pa.float32()),
                                    pa.field("height", pa.float32()),
                                    pa.field("top_left_x", pa.float32()),
                                    pa.field("top_left_y", pa.float32()),
                                ]
                            ),
                        ),
                    ]
                )
            ),
        ),
        pa.field("title", pa.string()),
        pa.field("authorName", pa.string()),
        pa.field("genre", pa.string()),
        pa.field("image_width", pa.int64()),
        pa.field("image_height", pa.int64()),
        pa.field("image_url", pa.string()),
        pa.field("set_name", pa.string()),
    ]
)
"""Arrow schema of one OCR-VQA row. ``image`` is the ``datasets`` Image feature's storage."""

REQUIRED_COLUMNS = ("image", "image_id", "questions", "answers")
"""Columns the adapter cannot work without; the rest travel as metadata when present."""

"""Dataset adapters: OCR-VQA, generic HF/parquet/JSONL, and synthetic book covers."""

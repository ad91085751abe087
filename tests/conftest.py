"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_pipeline import IMAGES, SECRET, write_ocr_vqa

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The workplace's shared folder (real OCR-VQA metadata and covers), when present."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="module")
def ocr_vqa_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic OCR-VQA copy in Hub layout (the experiment tests' dataset)."""
    return write_ocr_vqa(tmp_path_factory.mktemp("ocr-vqa"), IMAGES)


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of an environment variable holding SECRET; OPENAI_API_KEY is unset."""
    monkeypatch.setenv("VQAFT_TEST_OPENAI_KEY", SECRET)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return "VQAFT_TEST_OPENAI_KEY"

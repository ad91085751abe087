"""Real OCR with rapidocr: reading covers, the cache, rotated text, no network, and the whole
local backend end to end on rendered synthetic covers and on the real covers.

Skipped with a reason when rapidocr-onnxruntime (the ``[local]`` extra) is not installed.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from test_local_helpers import needs_rapidocr
from vqaft.datasets.synthetic import SyntheticCoversAdapter
from vqaft.errors import ImageError
from vqaft.evaluate.predictions import load_predictions
from vqaft.local import LocalModel, OcrService
from vqaft.local.backends import LocalFineTuner, LocalPredictor
from vqaft.local.ocr import OcrEngine, default_cache_dir, image_digest
from vqaft.messages.writer import prepare
from vqaft.predict import predict_file

pytestmark = needs_rapidocr

FONT = Path(__file__).resolve().parents[1] / "src/vqaft/datasets/data/fonts/DejaVuSans-Bold.ttf"


def _jpeg(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _text_image(text: str, *, rotate: int = 0) -> bytes:
    font = ImageFont.truetype(str(FONT), 34)
    image = Image.new("RGB", (420, 90), "white")
    ImageDraw.Draw(image).text((12, 20), text, font=font, fill="black")
    if rotate:
        image = image.rotate(rotate, expand=True, fillcolor="white")
        canvas = Image.new("RGB", (300, 460), "white")
        canvas.paste(image, (100, 10))
        image = canvas
    return _jpeg(image)


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine(threads=1)


def test_reads_words_and_measures_gaps(engine: OcrEngine) -> None:
    cover = engine.read(_text_image("Coastal Processes"))
    text = " ".join(line.text for line in cover.lines).replace(" ", "").lower()
    assert "coastalprocesses" in text
    line = next(line for line in cover.lines if "oastal" in line.text)
    assert len(line.gaps) == len(line.text) - 1
    assert max(line.gaps) > 0.15  # the word space is the widest gap
    assert cover.width == 420
    assert cover.digest == image_digest(_text_image("Coastal Processes"))


def test_reads_text_printed_up_the_spine(engine: OcrEngine) -> None:
    cover = engine.read(_text_image("Patterns Bundle", rotate=90))
    vertical = [line for line in cover.lines if line.vertical]
    assert vertical, "the rotated title should be found"
    assert any("atterns" in line.text for line in vertical)


def test_rejects_what_is_not_an_image(engine: OcrEngine) -> None:
    with pytest.raises(ImageError):
        engine.read(b"not an image at all")


def test_models_ship_with_the_wheel_and_no_network_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import rapidocr_onnxruntime

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    assert sorted(p.suffix for p in models.iterdir() if p.suffix == ".onnx") == [".onnx"] * 3

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the OCR tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    cover = OcrEngine(threads=1).read(_text_image("Offline"))
    assert cover.lines


def test_cache_on_disk_in_memory_and_shared_reads(tmp_path: Path) -> None:
    image = _text_image("Cached Title")
    with OcrService(tmp_path, workers=2) as ocr:
        first, twin = ocr.submit(image), ocr.submit(image)
        assert first is twin  # one OCR for two simultaneous requests
        cover = first.result()
        assert not cover.cached
        assert ocr.stats()["images_read"] == 1
        assert ocr.read(image).lines == cover.lines
        assert ocr.stats()["images_read"] == 1
    files = list(tmp_path.rglob("*.json"))
    assert [f.stem for f in files] == [image_digest(image)]
    assert json.loads(files[0].read_text())["lines"]
    with OcrService(tmp_path, workers=1) as again:
        cached = again.read(image)
        assert cached.cached
        assert cached.lines == cover.lines
        assert again.stats()["images_read"] == 0
    files[0].write_text("{broken")
    with OcrService(tmp_path, workers=1) as repaired:
        assert repaired.read(image).lines == cover.lines  # read again, not crashed


def test_default_cache_dir_follows_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VQAFT_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "ocr"
    monkeypatch.delenv("VQAFT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "vqaft" / "ocr"


# -- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """30 / 10 / 20 rendered covers: prepared, OCR'd once, fitted."""
    root = tmp_path_factory.mktemp("local-run")
    adapter = SyntheticCoversAdapter(seed=3, images={"train": 30, "validation": 10, "test": 20})
    prepare(
        adapter,
        root / "data",
        splits={"train": (30, 42), "validation": (10, 42), "test": (20, 42)},
        progress=False,
    )
    tuner = LocalFineTuner(root / "ft", models_dir=root / "models", cache_dir=root / "ocr")
    result = tuner.fine_tune(root / "data" / "train.jsonl", root / "data" / "validation.jsonl")
    return {"root": root, "result": result}


@pytest.mark.slow
def test_fit_save_reload_predict_on_rendered_covers(small_run: dict[str, Any]) -> None:
    root, result = small_run["root"], small_run["result"]
    model_id = result.job.fine_tuned_model
    assert model_id.startswith("local/ft-")
    reloaded = LocalModel.load(root / "ft" / "model.json")
    assert reloaded.id == model_id
    answers = {}
    for model in ("local/base", model_id):
        predictor = LocalPredictor(model, models_dir=root / "models", cache_dir=root / "ocr")
        out = root / "predictions" / f"{model.replace('/', '-')}.jsonl"
        summary = predict_file(root / "data" / "test.jsonl", predictor, out=out)
        assert summary.complete
        records = load_predictions(out).records
        answers[model] = records
        for r in records:
            assert isinstance(r.predicted_answer, str)
            if r.question and r.question.startswith("Is this"):
                assert r.predicted_answer in ("Yes", "No")

    def titles_read(records: list[Any]) -> int:
        return sum(
            (r.actual_answer or ("",))[0].lower() in (r.predicted_answer or "").lower()
            for r in records
            if r.question == "What is the title of this book?"
        )

    # Even 30 training covers teach the model to read titles better than the rules do.
    assert titles_read(answers[model_id]) > titles_read(answers["local/base"])


@pytest.mark.slow
def test_real_covers_smoke(small_run: dict[str, Any], shared_dir: Path, tmp_path: Path) -> None:
    covers = shared_dir / "data" / "real-covers"
    entries = json.loads((covers / "real_covers_qa.json").read_text())
    root = small_run["root"]
    models = [LocalModel.base(), LocalModel.load(root / "ft" / "model.json")]
    recorded = []
    with OcrService(root / "ocr", workers=2) as ocr:
        for entry in entries:
            image = (covers / entry["file"]).read_bytes()
            for question, gold in entry.get("qa") or entry.get("qa_unofficial") or []:
                for model in models:
                    answer = model.answer(question, image, ocr)
                    assert isinstance(answer, str)
                    recorded.append(
                        {
                            "file": entry["file"],
                            "model": model.id,
                            "question": question,
                            "gold": gold,
                            "answer": answer,
                        }
                    )
    (tmp_path / "real-covers.jsonl").write_text("\n".join(json.dumps(r) for r in recorded))
    assert len(recorded) == 2 * sum(
        len(e.get("qa") or e.get("qa_unofficial") or []) for e in entries
    )
    # The rotated title of the cookbook's cover is read (turned by 90 degrees).
    with OcrService(root / "ocr", workers=1) as ocr:
        reading = ocr.read((covers / "cookbook_pattys_patterns.jpg").read_bytes())
    assert any("atterns" in line.text and line.vertical for line in reading.lines)

"""The scale path: vLLM serves base + LoRA adapter behind its OpenAI-compatible API, and
vqaft's ``openai`` predictor points ``base_url`` at it, asking for the LoRA module by name.

vLLM itself needs a GPU; here FakeOpenAI stands in for it (a real HTTP server speaking the
same API), and the predictors are built from examples/open-vlm-vllm.toml exactly as the
experiment runner builds them, so the example file's keys are checked too.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from vqaft.hf.tiny_data import write_tiny_split
from vqaft.pipeline import load_experiment, parse_experiment
from vqaft.predict import create_predictor, predict_file
from vqaft.testing import ChatRequest, FakeOpenAI

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "open-vlm-vllm.toml"
DOC = REPO / "docs" / "open-models.md"


def test_openai_predictor_asks_vllm_for_the_lora_module(tmp_path: Path) -> None:
    experiment = load_experiment(EXAMPLE)
    assert experiment.finetune is not None
    assert experiment.finetune.backend == "trl"
    models = {m.name: m for m in experiment.predict.models}
    lora = models["fine-tuned"]
    assert lora.backend == "openai"
    assert lora.model == experiment.finetune.suffix

    seen: list[ChatRequest] = []
    lock = threading.Lock()

    def vllm(request: ChatRequest) -> str:
        with lock:
            seen.append(request)
        return "Jane Doe" if request.model == lora.model else "base answer"

    test = write_tiny_split(tmp_path / "data", "test", 6, answers=False)
    with FakeOpenAI(responder=vllm) as fake:
        for name in ("base", "fine-tuned"):
            entry = models[name]
            args = {**entry.args, "base_url": fake.base_url}  # the server's address
            predictor = create_predictor(entry.backend, model=entry.model, **args)
            out = tmp_path / "predictions" / f"{name}.jsonl"
            summary = predict_file(test, predictor, out=out, concurrency=entry.concurrency)
            assert summary.complete
            assert summary.answered == 6

    by_model = {r.model for r in seen}
    assert by_model == {"Qwen/Qwen2.5-VL-3B-Instruct", "covers"}
    sent = [json.loads(x)["messages"] for x in test.read_text().splitlines()]
    for request in seen:
        assert request.body["temperature"] == 0
        assert request.body["max_tokens"] == 64
        assert request.messages in sent  # images travel as the test file's data URLs
    records = [
        json.loads(x)
        for x in (tmp_path / "predictions" / "fine-tuned.jsonl").read_text().splitlines()
    ]
    assert {r["model"] for r in records} == {"covers"}
    assert {r["predicted_answer"] for r in records} == {"Jane Doe"}


def test_documented_vllm_command_matches_the_example() -> None:
    experiment = load_experiment(EXAMPLE)
    assert experiment.finetune is not None
    rank = int(experiment.finetune.args["lora_r"])
    suffix = experiment.finetune.suffix
    for text in (EXAMPLE.read_text(), DOC.read_text()):
        command = re.search(r"vllm serve (\S+)(.*?)(?:\n\s*\n|$)", text, re.S)
        assert command is not None
        assert command.group(1) == experiment.finetune.model
        flags = command.group(2)
        assert "--enable-lora" in flags
        assert f"--lora-modules {suffix}=" in flags
        max_rank = re.search(r"--max-lora-rank (\d+)", flags)
        assert max_rank is not None
        assert int(max_rank.group(1)) >= rank


def test_the_example_can_fall_back_to_the_hf_predictor() -> None:
    text = EXAMPLE.read_text()
    start = text.index("# [[predict.models]]")
    block = []
    for line in text[start:].splitlines():
        if not line.startswith("#"):
            break
        block.append(line.removeprefix("#").removeprefix(" "))
    experiment = parse_experiment(tomllib.loads(text + "\n" + "\n".join(block)))
    fallback = experiment.predict.models[-1]
    assert (fallback.backend, fallback.model) == ("hf", "@finetune")
    assert fallback.args == {"batch_size": 8, "max_new_tokens": 64}

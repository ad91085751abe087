"""The vqaft command line, driven through vqaft.cli.main as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqaft.cli import main
from vqaft.messages.writer import PrepareManifest, ids_path


def _prepare(out: Path, *extra: str) -> int:
    return main(
        [
            "prepare",
            "--out",
            str(out),
            "--train",
            "12",
            "--validation",
            "3",
            "--test",
            "4",
            "--no-progress",
            *extra,
        ]
    )


def test_prepare_writes_valid_files_and_reports_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prepared"
    assert _prepare(out, "--few-shot", "1") == 0
    printed = capsys.readouterr().out
    assert "train: " in printed
    assert "estimated cost" in printed
    assert printed.count(": OK - 0 errors") == 3

    manifest = PrepareManifest.read(out / "manifest.json")
    assert manifest.dataset == {"name": "synthetic-covers", "args": {}}
    assert manifest.splits["train"].images == 12
    train_ids = [json.loads(line) for line in ids_path(out / "train.jsonl").open()]
    test_ids = [json.loads(line) for line in ids_path(out / "test.jsonl").open()]
    assert len(train_ids) == manifest.splits["train"].examples
    assert {r["image_id"] for r in train_ids}.isdisjoint({r["image_id"] for r in test_ids})

    # The few-shot example comes from a training image outside the training sample.
    first = json.loads((out / "train.jsonl").open().readline())
    shot_url = first["messages"][1]["content"][1]["image_url"]["url"]
    asked_url = first["messages"][3]["content"][1]["image_url"]["url"]
    assert shot_url != asked_url
    shot_images = {
        json.loads(line)["messages"][1]["content"][1]["image_url"]["url"]
        for line in (out / "train.jsonl").open()
    }
    asked_images = {
        json.loads(line)["messages"][3]["content"][1]["image_url"]["url"]
        for line in (out / "train.jsonl").open()
    }
    assert shot_images == {shot_url}
    assert shot_url not in asked_images


def test_prepare_is_reproducible(tmp_path: Path) -> None:
    assert _prepare(tmp_path / "a", "--no-check") == 0
    assert _prepare(tmp_path / "b", "--no-check") == 0
    a = PrepareManifest.read(tmp_path / "a" / "manifest.json")
    b = PrepareManifest.read(tmp_path / "b" / "manifest.json")
    assert {k: s.content_sha256 for k, s in a.splits.items()} == {
        k: s.content_sha256 for k, s in b.splits.items()
    }


def test_validate_exit_status_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prepared"
    assert _prepare(out, "--no-check") == 0
    capsys.readouterr()
    assert main(["validate", str(out / "train.jsonl"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["findings"] == []

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [}\n')
    assert main(["validate", str(bad), "--purpose", "train"]) == 1
    printed = capsys.readouterr().out
    assert "line 1" in printed
    assert "invalid_json" in printed


def test_estimate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prepared"
    assert _prepare(out, "--no-check") == 0
    capsys.readouterr()
    assert main(["estimate", str(out / "train.jsonl"), "--epochs", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["epochs"] == 2
    assert data["trained_tokens"] == 2 * data["tokens_per_epoch"]
    assert data["cost_usd"] == pytest.approx(data["trained_tokens"] * 25 / 1e6)


def test_errors_are_one_line_with_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "--dataset", "ocr-vq", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset adapter 'ocr-vq'" in err
    assert "did you mean 'ocr-vqa'?" in err
    assert "Traceback" not in err

    assert main(["estimate", "no/such/file.jsonl"]) == 2
    assert "no/such/file.jsonl" in capsys.readouterr().err


def test_few_shot_with_whole_train_split_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prepare", "--out", str(tmp_path), "--train", "-1", "--few-shot", "2"]) == 2
    assert "--few-shot" in capsys.readouterr().err


def test_plugins_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert {"ocr-vqa", "synthetic-covers"} <= set(listing["datasets"])


def test_cli_reference_documents_every_command() -> None:
    import argparse

    from vqaft.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    missing = [name for name in sub.choices if f"## vqaft {name}\n" not in doc]
    assert missing == [], f"docs/cli.md lacks sections for: {missing}"
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in doc, f"docs/cli.md does not mention {name} {flag}"


def test_prepare_reads_ocr_vqa_parquet_like_the_real_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vqaft.datasets import SyntheticCoversAdapter

    SyntheticCoversAdapter(seed=3, images={"train": 15, "validation": 4, "test": 6}).write_parquet(
        tmp_path / "ocr-vqa"
    )
    out = tmp_path / "prepared"
    code = main(
        [
            "prepare",
            "--dataset",
            "ocr-vqa",
            "-D",
            f"source={tmp_path / 'ocr-vqa'}",
            "--train",
            "12",
            "--validation",
            "4",
            "--test",
            "6",
            "--out",
            str(out),
            "--image-format",
            "jpeg",
            "--quality",
            "100",
            "--no-progress",
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.count(": OK - 0 errors") == 3
    manifest = PrepareManifest.read(out / "manifest.json")
    assert manifest.dataset["name"] == "ocr-vqa"
    assert manifest.policy.quality == 100
    assert {s: m.images for s, m in manifest.splits.items()} == {
        "train": 12,
        "validation": 4,
        "test": 6,
    }

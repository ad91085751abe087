"""The evaluate, compare and report commands, through vqaft.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_eval import BASE, FT, GOLD, SEED_BASE, SEED_FT, write_jsonl
from vqaft.cli import main
from vqaft.report import DISABLE_ENV


@pytest.fixture(autouse=True)
def _no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "1")  # keep CLI tests fast; charts are tested elsewhere


def test_evaluate_prints_scores_and_writes_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            str(FT),
            str(BASE),
            "--gold",
            str(GOLD),
            "--evaluators",
            "exact,lenient,fuzzy:threshold=90,scorer=token_set_ratio,anls",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert "ft (" in stdout
    assert "30 items, 0 failed, 0 skipped, 0 missing" in stdout
    assert "83.3% (66.4–92.7%, n=30)" in stdout
    assert "The difference is not statistically significant (McNemar p = 0.18)" in stdout
    assert f"report: {out / 'report.html'}" in stdout
    for name in ("metrics.json", "report.md", "report.html", "suite_result.json"):
        assert (out / name).is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluators"]["fuzzy"]["settings"]["scorer"] == "token_set_ratio"


def test_evaluate_json_prints_only_the_metrics_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["evaluate", str(SEED_FT), "--evaluators", "exact", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema_version"] == "1.1"
    assert document["gold"]["source"] == "predictions"
    assert document["models"]["seed_ft"]["overall"]["metrics"]["exact"]["mean"] == 0.8


def test_compare_names_models_and_states_the_verdict(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["compare", f"fine-tuned={SEED_FT}", f"gpt-4o={SEED_BASE}", "--evaluators", "exact"]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert "fine-tuned vs gpt-4o (10 shared examples)" in stdout
    assert "not statistically significant (McNemar p = 0.06)" in stdout


def test_report_rerenders_from_a_run_folder_or_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    main(["evaluate", str(FT), str(BASE), "--gold", str(GOLD), "--out", str(run / "report")])
    (run / "report" / "report.html").unlink()
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    assert str(run / "report" / "report.html") in capsys.readouterr().out
    html = (run / "report" / "report.html").read_text()
    assert "Where the models disagree" in html
    assert "DK Eyewitness Travel Guide: Peru" in html
    assert main(["report", str(run / "report" / "metrics.json"), "--out", str(tmp_path / "m")]) == 0
    assert "rendered from metrics.json" in (tmp_path / "m" / "report.html").read_text()


def test_suite_file_drives_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text('name = "mine"\nevaluators = ["normalized", "anls"]\n')
    assert main(["evaluate", str(FT), "--gold", str(GOLD), "--suite", str(suite)]) == 0
    stdout = capsys.readouterr().out
    assert "suite 'mine': normalized, anls" in stdout


def test_bad_input_is_skipped_and_counted_or_stops_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [{"example_id": 1, "predicted_answer": "Yes", "actual_answer": "Yes"}, "{broken"],
    )
    assert main(["evaluate", str(path), "--evaluators", "exact"]) == 0
    assert "1 items, 0 failed, 1 skipped" in capsys.readouterr().out
    assert main(["evaluate", str(path), "--evaluators", "exact", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "vqaft evaluate: error:" in err
    assert "line 2" in err
    assert "invalid JSON" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["evaluate", str(FT), "--evaluators", "exact,lenint"], "did you mean 'lenient'"),
        (["evaluate", "nowhere.jsonl"], "no such predictions file"),
        (["evaluate", str(FT), "--evaluators", "fuzzy:threshold"], "expected KEY=VALUE"),
        (["compare", str(FT), str(FT)], "two different predictions files"),
        (["report", "nowhere"], "no such file or folder"),
        (["evaluate", str(FT)], "no gold answer"),
    ],
)
def test_errors_are_one_line_with_exit_status_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv == ["evaluate", str(FT)]:
        argv = [*argv, "--strict"]  # ft.jsonl carries no gold: strict mode stops at line 1
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err

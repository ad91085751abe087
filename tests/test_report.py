"""Reports: metrics.json schema, report.md, report.html with and without matplotlib."""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from helpers_eval import BASE, FT, GOLD, MCNEMAR_ALL, write_jsonl
from vqaft import __version__
from vqaft.errors import ConfigError
from vqaft.evaluate import BaseEvaluator, EvaluationSuite, ItemScore, SuiteResult
from vqaft.evaluate.suite import JUDGE_RATINGS
from vqaft.report import (
    DISABLE_ENV,
    SCHEMA_VERSION,
    MetricsDocument,
    build_metrics,
    find_disagreements,
    find_label_issues,
    load_report_source,
    read_metrics,
    write_report,
)
from vqaft.report.statements import format_p


@pytest.fixture(scope="module")
def result() -> SuiteResult:
    return EvaluationSuite(group_by=["question_type", "openness"]).run(
        {"ft": FT, "base": BASE}, gold=GOLD
    )


def _png_data_uris(html: str) -> list[bytes]:
    return [
        base64.b64decode(m)
        for m in re.findall(
            r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html
        )
    ]


def test_metrics_document_holds_the_numbers_and_what_produced_them(result: SuiteResult) -> None:
    document = build_metrics(result)
    assert document.schema_version == SCHEMA_VERSION == "1.1"
    assert document.vqaft_version == __version__
    assert document.gold.source == "file"
    assert document.gold.file == str(GOLD)
    assert document.evaluators["fuzzy"].settings["threshold"] == 90.0
    kinds = {label: e.kind for label, e in document.evaluators.items()}
    assert kinds == {
        "exact": "pass_fail",
        "lenient": "pass_fail",
        "normalized": "pass_fail",
        "fuzzy": "continuous_with_threshold",
        "anls": "continuous",
    }
    ft = document.models["ft"]
    exact = ft.overall.metrics["exact"]
    assert (exact.n, exact.mean, exact.pass_rate) == (30, 25 / 30, 25 / 30)
    assert exact.interval is not None
    assert exact.interval.method == "wilson"
    assert ft.overall.metrics["anls"].interval.method == "bootstrap"  # type: ignore[union-attr]
    assert ft.groups["question_type"]["Yes/No"].metrics["exact"].mean == 11 / 12
    assert ft.groups["openness"]["Closed"].closed is True
    assert (ft.n_items, ft.n_skipped, ft.n_missing) == (30, 0, 0)
    [comparison] = document.comparisons
    paired = comparison.groups["All"]["exact"]
    assert (comparison.a, comparison.b, paired.only_a, paired.only_b) == ("ft", "base", 7, 2)
    assert paired.p_value == pytest.approx(MCNEMAR_ALL)
    assert paired.statement.endswith(
        "The difference is not statistically significant (McNemar p = 0.18)."
    )
    assert "ft is right on 83.3% and base on 66.7%" in paired.statement


def test_metrics_json_round_trips_and_rejects_other_major_versions(
    result: SuiteResult, tmp_path: Path
) -> None:
    files = write_report(result, tmp_path, charts=False)
    data = json.loads(files.metrics.read_text())
    assert list(data)[:3] == ["schema_version", "vqaft_version", "created_at"]
    assert read_metrics(files.metrics) == build_metrics(result)
    assert MetricsDocument.model_json_schema()["title"] == "MetricsDocument"
    data["schema_version"] = "2.0"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"schema version 2\.0 is not supported"):
        read_metrics(other)
    data["schema_version"] = "1.3"
    data["models"]["ft"]["overall"]["n_items"] = "many"
    other.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"models\.ft\.overall\.n_items"):
        read_metrics(other)


def test_report_renders_with_charts(result: SuiteResult, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    files = write_report(result, tmp_path / "report")
    assert {p.name for p in files.written()} == {
        "metrics.json",
        "report.md",
        "report.html",
        "suite_result.json",
    }
    assert files.charts_unavailable is None
    html = files.html.read_text()
    images = _png_data_uris(html)
    assert images
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images)
    assert "<link" not in html
    assert "<script" not in html
    markdown = files.markdown.read_text()
    for chart in files.charts:
        assert chart.is_file()
        assert f"(charts/{chart.name})" in markdown
    for text in (html, markdown):
        assert "83.3% (66.4–92.7%, n=30)" in text  # ft exact overall, Wilson interval
        assert "not statistically significant (McNemar p = 0.18)" in text
        assert "Where the models disagree" in text
        assert "Likely label problems" in text
        assert "A Wrinkle in Time (Time Quintet)" in text


def test_report_without_matplotlib_keeps_the_tables(
    result: SuiteResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "1")  # the documented switch: the import fails
    files = write_report(result, tmp_path)
    assert files.charts == ()
    assert files.charts_unavailable is not None
    assert "vqaft[plot]" in files.charts_unavailable
    html = files.html.read_text()
    assert "<img" not in html
    assert "Charts are unavailable" in html
    assert "83.3% (66.4–92.7%, n=30)" in html
    assert "Charts are unavailable" in files.markdown.read_text()
    assert not (tmp_path / "charts").exists()


def test_report_when_matplotlib_cannot_be_imported(
    result: SuiteResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes `import` raise ImportError (Python's documented rule).
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    files = write_report(result, tmp_path)
    assert files.charts == ()
    assert "matplotlib is not available" in (files.charts_unavailable or "")
    assert "Charts are unavailable" in files.html.read_text()


def test_charts_can_be_turned_off(result: SuiteResult, tmp_path: Path) -> None:
    files = write_report(result, tmp_path, charts=False)
    assert files.charts_unavailable == "charts were turned off"
    assert "<img" not in files.html.read_text()


def test_user_text_is_escaped_in_html_and_markdown(tmp_path: Path) -> None:
    hostile = "<script>alert('x')</script> | **bold**"
    rows_a = [
        {
            "example_id": "e1",
            "question": "Who wrote <i>this</i> book?",
            "predicted_answer": hostile,
            "actual_answer": "Jane <Doe>",
        },
        {
            "example_id": "e2",
            "question": "Who wrote this book?",
            "predicted_answer": "Jane Doe",
            "actual_answer": "Jane Doe",
        },
    ]
    rows_b = [
        {**rows_a[0], "predicted_answer": "Jane <Doe>"},
        {**rows_a[1], "predicted_answer": "J"},
    ]
    a = write_jsonl(tmp_path / "a.jsonl", rows_a)
    b = write_jsonl(tmp_path / "b.jsonl", rows_b)
    result = EvaluationSuite("exact,lenient").run({"<b>model</b>": a, "other": b})
    files = write_report(result, tmp_path / "out", charts=False)
    html = files.html.read_text()
    assert "<script>" not in html
    assert "<b>model</b>" not in html
    assert "<i>this</i>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;model&lt;/b&gt;" in html
    markdown = files.markdown.read_text()
    assert "<script>" not in markdown
    assert "\\| **bold**" in markdown


def test_report_from_metrics_alone_says_item_tables_are_unavailable(
    result: SuiteResult, tmp_path: Path
) -> None:
    write_report(result, tmp_path / "run", charts=False, save_result=False)
    source = load_report_source(tmp_path / "run")
    assert isinstance(source, MetricsDocument)
    files = write_report(source, tmp_path / "again", charts=False)
    html = files.html.read_text()
    assert "83.3% (66.4–92.7%, n=30)" in html
    assert html.count("Not available: this report was rendered from metrics.json") == 2
    assert files.result is None


def test_report_source_is_found_in_a_run_folder(result: SuiteResult, tmp_path: Path) -> None:
    write_report(result, tmp_path / "run" / "report", charts=False)
    assert isinstance(load_report_source(tmp_path / "run"), SuiteResult)
    with pytest.raises(ConfigError, match=r"no suite_result\.json or metrics\.json"):
        load_report_source(tmp_path)
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"not a vqaft metrics\.json"):
        load_report_source(tmp_path / "x.json")


def test_label_problems_rank_examples_flagged_for_several_models(result: SuiteResult) -> None:
    issues = find_label_issues(result)
    by_id = {i.example_id: i for i in issues}
    first = issues[0]
    assert len(first.predictions) == 2  # both models flagged comes first
    wrinkle = by_id["c2:0"]
    assert wrinkle.kind == "gold_contains_prediction"
    assert wrinkle.predictions == {"ft": "A Wrinkle in Time", "base": "A Wrinkle in Time"}
    assert by_id["c6:0"].kind == "near_miss"
    assert by_id["c6:0"].similarity > 90
    assert by_id["c3:0"].predictions == {"base": "Peru"}
    assert all(not i.example_id.endswith((":3", ":4")) for i in issues)  # yes/no left out
    assert "c1:0" not in by_id  # both right


def test_prediction_containing_the_gold_is_flagged(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {
                "example_id": 437,
                "question": "Who wrote this book?",
                "predicted_answer": "Cookshack, Inc.",
                "actual_answer": "Cookshack",
            },
            {
                "example_id": 5,
                "question": "Who wrote this book?",
                "predicted_answer": "Nothing alike",
                "actual_answer": "Cookshack",
            },
        ],
    )
    issues = find_label_issues(EvaluationSuite("exact").run({"m": path}))
    assert [(i.example_id, i.kind) for i in issues] == [("437", "prediction_contains_gold")]


def test_disagreements_list_each_models_answer(result: SuiteResult) -> None:
    disagreements = find_disagreements(result)
    assert len(disagreements) == 9  # 7 + 2 discordant pairs on exact
    peru = next(d for d in disagreements if d.example_id == "c3:0")
    assert peru.answers == {"ft": "DK Eyewitness Travel Guide: Peru", "base": "Peru"}
    assert peru.verdicts == {"ft": True, "base": False}
    assert peru.label == "exact"
    assert len(find_disagreements(result, "lenient")) != 0
    with pytest.raises(ConfigError, match="no evaluator labelled"):
        find_disagreements(result, "bleu")


class Judge(BaseEvaluator):
    name = "judge"
    version = "1"
    settings: dict[str, Any] = {}  # noqa: RUF012
    ratings = JUDGE_RATINGS

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        if prediction == "Medicine":
            raise ValueError("unparseable reply")
        rating = "Very Similar" if prediction == gold[0] else "Incorrect"
        return ItemScore(
            value=float(rating == "Very Similar"),
            passed=rating == "Very Similar",
            details={"rating": rating},
        )


def test_judge_ratings_appear_in_metrics_and_report(tmp_path: Path) -> None:
    result = EvaluationSuite(["exact", Judge()]).run({"ft": FT, "base": BASE}, gold=GOLD)
    document = build_metrics(result)
    assert document.evaluators["judge"].kind == "rating"
    assert document.evaluators["judge"].ratings == list(JUDGE_RATINGS)
    rating = document.models["ft"].ratings["judge"]["All"]
    assert (rating.counts["Very Similar"], rating.counts["Incorrect"], rating.unjudged) == (
        25,
        4,
        1,
    )
    assert rating.shares["Very Similar"] == pytest.approx(25 / 29)
    files = write_report(result, tmp_path)
    html = files.html.read_text()
    assert "Judge ratings" in html
    assert "unjudged" in html
    if files.charts_unavailable is None:
        assert len(_png_data_uris(html)) == 2  # scores by question type + rating distribution


def test_p_values_read_plainly() -> None:
    assert (format_p(0.3018), format_p(0.0042), format_p(0.00001)) == (
        "= 0.30",
        "= 0.004",
        "< 0.001",
    )


def test_significant_differences_are_called_significant(tmp_path: Path) -> None:
    right = [
        {"example_id": i, "predicted_answer": "Yes", "actual_answer": "Yes"} for i in range(20)
    ]
    wrong = [{**r, "predicted_answer": "No"} for r in right]
    result = EvaluationSuite("exact").run(
        {
            "good": write_jsonl(tmp_path / "g.jsonl", right),
            "bad": write_jsonl(tmp_path / "b.jsonl", wrong),
        }
    )
    statement = build_metrics(result).comparisons[0].groups["All"]["exact"].statement
    assert "statistically significant at alpha = 0.05 (McNemar p < 0.001)" in statement
    assert "+100.0 points" in statement

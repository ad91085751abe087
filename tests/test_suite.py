"""EvaluationSuite: specs, suite files, gold files, bad input, rating evaluators, comparisons."""

from __future__ import annotations

import asyncio
import doctest
import importlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from helpers_eval import (
    BASE,
    FT,
    GOLD,
    MCNEMAR_ALL,
    MCNEMAR_YES_NO,
    SEED_BASE,
    SEED_FT,
    write_jsonl,
)
from vqaft.errors import (
    ConfigError,
    EvaluationError,
    PredictionsFileError,
    UnknownComponentError,
)
from vqaft.evaluate import (
    ALL,
    BaseEvaluator,
    EvaluationSuite,
    ItemScore,
    PredictionSet,
    SuiteResult,
    load_gold,
)
from vqaft.evaluate.spec import (
    EvaluatorSpec,
    build_evaluators,
    load_suite_file,
    parse_evaluator_spec,
    parse_evaluator_specs,
)
from vqaft.evaluate.suite import JUDGE_RATINGS

# -- evaluator specs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exact", [("exact", {})]),
        (
            "fuzzy:threshold=90,scorer=token_set_ratio",
            [("fuzzy", {"threshold": 90, "scorer": "token_set_ratio"})],
        ),
        (
            "exact,lenient,fuzzy:threshold=90,scorer=token_set_ratio,anls:threshold=0.4",
            [
                ("exact", {}),
                ("lenient", {}),
                ("fuzzy", {"threshold": 90, "scorer": "token_set_ratio"}),
                ("anls", {"threshold": 0.4}),
            ],
        ),
        (" exact , anls:case-sensitive=true ", [("exact", {}), ("anls", {"case_sensitive": True})]),
        (
            'judge:labels=["a,b", "c"],model="gpt-4o"',
            [("judge", {"labels": ["a,b", "c"], "model": "gpt-4o"})],
        ),
        ("x:url=http://127.0.0.1:8000/v1", [("x", {"url": "http://127.0.0.1:8000/v1"})]),
    ],
)
def test_spec_lists_parse_into_names_and_settings(
    text: str, expected: list[tuple[str, dict[str, Any]]]
) -> None:
    specs = parse_evaluator_specs(text)
    assert [(s.name, s.settings) for s in specs] == expected


def test_spec_round_trips_through_its_canonical_string() -> None:
    spec = parse_evaluator_spec("fuzzy:threshold=90,scorer=token_set_ratio")
    assert str(spec) == "fuzzy:threshold=90,scorer=token_set_ratio"
    assert parse_evaluator_spec(str(spec)) == spec
    assert str(EvaluatorSpec(name="x", settings={"s": "two words"})) == 'x:s="two words"'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("threshold=90,fuzzy", "comes before any evaluator name"),
        ("fuzzy:threshold", "expected KEY=VALUE"),
        ("fuzzy:threshold=90,threshold=80", "given twice"),
        ('fuzzy:scorer="ratio', "unbalanced"),
        ("", "no evaluators given"),
        ("exact,lenient", None),  # valid as a list, but not as one spec
    ],
)
def test_bad_specs_raise_config_errors(text: str, fragment: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        parse_evaluator_spec(text)
    if fragment is not None:
        assert fragment in str(info.value)


def test_one_evaluator_twice_gets_distinct_labels() -> None:
    built = build_evaluators("exact,fuzzy:threshold=80,fuzzy:threshold=95")
    assert list(built) == ["exact", "fuzzy:threshold=80", "fuzzy:threshold=95"]
    assert built["fuzzy:threshold=95"].settings["threshold"] == 95
    with pytest.raises(ConfigError, match="labelled 'fuzzy'"):
        build_evaluators(["fuzzy", "fuzzy"])


def test_unknown_evaluator_says_did_you_mean() -> None:
    with pytest.raises(UnknownComponentError) as info:
        EvaluationSuite("exact,lenint")
    assert "lenient" in info.value.suggestions
    assert "did you mean 'lenient'" in str(info.value)


def test_bad_settings_name_the_evaluator() -> None:
    with pytest.raises(ConfigError, match="fuzzy"):
        EvaluationSuite("fuzzy:threshold=0.9")
    with pytest.raises(ConfigError, match="does not accept"):
        EvaluationSuite("exact:foo=1")


# -- the fixture run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_result() -> SuiteResult:
    suite = EvaluationSuite(group_by=["question_type", "openness"])
    return suite.run({"ft": FT, "base": BASE}, gold=GOLD)


def test_scores_per_model_and_question_type_match_hand_counts(fixture_result: SuiteResult) -> None:
    expected = {
        "ft": {
            ALL: (25, 30),
            "Title": (4, 6),
            "Author": (5, 6),
            "Genre": (5, 6),
            "Yes/No": (11, 12),
        },
        "base": {
            ALL: (20, 30),
            "Title": (3, 6),
            "Author": (4, 6),
            "Genre": (5, 6),
            "Yes/No": (8, 12),
        },
    }
    for model, groups in expected.items():
        evaluation = fixture_result.model(model).evaluation
        for group, (right, n) in groups.items():
            summary = evaluation.groups[group].summaries["exact"]
            assert (summary.n, summary.mean) == (n, right / n), (model, group)
            assert summary.interval is not None
            assert summary.interval.method == "wilson"
    openness = fixture_result.model("ft").groups["openness"]
    assert openness["Closed"].summaries["exact"].mean == 11 / 12
    assert openness["Open"].n_items == 18


def test_comparison_uses_exact_mcnemar_on_shared_ids(fixture_result: SuiteResult) -> None:
    comparison = fixture_result.comparison("ft", "base")
    assert comparison.result.n_common == 30
    overall = comparison.result.comparisons[ALL]["exact"]
    assert (overall.both, overall.only_a, overall.only_b, overall.neither) == (18, 7, 2, 3)
    assert overall.p_value == pytest.approx(MCNEMAR_ALL)
    assert overall.significant is False
    assert overall.difference == pytest.approx(5 / 30)
    assert comparison.result.comparisons["Yes/No"]["exact"].p_value == pytest.approx(MCNEMAR_YES_NO)
    anls = comparison.result.comparisons[ALL]["anls"]
    assert anls.test == "sign-flip-permutation"
    with pytest.raises(ConfigError, match="compared: ft vs base"):
        fixture_result.comparison("base", "ft")


def test_every_number_names_what_produced_it(fixture_result: SuiteResult) -> None:
    info = fixture_result.suite.evaluators
    assert list(info) == ["exact", "lenient", "normalized", "fuzzy", "anls"]
    assert info["fuzzy"].settings == {"scorer": "ratio", "threshold": 90.0, "preprocess": "default"}
    assert info["anls"].version == "1"
    assert fixture_result.suite.primary == "exact"
    assert fixture_result.suite.classifier == "ocr-vqa"
    assert fixture_result.gold == str(GOLD)


def test_gold_file_supplies_questions_and_types(fixture_result: SuiteResult) -> None:
    items = {it.example_id: it for it in fixture_result.model("ft").items}
    assert items["c5:4"].question == "Is this christianity book?"
    assert items["c5:4"].question_type == "Yes/No"
    assert items["c5:4"].closed
    assert items["c2:1"].question_type == "Author"
    assert items["c6:0"].gold == ("Gray's Anatomy",)


def test_seed_result_files_load_as_they_are() -> None:
    result = EvaluationSuite("exact,lenient").run([SEED_FT, SEED_BASE])
    assert list(result.models) == ["seed_ft", "seed_base"]
    ft = result.model("seed_ft").evaluation
    assert [it.example_id for it in ft.items][:2] == ["6", "10"]
    # no question text: typed from the gold answers (yes/no) or Unknown
    assert ft.groups["Yes/No"].n_items == 4
    assert ft.groups["Unknown"].n_items == 6
    assert ft.groups[ALL].summaries["exact"].mean == 0.8
    paired = result.comparison("seed_ft", "seed_base").result.comparisons[ALL]["exact"]
    assert (paired.only_a, paired.only_b, paired.p_value) == (5, 0, 0.0625)


def test_result_round_trips_through_json(fixture_result: SuiteResult, tmp_path: Path) -> None:
    path = fixture_result.save(tmp_path / "r" / "suite_result.json")
    assert SuiteResult.load(path) == fixture_result
    (tmp_path / "bad.json").write_text('{"models": 3}')
    with pytest.raises(ConfigError, match="not a vqaft suite result"):
        SuiteResult.load(tmp_path / "bad.json")


# -- gold answers and bad input ----------------------------------------------------------------


def test_gold_loader_reads_prepare_side_files_and_plain_jsonl(tmp_path: Path) -> None:
    gold = load_gold(GOLD)
    assert len(gold) == 30
    assert gold["c1:1"].answers == ("J. R. R. Tolkien",)
    assert gold["c1:1"].image_id == "c1"
    assert gold["c1:1"].line == 2
    plain = write_jsonl(
        tmp_path / "g.jsonl",
        [
            {"example_id": 1, "answer": "Yes", "question": "Is this a kids book?"},
            {"example_id": "b:0", "actual_answer": ["Travel", "Travel guide"]},
        ],
    )
    loaded = load_gold(plain)
    assert loaded["1"].answers == ("Yes",)
    assert loaded["b:0"].answers == ("Travel", "Travel guide")
    with pytest.raises(EvaluationError, match="no gold answer for this example id"):
        loaded["nope"]


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("{not json", "invalid JSON"),
        ({"example_id": 2}, "no gold answer"),
        ({"example_id": 2, "answers": [None]}, "non-empty list of strings"),
        ({"answers": ["x"]}, "example_id"),
        ({"example_id": 1, "answers": "again"}, "appears again (first on line 1)"),
    ],
)
def test_gold_loader_names_the_bad_line(tmp_path: Path, row: Any, fragment: str) -> None:
    path = write_jsonl(tmp_path / "g.jsonl", [{"example_id": 1, "answers": "Yes"}, row])
    with pytest.raises(EvaluationError) as info:
        load_gold(path)
    assert info.value.line == 2
    assert fragment in str(info.value)
    skipped = load_gold(path, on_error="skip")
    assert len(skipped) == 1
    assert skipped.skipped[0].line == 2


def test_predictions_outside_gold_are_skipped_and_gold_without_prediction_is_missing(
    tmp_path: Path,
) -> None:
    rows = [json.loads(line) for line in FT.read_text().splitlines()]
    partial = write_jsonl(
        tmp_path / "p.jsonl",
        [*rows[:28], {"example_id": "zz:9", "predicted_answer": "Yes"}],
    )
    result = EvaluationSuite("exact").run({"m": partial}, gold=GOLD)
    model = result.model("m")
    assert model.missing == ("c6:3", "c6:4")
    assert [s.example_id for s in model.skipped] == ["zz:9"]
    assert "no gold answer in the gold file" in model.skipped[0].reason
    assert model.skipped[0].line == 29
    assert model.overall.n_items == 28
    with pytest.raises(EvaluationError, match="zz:9"):
        EvaluationSuite("exact", on_error="raise").run({"m": partial}, gold=GOLD)


def test_gold_file_wins_and_disagreeing_lines_are_listed(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"example_id": "c1:0", "predicted_answer": "The Hobbit", "actual_answer": "The Hobbit"},
            {"example_id": "c1:3", "predicted_answer": "Yes", "actual_answer": "Yes"},
        ],
    )
    model = EvaluationSuite("exact").run({"m": path}, gold=GOLD).model("m")
    assert model.gold_mismatches == ("c1:3",)  # gold says "No"
    assert model.overall.summaries["exact"].mean == 0.5


def test_bad_lines_are_skipped_counted_or_raised(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"example_id": 1, "predicted_answer": "Yes", "actual_answer": "Yes"},
            {"example_id": 1, "predicted_answer": "No", "actual_answer": "Yes"},  # duplicate
            {"example_id": 2, "predicted_answer": None, "actual_answer": "Yes"},  # None answer
            {"example_id": 3, "predicted_answer": 7, "actual_answer": "Yes"},  # not a string
            {"example_id": 4, "predicted_answer": "No"},  # no gold anywhere
            "[1, 2]",
            {"example_id": 5, "predicted_answer": None, "error": "timeout"},  # failed prediction
        ],
    )
    model = EvaluationSuite("exact").run({"m": path}).model("m")
    assert [s.line for s in model.skipped] == [2, 3, 4, 6, 5]
    reasons = " | ".join(s.reason for s in model.skipped)
    assert "appears again" in reasons
    assert "predicted_answer is null" in reasons
    assert "no actual_answer, and no gold file given" in reasons
    assert model.overall.n_items == 2
    assert model.overall.n_failed == 1
    assert model.overall.summaries["exact"].n == 1
    with pytest.raises(PredictionsFileError) as info:
        EvaluationSuite("exact", on_error="raise").run({"m": path})
    assert info.value.line == 2


class Flaky(BaseEvaluator):
    """A plugin-like evaluator that raises on some items."""

    name = "flaky"
    version = "1"
    settings: dict[str, Any] = {}  # noqa: RUF012

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        if prediction == "Yes":
            raise RuntimeError("boom")
        return ItemScore(value=1.0, passed=True)


def test_an_evaluator_that_raises_leaves_error_records_and_the_run_completes() -> None:
    result = EvaluationSuite(["exact", Flaky()]).run({"ft": FT, "base": BASE}, gold=GOLD)
    ft = result.model("ft").evaluation
    failed = [it for it in ft.items if "flaky" in it.errors]
    assert len(failed) == 7
    assert all(it.prediction == "Yes" for it in failed)
    assert failed[0].errors["flaky"] == "RuntimeError: boom"
    assert ft.groups[ALL].n_errors["flaky"] == 7
    assert ft.groups[ALL].summaries["flaky"].n == 23
    assert ft.groups[ALL].summaries["exact"].n == 30


# -- rating evaluators (the LLM judge's shape) ------------------------------------------------


class FakeJudge(BaseEvaluator):
    """Rates like a judge: four ratings, some items left unjudged."""

    name = "fake_judge"
    version = "3"
    settings: dict[str, Any] = {"model": "judge-1"}  # noqa: RUF012
    ratings = JUDGE_RATINGS
    values: ClassVar[dict[str, float]] = {
        "Very Similar": 1.0,
        "Mostly Similar": 0.75,
        "Somewhat Similar": 0.5,
        "Incorrect": 0.0,
    }

    def __init__(self) -> None:
        self.calls = 0
        self.batches = 0

    def _rate(self, prediction: str, gold: Sequence[str]) -> ItemScore:
        if prediction in {"Fantasy", "Medicine"}:
            raise ValueError("malformed judge reply")
        if prediction == gold[0]:
            rating = "Very Similar"
        elif prediction.lower() in gold[0].lower():
            rating = "Mostly Similar"
        else:
            rating = "Incorrect"
        return ItemScore(
            value=self.values[rating], passed=rating != "Incorrect", details={"rating": rating}
        )

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        self.calls += 1
        return self._rate(prediction, gold)


class BatchJudge(FakeJudge):
    """Offers score_items (how a batching judge plugs in); unrated items are exceptions."""

    def score_items(
        self,
        predictions: Sequence[str],
        golds: Sequence[Sequence[str]],
        questions: Sequence[str | None],
    ) -> list[ItemScore | BaseException]:
        self.batches += 1
        out: list[ItemScore | BaseException] = []
        for p, g in zip(predictions, golds, strict=True):
            try:
                out.append(self._rate(p, g))
            except ValueError as exc:
                out.append(exc)
        return out


@pytest.mark.parametrize("judge_class", [FakeJudge, BatchJudge])
def test_rating_evaluators_get_distributions_and_unjudged_counts(
    judge_class: type[FakeJudge],
) -> None:
    judge = judge_class()
    result = EvaluationSuite(["exact", judge], group_by=["question_type", "openness"]).run(
        {"ft": FT, "base": BASE}, gold=GOLD
    )
    assert result.suite.rating_scales == {"fake_judge": JUDGE_RATINGS}
    ft = result.model("ft").ratings["fake_judge"]
    assert ft[ALL].counts == {
        "Very Similar": 25,
        "Mostly Similar": 1,
        "Somewhat Similar": 0,
        "Incorrect": 3,
    }
    assert ft[ALL].unjudged == 1  # "Medicine"
    assert ft["Genre"].unjudged == 1
    assert ft["Closed"].n_judged == 12
    base = result.model("base").ratings["fake_judge"][ALL]
    assert base.unjudged == 1
    assert base.n_judged == 29
    item = next(it for it in result.model("ft").items if it.example_id == "c2:0")
    assert item.scores["fake_judge"].details == {"rating": "Mostly Similar"}
    assert result.model("ft").overall.n_errors["fake_judge"] == 1
    if judge_class is BatchJudge:
        assert (judge.batches, judge.calls) == (2, 0)  # one batch per model, no per-item calls
    else:
        assert judge.calls == 60


class AsyncJudge(BaseEvaluator):
    """A network-bound evaluator: native async ascore."""

    name = "async_judge"
    version = "1"
    settings: dict[str, Any] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.threads: set[int] = set()

    def score(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        raise AssertionError("the async path should be used")

    async def ascore(
        self, prediction: str, gold: Sequence[str], *, question: str | None = None
    ) -> ItemScore:
        self.active += 1
        self.peak = max(self.peak, self.active)
        self.threads.add(threading.get_ident())
        await asyncio.sleep(0.001)
        self.active -= 1
        if prediction == "DK":
            raise TimeoutError("judge timed out")
        ok = prediction == gold[0]
        return ItemScore(value=float(ok), passed=ok)


def test_async_evaluators_run_concurrently_even_inside_a_running_loop() -> None:
    judge = AsyncJudge()
    suite = EvaluationSuite([judge], concurrency=4)

    async def notebook_cell() -> SuiteResult:
        return suite.run({"base": BASE}, gold=GOLD)  # a sync call from inside a running loop

    result = asyncio.run(notebook_cell())
    base = result.model("base").evaluation
    assert base.groups[ALL].summaries["async_judge"].mean == 20 / 29
    assert base.groups[ALL].n_errors["async_judge"] == 1
    assert 1 < judge.peak <= 4


# -- suite files -------------------------------------------------------------------------------


def test_toml_and_json_suite_files_build_the_same_suite(tmp_path: Path) -> None:
    toml = tmp_path / "suite.toml"
    toml.write_text(
        'name = "ocr-vqa"\n'
        'group_by = ["question_type", "openness"]\n'
        "confidence = 0.9\n"
        "[evaluators]\n"
        "exact = {}\n"
        'fuzzy90 = { evaluator = "fuzzy", threshold = 90, scorer = "token_set_ratio" }\n'
        'anls = "anls:threshold=0.4"\n'
    )
    json_file = tmp_path / "suite.json"
    json_file.write_text(
        json.dumps(
            {
                "name": "ocr-vqa",
                "group_by": ["question_type", "openness"],
                "confidence": 0.9,
                "evaluators": {
                    "exact": {},
                    "fuzzy90": {"evaluator": "fuzzy", "threshold": 90, "scorer": "token_set_ratio"},
                    "anls": "anls:threshold=0.4",
                },
            }
        )
    )
    a, b = EvaluationSuite.from_file(toml), EvaluationSuite.from_file(json_file)
    assert list(a.evaluators) == ["exact", "fuzzy90", "anls"]
    assert a.evaluators["fuzzy90"].settings["scorer"] == "token_set_ratio"
    assert a.evaluators["anls"].settings["threshold"] == 0.4
    assert repr(a) == repr(b)
    assert a.confidence == 0.9
    assert a.group_by == ("question_type", "openness")
    result = a.run({"ft": FT}, gold=GOLD)
    assert result.suite.name == "ocr-vqa"
    interval = result.model("ft").overall.summaries["exact"].interval
    assert interval is not None
    assert interval.confidence == 0.9


def test_a_suite_file_can_list_specs_and_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('evaluators = ["exact", "fuzzy:threshold=80"]\nprimary = "fuzzy"\n')
    assert list(EvaluationSuite.from_file(path).evaluators) == ["exact", "fuzzy"]
    overridden = EvaluationSuite.from_file(path, evaluators="lenient")
    assert list(overridden.evaluators) == ["lenient"]
    assert overridden.primary is None


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            'evaluators = ["exact"]\nconfidense = 0.9\n',
            ["unknown key 'confidense'", "did you mean 'confidence'"],
        ),
        ('evaluators = ["exact"]\nconfidence = 1.5\n', ["key 'confidence'", "less than 1"]),
        ("name = 'x'\n", ["missing key 'evaluators'"]),
        ("evaluators = []\n", ["key 'evaluators'", "at least one"]),
        ('evaluators = ["exact"]\ngroup_by = ["genre"]\n', ["key 'group_by.0'"]),
        (
            '[evaluators]\nfuzzy90 = { evaluator = "fuzy" }\n',
            ["key 'evaluators.fuzzy90'", "did you mean 'fuzzy'"],
        ),
        (
            '[evaluators]\nf = { evaluator = "fuzzy", threshold = 0.9 }\n',
            ["key 'evaluators.f'", "0-1 fraction"],
        ),
        ('evaluators = ["exact", "anls:thresh=1"]\n', ["key 'evaluators[1]'", "does not accept"]),
        (
            'evaluators = ["exact"]\nclassifier = "nope.nowhere:f"\n',
            ["key 'classifier'", "cannot import"],
        ),
        ("evaluators = [\n", ["invalid TOML"]),
    ],
)
def test_suite_file_errors_name_the_file_and_key(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        EvaluationSuite.from_file(path)
    assert info.value.file == str(path)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_suite_file_type_and_classifier_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported suite file type"):
        load_suite_file(tmp_path / "suite.yaml")
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "evaluators": ["exact"],
                "classifier": {"What is the title of this book?": "Name"},
                "closed_types": ["Never"],
            }
        )
    )
    result = EvaluationSuite.from_file(path).run({"ft": FT}, gold=GOLD)
    groups = result.model("ft").evaluation.groups
    assert groups["Name"].n_items == 6
    assert groups["Other"].n_items == 24
    assert result.suite.classifier == "mapping"
    assert result.suite.closed_types == ("Never",)
    path.write_text(json.dumps({"evaluators": ["exact"], "classifier": "os.path:basename"}))
    assert EvaluationSuite.from_file(path).classifier.name == "basename"


# -- small options and docs --------------------------------------------------------------------


def test_prediction_sets_in_memory_and_names() -> None:
    records = [{"example_id": 1, "predicted_answer": "x", "actual_answer": "x", "model": "m1"}]
    one = PredictionSet.from_records(records)
    result = EvaluationSuite("exact").run([one, one])
    assert list(result.models) == ["m1", "m1-2"]
    with pytest.raises(ConfigError, match="no prediction sets"):
        EvaluationSuite("exact").run({})
    with pytest.raises(ConfigError, match="unknown grouping"):
        EvaluationSuite("exact", group_by=["genre"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="primary"):
        EvaluationSuite("exact", primary="anls")


@pytest.mark.parametrize(
    "name",
    [
        "vqaft.evaluate.spec",
        "vqaft.evaluate.gold",
        "vqaft.evaluate.suite",
        "vqaft.report.statements",
        "vqaft.report.metrics_json",
        "vqaft.report.label_issues",
        "vqaft.report.disagreements",
        "vqaft.report.charts",
        "vqaft.report.writer",
    ],
)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0

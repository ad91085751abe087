"""Evaluation: evaluators and their registry, question types, statistics, predictions files.

Built-in evaluators (registered by name, also declared as ``vqaft.evaluators`` entry points):

==============  ==============================================================================
``exact``       equal after trimming whitespace (pass/fail)
``lenient``     equal ignoring case, or the gold answer inside the prediction (pass/fail)
``normalized``  equal after VQA-style normalisation (pass/fail)
``fuzzy``       rapidfuzz similarity with a threshold (continuous score and pass/fail)
``anls``        Average Normalized Levenshtein Similarity, threshold 0.5 (continuous)
==============  ==============================================================================

>>> from vqaft.evaluate import create_evaluator
>>> create_evaluator("normalized").score("Two Towers.", ["the two towers"]).passed
True
"""

from __future__ import annotations

from vqaft.evaluate.anls import ANLS, anls_similarity
from vqaft.evaluate.base import (
    AsyncEvaluator,
    BaseEvaluator,
    BatchEvaluator,
    BatchScores,
    Evaluator,
    EvaluatorInfo,
    GoldPairs,
    ItemScore,
    ascore,
    create_evaluator,
    evaluator,
    evaluator_info,
    evaluators,
    score_batch,
)
from vqaft.evaluate.fuzzy import FuzzyMatch
from vqaft.evaluate.gold import GoldEntry, GoldSet, load_gold
from vqaft.evaluate.judge import Judgement, JudgeRun, LLMJudge
from vqaft.evaluate.normalize import normalize_answer, normalize_answers
from vqaft.evaluate.predictions import PredictionRecord, PredictionSet, load_predictions
from vqaft.evaluate.question_types import QuestionClassifier, question_classifier
from vqaft.evaluate.scoring import (
    ALL,
    ComparisonResult,
    EvaluationResult,
    GroupResult,
    ItemResult,
    compare_results,
    resolve_evaluators,
    score_predictions,
)
from vqaft.evaluate.spec import EvaluatorSpec, parse_evaluator_specs
from vqaft.evaluate.statistics import (
    Interval,
    PairedComparison,
    Summary,
    bootstrap_interval,
    mcnemar_exact,
    paired_comparison,
    summarize,
    wilson_interval,
)
from vqaft.evaluate.strings import ExactMatch, LenientMatch, NormalizedMatch
from vqaft.evaluate.suite import EvaluationSuite
from vqaft.evaluate.suite_result import (
    ModelComparison,
    ModelResult,
    RatingDistribution,
    SuiteResult,
)

__all__ = [
    "ALL",
    "ANLS",
    "AsyncEvaluator",
    "BaseEvaluator",
    "BatchEvaluator",
    "BatchScores",
    "ComparisonResult",
    "EvaluationResult",
    "EvaluationSuite",
    "Evaluator",
    "EvaluatorInfo",
    "EvaluatorSpec",
    "ExactMatch",
    "FuzzyMatch",
    "GoldEntry",
    "GoldPairs",
    "GoldSet",
    "GroupResult",
    "Interval",
    "ItemResult",
    "ItemScore",
    "JudgeRun",
    "Judgement",
    "LLMJudge",
    "LenientMatch",
    "ModelComparison",
    "ModelResult",
    "NormalizedMatch",
    "PairedComparison",
    "PredictionRecord",
    "PredictionSet",
    "QuestionClassifier",
    "RatingDistribution",
    "SuiteResult",
    "Summary",
    "anls_similarity",
    "ascore",
    "bootstrap_interval",
    "compare_results",
    "create_evaluator",
    "evaluator",
    "evaluator_info",
    "evaluators",
    "load_gold",
    "load_predictions",
    "mcnemar_exact",
    "normalize_answer",
    "normalize_answers",
    "paired_comparison",
    "parse_evaluator_specs",
    "question_classifier",
    "resolve_evaluators",
    "score_batch",
    "score_predictions",
    "summarize",
    "wilson_interval",
]
